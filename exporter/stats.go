package exporter

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
)

// Stats are the exporter's counters since New. Counts only grow; the
// Buffered and InFlight fields are the state at the time of the call.
type Stats struct {
	// RunsStarted and RunsEnded count runs created and ended on Ezop.
	RunsStarted, RunsEnded int64
	// SpansSent and EventsSent count spans and events stored on Ezop.
	SpansSent, EventsSent int64
	// Requests counts requests the exporter made (each operation once,
	// however often the client retried it); RequestsRetried counts retry
	// attempts made by the client.
	Requests, RequestsRetried int64
	// RunsAdopted counts run starts whose answer was lost (the connection
	// cut after the server stored the run) and whose run was found in the
	// head of the agent's run list and used, instead of creating a second.
	// RunStartsAmbiguous counts such look-ups that found more candidates
	// than this exporter's own unanswered starts (another process of the
	// same agent started a run with the same trigger in the same seconds):
	// the exporter then takes none of them and creates its run again, so
	// the run its lost start may have stored stays running on Ezop. With
	// WithRunStore every run has a trigger id of its own, and the look-up
	// finds only the exporter's own run.
	RunsAdopted, RunStartsAmbiguous int64
	// SpansDropped and EventsDropped total the spans and events that were
	// not delivered, over all reasons.
	SpansDropped, EventsDropped int64
	// Dropped counts what was not delivered, by reason. A reason of the
	// exporter starts with what was lost ("span: ", "event: ", "run: "),
	// then why, for example "span: buffer full: max traces",
	// "event: span not stored", "span: auth" or
	// "span: create failed: validation: <server message>". Reasons of the
	// translation (values or events it left out) come as it names them.
	// At most 256 distinct reasons are kept; later ones count as "other".
	Dropped map[string]int64
	// Altered counts what was delivered changed (truncated, re-parented,
	// a fallback used), by reason.
	Altered map[string]int64
	// BufferedTraces and BufferedSpans are the traces and spans waiting
	// for their run now (their root span, or their remote parent), and
	// BufferedBytes the estimated size of those spans.
	BufferedTraces, BufferedSpans, BufferedBytes int
	// RememberedTraces are finished traces remembered for their late
	// spans, RememberedBytes the estimate of their memory.
	RememberedTraces, RememberedBytes int
	// LiveRuns are runs started by the live processor whose root span has
	// not reached the exporter.
	LiveRuns int
	// InFlightSpans and InFlightEvents are translated and not yet
	// delivered (or given up on); InFlightRequests are being sent now.
	InFlightSpans, InFlightEvents, InFlightRequests int
	// InFlightBytes is the estimated size of the spans queued for sending:
	// with BufferedBytes, what WithMaxBufferedBytes bounds (through an
	// outage, what grows).
	InFlightBytes int
	// Outage says the Ezop API is unreachable now (see WithMaxOutage).
	Outage bool

	// Log records (LogExporter, ExportLogRecords). RecordsReceived counts
	// the records handed over. Each ends in one of: RecordsJoined (its
	// content went onto an event of its span, such as the llm_response of
	// its model call), RecordsEmitted (it became an event of its own, on
	// its span or its trace's run; delivery counts in EventsSent and
	// EventsDropped), RecordsIgnored (not a GenAI event, without
	// WithForwardLogs), RecordsNotCaptured (GenAI content with content
	// capture off: nothing to send), RecordsDropped (by reason in Dropped,
	// "log record: …"), RecordsReplayed (handed over again after a
	// restart and delivered before it, with a RecordStore: not sent
	// twice); BufferedRecords are the ones still held.
	RecordsReceived, RecordsJoined, RecordsEmitted     int64
	RecordsIgnored, RecordsNotCaptured, RecordsDropped int64
	RecordsReplayed                                    int64
	// BufferedRecords are records waiting for their span or queued for
	// sending now, BufferedRecordBytes their estimated size (what
	// WithMaxBufferedRecords and WithMaxBufferedRecordBytes bound).
	BufferedRecords, BufferedRecordBytes int
}

// Reason kinds, the start of every Dropped key.
const (
	kindSpan  = "span"
	kindEvent = "event"
	kindRun   = "run"
)

// maxReasons caps the distinct reasons kept, since server messages may
// vary; later reasons are counted under "other".
const maxReasons = 256

// DropError is what the exporter reports through its error handler when it
// drops data: Count items were lost for Reason since the previous report of
// that reason. Err, when set, is the last underlying error.
type DropError struct {
	Reason string
	Count  int64
	Err    error
}

