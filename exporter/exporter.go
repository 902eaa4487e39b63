package exporter

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/bridge"
	"github.com/ezopotel/ezop-otel-go/internal/client"
)

var _ sdktrace.SpanExporter = (*Exporter)(nil)

// ErrShutdown is returned by ExportSpans after Shutdown.
var ErrShutdown = errors.New("ezop exporter: exporter is shut down")

// ErrAuth matches (with errors.Is) what the exporter reports through its
// error handler when the Ezop API refused the API key (401 or 403), and
// the drops counted while sending is paused because of it.
var ErrAuth = client.ErrAuth

// Drop reasons of the buffering.
const (
	reasonMaxTraces   = "buffer full: max traces"
	reasonMaxPerTrace = "buffer full: max spans per trace"
	reasonMaxSpans    = "buffer full: max buffered spans"
	reasonShutdown    = "exporter shut down"
)

// Exporter sends OpenTelemetry spans to Ezop: each trace's local root span
// becomes a run, the other spans Ezop spans, span events and GenAI
// attributes Ezop events. It implements sdktrace.SpanExporter; use it with
// sdktrace.WithBatcher. Its methods are safe for concurrent use.
type Exporter struct {
	cfg config
	tr  *bridge.Translator
	api *client.Client
	st  *counters

	pool   *pool
	agents agentCache

	// bg is the context of every request; Shutdown cancels it when its
	// deadline passes.
	bg     context.Context
	cancel context.CancelFunc

	// authUntil (unix nanoseconds) is when sending resumes after the
	// server refused the API key; guarded by authMu.
	authMu    sync.Mutex
	authUntil time.Time

	// quota pauses events once the plan's event quota is used up (send.go).
	quota quotaGate

	mu       sync.Mutex
	traces   map[trace.TraceID]*traceState
	sent     *list.List // of *traceState with nothing buffered, oldest first
	waiting  int        // traces with buffered spans
	buffered int        // buffered spans
	closed   bool
	live     map[*job]struct{}

	lp live // the live processor's state (live.go)

	janitorStop chan struct{}
	janitorDone chan struct{}
	drainers    sync.WaitGroup
	shutdown    sync.Once
	shutdownErr error
}

// traceState is what the exporter knows of one trace: spans waiting for
// their root, and the runs already started for it.
type traceState struct {
	id      trace.TraceID
	pending map[trace.SpanID]sdktrace.ReadOnlySpan
	since   time.Time // when the oldest pending span arrived
	// runs by the OTel id of their local root; the zero id is the run of
	// spans sent without their root (which the next root to come adopts).
	runs map[trace.SpanID]*run
	// owner maps spans already translated to the root id of their run, to
	// place their late children when a trace has several local roots.
	owner map[trace.SpanID]trace.SpanID
	elem  *list.Element // in Exporter.sent while nothing is pending
	// livePins counts runs started live whose root has not reached the
	// exporter: such a trace is kept (never forgotten as finished) so the
	// root finds its run.
	livePins int
}

func newTraceState(id trace.TraceID) *traceState {
	return &traceState{id: id, runs: map[trace.SpanID]*run{}}
}

// New returns an Exporter that sends to the Ezop API. It fails when the
// client cannot be configured (no API key, a malformed endpoint); it makes
// no request.
func New(ctx context.Context, opts ...Option) (*Exporter, error) {
	_ = ctx // reserved: New makes no request.
	cfg := newConfig(opts)
	api, err := client.New(cfg.clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("ezop exporter: %w", err)
	}
	bg, cancel := context.WithCancel(context.Background())
	e := &Exporter{
		cfg:         cfg,
		tr:          bridge.NewTranslator(cfg.translate),
		api:         api,
		st:          newCounters(cfg.handler, cfg.reportInterval, cfg.now),
		pool:        newPool(cfg.concurrency),
		bg:          bg,
		cancel:      cancel,
		traces:      map[trace.TraceID]*traceState{},
		sent:        list.New(),
		live:        map[*job]struct{}{},
		janitorStop: make(chan struct{}),
		janitorDone: make(chan struct{}),
	}
	e.agents.m = map[string]*agentEntry{}
	go e.janitor()
	return e, nil
}

