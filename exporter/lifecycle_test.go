package exporter

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/ezoptest"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

// The tests of this file are the numbered findings of the lifecycle
// review, each through the public API: a run that starts ends, exactly
// once, in bounded memory, whatever the timing.

// everyRunEndedOnce fails unless every run on the emulator is ended (not
// running) and was patched exactly once.
func everyRunEndedOnce(t *testing.T, e *env) {
	t.Helper()
	ends := e.tr.ends()
	for _, r := range e.srv.Runs() {
		if r.Status == "running" {
			t.Errorf("run %s left running", r.ID)
		}
		if n := ends[r.ID]; n != 1 {
			t.Errorf("run %s ended %d times, want once", r.ID, n)
		}
	}
}

// 1. Live runs behind a batcher whose queue overflows: the batcher drops
// spans, roots among them. Every run that started ends (from the live
// processor's copy of its root), and the live slots are freed: after many
// more runs than WithMaxLiveRuns, runs still start live.
func TestLifecycleLiveRunsWhenTheBatcherDropsRoots(t *testing.T) {
	e := newEnv(t, nil, WithMaxLiveRuns(64), WithRootWait(200*time.Millisecond))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(testResource),
		sdktrace.WithSpanProcessor(e.exp.LiveProcessor()),
		sdktrace.WithBatcher(e.exp, sdktrace.WithMaxQueueSize(8), sdktrace.WithMaxExportBatchSize(8), sdktrace.WithBatchTimeout(5*time.Millisecond)),
	)
	tr := tp.Tracer("t")
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := range 100 {
				ctx, root := tr.Start(context.Background(), fmt.Sprintf("r%d-%d", w, i))
				_, c := tr.Start(ctx, "c")
				c.End()
				root.End()
			}
		})
	}
	wg.Wait()
	// The slots are free again: a new root starts live.
	waitFor(t, 10*time.Second, "the live slots freed", func() bool { return e.exp.Stats().LiveRuns == 0 })
	_, probe := tr.Start(context.Background(), "probe")
	waitFor(t, 30*time.Second, "the probe's run started live", func() bool {
		for _, sp := range e.srv.AllSpans() {
			if deref(sp.Name) == "probe" && sp.EndTime == nil {
				return true // created at its start, still open
			}
		}
		return false
	})
	probe.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := e.exp.Stats()
	if st.LiveRuns != 0 || st.BufferedSpans != 0 || st.InFlightSpans != 0 {
		t.Errorf("after Shutdown: %+v", st)
	}
	if st.RunsStarted != st.RunsEnded {
		t.Errorf("runs started %d, ended %d", st.RunsStarted, st.RunsEnded)
	}
	everyRunEndedOnce(t, e)
	e.noRejections()
	t.Logf("%d runs, %d ended from the live copy", len(e.srv.Runs()), st.Altered[reasonLiveFallback])
}

// 2. A late span joins its run however many traces finish in between
// (remembering is bounded by time and bytes, not by a count of traces); a
// late span of a trace already forgotten starts a run of its own, which
// ends too.
func TestLifecycleLateSpanAfterManyTraces(t *testing.T) {
	e := newEnv(t, nil, WithConcurrency(64))
	tr := newTracer()
	ctx, root := tr.Start(context.Background(), "root")
	_, late := tr.Start(ctx, "late")
	root.End()
	e.export(tr.pick(t, "root")...)
	// 4500 other traces: more than the 4096 the exporter used to keep.
	for i := range 4500 {
		_, r := tr.Start(context.Background(), "other")
		r.End()
		if i%500 == 499 {
			e.export(tr.rec.Ended()[len(tr.rec.Ended())-500:]...)
		}
	}
	late.End()
	e.export(tr.pick(t, "late")...)
	var rootRun string
	for _, r := range e.srv.Runs() {
		if m, _ := r.Metadata["otel"].(map[string]any); m["name"] == "root" {
			rootRun = r.ID
		}
	}
	if got := spanParents(t, e.srv, rootRun); len(got) != 2 || got["late"] != "root" {
		t.Errorf("root's run spans %v, want the late span under the root", got)
	}
	if n := len(e.srv.Runs()); n != 4501 {
		t.Errorf("%d runs, want 4501", n)
	}
	if st := e.exp.Stats(); st.RememberedTraces != 4501 || st.RememberedBytes > 4501*2048 {
		t.Errorf("remembered %d traces in %d bytes", st.RememberedTraces, st.RememberedBytes)
	}
	everyRunEndedOnce(t, e)
}

