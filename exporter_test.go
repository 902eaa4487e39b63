package ezopotel_test

// End-to-end tests: a real TracerProvider with a batching processor, the
// exporter, and the ezoptest emulator over real HTTP. They assert what
// Ezop ends up holding.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
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

type harness struct {
	t   *testing.T
	srv *ezoptest.Server
	exp *exporter.Exporter
	tp  *sdktrace.TracerProvider
	tr  trace.Tracer

	mu   sync.Mutex
	errs []error
}

func (h *harness) Handle(err error) {
	h.mu.Lock()
	h.errs = append(h.errs, err)
	h.mu.Unlock()
}

func (h *harness) reported() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), h.errs...)
}

var agentResource = resource.NewSchemaless(
	attribute.String("service.name", "support-svc"),
	semconv.AgentName("support-agent"),
	semconv.AgentOwner("platform"),
	semconv.AgentVersion("2.1.0"),
)

func newHarness(t *testing.T, opts ...exporter.Option) *harness {
	t.Helper()
	h := &harness{t: t, srv: ezoptest.NewServer()}
	t.Cleanup(h.srv.Close)
	all := append([]exporter.Option{
		exporter.WithEndpoint(h.srv.URL),
		exporter.WithAPIKey(h.srv.APIKey),
		exporter.WithErrorHandler(h),
	}, opts...)
	exp, err := exporter.New(context.Background(), all...)
	if err != nil {
		t.Fatal(err)
	}
	h.exp = exp
	h.tp = sdktrace.NewTracerProvider(
		sdktrace.WithResource(agentResource),
		sdktrace.WithBatcher(exp,
			sdktrace.WithMaxExportBatchSize(2),
			sdktrace.WithBatchTimeout(5*time.Millisecond)),
	)
	h.tr = h.tp.Tracer("e2e")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.tp.Shutdown(ctx)
	})
	return h
}

func (h *harness) flush() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.tp.ForceFlush(ctx); err != nil {
		h.t.Fatalf("ForceFlush: %v", err)
	}
}

func (h *harness) shutdown() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.tp.Shutdown(ctx); err != nil {
		h.t.Fatalf("Shutdown: %v", err)
	}
}

func (h *harness) noRejections() {
	h.t.Helper()
	for _, r := range h.srv.Rejected() {
		h.t.Errorf("emulator rejected: %s", r)
	}
}

// tree returns "parent > child" lines for the spans of a run, sorted; the
// run level is "run".
func (h *harness) tree(runID string) []string {
	spans := h.srv.Spans(runID)
	names := map[string]string{}
	for _, s := range spans {
		names[s.ID] = deref(s.Name)
	}
	var out []string
	for _, s := range spans {
		parent := "run"
		if s.ParentID != nil {
			parent = names[*s.ParentID]
			if parent == "" {
				parent = "?" + *s.ParentID
			}
		}
		out = append(out, parent+" > "+deref(s.Name))
	}
	sort.Strings(out)
	return out
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// eventsOf returns the events of a run on the span named span ("" for
// run-level events).
func (h *harness) eventsOf(runID, span string) []ezoptest.Event {
	ids := map[string]string{}
	for _, s := range h.srv.Spans(runID) {
		ids[s.ID] = deref(s.Name)
	}
	var out []ezoptest.Event
	for _, e := range h.srv.Events(runID) {
		name := ""
		if e.SpanID != nil {
			name = ids[*e.SpanID]
		}
		if name == span {
			out = append(out, e)
		}
	}
	return out
}

func kinds(evs []ezoptest.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Category+"/"+deref(e.Type))
	}
	sort.Strings(out)
	return out
}

func find(evs []ezoptest.Event, category, typ string) (ezoptest.Event, bool) {
	for _, e := range evs {
		if e.Category == category && deref(e.Type) == typ {
			return e, true
		}
	}
	return ezoptest.Event{}, false
}

