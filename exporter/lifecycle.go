package exporter

import (
	"container/list"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/bridge"
)

// The lifecycle of traces and runs.
//
// Everything that changes what the exporter knows of a trace is an event
// handled by one function of this file, under Exporter.mu: spans handed to
// ExportSpans (placeLocked), a root span starting or ending under the live
// processor (liveStartLocked, liveEndLocked), the janitor's tick (tickLocked:
// root wait, link wait, a live root the batcher dropped, forgetting),
// ForceFlush and Shutdown. None of them calls user code, blocks, or makes a
// request: they decide where spans go and queue work on runs. Each run's
// work is translated (where the redaction hook runs) and sent by the run's
// own drainer goroutine, outside the lock, in the order it was queued
// (send.go).
//
// A trace is in one of these states:
//
//	waiting     some of its spans are pending: their run is not known yet
//	            (their local root has not arrived, or a span of their parent
//	            chain has not). In Exporter.waiting, oldest first.
//	open        nothing pending, but a run started live whose root has not
//	            arrived (bounded by WithMaxLiveRuns).
//	remembered  nothing pending, no live run open: its span ids and runs are
//	            kept so that late spans join their run, for the late-span
//	            window and within WithMaxRememberedBytes. In
//	            Exporter.remembered, least recently used first.
//	forgotten   removed. A run of it that had not ended is ended first.
//
// A run is created when its root arrives, when the live processor starts
// it, or when spans are sent without their root (root wait, a flush, room
// made for other traces): a rootless run, keyed by the id of the ancestor
// they miss, which that ancestor adopts if it comes. Its end is decided
// exactly once, when ending is set: by the part that brings its root, or by
// a finish order when its trace is forgotten or the exporter shuts down
// without the root. The drainer sends that end once (run.endSent), so every
// run that started ends, and ends once, whatever the timing.

// traceState is what the exporter knows of one trace.
type traceState struct {
	id trace.TraceID
	// pending are spans whose run is not known yet; since is when the
	// oldest of them arrived.
	pending map[trace.SpanID]*pendingSpan
	since   time.Time
	// runs by key: the local root's span id; a rootless run under the ids
	// of every ancestor its spans miss (several keys, one run).
	runs map[trace.SpanID]*run
	// index maps each placed span to its run (the top run: the
	// translation places spans of child runs). At most maxSpansPerTrace.
	index    map[trace.SpanID]*run
	livePins int // live runs whose root has not arrived
	held     int // pending roots waiting for their remote parent

	waitElem *list.Element // in Exporter.waiting while spans are pending
	memElem  *list.Element // in Exporter.remembered while remembered
	touched  time.Time     // last placement, for the late-span window
	size     int           // remembered-size estimate, in bytes
}

// pendingSpan is a span waiting for its run.
type pendingSpan struct {
	s     sdktrace.ReadOnlySpan
	bytes int
	at    time.Time
	// counted says the span is in the buffer's totals.
	counted bool
	// held marks a root waiting for its remote parent (remote.go);
	// released, a root that waits no more.
	held, released bool
	// gone, made only for a waiter of ExportSpansDelivered, is closed when
	// the span leaves pending (placed in a run, or dropped).
	gone chan struct{}
}

// Size estimates of what a remembered trace keeps, for
// WithMaxRememberedBytes: a trace, a run, and a span id (in the trace's
// index and in its run's translation state). Calibrated with
// BenchmarkRememberedTrace (internal/benchmarks): 2.3 KB measured for a
// trace of three spans (2.5 KB once log records are in use), 2.26 KB
// estimated.
const (
	traceBytes = 512
	runBytes   = 1240
	spanBytes  = 168
)

// Reasons counted in Stats.
const (
	reasonRootWait      = "run: spans sent without their root span: root wait passed; the root completes the run if it comes"
	reasonMadeRoom      = "run: spans sent before their root span: max traces waiting (WithMaxTraces)"
	reasonLiveFallback  = "run: root span did not reach the exporter (dropped by the batching processor?); ended from the live processor's copy"
	reasonLateRoot      = "run: root span arrived after its run was ended without it"
	reasonNotIndexed    = "span ids not remembered: max spans per trace; their late children are attached at run level"
	reasonRootNeverCame = "the run's root span never reached the exporter (dropped before export?): ended without it"
	reasonShutdownOpen  = "the exporter shut down before the run's root span ended"
	reasonShutdownLost  = "the exporter shut down before the run's root span arrived"
	reasonDuplicate     = "span: duplicate span id: the copy is ignored"
)

