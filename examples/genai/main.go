// Command genai shows that instrumentation following the OpenTelemetry
// GenAI semantic conventions reports to Ezop unchanged: the spans below
// carry only gen_ai.* attributes (and the OTel resource's service.*), no
// ezop.* key, and the exporter still produces Ezop's categorized events.
//
// One run of a research assistant: an embeddings call (input tokens only),
// a retrieval, a chat call with the current conventions (provider, response
// model, cache-read tokens, input/output messages as JSON), two tool calls
// (one fails), and a chat call with the older conventions (gen_ai.system,
// prompt/completion token counts, gen_ai.user.message and gen_ai.choice
// span events). The exporter is built with WithCaptureContent(true), the
// option form of OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true, so
// messages, tool arguments and results are forwarded too.
//
// Like examples/quickstart it reports to the Ezop that EZOP_API_URL and
// EZOP_API_KEY name, else to the in-process emulator, whose stored run it
// prints.
//
//	go run ./examples/genai
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/ezoptest"
)

func main() {
	if err := run(context.Background(), os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "genai:", err)
		os.Exit(1)
	}
}

// run reports the demo to the Ezop that EZOP_API_URL and EZOP_API_KEY
// name, or, without a key, to an in-process emulator whose stored run it
// prints.
func run(ctx context.Context, w io.Writer, getenv func(string) string) error {
	if key := getenv("EZOP_API_KEY"); key != "" {
		opts := []exporter.Option{exporter.WithAPIKey(key)}
		if url := getenv("EZOP_API_URL"); url != "" {
			opts = append(opts, exporter.WithEndpoint(url))
		}
		st, err := demo(ctx, opts...)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "sent: %d run, %d spans, %d events (%d spans, %d events not delivered)\n",
			st.RunsEnded, st.SpansSent, st.EventsSent, st.SpansDropped, st.EventsDropped)
		return nil
	}
	srv := ezoptest.NewServer()
	defer srv.Close()
	fmt.Fprintln(w, "EZOP_API_KEY is not set: reporting to an in-process Ezop emulator (package ezoptest) instead")
	if _, err := demo(ctx, exporter.WithEndpoint(srv.URL), exporter.WithAPIKey(srv.APIKey)); err != nil {
		return err
	}
	for _, r := range srv.Runs() {
		fmt.Fprint(w, srv.Tree(r.ID))
	}
	return nil
}

// demo records one run of the assistant through an exporter built with
// opts and shuts the TracerProvider down, which delivers it.
func demo(ctx context.Context, opts ...exporter.Option) (exporter.Stats, error) {
	// Forward message content; instrumentation that follows the GenAI
	// conventions records it only when asked to, and so does the exporter.
	opts = append([]exporter.Option{exporter.WithCaptureContent(true)}, opts...)
	exp, err := exporter.New(ctx, opts...)
	if err != nil {
		return exporter.Stats{}, err
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(
			attribute.String("service.name", "research-assistant"),
			attribute.String("service.namespace", "research"),
			attribute.String("service.version", "0.9.2"),
		)),
	)
	tracer := tp.Tracer("github.com/ezopotel/ezop-otel-go/examples/genai")
	research(ctx, tracer, "What limits battery life in cold weather?")

	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = tp.Shutdown(sctx)
	return exp.Stats(), err
}

