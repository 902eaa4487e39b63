package semconv_test

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/semconv"
)

func Example() {
	// The resource names the agent Ezop registers.
	res := resource.NewSchemaless(
		semconv.AgentName("support-bot"),
		semconv.AgentOwner("platform-team"),
		semconv.AgentVersion("1.4.0"),
	)
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res))
	defer func() { _ = tp.Shutdown(context.Background()) }()

	ctx, run := tp.Tracer("example").Start(context.Background(), "handle ticket",
		trace.WithAttributes(semconv.RunTriggerType(semconv.TriggerWebhook)))

	// A span of custom work that no GenAI instrumentation describes.
	_, lookup := tp.Tracer("example").Start(ctx, "lookup order",
		trace.WithAttributes(semconv.SpanCategory(semconv.CategoryTool)))
	lookup.AddEvent("plan chosen", trace.WithAttributes(
		semconv.EventCategoryAttr(semconv.CategoryReasoning),
		semconv.EventTypeAttr(semconv.TypeReasoningDecision),
		semconv.EventOutput(map[string]string{"next": "refund"}),
	))
	lookup.End()

	run.SetAttributes(semconv.RunStatusAttr(semconv.RunStatusSuccess))
	run.End()

	// Check a classification before relying on it.
	fmt.Println(semconv.ValidateEvent(semconv.CategoryTool, semconv.TypeToolCallStarted, semconv.SubtypeHTTP))
	fmt.Println(semconv.ValidateEvent(semconv.CategoryLLM, semconv.TypeToolCallStarted, ""))
	// Output:
	// <nil>
	// ezop: invalid event classification (category=llm type=tool_call_started subtype=): type belongs to category tool
}