func (e *Exporter) traceLocked(id trace.TraceID) *traceState {
	ts := e.traces[id]
	if ts == nil {
		ts = &traceState{id: id, runs: map[trace.SpanID]*run{}, index: map[trace.SpanID]*run{}}
		e.traces[id] = ts
	}
	return ts
}

func (e *Exporter) newRunLocked(ts *traceState, key trace.SpanID) *run {
	r := &run{key: key, traceID: ts.id}
	ts.runs[key] = r
	return r
}

// placeLocked is the arrival of spans of one trace: duplicates are
// dropped, what can be placed in a run is queued on it, the rest waits.
func (e *Exporter) placeLocked(ts *traceState, fresh []*pendingSpan, now time.Time, out []*work) []*work {
	seen := make(map[trace.SpanID]bool, len(fresh))
	added := make([]*pendingSpan, 0, len(fresh))
	for _, p := range fresh {
		id := p.s.SpanContext().SpanID()
		_, waiting := ts.pending[id]
		r, placed := ts.index[id]
		if placed && r.key == id && r.live && !r.rootArrived && bridge.IsLocalRoot(p.s) {
			placed = false // a live run's root arriving: indexed at its start
		}
		if seen[id] || waiting || placed {
			// Span ids are unique in a trace; the translation keeps the
			// first too.
			// Not lost: the first copy is delivered, or counted.
			e.st.alter(reasonDuplicate, 1)
			continue
		}
		seen[id] = true
		p.at = now
		if ts.pending == nil {
			ts.pending = map[trace.SpanID]*pendingSpan{}
		}
		ts.pending[id] = p
		added = append(added, p)
	}
	out = e.resolveLocked(ts, now, out)
	for _, p := range added {
		if q := ts.pending[p.s.SpanContext().SpanID()]; q == p {
			e.bufferLocked(ts, p, now, &out)
		}
	}
	e.settleLocked(ts, now)
	return out
}

// resolveLocked places every pending span of ts whose run is known now,
// and queues each run's new part. It repeats while a round places
// something, since a root that waited for its remote parent may be placed
// once that parent is.
func (e *Exporter) resolveLocked(ts *traceState, now time.Time, out []*work) []*work {
	for {
		memo := make(map[trace.SpanID]*run, len(ts.pending))
		var placed []trace.SpanID
		for id := range ts.pending {
			if e.runOfLocked(ts, id, memo) != nil {
				placed = append(placed, id)
			}
		}
		if len(placed) == 0 {
			return out
		}
		out = e.assignLocked(ts, placed, memo, now, out)
	}
}

// runOfLocked returns the run the pending span id belongs to, or nil when
// that is not known yet: it walks up the parent chain through pending
// spans to a placed span (its run) or a local root (its run, made if
// needed). memo holds the answers of this round, nil for unknown.
func (e *Exporter) runOfLocked(ts *traceState, id trace.SpanID, memo map[trace.SpanID]*run) *run {
	var chain []trace.SpanID
	var r *run
	cur := id
	for steps := 0; steps <= len(ts.pending); steps++ {
		if v, ok := memo[cur]; ok {
			r = v
			break
		}
		p := ts.pending[cur]
		if p == nil {
			// A placed span's run, or the rootless run of the spans
			// that miss it; nil when nothing is known of it.
			if r = ts.index[cur]; r == nil {
				if rr := ts.runs[cur]; rr != nil && rr.rootless {
					r = rr
				}
			}
			break
		}
		chain = append(chain, cur)
		if bridge.IsLocalRoot(p.s) {
			r = e.rootRunLocked(ts, p, memo)
			break
		}
		if rr := ts.runs[cur]; rr != nil && rr.rootless {
			r = rr // the ancestor a rootless run's spans missed
			break
		}
		parent := p.s.Parent().SpanID()
		if parent == cur {
			break // its own parent: missing
		}
		cur = parent
	}
	for _, c := range chain {
		memo[c] = r
	}
	return r
}

