package exporter

import (
	"sync"
	"time"
)

// Remote parent linking: a local root span whose parent is remote (it
// continues a trace another process started) is, with
// WithRemoteParentLinking, sent as a child run of the run that holds that
// parent span, when this exporter sees that run too. One process never
// sees the other process's spans; an exporter fed by an OpenTelemetry
// Collector sees every service of a trace, so service A's run can become
// the parent of the run of the service B it called.
//
// In the lifecycle (lifecycle.go), rootRunLocked holds a root whose remote
// parent is not placed yet (pendingSpan.held); resolveLocked places it as
// soon as the parent is; releaseHeldLocked lets it go as a run of its own
// when the parent was not seen within the link wait. The drainer then
// waits for the parent run's start (remoteParent) before starting it.

// Reasons counted in Stats.Altered.
const (
	reasonRemoteNotSeen  = "run: remote parent span not seen within the link wait; sent as a run of its own"
	reasonRemoteNoParent = "run: the run of its remote parent span was not started; sent as a run of its own"
)

// minRemoteStartWait is the least a run waits for the start of the run of
// its remote parent span (the root wait, if longer): enough for the start
// request's retries.
const minRemoteStartWait = time.Minute

// WithRemoteParentLinking links runs across processes: a local root span
// whose remote parent span belongs to a run this exporter knows (the
// parent is a span it has seen, whose own root it has seen or whose run it
// sent) becomes a child run of that run, with trigger type agent, Ezop's
// model of an agent calling an agent. While linking is on, a root whose
// remote parent is not placed yet waits for it (below), then is sent as a
// run of its own (counted in Stats.Altered); its metadata keeps the
// parent's id (otel.parent_span_id) either way. The parent run is the run of the parent span's local root,
// not a child run that root's agent invoked in its own process.
//
// A root whose parent span was not seen waits the link wait
// (WithRemoteParentWait); one whose parent was seen, but not yet placed in
// a run (it waits for its own root), waits with it, within the root wait.
//
// It is useful only when the exporter sees the spans of several services,
// as in an OpenTelemetry Collector: in one process a remote parent is never
// seen, and roots with one would wait for nothing. Runs started early by
// the live processor are not linked. Default: off.
func WithRemoteParentLinking(on bool) Option {
	return optionFunc(func(c config) config {
		c.remoteLinking = on
		return c
	})
}

// runLink is a run's side of remote linking: the run of its root's remote
// parent span, and the outcome of its own start for runs linked to it.
type runLink struct {
	mu sync.Mutex
	// parent is the run that holds the remote parent span of this run's
	// root; nil when not linked.
	parent *run
	// started is closed once the run's first start attempt is over; runID
	// and agentID are then its outcome (empty when it failed).
	started chan struct{}
	done    bool
	runID   string
	agentID string
}

func (l *runLink) setParent(p *run) {
	l.mu.Lock()
	l.parent = p
	l.mu.Unlock()
}

func (l *runLink) getParent() *run {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.parent
}

// closedChan is returned to waiters of a start already over.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// wait returns a channel closed once the run's first start attempt is
// over. The channel is made only for a waiter: most runs have none.
func (l *runLink) wait() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return closedChan
	}
	if l.started == nil {
		l.started = make(chan struct{})
	}
	return l.started
}

// noteStarted records the outcome of the run's first start attempt; later
// calls do nothing. Called by the run's drainer.
func (l *runLink) noteStarted(runID, agentID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return
	}
	l.done = true
	l.runID, l.agentID = runID, agentID
	if l.started != nil {
		close(l.started)
	}
}

func (l *runLink) result() (runID, agentID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.runID, l.agentID
}

// remoteParent returns the run that invoked r across processes, for
// sendRun, once that run has started: a copy holding its run and agent ids
// only. It returns nil when r is not linked, is started already, or the
// parent run did not start in time (r then goes as a run of its own).
// Called by r's drainer.
func (e *Exporter) remoteParent(r *run) *run {
	if r.runID != "" {
		return nil
	}
	p := r.link.getParent()
	if p == nil {
		return nil
	}
	// One try: a later plan of r does not wait again.
	r.link.setParent(nil)
	t := time.NewTimer(max(e.cfg.rootWait, minRemoteStartWait))
	defer t.Stop()
	select {
	case <-p.link.wait():
	case <-t.C:
	case <-e.bg.Done():
	}
	runID, agentID := p.link.result()
	if runID == "" || agentID == "" {
		e.st.alter(reasonRemoteNoParent, 1)
		e.st.emit()
		return nil
	}
	return &run{traceID: r.traceID, runID: runID, agentID: agentID}
}

// releaseHeldLocked lets roots of ts that waited for their remote parent
// go as runs of their own, when that parent was not seen within the link
// wait. A root whose parent was seen (it waits for its own root) keeps
// waiting, within the root wait.
func (e *Exporter) releaseHeldLocked(ts *traceState, now time.Time) {
	var n int64
	for _, p := range ts.pending {
		if !p.held || now.Sub(p.at) < e.cfg.linkWait {
			continue
		}
		if _, seen := ts.pending[p.s.Parent().SpanID()]; seen {
			continue
		}
		p.released = true
		n++
	}
	if n == 0 {
		return
	}
	e.st.alter(reasonRemoteNotSeen, n)
	e.resolveLocked(ts, now, nil)
	e.settleLocked(ts, now)
}

// DefaultRemoteParentWait is how long a root waits for a remote parent
// span that has not been seen (WithRemoteParentWait).
const DefaultRemoteParentWait = 10 * time.Second

// WithRemoteParentWait sets how long, with WithRemoteParentLinking, a root
// span waits for its remote parent span when the exporter has not seen
// that span: its run then goes as a run of its own. A remote parent
// usually ends, and arrives, within its process's batch delay after the
// root does (5s by default in the SDKs). Zero or a negative value takes
// the default, DefaultRemoteParentWait.
func WithRemoteParentWait(d time.Duration) Option {
	return optionFunc(func(c config) config {
		c.linkWait = d
		return c
	})
}
