package exporter

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/ezoptest"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

// service is one process of a distributed trace: its own resource (its
// agent) and recorder.
type service struct {
	rec *tracetest.SpanRecorder
	trace.Tracer
}

func newService(name string) *service {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithResource(resource.NewSchemaless(
		semconv.AgentName(name), semconv.AgentOwner("test-team"), semconv.AgentVersion("1.0.0"))))
	return &service{rec: rec, Tracer: tp.Tracer("test")}
}

func (s *service) ended() []sdktrace.ReadOnlySpan { return s.rec.Ended() }

// twoServices records one trace across two processes: service A's root
// "a root" has a client span "a call b", which calls service B, whose root
// "b root" (with the remote parent "a call b") has an LLM span "b chat".
func twoServices() (a, b []sdktrace.ReadOnlySpan) {
	sa, sb := newService("agent-a"), newService("agent-b")
	ctx, aRoot := sa.Start(context.Background(), "a root")
	cctx, call := sa.Start(ctx, "a call b", trace.WithSpanKind(trace.SpanKindClient))

	// Service B continues the trace through W3C trace context.
	bctx := trace.ContextWithRemoteSpanContext(context.Background(), trace.SpanContextFromContext(cctx))
	bctx, bRoot := sb.Start(bctx, "b root", trace.WithSpanKind(trace.SpanKindServer))
	_, llm := sb.Start(bctx, "b chat", trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "chat"),
		attribute.String("gen_ai.request.model", "m"),
		attribute.Int("gen_ai.usage.input_tokens", 7),
		attribute.Int("gen_ai.usage.output_tokens", 3)))
	llm.End()
	bRoot.End()

	call.End()
	aRoot.End()
	return sa.ended(), sb.ended()
}

// runsByAgent returns the runs on srv by agent name.
func runsByAgent(t *testing.T, srv *ezoptest.Server) (map[string]ezoptest.Run, map[string]string) {
	t.Helper()
	names := map[string]string{}
	ids := map[string]string{}
	for _, a := range srv.Agents() {
		names[a.ID] = a.Name
		ids[a.Name] = a.ID
	}
	runs := map[string]ezoptest.Run{}
	for _, r := range srv.Runs() {
		if _, dup := runs[names[r.AgentID]]; dup {
			t.Errorf("two runs of agent %s", names[r.AgentID])
		}
		runs[names[r.AgentID]] = r
	}
	return runs, ids
}

// checkLinked checks that B's run is a child run of A's.
func checkLinked(t *testing.T, e *env) {
	t.Helper()
	runs, agents := runsByAgent(t, e.srv)
	a, b := runs["agent-a"], runs["agent-b"]
	if len(runs) != 2 || a.ID == "" || b.ID == "" {
		t.Fatalf("runs %+v, want one of agent-a and one of agent-b", runs)
	}
	if a.ParentRunID != nil || a.Status != "success" {
		t.Errorf("A's run: parent %v status %s, want a top run, success", a.ParentRunID, a.Status)
	}
	if b.ParentRunID == nil || *b.ParentRunID != a.ID || b.TriggerType != "agent" || b.TriggerID == nil || *b.TriggerID != agents["agent-a"] {
		t.Errorf("B's run: parent %v trigger %s/%v, want parent %s, trigger agent %s", deref(b.ParentRunID), b.TriggerType, deref(b.TriggerID), a.ID, agents["agent-a"])
	}
	if b.Status != "success" || b.RootRunID != a.ID {
		t.Errorf("B's run: status %s root run %s, want success under %s", b.Status, b.RootRunID, a.ID)
	}
	checkBRun(t, e.srv, b)
}

// checkBRun checks B's run content: its LLM span and event, and the remote
// parent kept in its metadata.
func checkBRun(t *testing.T, srv *ezoptest.Server, b ezoptest.Run) {
	t.Helper()
	if got := spanParents(t, srv, b.ID); len(got) != 2 || got["b root"] != "" || got["b chat"] != "b root" {
		t.Errorf("B's spans %v, want its root and its LLM call under it", got)
	}
	var tokens float64
	for _, ev := range srv.Events(b.ID) {
		if ev.Category == "llm" && deref(ev.Type) == "llm_response" {
			tokens += ev.Metadata["input_tokens"].(float64)
		}
	}
	if tokens != 7 {
		t.Errorf("B's input tokens %v, want 7", tokens)
	}
	otelMeta, _ := b.Metadata["otel"].(map[string]any)
	if otelMeta["parent_span_id"] == nil || otelMeta["parent_remote"] != true {
		t.Errorf("B's run metadata otel %v, want the remote parent kept", otelMeta)
	}
}

func deref[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}

func TestRemoteLinkParentFirst(t *testing.T) {
	e := newEnv(t, nil, WithRemoteParentLinking(true))
	a, b := twoServices()
	e.export(a...)
	e.export(b...)
	e.shutdown()
	e.noRejections()
	checkLinked(t, e)
}