// rootRunLocked returns the run of the pending local root p: the run
// already made for it (live, or rootless runs it adopts), else a new one.
// With remote parent linking, a root whose remote parent is not placed yet
// waits (nil), unless it was released.
func (e *Exporter) rootRunLocked(ts *traceState, p *pendingSpan, memo map[trace.SpanID]*run) *run {
	id := p.s.SpanContext().SpanID()
	if r := ts.runs[id]; r != nil {
		return r
	}
	parent := p.s.Parent()
	if !e.cfg.remoteLinking || !parent.IsValid() || !parent.IsRemote() || p.released {
		return e.newRunLocked(ts, id)
	}
	pr, ok := memo[parent.SpanID()]
	if !ok {
		if _, pend := ts.pending[parent.SpanID()]; !pend {
			pr = ts.index[parent.SpanID()]
		}
	}
	if pr == nil {
		if !p.held {
			p.held = true
			ts.held++
		}
		return nil
	}
	r := e.newRunLocked(ts, id)
	r.link.setParent(pr)
	return r
}

// assignLocked moves the placed spans out of pending into their runs'
// parts, and queues each part.
func (e *Exporter) assignLocked(ts *traceState, placed []trace.SpanID, memo map[trace.SpanID]*run, now time.Time, out []*work) []*work {
	parts := map[*run][]*pendingSpan{}
	var order []*run
	for _, id := range placed {
		r := memo[id]
		if _, ok := parts[r]; !ok {
			order = append(order, r)
		}
		parts[r] = append(parts[r], ts.pending[id])
	}
	for _, r := range order {
		part := e.trimLocked(ts, r, parts[r])
		spans := make([]sdktrace.ReadOnlySpan, 0, len(part))
		size := 0
		for _, p := range part {
			size += p.bytes
			id := p.s.SpanContext().SpanID()
			e.unpendLocked(ts, id, p)
			if bridge.IsLocalRoot(p.s) && ts.runs[id] == r {
				e.rootArrivedLocked(ts, r, id)
			}
			if len(ts.index) < e.cfg.maxSpansPerTrace {
				ts.index[id] = r
			} else if _, ok := ts.index[id]; !ok {
				e.st.alter(reasonNotIndexed, 1)
			}
			spans = append(spans, p.s)
		}
		if r.rootless {
			// The ancestors these spans miss lead to this run too.
			for _, p := range part {
				parent := p.s.Parent().SpanID()
				if bridge.IsLocalRoot(p.s) || !parent.IsValid() {
					continue
				}
				if _, placed := ts.index[parent]; placed {
					continue
				}
				if _, pend := ts.pending[parent]; pend {
					continue
				}
				if ts.runs[parent] == nil {
					ts.runs[parent] = r
				}
			}
		}
		// Spans trimmed for the total limit leave pending too.
		for _, p := range parts[r][len(part):] {
			e.unpendLocked(ts, p.s.SpanContext().SpanID(), p)
		}
		if len(spans) > 0 {
			// With the log records that waited for these spans (logs.go).
			recs := e.takeRecordsLocked(ts.id, part)
			out = append(out, e.enqueueLocked(r, &work{kind: workPart, spans: spans, bytes: size, records: recs}))
		}
	}
	ts.touched = now
	return out
}

// trimLocked applies WithMaxBufferedSpans and WithMaxBufferedBytes to a
// part about to be sent: the spans that arrived now count against them
// while queued for sending (through an outage that is what grows). Spans
// already buffered are never dropped here (they count already), nor a root
// while another span can go. Dropped spans are put last; it returns what
// is kept.
func (e *Exporter) trimLocked(ts *traceState, r *run, part []*pendingSpan) []*pendingSpan {
	spans := e.buffered + int(e.st.inflightSpans.Load())
	bytes := e.bufferedBytes + int(e.inflightBytes.Load())
	for _, p := range part {
		if !p.counted {
			spans++
			bytes += p.bytes
		}
	}
	over := func() string {
		switch {
		case spans > e.cfg.maxBufferedSpans:
			return reasonMaxSpans
		case bytes > e.cfg.maxBufferedBytes:
			return reasonMaxBytes
		}
		return ""
	}
	if over() == "" {
		return part
	}
	keep := make([]*pendingSpan, 0, len(part))
	var dropped []*pendingSpan
	for _, p := range part {
		if why := over(); why != "" && !p.counted && !bridge.IsLocalRoot(p.s) {
			e.st.drop(kindSpan, why, 1, nil)
			spans--
			bytes -= p.bytes
			dropped = append(dropped, p)
			continue
		}
		keep = append(keep, p)
	}
	// The rest is a run's root: without it the run ends only when its
	// trace is forgotten (failed, incomplete), but the bound is the bound.
	for i := len(keep) - 1; i >= 0 && over() != ""; i-- {
		p := keep[i]
		if p.counted {
			continue
		}
		why := over()
		if r.live {
			// Its span may be stored already (created at its start): the
			// drainer counts what was lost when it ends the run.
			r.rootLost = why
			e.unliveLocked(ts, r)
		} else {
			e.st.drop(kindSpan, why, 1, nil)
		}
		e.st.drop(kindRun, "end: "+why, 1, nil)
		spans--
		bytes -= p.bytes
		dropped = append(dropped, p)
		keep = append(keep[:i], keep[i+1:]...)
	}
	copy(part, keep)
	copy(part[len(keep):], dropped)
	return part[:len(keep)]
}

