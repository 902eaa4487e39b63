package exporter

import (
	"container/list"
	"context"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log/global"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/bridge"
)

// Log records.
//
// The OpenTelemetry GenAI conventions record prompts and completions as
// log records parented to the span of the model call (see package bridge,
// TranslateWithRecords). LogExporter (an sdklog.Exporter) and
// ExportLogRecords hand records to the same state as the spans, so that a
// record's content lands on the Ezop event of its span:
//
//   - A record whose span is waiting (for its root, or not seen yet) waits
//     with it, in Exporter.logs by trace and span id, and goes into the
//     part that places its span (assignLocked), where the translation
//     joins it to the span's own events: the llm_response of a model
//     call, the tool events of a tool call, else an event of its own.
//   - A record whose span is placed already joins the span's part if that
//     part is still queued on its run; else it is queued on the run by
//     itself and becomes an event of its own on the stored span (Ezop
//     events cannot be changed once stored).
//   - A record without a span id (with a trace id) becomes an event of a
//     run of its trace, once the trace has one; one without a trace id is
//     dropped and counted.
//   - A record waits for its span at most the late-span window
//     (WithLateSpanWindow), and no longer than its trace is remembered;
//     then, and at Shutdown, it goes to a run of its trace as an event of
//     the run, or, when the trace has no run, is dropped and counted.
//
// Records held at once (waiting for their span, or queued for sending) are
// bounded by WithMaxBufferedRecords and WithMaxBufferedRecordBytes; beyond
// them new records are dropped and counted. Records that are not GenAI
// events are ignored and counted unless WithForwardLogs; GenAI content
// events with content capture off have nothing to send and are counted.
// All of it is bookkeeping under Exporter.mu: the translation (the
// redaction hook) runs on the run's drainer, as for spans.

// Defaults of the log record bounds.
const (
	// DefaultMaxBufferedRecords is how many log records the exporter holds
	// at once, waiting for their span or being sent
	// (WithMaxBufferedRecords).
	DefaultMaxBufferedRecords = 10000
	// DefaultMaxBufferedRecordBytes bounds their estimated size
	// (WithMaxBufferedRecordBytes).
	DefaultMaxBufferedRecordBytes = 16 << 20
)

// logsConfig is the configuration of the log records.
type logsConfig struct {
	maxRecords int
	maxBytes   int
	forward    bool
}

func (c logsConfig) withDefaults() logsConfig {
	if c.maxRecords <= 0 {
		c.maxRecords = DefaultMaxBufferedRecords
	}
	if c.maxBytes <= 0 {
		c.maxBytes = DefaultMaxBufferedRecordBytes
	}
	return c
}

// WithMaxBufferedRecords caps how many log records the exporter holds at
// once, waiting for their span or queued for sending; beyond it new
// records are dropped and counted. Default: DefaultMaxBufferedRecords
// (10000).
func WithMaxBufferedRecords(n int) Option {
	return optionFunc(func(c config) config {
		c.logs.maxRecords = n
		return c
	})
}

// WithMaxBufferedRecordBytes caps the estimated size (body, attributes,
// names) of the log records held; beyond it new records are dropped and
// counted. Default: DefaultMaxBufferedRecordBytes (16 MiB).
func WithMaxBufferedRecordBytes(n int) Option {
	return optionFunc(func(c config) config {
		c.logs.maxBytes = n
		return c
	})
}

// WithForwardLogs forwards the log records that are not GenAI events
// (whose event name does not start with gen_ai.) as system events: on
// their span, else on their trace's run. Their body is content: it is
// sent (in metadata, key body) only with content capture on. Default:
// off, such records are ignored and counted in Stats.RecordsIgnored.
func WithForwardLogs(on bool) Option {
	return optionFunc(func(c config) config {
		c.logs.forward = on
		return c
	})
}

