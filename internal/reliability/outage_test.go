package reliability_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/ezoptest"
	"github.com/ezopotel/ezop-otel-go/internal/reliability"
)

// outage is how long the server answers 503 in scenario 1: short in CI,
// the ten seconds with -reliability.long.
func outage() time.Duration {
	if *long {
		return 10 * time.Second
	}
	return 2 * time.Second
}

// maxAttempts is the most attempts one operation can make within d under
// the retry policy rc: every backoff at its shortest (half the interval,
// the randomization being ±50%).
func maxAttempts(rc exporter.RetryConfig, d time.Duration) int {
	n, elapsed, iv := 1, time.Duration(0), rc.InitialInterval
	for {
		elapsed += iv / 2
		if elapsed > d {
			return n + 1 // the attempt that answers after the recovery
		}
		n++
		iv = min(time.Duration(float64(iv)*1.5), rc.MaxInterval)
	}
}

// backoffAt is the longest wait the policy rc can make after failing for
// d: the interval reached by then, randomized up to ×1.5.
func backoffAt(rc exporter.RetryConfig, d time.Duration) time.Duration {
	elapsed, iv := time.Duration(0), rc.InitialInterval
	for elapsed+iv/2 <= d {
		elapsed += iv / 2
		iv = min(time.Duration(float64(iv)*1.5), rc.MaxInterval)
	}
	return iv * 3 / 2
}

// Scenario 1: the server answers 503 on every endpoint for a while, then
// recovers. The exporter keeps its default retry policy. Traces are
// produced before, during and after the outage; all of them arrive, each
// run, span and event exactly once, and the outage costs a bounded number
// of retries.
func TestUnavailableThenRecovers(t *testing.T) {
	rec := newRecorder()
	h := newHarness(t, setup{transport: rec})
	down := outage()
	const start = 300 * time.Millisecond
	stop := make(chan struct{})
	done := make(chan reliability.Result)
	go func() {
		done <- h.run(reliability.Workload{
			Traces: 1 << 20, Workers: 4, Pace: 8 * time.Millisecond, Seed: 1, FailEvery: 7, Stop: stop,
		})
	}()

	time.Sleep(start)
	remove := h.srv.Inject(ezoptest.Fault{Status: http.StatusServiceUnavailable})
	before := totalRequests(h.srv)
	time.Sleep(down)
	remove()
	recovered := time.Now()
	during := totalRequests(h.srv) - before
	time.Sleep(500 * time.Millisecond)
	close(stop)
	res := <-done
	flushed := h.flush(60 * time.Second)
	sinceRecovery := time.Since(recovered)

	rep := h.compare(h.srv, nil)
	t.Logf("workload: %d traces, %d spans, %d events in %s; outage %s; requests during the outage %d; all delivered %s after the recovery (final flush %s)",
		res.Traces, res.Spans, res.Events, res.Elapsed.Round(time.Millisecond), down, during, sinceRecovery.Round(time.Millisecond), flushed.Round(time.Millisecond))
	t.Logf("stored: %s", rep)
	rep.complete(t)
	h.noRejections(h.srv)
	if rep.Traces != res.Traces || rep.WantSpans != res.Spans {
		t.Errorf("compared %d traces / %d spans, the workload made %d / %d", rep.Traces, rep.WantSpans, res.Traces, res.Spans)
	}

	st := h.exp.Stats()
	t.Logf("stats: %s", statsLine(st))
	if st.SpansDropped != 0 || st.EventsDropped != 0 || len(st.Dropped) != 0 {
		t.Errorf("dropped: %v", st.Dropped)
	}
	if st.RunsStarted != int64(res.Traces) || st.RunsEnded != int64(res.Traces) ||
		st.SpansSent != int64(rep.WantSpans) || st.EventsSent != int64(rep.WantEvents) {
		t.Errorf("stats disagree with the workload: %s", statsLine(st))
	}
	// Every request the emulator saw is an operation or a retry of one;
	// the only failures were the 503s, so each retry answers one 503.
	// Health probes through the outage are the client's, not operations.
	total := totalRequests(h.srv) - h.srv.RequestCount(ezoptest.EndpointHealth)
	if int64(total) != st.Requests+st.RequestsRetried {
		t.Errorf("emulator saw %d requests, the exporter made %d operations + %d retries", total, st.Requests, st.RequestsRetried)
	}
	// Bounded effort: at most Concurrency operations retry at once (the
	// others wait for a worker), each at most as often as the backoff
	// allows within the outage.
	limit := exporter.DefaultConcurrency * maxAttempts(exporter.RetryConfig{
		InitialInterval: 500 * time.Millisecond, MaxInterval: 5 * time.Second}, down)
	t.Logf("503 answers: %d (bound %d)", st.RequestsRetried, limit)
	if st.RequestsRetried == 0 || st.RequestsRetried > int64(limit) {
		t.Errorf("%d retries for a %s outage, want 1..%d", st.RequestsRetried, down, limit)
	}
	// Recovery: the first answer after it comes within one backoff
	// interval (the longest the default policy reaches within the outage,
	// randomized up to ×1.5), not after the retry budget.
	var firstOK time.Duration = -1
	for _, a := range rec.all() {
		if a.start.After(recovered) && a.status/100 == 2 {
			firstOK = a.start.Sub(recovered)
			break
		}
	}
	wait := backoffAt(exporter.RetryConfig{InitialInterval: 500 * time.Millisecond, MaxInterval: 5 * time.Second}, down)
	t.Logf("first success %s after the recovery (bound %s)", firstOK.Round(time.Millisecond), wait)
	if firstOK < 0 || firstOK > wait {
		t.Errorf("first success %s after the recovery, want within %s", firstOK, wait)
	}
}
