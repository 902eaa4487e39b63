package exporter

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/bridge"
)

// DefaultMaxLiveRuns is how many runs the live processor keeps open at
// once (WithMaxLiveRuns).
const DefaultMaxLiveRuns = 1024

// WithMaxLiveRuns bounds the runs that the live processor (see
// Exporter.LiveProcessor) has started and whose root span has not ended
// yet; it is also the size of its hand-off queue. Roots beyond it take the
// exporter-only path: their run is created when the root ends. Default:
// DefaultMaxLiveRuns.
func WithMaxLiveRuns(n int) Option {
	return optionFunc(func(c config) config {
		c.maxLiveRuns = n
		return c
	})
}

// Install is the one-line setup with live runs: it creates an Exporter with
// opts, and a TracerProvider with res that sends to it through a batching
// span processor and starts runs as their root spans start (see
// Exporter.LiveProcessor). It also makes the provider the global one
// (otel.SetTracerProvider).
//
// It also sets up the logs side: a LoggerProvider with res that sends the
// log records of GenAI instrumentation (prompts and completions recorded
// as gen_ai.* events) to the same exporter through a batching log
// processor (see Exporter.LogExporter), made the global LoggerProvider
// (go.opentelemetry.io/otel/log/global). Shutting the TracerProvider down
// flushes and shuts down that LoggerProvider too, the records it was
// handed first, and then the exporter: what was handed over before is
// delivered.
//
//	tp, err := exporter.Install(ctx, res)
//	if err != nil { ... }
//	defer tp.Shutdown(ctx)
func Install(ctx context.Context, res *resource.Resource, opts ...Option) (*sdktrace.TracerProvider, error) {
	exp, err := New(ctx, opts...)
	if err != nil {
		return nil, err
	}
	// The live processor asks the batching processor to deliver as soon
	// as a root ends, so the run's end time on Ezop is not late by the
	// batch delay.
	bsp := sdktrace.NewBatchSpanProcessor(exp)
	// The logs side (logs.go); prompt delivery flushes the log records
	// before the spans, so that records join the events of their spans.
	exp.lp.flusher = exp.installLogs(res, bsp)
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSpanProcessor(exp.LiveProcessor()),
		sdktrace.WithSpanProcessor(bsp),
	)
	otel.SetTracerProvider(tp)
	return tp, nil
}

// LiveProcessor returns the span processor that makes runs live on Ezop:
// register it on the same TracerProvider as the exporter (Install does
// both). Ezop stamps a run's start and end with its own clock when it
// receives them, and an exporter sees a root span only when it ends; so
// without the processor every run looks instantaneous and nothing shows
// while an agent works. With it, a run is started as soon as its local
// root span starts, with the root as its top-level Ezop span, its other
// spans are sent as they reach the exporter, and the exporter ends the run
// when the root ends.
//
// The processor never blocks the instrumented code: OnStart and OnEnd note
// the root in a bounded hand-off (WithMaxLiveRuns) and a background
// goroutine does the rest, in the order the roots started and ended.
// Starting a run and sending its parts are queued on the same run, so a
// run is never created twice for one root; if the early start fails, or
// WithMaxLiveRuns runs are open, the exporter creates the run when the
// root ends, as without the processor. If the root never reaches the
// exporter (the batching processor dropped it), the run is ended from the
// copy OnEnd kept, after the root wait, or at Shutdown.
//
// The run's trigger and user, and the root span's metadata, are taken
// from the root span's attributes at its start. Every call returns the same
// processor.
func (e *Exporter) LiveProcessor() sdktrace.SpanProcessor {
	e.lp.once.Do(func() {
		e.lp.open = map[liveKey]struct{}{}
		e.lp.signal = make(chan struct{}, 1)
		e.lp.stop = make(chan struct{})
		e.lp.done = make(chan struct{})
		go e.liveDispatch()
		if e.lp.flusher != nil {
			e.lp.flushReq = make(chan struct{}, 1)
			e.lp.flushCtx, e.lp.flushStop = context.WithCancel(context.Background())
			e.lp.flushDone = make(chan struct{})
			go e.liveFlush()
		}
	})
	return liveProcessor{e}
}