// rootArrivedLocked notes that r's root span id was placed: the part
// holding it plans the run's end.
func (e *Exporter) rootArrivedLocked(ts *traceState, r *run, id trace.SpanID) {
	if r.live {
		e.unliveLocked(ts, r)
	}
	if r.ending && r.rootless {
		e.st.alter(reasonLateRoot, 1)
	}
	r.key = id
	r.rootArrived, r.rootless, r.ending = true, false, true
}

// bufferLocked keeps the newly arrived p waiting, within the limits, or
// drops it.
func (e *Exporter) bufferLocked(ts *traceState, p *pendingSpan, now time.Time, out *[]*work) {
	drop := func(reason string) {
		e.st.drop(kindSpan, reason, 1, nil)
		e.unpendLocked(ts, p.s.SpanContext().SpanID(), p)
	}
	switch {
	case ts.waitElem == nil && !e.roomForTraceLocked(ts, now, out):
		drop(reasonMaxTraces)
	case e.countedPending(ts) >= e.cfg.maxSpansPerTrace:
		drop(reasonMaxPerTrace)
	case e.buffered+int(e.st.inflightSpans.Load()) >= e.cfg.maxBufferedSpans:
		drop(reasonMaxSpans)
	case e.bufferedBytes+int(e.inflightBytes.Load())+p.bytes > e.cfg.maxBufferedBytes:
		drop(reasonMaxBytes)
	default:
		p.counted = true
		e.buffered++
		e.bufferedBytes += p.bytes
		if ts.waitElem == nil {
			ts.since = now
			ts.waitElem = e.waiting.PushBack(ts)
		}
	}
}

// countedPending is how many spans of ts are in the buffer's totals.
func (e *Exporter) countedPending(ts *traceState) int {
	n := 0
	for _, p := range ts.pending {
		if p.counted {
			n++
		}
	}
	return n
}

// roomForTraceLocked makes room for one more waiting trace when
// WithMaxTraces is reached: the oldest waiting trace is sent without its
// root now (its runs complete when the roots come) rather than dropping
// the new spans.
func (e *Exporter) roomForTraceLocked(ts *traceState, now time.Time, out *[]*work) bool {
	for e.waiting.Len() >= e.cfg.maxTraces {
		old := e.waiting.Front().Value.(*traceState)
		if old == ts {
			return false
		}
		n := len(old.pending)
		*out = e.flushLocked(old, now, true, *out)
		e.st.alter(reasonMadeRoom, int64(n))
		if old.waitElem != nil {
			return false // could not be sent: nothing to make room with
		}
	}
	return true
}

func (e *Exporter) unpendLocked(ts *traceState, id trace.SpanID, p *pendingSpan) {
	delete(ts.pending, id)
	if p.gone != nil {
		close(p.gone)
		p.gone = nil
	}
	if p.held {
		ts.held--
		p.held = false
	}
	if p.counted {
		p.counted = false
		e.buffered--
		e.bufferedBytes -= p.bytes
	}
}

