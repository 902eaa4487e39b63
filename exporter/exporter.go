package exporter

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
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
	reasonMaxBytes    = "buffer full: max buffered bytes"
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
	met *selfMetrics // the exporter's own metrics (metrics.go)

	pool   *pool
	agents agentCache

	// bg is the context of every request; Shutdown cancels it when its
	// deadline passes.
	bg     context.Context
	cancel context.CancelFunc

	// authUntil is when sending resumes after the server refused the API
	// key; guarded by authMu.
	authMu    sync.Mutex
	authUntil time.Time

	// quota pauses events once the plan's event quota is used up (send.go).
	quota quotaGate

	// mu guards the lifecycle state (lifecycle.go). It is held only for
	// bookkeeping: never while translating, sending or calling user code.
	mu              sync.Mutex
	traces          map[trace.TraceID]*traceState
	waiting         *list.List // *traceState with pending spans, oldest first
	remembered      *list.List // *traceState remembered, least recently used first
	liveOpen        map[*run]struct{}
	works           map[*work]struct{} // queued and not done
	buffered        int                // pending spans
	bufferedBytes   int                // their estimated size
	inflightBytes   atomic.Int64       // estimated size of the spans queued on runs
	rememberedBytes int
	closed          bool

	lp live // the live processor's state (live.go)

	logs logState // log records (logs.go)

	outageState // (outage.go)

	janitorStop chan struct{}
	janitorDone chan struct{}
	drainers    sync.WaitGroup
	shutdown    sync.Once
	shutdownErr error
}

// New returns an Exporter that sends to the Ezop API. It fails when the
// client cannot be configured (no API key, a malformed endpoint); it makes
// no request.
func New(ctx context.Context, opts ...Option) (*Exporter, error) {
	_ = ctx // reserved: New makes no request.
	cfg := newConfig(opts)
	if cfg.err != nil {
		return nil, cfg.err // a malformed environment variable (env.go)
	}
	var e *Exporter
	cfg.clientOpts = append(cfg.clientOpts, client.WithOutageHook(func(down bool, since time.Time, cause error) {
		e.outageChanged(down, since, cause)
	}))
	api, err := client.New(cfg.clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("ezop exporter: %w", err)
	}
	bg, cancel := context.WithCancel(context.Background())
	e = &Exporter{
		cfg:         cfg,
		tr:          bridge.NewTranslator(cfg.translate),
		api:         api,
		st:          newCounters(cfg.handler, cfg.reportInterval, cfg.now),
		pool:        newPool(cfg.concurrency),
		bg:          bg,
		cancel:      cancel,
		traces:      map[trace.TraceID]*traceState{},
		waiting:     list.New(),
		remembered:  list.New(),
		liveOpen:    map[*run]struct{}{},
		works:       map[*work]struct{}{},
		janitorStop: make(chan struct{}),
		janitorDone: make(chan struct{}),
	}
	e.agents.init(cfg.maxAgents)
	e.startMetrics()
	go e.janitor()
	return e, nil
}

// Stats returns the exporter's counters.
func (e *Exporter) Stats() Stats {
	s := e.st.snapshot()
	cs := e.api.Stats()
	s.RequestsRetried, s.RunsAdopted, s.RunStartsAmbiguous = cs.Retries, cs.RunsAdopted, cs.AdoptionsAmbiguous
	e.mu.Lock()
	s.BufferedTraces, s.BufferedSpans, s.BufferedBytes = e.waiting.Len(), e.buffered, e.bufferedBytes
	s.RememberedTraces, s.RememberedBytes = e.remembered.Len(), e.rememberedBytes
	s.LiveRuns = len(e.liveOpen)
	s.InFlightBytes = int(e.inflightBytes.Load())
	s.Outage = e.down()
	e.recordStatsLocked(&s) // logs.go
	e.mu.Unlock()
	return s
}