func TestRemoteLinkChildFirst(t *testing.T) {
	e := newEnv(t, nil, WithRemoteParentLinking(true))
	a, b := twoServices()
	e.export(b...)
	// B's root waits for its parent: nothing of B is sent yet.
	if n := len(e.srv.Runs()); n != 0 {
		t.Fatalf("%d runs before A's spans came, want B's waiting", n)
	}
	if st := e.exp.Stats(); st.BufferedSpans != 2 {
		t.Errorf("buffered %d spans, want B's two", st.BufferedSpans)
	}
	e.export(a...)
	e.shutdown()
	e.noRejections()
	checkLinked(t, e)
}

// A's client span arrives first, without its root; B's spans then wait
// until A's root places it.
func TestRemoteLinkParentSpanBeforeItsRoot(t *testing.T) {
	e := newEnv(t, nil, WithRemoteParentLinking(true))
	a, b := twoServices()
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range a {
		byName[s.Name()] = s
	}
	e.export(byName["a call b"])
	e.export(b...)
	if n := len(e.srv.Runs()); n != 0 {
		t.Fatalf("%d runs before A's root came, want none", n)
	}
	e.export(byName["a root"])
	e.shutdown()
	e.noRejections()
	checkLinked(t, e)
}

func TestRemoteLinkSameBatch(t *testing.T) {
	e := newEnv(t, nil, WithRemoteParentLinking(true))
	a, b := twoServices()
	e.export(append(b, a...)...)
	e.shutdown()
	e.noRejections()
	checkLinked(t, e)
}

// A → B → C, each service calling the next from its root: C's run is a
// child of B's, B's of A's, whatever the order of arrival.
func TestRemoteLinkChain(t *testing.T) {
	for _, order := range []string{"abc", "cba", "bca", "one batch"} {
		t.Run(order, func(t *testing.T) {
			e := newEnv(t, nil, WithRemoteParentLinking(true))
			svcs := map[byte]*service{'a': newService("agent-a"), 'b': newService("agent-b"), 'c': newService("agent-c")}
			ctx, ra := svcs['a'].Start(context.Background(), "a root")
			bctx := trace.ContextWithRemoteSpanContext(context.Background(), trace.SpanContextFromContext(ctx))
			bctx, rb := svcs['b'].Start(bctx, "b root")
			cctx := trace.ContextWithRemoteSpanContext(context.Background(), trace.SpanContextFromContext(bctx))
			_, rc := svcs['c'].Start(cctx, "c root")
			rc.End()
			rb.End()
			ra.End()
			if order == "one batch" {
				e.export(append(append(svcs['c'].ended(), svcs['b'].ended()...), svcs['a'].ended()...)...)
			} else {
				for i := range order {
					e.export(svcs[order[i]].ended()...)
				}
			}
			e.shutdown()
			e.noRejections()
			runs, agents := runsByAgent(t, e.srv)
			if len(runs) != 3 {
				t.Fatalf("%d runs, want 3", len(runs))
			}
			for child, parent := range map[string]string{"agent-b": "agent-a", "agent-c": "agent-b"} {
				r := runs[child]
				if deref(r.ParentRunID) != runs[parent].ID || r.TriggerType != "agent" || deref(r.TriggerID) != agents[parent] {
					t.Errorf("%s's run: parent %s trigger %s/%s, want child of %s's run", child, deref(r.ParentRunID), r.TriggerType, deref(r.TriggerID), parent)
				}
			}
			if runs["agent-a"].ParentRunID != nil {
				t.Errorf("A's run has a parent")
			}
		})
	}
}

// The parent never comes: B's run goes as a run of its own once the link
// wait passes, keeping its remote parent in its metadata. The (long) root
// wait does not hold it: a complete trace whose parent was never seen is
// not late by the root wait.
func TestRemoteLinkParentNeverComes(t *testing.T) {
	e := newEnv(t, nil, WithRemoteParentLinking(true), WithRootWait(time.Hour), WithRemoteParentWait(100*time.Millisecond))
	_, b := twoServices()
	start := time.Now()
	e.export(b...)
	waitFor(t, 5*time.Second, "B's run", func() bool {
		for _, r := range e.srv.Runs() {
			if r.Status == "success" {
				return true
			}
		}
		return false
	})
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("B's run took %v, want about the link wait (100ms)", took)
	}
	e.shutdown()
	e.noRejections()
	runs, _ := runsByAgent(t, e.srv)
	rb := runs["agent-b"]
	if len(runs) != 1 || rb.ParentRunID != nil || rb.TriggerType == "agent" {
		t.Fatalf("runs %+v, want B's alone, not a child run", runs)
	}
	checkBRun(t, e.srv, rb)
	if n := e.exp.Stats().Altered[reasonRemoteNotSeen]; n != 1 {
		t.Errorf("Altered[%q] = %d, want 1 (all: %v)", reasonRemoteNotSeen, n, e.exp.Stats().Altered)
	}
}