// flushLocked sends the pending spans of ts without their root: each
// group of spans missing the same ancestor goes to a rootless run keyed by
// it (the ancestor adopts that run if it comes). Roots waiting for their
// remote parent are released too when all is set, and otherwise keep
// waiting with their descendants.
func (e *Exporter) flushLocked(ts *traceState, now time.Time, all bool, out []*work) []*work {
	if all {
		for _, p := range ts.pending {
			if p.held {
				p.released = true
			}
		}
		out = e.resolveLocked(ts, now, out)
	}
	// The missing ancestor of each pending span; the zero id where its
	// chain ends at a root that still waits for its remote parent.
	memo := map[trace.SpanID]trace.SpanID{}
	var missing func(id trace.SpanID) trace.SpanID
	missing = func(id trace.SpanID) trace.SpanID {
		var chain []trace.SpanID
		cur := id
		var key trace.SpanID
		for steps := 0; steps <= len(ts.pending); steps++ {
			if k, ok := memo[cur]; ok {
				key = k
				break
			}
			p := ts.pending[cur]
			if p == nil {
				key = cur
				break
			}
			chain = append(chain, cur)
			if bridge.IsLocalRoot(p.s) {
				break // a held root: waits
			}
			parent := p.s.Parent().SpanID()
			if parent == cur || steps == len(ts.pending) {
				key = parent // its own parent, or a cycle
				break
			}
			cur = parent
		}
		for _, c := range chain {
			memo[c] = key
		}
		return key
	}
	// One rootless run takes what this flush sends, under every key it
	// misses, unless a key already leads to a run (a rootless one, or the
	// run of a root that was placed or dropped without being indexed):
	// spans of one trace that lost their parents are still one run.
	runMemo := map[trace.SpanID]*run{}
	var placed []trace.SpanID
	var n int64
	var fresh *run
	for id := range ts.pending {
		key := missing(id)
		if !key.IsValid() {
			continue
		}
		r := ts.runs[key]
		if r == nil {
			if fresh == nil {
				fresh = &run{key: key, traceID: ts.id, rootless: true}
			}
			r = fresh
			ts.runs[key] = r
		}
		runMemo[id] = r
		placed = append(placed, id)
		n++
	}
	if len(placed) > 0 {
		if !all {
			e.st.alter(reasonRootWait, n)
		}
		out = e.assignLocked(ts, placed, runMemo, now, out)
		out = e.resolveLocked(ts, now, out) // held roots whose parent is placed now
	}
	e.settleLocked(ts, now)
	return out
}

// settleLocked files ts after a change: waiting while spans are pending,
// open while a live run's root has not arrived, else remembered.
func (e *Exporter) settleLocked(ts *traceState, now time.Time) {
	if len(ts.pending) > 0 {
		if ts.memElem != nil {
			e.unrememberLocked(ts)
		}
		return
	}
	if ts.waitElem != nil {
		e.waiting.Remove(ts.waitElem)
		ts.waitElem = nil
	}
	switch {
	case ts.livePins > 0:
		if ts.memElem != nil {
			e.unrememberLocked(ts)
		}
	case len(ts.runs) == 0 && len(ts.index) == 0:
		if ts.memElem != nil {
			e.unrememberLocked(ts)
		}
		delete(e.traces, ts.id)
	default:
		size := traceBytes + len(ts.runs)*runBytes + len(ts.index)*spanBytes
		if ts.memElem == nil {
			ts.memElem = e.remembered.PushBack(ts)
		} else {
			e.remembered.MoveToBack(ts.memElem)
			e.rememberedBytes -= ts.size
		}
		ts.size = size
		e.rememberedBytes += size
		if ts.touched.IsZero() {
			ts.touched = now
		}
	}
	e.forgetLocked(now)
}

func (e *Exporter) unrememberLocked(ts *traceState) {
	e.remembered.Remove(ts.memElem)
	ts.memElem = nil
	e.rememberedBytes -= ts.size
	ts.size = 0
}

// forgetLocked forgets remembered traces past the late-span window, and
// the least recently used beyond WithMaxRememberedBytes. A run of a
// forgotten trace that has not ended (spans sent without their root, which
// never came) is ended now.
func (e *Exporter) forgetLocked(now time.Time) {
	for el := e.remembered.Front(); el != nil; el = e.remembered.Front() {
		ts := el.Value.(*traceState)
		if now.Sub(ts.touched) < e.cfg.lateWindow && e.rememberedBytes <= e.cfg.maxRememberedBytes {
			return
		}
		e.unrememberLocked(ts)
		for _, r := range ts.runs {
			if !r.ending {
				e.finishLocked(r, reasonRootNeverCame)
			}
		}
		e.forgetRecordsLocked(ts) // its log records waiting for spans that did not come (logs.go)
		delete(e.traces, ts.id)
	}
}

// finishLocked decides the end of a run whose root will not come.
func (e *Exporter) finishLocked(r *run, why string) {
	if r.rootLost != "" {
		why = "the run's root span was dropped by the exporter: " + r.rootLost
	}
	r.ending = true
	e.enqueueLocked(r, &work{kind: workFinish, why: why, rootLost: r.rootLost})
}

