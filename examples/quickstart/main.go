// Command quickstart is a small AI agent instrumented with OpenTelemetry,
// whose traces go to Ezop through this module's exporter.
//
// One run of the agent answers a support ticket: it searches a knowledge
// base (a retrieval step), asks an LLM (GenAI attributes: model, provider,
// token usage), calls a tool whose first attempt times out and is retried
// (a handled error), and asks the LLM again for the answer. The trace
// becomes one Ezop run with nested spans and categorized events:
// memory_retrieval, llm_response with tokens, tool_call_started/completed,
// error_raised. The exporter's live processor starts the run on Ezop when
// the root span starts, so the run's duration there is real.
//
// With EZOP_API_KEY (and EZOP_API_URL for a self-hosted Ezop) set it
// checks that Ezop is reachable and accepts the key (exporter.Check, one
// line), then reports to that Ezop. Without them it starts the in-process Ezop emulator
// (package ezoptest), says so in one line, and prints the run as the
// emulator stored it.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/ezoptest"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

func main() {
	if err := run(context.Background(), os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run reports the demo to the Ezop that EZOP_API_URL and EZOP_API_KEY
// name, or, without a key, to an in-process emulator whose stored runs it
// prints.
func run(ctx context.Context, w io.Writer, getenv func(string) string) error {
	if key := getenv("EZOP_API_KEY"); key != "" {
		opts := []exporter.Option{exporter.WithAPIKey(key)}
		endpoint := "https://api.ezop.ai"
		if url := getenv("EZOP_API_URL"); url != "" {
			endpoint = url
			opts = append(opts, exporter.WithEndpoint(url))
		}
		// One line before sending: is the endpoint the Ezop API, and does
		// it accept the key? exporter.Check asks without storing anything.
		if err := exporter.Check(ctx, opts...); err != nil {
			fmt.Fprintln(w, err) // "ezop check: <endpoint>: <problem>; fix: <fix> …"
			return errors.New("not sending: see the check above")
		}
		fmt.Fprintf(w, "ezop check: %s is reachable and accepts the API key\n", endpoint)
		st, err := demo(ctx, w, opts...)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "sent to %s: %d run, %d spans, %d events\n", endpoint, st.RunsEnded, st.SpansSent, st.EventsSent)
		for reason, n := range st.Dropped {
			fmt.Fprintf(w, "not delivered: %d (%s)\n", n, reason)
		}
		return nil
	}

	srv := ezoptest.NewServer()
	defer srv.Close()
	fmt.Fprintln(w, "EZOP_API_KEY is not set: reporting to an in-process Ezop emulator (package ezoptest) instead")
	st, err := demo(ctx, w, exporter.WithEndpoint(srv.URL), exporter.WithAPIKey(srv.APIKey))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nEzop stored (%d spans, %d events):\n", st.SpansSent, st.EventsSent)
	for _, r := range srv.Runs() {
		fmt.Fprint(w, srv.Tree(r.ID))
		fmt.Fprintf(w, "run totals (metadata): %s\n", totals(r))
	}
	for _, rj := range srv.Rejected() {
		fmt.Fprintln(w, "refused by the emulator:", rj)
	}
	return nil
}

// totals renders the totals the exporter adds to the run's metadata.
func totals(r ezoptest.Run) string {
	t, _ := r.Metadata["totals"].(map[string]any)
	var b strings.Builder
	for _, k := range []string{"llm_calls", "input_tokens", "output_tokens", "tool_calls", "errors"} {
		if v, ok := t[k]; ok {
			fmt.Fprintf(&b, " %s=%v", k, v)
		}
	}
	return strings.TrimSpace(b.String())
}

// demo runs the agent once with a TracerProvider that exports to Ezop
// through an exporter built with opts, shuts the provider down (which
// delivers everything) and returns the exporter's statistics.
func demo(ctx context.Context, w io.Writer, opts ...exporter.Option) (exporter.Stats, error) {
	exp, err := exporter.New(ctx, opts...)
	if err != nil {
		return exporter.Stats{}, err
	}
	tp := sdktrace.NewTracerProvider(
		// Start each run on Ezop when its root span starts, so that its
		// duration there is real (exporter.Install sets this up too).
		sdktrace.WithSpanProcessor(exp.LiveProcessor()),
		sdktrace.WithBatcher(exp),
		// The resource names the Ezop agent: name, owner and version.
		sdktrace.WithResource(resource.NewSchemaless(
			attribute.String("service.name", "support-agent"),
			attribute.String("service.namespace", "customer-care"),
			attribute.String("service.version", "1.4.0"),
		)),
	)
	// An application would call otel.SetTracerProvider(tp) and use
	// otel.Tracer; the demo passes its tracer explicitly, so that tests
	// can run it more than once.
	a := &agent{tracer: tp.Tracer("github.com/ezopotel/ezop-otel-go/examples/quickstart")}

	answer, err := a.handleTicket(ctx, "Where is my order A-1042?")
	if err != nil {
		fmt.Fprintln(w, "agent failed:", err)
	} else {
		fmt.Fprintln(w, "agent answered:", answer)
	}

	// Shutdown flushes the batcher and the exporter: when it returns, the
	// run is on Ezop (or counted as dropped in the exporter's Stats).
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := tp.Shutdown(sctx); err != nil {
		return exp.Stats(), err
	}
	return exp.Stats(), nil
}

// agent is a toy support agent. Its LLM and order service are simulated;
// the spans it records are what real instrumentation records.
type agent struct {
	tracer trace.Tracer
}

// handleTicket is one run of the agent: the root span of the trace.
func (a *agent) handleTicket(ctx context.Context, question string) (string, error) {
	ctx, span := a.tracer.Start(ctx, "invoke_agent support-agent", trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "invoke_agent"),
		attribute.String("gen_ai.agent.name", "support-agent"),
		// Optional Ezop key: what started the run (see examples/semconv).
		semconv.RunTriggerType(semconv.TriggerUser),
	))
	defer span.End()

	articles := a.searchKnowledgeBase(ctx, question)
	a.chat(ctx, usage{input: 812, output: 64}, "tool_calls")
	order, err := a.lookupOrder(ctx, "A-1042")
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return "", err
	}
	a.chat(ctx, usage{input: 1024, output: 96}, "stop")
	return fmt.Sprintf("Order %s is %s (see %s).", order.id, order.status, articles[0]), nil
}

