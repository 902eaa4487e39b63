package bridge_test

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ezopotel/ezop-otel-go/bridge"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

// Translate the spans of one run, recorded in memory, into Ezop requests.
func ExampleTranslator_Translate() {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(rec),
		sdktrace.WithResource(resource.NewSchemaless(
			semconv.AgentName("support-bot"), semconv.AgentOwner("platform"))),
	)
	tracer := tp.Tracer("example")

	ctx, root := tracer.Start(context.Background(), "answer question")
	_, llm := tracer.Start(ctx, "chat gpt-4o")
	llm.SetAttributes(
		attribute.String("gen_ai.operation.name", "chat"),
		attribute.String("gen_ai.request.model", "gpt-4o"),
		attribute.Int("gen_ai.usage.input_tokens", 120),
		attribute.Int("gen_ai.usage.output_tokens", 40),
	)
	llm.End()
	bridge.SetRunOutcome(root, semconv.RunStatusSuccess, "answered")
	root.End()

	var state bridge.RunState
	plan := bridge.NewTranslator(bridge.Config{}).Translate(&state, rec.Ended())
	fmt.Println("agent:", plan.Agent.Register.Name, "/", plan.Agent.Register.Owner)
	for _, s := range plan.Spans {
		fmt.Println("span:", s.Create.Name)
	}
	for _, e := range plan.Events {
		fmt.Println("event:", e.Category, e.Type, e.Metadata["input_tokens"], e.Metadata["output_tokens"])
	}
	fmt.Println("run:", plan.End.Status, *plan.End.Message)
	// Output:
	// agent: support-bot / platform
	// span: answer question
	// span: chat gpt-4o
	// event: llm llm_response 120 40
	// run: success answered
}

// Emit an Ezop event on the current span, in the Ezop SDKs' vocabulary.
func ExampleEmitEvent() {
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("example").Start(context.Background(), "think")
	defer span.End()

	err := bridge.EmitEvent(ctx, "chose a tool", semconv.CategoryReasoning,
		bridge.WithType(semconv.TypeReasoningDecision),
		bridge.WithOutput(map[string]string{"tool": "search"}))
	fmt.Println(err)

	err = bridge.EmitEvent(ctx, "mismatch", semconv.CategoryLLM, bridge.WithType(semconv.TypeToolCallStarted))
	fmt.Println(err)
	// Output:
	// <nil>
	// ezop: invalid event classification (category=llm type=tool_call_started subtype=): type belongs to category tool
}