func TestLifecycleLateSpanOfAForgottenTrace(t *testing.T) {
	e := newEnv(t, nil, WithLateSpanWindow(50*time.Millisecond), WithRootWait(50*time.Millisecond))
	tr := newTracer()
	ctx, root := tr.Start(context.Background(), "root")
	_, late := tr.Start(ctx, "late")
	root.End()
	e.export(tr.pick(t, "root")...)
	waitFor(t, 5*time.Second, "the trace forgotten", func() bool { return e.exp.Stats().RememberedTraces == 0 })
	late.End()
	e.export(tr.pick(t, "late")...)
	// Its root is forgotten: the late span waits the root wait, goes as a
	// run of its own, and that run ends when its trace is forgotten.
	waitFor(t, 5*time.Second, "the late span's run ended", func() bool {
		runs := e.srv.Runs()
		return len(runs) == 2 && runs[0].Status != "running" && runs[1].Status != "running"
	})
	for _, r := range e.srv.Runs() {
		if m, _ := r.Metadata["otel"].(map[string]any); m == nil {
			if r.Status != "failed" || deref(r.Message) != reasonRootNeverCame {
				t.Errorf("the late span's run: %s %q, want failed: %s", r.Status, deref(r.Message), reasonRootNeverCame)
			}
		}
	}
	everyRunEndedOnce(t, e)
	e.noRejections()
}

// 4. A trace that enters the service twice (two local roots under remote
// parents), children before their roots, with and without live runs: each
// root's children land in its own run; two runs, both ended once.
func TestLifecycleTraceEntersTwice(t *testing.T) {
	for _, live := range []bool{false, true} {
		t.Run(fmt.Sprintf("live=%v", live), func(t *testing.T) {
			e := newEnv(t, nil, WithRootWait(time.Hour))
			var tp *sdktrace.TracerProvider
			var exported []sdktrace.ReadOnlySpan
			var mu sync.Mutex
			collect := collectProcessor{fn: func(s sdktrace.ReadOnlySpan) {
				mu.Lock()
				exported = append(exported, s)
				mu.Unlock()
			}}
			opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(testResource), sdktrace.WithSpanProcessor(collect)}
			if live {
				opts = append([]sdktrace.TracerProviderOption{sdktrace.WithSpanProcessor(e.exp.LiveProcessor())}, opts...)
			}
			tp = sdktrace.NewTracerProvider(opts...)
			tr := tp.Tracer("t")
			tid := trace.TraceID{9, 9, 9}
			remote := func(n byte) context.Context {
				return trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
					TraceID: tid, SpanID: trace.SpanID{n}, Remote: true, TraceFlags: trace.FlagsSampled}))
			}
			c1, r1 := tr.Start(remote(1), "first entry")
			c2, r2 := tr.Start(remote(2), "second entry")
			_, k1 := tr.Start(c1, "work of the first")
			_, k2 := tr.Start(c2, "work of the second")
			k2.End()
			k1.End()
			r1.End()
			byName := func(n string) sdktrace.ReadOnlySpan {
				mu.Lock()
				defer mu.Unlock()
				for _, s := range exported {
					if s.Name() == n {
						return s
					}
				}
				t.Fatalf("no span %s", n)
				return nil
			}
			// The second root's child first, then the first root with its
			// child, then the second root.
			e.export(byName("work of the second"))
			e.export(byName("work of the first"), byName("first entry"))
			r2.End()
			e.export(byName("second entry"))
			e.shutdown()
			runs := e.srv.Runs()
			if len(runs) != 2 {
				t.Fatalf("%d runs, want 2", len(runs))
			}
			for _, r := range runs {
				got := spanParents(t, e.srv, r.ID)
				name := ""
				for n, p := range got {
					if p == "" {
						name = n
					}
				}
				want := map[string]string{"first entry": "work of the first", "second entry": "work of the second"}[name]
				if len(got) != 2 || got[want] != name {
					t.Errorf("run of %q: spans %v, want %q under it", name, got, want)
				}
			}
			everyRunEndedOnce(t, e)
			e.noRejections()
		})
	}
}