// searchKnowledgeBase is a retrieval step: gen_ai.operation.name
// "retrieval" makes it a memory_retrieval event on Ezop.
func (a *agent) searchKnowledgeBase(ctx context.Context, query string) []string {
	_, span := a.tracer.Start(ctx, "retrieval kb-articles", trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "retrieval"),
		attribute.String("gen_ai.data_source.id", "kb-articles"),
	))
	defer span.End()
	work(2 * time.Millisecond)
	return []string{"KB-17 Tracking a shipment"}
}

type usage struct{ input, output int }

// chat is one LLM call, recorded with the OpenTelemetry GenAI semantic
// conventions: Ezop gets an llm_response event with the model and the
// token usage, which its dashboard charts.
func (a *agent) chat(ctx context.Context, u usage, finishReason string) {
	_, span := a.tracer.Start(ctx, "chat gpt-4o",
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("gen_ai.operation.name", "chat"),
			attribute.String("gen_ai.provider.name", "openai"),
			attribute.String("gen_ai.request.model", "gpt-4o"),
		))
	defer span.End()
	work(3 * time.Millisecond)
	span.SetAttributes(
		attribute.String("gen_ai.response.model", "gpt-4o-2024-08-06"),
		attribute.Int("gen_ai.usage.input_tokens", u.input),
		attribute.Int("gen_ai.usage.output_tokens", u.output),
		attribute.StringSlice("gen_ai.response.finish_reasons", []string{finishReason}),
	)
}

type order struct{ id, status string }

var errTimeout = errors.New("orders-api: request timed out after 2s")

// lookupOrder is a tool call (gen_ai.operation.name "execute_tool"): Ezop
// gets tool_call_started and tool_call_completed events. Its first attempt
// fails; the error is recorded on the attempt's span (an error_raised
// event) and handled by retrying, so the tool call and the run succeed.
func (a *agent) lookupOrder(ctx context.Context, id string) (order, error) {
	ctx, span := a.tracer.Start(ctx, "execute_tool lookup_order", trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "execute_tool"),
		attribute.String("gen_ai.tool.name", "lookup_order"),
		attribute.String("gen_ai.tool.call.id", "call_7Qx2"),
	))
	defer span.End()
	for attempt := 1; attempt <= 3; attempt++ {
		o, err := a.fetchOrder(ctx, id, attempt)
		if err == nil {
			return o, nil
		}
		if attempt == 3 {
			span.SetStatus(codes.Error, err.Error())
			return order{}, err
		}
	}
	panic("unreachable")
}

// fetchOrder is one HTTP request to the (simulated) order service; the
// first attempt times out.
func (a *agent) fetchOrder(ctx context.Context, id string, attempt int) (order, error) {
	_, span := a.tracer.Start(ctx, "GET /orders/{id}",
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("http.request.method", "GET"),
			attribute.String("url.full", "https://orders.internal/orders/"+id),
			attribute.Int("http.request.resend_count", attempt-1),
		))
	defer span.End()
	work(time.Millisecond)
	if attempt == 1 {
		span.RecordError(errTimeout)
		span.SetStatus(codes.Error, errTimeout.Error())
		return order{}, errTimeout
	}
	span.SetAttributes(attribute.Int("http.response.status_code", 200))
	return order{id: id, status: "out for delivery"}, nil
}

// work stands in for the time real work takes.
func work(d time.Duration) { time.Sleep(d) }
