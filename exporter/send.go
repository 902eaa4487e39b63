package exporter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/bridge"
	"github.com/ezopotel/ezop-otel-go/internal/client"
	"github.com/ezopotel/ezop-otel-go/internal/wire"
)

// run is one Ezop run. Its work (a live start, parts of spans, a finish
// order) is done one item after the other, in the order queued, by one
// drainer goroutine at a time; the requests of one part go in parallel on
// the shared pool.
type run struct {
	key     trace.SpanID
	traceID trace.TraceID

	// Lifecycle (lifecycle.go), guarded by Exporter.mu.
	rootArrived bool // its root span was placed
	rootless    bool // made for spans sent without their root
	ending      bool // its end is decided: queued with the root, or a finish
	live        bool // started by the live processor, root not arrived
	// liveEnd is the root as it ended, kept by the live processor in case
	// the batcher drops it, since liveEndAt.
	liveEnd   sdktrace.ReadOnlySpan
	liveEndAt time.Time
	// rootLost is why the root of a live run was dropped (a buffer
	// bound): its finish counts the loss, knowing whether the root span
	// was stored at the start.
	rootLost string
	// last is the work queued last (ExportSpansDelivered waits for it:
	// the drainer does a run's work in order).
	last *work
	// replayed: the run was started by an earlier process (RunStore):
	// what it is handed may be stored already.
	replayed bool

	mu       sync.Mutex
	queue    []*work
	draining bool
	// stored are ids of events of the run found stored already (after a
	// restart), bounded (records_durable.go).
	stored map[string]struct{}

	// Owned by the drainer.
	state   bridge.RunState
	runID   string
	agentID string
	// children are the child runs of agents this run invoked, by the OTel
	// id of the invoking span (bridge.ChildRun.Key).
	children   map[trace.SpanID]*run
	endSent    bool
	rootStored bool                // the root's Ezop span is stored
	failed     map[string]struct{} // Ezop span ids whose create failed

	// link is the run's side of remote parent linking (remote.go).
	link runLink
}

// workKind says what a work item asks of its run's drainer.
type workKind uint8

const (
	workPart    workKind = iota // translate and send spans
	workStart                   // start the run from its root as it starts (live)
	workFinish                  // end the run without its root
	workRecords                 // translate and send log records of spans sent before (logs.go)
)

// work is one item of a run's queue; done is closed once it is delivered
// or given up on.
type work struct {
	kind  workKind
	spans []sdktrace.ReadOnlySpan // workPart
	bytes int                     // their estimated size
	root  sdktrace.ReadOnlySpan   // workStart
	why   string                  // workFinish
	// rootLost (workFinish): the run's root was dropped for this reason.
	rootLost string
	// records are log records that go with the work (logs.go): joined
	// to the spans of a part, or sent alone (workRecords). Appended to
	// under Exporter.mu and the run's mu while the work is queued.
	records []*pendingRecord
	ids     map[trace.SpanID]struct{} // the part's span ids, built by hasSpan
	// placed says where each of records went (the part's translation).
	placed []bridge.RecordPlace
	done   chan struct{}
}

// enqueueLocked queues w on r, starting r's drainer if none runs. Under
// Exporter.mu, so that parts reach a run in the order they were placed.
func (e *Exporter) enqueueLocked(r *run, w *work) *work {
	w.done = make(chan struct{})
	e.works[w] = struct{}{}
	e.st.inflightSpans.Add(int64(len(w.spans)))
	e.inflightBytes.Add(int64(w.bytes))
	r.last = w
	r.mu.Lock()
	r.queue = append(r.queue, w)
	start := !r.draining
	r.draining = true
	r.mu.Unlock()
	if start {
		e.drainers.Add(1)
		go e.drain(r)
	}
	return w
}

func (e *Exporter) drain(r *run) {
	defer e.drainers.Done()
	for {
		r.mu.Lock()
		if len(r.queue) == 0 {
			r.draining = false
			r.mu.Unlock()
			return
		}
		w := r.queue[0]
		r.queue[0] = nil
		r.queue = r.queue[1:]
		r.mu.Unlock()
		e.do(r, w)
		e.markDelivered(w) // records_durable.go
		e.workDone(w)
	}
}

