package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/bridge"
	"github.com/ezopotel/ezop-otel-go/internal/client"
	"github.com/ezopotel/ezop-otel-go/internal/wire"
)

// Log records across restarts. A Collector whose queue is persistent
// replays, after a crash, the logs batches it had not finished, and the
// spans of their traces may or may not come again (their batch may have
// been finished before the crash). Where a record went depends on when it
// came (inside its span's llm event when it came first, an event of its
// own after), so a process handed a record again cannot work out what the
// one before it did. A RunStore that is also a RecordStore keeps that:
// before the events that carry a record are sent, where it goes; once
// they are delivered, that it was. A record handed over again is then not
// sent again if it was delivered, its own event is sent again as it was
// (the server refuses the copy if it had it), and a record that was going
// into its span's event is left out when that event turns out to be
// stored already.

// RecordStore is what a RunStore implements too to make log records exact
// across restarts (WithRunStore; ExportLogRecordsDelivered). Its methods
// are called from the exporter's goroutines, never under its lock, and
// must be safe for concurrent use. Entries need to outlive a restart by
// the late-span window, as the runs' do.
type RecordStore interface {
	// LoadRecord returns what was saved for key.
	LoadRecord(ctx context.Context, key RecordKey) (StoredRecord, bool, error)
	// SaveRecord records rec for key (before the record's events are
	// sent, and again once they are delivered).
	SaveRecord(ctx context.Context, key RecordKey, rec StoredRecord) error
}

// RecordKey names a log record: its trace, its span (zero without one),
// and bridge.RecordHash of what it holds.
type RecordKey struct {
	TraceID trace.TraceID
	SpanID  trace.SpanID
	Hash    uint64
}

// StoredRecord is what a RecordStore keeps of a log record.
type StoredRecord struct {
	// Delivered: the events that carry the record were delivered (or
	// given up on, counted): it is not sent again.
	Delivered bool
	// EventID is the Ezop event that carries the record's content, being
	// sent: the record's own event, or an event of its span (such as the
	// llm_response of its model call).
	EventID string
	// RunID and Event: for an event of the record's own, the run it goes
	// to and the request as sent (JSON), sent again as it is.
	RunID string
	Event []byte
}

// recordStore is the RecordStore of the run store, if it is one.
func (e *Exporter) recordStore() RecordStore {
	rs, _ := e.cfg.runStore.(RecordStore)
	return rs
}

func recordKeyOf(r *bridge.LogRecord) RecordKey {
	return RecordKey{TraceID: r.TraceID, SpanID: r.SpanID, Hash: bridge.RecordHash(r)}
}

// reasonRecordReplayed counts records handed over again after a restart
// and found delivered, or whose event was stored already.
const reasonRecordReplayed = "log record: delivered before a restart: not sent again"

// replayedRecords looks up, in the record store, each record of keep
// handed over for delivery (ExportLogRecordsDelivered) and returns those
// still to place. A record delivered before is settled now; a record whose
// own event was being sent is sent again as it was, here; a record that
// was going into an event of its span is placed as any other, noting that
// event (see skipStored). Not under e.mu.
func (e *Exporter) replayedRecords(rs RecordStore, keep []*pendingRecord) []*pendingRecord {
	out := keep[:0]
	for _, p := range keep {
		p.key = recordKeyOf(&p.rec)
		p.marked = true
		sr, ok, err := rs.LoadRecord(e.bg, p.key)
		if err != nil {
			e.st.report(fmt.Errorf("ezop exporter: record store: %w", err))
		}
		switch {
		case !ok && e.orphanRecord(p):
		case !ok:
			out = append(out, p)
		case sr.Delivered:
			e.recordReplayed(p)
		case sr.RunID != "" && len(sr.Event) > 0:
			e.resendRecordEvent(p, sr)
		default:
			p.storedIn = sr.EventID
			out = append(out, p)
		}
	}
	return out
}

// recordReplayed settles p, delivered by a process before a restart.
func (e *Exporter) recordReplayed(p *pendingRecord) {
	e.logs.replayed.Add(1)
	e.st.alter(reasonRecordReplayed, 1)
	p.settle()
}

