package reliability_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/ezopotel/ezop-otel-go/ezoptest"
	"github.com/ezopotel/ezop-otel-go/internal/reliability"
)

// Scenario 8: the emulator is killed mid-run (connections cut, requests in
// flight lost, some after their commit) and a new one starts on the same
// address with the same database. The exporter, with its default retry
// policy, carries on: every trace, before, during and after the restart,
// arrives exactly once.
func TestServerRestart(t *testing.T) {
	h := newHarness(t, setup{})
	stop := make(chan struct{})
	done := make(chan reliability.Result)
	go func() {
		done <- h.run(reliability.Workload{Traces: 1 << 20, Workers: 4, Pace: 8 * time.Millisecond, Seed: 9, FailEvery: 6, Stop: stop})
	}()

	time.Sleep(700 * time.Millisecond)
	old := h.srv
	before := totalRequests(old)
	old.Close()
	killed := time.Now()
	time.Sleep(500 * time.Millisecond)
	srv, err := ezoptest.Start(old.Addr(), ezoptest.WithAPIKey(old.APIKey), ezoptest.WithDataFrom(old))
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	restarted := time.Now()
	time.Sleep(700 * time.Millisecond)
	close(stop)
	res := <-done
	flushed := h.flush(60 * time.Second)

	// Traces that started after the restart.
	var later int
	for _, s := range h.rec.Ended() {
		if !s.Parent().IsValid() && s.StartTime().After(restarted) {
			later++
		}
	}
	rep := h.compare(srv, nil)
	st := h.exp.Stats()
	t.Logf("workload: %d traces (%d started after the restart), %d spans; down for %s; %d requests before the kill, %d after the restart; flushed in %s",
		res.Traces, later, res.Spans, restarted.Sub(killed).Round(time.Millisecond), before, totalRequests(srv), flushed.Round(time.Millisecond))
	t.Logf("stored: %s", rep)
	t.Logf("stats: %s", statsLine(st))
	rep.complete(t)
	if later == 0 {
		t.Error("no trace started after the restart")
	}
	if len(srv.Runs()) != res.Traces {
		t.Errorf("%d runs for %d traces", len(srv.Runs()), res.Traces)
	}
	if st.SpansDropped != 0 || st.EventsDropped != 0 || len(st.Dropped) != 0 {
		t.Errorf("dropped: %v", st.Dropped)
	}
	if st.RunsStarted != int64(res.Traces) || st.RunsEnded != int64(res.Traces) {
		t.Errorf("runs started %d ended %d for %d traces", st.RunsStarted, st.RunsEnded, res.Traces)
	}
	if st.RequestsRetried == 0 {
		t.Error("no retries: the restart went unnoticed")
	}
	h.noRejections(old)
	// The new server refuses only repeats of creates whose first attempt
	// the old one stored before it died (500, duplicate id).
	for _, r := range srv.Rejected() {
		if r.Status != http.StatusInternalServerError ||
			(r.Endpoint != ezoptest.EndpointCreateSpan && r.Endpoint != ezoptest.EndpointEmitEvent) {
			t.Errorf("unexpected rejection: %s", r)
		}
	}
	t.Logf("repeats refused as duplicates after the restart: %d", len(srv.Rejected()))
}
