package exporter

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// mapStore is a RunStore in memory, shared by two exporters standing for
// a process and the one that replaces it.
type mapStore struct {
	mu sync.Mutex
	m  map[RunKey]StoredRun
}

func (s *mapStore) Load(_ context.Context, k RunKey) (StoredRun, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[k]
	return r, ok, nil
}

func (s *mapStore) Save(_ context.Context, k RunKey, r StoredRun) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[RunKey]StoredRun{}
	}
	s.m[k] = r
	return nil
}

// ExportSpansDelivered returns once its spans are delivered, not merely
// held: children that wait for their root are waited for.
func TestExportSpansDeliveredWaitsForHeldSpans(t *testing.T) {
	e := newEnv(t, nil)
	tr := newTracer()
	ctx, root := tr.Start(context.Background(), "root")
	_, c := tr.Start(ctx, "child")
	c.End()
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	err := e.exp.ExportSpansDelivered(short, tr.pick(t, "child"))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ExportSpansDelivered of a span waiting for its root: %v, want its deadline", err)
	}
	done := make(chan error, 1)
	go func() { done <- e.exp.ExportSpansDelivered(context.Background(), tr.pick(t, "child")) }()
	select {
	case err := <-done:
		t.Fatalf("returned %v before the root came", err)
	case <-time.After(100 * time.Millisecond):
	}
	root.End()
	if err := e.exp.ExportSpansDelivered(context.Background(), tr.pick(t, "root")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	run := oneRun(t, e.srv)
	if run.Status != "success" || len(e.srv.Spans(run.ID)) != 2 {
		t.Errorf("run %+v", run)
	}
	if st := e.exp.Stats(); st.SpansDropped != 0 {
		t.Errorf("dropped %v", st.Dropped)
	}
}

// A process handed again what an earlier one delivered (a Collector's
// persistent queue replaying after a crash): with the run store it goes on
// with the earlier run, stores nothing twice and reports nothing dropped.
func TestRunStoreReplay(t *testing.T) {
	store := &mapStore{}
	first := newEnv(t, nil, WithRunStore(store))
	tr := newTracer()
	tr.tree("", 2, 2)
	batch := tr.rec.Ended()
	if err := first.exp.ExportSpansDelivered(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	run := oneRun(t, first.srv)
	ends := first.tr.ends()[run.ID]

	// The next process: same server, same store, the same batch again.
	second := newEnvWith(t, first.srv, first.srv.APIKey, nil, WithRunStore(store))
	if err := second.exp.ExportSpansDelivered(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	second.shutdown()
	if n := len(first.srv.Runs()); n != 1 {
		t.Fatalf("%d runs after the replay, want the one", n)
	}
	if got := first.tr.ends()[run.ID] + second.tr.ends()[run.ID]; got != ends {
		t.Errorf("run ended %d times, want %d: an ended run is not ended again", got, ends)
	}
	st := second.exp.Stats()
	if st.RunsStarted != 0 || st.SpansDropped != 0 || st.EventsDropped != 0 || st.Altered[reasonReplayed] == 0 {
		t.Errorf("replay: %+v", st)
	}
	if n := len(first.srv.Spans(run.ID)); n != len(batch) {
		t.Errorf("%d spans, want %d", n, len(batch))
	}
}