// live is the state of the live processor.
type live struct {
	once sync.Once

	// mu guards open, events and closed. OnStart and OnEnd take only this
	// lock, briefly; the lifecycle takes it inside Exporter.mu.
	mu sync.Mutex
	// open are the roots started live whose run holds a slot: from
	// OnStart until the root reaches the exporter (or the run ends
	// without it). At most maxLiveRuns.
	open map[liveKey]struct{}
	// events are starts and ends of open roots, in the order they
	// happened, not yet applied (at most two per open root).
	events []liveEvent
	closed bool

	signal chan struct{} // wakes liveDispatch; holds one
	stop   chan struct{}
	done   chan struct{}

	// flusher, set by Install, is the batching processor in front of the
	// exporter: when a live root ends, liveFlush asks it to deliver now.
	// Requests coalesce (flushReq holds one), so under load batches still
	// fill.
	flusher   interface{ ForceFlush(context.Context) error }
	flushReq  chan struct{}
	flushCtx  context.Context
	flushStop context.CancelFunc
	flushDone chan struct{}
}

type liveKey struct {
	trace trace.TraceID
	span  trace.SpanID
}

// liveEvent is a root that started (end false) or ended.
type liveEvent struct {
	s   sdktrace.ReadOnlySpan
	end bool
}

func keyOf(s sdktrace.ReadOnlySpan) liveKey {
	sc := s.SpanContext()
	return liveKey{sc.TraceID(), sc.SpanID()}
}

// liveProcessor is the sdktrace.SpanProcessor of Exporter.LiveProcessor.
type liveProcessor struct{ e *Exporter }

// OnStart notes a starting local root, without blocking.
func (p liveProcessor) OnStart(_ context.Context, s sdktrace.ReadWriteSpan) {
	if !bridge.IsLocalRoot(s) || !s.SpanContext().IsSampled() {
		return
	}
	e := p.e
	lp := &e.lp
	lp.mu.Lock()
	if lp.closed {
		lp.mu.Unlock()
		return
	}
	if len(lp.open) >= e.cfg.maxLiveRuns {
		lp.mu.Unlock()
		e.st.alter("run not started live: too many open runs (WithMaxLiveRuns); it starts when its root ends", 1)
		return
	}
	lp.open[keyOf(s)] = struct{}{}
	lp.events = append(lp.events, liveEvent{s: s})
	lp.mu.Unlock()
	select {
	case lp.signal <- struct{}{}:
	default:
	}
}

// OnEnd notes that a live root ended, keeping the root in case the
// batching processor drops it (its queue full) and it never reaches the
// exporter. If Install set the processor up with its batching processor,
// it also asks for prompt delivery.
func (p liveProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if !bridge.IsLocalRoot(s) || !s.SpanContext().IsSampled() {
		return
	}
	lp := &p.e.lp
	lp.mu.Lock()
	_, open := lp.open[keyOf(s)]
	if open && !lp.closed {
		lp.events = append(lp.events, liveEvent{s: s, end: true})
	}
	lp.mu.Unlock()
	if !open || lp.flushReq == nil {
		return
	}
	select {
	case lp.flushReq <- struct{}{}:
	default: // a flush is already asked for
	}
}

// Shutdown stops live starts and prompt flushes; the exporter's own
// Shutdown (through the batching processor) delivers what was started.
func (p liveProcessor) Shutdown(ctx context.Context) error {
	// Install's log records before the batcher's last spans (logs.go).
	p.e.flushLogProvider(ctx)
	p.e.lp.mu.Lock()
	p.e.lp.closed = true
	p.e.lp.mu.Unlock()
	p.e.stopLiveFlush()
	return nil
}

