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
)

// newTracerProvider is the snippet README.md quotes ("Add it to your
// TracerProvider"); readme_test.go checks that the quote matches.

// newTracerProvider returns a TracerProvider that reports to Ezop.
// Without options the exporter reads EZOP_API_URL and EZOP_API_KEY.
func newTracerProvider(ctx context.Context, opts ...exporter.Option) (*sdktrace.TracerProvider, error) {
	exp, err := exporter.New(ctx, opts...)
	if err != nil {
		return nil, err
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(
			attribute.String("service.name", "support-agent"), // the Ezop agent
			attribute.String("service.namespace", "platform"), // its owner
			attribute.String("service.version", "1.4.0"),      // its version
		)),
	), nil
}

// The TracerProvider of README.md, pointed at the in-process emulator: a
// trace with an LLM call becomes a run of the agent the resource names.
func Example_tracerProvider() {
	srv := ezoptest.NewServer()
	defer srv.Close()
	ctx := context.Background()

	// In production: newTracerProvider(ctx) with EZOP_API_URL and
	// EZOP_API_KEY set.
	tp, err := newTracerProvider(ctx, exporter.WithEndpoint(srv.URL), exporter.WithAPIKey(srv.APIKey))
	if err != nil {
		log.Fatal(err)
	}
	tracer := tp.Tracer("readme")

	ctx, run := tracer.Start(ctx, "answer question")
	_, llm := tracer.Start(ctx, "chat gpt-4o")
	llm.SetAttributes(
		attribute.String("gen_ai.operation.name", "chat"),
		attribute.String("gen_ai.request.model", "gpt-4o"),
		attribute.Int("gen_ai.usage.input_tokens", 120),
		attribute.Int("gen_ai.usage.output_tokens", 40),
	)
	llm.End()
	run.End()

	// Shutdown delivers what is buffered; call it before the program
	// exits.
	if err := tp.Shutdown(context.Background()); err != nil {
		log.Fatal(err)
	}

	agent, version, r := srv.Agents()[0], srv.Versions()[0], srv.Runs()[0]
	fmt.Println("agent:", agent.Name, "owner:", agent.Owner, "version:", version.Version)
	fmt.Println("run:", r.Status)
	for _, e := range srv.Events(r.ID) {
		fmt.Println("event:", e.Category, *e.Type, e.Metadata["model"], e.Metadata["input_tokens"], e.Metadata["output_tokens"])
	}
	fmt.Println("refused:", len(srv.Rejected()))
	// Output:
	// agent: support-agent owner: platform version: 1.4.0
	// run: success
	// event: llm llm_response gpt-4o 120 40
	// refused: 0
}