// resendRecordEvent sends again the own event of p that a process before
// a restart was sending: as it was, so that the server refuses it if it
// has it (500, its answer to an id stored already: taken as stored).
func (e *Exporter) resendRecordEvent(p *pendingRecord, sr StoredRecord) {
	var ev wire.EmitEventRequest
	if err := json.Unmarshal(sr.Event, &ev); err != nil {
		e.st.report(fmt.Errorf("ezop exporter: record store: event of a record: %w", err))
		e.dropRecords("its stored event could not be read", 1)
		p.settle()
		return
	}
	err := e.call(func(ctx context.Context) error {
		_, err := e.api.EmitEvent(ctx, sr.RunID, ev)
		return err
	})
	if storedAlready(err) {
		err = nil // stored before the restart
	}
	if err != nil {
		e.drop(kindEvent, "log record: "+failReason("emit", err), 1, err)
	} else {
		e.st.eventsSent.Add(1)
	}
	e.saveRecord(p, StoredRecord{Delivered: true})
	e.recordReplayed(p)
}

// skipStored takes out of recs the records of a records work that were
// going, before a restart, into an event of their span which this process
// found stored (refused as a duplicate: the content is in it). They are
// settled with the work.
func (e *Exporter) skipStored(r *run, recs []*pendingRecord) []*pendingRecord {
	out := recs[:0:0]
	for _, p := range recs {
		if p.storedIn != "" && r.wasStored(p.storedIn) {
			e.logs.replayed.Add(1)
			e.st.alter(reasonRecordReplayed, 1)
			continue
		}
		out = append(out, p)
	}
	return out
}

// markRecords saves, before the events of plan p of work w are sent,
// where each of its records goes (placed, in the order of recs). runID is
// the run the plan's own events go to ("" when it is not started yet:
// such a record is placed again as any other after a restart).
func (e *Exporter) markRecords(recs []*pendingRecord, placed []bridge.RecordPlace, p *bridge.RunPlan, runID string) {
	if len(recs) == 0 || e.recordStore() == nil {
		return
	}
	own := map[string]*wire.EmitEventRequest{}
	if runID != "" {
		for i := range p.Events {
			own[p.Events[i].ID] = &p.Events[i]
		}
	}
	for i, rp := range recs {
		if i >= len(placed) || placed[i].EventID == "" {
			continue
		}
		sr := StoredRecord{EventID: placed[i].EventID}
		if ev := own[sr.EventID]; placed[i].Own && ev != nil {
			if b, err := json.Marshal(ev); err == nil {
				sr.RunID, sr.Event = runID, b
			}
		}
		if !rp.marked {
			rp.key, rp.marked = recordKeyOf(&rp.rec), true
		}
		e.saveRecord(rp, sr)
	}
}

// markDelivered saves that the records of w are delivered (or given up
// on, counted), before w is done and its records settle.
func (e *Exporter) markDelivered(w *work) {
	if len(w.records) == 0 || e.recordStore() == nil {
		return
	}
	for _, p := range w.records {
		if p.marked {
			e.saveRecord(p, StoredRecord{Delivered: true})
		}
	}
}

func (e *Exporter) saveRecord(p *pendingRecord, sr StoredRecord) {
	rs := e.recordStore()
	if rs == nil {
		return
	}
	if err := rs.SaveRecord(e.bg, p.key, sr); err != nil {
		e.st.report(fmt.Errorf("ezop exporter: record store: %w", err))
	}
}

// maxStoredIDs bounds, per run, the event ids remembered as found stored
// (refused as duplicates in a run started before a restart).
const maxStoredIDs = 4096

// noteStored remembers that event id of r was found stored.
func (r *run) noteStored(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stored == nil {
		r.stored = map[string]struct{}{}
	}
	if len(r.stored) < maxStoredIDs {
		r.stored[id] = struct{}{}
	}
}

// wasStored reports whether event id of r, or of one of its child runs,
// was found stored. On r's drainer.
func (r *run) wasStored(id string) bool {
	has := func(x *run) bool {
		x.mu.Lock()
		defer x.mu.Unlock()
		_, ok := x.stored[id]
		return ok
	}
	if has(r) {
		return true
	}
	for _, ch := range r.children {
		if has(ch) {
			return true
		}
	}
	return false
}

