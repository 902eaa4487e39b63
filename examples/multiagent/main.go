// Command multiagent shows agent-to-agent calls on Ezop: a supervisor
// agent delegates a ticket to two sub-agents, a researcher (which fails)
// and a writer. Each call is an OTel span with
// gen_ai.operation.name=invoke_agent naming the invoked agent in
// gen_ai.agent.name; the exporter turns it into a child run of that agent
// (trigger type agent, the supervisor's run as parent), holding the
// sub-agent's own work, while the supervisor's run keeps the call as a
// span. exporter.Install sets up live runs, so Ezop shows the supervisor's
// run while it works, with true start and end times.
//
// With EZOP_API_KEY (and EZOP_API_URL for a self-hosted Ezop) set it
// reports to that Ezop. Without them it starts the in-process Ezop emulator
// (package ezoptest), says so in one line, and prints the runs as the
// emulator stored them.
//
//	go run ./examples/multiagent
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
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/ezoptest"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

func main() {
	if err := run(context.Background(), os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "multiagent:", err)
		os.Exit(1)
	}
}

// run reports the demo to the Ezop that EZOP_API_URL and EZOP_API_KEY
// name, or, without a key, to an in-process emulator whose runs it prints.
func run(ctx context.Context, w io.Writer, getenv func(string) string) error {
	if key := getenv("EZOP_API_KEY"); key != "" {
		opts := []exporter.Option{exporter.WithAPIKey(key)}
		if url := getenv("EZOP_API_URL"); url != "" {
			opts = append(opts, exporter.WithEndpoint(url))
		}
		if err := demo(ctx, opts...); err != nil {
			return err
		}
		fmt.Fprintln(w, "sent: one supervisor run and two child runs")
		return nil
	}
	srv := ezoptest.NewServer()
	defer srv.Close()
	fmt.Fprintln(w, "EZOP_API_KEY is not set: reporting to an in-process Ezop emulator (package ezoptest) instead")
	if err := demo(ctx, exporter.WithEndpoint(srv.URL), exporter.WithAPIKey(srv.APIKey)); err != nil {
		return err
	}
	for _, r := range srv.Runs() {
		fmt.Fprintln(w)
		fmt.Fprint(w, srv.Tree(r.ID))
	}
	return nil
}

// demo runs the supervisor once and shuts the pipeline down, which
// delivers everything.
func demo(ctx context.Context, opts ...exporter.Option) error {
	res := resource.NewSchemaless(
		semconv.AgentName("supervisor"),
		semconv.AgentOwner("support-team"),
		semconv.AgentVersion("1.0.0"),
	)
	tp, err := exporter.Install(ctx, res, opts...)
	if err != nil {
		return err
	}
	tracer := tp.Tracer("multiagent")

	ctx, root := tracer.Start(ctx, "handle ticket", trace.WithAttributes(
		semconv.RunTriggerType(semconv.TriggerWebhook), semconv.RunTriggerID("ticket-7")))
	facts, err := invoke(ctx, tracer, "researcher", func(ctx context.Context) (string, error) {
		chat(ctx, tracer, 420, 35)
		return "", errors.New("no sources found for the order")
	})
	if err != nil {
		// The supervisor handles it: the researcher's run failed, the
		// supervisor's goes on.
		facts = "no research available"
	}
	_, _ = invoke(ctx, tracer, "writer", func(ctx context.Context) (string, error) {
		chat(ctx, tracer, 610, 120)
		return "Dear customer, ... (" + facts + ")", nil
	}, semconv.AgentOwner("content-team"))
	root.End()

	return tp.Shutdown(ctx)
}

// invoke calls a sub-agent as OTel GenAI instrumentation records it: an
// invoke_agent span naming the agent.
func invoke(ctx context.Context, tracer trace.Tracer, agent string, work func(context.Context) (string, error), extra ...attribute.KeyValue) (string, error) {
	ctx, span := tracer.Start(ctx, "invoke_agent "+agent, trace.WithAttributes(append([]attribute.KeyValue{
		attribute.String("gen_ai.operation.name", "invoke_agent"),
		attribute.String("gen_ai.agent.name", agent),
	}, extra...)...))
	defer span.End()
	out, err := work(ctx)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return out, err
}

// chat records one LLM call of the current agent.
func chat(ctx context.Context, tracer trace.Tracer, in, out int) {
	_, span := tracer.Start(ctx, "chat gpt-4o-mini", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "chat"),
		attribute.String("gen_ai.provider.name", "openai"),
		attribute.String("gen_ai.request.model", "gpt-4o-mini"),
		attribute.Int("gen_ai.usage.input_tokens", in),
		attribute.Int("gen_ai.usage.output_tokens", out),
	))
	time.Sleep(2 * time.Millisecond)
	span.End()
}
