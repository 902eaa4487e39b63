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

// run is one Ezop run. Its plans are sent one after the other, in the
// order they were translated, by one drainer goroutine at a time; the
// requests of one plan go in parallel on the shared pool.
type run struct {
	traceID trace.TraceID
	// state is guarded by Exporter.mu (translation happens under it).
	state bridge.RunState
	// live says the run was started by the live processor and its root
	// has not reached the exporter yet; liveEnd is the root as it ended,
	// kept in case it never does, since liveEndAt. Guarded by Exporter.mu.
	live      bool
	liveEnd   sdktrace.ReadOnlySpan
	liveEndAt time.Time

	mu       sync.Mutex
	queue    []*job
	draining bool

	// Owned by the drainer.
	runID   string
	agentID string
	// children are the child runs of agents this run invoked, by the OTel
	// id of the invoking span (bridge.ChildRun.Key).
	children map[trace.SpanID]*run
	ended    bool
	failed   map[string]struct{} // Ezop span ids whose create failed

	// link is the run's side of remote parent linking (remote.go).
	link runLink
}

// job is one plan to send; done is closed once it is delivered or given up
// on.
type job struct {
	plan bridge.RunPlan
	done chan struct{}
}

// enqueue queues j on r and starts r's drainer if none runs.
func (e *Exporter) enqueue(r *run, j *job) {
	r.mu.Lock()
	r.queue = append(r.queue, j)
	start := !r.draining
	r.draining = true
	r.mu.Unlock()
	if start {
		e.drainers.Add(1)
		go e.drain(r)
	}
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
		j := r.queue[0]
		r.queue[0] = nil
		r.queue = r.queue[1:]
		r.mu.Unlock()
		e.send(r, j)
		e.jobDone(j)
	}
}

// send delivers one plan: agent, run start, spans (each after its
// parent), then closes and events (each after its span), then the run's
// end once all of them were answered.
func (e *Exporter) send(r *run, j *job) {
	p := &j.plan
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
			cr = &run{traceID: r.traceID}
			r.children[c.Key] = cr
		}
		e.sendRun(cr, &c.Plan, parent)
	}
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
	if r.runID == "" {
		start := p.Start
		start.VersionID = ag.versionID
		if parent != nil {
			// Ezop's model of an agent calling an agent.
			start.TriggerType = "agent"
			start.ParentRunID, start.TriggerID = parent.runID, parent.agentID
		}
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
	}
	r.link.noteStarted(r.runID, r.agentID)

	e.sendGraph(r, p)

	if p.End != nil {
		err := e.call(func(ctx context.Context) error {
			_, err := e.api.EndRun(ctx, r.runID, *p.End)
			return err
		})
		if err != nil {
			e.drop(kindRun, partReason("end", err), 1, err)
			return
		}
		if !r.ended {
			r.ended = true
			e.st.runsEnded.Add(1)
		}
	}
}

// drop counts and reports a drop; it must not be called under e.mu.
func (e *Exporter) drop(kind, reason string, n int64, err error) {
	e.st.drop(kind, reason, n, err)
	e.st.emit()
}

// dropPlan counts everything of p as dropped for reason.
func (e *Exporter) dropPlan(r *run, p *bridge.RunPlan, reason string, err error) {
	e.drop(kindSpan, reason, int64(len(p.Spans)), err)
	e.drop(kindEvent, reason, int64(len(p.Events)), err)
	switch {
	case p.End != nil && r.runID != "":
		e.drop(kindRun, "end: "+reason, 1, err)
	case p.End != nil:
		// The run was never created: it is lost with its outcome.
		e.drop(kindRun, reason, 1, err)
	}
	if len(p.Spans) > 0 && r.failed == nil {
		r.failed = map[string]struct{}{}
	}
	for _, op := range p.Spans {
		r.failed[op.Create.ID] = struct{}{}
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
	var lostSpans []int
	var lostEvents int64
	for i, op := range p.Spans {
		parent := op.Create.ParentID
		if pi, ok := index[parent]; ok && parent != "" && pi < i {
			g.children[pi] = append(g.children[pi], i)
			continue
		}
		if _, failed := r.failed[parent]; failed && parent != "" {
			lostSpans = append(lostSpans, i)
			continue
		}
		readySpans = append(readySpans, i)
	}
	for k, ev := range p.Events {
		if si, ok := index[ev.SpanID]; ok && ev.SpanID != "" {
			g.events[si] = append(g.events[si], k)
			continue
		}
		if _, failed := r.failed[ev.SpanID]; failed && ev.SpanID != "" {
			lostEvents++
			continue
		}
		readyEvents = append(readyEvents, k)
	}
	e.drop(kindEvent, "span not stored", lostEvents, nil)
	for _, i := range lostSpans {
		e.drop(kindSpan, "parent span not stored", 1, nil)
		g.lose(i)
	}
	for _, i := range readySpans {
		g.create(i)
	}
	for _, k := range readyEvents {
		g.emit(k)
	}
	g.wg.Wait()

	for i, op := range p.Spans {
		if !g.stored[i] {
			if r.failed == nil {
				r.failed = map[string]struct{}{}
			}
			r.failed[op.Create.ID] = struct{}{}
		}
	}
}

// create sends span i, then what depends on it.
func (g *graph) create(i int) {
	g.wg.Add(1)
	g.e.pool.submit(true, func() {
		defer g.wg.Done()
		op := g.p.Spans[i]
		err := g.e.request(func(ctx context.Context) error {
			_, err := g.e.api.CreateSpan(ctx, g.r.runID, op.Create)
			return err
		})
		if err != nil {
			g.e.drop(kindSpan, failReason("create", err), 1, err)
			g.lose(i)
			return
		}
		g.stored[i] = true
		g.e.st.spansSent.Add(1)
		for _, c := range g.children[i] {
			g.create(c)
		}
		g.close(i)
		for _, k := range g.events[i] {
			g.emit(k)
		}
	})
}

// lose drops what depends on span i, which was not stored.
func (g *graph) lose(i int) {
	g.e.drop(kindEvent, "span not stored", int64(len(g.events[i])), nil)
	for _, c := range g.children[i] {
		g.e.drop(kindSpan, "parent span not stored", 1, nil)
		g.lose(c)
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
	err := call(e.bg)
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
