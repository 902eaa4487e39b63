package exporter

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

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
// (otel.SetTracerProvider). Shutting the provider down shuts the exporter
// down.
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
	exp.lp.flusher = bsp
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
// root span starts, and ended by the exporter when the root ends.
//
// The processor never blocks the instrumented code: it hands the root span
// to a bounded queue (WithMaxLiveRuns) and a background goroutine starts
// the run. Starting a run and sending the finished trace are queued on the
// same run, in order, so a run is never created twice for one root; if the
// early start fails, or the queue is full, the exporter creates the run
// when the root ends, as without the processor.
//
// The run's trigger and user are taken from the root span's attributes at
// its start. Every call returns the same processor.
func (e *Exporter) LiveProcessor() sdktrace.SpanProcessor {
	e.lp.once.Do(func() {
		e.lp.q = make(chan sdktrace.ReadOnlySpan, e.cfg.maxLiveRuns)
		e.lp.ends = make(chan sdktrace.ReadOnlySpan, e.cfg.maxLiveRuns)
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
	// q hands roots that started from the instrumented code to
	// liveDispatch.
	q chan sdktrace.ReadOnlySpan
	// ends hands roots that ended to liveDispatch.
	ends chan sdktrace.ReadOnlySpan
	stop chan struct{}
	done chan struct{}
	// open counts runs started live whose root has not reached the
	// exporter, queued ones included.
	open   atomic.Int64
	closed atomic.Bool

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

// liveProcessor is the sdktrace.SpanProcessor of Exporter.LiveProcessor.
type liveProcessor struct{ e *Exporter }

// OnStart hands a starting local root to the dispatcher, without
// blocking.
func (p liveProcessor) OnStart(_ context.Context, s sdktrace.ReadWriteSpan) {
	if !bridge.IsLocalRoot(s) || !s.SpanContext().IsSampled() {
		return
	}
	lp := &p.e.lp
	if lp.closed.Load() {
		return
	}
	if lp.open.Add(1) > int64(p.e.cfg.maxLiveRuns) {
		lp.open.Add(-1)
		p.e.st.alter("run not started live: too many open runs (WithMaxLiveRuns); it starts when its root ends", 1)
		return
	}
	select {
	case lp.q <- s:
	default:
		lp.open.Add(-1)
		p.e.st.alter("run not started live: hand-off queue full; it starts when its root ends", 1)
	}
}

// OnEnd notes that a root ended, in case the batching processor drops it
// (its queue full) and it never reaches the exporter: the exporter then ends
// the run from this copy after the root wait (see releaseLiveEndsLocked).
// If Install set the processor up with its batching processor, it also
// asks for prompt delivery.
func (p liveProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	lp := &p.e.lp
	if !bridge.IsLocalRoot(s) || !s.SpanContext().IsSampled() || lp.closed.Load() {
		return
	}
	select {
	case lp.ends <- s:
	default: // the exporter will most likely receive the root anyway
	}
	if lp.flushReq == nil {
		return
	}
	select {
	case lp.flushReq <- struct{}{}:
	default: // a flush is already asked for
	}
}

// Shutdown stops live starts and prompt flushes; the exporter's own
// Shutdown (through the batching processor) delivers what was started.
func (p liveProcessor) Shutdown(context.Context) error {
	p.e.lp.closed.Store(true)
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

// liveDispatch starts the runs of roots handed over by OnStart.
func (e *Exporter) liveDispatch() {
	defer close(e.lp.done)
	for {
		select {
		case <-e.lp.stop:
			return
		case s := <-e.lp.q:
			e.liveStart(s)
			e.st.emit()
		case s := <-e.lp.ends:
			e.liveEnded(s)
		}
	}
}

// liveStart queues the start of the run of root s, unless the exporter
// already knows that run (the root ended, and was exported, first).
func (e *Exporter) liveStart(s sdktrace.ReadOnlySpan) {
	// Read the root outside the exporter's lock: the span may still be
	// running, and its own lock guards it.
	agent, start, issues := e.tr.RunStart(s)
	sc := s.SpanContext()
	tid, rid := sc.TraceID(), sc.SpanID()

	e.mu.Lock()
	defer e.mu.Unlock()
	for _, is := range issues {
		if is.Kind == bridge.Dropped {
			e.st.drop("", is.Reason, int64(is.Count), nil)
		} else {
			e.st.alter(is.Reason, int64(is.Count))
		}
	}
	ts := e.traces[tid]
	if ts == nil {
		ts = newTraceState(tid)
	}
	if _, known := ts.runs[rid]; known || e.closed {
		e.lp.open.Add(-1)
		e.settleLocked(ts)
		return
	}
	rn := &run{traceID: tid, live: true}
	ts.runs[rid] = rn
	ts.livePins++
	j := &job{plan: bridge.RunPlan{TraceID: tid, RootSpanID: rid, Agent: agent, Start: start}, done: make(chan struct{})}
	e.live[j] = struct{}{}
	e.enqueue(rn, j)
	e.settleLocked(ts)
}

// liveEnded keeps a copy of a live run's root that ended, until the root
// reaches the exporter.
func (e *Exporter) liveEnded(s sdktrace.ReadOnlySpan) {
	sc := s.SpanContext()
	e.mu.Lock()
	defer e.mu.Unlock()
	ts := e.traces[sc.TraceID()]
	if ts == nil {
		return
	}
	if rn := ts.runs[sc.SpanID()]; rn != nil && rn.live {
		rn.liveEnd, rn.liveEndAt = s, e.cfg.now()
	}
}

// releaseLiveEndsLocked ends live runs whose root ended (OnEnd) but did not
// reach the exporter, the batching processor having dropped it: from the
// copy OnEnd kept, once the root wait has passed since the end, or at once
// when all is set (at Shutdown, after the batching processor delivered
// what it had). Without this such a run would stay running on Ezop.
func (e *Exporter) releaseLiveEndsLocked(now time.Time, all bool) {
	for id, ts := range e.traces {
		if ts.livePins == 0 {
			continue
		}
		var roots []sdktrace.ReadOnlySpan
		for _, rn := range ts.runs {
			if rn != nil && rn.live && rn.liveEnd != nil && (all || now.Sub(rn.liveEndAt) >= e.cfg.rootWait) {
				roots = append(roots, rn.liveEnd)
				rn.liveEnd = nil
			}
		}
		if len(roots) > 0 {
			e.st.alter("run: root span did not reach the exporter (dropped by the batching processor?); ended from the live processor's copy", int64(len(roots)))
			e.acceptTraceLocked(id, roots)
		}
	}
}

// liveUnpinLocked notes that the root of rn reached the exporter: the
// run's trace may now be forgotten like any other.
func (e *Exporter) liveUnpinLocked(ts *traceState, rn *run) {
	if rn == nil || !rn.live {
		return
	}
	rn.live = false
	ts.livePins--
	e.lp.open.Add(-1)
}

// stopLive stops the dispatcher; roots still queued take the exporter-only
// path.
func (e *Exporter) stopLive() {
	e.lp.closed.Store(true)
	started := false
	e.lp.once.Do(func() {}) // no processor was ever made: nothing runs
	if e.lp.stop != nil {
		started = true
		close(e.lp.stop)
	}
	if started {
		e.stopLiveFlush()
		<-e.lp.done
		for {
			select {
			case <-e.lp.q:
				e.lp.open.Add(-1)
			case s := <-e.lp.ends:
				e.liveEnded(s)
			default:
				return
			}
		}
	}
}
