package exporter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/internal/client"
	"github.com/ezopotel/ezop-otel-go/internal/wire"
)

// ExportSpansDelivered is ExportSpans for a sender that must not let go of
// spans the exporter only holds (a Collector whose sending queue is on
// persistent storage: it deletes a batch from the queue once the export
// returns). It returns nil once every span of spans is settled: delivered,
// or dropped and counted, including spans that wait for their root (the
// root wait bounds that) and copies of spans already handed over (settled
// with their first copy). Through an outage it keeps waiting. It returns
// ctx's error if ctx ends first, and ErrShutdown after Shutdown; a
// Shutdown while it waits settles everything (delivered or counted).
func (e *Exporter) ExportSpansDelivered(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	groups := intake(spans)
	now := e.cfg.now()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		e.drop(kindSpan, reasonShutdown, int64(len(spans)), nil)
		return ErrShutdown
	}
	e.applyLiveLocked(now)
	for _, g := range groups {
		e.placeLocked(e.traceLocked(g.id), g.spans, now, nil)
	}
	e.mu.Unlock()
	e.st.emit()
	for _, g := range groups {
		for _, p := range g.spans {
			if err := e.settled(ctx, g.id, p.s.SpanContext().SpanID()); err != nil {
				return err
			}
		}
	}
	return nil
}