func equal(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

// num reads a JSON number (the emulator decodes numbers as float64).
func num(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case int:
		return float64(n)
	case int64:
		return float64(n)
	}
	return -1
}

// runAgent does the work of one request of a realistic agent: plan, ask an
// LLM, call a tool, fail to parse something; fail the whole run when fail
// is set.
func runAgent(ctx context.Context, tr trace.Tracer, fail bool) {
	ctx, root := tr.Start(ctx, "handle request", trace.WithSpanKind(trace.SpanKindServer))
	pctx, plan := tr.Start(ctx, "plan")

	_, llm := tr.Start(pctx, "chat gpt-4o", trace.WithSpanKind(trace.SpanKindClient))
	llm.SetAttributes(
		attribute.String("gen_ai.operation.name", "chat"),
		attribute.String("gen_ai.request.model", "gpt-4o"),
		attribute.Int("gen_ai.usage.input_tokens", 120),
		attribute.Int("gen_ai.usage.output_tokens", 40),
	)
	llm.End()

	_, tool := tr.Start(pctx, "execute_tool search")
	tool.SetAttributes(
		attribute.String("gen_ai.operation.name", "execute_tool"),
		attribute.String("gen_ai.tool.name", "search"),
	)
	tool.End()

	_, parse := tr.Start(pctx, "parse")
	parse.RecordError(errors.New("unexpected token"))
	parse.SetStatus(codes.Error, "bad json")
	parse.End()

	_, validate := tr.Start(pctx, "validate")
	validate.SetStatus(codes.Error, "invalid answer")
	validate.End()

	plan.End()
	if fail {
		root.SetStatus(codes.Error, "upstream timeout")
	}
	root.End()
}

