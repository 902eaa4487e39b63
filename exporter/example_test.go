package exporter_test

import (
	"context"
	"fmt"
	"log"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/ezoptest"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

// Report an agent's traces to Ezop (here the in-process emulator; in
// production leave out WithEndpoint and WithAPIKey and set EZOP_API_URL and
// EZOP_API_KEY).
func Example() {
	srv := ezoptest.NewServer()
	defer srv.Close()

	ctx := context.Background()
	exp, err := exporter.New(ctx,
		exporter.WithEndpoint(srv.URL),
		exporter.WithAPIKey(srv.APIKey),
	)
	if err != nil {
		log.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(
			semconv.AgentName("support-bot"),
			semconv.AgentOwner("platform"),
			semconv.AgentVersion("1.0.0"),
		)),
	)
	tracer := tp.Tracer("example")

	// One request of the agent: a run with one LLM call.
	ctx, root := tracer.Start(ctx, "answer question")
	_, llm := tracer.Start(ctx, "chat gpt-4o")
	llm.SetAttributes(
		attribute.String("gen_ai.operation.name", "chat"),
		attribute.String("gen_ai.request.model", "gpt-4o"),
		attribute.Int("gen_ai.usage.input_tokens", 120),
		attribute.Int("gen_ai.usage.output_tokens", 40),
	)
	llm.End()
	root.End()

	// Shutdown delivers everything, then stops the exporter.
	if err := tp.Shutdown(context.Background()); err != nil {
		log.Fatal(err)
	}

	runs := srv.Runs()
	fmt.Println("runs:", len(runs), "status:", runs[0].Status)
	for _, s := range srv.Spans(runs[0].ID) {
		fmt.Println("span:", *s.Name)
	}
	for _, e := range srv.Events(runs[0].ID) {
		fmt.Println("event:", e.Category, *e.Type, e.Metadata["input_tokens"], e.Metadata["output_tokens"])
	}
	st := exp.Stats()
	fmt.Println("sent: runs", st.RunsEnded, "spans", st.SpansSent, "events", st.EventsSent)
	// Output:
	// runs: 1 status: success
	// span: answer question
	// span: chat gpt-4o
	// event: llm llm_response 120 40
	// sent: runs 1 spans 2 events 1
}