// collectProcessor hands ended spans to fn.
type collectProcessor struct{ fn func(sdktrace.ReadOnlySpan) }

func (collectProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (p collectProcessor) OnEnd(s sdktrace.ReadOnlySpan)                 { p.fn(s) }
func (collectProcessor) Shutdown(context.Context) error                  { return nil }
func (collectProcessor) ForceFlush(context.Context) error                { return nil }

// 5. A span that ends after its root does not move the run's end on Ezop:
// the run is patched once, when its root ends.
func TestLifecycleLateSpanKeepsTheRunsEnd(t *testing.T) {
	e := newEnv(t, nil)
	tr := newTracer()
	ctx, root := tr.Start(context.Background(), "root")
	_, late := tr.Start(ctx, "late")
	root.End()
	e.export(tr.pick(t, "root")...)
	before := oneRun(t, e.srv)
	time.Sleep(300 * time.Millisecond)
	late.End()
	e.export(tr.pick(t, "late")...)
	after := oneRun(t, e.srv)
	if deref(after.EndTime) != deref(before.EndTime) {
		t.Errorf("run end moved from %s to %s by a late span", deref(before.EndTime), deref(after.EndTime))
	}
	if got := spanParents(t, e.srv, after.ID); got["late"] != "root" {
		t.Errorf("spans %v", got)
	}
	everyRunEndedOnce(t, e)
}

// 6. Remembered traces keep ids, not payloads: a root with a 200 KiB
// prompt costs the memory of its ids once its run is sent.
func TestLifecycleRememberedTracesAreSmall(t *testing.T) {
	e := newEnv(t, nil, WithCaptureContent(true), WithMaxValueBytes(256<<10))
	tr := newTracer()
	big := strings.Repeat("p", 200<<10)
	for range 5 {
		ctx, root := tr.Start(context.Background(), "root", trace.WithAttributes(attribute.String("gen_ai.prompt", big)))
		_, c := tr.Start(ctx, "c")
		c.End()
		root.End()
	}
	e.export(tr.rec.Ended()...)
	st := e.exp.Stats()
	if st.RememberedTraces != 5 {
		t.Fatalf("remembered %d traces", st.RememberedTraces)
	}
	if per := st.RememberedBytes / st.RememberedTraces; per > 4096 {
		t.Errorf("%d bytes per remembered trace, want ids only (< 4 KiB, not the 200 KiB prompt)", per)
	}
}

// 6b. The agent cache is bounded: a sender naming ever new agents (any
// sender of a Collector can) keeps at most the bound registered in memory.
func TestLifecycleAgentCacheBounded(t *testing.T) {
	e := newEnv(t, nil, maxAgentsOption(4))
	for i := range 12 {
		tr := newTracerWith(fmt.Sprintf("agent-%d", i))
		_, r := tr.Start(context.Background(), "root")
		r.End()
		e.export(tr.rec.Ended()...)
	}
	e.exp.agents.mu.Lock()
	n, l := len(e.exp.agents.m), e.exp.agents.lru.Len()
	e.exp.agents.mu.Unlock()
	if n != 4 || l != 4 {
		t.Errorf("agent cache holds %d (%d in its list), want the bound 4", n, l)
	}
	if got := len(e.srv.Agents()); got != 12 {
		t.Errorf("%d agents registered, want 12", got)
	}
}

// maxAgentsOption sets the agent cache's bound (not an option users set).
func maxAgentsOption(n int) Option {
	return optionFunc(func(c config) config {
		c.maxAgents = n
		return c
	})
}

func newTracerWith(agent string) *tracer {
	tr := newTracer()
	tr.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tr.rec), sdktrace.WithResource(resource.NewSchemaless(
		semconv.AgentName(agent), semconv.AgentOwner("test-team"))))
	tr.Tracer = tr.tp.Tracer("test")
	return tr
}