// Drop reasons of log records, after "log record: " in Stats.Dropped.
const (
	kindRecord           = "log record"
	reasonRecordNoTrace  = "no trace context: no run to attach it to"
	reasonRecordMax      = "buffer full: max buffered records"
	reasonRecordMaxBytes = "buffer full: max buffered record bytes"
	reasonRecordNoSpan   = "its span and trace never reached the exporter (late-span window passed)"
	reasonRecordShutdown = "exporter shut down"
	reasonRecordNoRunAt  = "exporter shut down before its span or trace arrived"
	reasonRecordNoRun    = "its run was not started"
	reasonRecordChildRun = "its child run was not started"
	// Altered: the record became an event of the run.
	reasonRecordToRun = "log record: its span never reached the exporter: attached to its trace's run"
)

// logState is the exporter's side of log records. The maps and lists are
// guarded by Exporter.mu; counters are atomic.
type logState struct {
	byTrace map[trace.TraceID]*traceRecords
	waiting *list.List // *pendingRecord waiting for their span, oldest first
	// waitingBytes is the estimated size of the waiting records.
	waitingBytes int
	// queued and queuedBytes are records queued on runs, not yet done.
	queued, queuedBytes atomic.Int64
	closed              bool // the log exporter was shut down

	// provider is the LoggerProvider Install made, shut down with the
	// exporter.
	provider *sdklog.LoggerProvider

	received, joined, emitted, ignored, notCaptured, dropped atomic.Int64
	replayed                                                 atomic.Int64
}

// traceRecords are the records of one trace waiting for their span, by
// span id (the zero id: records without a span, waiting for a run).
type traceRecords struct {
	bySpan map[trace.SpanID][]*pendingRecord
}

// pendingRecord is a log record held by the exporter.
type pendingRecord struct {
	rec   bridge.LogRecord
	bytes int
	at    time.Time
	elem  *list.Element // in logState.waiting while waiting
	// done, made only for ExportLogRecordsDelivered, is closed once the
	// record is settled: delivered with its work, or dropped.
	done chan struct{}
	// With a RecordStore (records_durable.go): key names the record
	// there once marked; storedIn is the event of its span it was going
	// into before a restart.
	key      RecordKey
	marked   bool
	storedIn string
}

func (p *pendingRecord) settle() {
	if p.done != nil {
		close(p.done)
		p.done = nil
	}
}

// LogExporter returns the OpenTelemetry logs exporter (sdklog.Exporter)
// that shares this exporter's state: the content of GenAI log records
// lands on the Ezop events of their spans (see ExportLogRecords). Use it
// with sdklog.NewBatchProcessor on a LoggerProvider (Install does); get
// it before spans flow: from then on the exporter remembers, for records
// arriving after their span, each span's parent and kind (a few dozen
// bytes per remembered span; bridge.Translator.KeepSpanInfo). Its
// Shutdown stops taking records, not the span side: records it holds are
// delivered with their spans, and by the exporter's Shutdown. Every call
// returns an exporter of the same state.
func (e *Exporter) LogExporter() sdklog.Exporter {
	e.tr.KeepSpanInfo() // for the records that come after their span
	return logExporter{e}
}

type logExporter struct{ e *Exporter }

var _ sdklog.Exporter = logExporter{}

// Export hands records over (see ExportLogRecords).
func (l logExporter) Export(ctx context.Context, records []sdklog.Record) error {
	recs := make([]bridge.LogRecord, len(records))
	for i := range records {
		recs[i] = RecordOf(&records[i])
	}
	err := l.e.ExportLogRecords(ctx, recs)
	if err == ErrShutdown {
		return sdklog.ErrExporterShutdown
	}
	return err
}

// Shutdown stops taking records and waits (within ctx) for those queued
// on runs to be delivered; records waiting for their span go on waiting,
// within the exporter's bounds, and the exporter's Shutdown delivers them.
func (l logExporter) Shutdown(ctx context.Context) error {
	e := l.e
	e.mu.Lock()
	e.logs.closed = true
	works := e.recordWorksLocked()
	e.mu.Unlock()
	return waitWorks(ctx, works)
}