// do carries out one work item of r. The translation runs here, on the
// run's drainer, with no lock held: the redaction hook may be slow.
func (e *Exporter) do(r *run, w *work) {
	switch w.kind {
	case workStart:
		p := e.tr.RunStart(&r.state, w.root)
		e.noteIssues(p.Issues)
		e.sendRun(r, &p, nil)
	case workPart:
		p := e.translatePart(r, w) // with its log records (logs.go)
		e.noteIssues(p.Issues)
		if p.Empty() {
			return
		}
		_, events := planSize(&p)
		e.st.inflightE.Add(events)
		e.send(r, &p)
		e.st.inflightE.Add(-events)
		e.resendJoined(r, w) // records_durable.go
	case workFinish:
		if w.rootLost != "" {
			if r.rootStored {
				e.st.drop(kindSpan, "end time: "+w.rootLost, 1, nil) // stored, without its end
			} else {
				e.st.drop(kindSpan, w.rootLost, 1, nil)
			}
		}
		if r.runID == "" || r.endSent {
			return
		}
		e.endRun(r, e.tr.EndIncomplete(&r.state, w.why))
	case workRecords:
		e.sendRecords(r, w) // logs.go
	}
	e.st.emit()
}

func (e *Exporter) noteIssues(issues []bridge.Issue) {
	for _, is := range issues {
		switch {
		case is.Reason == bridge.ReasonContentNotCaptured:
			// A setting, not a loss: counted, said once (AlterNotice).
			e.st.alter(is.Reason, int64(is.Count))
		case is.Kind == bridge.Dropped:
			e.st.drop("", is.Reason, int64(is.Count), nil)
		default:
			e.st.alter(is.Reason, int64(is.Count))
		}
	}
}