// Stats returns the exporter's counters.
func (e *Exporter) Stats() Stats {
	s := e.st.snapshot()
	s.RequestsRetried = e.api.Stats().Retries
	e.mu.Lock()
	s.BufferedTraces, s.BufferedSpans = e.waiting, e.buffered
	e.mu.Unlock()
	return s
}

// ExportSpans hands spans to the exporter. Spans whose run is complete
// (their local root span has ended) are sent, and ExportSpans returns once
// they are delivered or given up on, or when ctx ends (the sending then
// goes on in the background). Other spans wait for their root, at most
// the root wait (see WithRootWait).
//
// What cannot be delivered is counted in Stats and reported through the
// error handler, not returned: the returned error is ctx's, or ErrShutdown
// after Shutdown.
func (e *Exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	jobs, err := e.accept(spans)
	e.st.emit()
	if err != nil {
		return err
	}
	return waitJobs(ctx, jobs)
}

// ForceFlush sends the spans still waiting for their root span now (as
// runs that stay running until their root comes) and waits until
// everything handed to the exporter before the call is delivered or given
// up on, or ctx ends.
func (e *Exporter) ForceFlush(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.flushLocked(func(*traceState) bool { return true })
	jobs := e.liveJobsLocked()
	e.mu.Unlock()
	e.st.emit()
	return waitJobs(ctx, jobs)
}

// Shutdown sends everything the exporter holds, spans waiting for their
// root included (as runs that stay running), and waits for it until ctx
// ends; then it stops. What was not delivered by then is counted as
// dropped and named in the returned error. After Shutdown, ExportSpans
// refuses spans. Shutdown is idempotent: later calls return nil.
func (e *Exporter) Shutdown(ctx context.Context) error {
	first := false
	e.shutdown.Do(func() {
		first = true
		e.shutdownErr = e.doShutdown(ctx)
	})
	if !first {
		return nil
	}
	return e.shutdownErr
}

func (e *Exporter) doShutdown(ctx context.Context) error {
	e.stopLive()
	close(e.janitorStop)
	<-e.janitorDone

	e.mu.Lock()
	e.closed = true
	e.releaseLiveEndsLocked(e.cfg.now(), true)
	e.flushLocked(func(*traceState) bool { return true })
	jobs := e.liveJobsLocked()
	e.mu.Unlock()
	e.st.emit()

	err := waitJobs(ctx, jobs)
	var lost string
	if err != nil {
		// Give up: what is still queued fails fast and is counted.
		lost = fmt.Sprintf("%d spans and %d events not delivered",
			e.st.inflightSpans.Load(), e.st.inflightE.Load())
		e.cancel()
	}
	e.pool.close()
	drained := make(chan struct{})
	go func() {
		e.drainers.Wait()
		<-e.pool.wait()
		close(drained)
	}()
	if err == nil {
		<-drained
	} else {
		// Requests end at once on the cancelled context; do not wait
		// longer than a moment past the caller's deadline for it.
		select {
		case <-drained:
		case <-time.After(100 * time.Millisecond):
		}
	}
	e.cancel()
	e.api.CloseIdleConnections()
	e.st.flushReports()
	if err != nil {
		return fmt.Errorf("ezop exporter: shutdown: %s: %w", lost, err)
	}
	return nil
}

// accept takes a batch: it groups the spans by trace and run, starts the
// runs that are complete and buffers the rest. It returns the jobs sent.
func (e *Exporter) accept(spans []sdktrace.ReadOnlySpan) ([]*job, error) {
	// Group by trace, copying what is kept: the caller reuses the slice.
	byTrace := map[trace.TraceID][]sdktrace.ReadOnlySpan{}
	var order []trace.TraceID
	for _, s := range spans {
		if s == nil {
			continue
		}
		id := s.SpanContext().TraceID()
		if _, ok := byTrace[id]; !ok {
			order = append(order, id)
		}
		byTrace[id] = append(byTrace[id], tracetest.SpanStubFromReadOnlySpan(s).Snapshot())
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		e.st.drop(kindSpan, reasonShutdown, int64(len(spans)), nil)
		return nil, ErrShutdown
	}
	var jobs []*job
	for _, id := range order {
		jobs = append(jobs, e.acceptTraceLocked(id, byTrace[id])...)
	}
	return jobs, nil
}