// ForceFlush waits (within ctx) for the records queued on runs to be
// delivered. Records waiting for their span go when their span comes:
// flush the TracerProvider for them.
func (l logExporter) ForceFlush(ctx context.Context) error {
	e := l.e
	e.mu.Lock()
	works := e.recordWorksLocked()
	e.mu.Unlock()
	return waitWorks(ctx, works)
}

// RecordOf converts a record of the OpenTelemetry logs SDK for
// ExportLogRecords. It keeps nothing of r.
func RecordOf(r *sdklog.Record) bridge.LogRecord {
	lr := bridge.LogRecord{
		Time: r.Timestamp(), ObservedTime: r.ObservedTimestamp(),
		SeverityNumber: int(r.Severity()), SeverityText: r.SeverityText(),
		EventName: r.EventName(), Body: r.Body(),
		TraceID: r.TraceID(), SpanID: r.SpanID(),
		Scope:             r.InstrumentationScope().Name,
		DroppedAttributes: r.DroppedAttributes(),
	}
	if n := r.AttributesLen(); n > 0 {
		lr.Attributes = make([]attribute.KeyValue, 0, n)
		r.WalkAttributes(func(kv attribute.KeyValue) bool {
			lr.Attributes = append(lr.Attributes, kv)
			return true
		})
	}
	return lr
}

// ExportLogRecords hands log records to the exporter (LogExporter and the
// Collector component call it). A record with a span context becomes
// content of the Ezop event of its span, or an event of its own on it; a
// record with only a trace id an event of its trace's run; see the
// package documentation of log records for how they wait for their span.
// It returns once the records whose run is known are delivered, or ctx
// ends (delivery goes on), like ExportSpans; records waiting for their
// span are not waited for. What cannot be delivered is counted in Stats,
// not returned; the error is ctx's, or ErrShutdown after Shutdown. A
// sender that hands records only through it calls LogExporter once at
// setup, before spans flow: a record that comes after its span then names
// the span's parent (parent_span_id) like the span's own events.
func (e *Exporter) ExportLogRecords(ctx context.Context, records []bridge.LogRecord) error {
	works, _, err := e.takeRecords(records, false)
	if err != nil {
		return err
	}
	if e.down() {
		return nil
	}
	if err := waitWorksOr(ctx, works, e.outageSignal()); err != nil && !e.down() {
		return err
	}
	return nil
}

