package reliability_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace"

	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/internal/reliability"
)

// deadlineSlack is how late past its context's deadline a ForceFlush or
// Shutdown may return: scheduling under -race on 2 cores, and the
// exporter's own 100 ms grace for requests to end after cancellation.
const deadlineSlack = 250 * time.Millisecond

// Scenario 4: a slow server (200 ms per request) with many traces in
// flight. The BatchSpanProcessor gives up on each export after 200 ms, so
// it keeps handing over new batches while the exporter is still sending:
// the exporter's span limit must hold, and ForceFlush and Shutdown must
// return by their deadlines.
func TestSlowServer(t *testing.T) {
	const (
		latency  = 200 * time.Millisecond
		maxSpans = 400
	)
	h := newHarness(t, setup{
		exp: []exporter.Option{exporter.WithMaxBufferedSpans(maxSpans), exporter.WithRetry(fastRetry)},
		bsp: []trace.BatchSpanProcessorOption{trace.WithExportTimeout(200 * time.Millisecond)},
	})
	h.srv.SetLatency(latency)
	smp := startSampler(h.exp, 10*time.Millisecond)
	res := h.run(reliability.Workload{Traces: 150, Workers: 8, Pace: time.Millisecond, Seed: 5, FailEvery: 5})
	h.waitHandedOver(30 * time.Second)

	// ForceFlush of the provider, then of the exporter (which also sends
	// the spans waiting for their root): each returns by its deadline.
	for _, c := range []struct {
		name  string
		d     time.Duration
		flush func(context.Context) error
	}{
		{"TracerProvider.ForceFlush", 300 * time.Millisecond, h.tp.ForceFlush},
		{"Exporter.ForceFlush", 300 * time.Millisecond, h.exp.ForceFlush},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), c.d)
		start := time.Now()
		err := c.flush(ctx)
		took := time.Since(start)
		cancel()
		t.Logf("%s with a %s deadline: returned after %s: %v", c.name, c.d, took.Round(time.Millisecond), err)
		if took > c.d+deadlineSlack {
			t.Errorf("%s returned %s after its %s deadline", c.name, took-c.d, c.d)
		}
		// The exporter's own flush waits for delivery, which the slow
		// server makes longer than the deadline. (The provider's returns
		// early: with a 200 ms export timeout it has handed everything
		// over already.)
		if c.name == "Exporter.ForceFlush" && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: %v, want the deadline (the server is slower than that)", c.name, err)
		}
	}
	mid := h.exp.Stats()

	// Shutdown: the provider's and the exporter's own return by the
	// deadline; what was not delivered by then is counted.
	const shutdownIn = time.Second
	ctx, cancel := context.WithTimeout(context.Background(), shutdownIn)
	defer cancel()
	start := time.Now()
	err := h.tp.Shutdown(ctx)
	took := time.Since(start)
	h.down.Store(true)
	<-h.obs.shut
	expTook := h.obs.shutAt.Sub(start)
	smp.finish()
	t.Logf("TracerProvider.Shutdown with a %s deadline: returned after %s: %v", shutdownIn, took.Round(time.Millisecond), err)
	t.Logf("Exporter.Shutdown returned after %s: %v", expTook.Round(time.Millisecond), h.obs.shutErr)
	if took > shutdownIn+deadlineSlack || expTook > shutdownIn+deadlineSlack {
		t.Errorf("Shutdown took %s (provider) / %s (exporter) with a %s deadline", took, expTook, shutdownIn)
	}
	if h.obs.shutErr == nil || !strings.Contains(h.obs.shutErr.Error(), "not delivered") {
		t.Errorf("exporter Shutdown: %v, want what was not delivered", h.obs.shutErr)
	}

	st := h.exp.Stats()
	t.Logf("workload: %d traces, %d spans in %s", res.Traces, res.Spans, res.Elapsed.Round(time.Millisecond))
	t.Logf("stats before Shutdown: %s", statsLine(mid))
	t.Logf("stats after Shutdown: %s", statsLine(st))
	t.Logf("memory: %s", smp)

	// Bounded: never more spans held than the limit (spans waiting for
	// their root and spans being sent count alike), and the heap stays
	// small (generous: the race detector's allocations count too).
	if smp.maxHeld > maxSpans {
		t.Errorf("the exporter held %d spans, limit %d", smp.maxHeld, maxSpans)
	}
	if grow := int64(smp.maxHeap) - int64(smp.baseHeap); grow > 64<<20 {
		t.Errorf("heap grew by %d MiB", grow>>20)
	}
	// Conservation: every span handed over is sent or dropped with a
	// reason; nothing is left in flight after Shutdown.
	handed := h.obs.spans.Load() // roots are spans too: the run's top span
	if st.InFlightSpans != 0 || st.InFlightEvents != 0 || st.BufferedSpans != 0 {
		t.Errorf("after Shutdown: %d spans and %d events in flight, %d buffered", st.InFlightSpans, st.InFlightEvents, st.BufferedSpans)
	}
	// A span whose end time was lost is stored (and counted sent) and also
	// counted under "span: end time…".
	var byReason, endTime int64
	for reason, n := range st.Dropped {
		if strings.HasPrefix(reason, "span: ") {
			byReason += n
		}
		if strings.HasPrefix(reason, "span: end time") {
			endTime += n
		}
	}
	if st.SpansSent+st.SpansDropped-endTime != handed {
		t.Errorf("spans: %d sent + %d dropped - %d end times lost != %d handed over", st.SpansSent, st.SpansDropped, endTime, handed)
	}
	if byReason != st.SpansDropped {
		t.Errorf("span drops by reason add up to %d, total %d: %v", byReason, st.SpansDropped, st.Dropped)
	}
	if st.Dropped["span: buffer full: max buffered spans"] == 0 {
		t.Errorf("the flood never met the span limit: %v", st.Dropped)
	}
	// What the emulator stored is what the exporter counts as sent; a
	// request the server finished just as Shutdown cancelled it may be
	// stored yet counted as dropped (at most one per worker).
	rep := h.compare(h.srv, nil)
	t.Logf("stored: %s", rep)
	rep.clean(t)
	if d := int64(rep.Spans) - st.SpansSent; d < 0 || d > exporter.DefaultConcurrency {
		t.Errorf("emulator stored %d spans, the exporter counts %d sent", rep.Spans, st.SpansSent)
	}
	if d := int64(rep.Unclosed) - endTime; d < 0 || d > exporter.DefaultConcurrency {
		t.Errorf("emulator holds %d spans without end time, the exporter counts %d end times lost", rep.Unclosed, endTime)
	}
}
