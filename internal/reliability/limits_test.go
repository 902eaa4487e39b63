package reliability_test

import (
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/internal/reliability"
)

// Scenario 7: roots that never end, then a flood of traces beyond the
// limits. Phase A (one worker, so the numbers are exact): 40 traces whose
// roots never end, 15 spans each, against at most 30 waiting traces and
// 10 waiting spans per trace: every trace keeps 10 spans and loses 5 to
// the per-trace limit; when trace 31 comes, the oldest waiting trace is
// sent without its root to make room (a run that stays running), and so
// on: nothing is lost to the trace limit. Phase B: a concurrent flood of
// complete traces while the slots are full: the waiting traces are sent
// to make room, and beyond the span limit spans are dropped (counted).
// Every trace that was sent without its root is one run of its own. Phase
// C then arrives complete. Memory stays bounded throughout.
func TestOpenRootsAndFlood(t *testing.T) {
	const (
		maxTraces   = 30
		perTrace    = 10
		maxBuffered = 600
		rootWait    = 8 * time.Second
	)
	h := newHarness(t, setup{exp: []exporter.Option{
		exporter.WithMaxTraces(maxTraces),
		exporter.WithMaxSpansPerTrace(perTrace),
		exporter.WithMaxBufferedSpans(maxBuffered),
		exporter.WithRootWait(rootWait),
		exporter.WithRetry(fastRetry),
	}})
	smp := startSampler(h.exp, 5*time.Millisecond)
	start := time.Now()

	resA := h.run(reliability.Workload{Traces: 40, Workers: 1, Spans: 15, Seed: 8, OpenRoots: true})
	h.waitHandedOver(10 * time.Second)
	phaseA := h.traceIDs()
	stA := h.exp.Stats()
	t.Logf("phase A: %d traces with open roots, %d spans: %s", resA.Traces, resA.Spans, statsLine(stA))
	if n := stA.Dropped["span: buffer full: max spans per trace"]; n != 40*(15-perTrace) {
		t.Errorf("phase A dropped %d for the per-trace limit, want %d", n, 40*(15-perTrace))
	}
	if n := stA.Altered["run: spans sent before their root span: max traces waiting (WithMaxTraces)"]; n != (40-maxTraces)*perTrace {
		t.Errorf("phase A sent %d spans early to make room, want %d", n, (40-maxTraces)*perTrace)
	}
	if stA.BufferedTraces != maxTraces || stA.BufferedSpans != maxTraces*perTrace || len(stA.Dropped) != 1 {
		t.Errorf("phase A: buffered %d traces / %d spans, dropped %v", stA.BufferedTraces, stA.BufferedSpans, stA.Dropped)
	}

	// A slow server while the flood is handed over keeps its spans being
	// sent, so that the buffer limit is reached however fast this machine
	// is; the server is fast again for the rest.
	h.srv.SetLatency(10 * time.Millisecond)
	resB := h.run(reliability.Workload{Traces: 40, Workers: 8, Seed: 8, First: 100, FailEvery: 5})
	h.waitHandedOver(10 * time.Second)
	h.srv.SetLatency(0)
	h.flush(30 * time.Second)
	phaseAB := h.traceIDs()
	stB := h.exp.Stats()
	t.Logf("phase B: a flood of %d complete traces, %d spans, in %s: %s", resB.Traces, resB.Spans, resB.Elapsed.Round(time.Millisecond), statsLine(stB))
	if time.Since(start) > rootWait {
		t.Fatalf("phases A and B took %s, more than the root wait: the test's timing does not hold", time.Since(start))
	}

	// The root wait passes: the open traces are sent as running runs.
	deadline := time.Now().Add(rootWait + 10*time.Second)
	for st := h.exp.Stats(); st.BufferedTraces > 0 || st.InFlightSpans > 0; st = h.exp.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("open traces still waiting: %s", statsLine(st))
		}
		time.Sleep(20 * time.Millisecond)
	}
	resC := h.run(reliability.Workload{Traces: 20, Workers: 4, Seed: 8, First: 200})
	h.flush(30 * time.Second)
	smp.finish()
	st := h.exp.Stats()
	t.Logf("phase C: %d traces: %s", resC.Traces, statsLine(st))
	t.Logf("memory: %s", smp)

	// Bounded throughout.
	if smp.maxBufTraces > maxTraces || smp.maxBufSpan > maxTraces*perTrace || smp.maxHeld > maxBuffered {
		t.Errorf("limits exceeded: %s", smp)
	}
	if grow := int64(smp.maxHeap) - int64(smp.baseHeap); grow > 64<<20 {
		t.Errorf("heap grew by %d MiB", grow>>20)
	}

	// Phase A: 40 running runs of 10 spans each, one per trace; the spans
	// dropped are the ones counted.
	repA := h.compare(h.srv, phaseA)
	t.Logf("stored (phase A): %s", repA)
	repA.clean(t)
	if repA.Runs != 40 || repA.Spans != 40*perTrace || repA.MissingSpans != 40*(15-perTrace) {
		t.Errorf("phase A stored %d runs and %d spans (missing %d), want %d, %d (missing %d)",
			repA.Runs, repA.Spans, repA.MissingSpans, 40, 40*perTrace, 40*(15-perTrace))
	}
	// Phase B: what is not stored is what was counted, by reason.
	repB := h.compare(h.srv, diff(phaseAB, phaseA))
	t.Logf("stored (phase B): %s", repB)
	repB.clean(t)
	lostB := stB.SpansDropped - stA.SpansDropped
	// A trace the span limit took whole (its root included) has no run;
	// each such root is counted as a run end lost.
	lostEnds := stB.Dropped["run: end: buffer full: max buffered spans"]
	if int64(repB.MissingSpans) != lostB || repB.EmptyRuns != 0 || repB.Unclosed != 0 || int64(repB.MissingRuns) > lostEnds || repB.Runs+repB.MissingRuns != repB.WantRuns {
		t.Errorf("phase B: %d spans missing, %d dropped (%d empty runs, %d unclosed, %d runs missing, %d ends lost)", repB.MissingSpans, lostB, repB.EmptyRuns, repB.Unclosed, repB.MissingRuns, lostEnds)
	}
	for reason, n := range stB.Dropped {
		if !strings.HasPrefix(reason, "span: buffer full: ") && !strings.HasPrefix(reason, "event: ") && reason != "run: end: buffer full: max buffered spans" {
			t.Errorf("phase B dropped %d for %q", n, reason)
		}
	}
	if lostB == 0 {
		t.Errorf("the flood lost nothing: the limits were not reached")
	}
	// Phase C: complete.
	repC := h.compare(h.srv, diff(h.traceIDs(), phaseAB))
	t.Logf("stored (phase C): %s", repC)
	repC.complete(t)
	if st.SpansDropped != stB.SpansDropped {
		t.Errorf("phase C dropped %d spans", st.SpansDropped-stB.SpansDropped)
	}
	h.noRejections(h.srv)
}

// diff returns the trace ids in a and not in b.
func diff(a, b map[trace.TraceID]bool) map[trace.TraceID]bool {
	out := map[trace.TraceID]bool{}
	for id := range a {
		if !b[id] {
			out[id] = true
		}
	}
	return out
}
