package reliability_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/ezoptest"
	"github.com/ezopotel/ezop-otel-go/internal/reliability"
)

// Scenario 2a: every 10th request answers 429 with Retry-After: 1 for a
// while. The exporter waits as asked, retries, and delivers everything
// exactly once; each 429 costs exactly one retry.
func TestRateLimitedWithRetryAfter(t *testing.T) {
	rec := newRecorder()
	h := newHarness(t, setup{transport: rec})
	remove := h.srv.Inject(ezoptest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1", EveryNth: 10})
	res := h.run(reliability.Workload{Traces: 60, Workers: 4, Pace: 2 * time.Millisecond, Seed: 2, FailEvery: 5})
	time.AfterFunc(1500*time.Millisecond, remove)
	flushed := h.flush(60 * time.Second)

	rep := h.compare(h.srv, nil)
	t.Logf("workload: %d traces, %d spans; flushed in %s; stored: %s", res.Traces, res.Spans, flushed.Round(time.Millisecond), rep)
	rep.complete(t)
	h.noRejections(h.srv)

	st := h.exp.Stats()
	t.Logf("stats: %s", statsLine(st))
	if st.SpansDropped != 0 || st.EventsDropped != 0 {
		t.Errorf("dropped: %v", st.Dropped)
	}
	// Every 429 is retried once (the retry may meet another 429), and
	// nothing else failed.
	// The attempts of one operation share method, path and body, except
	// run creations (identical bodies for every run of the agent): those
	// are left out of the timing check.
	var n429, checked int
	waits := map[string]time.Time{} // operation → end of its 429
	var honoured, early int
	shortest := time.Hour
	for _, a := range rec.all() {
		if a.method == http.MethodPost && strings.HasSuffix(a.path, "/runs") {
			if a.status == http.StatusTooManyRequests {
				n429++
			}
			continue
		}
		if end, ok := waits[a.key()]; ok {
			delete(waits, a.key())
			checked++
			gap := a.start.Sub(end)
			shortest = min(shortest, gap)
			if gap >= time.Second-10*time.Millisecond {
				honoured++
			} else {
				early++
			}
		}
		if a.status == http.StatusTooManyRequests {
			n429++
			waits[a.key()] = a.end
		}
	}
	t.Logf("429 answers: %d; retries %d; of the %d retries checked, after ≥ 1s: %d, earlier: %d (shortest wait %s)", n429, st.RequestsRetried, checked, honoured, early, shortest.Round(time.Millisecond))
	if n429 == 0 || int64(n429) != st.RequestsRetried {
		t.Errorf("%d answers 429, %d retries: want one retry per 429", n429, st.RequestsRetried)
	}
	if checked == 0 || honoured != checked || early != 0 || len(waits) != 0 {
		t.Errorf("Retry-After not honoured: %d of %d retries waited 1s, %d came earlier, %d never came", honoured, checked, early, len(waits))
	}
	if total := totalRequests(h.srv); int64(total) != st.Requests+st.RequestsRetried {
		t.Errorf("emulator saw %d requests, the exporter made %d + %d retries", total, st.Requests, st.RequestsRetried)
	}
}

// Scenario 2b: the plan's monthly event quota runs out (429 without
// Retry-After, which waiting does not clear). The events beyond it are
// dropped with bounded effort and reported as rate limiting; runs and
// spans, which the quota does not cover, all arrive, and are not held
// back.
func TestEventQuotaWithoutRetryAfter(t *testing.T) {
	const quota = 300
	h := newHarness(t, setup{srv: []ezoptest.Option{ezoptest.WithEventQuota(quota)}})
	res := h.run(reliability.Workload{Traces: 40, Workers: 4, Pace: time.Millisecond, Seed: 3, FailEvery: 5})
	flushed := h.flush(60 * time.Second)
	// A late trace, once the quota is long spent: its spans arrive as
	// fast as the first ones did.
	late := reliability.Workload{Traces: 1, Seed: 3, First: 1000}
	lateStart := time.Now()
	late.Run(t.Context(), h.tr)
	lateFlush := h.flush(60 * time.Second)
	lateTotal := time.Since(lateStart)

	rep := h.compare(h.srv, nil)
	st := h.exp.Stats()
	t.Logf("workload: %d traces, %d spans; flushed in %s; late trace delivered in %s; stored: %s", res.Traces+1, res.Spans+10, flushed.Round(time.Millisecond), lateTotal.Round(time.Millisecond), rep)
	t.Logf("stats: %s", statsLine(st))
	rep.clean(t)
	if rep.MissingRuns != 0 || rep.MissingSpans != 0 || rep.OpenRuns != 0 || rep.Runs != rep.WantRuns || rep.Spans != rep.WantSpans {
		t.Errorf("runs or spans missing: %s", rep)
	}
	if rep.Events != quota || rep.MissingEvents != rep.WantEvents-quota {
		t.Errorf("events stored %d (want the quota, %d), missing %d (want %d)", rep.Events, quota, rep.MissingEvents, rep.WantEvents-quota)
	}
	over := int64(rep.WantEvents - quota)
	if st.EventsDropped != over || st.SpansDropped != 0 || st.EventsSent != quota {
		t.Errorf("stats: events sent %d dropped %d spans dropped %d; want %d, %d, 0", st.EventsSent, st.EventsDropped, st.SpansDropped, quota, over)
	}
	var reasons int64
	for reason, n := range st.Dropped {
		if !strings.HasPrefix(reason, "event: ") || !strings.Contains(reason, "rate limited") || !strings.Contains(reason, "Monthly event limit") {
			t.Errorf("drop reason %q (%d): want only the event quota", reason, n)
		}
		reasons += n
	}
	if reasons != over {
		t.Errorf("drops by reason add up to %d, want %d: %v", reasons, over, st.Dropped)
	}

	// A clear report: one notice that the quota is used up, and a
	// DropError per reason naming rate limiting (the handler is
	// rate-limited to once a minute per reason).
	var drops []*exporter.DropError
	var notices int
	for _, err := range h.reported() {
		var de *exporter.DropError
		switch {
		case errors.As(err, &de):
			drops = append(drops, de)
		case strings.Contains(err.Error(), "event quota is used up"):
			notices++
			t.Logf("reported: %v", err)
		}
	}
	if notices != 1 {
		t.Errorf("%d quota notices, want 1", notices)
	}
	if len(drops) != len(st.Dropped) {
		t.Errorf("%d drop reports for %d reasons: %v", len(drops), len(st.Dropped), drops)
	}
	for _, de := range drops {
		t.Logf("reported: %v", de)
		if !strings.Contains(de.Error(), "rate limited") || de.Count < 1 {
			t.Errorf("drop report %q does not name rate limiting", de)
		}
	}

	// Bounded effort: beyond the stored events, only the emits in flight
	// when the quota ran out reach the server (each with its quota
	// retries); the events after them are dropped without a request. All
	// the rejections are the quota's 429s.
	emits := h.srv.RequestCount(ezoptest.EndpointEmitEvent)
	rj := h.srv.Rejected()
	for _, r := range rj {
		if r.Endpoint != ezoptest.EndpointEmitEvent || r.Status != http.StatusTooManyRequests {
			t.Errorf("rejection other than the quota: %s", r)
		}
	}
	bound := exporter.DefaultConcurrency * (1 + 2) // MaxQuotaRetries: 2
	t.Logf("event requests: %d (%d stored + %d refused for %d events beyond the quota; bound %d)", emits, quota, len(rj), over, bound)
	if emits-quota != len(rj) {
		t.Errorf("%d event requests beyond the %d stored, %d rejections", emits-quota, quota, len(rj))
	}
	if len(rj) == 0 || len(rj) > bound {
		t.Errorf("%d refused event requests for %d events beyond the quota, want 1..%d", len(rj), over, bound)
	}
	// Not held back: the late trace takes about as long as a trace takes
	// without faults (generous bound for -race on 2 cores).
	if lateFlush > 2*time.Second {
		t.Errorf("a trace after the quota ran out took %s to deliver", lateFlush)
	}
}

// Part of scenario 2a, measured apart: one request of trace A waits out a
// Retry-After of 2 s; trace B ends 100 ms later and meets no fault. How
// long B takes to arrive shows whether A holds it back: ExportSpans
// returns once its batch's runs are delivered, and the BatchSpanProcessor
// exports one batch at a time, so B's batch waits for A's. The test bounds
// the wait (Retry-After + slack) and logs it.
func TestRetryAfterHeadOfLine(t *testing.T) {
	const ra = 2 * time.Second
	h := newHarness(t, setup{})
	// Register the agent first, so that the fault meets trace A's spans.
	h.run(reliability.Workload{Traces: 1, Seed: 12, First: 500})
	h.flush(10 * time.Second)
	h.srv.Inject(ezoptest.Fault{Endpoint: ezoptest.EndpointCreateSpan, Status: http.StatusTooManyRequests, RetryAfter: "2", Times: 1})

	start := time.Now()
	h.run(reliability.Workload{Traces: 1, Seed: 12})
	time.Sleep(100 * time.Millisecond)
	h.run(reliability.Workload{Traces: 1, Seed: 12, First: 1})
	bEnded := time.Now()
	// The roots of A and B: the two that started last.
	var roots []sdktrace.ReadOnlySpan
	for _, sp := range h.rec.Ended() {
		if !sp.Parent().IsValid() && sp.StartTime().After(start) {
			roots = append(roots, sp)
		}
	}
	if len(roots) != 2 {
		t.Fatalf("%d roots", len(roots))
	}
	if roots[1].StartTime().Before(roots[0].StartTime()) {
		roots[0], roots[1] = roots[1], roots[0]
	}
	ended := func(root sdktrace.ReadOnlySpan) bool {
		for _, r := range h.srv.Runs() {
			otelInfo, _ := r.Metadata["otel"].(map[string]any)
			if otelInfo["span_id"] == root.SpanContext().SpanID().String() {
				return r.Status != "running"
			}
		}
		return false
	}
	var arrivedA, arrivedB time.Duration
	deadline := time.Now().Add(ra + 10*time.Second)
	for arrivedA == 0 || arrivedB == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("traces not delivered: %s", statsLine(h.exp.Stats()))
		}
		if arrivedA == 0 && ended(roots[0]) {
			arrivedA = time.Since(start)
		}
		if arrivedB == 0 && ended(roots[1]) {
			arrivedB = time.Since(bEnded)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("trace B (no fault) fully stored %s after it ended; trace A (one 429, Retry-After %s) %s after it started", arrivedB.Round(time.Millisecond), ra, arrivedA.Round(time.Millisecond))
	if arrivedB > ra+time.Second {
		t.Errorf("trace B took %s, more than A's Retry-After plus 1s", arrivedB)
	}
	if arrivedB > ra/2 {
		t.Logf("finding: B was held back behind A's Retry-After (head-of-line blocking in the BatchSpanProcessor's export)")
	}
}