// workDone retires a work item.
func (e *Exporter) workDone(w *work) {
	e.st.inflightSpans.Add(-int64(len(w.spans)))
	e.inflightBytes.Add(-int64(w.bytes))
	e.mu.Lock()
	delete(e.works, w)
	e.recordsDoneLocked(w) // logs.go
	// The run keeps its last work (run.last) for its waiters: not the
	// spans, which a remembered trace must not hold.
	w.spans, w.root = nil, nil
	e.mu.Unlock()
	close(w.done)
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

// send delivers one plan: agent, run start, spans (each after its
// parent), then closes and events (each after its span), then the run's
// end once all of them were answered.
func (e *Exporter) send(r *run, p *bridge.RunPlan) {
	// nil unless r is linked to the run of its remote parent (remote.go).
	e.sendRun(r, p, e.remoteParent(r))
	// Child runs of invoked agents, parents first: each is started under
	// the run that invoked it, once that one exists.
	for i := range p.ChildRuns {
		c := &p.ChildRuns[i]
		parent := r
		if c.Parent.IsValid() {
			parent = r.children[c.Parent]
		}
		if r.children == nil {
			r.children = map[trace.SpanID]*run{}
		}
		cr := r.children[c.Key]
		if cr == nil {
			cr = &run{key: c.Key, traceID: r.traceID}
			r.children[c.Key] = cr
		}
		e.sendRun(cr, &c.Plan, parent)
		if c.Delegation != nil {
			e.emitDelegation(parent, cr, *c.Delegation)
		}
	}
}

// emitDelegation emits, in the invoking run parent, the event that shows
// it invoked the child run cr (Ezop's pages read no parent_run_id): with
// the child run's and agent's ids once they exist.
func (e *Exporter) emitDelegation(parent, cr *run, ev wire.EmitEventRequest) {
	if parent == nil || parent.runID == "" {
		e.drop(kindEvent, "delegation: invoking run not started", 1, nil)
		return
	}
	meta := make(wire.Object, len(ev.Metadata)+2)
	for k, v := range ev.Metadata {
		meta[k] = v
	}
	if cr.runID != "" {
		meta["child_run_id"] = cr.runID
	}
	if cr.agentID != "" {
		meta["child_agent_id"] = cr.agentID
	}
	ev.Metadata = meta
	if _, failed := parent.failed[ev.SpanID]; failed && ev.SpanID != "" {
		ev.SpanID = ""
		delete(ev.Metadata, bridge.ParentSpanIDKey)
		e.st.alter(reasonRehomedEvent, 1)
	}
	if err := e.quotaErr(); err != nil {
		e.drop(kindEvent, failReason("emit", err), 1, err)
		return
	}
	err := e.call(func(ctx context.Context) error {
		_, err := e.api.EmitEvent(ctx, parent.runID, ev)
		return err
	})
	if err != nil {
		e.quotaFailed(err)
		e.drop(kindEvent, failReason("emit", err), 1, err)
		return
	}
	e.st.eventsSent.Add(1)
}

// sendRun delivers the plan p of run r; parent is the run that invoked r
// (a child run of another agent), nil for a run of its own.
func (e *Exporter) sendRun(r *run, p *bridge.RunPlan, parent *run) {
	// Runs linked to r wait for its first start attempt (remote.go).
	defer func() { r.link.noteStarted(r.runID, r.agentID) }()
	if err := e.authErr(); err != nil {
		e.dropPlan(r, p, "auth", err)
		return
	}
	if parent != nil && (parent.runID == "" || parent.agentID == "") {
		e.dropPlan(r, p, "child run: invoking run not started", nil)
		return
	}
	ag, err := e.ensureAgent(p.Agent)
	if err != nil {
		e.dropPlan(r, p, failReason("agent registration", err), err)
		return
	}
	r.agentID = ag.agentID
	start := p.Start
	start.VersionID = ag.versionID
	if parent != nil {
		// Ezop's model of an agent calling an agent.
		start.TriggerType = "agent"
		start.ParentRunID, start.TriggerID = parent.runID, parent.agentID
	}
	if r.runID == "" {
		start = e.loadRun(r, start)
	}
	if r.runID == "" {
		e.saveIntent(r)
		var rec wire.Run
		err := e.call(func(ctx context.Context) (err error) {
			rec, err = e.api.StartRun(ctx, ag.agentID, start)
			return err
		})
		if isAgentNotFound(err) {
			// The agent was deleted since it was cached: register again,
			// once.
			e.agents.forget(p.Agent.Key(), ag)
			if ag, err = e.ensureAgent(p.Agent); err == nil {
				start.VersionID = ag.versionID
				err = e.call(func(ctx context.Context) (err error) {
					rec, err = e.api.StartRun(ctx, ag.agentID, start)
					return err
				})
			}
		}
		if err != nil {
			e.dropPlan(r, p, failReason("run start", err), err)
			return
		}
		r.runID = rec.ID
		e.st.runsStarted.Add(1)
		e.saveRun(r)
		if parent == nil {
			e.saveTraceRun(r) // records_durable.go
		}
	}
	r.link.noteStarted(r.runID, r.agentID)

	e.sendGraph(r, p)

	if p.End != nil {
		if r.endSent {
			// Cannot happen by design (ending is decided once); kept as a
			// guard, since a second end would move the run's end time.
			e.st.alter("run: end already sent; not sent again", 1)
			return
		}
		e.endRun(r, *p.End)
	}
}

// endRun sends the run's end, once.
func (e *Exporter) endRun(r *run, end wire.EndRunRequest) {
	r.endSent = true
	err := e.call(func(ctx context.Context) error {
		_, err := e.api.EndRun(ctx, r.runID, end)
		return err
	})
	if err != nil {
		e.drop(kindRun, partReason("end", err), 1, err)
		return
	}
	e.st.runsEnded.Add(1)
	e.saveRun(r)
}

// drop counts and reports a drop; it must not be called under e.mu.
func (e *Exporter) drop(kind, reason string, n int64, err error) {
	e.st.drop(kind, reason, n, err)
	e.st.emit()
}

// dropPlan counts everything of p as dropped for reason.
func (e *Exporter) dropPlan(r *run, p *bridge.RunPlan, reason string, err error) {
	if len(p.Spans) == 1 && p.Spans[0].Root && p.Spans[0].Close.EndTime == "" {
		// A live start: the root's own part creates the run and the root
		// span when the root ends. Until then spans hang at run level.
		r.noteFailed(p.Spans[0].Create.ID, e.cfg.maxSpansPerTrace)
		return
	}
	e.drop(kindSpan, reason, int64(len(p.Spans)), err)
	e.drop(kindEvent, reason, int64(len(p.Events)), err)
	switch {
	case p.End != nil && r.runID != "":
		e.drop(kindRun, "end: "+reason, 1, err)
	case p.End != nil:
		// The run was never created: it is lost with its outcome.
		e.drop(kindRun, reason, 1, err)
	}
	if p.End != nil && r.runID != "" {
		r.endSent = true
	}
	for _, op := range p.Spans {
		r.noteFailed(op.Create.ID, e.cfg.maxSpansPerTrace)
	}
}

// graph sends the spans and events of one plan, respecting their
// dependencies: a span once its parent is stored, a close or an event once
// its span is stored. Ready requests go to the pool at once, so a plan
// takes about as many round trips as its tree is deep.
type graph struct {
	e *Exporter
	r *run
	p *bridge.RunPlan
	// children and events index p.Spans and p.Events by the index of the
	// span of this plan they depend on.
	children [][]int
	events   [][]int
	stored   []bool
	wg       sync.WaitGroup
}

func (e *Exporter) sendGraph(r *run, p *bridge.RunPlan) {
	g := &graph{
		e: e, r: r, p: p,
		children: make([][]int, len(p.Spans)),
		events:   make([][]int, len(p.Spans)),
		stored:   make([]bool, len(p.Spans)),
	}
	index := make(map[string]int, len(p.Spans))
	for i, op := range p.Spans {
		index[op.Create.ID] = i
	}
	var readySpans, readyEvents []int
	for i, op := range p.Spans {
		parent := op.Create.ParentID
		if pi, ok := index[parent]; ok && parent != "" && pi < i {
			g.children[pi] = append(g.children[pi], i)
			continue
		}
		if _, failed := r.failed[parent]; failed && parent != "" {
			g.rehomeSpan(i)
		}
		readySpans = append(readySpans, i)
	}
	for k, ev := range p.Events {
		if si, ok := index[ev.SpanID]; ok && ev.SpanID != "" {
			g.events[si] = append(g.events[si], k)
			continue
		}
		if _, failed := r.failed[ev.SpanID]; failed && ev.SpanID != "" {
			g.rehomeEvent(k)
		}
		readyEvents = append(readyEvents, k)
	}
	for _, i := range readySpans {
		g.create(i)
	}
	for _, k := range readyEvents {
		g.emit(k)
	}
	g.wg.Wait()

	for i, op := range p.Spans {
		if g.stored[i] {
			delete(r.failed, op.Create.ID) // a root stored after a failed live start
		} else {
			r.noteFailed(op.Create.ID, e.cfg.maxSpansPerTrace)
		}
	}
}

// noteFailed remembers that span id could not be stored, within limit
// ids: later spans and events that name it are sent without it.
func (r *run) noteFailed(id string, limit int) {
	if r.failed == nil {
		r.failed = map[string]struct{}{}
	}
	if len(r.failed) < limit {
		r.failed[id] = struct{}{}
	}
}

// Reasons of spans and events sent without the span they hang off.
const (
	reasonRehomedSpan  = "span: parent span not stored: attached at run level"
	reasonRehomedEvent = "event: span not stored: attached to the run"
)

// rehomeSpan sends span i without its parent, which was not stored.
func (g *graph) rehomeSpan(i int) {
	g.p.Spans[i].Create.ParentID = ""
	g.e.st.alter(reasonRehomedSpan, 1)
}

// rehomeEvent sends event k at run level, its span not being stored.
func (g *graph) rehomeEvent(k int) {
	ev := &g.p.Events[k]
	ev.SpanID = ""
	delete(ev.Metadata, bridge.ParentSpanIDKey)
	g.e.st.alter(reasonRehomedEvent, 1)
}

// create sends span i, then what depends on it. The root span of a live
// run may be stored already: then only its close and events go.
func (g *graph) create(i int) {
	g.wg.Add(1)
	g.e.pool.submit(true, func() {
		defer g.wg.Done()
		op := g.p.Spans[i]
		if !(op.Root && g.r.rootStored) {
			err := g.e.request(func(ctx context.Context) error {
				_, err := g.e.api.CreateSpan(ctx, g.r.runID, op.Create)
				return err
			})
			if err != nil && g.e.replayedDuplicate(g.r, err) {
				err = nil
			}
			if err != nil {
				g.e.drop(kindSpan, failReason("create", err), 1, err)
				g.lose(i)
				return
			}
			if op.Root {
				g.r.rootStored = true
			}
			g.e.st.spansSent.Add(1)
		}
		g.stored[i] = true
		for _, c := range g.children[i] {
			g.create(c)
		}
		if op.Close.EndTime != "" {
			g.close(i)
		}
		for _, k := range g.events[i] {
			g.emit(k)
		}
	})
}

// lose sends what depends on span i, which was not stored, without it.
func (g *graph) lose(i int) {
	for _, c := range g.children[i] {
		g.rehomeSpan(c)
		g.create(c)
	}
	for _, k := range g.events[i] {
		g.rehomeEvent(k)
		g.emit(k)
	}
}

func (g *graph) close(i int) {
	g.wg.Add(1)
	g.e.pool.submit(false, func() {
		defer g.wg.Done()
		op := g.p.Spans[i]
		err := g.e.request(func(ctx context.Context) error {
			_, err := g.e.api.CloseSpan(ctx, op.Create.ID, op.Close)
			return err
		})
		if err != nil {
			// The span is stored, without its end time.
			g.e.drop(kindSpan, partReason("end time", err), 1, err)
		}
	})
}

func (g *graph) emit(k int) {
	g.wg.Add(1)
	g.e.pool.submit(false, func() {
		defer g.wg.Done()
		if err := g.e.quotaErr(); err != nil {
			g.e.drop(kindEvent, failReason("emit", err), 1, err)
			return
		}
		err := g.e.request(func(ctx context.Context) error {
			_, err := g.e.api.EmitEvent(ctx, g.r.runID, g.p.Events[k])
			return err
		})
		if err != nil && g.e.replayedDuplicate(g.r, err) {
			g.r.noteStored(g.p.Events[k].ID) // records_durable.go
			err = nil
		}
		if err != nil {
			g.e.quotaFailed(err)
			g.e.drop(kindEvent, failReason("emit", err), 1, err)
			return
		}
		g.e.st.eventsSent.Add(1)
	})
}

// call makes one API call on the pool (within the concurrency bound) and
// waits for it; see request.
func (e *Exporter) call(f func(ctx context.Context) error) error {
	var err error
	e.pool.do(func() { err = e.request(f) })
	return err
}

// request makes one API call with the exporter's context, unless the API
// key was refused lately; it notes a refused key.
func (e *Exporter) request(call func(ctx context.Context) error) error {
	if err := e.authErr(); err != nil {
		return err
	}
	if err := e.bg.Err(); err != nil {
		return errShutdownAbort
	}
	e.st.requests.Add(1)
	e.st.inflightReq.Add(1)
	t := e.met.opStart() // metrics.go: zero when not recorded
	err := call(e.bg)
	e.met.opEnd(t, err)
	e.st.inflightReq.Add(-1)
	if errors.Is(err, client.ErrAuth) {
		e.authFailed(err)
	}
	return err
}

// errShutdownAbort marks work abandoned when Shutdown's deadline passed.
var errShutdownAbort = errors.New("ezop exporter: shutdown deadline passed")

// errAuthPaused is what requests fail with while sending is paused after
// the server refused the API key.
type errAuthPaused struct{ until time.Time }

func (e errAuthPaused) Error() string {
	return "ezop exporter: not sending: the API key was refused; next try after " + e.until.Format(time.RFC3339)
}

func (e errAuthPaused) Is(target error) bool { return target == client.ErrAuth }

func (e *Exporter) authErr() error {
	e.authMu.Lock()
	defer e.authMu.Unlock()
	if !e.authUntil.IsZero() && e.cfg.now().Before(e.authUntil) {
		return errAuthPaused{until: e.authUntil}
	}
	return nil
}

// authFailed pauses sending and reports it once per pause.
func (e *Exporter) authFailed(err error) {
	now := e.cfg.now()
	e.authMu.Lock()
	already := !e.authUntil.IsZero() && now.Before(e.authUntil)
	if !already {
		e.authUntil = now.Add(e.cfg.authPause)
	}
	e.authMu.Unlock()
	if !already {
		e.st.report(fmt.Errorf("ezop exporter: the Ezop API refused the API key; not sending for %s (check EZOP_API_KEY): %w", e.cfg.authPause, err))
	}
}

// quotaPause is how long the exporter stops emitting events after the
// server refused one for the plan's event quota (a 429 without
// Retry-After, which waiting does not clear): meanwhile events are dropped
// and counted without a request, so that a spent quota costs neither a
// retry storm nor pool workers that runs and spans need.
const quotaPause = time.Minute

// quotaGate is the event pause; err is the refusal that started it.
type quotaGate struct {
	mu    sync.Mutex
	until time.Time
	err   error
}

// quotaErr returns the quota refusal while events are paused.
func (e *Exporter) quotaErr() error {
	e.quota.mu.Lock()
	defer e.quota.mu.Unlock()
	if e.quota.err != nil && e.cfg.now().Before(e.quota.until) {
		return e.quota.err
	}
	return nil
}

// quotaFailed pauses events if err is a quota refusal, and reports it once
// per pause.
func (e *Exporter) quotaFailed(err error) {
	var ae *client.APIError
	if !errors.Is(err, client.ErrRateLimited) || !errors.As(err, &ae) || ae.RetryAfter > 0 {
		return
	}
	now := e.cfg.now()
	e.quota.mu.Lock()
	already := e.quota.err != nil && now.Before(e.quota.until)
	if !already {
		e.quota.until, e.quota.err = now.Add(quotaPause), err
	}
	e.quota.mu.Unlock()
	if !already {
		e.st.report(fmt.Errorf("ezop exporter: the Ezop plan's event quota is used up; not emitting events for %s: %w", quotaPause, err))
	}
}

// failReason names why an operation failed, for Stats.Dropped: the error
// kind, and for a refusal the server's message.
func failReason(op string, err error) string {
	var ae *client.APIError
	hasAPI := errors.As(err, &ae)
	var why string
	switch {
	case errors.Is(err, client.ErrAuth):
		return "auth"
	case errors.Is(err, errShutdownAbort), errors.Is(err, context.Canceled):
		return "shutdown deadline passed"
	case errors.Is(err, client.ErrValidation):
		why = "validation"
	case errors.Is(err, client.ErrNotFound):
		why = "not found"
	case errors.Is(err, client.ErrRateLimited):
		why = "rate limited"
	case errors.Is(err, client.ErrServer):
		why = "server error"
	case errors.Is(err, client.ErrTransport):
		why = "transport error"
	case errors.Is(err, client.ErrUnavailable):
		return op + " failed: outage longer than the limit (WithMaxOutage)"
	case errors.Is(err, client.ErrInvalidArgument):
		why = "invalid argument"
	default:
		why = "error"
	}
	if hasAPI && ae.Message != "" && !errors.Is(err, client.ErrTransport) {
		why += ": " + shorten(ae.Message, 120)
	}
	return op + " failed: " + why
}

// partReason is failReason for the part op of something already stored
// (a span's end time, a run's end): it names op even where failReason
// leaves it out (auth, shutdown), so that Stats tell a lost part from a
// lost whole.
func partReason(op string, err error) string {
	r := failReason(op, err)
	if !strings.HasPrefix(r, op) {
		r = op + ": " + r
	}
	return r
}

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

func isAgentNotFound(err error) bool {
	var ae *client.APIError
	return errors.Is(err, client.ErrNotFound) && errors.As(err, &ae) && strings.Contains(ae.Message, "Agent not found")
}
