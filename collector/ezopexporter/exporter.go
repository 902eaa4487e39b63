package ezopexporter

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer/consumererror"
	collexporter "go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/ezopotel/ezop-otel-go/exporter"
)

// ezopExporter is the component: it converts each batch and hands it to
// the library's exporter, which it creates at Start and shuts down at
// Shutdown.
type ezopExporter struct {
	cfg    *Config
	logger *zap.Logger
	// meters is the Collector's own telemetry, where the library's
	// exporter reports its metrics.
	meters metric.MeterProvider

	id component.ID

	mu   sync.Mutex
	exp  *exporter.Exporter
	host component.Host
	// store keeps the runs started in the sending queue's storage, when
	// the queue is persistent (runstore.go); then pushTraces returns only
	// once its spans are delivered or counted, so that the queue never
	// lets go of data only held in memory.
	store *runStore
	// shut ends the waits of durable pushes at Shutdown.
	shut, shutStop func()
	shutCtx        context.Context
	// authDown is set while the Ezop API refuses the key: the component
	// reported a recoverable error, and reports OK once more data was
	// delivered than by the first export after the refusal (baseline,
	// unset while needBaseline).
	authDown     bool
	needBaseline bool
	baseline     int64
}

func newEzopExporter(cfg *Config, set collexporter.Settings) *ezopExporter {
	return &ezopExporter{cfg: cfg, logger: set.Logger, meters: set.MeterProvider, id: set.ID}
}

func (e *ezopExporter) start(_ context.Context, host component.Host) error {
	opts := append(e.cfg.options(), exporter.WithErrorHandler(otel.ErrorHandlerFunc(e.handle)))
	if e.meters != nil {
		opts = append(opts, exporter.WithMeterProvider(e.meters))
	}
	var store *runStore
	if id := e.storageID(); id != nil {
		s, err := newRunStore(context.Background(), host, *id, e.id, e.cfg.runRetention())
		if err != nil {
			return fmt.Errorf("ezop exporter: run store: %w", err)
		}
		store = s
		opts = append(opts, exporter.WithRunStore(s))
	}
	exp, err := exporter.New(context.Background(), opts...)
	if err != nil {
		if store != nil {
			_ = store.close(context.Background())
		}
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.mu.Lock()
	e.exp, e.host, e.store = exp, host, store
	e.shutCtx, e.shutStop = ctx, cancel
	e.mu.Unlock()
	return nil
}

// storageID is the storage extension of a persistent sending queue, or
// nil.
func (e *ezopExporter) storageID() *component.ID {
	if !e.cfg.QueueConfig.HasValue() {
		return nil
	}
	return e.cfg.QueueConfig.Get().StorageID
}

func (e *ezopExporter) shutdown(ctx context.Context) error {
	e.mu.Lock()
	exp, store, stop := e.exp, e.store, e.shutStop
	e.mu.Unlock()
	if exp == nil {
		return nil // never started
	}
	err := exp.Shutdown(ctx)
	stop() // durable pushes still waiting return: what is left is counted
	if store != nil {
		if cerr := store.close(ctx); cerr != nil && err == nil {
			err = cerr
		}
	}
	st := exp.Stats()
	e.logger.Info("Ezop exporter stopped",
		zap.Int64("runs_started", st.RunsStarted), zap.Int64("runs_ended", st.RunsEnded),
		zap.Int64("spans_sent", st.SpansSent), zap.Int64("events_sent", st.EventsSent),
		zap.Int64("spans_dropped", st.SpansDropped), zap.Int64("events_dropped", st.EventsDropped))
	return err
}

// pushTraces converts td and hands it to the library's exporter, waiting
// (within the export's timeout) for the runs it completes to be delivered.
// Delivery failures are the exporter's to retry, count and report (see
// handle); they are never returned, so that a batch is never sent twice.
//
// With a persistent sending queue it returns only once every span of the
// batch is delivered or counted (spans waiting for their root and through
// an outage included), whatever the export timeout: the queue deletes a
// batch from storage when the export returns, and a batch a crash
// interrupts is replayed at the next start.
func (e *ezopExporter) pushTraces(ctx context.Context, td ptrace.Traces) error {
	e.mu.Lock()
	exp, durable, shut := e.exp, e.store != nil, e.shutCtx
	e.mu.Unlock()
	if exp == nil {
		return consumererror.NewPermanent(errors.New("ezop exporter: not started"))
	}
	c := toSpans(td)
	if c.invalid > 0 {
		e.logger.Warn("Spans without a trace id or span id left out", zap.Int("count", c.invalid))
	}
	if len(c.spans) == 0 {
		return nil
	}
	if durable {
		err := exp.ExportSpansDelivered(shut, c.spans)
		e.authRecovered(exp)
		if errors.Is(err, exporter.ErrShutdown) {
			return consumererror.NewPermanent(err)
		}
		return nil // settled, or the component shut down (counted)
	}
	err := exp.ExportSpans(ctx, c.spans)
	e.authRecovered(exp)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, exporter.ErrShutdown):
		return consumererror.NewPermanent(err)
	case ctx.Err() != nil:
		// The timeout passed: the exporter holds the spans and goes on
		// delivering them.
		e.logger.Debug("Export timeout passed; delivery goes on in the background", zap.Int("spans", len(c.spans)))
		return nil
	}
	return consumererror.NewPermanent(fmt.Errorf("ezop exporter: %w", err))
}

// handle is the library exporter's error handler: drops are warnings,
// notices of altered data information (each reason once), other failures
// errors. A refused API key also sets the component's status.
func (e *ezopExporter) handle(err error) {
	var drop *exporter.DropError
	var notice *exporter.AlterNotice
	switch {
	case errors.As(err, &drop):
		fields := []zap.Field{zap.String("reason", drop.Reason), zap.Int64("count", drop.Count)}
		if drop.Err != nil {
			fields = append(fields, zap.NamedError("cause", drop.Err))
		}
		e.logger.Warn("Ezop: data not delivered", fields...)
	case errors.As(err, &notice):
		e.logger.Info("Ezop: data sent altered", zap.String("reason", notice.Reason))
	default:
		e.logger.Error("Ezop exporter", zap.Error(err))
	}
	if errors.Is(err, exporter.ErrAuth) {
		// Not exp.Stats() here: the handler runs inside the exporter.
		e.mu.Lock()
		host := e.host
		first := !e.authDown
		e.authDown, e.needBaseline = true, true
		e.mu.Unlock()
		if first && host != nil {
			componentstatus.ReportStatus(host, componentstatus.NewRecoverableErrorEvent(err))
		}
	}
}

// authRecovered reports the component OK again once something was
// delivered after the API key was refused.
func (e *ezopExporter) authRecovered(exp *exporter.Exporter) {
	e.mu.Lock()
	if !e.authDown {
		e.mu.Unlock()
		return
	}
	st := exp.Stats()
	delivered := st.SpansSent + st.EventsSent + st.RunsStarted
	if e.needBaseline || delivered <= e.baseline {
		e.baseline, e.needBaseline = max(e.baseline, delivered), false
		e.mu.Unlock()
		return
	}
	e.authDown = false
	host := e.host
	e.mu.Unlock()
	if host != nil {
		componentstatus.ReportStatus(host, componentstatus.NewEvent(componentstatus.StatusOK))
	}
}
