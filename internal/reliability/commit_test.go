package reliability_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/ezoptest"
	"github.com/ezopotel/ezop-otel-go/internal/reliability"
)

// Scenario 3: writes the server stores but whose answer never arrives (the
// connection is dropped after the commit), on every endpoint. The client
// retries them: creates with their client-chosen ids (a repeat answers 500
// duplicate, taken as stored), runs by listing the agent's runs and
// adopting the one the lost attempt created. Nothing may be duplicated and
// nothing lost.
func TestDropAfterCommitEverywhere(t *testing.T) {
	h := newHarness(t, setup{exp: []exporter.Option{exporter.WithRetry(fastRetry)}})
	drops := map[ezoptest.Endpoint]int{ // every Nth request of the endpoint
		ezoptest.EndpointRegisterAgent: 1, // the first request (Times 1)
		ezoptest.EndpointCreateVersion: 1,
		ezoptest.EndpointStartRun:      3,
		ezoptest.EndpointListRuns:      4,
		ezoptest.EndpointEndRun:        3,
		ezoptest.EndpointCreateSpan:    4,
		ezoptest.EndpointCloseSpan:     4,
		ezoptest.EndpointEmitEvent:     5,
	}
	for ep, n := range drops {
		f := ezoptest.Fault{Endpoint: ep, DropAfterCommit: true, EveryNth: n}
		if n == 1 {
			f.Times = 1
		}
		h.srv.Inject(f)
	}
	res := h.run(reliability.Workload{Traces: 60, Workers: 6, Pace: time.Millisecond, Seed: 4, FailEvery: 6})
	flushed := h.flush(60 * time.Second)
	h.srv.ClearFaults()

	rep := h.compare(h.srv, nil)
	st := h.exp.Stats()
	t.Logf("workload: %d traces, %d spans; flushed in %s; stored: %s", res.Traces, res.Spans, flushed.Round(time.Millisecond), rep)
	t.Logf("stats: %s", statsLine(st))
	rep.complete(t)
	if len(h.srv.Runs()) != res.Traces {
		t.Errorf("%d runs stored for %d traces", len(h.srv.Runs()), res.Traces)
	}
	if st.SpansDropped != 0 || st.EventsDropped != 0 || len(st.Dropped) != 0 {
		t.Errorf("dropped: %v", st.Dropped)
	}

	// How many answers were lost, per endpoint: the fault fired on every
	// Nth request.
	reqs := h.srv.Requests()
	lost := 0
	for ep, n := range drops {
		k := reqs[ep] / n
		if n == 1 {
			k = min(reqs[ep], 1)
		}
		t.Logf("%-32s %5d requests, %4d answers lost after the commit", ep, reqs[ep], k)
		if k == 0 {
			t.Errorf("no answer of %s was lost: the scenario did not cover it", ep)
		}
		lost += k
	}
	// The only refusals are the repeats of creates whose earlier attempt
	// was stored: 500 (duplicate id) on spans and events, exactly one per
	// lost answer of those endpoints (a repeat whose answer is lost too is
	// refused, and repeated again).
	lostCreates := reqs[ezoptest.EndpointCreateSpan]/drops[ezoptest.EndpointCreateSpan] +
		reqs[ezoptest.EndpointEmitEvent]/drops[ezoptest.EndpointEmitEvent]
	rj := h.srv.Rejected()
	for _, r := range rj {
		if r.Status != http.StatusInternalServerError ||
			(r.Endpoint != ezoptest.EndpointCreateSpan && r.Endpoint != ezoptest.EndpointEmitEvent) {
			t.Errorf("unexpected rejection: %s", r)
		}
	}
	t.Logf("%d answers lost in all; %d repeats refused as duplicates (%d lost create answers); %d retries", lost, len(rj), lostCreates, st.RequestsRetried)
	if len(rj) != lostCreates {
		t.Errorf("%d duplicate refusals, want %d", len(rj), lostCreates)
	}
	// Every lost answer costs one more attempt: a retry by the client,
	// except for run look-ups (GET), which net/http itself may repeat on a
	// fresh connection.
	lostGets := reqs[ezoptest.EndpointListRuns] / drops[ezoptest.EndpointListRuns]
	if st.RequestsRetried < int64(lost-lostGets) || st.RequestsRetried > int64(lost) {
		t.Errorf("%d retries for %d lost answers (%d of them run look-ups)", st.RequestsRetried, lost, lostGets)
	}
}