// traceRunKey is the run store key of a trace's first top-level run: the
// zero span id, which names no run of its own.
func traceRunKey(tid trace.TraceID) RunKey { return RunKey{TraceID: tid} }

// saveTraceRun notes r as its trace's run in the run store, for the log
// records of the trace handed over again after a restart whose spans do
// not come again (orphanRecord). Only with a RecordStore, and only the
// first top-level run of a trace a process starts.
func (e *Exporter) saveTraceRun(r *run) {
	if e.recordStore() == nil {
		return
	}
	if err := e.cfg.runStore.Save(e.bg, traceRunKey(r.traceID), StoredRun{RunID: r.runID, AgentID: r.agentID}); err != nil {
		e.st.report(fmt.Errorf("ezop exporter: run store: %w", err))
	}
}

// reasonRecordOrphan counts records handed over again after a restart
// whose trace this process does not know and whose run a process before
// the restart started: they become events of that run, as a record whose
// span never came does.
const reasonRecordOrphan = "log record: its trace was sent before a restart: an event of its own on its span"

// orphanRecord sends p, which no process marked (it never reached a
// translation), when its trace is not known here but was sent by a
// process before a restart: its spans were delivered and may not come
// again, so p becomes an event of its own on its span in the trace's run.
// When the server does not have the span (its spans are coming again, or
// it is in a child run), p is placed as any other, to wait for its span.
// It reports whether p was taken.
func (e *Exporter) orphanRecord(p *pendingRecord) bool {
	e.mu.Lock()
	_, known := e.traces[p.rec.TraceID]
	e.mu.Unlock()
	if known {
		return false
	}
	sr, ok, err := e.cfg.runStore.Load(e.bg, traceRunKey(p.rec.TraceID))
	if err != nil {
		e.st.report(fmt.Errorf("ezop exporter: run store: %w", err))
	}
	if !ok || sr.RunID == "" {
		return false
	}
	var state bridge.RunState
	plan, c := e.tr.TranslateWithRecords(&state, nil, []bridge.LogRecord{p.rec})
	if len(plan.Events) != 1 {
		return false // nothing to send: placed as any other, and counted there
	}
	ev := plan.Events[0]
	if p.rec.SpanID.IsValid() {
		// Its span was delivered before the restart, in this run unless
		// it is in a child run.
		ev.SpanID = bridge.SpanUUID(p.rec.TraceID, p.rec.SpanID)
	}
	// No mark first: a process that dies before the mark below sends the
	// same event again, which the server refuses as stored.
	err = e.call(func(ctx context.Context) error {
		_, err := e.api.EmitEvent(ctx, sr.RunID, ev)
		return err
	})
	switch {
	case err != nil && (errors.Is(err, client.ErrNotFound) || errors.Is(err, client.ErrValidation)):
		// Its span is not stored (its spans are coming again, or it is
		// in another run): it waits for its span as any other.
		return false
	case storedAlready(err):
		err = nil // stored before: sent by an earlier attempt
	}
	e.countRecords(c)
	issues := plan.Issues[:0]
	for _, is := range plan.Issues {
		if is.Reason != bridge.ReasonRecordSpanNotInRun { // it is on its span
			issues = append(issues, is)
		}
	}
	e.noteIssues(issues)
	e.st.alter(reasonRecordOrphan, 1)
	if err != nil {
		e.drop(kindEvent, "log record: "+failReason("emit", err), 1, err)
	} else {
		e.st.eventsSent.Add(1)
	}
	e.saveRecord(p, StoredRecord{Delivered: true})
	p.settle()
	return true
}

// resendJoined sends, as events of their own, the records that joined an
// event of part w which the server turned out to have already (stored by
// a process before a restart, without them: they were not going into
// it then). Only in a run started before a restart.
func (e *Exporter) resendJoined(r *run, w *work) {
	if !r.replayed || e.recordStore() == nil || len(w.placed) != len(w.records) {
		return
	}
	var again []*pendingRecord
	for i, p := range w.records {
		pl := w.placed[i]
		if pl.EventID == "" || pl.Own || pl.EventID == p.storedIn || !r.wasStored(pl.EventID) {
			continue
		}
		again = append(again, p)
	}
	if len(again) == 0 {
		return
	}
	e.logs.joined.Add(-int64(len(again))) // counted again as events
	e.sendRecordList(r, again)
}