// Shutdown sends a root still waiting for its parent as a run of its own.
func TestRemoteLinkShutdownReleases(t *testing.T) {
	e := newEnv(t, nil, WithRemoteParentLinking(true))
	_, b := twoServices()
	e.export(b...)
	e.shutdown()
	e.noRejections()
	runs, _ := runsByAgent(t, e.srv)
	if rb := runs["agent-b"]; len(runs) != 1 || rb.ParentRunID != nil || rb.Status != "success" {
		t.Fatalf("runs %+v, want B's alone, ended", runs)
	}
	checkBRun(t, e.srv, runs["agent-b"])
}

// A's run cannot be started: B's run goes as a run of its own, not
// dropped.
func TestRemoteLinkParentStartFails(t *testing.T) {
	e := newEnv(t, nil, WithRemoteParentLinking(true))
	a, b := twoServices()
	e.export(b...) // waits for A
	e.srv.Inject(ezoptest.Fault{Endpoint: ezoptest.EndpointStartRun, Status: 422, Message: "refused", Times: 1})
	e.export(a...)
	e.shutdown()
	runs, _ := runsByAgent(t, e.srv)
	rb, ok := runs["agent-b"]
	if len(runs) != 1 || !ok || rb.ParentRunID != nil || rb.Status != "success" {
		t.Fatalf("runs %+v, want only B's, as a run of its own", runs)
	}
	checkBRun(t, e.srv, rb)
	st := e.exp.Stats()
	if n := st.Altered[reasonRemoteNoParent]; n != 1 {
		t.Errorf("Altered[%q] = %d, want 1 (all: %v)", reasonRemoteNoParent, n, st.Altered)
	}
}

// Off (the default), B's run is sent at once as a run of its own.
func TestRemoteLinkOffByDefault(t *testing.T) {
	e := newEnv(t, nil)
	a, b := twoServices()
	e.export(b...)
	if n := len(e.srv.Runs()); n != 1 {
		t.Fatalf("%d runs after B's spans, want B's at once", n)
	}
	e.export(a...)
	e.shutdown()
	e.noRejections()
	runs, _ := runsByAgent(t, e.srv)
	if len(runs) != 2 || runs["agent-b"].ParentRunID != nil {
		t.Errorf("runs %+v, want two unlinked runs", runs)
	}
}

// Held roots count against WithMaxTraces like any waiting trace, but a
// complete trace is never dropped for them: at the bound the oldest waiting
// trace goes at once, its held root as a run of its own.
func TestRemoteLinkHeldRootsBounded(t *testing.T) {
	e := newEnv(t, nil, WithRemoteParentLinking(true), WithMaxTraces(1))
	_, b1 := twoServices()
	_, b2 := twoServices() // another trace
	e.export(b1...)
	e.export(b2...)
	st := e.exp.Stats()
	if st.BufferedTraces != 1 || st.SpansDropped != 0 || st.Altered[reasonMadeRoom] != 2 {
		t.Errorf("buffered traces %d, dropped %v, altered %v; want one waiting trace, the other sent", st.BufferedTraces, st.Dropped, st.Altered)
	}
	if n := len(e.srv.Runs()); n != 1 {
		t.Errorf("%d runs before Shutdown, want the first trace's", n)
	}
	e.shutdown()
	e.noRejections()
	for _, r := range e.srv.Runs() {
		if r.Status != "success" || r.ParentRunID != nil || len(e.srv.Spans(r.ID)) != 2 {
			t.Errorf("run %+v: want a complete run of its own", r)
		}
	}
	if n := len(e.srv.Runs()); n != 2 {
		t.Errorf("%d runs, want 2", n)
	}
}

// Many two-service traces, their spans shuffled into batches exported
// from two goroutines at once: every B run is a child of its trace's A
// run.
func TestRemoteLinkShuffledConcurrent(t *testing.T) {
	e := newEnv(t, nil, WithRemoteParentLinking(true))
	const traces = 40
	var all []sdktrace.ReadOnlySpan
	for range traces {
		a, b := twoServices()
		all = append(append(all, a...), b...)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := w * 7; i < len(all); i += 14 {
				e.export(all[i:min(i+7, len(all))]...)
			}
		})
	}
	wg.Wait()
	e.shutdown()
	e.noRejections()

	names := map[string]string{}
	for _, a := range e.srv.Agents() {
		names[a.ID] = a.Name
	}
	byTrace := map[string]map[string]ezoptest.Run{}
	for _, r := range e.srv.Runs() {
		otelMeta, _ := r.Metadata["otel"].(map[string]any)
		tid, _ := otelMeta["trace_id"].(string)
		if byTrace[tid] == nil {
			byTrace[tid] = map[string]ezoptest.Run{}
		}
		byTrace[tid][names[r.AgentID]] = r
	}
	if len(byTrace) != traces {
		t.Fatalf("runs of %d traces, want %d", len(byTrace), traces)
	}
	for tid, runs := range byTrace {
		a, b := runs["agent-a"], runs["agent-b"]
		if len(runs) != 2 || deref(b.ParentRunID) != a.ID || b.TriggerType != "agent" || a.Status != "success" || b.Status != "success" {
			t.Errorf("trace %s: runs %+v, want B's a child run of A's", tid, runs)
		}
	}
}