// research is one run: an invoke_agent span, the trace's root.
func research(ctx context.Context, tracer trace.Tracer, question string) {
	ctx, span := tracer.Start(ctx, "invoke_agent research-assistant", trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "invoke_agent"),
		attribute.String("gen_ai.agent.name", "research-assistant"),
		attribute.String("gen_ai.agent.id", "asst_5j66UpCpwteGg4YSxUnt7lPY"),
		attribute.String("gen_ai.conversation.id", "conv_5j66UpCpwteGg4YSxUnt7lPY"),
	))
	defer span.End()

	// Embed the question (an LLM call without output tokens).
	_, emb := tracer.Start(ctx, "embeddings text-embedding-3-small",
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("gen_ai.operation.name", "embeddings"),
			attribute.String("gen_ai.provider.name", "openai"),
			attribute.String("gen_ai.request.model", "text-embedding-3-small"),
			attribute.Int("gen_ai.usage.input_tokens", 11),
		))
	work()
	emb.End()

	// Retrieve documents (a memory_retrieval event with the documents).
	_, ret := tracer.Start(ctx, "retrieval papers-index", trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "retrieval"),
		attribute.String("gen_ai.data_source.id", "papers-index"),
		attribute.String("gen_ai.retrieval.documents", `[{"id":"doc-12","score":0.91},{"id":"doc-40","score":0.87}]`),
	))
	work()
	ret.End()

	// Chat, current conventions: messages as JSON, cache-read tokens.
	_, chat := tracer.Start(ctx, "chat claude-sonnet-4",
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("gen_ai.operation.name", "chat"),
			attribute.String("gen_ai.provider.name", "anthropic"),
			attribute.String("gen_ai.request.model", "claude-sonnet-4"),
			attribute.Float64("gen_ai.request.temperature", 0.2),
			attribute.String("gen_ai.input.messages", `[{"role":"user","parts":[{"type":"text","content":"`+question+`"}]}]`),
		))
	work()
	chat.SetAttributes(
		attribute.String("gen_ai.response.model", "claude-sonnet-4-20250514"),
		attribute.String("gen_ai.response.id", "msg_01XFDUDYJgAACzvnptvVoYEL"),
		attribute.StringSlice("gen_ai.response.finish_reasons", []string{"tool_use"}),
		attribute.Int("gen_ai.usage.input_tokens", 1450),
		attribute.Int("gen_ai.usage.output_tokens", 210),
		attribute.Int("gen_ai.usage.cache_read.input_tokens", 1024),
		attribute.String("gen_ai.output.messages", `[{"role":"assistant","parts":[{"type":"tool_call","id":"toolu_01","name":"web_search","arguments":{"query":"lithium-ion cold temperature capacity"}}],"finish_reason":"tool_use"}]`),
	)
	chat.End()

	// Two tool calls; the second fails.
	tool(ctx, tracer, "web_search", "toolu_01", `{"query":"lithium-ion cold temperature capacity"}`, `{"results":3}`, nil)
	tool(ctx, tracer, "fetch_page", "toolu_02", `{"url":"https://example.org/paper.pdf"}`, "",
		errors.New("fetch_page: 403 Forbidden"))

	// Chat, older conventions: gen_ai.system, prompt/completion tokens and
	// message events.
	_, old := tracer.Start(ctx, "chat gpt-4o-mini",
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("gen_ai.operation.name", "chat"),
			attribute.String("gen_ai.system", "openai"),
			attribute.String("gen_ai.request.model", "gpt-4o-mini"),
		))
	old.AddEvent("gen_ai.user.message", trace.WithAttributes(
		attribute.String("gen_ai.system", "openai"),
		attribute.String("content", "Summarize the findings in two sentences."),
	))
	work()
	old.AddEvent("gen_ai.choice", trace.WithAttributes(
		attribute.String("gen_ai.system", "openai"),
		attribute.Int("index", 0),
		attribute.String("finish_reason", "stop"),
		attribute.String("message", `{"role":"assistant","content":"Cold slows the chemistry of lithium-ion cells..."}`),
	))
	old.SetAttributes(
		attribute.Int("gen_ai.usage.prompt_tokens", 380),
		attribute.Int("gen_ai.usage.completion_tokens", 52),
	)
	old.End()
}

// tool records one tool call with the execute_tool conventions.
func tool(ctx context.Context, tracer trace.Tracer, name, callID, args, result string, err error) {
	_, span := tracer.Start(ctx, "execute_tool "+name, trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "execute_tool"),
		attribute.String("gen_ai.tool.name", name),
		attribute.String("gen_ai.tool.type", "function"),
		attribute.String("gen_ai.tool.call.id", callID),
		attribute.String("gen_ai.tool.call.arguments", args),
	))
	defer span.End()
	work()
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return
	}
	span.SetAttributes(attribute.String("gen_ai.tool.call.result", result))
}

// work stands in for the time real work takes.
func work() { time.Sleep(time.Millisecond) }