// settled waits until span id of trace tid is settled: not pending, and
// the run it went to has done the work queued so far.
func (e *Exporter) settled(ctx context.Context, tid trace.TraceID, id trace.SpanID) error {
	for {
		e.mu.Lock()
		var wait <-chan struct{}
		if ts := e.traces[tid]; ts != nil {
			if p := ts.pending[id]; p != nil {
				if p.gone == nil {
					p.gone = make(chan struct{})
				}
				wait = p.gone
			} else if r := ts.index[id]; r != nil && r.last != nil {
				wait = r.last.done
			}
		}
		e.mu.Unlock()
		if wait == nil {
			return nil // dropped (counted), forgotten after delivery, or never placed
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
		e.mu.Lock()
		again := false
		if ts := e.traces[tid]; ts != nil {
			if r := ts.index[id]; r != nil && r.last != nil {
				select {
				case <-r.last.done:
				default:
					again = true // placed now: wait for its part
				}
			}
		}
		e.mu.Unlock()
		if !again {
			return nil
		}
	}
}

// RunStore keeps, across restarts of the process, which Ezop runs the
// exporter started and ended, so that a process handed the same spans
// again after a crash (a Collector's persistent queue replays the batches
// it had not finished) goes on with those runs rather than starting them
// twice. Entries need to outlive a restart by the late-span window; how
// long they are kept is the store's to decide. Its methods are called
// from the runs' drainers, never under the exporter's lock, and must be
// safe for concurrent use.
type RunStore interface {
	// Load returns the run saved for key.
	Load(ctx context.Context, key RunKey) (StoredRun, bool, error)
	// Save records run for key (after its start, and again after its
	// end).
	Save(ctx context.Context, key RunKey, run StoredRun) error
}

// RunKey names a run: its trace and the span id it is keyed by (its local
// root's; for a child run, the span that invoked it; for spans sent
// without their root, the ancestor they miss).
type RunKey struct {
	TraceID trace.TraceID
	SpanID  trace.SpanID
}

// StoredRun is what a RunStore keeps of a run: its ids once started and
// whether it ended; before its start request, only Starting (when it was
// asked for), so that a process restarting after a crash in between can
// find the run that request may have made.
type StoredRun struct {
	RunID, AgentID string
	Ended          bool
	Starting       time.Time
}

// WithRunStore makes the exporter save the runs it starts in store and,
// before starting a run, look there for one an earlier process started.
// Creates of spans and events of such a run that the server refuses with
// 500 (its answer to an id already stored) are then taken as stored.
//
// So that a run whose start was asked for but whose id was not saved (the
// process died in between) can be found too, a run started without a
// trigger id gets trigger_id otel:<trace id>/<span id> (its trace and
// the span it is keyed by; Ezop's dashboard does not show trigger ids),
// which makes it the one run a restarted process looks for.
//
// A store that is also a RecordStore keeps where each log record handed
// to ExportLogRecordsDelivered went, so that records handed over again
// are not sent twice either (records_durable.go), and each trace's run,
// for the records whose spans do not come again. Default: none.
func WithRunStore(store RunStore) Option {
	return optionFunc(func(c config) config {
		c.runStore = store
		return c
	})
}

// reasonReplayed counts creates taken as stored in a run an earlier
// process started.
const reasonReplayed = "span or event refused as already stored in a run started before a restart: taken as stored"

// loadRun looks for r in the run store: a run an earlier process started,
// or one whose start it asked for (then found on the server by its trigger
// id). It returns the start request to send when none is found.
func (e *Exporter) loadRun(r *run, start wire.StartRunRequest) wire.StartRunRequest {
	if e.cfg.runStore == nil {
		return start
	}
	if start.TriggerID == "" {
		start.TriggerID = "otel:" + r.traceID.String() + "/" + r.key.String()
	}
	sr, ok, err := e.cfg.runStore.Load(e.bg, RunKey{r.traceID, r.key})
	switch {
	case err != nil:
		e.st.report(fmt.Errorf("ezop exporter: run store: %w", err))
	case ok && sr.RunID != "":
		r.runID, r.agentID, r.endSent, r.replayed = sr.RunID, sr.AgentID, sr.Ended, true
	case ok && !sr.Starting.IsZero():
		var found wire.Run
		var hit bool
		err := e.call(func(ctx context.Context) (err error) {
			found, hit, err = e.api.FindRun(ctx, r.agentID, start, sr.Starting)
			return err
		})
		if err != nil {
			e.st.report(fmt.Errorf("ezop exporter: looking for a run started before a restart: %w", err))
		}
		if hit {
			r.runID, r.replayed = found.ID, true
			e.st.alter(reasonFoundAfterRestart, 1)
			e.saveRun(r)
		}
	}
	return start
}

// reasonFoundAfterRestart counts runs whose start an earlier process asked
// for and this one found on the server.
const reasonFoundAfterRestart = "run: started before a restart, found by its trigger id"

// saveIntent notes in the run store that r's start is being asked for.
func (e *Exporter) saveIntent(r *run) {
	if e.cfg.runStore == nil {
		return
	}
	if err := e.cfg.runStore.Save(e.bg, RunKey{r.traceID, r.key}, StoredRun{Starting: e.cfg.now()}); err != nil {
		e.st.report(fmt.Errorf("ezop exporter: run store: %w", err))
	}
}

// saveRun records r in the run store.
func (e *Exporter) saveRun(r *run) {
	if e.cfg.runStore == nil {
		return
	}
	sr := StoredRun{RunID: r.runID, AgentID: r.agentID, Ended: r.endSent}
	if err := e.cfg.runStore.Save(e.bg, RunKey{r.traceID, r.key}, sr); err != nil {
		e.st.report(fmt.Errorf("ezop exporter: run store: %w", err))
	}
}

// storedAlready reports whether err is the server refusing an id it has:
// its 500 (the contract's answer to a duplicate id; the exporter sends
// nothing else the server answers 500 to).
func storedAlready(err error) bool {
	var ae *client.APIError
	return err != nil && errors.As(err, &ae) && ae.StatusCode == http.StatusInternalServerError
}

// replayedDuplicate reports whether err, from creating a span or an event
// of r, is the server refusing an id it stored already, in a run started
// before a restart (storedAlready).
func (e *Exporter) replayedDuplicate(r *run, err error) bool {
	if !r.replayed || !storedAlready(err) {
		return false
	}
	e.st.alter(reasonReplayed, 1)
	return true
}
