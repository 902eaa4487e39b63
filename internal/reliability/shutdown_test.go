package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace"

	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/internal/reliability"
)

// Scenario 5: the server is down when the program shuts down. Traces of a
// first phase are delivered; then the server goes away and a second phase
// runs. Shutdown returns by its context's deadline, and the exporter's
// statistics say exactly what was not delivered (the second phase: its
// runs, spans and events) and why.
//
// The BatchSpanProcessor's export timeout is shortened to 300 ms: with the
// SDK's default (30 s) the processor, whose export blocks while the
// exporter retries, calls the exporter's Shutdown only after that timeout;
// the provider's Shutdown still returns by its deadline, but the final
// statistics would come 30 s later.
func TestServerDownAtShutdown(t *testing.T) {
	h := newHarness(t, setup{bsp: []trace.BatchSpanProcessorOption{trace.WithExportTimeout(300 * time.Millisecond)}})
	resA := h.run(reliability.Workload{Traces: 20, Workers: 4, Seed: 6, FailEvery: 4})
	h.deliver(30 * time.Second)
	phaseA := h.traceIDs()
	h.srv.Close()

	resB := h.run(reliability.Workload{Traces: 20, Workers: 4, Seed: 6, First: 100, FailEvery: 4})
	h.waitHandedOver(10 * time.Second)
	// The expectation of phase B: what the translation makes of it.
	wantB := h.compare(h.srv, nil)
	spansB := wantB.WantSpans - len(h.srv.AllSpans())
	eventsB := wantB.WantEvents - len(h.srv.AllEvents())
	// Everything of phase B is in the exporter's hands, in flight.
	deadline := time.Now().Add(5 * time.Second)
	for st := h.exp.Stats(); st.InFlightSpans != spansB; st = h.exp.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("in flight: %d spans, want %d", st.InFlightSpans, spansB)
		}
		time.Sleep(5 * time.Millisecond)
	}

	const shutdownIn = time.Second
	ctx, cancel := context.WithTimeout(context.Background(), shutdownIn)
	defer cancel()
	start := time.Now()
	err := h.tp.Shutdown(ctx)
	took := time.Since(start)
	h.down.Store(true)
	<-h.obs.shut
	expTook := h.obs.shutAt.Sub(start)
	t.Logf("phase A: %d traces delivered; phase B: %d traces (%d spans, %d events) with the server down", resA.Traces, resB.Traces, spansB, eventsB)
	t.Logf("TracerProvider.Shutdown (%s deadline) returned after %s: %v", shutdownIn, took.Round(time.Millisecond), err)
	t.Logf("Exporter.Shutdown returned after %s: %v", expTook.Round(time.Millisecond), h.obs.shutErr)
	if took > shutdownIn+deadlineSlack || expTook > shutdownIn+deadlineSlack {
		t.Errorf("Shutdown took %s (provider) / %s (exporter) with a %s deadline", took, expTook, shutdownIn)
	}
	want := fmt.Sprintf("%d spans and %d events not delivered", spansB, eventsB)
	if h.obs.shutErr == nil || !strings.Contains(h.obs.shutErr.Error(), want) || !errors.Is(h.obs.shutErr, context.DeadlineExceeded) {
		t.Errorf("exporter Shutdown: %v, want %q and the deadline", h.obs.shutErr, want)
	}

	st := h.exp.Stats()
	t.Logf("stats: %s", statsLine(st))
	if st.RunsStarted != int64(resA.Traces) || st.RunsEnded != int64(resA.Traces) {
		t.Errorf("runs started %d ended %d, want phase A's %d", st.RunsStarted, st.RunsEnded, resA.Traces)
	}
	if st.SpansDropped != int64(spansB) || st.EventsDropped != int64(eventsB) {
		t.Errorf("dropped %d spans and %d events, want phase B's %d and %d", st.SpansDropped, st.EventsDropped, spansB, eventsB)
	}
	wantReasons := map[string]int64{
		"span: shutdown deadline passed":  int64(spansB),
		"event: shutdown deadline passed": int64(eventsB),
		"run: shutdown deadline passed":   int64(resB.Traces),
	}
	if fmt.Sprint(st.Dropped) != fmt.Sprint(wantReasons) {
		t.Errorf("dropped by reason: %v\nwant %v", st.Dropped, wantReasons)
	}
	if st.InFlightSpans != 0 || st.InFlightEvents != 0 || st.InFlightRequests != 0 {
		t.Errorf("still in flight after Shutdown: %s", statsLine(st))
	}
	// The error handler heard of every drop (Shutdown reports what the
	// once-a-minute limit held back).
	reported := map[string]int64{}
	for _, err := range h.reported() {
		var de *exporter.DropError
		if errors.As(err, &de) {
			reported[de.Reason] += de.Count
		}
	}
	if fmt.Sprint(reported) != fmt.Sprint(wantReasons) {
		t.Errorf("reported drops: %v\nwant %v", reported, wantReasons)
	}

	// Phase A is on Ezop, complete; nothing of phase B.
	rep := h.compare(h.srv, phaseA)
	t.Logf("stored (phase A): %s", rep)
	rep.complete(t)
	h.noRejections(h.srv)
}
