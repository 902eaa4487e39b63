package exporter_test

import (
	"context"
	"fmt"
	"log"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/ezoptest"
)

// newProviders is the snippet README.md quotes ("Log records"):
// readme_test.go checks that the quote matches.

// newProviders returns a TracerProvider and a LoggerProvider that report
// to Ezop through one exporter, so that the prompts and completions GenAI
// instrumentation records as log records land on the events of their
// spans. Shut the LoggerProvider down first, then the TracerProvider.
func newProviders(ctx context.Context, res *resource.Resource, opts ...exporter.Option) (*sdktrace.TracerProvider, *sdklog.LoggerProvider, error) {
	exp, err := exporter.New(ctx, opts...)
	if err != nil {
		return nil, nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	lp := sdklog.NewLoggerProvider(
		sdklog.WithProcessor(sdklog.NewBatchProcessor(exp.LogExporter())),
		sdklog.WithResource(res),
	)
	return tp, lp, nil
}

// Log records of a model call, as the official OpenAI instrumentation
// records them, joined to the call's one llm_response.
func Example_logRecords() {
	srv := ezoptest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	res := resource.NewSchemaless(attribute.String("service.name", "support-agent"), attribute.String("service.namespace", "platform"))
	tp, lp, err := newProviders(ctx, res,
		exporter.WithEndpoint(srv.URL), exporter.WithAPIKey(srv.APIKey), exporter.WithCaptureContent(true))
	if err != nil {
		log.Fatal(err)
	}
	logger := lp.Logger("openai")
	emit := func(ctx context.Context, name string, body attribute.Value) {
		var r otellog.Record
		r.SetEventName(name)
		r.SetBody(body)
		logger.Emit(ctx, r)
	}

	ctx, run := tp.Tracer("readme").Start(ctx, "answer question")
	cctx, chat := tp.Tracer("readme").Start(ctx, "chat gpt-4o")
	chat.SetAttributes(attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", "gpt-4o"),
		attribute.Int("gen_ai.usage.input_tokens", 12), attribute.Int("gen_ai.usage.output_tokens", 5))
	emit(cctx, "gen_ai.user.message", attribute.MapValue(attribute.String("content", "Where is my order?")))
	emit(cctx, "gen_ai.choice", attribute.MapValue(attribute.String("finish_reason", "stop"), attribute.Int("index", 0),
		attribute.KeyValue{Key: "message", Value: attribute.MapValue(attribute.String("content", "On its way."))}))
	chat.End()
	run.End()

	if err := lp.Shutdown(ctx); err != nil { // its records first
		log.Fatal(err)
	}
	if err := tp.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	for _, ev := range srv.AllEvents() {
		if ev.Type != nil && *ev.Type == "llm_response" {
			in := ev.Input["messages"].([]any)[0].(map[string]any)
			out := ev.Output["messages"].([]any)[0].(map[string]any)
			fmt.Printf("%s: %s %q -> %s %q, %v tokens in\n", ev.Name, in["role"], in["content"], out["role"], out["content"], ev.Metadata["input_tokens"])
		}
	}
	// Output:
	// chat gpt-4o: user "Where is my order?" -> assistant "On its way.", 12 tokens in
}