// acceptTraceLocked places the spans of one trace.
func (e *Exporter) acceptTraceLocked(id trace.TraceID, spans []sdktrace.ReadOnlySpan) []*job {
	ts := e.traces[id]
	if ts == nil {
		ts = newTraceState(id)
	}

	// Span ids are unique in a trace. A span whose id is already in the
	// batch, waiting or sent is dropped (the translation keeps the first
	// too): kept, it would skew the buffer's count, or be translated in
	// another run and send event ids already stored.
	if len(spans) > 0 {
		seen := make(map[trace.SpanID]bool, len(spans))
		kept := spans[:0:0]
		for _, s := range spans {
			sid := s.SpanContext().SpanID()
			_, waiting := ts.pending[sid]
			_, sent := ts.owner[sid]
			if seen[sid] || waiting || sent {
				e.st.drop("", "duplicate span id", 1, nil)
				continue
			}
			seen[sid] = true
			kept = append(kept, s)
		}
		spans = kept
	}

	// Candidates: the batch and what was waiting.
	cand := make(map[trace.SpanID]sdktrace.ReadOnlySpan, len(spans)+len(ts.pending))
	for _, s := range ts.pending {
		cand[s.SpanContext().SpanID()] = s
	}
	var roots []trace.SpanID
	for _, s := range spans {
		sid := s.SpanContext().SpanID()
		cand[sid] = s
		if bridge.IsLocalRoot(s) {
			roots = append(roots, sid)
		}
	}
	// With remote parent linking, roots whose remote parent is not known
	// yet wait (remote.go).
	var links map[trace.SpanID]trace.SpanID
	if e.cfg.remoteLinking {
		roots, links = e.linkRootsLocked(ts, roots, cand)
	}

	// A root adopts the run of spans sent without their root.
	for _, r := range roots {
		if rn, ok := ts.runs[r]; ok {
			e.liveUnpinLocked(ts, rn)
			continue
		}
		if orphan, ok := ts.runs[trace.SpanID{}]; ok {
			delete(ts.runs, trace.SpanID{})
			ts.runs[r] = orphan
			for sid, o := range ts.owner {
				if o == (trace.SpanID{}) {
					ts.owner[sid] = r
				}
			}
		} else {
			ts.runs[r] = nil // known; the run is created below
		}
	}
	if len(links) > 0 {
		e.bindLinksLocked(ts, links, cand)
	}

	// Where each candidate belongs: the root it descends from, if known.
	memo := map[trace.SpanID]trace.SpanID{}
	var resolve func(s sdktrace.ReadOnlySpan, depth int) (trace.SpanID, bool)
	resolve = func(s sdktrace.ReadOnlySpan, depth int) (trace.SpanID, bool) {
		sid := s.SpanContext().SpanID()
		if bridge.IsLocalRoot(s) {
			return sid, true
		}
		if r, ok := memo[sid]; ok {
			return r, r.IsValid()
		}
		memo[sid] = trace.SpanID{} // cycle guard
		pid := s.Parent().SpanID()
		var r trace.SpanID
		var ok bool
		if o, known := ts.owner[pid]; known {
			r, ok = o, true
		} else if p, in := cand[pid]; in && depth < len(cand) {
			r, ok = resolve(p, depth+1)
		}
		if ok {
			memo[sid] = r
		}
		return r, ok
	}
	groups := map[trace.SpanID][]sdktrace.ReadOnlySpan{}
	var groupOrder []trace.SpanID
	var unplaced []sdktrace.ReadOnlySpan
	newPending := map[trace.SpanID]bool{}
	for _, s := range spans {
		newPending[s.SpanContext().SpanID()] = true
	}
	place := func(s sdktrace.ReadOnlySpan) {
		r, ok := resolve(s, 0)
		if ok {
			if _, known := ts.runs[r]; !known {
				ok = false // a root not seen yet
			}
		}
		if !ok {
			unplaced = append(unplaced, s)
			return
		}
		if _, seen := groups[r]; !seen {
			groupOrder = append(groupOrder, r)
		}
		groups[r] = append(groups[r], s)
	}
	for _, s := range ts.pending {
		place(s)
	}
	for _, s := range spans {
		place(s)
	}

	// What was pending and is placed now leaves the buffer.
	var jobs []*job
	for _, r := range groupOrder {
		for _, s := range groups[r] {
			sid := s.SpanContext().SpanID()
			if _, was := ts.pending[sid]; was {
				e.unbufferLocked(ts, sid)
			}
		}
	}
	for _, r := range groupOrder {
		g := groups[r]
		// Spans that arrive in this batch and are sent at once still
		// count against the total while they are in flight.
		var fresh int
		for _, s := range g {
			if newPending[s.SpanContext().SpanID()] {
				fresh++
			}
		}
		if over := e.buffered + int(e.st.inflightSpans.Load()) + fresh - e.cfg.maxBufferedSpans; over > 0 {
			g = e.trimLocked(g, newPending, over)
		}
		if len(g) == 0 {
			continue
		}
		if j := e.translateLocked(ts, r, g); j != nil {
			jobs = append(jobs, j)
		}
	}
	for _, s := range unplaced {
		sid := s.SpanContext().SpanID()
		if !newPending[sid] {
			continue // still pending from before
		}
		e.bufferLocked(ts, s)
	}
	e.settleLocked(ts)
	return jobs
}

