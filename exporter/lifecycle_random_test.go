package exporter

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/bridge"
)

// TestLifecycleRandomized drives the exporter through random interleavings
// of what a program and its batching processor do: roots starting (under
// the live processor or not), children starting and ending in any order
// (children outliving their roots), a trace entering the process twice,
// batches handed over in random order, spans the batcher drops (never
// handed over), spans handed over twice, root waits and late-span windows
// passing, ForceFlush, and Shutdown at a random point with work still
// open. Properties: every run that started ends, exactly once, and none is
// left running; the server refused nothing (so nothing was stored twice);
// every span handed over before Shutdown is stored or counted as dropped,
// and only live roots are stored without being handed over; memory stays
// within its bounds throughout; nothing is left in flight.
//
// EZOP_LIFECYCLE_SEEDS sets how many seeds run (default 12).
func TestLifecycleRandomized(t *testing.T) {
	seeds := 12
	if n, err := strconv.Atoi(os.Getenv("EZOP_LIFECYCLE_SEEDS")); err == nil && n > 0 {
		seeds = n
	}
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			randomLifecycle(t, uint64(seed))
		})
	}
}

func randomLifecycle(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 77))
	live := rng.IntN(2) == 0
	// Traces are remembered for longer than the test runs: a span that
	// arrives after its trace was forgotten cannot be told from a new one
	// (it starts a run of its own; TestLifecycleLateSpanOfAForgottenTrace),
	// and spans here may be held back for any time.
	bounds := struct{ traces, spans, remembered, liveRuns int }{
		traces: 2 + rng.IntN(8), spans: 40 + rng.IntN(80), remembered: 1 << 20, liveRuns: 2 + rng.IntN(6),
	}
	opts := []Option{
		WithRootWait(time.Duration(10+rng.IntN(60)) * time.Millisecond),
		WithLateSpanWindow(time.Minute),
		WithMaxTraces(bounds.traces), WithMaxBufferedSpans(bounds.spans),
		WithMaxRememberedBytes(bounds.remembered), WithMaxLiveRuns(bounds.liveRuns),
		WithConcurrency(4),
	}
	if rng.IntN(3) == 0 {
		opts = append(opts, WithRemoteParentLinking(true), WithRemoteParentWait(time.Duration(5+rng.IntN(30))*time.Millisecond))
	}
	tp := &transport{}
	e := newEnv(t, tp, opts...)

	var mu sync.Mutex
	var ended []sdktrace.ReadOnlySpan
	procs := []sdktrace.TracerProviderOption{sdktrace.WithResource(testResource),
		sdktrace.WithSpanProcessor(collectProcessor{fn: func(s sdktrace.ReadOnlySpan) {
			mu.Lock()
			ended = append(ended, s)
			mu.Unlock()
		}})}
	if live {
		procs = append([]sdktrace.TracerProviderOption{sdktrace.WithSpanProcessor(e.exp.LiveProcessor())}, procs...)
	}
	prov := sdktrace.NewTracerProvider(procs...)
	tr := prov.Tracer("random")

	type open struct {
		ctx  context.Context
		span trace.Span
		root bool
	}
	var opened []open
	liveRoots := map[string]bool{} // Ezop ids of roots started under the live processor
	handed := map[string]bool{}    // Ezop ids handed over before Shutdown
	var pendingExport []sdktrace.ReadOnlySpan
	shutdownAt := 40 + rng.IntN(160)
	shut := false
	checkBounds := func() {
		st := e.exp.Stats()
		if st.BufferedTraces > bounds.traces || st.BufferedSpans+st.InFlightSpans > bounds.spans+8 ||
			st.RememberedBytes > bounds.remembered || st.LiveRuns > bounds.liveRuns {
			t.Errorf("bounds exceeded: %+v (bounds %+v)", st, bounds)
		}
	}
	export := func(batch []sdktrace.ReadOnlySpan) {
		if len(batch) == 0 {
			return
		}
		if !shut {
			for _, s := range batch {
				handed[bridge.SpanUUID(s.SpanContext().TraceID(), s.SpanContext().SpanID())] = true
			}
		}
		err := e.exp.ExportSpans(context.Background(), batch)
		if shut != errors.Is(err, ErrShutdown) {
			t.Fatalf("ExportSpans after shutdown=%v: %v", shut, err)
		}
	}
	for step := 0; step < 220; step++ {
		switch k := rng.IntN(100); {
		case k < 18 || len(opened) == 0: // a new root, sometimes a second entry of a trace
			ctx := context.Background()
			if rng.IntN(3) == 0 {
				tid := trace.TraceID{byte(seed), byte(rng.IntN(4)) + 1}
				ctx = trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
					TraceID: tid, SpanID: trace.SpanID{byte(rng.IntN(3)) + 1}, Remote: true, TraceFlags: trace.FlagsSampled}))
			}
			ctx, s := tr.Start(ctx, fmt.Sprintf("root %d", step))
			if live && !shut {
				sc := s.SpanContext()
				liveRoots[bridge.SpanUUID(sc.TraceID(), sc.SpanID())] = true
			}
			opened = append(opened, open{ctx, s, true})
		case k < 45: // a child of any open span
			p := opened[rng.IntN(len(opened))]
			ctx, s := tr.Start(p.ctx, fmt.Sprintf("span %d", step))
			if rng.IntN(4) == 0 {
				s.AddEvent("progress")
			}
			opened = append(opened, open{ctx, s, false})
		case k < 70: // end a span, any of them (children may outlive roots)
			i := rng.IntN(len(opened))
			if rng.IntN(8) == 0 {
				opened[i].span.SetStatus(codes.Error, "failed")
			}
			opened[i].span.End()
			opened = append(opened[:i], opened[i+1:]...)
		case k < 88: // the batcher hands over some ended spans, in any order
			mu.Lock()
			pendingExport = append(pendingExport, ended...)
			ended = nil
			mu.Unlock()
			rng.Shuffle(len(pendingExport), func(i, j int) { pendingExport[i], pendingExport[j] = pendingExport[j], pendingExport[i] })
			n := rng.IntN(len(pendingExport) + 1)
			var batch []sdktrace.ReadOnlySpan
			for _, s := range pendingExport[:n] {
				switch rng.IntN(10) {
				case 0: // dropped by the batcher: never handed over
				case 1: // handed over twice
					batch = append(batch, s, s)
				default:
					batch = append(batch, s)
				}
			}
			pendingExport = append(pendingExport[:0:0], pendingExport[n:]...)
			export(batch)
		case k < 92:
			if err := e.exp.ForceFlush(context.Background()); err != nil && !shut {
				t.Fatal(err)
			}
		default: // time passes: waits and windows run out
			time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
		}
		if !shut {
			checkBounds()
		}
		if step == shutdownAt {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := e.exp.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			cancel()
			shut = true
		}
	}
	if !shut {
		if err := e.exp.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}

	everyRunEndedOnce(t, e)
	e.noRejections()
	st := e.exp.Stats()
	if st.InFlightSpans != 0 || st.InFlightEvents != 0 || st.BufferedSpans != 0 || st.LiveRuns != 0 {
		t.Errorf("after Shutdown: %+v", st)
	}
	if st.RunsStarted != st.RunsEnded || int(st.RunsStarted) != len(e.srv.Runs()) {
		t.Errorf("runs started %d, ended %d, on the server %d", st.RunsStarted, st.RunsEnded, len(e.srv.Runs()))
	}
	// Conservation of spans handed over before Shutdown.
	stored := map[string]bool{}
	for _, sp := range e.srv.AllSpans() {
		stored[sp.ID] = true
		if !handed[sp.ID] && !liveRoots[sp.ID] {
			t.Errorf("span %s (%s) stored, never handed over nor started live", sp.ID, deref(sp.Name))
		}
	}
	missing := 0
	for id := range handed {
		if !stored[id] {
			missing++
		}
	}
	if dropped := int(st.SpansDropped - st.Dropped["span: "+reasonShutdown]); missing != dropped {
		t.Errorf("%d spans handed over and not stored, %d counted as dropped (%v)", missing, dropped, st.Dropped)
	}
	t.Logf("live=%v: %d runs, %d spans stored, %d handed over; altered %v", live, len(e.srv.Runs()), len(stored), len(handed), st.Altered)
}