func TestEndToEndAgent(t *testing.T) {
	h := newHarness(t)
	runAgent(context.Background(), h.tr, false)
	runAgent(context.Background(), h.tr, true)
	h.flush()

	agents := h.srv.Agents()
	if len(agents) != 1 || agents[0].Name != "support-agent" || agents[0].Owner != "platform" {
		t.Fatalf("agents: %+v", agents)
	}
	versions := h.srv.Versions()
	if len(versions) != 1 || versions[0].Version != "2.1.0" || versions[0].AgentID != agents[0].ID {
		t.Errorf("versions: %+v", versions)
	}
	runs := h.srv.Runs()
	if len(runs) != 2 {
		t.Fatalf("runs: %d, want 2", len(runs))
	}
	// The root is the run's top-level span; the rest hangs under it.
	wantTree := []string{
		"handle request > plan",
		"plan > chat gpt-4o",
		"plan > execute_tool search",
		"plan > parse",
		"plan > validate",
		"run > handle request",
	}
	var ok, failed int
	for _, run := range runs {
		if run.AgentID != agents[0].ID || deref(run.VersionID) != versions[0].ID {
			t.Errorf("run %s: agent %s version %s", run.ID, run.AgentID, deref(run.VersionID))
		}
		if got := h.tree(run.ID); !equal(got, wantTree) {
			t.Errorf("run %s tree:\n%s\nwant:\n%s\n%s", run.ID, strings.Join(got, "\n"), strings.Join(wantTree, "\n"), h.srv.Tree(run.ID))
		}
		for _, s := range h.srv.Spans(run.ID) {
			if s.EndTime == nil {
				t.Errorf("span %s not closed", deref(s.Name))
			}
		}
		switch run.Status {
		case "success":
			ok++
			if run.Message != nil {
				t.Errorf("successful run message %q", *run.Message)
			}
		case "failed":
			failed++
			if deref(run.Message) != "upstream timeout" {
				t.Errorf("failed run message %q, want the status description", deref(run.Message))
			}
		default:
			t.Errorf("run status %q", run.Status)
		}

		// LLM span: one llm_response with the model and tokens.
		llmEvents := h.eventsOf(run.ID, "chat gpt-4o")
		if len(llmEvents) != 1 {
			t.Errorf("LLM span events: %v", kinds(llmEvents))
		}
		if ev, found := find(llmEvents, "llm", "llm_response"); !found {
			t.Errorf("no llm/llm_response event: %v", kinds(llmEvents))
		} else if ev.Metadata["model"] != "gpt-4o" || num(ev.Metadata["input_tokens"]) != 120 || num(ev.Metadata["output_tokens"]) != 40 {
			t.Errorf("llm_response metadata: %v", ev.Metadata)
		}
		// Tool span: started and completed, with the tool's name.
		toolEvents := h.eventsOf(run.ID, "execute_tool search")
		if got := kinds(toolEvents); !equal(got, []string{"tool/tool_call_completed", "tool/tool_call_started"}) {
			t.Errorf("tool span events: %v", got)
		}
		for _, ev := range toolEvents {
			if ev.Metadata["tool_name"] != "search" {
				t.Errorf("tool event %s metadata: %v", deref(ev.Type), ev.Metadata)
			}
		}
		// RecordError (and an Error status): error_raised.
		if ev, found := find(h.eventsOf(run.ID, "parse"), "error", "error_raised"); !found {
			t.Errorf("parse events: %v", kinds(h.eventsOf(run.ID, "parse")))
		} else if !strings.Contains(fmt.Sprint(ev.Error), "unexpected token") {
			t.Errorf("error event payload: %v", ev.Error)
		}
		// An Error status alone: error_raised too.
		if got := kinds(h.eventsOf(run.ID, "validate")); !equal(got, []string{"error/error_raised"}) {
			t.Errorf("validate events: %v", got)
		}
		// Nothing else: five span events, and at run level at most the
		// failed run's error.
		spanEvents := 0
		for _, sp := range []string{"plan", "chat gpt-4o", "execute_tool search", "parse", "validate"} {
			spanEvents += len(h.eventsOf(run.ID, sp))
		}
		if spanEvents != 5 {
			t.Errorf("run %s: %d span events, want 5:\n%s", run.Status, spanEvents, h.srv.Tree(run.ID))
		}
		runEvents := kinds(h.eventsOf(run.ID, "handle request"))
		switch {
		case run.Status == "success" && len(runEvents) != 0,
			run.Status == "failed" && len(runEvents) > 1,
			len(runEvents) == 1 && runEvents[0] != "error/error_raised":
			t.Errorf("run %s: root span events %v", run.Status, runEvents)
		}
		if n := len(h.eventsOf(run.ID, "")); n != 0 {
			t.Errorf("run %s: %d run-level events, want none: the root is a span", run.Status, n)
		}
		// Run metadata carries the totals.
		totals, _ := run.Metadata["totals"].(map[string]any)
		if num(totals["llm_calls"]) != 1 || num(totals["input_tokens"]) != 120 || num(totals["output_tokens"]) != 40 ||
			num(totals["tool_calls"]) != 1 || num(totals["errors"]) < 2 {
			t.Errorf("run metadata totals: %v", run.Metadata)
		}
	}
	if ok != 1 || failed != 1 {
		t.Errorf("statuses: %d success, %d failed", ok, failed)
	}
	h.noRejections()

	st := h.exp.Stats()
	if st.RunsStarted != 2 || st.RunsEnded != 2 || st.SpansSent != 12 || st.SpansDropped != 0 || st.EventsDropped != 0 {
		t.Errorf("stats: %+v", st)
	}
	h.shutdown()
	for _, err := range h.reported() {
		t.Logf("reported: %v", err)
	}
}