// trimLocked drops up to over new spans of g (never the ones that were
// buffered, never a root while another span can go) for the total limit.
func (e *Exporter) trimLocked(g []sdktrace.ReadOnlySpan, fresh map[trace.SpanID]bool, over int) []sdktrace.ReadOnlySpan {
	keep := g[:0:0]
	var dropped, roots int64
	for i := len(g) - 1; i >= 0; i-- {
		s := g[i]
		if over > 0 && fresh[s.SpanContext().SpanID()] && !bridge.IsLocalRoot(s) {
			over--
			dropped++
			continue
		}
		keep = append(keep, s)
	}
	for i := len(keep) - 1; i >= 0 && over > 0; i-- {
		if fresh[keep[i].SpanContext().SpanID()] {
			keep = append(keep[:i], keep[i+1:]...)
			over--
			roots++ // only roots are left to drop here
		}
	}
	// keep was built backwards.
	for i, j := 0, len(keep)-1; i < j; i, j = i+1, j-1 {
		keep[i], keep[j] = keep[j], keep[i]
	}
	e.st.drop(kindSpan, reasonMaxSpans, dropped, nil)
	// A root is its run's end: without it the run stays running, or is
	// not created when nothing of it is left.
	if len(keep) == 0 {
		e.st.drop(kindRun, reasonMaxSpans, roots, nil)
	} else {
		e.st.drop(kindRun, "end: "+reasonMaxSpans, roots, nil)
	}
	return keep
}

// bufferLocked keeps s until its root comes, within the limits.
func (e *Exporter) bufferLocked(ts *traceState, s sdktrace.ReadOnlySpan) {
	switch {
	case len(ts.pending) == 0 && e.waiting >= e.cfg.maxTraces:
		e.st.drop(kindSpan, reasonMaxTraces, 1, nil)
		return
	case len(ts.pending) >= e.cfg.maxSpansPerTrace:
		e.st.drop(kindSpan, reasonMaxPerTrace, 1, nil)
		return
	case e.buffered+int(e.st.inflightSpans.Load()) >= e.cfg.maxBufferedSpans:
		e.st.drop(kindSpan, reasonMaxSpans, 1, nil)
		return
	}
	if ts.pending == nil {
		ts.pending = map[trace.SpanID]sdktrace.ReadOnlySpan{}
	}
	if len(ts.pending) == 0 {
		ts.since = e.cfg.now()
		e.waiting++
	}
	ts.pending[s.SpanContext().SpanID()] = s
	e.buffered++
}

func (e *Exporter) unbufferLocked(ts *traceState, sid trace.SpanID) {
	delete(ts.pending, sid)
	e.buffered--
	if len(ts.pending) == 0 {
		e.waiting--
		ts.pending = nil
	}
}

// settleLocked files ts: waiting traces are in e.traces only; traces with
// nothing waiting are also in the LRU list of sent traces, whose oldest
// are forgotten beyond the limit.
func (e *Exporter) settleLocked(ts *traceState) {
	if len(ts.pending) == 0 && len(ts.runs) == 0 {
		if ts.elem != nil {
			e.sent.Remove(ts.elem)
			ts.elem = nil
		}
		delete(e.traces, ts.id)
		return
	}
	e.traces[ts.id] = ts
	if len(ts.pending) > 0 || ts.livePins > 0 {
		if ts.elem != nil {
			e.sent.Remove(ts.elem)
			ts.elem = nil
		}
		return
	}
	if ts.elem != nil {
		e.sent.MoveToBack(ts.elem)
	} else {
		ts.elem = e.sent.PushBack(ts)
	}
	for e.sent.Len() > e.cfg.finishedTraces {
		old := e.sent.Remove(e.sent.Front()).(*traceState)
		old.elem = nil
		delete(e.traces, old.id)
	}
}