// tickLocked is the janitor's tick: live roots the batcher dropped, roots
// that waited for their remote parent long enough, traces whose root wait
// passed, and traces to forget.
func (e *Exporter) tickLocked(now time.Time) {
	e.applyLiveLocked(now)
	for r := range e.liveOpen {
		if r.liveEnd != nil && now.Sub(r.liveEndAt) >= e.cfg.rootWait {
			e.liveFallbackLocked(r, now)
		}
	}
	var due, held []*traceState
	for el := e.waiting.Front(); el != nil; el = el.Next() {
		ts := el.Value.(*traceState)
		if ts.held > 0 {
			held = append(held, ts)
		}
		if now.Sub(ts.since) >= e.cfg.rootWait {
			due = append(due, ts)
		}
	}
	for _, ts := range held {
		e.releaseHeldLocked(ts, now)
	}
	for _, ts := range due {
		if ts.waitElem != nil {
			e.flushLocked(ts, now, false, nil)
		}
	}
	e.tickRecordsLocked(now) // log records that waited long enough (logs.go)
	e.forgetLocked(now)
}

// liveFallbackLocked places the copy of a live run's root that the live
// processor kept when the root ended, the root itself not having reached
// the exporter.
func (e *Exporter) liveFallbackLocked(r *run, now time.Time) {
	s := r.liveEnd
	r.liveEnd = nil
	ts := e.traces[r.traceID]
	if ts == nil {
		return
	}
	e.st.alter(reasonLiveFallback, 1)
	e.placeLocked(ts, []*pendingSpan{{s: s, at: now}}, now, nil)
}

// flushAllLocked sends every waiting span without its root (ForceFlush,
// Shutdown).
func (e *Exporter) flushAllLocked(now time.Time) {
	var all []*traceState
	for el := e.waiting.Front(); el != nil; el = el.Next() {
		all = append(all, el.Value.(*traceState))
	}
	for _, ts := range all {
		e.flushLocked(ts, now, true, nil)
	}
}

// closeLocked is Shutdown's event: what waits is sent, live roots the
// batcher dropped are placed from their copies, and every run that has
// not ended is ended without its root.
func (e *Exporter) closeLocked(now time.Time) {
	e.applyLiveLocked(now)
	for r := range e.liveOpen {
		if r.liveEnd != nil {
			e.liveFallbackLocked(r, now)
		}
	}
	e.flushAllLocked(now)
	e.closeRecordsLocked() // log records whose span did not come (logs.go)
	for _, ts := range e.traces {
		for _, r := range ts.runs {
			if r.ending {
				continue
			}
			why := reasonShutdownLost
			if r.live {
				why = reasonShutdownOpen
				e.unliveLocked(ts, r)
			}
			e.finishLocked(r, why)
		}
	}
}

// spanSize estimates the memory a span holds: its names and values. It
// walks the attributes once; the translation does far more.
func spanSize(s sdktrace.ReadOnlySpan) int {
	n := 256 + len(s.Name()) + attrsSize(s.Attributes())
	for _, ev := range s.Events() {
		n += 64 + len(ev.Name) + attrsSize(ev.Attributes)
	}
	for _, l := range s.Links() {
		n += 64 + attrsSize(l.Attributes)
	}
	return n
}

func attrsSize(kvs []attribute.KeyValue) int {
	n := 0
	for _, kv := range kvs {
		n += 32 + len(kv.Key) + valueSize(kv.Value)
	}
	return n
}

func valueSize(v attribute.Value) int {
	switch v.Type() {
	case attribute.STRING:
		return len(v.AsString())
	case attribute.STRINGSLICE:
		n := 0
		for _, s := range v.AsStringSlice() {
			n += 16 + len(s)
		}
		return n
	case attribute.BOOLSLICE:
		return len(v.AsBoolSlice())
	case attribute.INT64SLICE:
		return 8 * len(v.AsInt64Slice())
	case attribute.FLOAT64SLICE:
		return 8 * len(v.AsFloat64Slice())
	case attribute.BYTESLICE:
		return len(v.AsByteSlice())
	case attribute.SLICE:
		n := 0
		for _, e := range v.AsSlice() {
			n += 16 + valueSize(e)
		}
		return n
	case attribute.MAP:
		return attrsSize(v.AsMap())
	}
	return 8
}
