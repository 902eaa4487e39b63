package exporter

import (
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/bridge"
)

// Remote parent linking: a local root span whose parent is remote (it
// continues a trace another process started) is, with
// WithRemoteParentLinking, sent as a child run of the run that holds that
// parent span, when this exporter sees that run too. One process never
// sees the other process's spans; an exporter fed by an OpenTelemetry
// Collector sees every service of a trace, so service A's run can become
// the parent of the run of the service B it called.
//
// Hooks: acceptTraceLocked calls linkRootsLocked (which roots may be placed
// now, and the links found) and bindLinksLocked (record the links on the
// runs); flushLocked calls releaseHeldLocked (roots whose parent did not
// come in time go as runs of their own); send calls remoteParent (wait
// until the parent run has started); sendRun calls run.link.noteStarted.

// Reasons counted in Stats.Altered.
const (
	reasonRemoteNotSeen  = "run: remote parent span not seen within the root wait; sent as a run of its own"
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
// remote parent was not seen yet waits for it, within the root wait and the
// buffer limits, then is sent as a run of its own (counted in
// Stats.Altered); its metadata keeps the parent's id (otel.parent_span_id)
// either way. The parent run is the run of the parent span's local root,
// not a child run that root's agent invoked in its own process.
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

// wait returns a channel closed once the run's first start attempt is
// over.
func (l *runLink) wait() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
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
	if l.started == nil {
		l.started = make(chan struct{})
	}
	close(l.started)
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

// linkRootsLocked sorts the local roots of a trace for placement when
// linking is on. batchRoots are the roots of the new batch; roots held
// back before (waiting in ts.pending for their remote parent) are looked at
// again. It returns the roots to place now, and for each of them that has
// a remote parent in a known run, the parent span's id. Roots whose remote
// parent is not known yet are left out: they and their descendants wait.
func (e *Exporter) linkRootsLocked(ts *traceState, batchRoots []trace.SpanID, cand map[trace.SpanID]sdktrace.ReadOnlySpan) ([]trace.SpanID, map[trace.SpanID]trace.SpanID) {
	all := append([]trace.SpanID(nil), batchRoots...)
	inBatch := make(map[trace.SpanID]bool, len(batchRoots))
	for _, r := range batchRoots {
		inBatch[r] = true
	}
	for sid, s := range ts.pending {
		if bridge.IsLocalRoot(s) && !inBatch[sid] {
			all = append(all, sid) // held back before
		}
	}

	known := make(map[trace.SpanID]bool, len(ts.runs)+len(all))
	for r := range ts.runs {
		known[r] = true
	}
	var roots, undecided []trace.SpanID
	for _, r := range all {
		p := cand[r].Parent()
		if known[r] || !p.IsValid() || !p.IsRemote() {
			roots = append(roots, r)
			known[r] = true
			continue
		}
		undecided = append(undecided, r)
	}
	if len(undecided) == 0 {
		return roots, nil
	}
	// A root may hang off another remote root of the same batch (a chain
	// of services): decide until nothing changes.
	links := map[trace.SpanID]trace.SpanID{}
	for progress := true; progress; {
		progress = false
		rest := undecided[:0]
		for _, r := range undecided {
			pid := cand[r].Parent().SpanID()
			if pr, ok := rootOfLocked(ts, pid, cand, known); ok && pr != r {
				roots = append(roots, r)
				known[r] = true
				links[r] = pid
				progress = true
				continue
			}
			rest = append(rest, r)
		}
		undecided = rest
	}
	return roots, links
}

// rootOfLocked returns the key of the known run that span id belongs to:
// the span's own key when it is a known root, its owner when it was
// translated, else what its parents in cand lead to.
func rootOfLocked(ts *traceState, id trace.SpanID, cand map[trace.SpanID]sdktrace.ReadOnlySpan, known map[trace.SpanID]bool) (trace.SpanID, bool) {
	for range len(cand) + 1 {
		if known[id] {
			return id, true
		}
		if o, ok := ts.owner[id]; ok {
			if _, run := ts.runs[o]; run {
				return o, true
			}
			return trace.SpanID{}, false
		}
		s, ok := cand[id]
		if !ok || bridge.IsLocalRoot(s) {
			return trace.SpanID{}, false
		}
		id = s.Parent().SpanID()
	}
	return trace.SpanID{}, false // a parent cycle
}

// bindLinksLocked records, after the roots were registered in ts.runs,
// each link of links (root → remote parent span) on the root's run, making
// the runs it needs.
func (e *Exporter) bindLinksLocked(ts *traceState, links map[trace.SpanID]trace.SpanID, cand map[trace.SpanID]sdktrace.ReadOnlySpan) {
	known := make(map[trace.SpanID]bool, len(ts.runs))
	for r := range ts.runs {
		known[r] = true
	}
	for r, pid := range links {
		pr, ok := rootOfLocked(ts, pid, cand, known)
		if !ok || pr == r {
			continue
		}
		parent := ts.runs[pr]
		if parent == nil {
			parent = &run{traceID: ts.id}
			ts.runs[pr] = parent
		}
		rn := ts.runs[r]
		if rn == nil {
			rn = &run{traceID: ts.id}
			ts.runs[r] = rn
		}
		// Never wait in a circle (malformed parent links).
		cycle := false
		for x, n := parent, 0; x != nil && n <= len(ts.runs); x, n = x.link.getParent(), n+1 {
			if x == rn {
				cycle = true
				break
			}
		}
		if !cycle {
			rn.link.setParent(parent)
		}
	}
}

// releaseHeldLocked sends the roots of ts still waiting for their remote
// parent (its root wait passed, or a flush) as runs of their own, with the
// descendants waiting for them.
func (e *Exporter) releaseHeldLocked(ts *traceState) {
	var held int64
	for sid, s := range ts.pending {
		if bridge.IsLocalRoot(s) {
			if _, known := ts.runs[sid]; !known {
				ts.runs[sid] = nil // a run of its own, made when placed
				held++
			}
		}
	}
	if held == 0 {
		return
	}
	e.st.alter(reasonRemoteNotSeen, held)
	e.acceptTraceLocked(ts.id, nil)
}
