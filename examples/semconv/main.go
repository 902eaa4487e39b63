// Command semconv shows the Ezop attribute keys (package semconv) and the
// helpers of package bridge in use, for what OpenTelemetry's own
// conventions cannot say:
//
//   - the agent's identity on the resource: ezop.agent.name, owner,
//     version, description, changelog and permissions;
//   - what started the run and for whom: ezop.run.trigger_type (user),
//     ezop.run.trigger_id and ezop.run.user_id on the root span;
//   - explicit span categories with bridge.MarkSpan (ezop.span.category):
//     a memory span, a reasoning span and LLM spans without GenAI
//     operation names;
//   - explicit events with bridge.EmitEvent (ezop.event.*): the user's
//     input, a reasoning decision of one loop iteration, a memory write,
//     and the user's feedback;
//   - the run's outcome with bridge.SetRunOutcome: partial, which Ezop
//     stores as success with requested_status "partial" in the run's
//     metadata, and a message.
//
// Like examples/quickstart it reports to the Ezop that EZOP_API_URL and
// EZOP_API_KEY name, else to the in-process emulator, whose stored run it
// prints.
//
//	go run ./examples/semconv
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/bridge"
	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/ezoptest"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

func main() {
	if err := run(context.Background(), os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "semconv:", err)
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
		st, err := demo(ctx, w, opts...)
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
	if _, err := demo(ctx, w, exporter.WithEndpoint(srv.URL), exporter.WithAPIKey(srv.APIKey)); err != nil {
		return err
	}
	for _, r := range srv.Runs() {
		fmt.Fprint(w, srv.Tree(r.ID))
		fmt.Fprintf(w, "user_id=%s trigger_id=%s requested_status=%v\n",
			deref(r.UserID), deref(r.TriggerID), r.Metadata["requested_status"])
	}
	return nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// demo records one run of the digest agent through an exporter built with
// opts and shuts the TracerProvider down, which delivers it. It prints
// what the exporter reported.
func demo(ctx context.Context, w io.Writer, opts ...exporter.Option) (exporter.Stats, error) {
	// The exporter reports what it could not deliver (*exporter.DropError)
	// and, once per reason, what it delivered changed
	// (*exporter.AlterNotice) to its error handler, otel.Handle by default.
	// Here "partial" is sent as success: a notice says so.
	var notices reports
	opts = append([]exporter.Option{exporter.WithErrorHandler(&notices)}, opts...)
	exp, err := exporter.New(ctx, opts...)
	if err != nil {
		return exporter.Stats{}, err
	}
	defer func() {
		for _, err := range notices.all() {
			fmt.Fprintln(w, "exporter reported:", err)
		}
	}()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		// The agent and its version, in Ezop's terms. They take precedence
		// over service.name, service.namespace and service.version.
		sdktrace.WithResource(resource.NewSchemaless(
			semconv.AgentName("digest-agent"),
			semconv.AgentOwner("newsroom"),
			semconv.AgentVersion("3.2.0"),
			semconv.AgentDescription("Summarizes the day's sources for a reader."),
			semconv.AgentDefaultPermissions("read:sources"),
			semconv.AgentPermissions("read:sources", "write:digests"),
			semconv.AgentChangelog("Digests are saved for the reader."),
		)),
	)
	a := &digestAgent{tracer: tp.Tracer("github.com/ezopotel/ezop-otel-go/examples/semconv")}
	if err := a.digest(ctx, "3f0c9a52-7d1e-4b8a-9c61-2f4e8d0b7a15", []string{"wire", "blog", "paywalled"}); err != nil {
		return exp.Stats(), err
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = tp.Shutdown(sctx)
	return exp.Stats(), err
}

// reports collects what the exporter reports.
type reports struct {
	mu   sync.Mutex
	errs []error
}

func (r *reports) Handle(err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
}

func (r *reports) all() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

type digestAgent struct {
	tracer trace.Tracer
}

var errPaywall = errors.New("source behind a paywall")

// digest is one run: a reader asked for today's digest in the web app.
func (a *digestAgent) digest(ctx context.Context, userID string, sources []string) error {
	ctx, root := a.tracer.Start(ctx, "daily digest", trace.WithAttributes(
		semconv.RunTriggerType(semconv.TriggerUser),
		semconv.RunTriggerID("web-app/digest-button"),
		semconv.RunUserID(userID), // a UUID: Ezop's user_id
	))
	defer root.End()

	// Events on the root span are run-level events.
	if err := bridge.EmitEvent(ctx, "digest requested", semconv.CategoryUser,
		bridge.WithType(semconv.TypeUserInput),
		bridge.WithInput(map[string]any{"request": "today's digest", "sources": len(sources)}),
	); err != nil {
		return err
	}

	a.loadPreferences(ctx)
	plan, err := a.plan(ctx, sources)
	if err != nil {
		return err
	}
	done := 0
	for _, src := range plan {
		if a.summarize(ctx, src) == nil {
			done++
		}
	}
	if err := a.save(ctx, done); err != nil {
		return err
	}

	if err := bridge.EmitEvent(ctx, "reader feedback", semconv.CategoryUser,
		bridge.WithType(semconv.TypeUserFeedback),
		bridge.WithInput(map[string]any{"rating": 4, "comment": "useful, but missing one source"}),
	); err != nil {
		return err
	}
	// Not everything was summarized: partial. Ezop stores success, with
	// requested_status "partial" in the run's metadata, and the message.
	outcome := semconv.RunStatusSuccess
	if done < len(plan) {
		outcome = semconv.RunStatusPartial
	}
	bridge.SetRunOutcome(root, outcome, fmt.Sprintf("%d of %d sources summarized", done, len(plan)))
	return nil
}

// loadPreferences reads the reader's preferences from memory: a span
// marked memory yields a memory_retrieval event.
func (a *digestAgent) loadPreferences(ctx context.Context) {
	_, span := a.tracer.Start(ctx, "load preferences")
	defer span.End()
	bridge.MarkSpan(span, semconv.CategoryMemory)
	span.SetAttributes(attribute.String("memory.key", "prefs/reader"))
	work()
}

// plan decides which sources to use: a span marked reasoning yields a
// reasoning_step event, and the decision is an explicit event of the
// agent loop's first iteration.
func (a *digestAgent) plan(ctx context.Context, sources []string) ([]string, error) {
	ctx, span := a.tracer.Start(ctx, "plan")
	defer span.End()
	bridge.MarkSpan(span, semconv.CategoryReasoning)
	work()
	err := bridge.EmitEvent(ctx, "choose sources", semconv.CategoryReasoning,
		bridge.WithType(semconv.TypeReasoningDecision),
		bridge.WithSubtype(semconv.SubtypeChainOfThought),
		bridge.WithIterationID(1),
		bridge.WithOutput(map[string]any{"sources": sources}),
	)
	// EmitEvent refuses what the Ezop server would: a type of another
	// category, for example, records nothing and returns an error.
	return sources, err
}

// summarize asks an LLM to summarize one source: the span is marked llm
// (it has no gen_ai.operation.name); its tokens come from the GenAI usage
// keys. The paywalled source fails.
func (a *digestAgent) summarize(ctx context.Context, source string) error {
	_, span := a.tracer.Start(ctx, "summarize "+source, trace.WithAttributes(
		attribute.String("gen_ai.request.model", "gpt-4o-mini"),
	))
	defer span.End()
	bridge.MarkSpan(span, semconv.CategoryLLM)
	work()
	if source == "paywalled" {
		span.RecordError(errPaywall)
		span.SetStatus(codes.Error, errPaywall.Error())
		return errPaywall
	}
	span.SetAttributes(
		attribute.Int("gen_ai.usage.input_tokens", 1800),
		attribute.Int("gen_ai.usage.output_tokens", 150),
	)
	return nil
}

// save writes the digest to memory: an explicit memory_write event (a
// memory span would say memory_retrieval).
func (a *digestAgent) save(ctx context.Context, summaries int) error {
	ctx, span := a.tracer.Start(ctx, "save digest")
	defer span.End()
	work()
	return bridge.EmitEvent(ctx, "digest saved", semconv.CategoryMemory,
		bridge.WithType(semconv.TypeMemoryWrite),
		bridge.WithInput(map[string]any{"key": "digests/2026-01-02", "summaries": summaries}),
		bridge.WithMetadata(attribute.String("store", "redis")),
	)
}

// work stands in for the time real work takes.
func work() { time.Sleep(time.Millisecond) }