// translateLocked translates spans of the run rooted at r (zero: the run
// of spans without their root) and queues the plan on that run.
func (e *Exporter) translateLocked(ts *traceState, r trace.SpanID, spans []sdktrace.ReadOnlySpan) *job {
	rn := ts.runs[r]
	if rn == nil {
		rn = &run{traceID: ts.id}
		ts.runs[r] = rn
	}
	plan := e.tr.Translate(&rn.state, spans)
	if ts.owner == nil {
		ts.owner = map[trace.SpanID]trace.SpanID{}
	}
	if len(ts.owner) < e.cfg.maxSpansPerTrace {
		for _, s := range spans {
			ts.owner[s.SpanContext().SpanID()] = r
		}
	}
	for _, is := range plan.Issues {
		switch is.Kind {
		case bridge.Dropped:
			e.st.drop("", is.Reason, int64(is.Count), nil)
		default:
			e.st.alter(is.Reason, int64(is.Count))
		}
	}
	if plan.Empty() {
		return nil
	}
	j := &job{plan: plan, done: make(chan struct{})}
	e.live[j] = struct{}{}
	nSpans, nEvents := planSize(&plan)
	e.st.inflightSpans.Add(nSpans)
	e.st.inflightE.Add(nEvents)
	e.enqueue(rn, j)
	return j
}

// flushLocked sends the waiting spans of the traces match selects without
// their root.
func (e *Exporter) flushLocked(match func(*traceState) bool) {
	var due []*traceState
	for _, ts := range e.traces {
		if len(ts.pending) > 0 && match(ts) {
			due = append(due, ts)
		}
	}
	for _, ts := range due {
		if e.cfg.remoteLinking {
			// Roots still waiting for their remote parent go first, as
			// runs of their own, with their descendants (remote.go).
			e.releaseHeldLocked(ts)
			if len(ts.pending) == 0 {
				continue
			}
		}
		spans := make([]sdktrace.ReadOnlySpan, 0, len(ts.pending))
		for _, s := range ts.pending {
			spans = append(spans, s)
		}
		for _, s := range spans {
			e.unbufferLocked(ts, s.SpanContext().SpanID())
		}
		// Spans of a trace with one run belong to it (their parent was
		// lost or has not ended); otherwise they make the run of spans
		// without their root.
		target := trace.SpanID{}
		if len(ts.runs) == 1 {
			for r := range ts.runs {
				target = r
			}
		}
		e.translateLocked(ts, target, spans)
		e.settleLocked(ts)
	}
}

func (e *Exporter) liveJobsLocked() []*job {
	jobs := make([]*job, 0, len(e.live))
	for j := range e.live {
		jobs = append(jobs, j)
	}
	return jobs
}

// jobDone retires a job.
func (e *Exporter) jobDone(j *job) {
	spans, events := planSize(&j.plan)
	e.st.inflightSpans.Add(-spans)
	e.st.inflightE.Add(-events)
	e.mu.Lock()
	delete(e.live, j)
	e.mu.Unlock()
	close(j.done)
}

// planSize counts the spans and events of p and of its child runs.
func planSize(p *bridge.RunPlan) (spans, events int64) {
	spans, events = int64(len(p.Spans)), int64(len(p.Events))
	for i := range p.ChildRuns {
		s, e := planSize(&p.ChildRuns[i].Plan)
		spans, events = spans+s, events+e
	}
	return spans, events
}

func waitJobs(ctx context.Context, jobs []*job) error {
	for _, j := range jobs {
		select {
		case <-j.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// janitor sends traces whose root did not come within the root wait.
func (e *Exporter) janitor() {
	defer close(e.janitorDone)
	tick := min(max(e.cfg.rootWait/4, 5*time.Millisecond), time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-e.janitorStop:
			return
		case <-t.C:
			now := e.cfg.now()
			e.mu.Lock()
			e.releaseLiveEndsLocked(now, false)
			e.flushLocked(func(ts *traceState) bool { return now.Sub(ts.since) >= e.cfg.rootWait })
			e.mu.Unlock()
			e.st.emit()
		}
	}
}