// 8. No user callback runs under the exporter's lock: a redaction hook
// that blocks one run holds up neither other runs nor live starts, and a
// hook that calls Stats does not deadlock.
func TestLifecycleSlowRedactionHook(t *testing.T) {
	release := make(chan struct{})
	var exp atomic.Pointer[Exporter]
	hook := func(key string, v any) (any, bool) {
		if s, ok := v.(string); ok && s == "slow" {
			<-release
		}
		_ = exp.Load().Stats() // may call back into the exporter
		return v, true
	}
	e := newEnv(t, nil, WithRedaction(hook))
	exp.Store(e.exp)
	tp := liveTP(e)
	tr := tp.Tracer("t")

	// Run A's translation blocks in the hook.
	ctxA, a := tr.Start(context.Background(), "slow run", trace.WithAttributes(attribute.String("k", "slow")))
	_, ac := tr.Start(ctxA, "a child")
	ac.End()
	a.End()
	slowDone := make(chan struct{})
	go func() { defer close(slowDone); _ = tp.ForceFlush(context.Background()) }()

	// Meanwhile run B starts live and completes.
	_, b := tr.Start(context.Background(), "fast run")
	waitFor(t, 5*time.Second, "run B started live while A's hook blocks", func() bool {
		for _, sp := range e.srv.AllSpans() {
			if deref(sp.Name) == "fast run" {
				return true
			}
		}
		return false
	})
	b.End()
	tr2 := newTracer()
	tr2.tree("other", 1, 2)
	done := make(chan error, 1)
	go func() { done <- e.exp.ExportSpans(context.Background(), tr2.rec.Ended()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an export waited for another run's redaction hook")
	}
	close(release)
	<-slowDone
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(e.srv.Runs()); n != 3 {
		t.Errorf("%d runs, want 3", n)
	}
	e.noRejections()
}

// 9. A hook that drops every value leaves no value in any request: not the
// run message, not a status description, not an exception's message.
func TestLifecycleRedactionDropsEverything(t *testing.T) {
	const secret = "4111-1111-1111-1111"
	tp := &transport{keepBodies: true}
	e := newEnv(t, tp, WithCaptureContent(true), WithRedaction(func(string, any) (any, bool) { return nil, false }))
	tr := newTracer()
	ctx, root := tr.Start(context.Background(), "root", trace.WithAttributes(
		semconv.RunMessage("charged card "+secret), attribute.String("app.card", secret)))
	_, c := tr.Start(ctx, "charge", trace.WithAttributes(attribute.String("gen_ai.operation.name", "execute_tool"),
		attribute.String("gen_ai.tool.name", "charge"), attribute.String("gen_ai.tool.call.arguments", secret)))
	c.RecordError(fmt.Errorf("card %s declined", secret))
	c.SetStatus(codes.Error, "card "+secret+" declined")
	c.AddEvent("note", trace.WithAttributes(attribute.String("card", secret)))
	c.End()
	root.SetStatus(codes.Error, "payment for "+secret+" failed")
	root.End()
	e.export(tr.rec.Ended()...)
	e.noRejections()
	if len(e.srv.Runs()) != 1 || e.srv.Runs()[0].Status != "failed" {
		t.Fatalf("runs %+v", e.srv.Runs())
	}
	for _, b := range tp.sent() {
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("the redacted value was sent: %s", b)
		}
	}
	if n := len(tp.sent()); n < 6 {
		t.Errorf("only %d requests: the run was not sent", n)
	}
	if n := e.srv.RequestCount(ezoptest.EndpointEndRun); n != 1 {
		t.Errorf("%d run ends", n)
	}
}