// Two traces built at the same time, their spans interleaved over many
// small batches: two runs, nothing mixed up.
func TestEndToEndConcurrentTraces(t *testing.T) {
	h := newHarness(t)
	var wg sync.WaitGroup
	for _, name := range []string{"alpha", "beta"} {
		wg.Go(func() {
			ctx, root := h.tr.Start(context.Background(), name)
			for i := range 3 {
				cctx, step := h.tr.Start(ctx, fmt.Sprintf("%s-step%d", name, i))
				time.Sleep(2 * time.Millisecond)
				_, leaf := h.tr.Start(cctx, fmt.Sprintf("%s-leaf%d", name, i))
				time.Sleep(2 * time.Millisecond)
				leaf.End()
				step.End()
			}
			root.End()
		})
	}
	wg.Wait()
	h.flush()

	runs := h.srv.Runs()
	if len(runs) != 2 {
		t.Fatalf("runs: %d", len(runs))
	}
	for _, run := range runs {
		name := run.Metadata["otel"].(map[string]any)["name"]
		want := []string{fmt.Sprintf("run > %s", name)}
		for i := range 3 {
			want = append(want, fmt.Sprintf("%s > %s-step%d", name, name, i), fmt.Sprintf("%s-step%d > %s-leaf%d", name, i, name, i))
		}
		sort.Strings(want)
		if got := h.tree(run.ID); !equal(got, want) {
			t.Errorf("run %v tree:\n%s\nwant:\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if run.Status != "success" {
			t.Errorf("run %v status %s", name, run.Status)
		}
	}
	h.noRejections()
}

// A root span whose parent is in another process starts a run here.
func TestEndToEndRemoteParent(t *testing.T) {
	h := newHarness(t)
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	remote := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), remote)

	ctx, root := h.tr.Start(ctx, "serve", trace.WithSpanKind(trace.SpanKindServer))
	_, child := h.tr.Start(ctx, "work")
	child.End()
	root.End()
	h.flush()

	runs := h.srv.Runs()
	if len(runs) != 1 {
		t.Fatalf("runs: %d", len(runs))
	}
	run := runs[0]
	if run.Status != "success" {
		t.Errorf("status %s", run.Status)
	}
	if got := h.tree(run.ID); !equal(got, []string{"run > serve", "serve > work"}) {
		t.Errorf("tree %v", got)
	}
	otelInfo, _ := run.Metadata["otel"].(map[string]any)
	if otelInfo["trace_id"] != tid.String() {
		t.Errorf("run metadata otel: %v", otelInfo)
	}
	h.noRejections()
}

// A root that never ends: after the root wait its spans are sent as a run
// that stays running, until Shutdown ends it, failed, saying why.
func TestEndToEndRootNeverEnds(t *testing.T) {
	h := newHarness(t, exporter.WithRootWait(100*time.Millisecond))
	ctx, root := h.tr.Start(context.Background(), "stuck")
	_, child := h.tr.Start(ctx, "done part")
	child.End()
	h.flush() // the child is exported, and waits for its root

	deadline := time.Now().Add(5 * time.Second)
	for len(h.srv.Runs()) == 0 || len(h.srv.Spans(h.srv.Runs()[0].ID)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no run after the root wait")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r := h.srv.Runs(); len(r) != 1 || r[0].Status != "running" {
		t.Fatalf("runs before Shutdown: %+v", r)
	}
	h.shutdown()
	runs := h.srv.Runs()
	if len(runs) != 1 || runs[0].Status != "failed" || !strings.Contains(deref(runs[0].Message), "root span") {
		t.Fatalf("runs: %+v", runs)
	}
	if got := h.tree(runs[0].ID); !equal(got, []string{"run > done part"}) {
		t.Errorf("tree %v", got)
	}
	h.noRejections()
	_ = root // never ended
}

// Spans that end after Shutdown are refused and counted, not lost
// silently.
func TestEndToEndShutdownIsFinal(t *testing.T) {
	h := newHarness(t)
	runAgent(context.Background(), h.tr, false)
	h.shutdown()
	if n := len(h.srv.Runs()); n != 1 {
		t.Errorf("runs: %d", n)
	}
	err := h.exp.ExportSpans(context.Background(), nil)
	if !errors.Is(err, exporter.ErrShutdown) {
		t.Errorf("ExportSpans after Shutdown: %v", err)
	}
	if err := h.exp.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	h.noRejections()
}