func (e *DropError) Error() string {
	s := fmt.Sprintf("ezop exporter: dropped %d: %s", e.Count, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *DropError) Unwrap() error { return e.Err }

// counters are the exporter's statistics and its rate-limited reporting.
type counters struct {
	runsStarted, runsEnded   atomic.Int64
	spansSent, eventsSent    atomic.Int64
	requests                 atomic.Int64
	spansDropped, evDropped  atomic.Int64
	inflightSpans, inflightE atomic.Int64
	inflightReq              atomic.Int64

	handler  otel.ErrorHandler
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	dropped map[string]int64
	altered map[string]int64
	reports map[string]*reportState
	queued  []error
}

type reportState struct {
	last       time.Time
	unreported int64
	err        error
}

func newCounters(h otel.ErrorHandler, interval time.Duration, now func() time.Time) *counters {
	return &counters{
		handler: h, interval: interval, now: now,
		dropped: map[string]int64{},
		altered: map[string]int64{},
		reports: map[string]*reportState{},
	}
}

// drop counts n items of kind (kindSpan, kindEvent, kindRun, or "" when
// reason already names it) lost for reason, and queues a report for the
// error handler (see emit) unless that reason was reported less than the
// interval ago. err is the underlying error, if any.
func (c *counters) drop(kind, reason string, n int64, err error) {
	if n <= 0 {
		return
	}
	switch kind {
	case kindSpan:
		c.spansDropped.Add(n)
	case kindEvent:
		c.evDropped.Add(n)
	}
	if kind != "" {
		reason = kind + ": " + reason
	}
	c.mu.Lock()
	reason = c.keyLocked(c.dropped, reason)
	c.dropped[reason] += n
	r := c.reports[reason]
	if r == nil {
		r = &reportState{}
		c.reports[reason] = r
	}
	r.unreported += n
	if err != nil {
		r.err = err
	}
	now := c.now()
	if r.last.IsZero() || now.Sub(r.last) >= c.interval {
		c.queued = append(c.queued, &DropError{Reason: reason, Count: r.unreported, Err: r.err})
		r.last, r.unreported, r.err = now, 0, nil
	}
	c.mu.Unlock()
}

// emit hands the queued reports to the error handler. drop only queues,
// because it may run under the exporter's lock, and a handler may well
// call back into the exporter (Stats); callers emit once they hold no
// lock.
func (c *counters) emit() {
	c.mu.Lock()
	q := c.queued
	c.queued = nil
	c.mu.Unlock()
	for _, err := range q {
		c.handler.Handle(err)
	}
}

// alter counts n items changed for reason; alterations are not reported.
func (c *counters) alter(reason string, n int64) {
	if n <= 0 {
		return
	}
	c.mu.Lock()
	reason = c.keyLocked(c.altered, reason)
	if _, seen := c.altered[reason]; !seen {
		// Altered data still arrives: say so once per reason (the owner
		// fallback, a truncation, ...), then only count.
		c.queued = append(c.queued, &AlterNotice{Reason: reason})
	}
	c.altered[reason] += n
	c.mu.Unlock()
}

// AlterNotice is what the exporter reports through its error handler, once
// per reason, when it sends data changed: a fallback used, a value
// truncated or sanitized, an event reclassified. Stats.Altered keeps the
// counts.
type AlterNotice struct {
	Reason string
}

func (n *AlterNotice) Error() string {
	return "ezop exporter: sent altered data (reported once, counted in Stats.Altered): " + n.Reason
}

// keyLocked bounds the distinct keys of m.
func (c *counters) keyLocked(m map[string]int64, reason string) string {
	if _, ok := m[reason]; !ok && len(m) >= maxReasons {
		return "other"
	}
	return reason
}

// report sends err to the error handler at once (not rate-limited: for
// rare, important failures such as a refused API key).
func (c *counters) report(err error) { c.handler.Handle(err) }

// flushReports reports every count not yet reported (at Shutdown).
func (c *counters) flushReports() {
	c.mu.Lock()
	for reason, r := range c.reports {
		if r.unreported > 0 {
			c.queued = append(c.queued, &DropError{Reason: reason, Count: r.unreported, Err: r.err})
			r.unreported, r.err, r.last = 0, nil, c.now()
		}
	}
	c.mu.Unlock()
	c.emit()
}

func (c *counters) snapshot() Stats {
	s := Stats{
		RunsStarted:      c.runsStarted.Load(),
		RunsEnded:        c.runsEnded.Load(),
		SpansSent:        c.spansSent.Load(),
		EventsSent:       c.eventsSent.Load(),
		Requests:         c.requests.Load(),
		SpansDropped:     c.spansDropped.Load(),
		EventsDropped:    c.evDropped.Load(),
		InFlightSpans:    int(c.inflightSpans.Load()),
		InFlightEvents:   int(c.inflightE.Load()),
		InFlightRequests: int(c.inflightReq.Load()),
	}
	c.mu.Lock()
	s.Dropped = make(map[string]int64, len(c.dropped))
	for k, v := range c.dropped {
		s.Dropped[k] = v
	}
	s.Altered = make(map[string]int64, len(c.altered))
	for k, v := range c.altered {
		s.Altered[k] = v
	}
	c.mu.Unlock()
	return s
}