// ExportLogRecordsDelivered is ExportLogRecords for a sender that must
// not let go of records the exporter only holds (a Collector whose
// sending queue is persistent): it returns nil once every record is
// settled, delivered (with the event it is part of) or dropped and
// counted, including records that wait for their span (the late-span
// window bounds that). It returns ctx's error if ctx ends first, and
// ErrShutdown after Shutdown.
func (e *Exporter) ExportLogRecordsDelivered(ctx context.Context, records []bridge.LogRecord) error {
	_, held, err := e.takeRecords(records, true)
	if err != nil {
		return err
	}
	for _, ch := range held {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// takeRecords sorts records out and places those to keep. It returns the
// works they were queued in and, with delivered, the channels that close
// when each held record is settled.
func (e *Exporter) takeRecords(records []bridge.LogRecord, delivered bool) ([]*work, []<-chan struct{}, error) {
	ls := &e.logs
	ls.received.Add(int64(len(records)))
	e.tr.KeepSpanInfo()
	keep := make([]*pendingRecord, 0, len(records))
	var noTrace int64
	for i := range records {
		r := &records[i]
		switch {
		case !bridge.IsGenAIRecord(r) && !e.cfg.logs.forward:
			ls.ignored.Add(1)
		case e.tr.RecordCarriesNothing(r):
			ls.notCaptured.Add(1)
			e.st.alter(bridge.ReasonContentNotCaptured, 1)
		case !r.TraceID.IsValid():
			noTrace++
		default:
			p := &pendingRecord{rec: *r, bytes: recordSize(r)}
			if delivered {
				p.done = make(chan struct{})
			}
			keep = append(keep, p)
		}
	}
	var held []<-chan struct{}
	if delivered {
		for _, p := range keep {
			held = append(held, p.done)
		}
		if rs := e.recordStore(); rs != nil {
			keep = e.replayedRecords(rs, keep) // records_durable.go
		}
	}
	e.dropRecords(reasonRecordNoTrace, noTrace)
	now := e.cfg.now()
	e.mu.Lock()
	if e.closed || ls.closed {
		e.mu.Unlock()
		for _, p := range keep {
			p.settle()
		}
		e.dropRecords(reasonRecordShutdown, int64(len(keep)))
		e.st.emit()
		return nil, nil, ErrShutdown
	}
	var works []*work
	seen := map[*work]bool{}
	for _, p := range keep {
		if w := e.placeRecordLocked(p, now); w != nil && !seen[w] {
			seen[w] = true
			works = append(works, w)
		}
	}
	e.mu.Unlock()
	e.st.emit()
	return works, held, nil
}

// dropRecords counts n records lost for reason. Not under e.mu when it
// may report (st.emit is the caller's).
func (e *Exporter) dropRecords(reason string, n int64) {
	if n <= 0 {
		return
	}
	e.logs.dropped.Add(n)
	e.st.drop(kindRecord, reason, n, nil)
}

// placeRecordLocked is the arrival of one record: it is queued on the run
// of its span (the work it went into is returned), waits, or is dropped at
// the bounds.
func (e *Exporter) placeRecordLocked(p *pendingRecord, now time.Time) *work {
	ls := &e.logs
	if int(ls.queued.Load())+e.waitingRecordsLocked() >= e.cfg.logs.maxRecords {
		e.dropRecords(reasonRecordMax, 1)
		p.settle()
		return nil
	}
	if int(ls.queuedBytes.Load())+ls.waitingBytes+p.bytes > e.cfg.logs.maxBytes {
		e.dropRecords(reasonRecordMaxBytes, 1)
		p.settle()
		return nil
	}
	if r := e.recordRunLocked(p); r != nil {
		return e.queueRecordLocked(r, p)
	}
	if ls.byTrace == nil {
		ls.byTrace = map[trace.TraceID]*traceRecords{}
		ls.waiting = list.New()
	}
	tr := ls.byTrace[p.rec.TraceID]
	if tr == nil {
		tr = &traceRecords{bySpan: map[trace.SpanID][]*pendingRecord{}}
		ls.byTrace[p.rec.TraceID] = tr
	}
	tr.bySpan[p.rec.SpanID] = append(tr.bySpan[p.rec.SpanID], p)
	p.at = now
	p.elem = ls.waiting.PushBack(p)
	ls.waitingBytes += p.bytes
	return nil
}

func (e *Exporter) waitingRecordsLocked() int {
	if e.logs.waiting == nil {
		return 0
	}
	return e.logs.waiting.Len()
}

// recordRunLocked returns the run record p goes to now, nil while it must
// wait: the run its span was placed in (unless that span is a live run's
// root that has not arrived: its part will take the record), or for a
// record without a span a run of its trace.
func (e *Exporter) recordRunLocked(p *pendingRecord) *run {
	ts := e.traces[p.rec.TraceID]
	if ts == nil {
		return nil
	}
	sid := p.rec.SpanID
	if !sid.IsValid() {
		return mainRunLocked(ts)
	}
	if _, pend := ts.pending[sid]; pend {
		return nil
	}
	r := ts.index[sid]
	if r == nil || (r.key == sid && r.live && !r.rootArrived) {
		return nil
	}
	return r
}

// mainRunLocked is the run that takes a trace's records without a span
// (or whose span never came): the run of a root without a parent if the
// trace has one, else the run of the lowest key; nil without runs.
func mainRunLocked(ts *traceState) *run {
	var best *run
	var bestKey trace.SpanID
	for k, r := range ts.runs {
		if r.key != k {
			continue // a rootless run under the key of an ancestor it misses
		}
		if best == nil || (r.rootArrived && !best.rootArrived) ||
			(r.rootArrived == best.rootArrived && lessID(k, bestKey)) {
			best, bestKey = r, k
		}
	}
	if best == nil {
		for _, r := range ts.runs {
			return r
		}
	}
	return best
}

func lessID(a, b trace.SpanID) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// queueRecordLocked queues p on r: in the queued part that holds its
// span (so that it joins the span's events), else in a records work at
// the tail of the queue, else in a new one. It returns the work.
func (e *Exporter) queueRecordLocked(r *run, p *pendingRecord) *work {
	e.logs.queued.Add(1)
	e.logs.queuedBytes.Add(int64(p.bytes))
	sid := p.rec.SpanID
	r.mu.Lock()
	// Items in r.queue are not started: the drainer pops an item under
	// r.mu before reading it.
	var into *work
	for _, w := range r.queue {
		if w.kind == workPart && (!sid.IsValid() || w.hasSpan(sid)) {
			into = w
			break
		}
	}
	if into == nil && len(r.queue) > 0 && r.queue[len(r.queue)-1].kind == workRecords {
		into = r.queue[len(r.queue)-1]
	}
	if into != nil {
		into.records = append(into.records, p)
	}
	r.mu.Unlock()
	if into != nil {
		return into
	}
	return e.enqueueLocked(r, &work{kind: workRecords, records: []*pendingRecord{p}})
}

// hasSpan reports whether part w holds span id; under its run's mu.
func (w *work) hasSpan(id trace.SpanID) bool {
	if w.ids == nil {
		w.ids = make(map[trace.SpanID]struct{}, len(w.spans))
		for _, s := range w.spans {
			w.ids[s.SpanContext().SpanID()] = struct{}{}
		}
	}
	_, ok := w.ids[id]
	return ok
}

// takeRecordsLocked returns, for the part about to be queued with spans
// of trace tid, the records waiting for those spans and, the trace having
// a run now, those without a span. They count as queued from now.
func (e *Exporter) takeRecordsLocked(tid trace.TraceID, part []*pendingSpan) []*pendingRecord {
	ls := &e.logs
	tr := ls.byTrace[tid]
	if tr == nil {
		return nil
	}
	var out []*pendingRecord
	take := func(id trace.SpanID) {
		for _, p := range tr.bySpan[id] {
			e.unwaitRecordLocked(p)
			out = append(out, p)
		}
		delete(tr.bySpan, id)
	}
	take(trace.SpanID{})
	for _, p := range part {
		if len(tr.bySpan) == 0 {
			break
		}
		take(p.s.SpanContext().SpanID())
	}
	if len(tr.bySpan) == 0 {
		delete(ls.byTrace, tid)
	}
	for _, p := range out {
		ls.queued.Add(1)
		ls.queuedBytes.Add(int64(p.bytes))
	}
	return out
}

func (e *Exporter) unwaitRecordLocked(p *pendingRecord) {
	if p.elem != nil {
		e.logs.waiting.Remove(p.elem)
		p.elem = nil
		e.logs.waitingBytes -= p.bytes
	}
}

// removeWaitingLocked takes p out of its trace's waiting records.
func (e *Exporter) removeWaitingLocked(p *pendingRecord) {
	e.unwaitRecordLocked(p)
	ls := &e.logs
	tr := ls.byTrace[p.rec.TraceID]
	if tr == nil {
		return
	}
	list := tr.bySpan[p.rec.SpanID]
	for i, q := range list {
		if q == p {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(tr.bySpan, p.rec.SpanID)
	} else {
		tr.bySpan[p.rec.SpanID] = list
	}
	if len(tr.bySpan) == 0 {
		delete(ls.byTrace, p.rec.TraceID)
	}
}

// giveUpRecordLocked ends the wait of p: it goes to its span's run if the
// span is placed now, else to a run of its trace as an event of the run,
// else it is dropped for why.
func (e *Exporter) giveUpRecordLocked(p *pendingRecord, ts *traceState, why string) {
	e.removeWaitingLocked(p)
	if r := e.recordRunLocked(p); r != nil {
		e.queueRecordLocked(r, p)
		return
	}
	if ts == nil {
		ts = e.traces[p.rec.TraceID]
	}
	if ts != nil {
		if r := mainRunLocked(ts); r != nil {
			e.st.alter(reasonRecordToRun, 1)
			e.queueRecordLocked(r, p)
			return
		}
	}
	e.dropRecords(why, 1)
	p.settle()
}

// tickRecordsLocked ends the waits of records older than the late-span
// window (the janitor's tick).
func (e *Exporter) tickRecordsLocked(now time.Time) {
	ls := &e.logs
	if ls.waiting == nil {
		return
	}
	for el := ls.waiting.Front(); el != nil; el = ls.waiting.Front() {
		p := el.Value.(*pendingRecord)
		if now.Sub(p.at) < e.cfg.lateWindow {
			return
		}
		e.giveUpRecordLocked(p, nil, reasonRecordNoSpan)
	}
}

// forgetRecordsLocked ends the waits of the records of ts, which is being
// forgotten: its spans that have not come will not join its runs.
func (e *Exporter) forgetRecordsLocked(ts *traceState) {
	tr := e.logs.byTrace[ts.id]
	if tr == nil {
		return
	}
	var all []*pendingRecord
	for _, l := range tr.bySpan {
		all = append(all, l...)
	}
	for _, p := range all {
		e.giveUpRecordLocked(p, ts, reasonRecordNoSpan)
	}
}

// closeRecordsLocked ends the wait of every record (Shutdown, after the
// spans were placed).
func (e *Exporter) closeRecordsLocked() {
	ls := &e.logs
	if ls.waiting == nil {
		return
	}
	for el := ls.waiting.Front(); el != nil; el = ls.waiting.Front() {
		e.giveUpRecordLocked(el.Value.(*pendingRecord), nil, reasonRecordNoRunAt)
	}
}

// recordsDoneLocked retires the records of a done work.
func (e *Exporter) recordsDoneLocked(w *work) {
	for _, p := range w.records {
		e.logs.queued.Add(-1)
		e.logs.queuedBytes.Add(-int64(p.bytes))
		p.settle()
	}
	w.records, w.ids = nil, nil
}

// recordWorksLocked returns the works holding records, not done.
func (e *Exporter) recordWorksLocked() []*work {
	var out []*work
	for w := range e.works {
		if len(w.records) > 0 {
			out = append(out, w)
		}
	}
	return out
}

// records returns the records of w for the translation (on the drainer).
func (w *work) logRecords() []bridge.LogRecord {
	out := make([]bridge.LogRecord, len(w.records))
	for i, p := range w.records {
		out[i] = p.rec
	}
	return out
}

// translatePart translates a part of spans with the records that joined
// it.
func (e *Exporter) translatePart(r *run, w *work) bridge.RunPlan {
	if len(w.records) == 0 {
		return e.tr.Translate(&r.state, w.spans)
	}
	p, c := e.tr.TranslateWithRecords(&r.state, w.spans, w.logRecords())
	e.countRecords(c)
	e.markRecords(w.records, c.Placed, &p, r.runID) // records_durable.go
	w.placed = c.Placed
	return p
}

func (e *Exporter) countRecords(c bridge.RecordCounts) {
	e.logs.joined.Add(int64(c.Joined))
	e.logs.emitted.Add(int64(c.Events))
	e.logs.notCaptured.Add(int64(c.NotCaptured))
}

// sendRecords translates and sends a records work: events of spans the
// run stored before (in the run, or a child run it started), or of the
// run. The run exists already; if its start failed the events are
// dropped.
func (e *Exporter) sendRecords(r *run, w *work) {
	recs := w.records
	if e.recordStore() != nil {
		recs = e.skipStored(r, recs) // records_durable.go
	}
	e.sendRecordList(r, recs)
}

// sendRecordList translates and sends recs as records of spans r stored
// before (or of r).
func (e *Exporter) sendRecordList(r *run, recs []*pendingRecord) {
	logRecs := make([]bridge.LogRecord, len(recs))
	for i, p := range recs {
		logRecs[i] = p.rec
	}
	p, c := e.tr.TranslateWithRecords(&r.state, nil, logRecs)
	e.countRecords(c)
	if r.runID != "" {
		e.markRecords(recs, c.Placed, &p, r.runID)
	}
	e.noteIssues(p.Issues)
	_, events := planSize(&p)
	e.st.inflightE.Add(events)
	defer e.st.inflightE.Add(-events)
	if len(p.Events) > 0 {
		if r.runID == "" {
			e.drop(kindEvent, "log record: "+reasonRecordNoRun, int64(len(p.Events)), nil)
		} else {
			e.sendGraph(r, &p)
		}
	}
	for i := range p.ChildRuns {
		ch := &p.ChildRuns[i]
		if len(ch.Plan.Events) == 0 {
			continue
		}
		cr := r.children[ch.Key]
		if cr == nil || cr.runID == "" {
			e.drop(kindEvent, "log record: "+reasonRecordChildRun, int64(len(ch.Plan.Events)), nil)
			continue
		}
		e.sendGraph(cr, &ch.Plan)
	}
}

// recordSize estimates the memory a record holds.
func recordSize(r *bridge.LogRecord) int {
	return 192 + len(r.EventName) + len(r.SeverityText) + len(r.Scope) + valueSize(r.Body) + attrsSize(r.Attributes)
}

// flushBoth flushes the LoggerProvider before the span processor, so that
// records emitted before a root ended reach the exporter before its spans
// and join their events (Install's prompt delivery).
type flushBoth struct {
	logs  interface{ ForceFlush(context.Context) error }
	spans interface{ ForceFlush(context.Context) error }
}

func (f flushBoth) ForceFlush(ctx context.Context) error {
	lerr := f.logs.ForceFlush(ctx)
	if err := f.spans.ForceFlush(ctx); err != nil {
		return err
	}
	return lerr
}

// flushLogProvider flushes the LoggerProvider Install made, if any, into
// the exporter (before the last spans, at the TracerProvider's shutdown).
func (e *Exporter) flushLogProvider(ctx context.Context) {
	if lp := e.logs.provider; lp != nil {
		_ = lp.ForceFlush(ctx)
	}
}

// shutdownLogProvider shuts the LoggerProvider Install made down: the
// records it still batches are handed over first.
func (e *Exporter) shutdownLogProvider(ctx context.Context) {
	if lp := e.logs.provider; lp != nil {
		_ = lp.Shutdown(ctx)
	}
}

// recordStats fills the log record fields of s; under e.mu.
func (e *Exporter) recordStatsLocked(s *Stats) {
	ls := &e.logs
	s.RecordsReceived = ls.received.Load()
	s.RecordsJoined = ls.joined.Load()
	s.RecordsEmitted = ls.emitted.Load()
	s.RecordsIgnored = ls.ignored.Load()
	s.RecordsNotCaptured = ls.notCaptured.Load()
	s.RecordsDropped = ls.dropped.Load()
	s.RecordsReplayed = ls.replayed.Load()
	s.BufferedRecords = e.waitingRecordsLocked() + int(ls.queued.Load())
	s.BufferedRecordBytes = ls.waitingBytes + int(ls.queuedBytes.Load())
}

// installLogs is Install's logs side: a LoggerProvider with res sending
// to e's LogExporter through a batching processor, made global; it
// returns the flusher of prompt delivery (the log records, then spans).
func (e *Exporter) installLogs(res *resource.Resource, spans interface{ ForceFlush(context.Context) error }) interface{ ForceFlush(context.Context) error } {
	lp := sdklog.NewLoggerProvider(
		sdklog.WithResource(res),
		sdklog.WithProcessor(sdklog.NewBatchProcessor(e.LogExporter())),
	)
	e.logs.provider = lp
	global.SetLoggerProvider(lp)
	return flushBoth{logs: lp, spans: spans}
}
