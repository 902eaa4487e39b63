package reliability_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/internal/client"
	"github.com/ezopotel/ezop-otel-go/internal/reliability"
)

// Scenario 6: the server refuses the API key (a revoked key: 403). The
// exporter says so once, clearly; it does not hammer the server (one
// request in all); and the program is unaffected: spans start and end as
// fast as ever and flushing does not wait for anything.
func TestAuthRejected(t *testing.T) {
	h := newHarness(t, setup{})
	h.srv.RejectKey(true)
	w := reliability.Workload{Traces: 40, Workers: 4, Pace: time.Millisecond, Seed: 7, FailEvery: 5}
	res1 := h.run(w)
	flush1 := h.flush(10 * time.Second)
	// A second wave, after the refusal: dropped without a request.
	w.First = 1000
	res2 := h.run(w)
	flush2 := h.flush(10 * time.Second)

	rep := h.compare(h.srv, nil)
	st := h.exp.Stats()
	t.Logf("workload: %d+%d traces, %d spans; span Start/End mean %s, max %s / %s; flushes took %s and %s",
		res1.Traces, res2.Traces, res1.Spans+res2.Spans, ((res1.MeanOp + res2.MeanOp) / 2).Round(time.Microsecond),
		res1.MaxOp.Round(time.Microsecond), res2.MaxOp.Round(time.Microsecond), flush1.Round(time.Millisecond), flush2.Round(time.Millisecond))
	t.Logf("stats: %s", statsLine(st))
	t.Logf("emulator requests: %v", h.srv.Requests())

	// No retry storm: the first request is refused, and the exporter
	// pauses: nothing else reaches the server.
	if n := totalRequests(h.srv); n != 1 {
		t.Errorf("%d requests reached the server, want 1", n)
	}
	if st.RequestsRetried != 0 {
		t.Errorf("%d retries of a refused key", st.RequestsRetried)
	}
	// Nothing stored, everything counted under one reason per kind.
	if rep.Runs+rep.Spans+rep.Events != 0 || len(h.srv.Runs()) != 0 {
		t.Errorf("stored despite the refused key: %s", rep)
	}
	traces := int64(res1.Traces + res2.Traces)
	want := map[string]int64{
		"span: auth":  int64(rep.WantSpans),
		"event: auth": int64(rep.WantEvents),
		"run: auth":   traces,
	}
	if fmt.Sprint(st.Dropped) != fmt.Sprint(want) || st.SpansDropped != int64(rep.WantSpans) || st.EventsDropped != int64(rep.WantEvents) {
		t.Errorf("dropped: %v (spans %d events %d)\nwant %v", st.Dropped, st.SpansDropped, st.EventsDropped, want)
	}
	// One clear error naming the key, plus one drop report per reason
	// (rate-limited to once a minute).
	var authErrs, dropReports int
	for _, err := range h.reported() {
		var de *exporter.DropError
		switch {
		case errors.As(err, &de):
			dropReports++
			if !errors.Is(err, client.ErrAuth) {
				t.Errorf("drop report without the auth error: %v", err)
			}
		case errors.Is(err, client.ErrAuth):
			authErrs++
			t.Logf("reported: %v", err)
			if !strings.Contains(err.Error(), "API key") {
				t.Errorf("auth error does not name the key: %v", err)
			}
		default:
			t.Errorf("other report: %v", err)
		}
	}
	if authErrs != 1 || dropReports != len(want) {
		t.Errorf("%d auth errors and %d drop reports, want 1 and %d", authErrs, dropReports, len(want))
	}
	// The program is unaffected: span calls stay cheap (a generous bound
	// for -race on 2 cores; the mean is microseconds) and flushing returns
	// without waiting for the server.
	if res1.MaxOp > 50*time.Millisecond || res2.MaxOp > 50*time.Millisecond {
		t.Errorf("a span Start or End took %s / %s", res1.MaxOp, res2.MaxOp)
	}
	if flush1 > time.Second || flush2 > time.Second {
		t.Errorf("flushing took %s and %s", flush1, flush2)
	}
	h.noRejections(h.srv)
}