// ExportSpans hands spans to the exporter. Spans whose run is known (their
// local root span has ended, or its run was started live) are sent, and
// ExportSpans returns once they are delivered or given up on, or when ctx
// ends (the sending then goes on in the background). Other spans wait for
// their root, at most the root wait (see WithRootWait).
//
// What cannot be delivered is counted in Stats and reported through the
// error handler, not returned: the returned error is ctx's, or ErrShutdown
// after Shutdown. Through an outage of the Ezop API (see WithMaxOutage)
// ExportSpans holds the spans and returns nil when ctx ends: the outage is
// reported once through the error handler, not once a batch.
func (e *Exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	groups := intake(spans)
	now := e.cfg.now()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		e.drop(kindSpan, reasonShutdown, int64(len(spans)), nil)
		return ErrShutdown
	}
	e.applyLiveLocked(now)
	var works []*work
	for _, g := range groups {
		works = e.placeLocked(e.traceLocked(g.id), g.spans, now, works)
	}
	e.mu.Unlock()
	e.st.emit()
	if e.down() {
		return nil // held through the outage, which is reported on its own
	}
	if err := waitWorksOr(ctx, works, e.outageSignal()); err != nil && !e.down() {
		return err
	}
	// Delivered, or held through an outage (reported once, on its own).
	return nil
}

// traceGroup is the part of a batch that belongs to one trace.
type traceGroup struct {
	id    trace.TraceID
	spans []*pendingSpan
}

// intake groups a batch by trace, in order of first appearance, and
// estimates each span's size. It keeps the spans, never the caller's
// slice: the SDK's ended spans are immutable snapshots.
func intake(spans []sdktrace.ReadOnlySpan) []traceGroup {
	var groups []traceGroup
	at := map[trace.TraceID]int{}
	for _, s := range spans {
		if s == nil {
			continue
		}
		id := s.SpanContext().TraceID()
		i, ok := at[id]
		if !ok {
			i = len(groups)
			at[id] = i
			groups = append(groups, traceGroup{id: id})
		}
		groups[i].spans = append(groups[i].spans, &pendingSpan{s: s, bytes: spanSize(s)})
	}
	return groups
}

// ForceFlush sends the spans still waiting for their root span now (as
// runs their root completes if it comes) and waits until everything handed
// to the exporter before the call is delivered or given up on, or ctx
// ends.
func (e *Exporter) ForceFlush(ctx context.Context) error {
	now := e.cfg.now()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.applyLiveLocked(now)
	e.flushAllLocked(now)
	works := e.worksLocked()
	e.mu.Unlock()
	e.st.emit()
	return waitWorks(ctx, works)
}

// Shutdown sends everything the exporter holds, spans waiting for their
// root included, and ends every run it started whose root never came (see
// the package documentation); it waits for that until ctx ends, then
// stops. What was not delivered by then is counted as dropped and named in
// the returned error. After Shutdown, ExportSpans refuses spans. Shutdown
// is idempotent: later calls return nil.
func (e *Exporter) Shutdown(ctx context.Context) error {
	first := false
	e.shutdown.Do(func() {
		first = true
		e.shutdownErr = e.doShutdown(ctx)
		e.stopMetrics()
	})
	if !first {
		return nil
	}
	return e.shutdownErr
}

func (e *Exporter) doShutdown(ctx context.Context) error {
	// The log records Install's LoggerProvider still batches come first,
	// to join the spans (logs.go).
	e.shutdownLogProvider(ctx)
	e.stopLive()
	close(e.janitorStop)
	<-e.janitorDone

	e.mu.Lock()
	e.closeLocked(e.cfg.now())
	e.closed = true
	works := e.worksLocked()
	e.mu.Unlock()
	e.st.emit()

	err := waitWorks(ctx, works)
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
	e.api.Close()
	e.st.flushReports()
	if err != nil {
		return fmt.Errorf("ezop exporter: shutdown: %s: %w", lost, err)
	}
	return nil
}

func (e *Exporter) worksLocked() []*work {
	works := make([]*work, 0, len(e.works))
	for w := range e.works {
		works = append(works, w)
	}
	return works
}

func waitWorks(ctx context.Context, works []*work) error {
	return waitWorksOr(ctx, works, nil)
}

// waitWorksOr is waitWorks that also stops, returning nil, when stop is
// closed.
func waitWorksOr(ctx context.Context, works []*work, stop <-chan struct{}) error {
	for _, w := range works {
		select {
		case <-w.done:
		case <-stop:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// janitor ticks the lifecycle: root waits, link waits, live roots the
// batcher dropped, traces to forget.
func (e *Exporter) janitor() {
	defer close(e.janitorDone)
	tick := min(max(min(e.cfg.rootWait, e.cfg.linkWait)/4, 5*time.Millisecond), time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-e.janitorStop:
			return
		case <-t.C:
			now := e.cfg.now()
			e.mu.Lock()
			e.tickLocked(now)
			e.mu.Unlock()
			e.st.emit()
		}
	}
}