// liveFlush delivers promptly after roots end (see live.flusher).
func (e *Exporter) liveFlush() {
	defer close(e.lp.flushDone)
	for {
		select {
		case <-e.lp.flushCtx.Done():
			return
		case <-e.lp.flushReq:
			if err := e.lp.flusher.ForceFlush(e.lp.flushCtx); err != nil && e.lp.flushCtx.Err() == nil {
				e.st.report(fmt.Errorf("ezop exporter: prompt delivery after a run's end: %w", err))
			}
		}
	}
}

func (e *Exporter) stopLiveFlush() {
	if e.lp.flushStop != nil {
		e.lp.flushStop()
		<-e.lp.flushDone
	}
}

// ForceFlush has nothing to flush: runs are started as soon as possible.
func (liveProcessor) ForceFlush(context.Context) error { return nil }

// liveDispatch applies the live starts and ends as they come.
func (e *Exporter) liveDispatch() {
	defer close(e.lp.done)
	for {
		select {
		case <-e.lp.stop:
			return
		case <-e.lp.signal:
			now := e.cfg.now()
			e.mu.Lock()
			e.applyLiveLocked(now)
			e.mu.Unlock()
			e.st.emit()
		}
	}
}

// applyLiveLocked applies the live events noted since the last call, in
// order. ExportSpans calls it first, so a root is started live before its
// own arrival is placed.
func (e *Exporter) applyLiveLocked(now time.Time) {
	lp := &e.lp
	lp.mu.Lock()
	evs := lp.events
	lp.events = nil
	lp.mu.Unlock()
	for _, ev := range evs {
		if ev.end {
			e.liveEndLocked(ev.s, now)
		} else {
			e.liveStartLocked(ev.s, now)
		}
	}
}

// liveStartLocked is a root starting: its run is made and its start
// queued, unless the exporter already knows the root.
func (e *Exporter) liveStartLocked(s sdktrace.ReadOnlySpan, now time.Time) {
	sc := s.SpanContext()
	ts := e.traceLocked(sc.TraceID())
	rid := sc.SpanID()
	if _, known := ts.runs[rid]; known || ts.index[rid] != nil || e.closed {
		e.lp.release(keyOf(s))
		e.settleLocked(ts, now)
		return
	}
	r := e.newRunLocked(ts, rid)
	r.live = true
	ts.index[rid] = r
	ts.livePins++
	e.liveOpen[r] = struct{}{}
	e.enqueueLocked(r, &work{kind: workStart, root: s})
	// Spans that arrived before the start was applied may hang off it.
	e.resolveLocked(ts, now, nil)
	e.settleLocked(ts, now)
}

// liveEndLocked is a live root ending: the run keeps the copy until the
// root reaches the exporter.
func (e *Exporter) liveEndLocked(s sdktrace.ReadOnlySpan, now time.Time) {
	sc := s.SpanContext()
	ts := e.traces[sc.TraceID()]
	if ts == nil {
		return
	}
	if r := ts.runs[sc.SpanID()]; r != nil && r.live && !r.rootArrived {
		r.liveEnd, r.liveEndAt = s, now
	}
}

// unliveLocked notes that the live run r holds its slot no more: its root
// arrived, or it ends without it.
func (e *Exporter) unliveLocked(ts *traceState, r *run) {
	r.live = false
	r.liveEnd = nil
	ts.livePins--
	delete(e.liveOpen, r)
	e.lp.release(liveKey{r.traceID, r.key})
}

func (lp *live) release(k liveKey) {
	lp.mu.Lock()
	delete(lp.open, k)
	lp.mu.Unlock()
}

// stopLive stops the processor and its dispatcher; Shutdown applies what
// is left.
func (e *Exporter) stopLive() {
	e.lp.once.Do(func() {}) // no processor was ever made: nothing runs
	e.lp.mu.Lock()
	e.lp.closed = true
	e.lp.mu.Unlock()
	if e.lp.stop != nil {
		e.stopLiveFlush()
		close(e.lp.stop)
		<-e.lp.done
	}
}
