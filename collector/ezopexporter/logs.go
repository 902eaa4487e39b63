package ezopexporter

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	collexporter "go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/ezopotel/ezop-otel-go/bridge"
	"github.com/ezopotel/ezop-otel-go/exporter"
)

// Logs: the component is a logs exporter too, so that the content GenAI
// instrumentation records as log records (prompts and completions as
// gen_ai.* events, parented to the span of their model call) lands on the
// Ezop events of those spans. The traces and logs pipelines of one
// component instance (one ezop exporter id in the configuration) share
// one library exporter, so that a record finds its span whichever
// pipeline brings it first (see exporter.ExportLogRecords for how records
// wait for their spans).

// toRecords converts OTLP logs to the library's log records, with the
// scope name each was sent under. Records without a trace id are kept:
// the library counts them ("no trace context").
func toRecords(ld plog.Logs) []bridge.LogRecord {
	out := make([]bridge.LogRecord, 0, ld.LogRecordCount())
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			scope := sl.Scope().Name()
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				out = append(out, toRecord(lrs.At(k), scope))
			}
		}
	}
	return out
}

func toRecord(lr plog.LogRecord, scope string) bridge.LogRecord {
	r := bridge.LogRecord{
		SeverityNumber:    int(lr.SeverityNumber()),
		SeverityText:      lr.SeverityText(),
		EventName:         lr.EventName(),
		Body:              toValue(lr.Body()),
		Attributes:        toKeyValues(lr.Attributes()),
		TraceID:           trace.TraceID(lr.TraceID()),
		SpanID:            trace.SpanID(lr.SpanID()),
		Scope:             scope,
		DroppedAttributes: int(lr.DroppedAttributesCount()),
	}
	if ts := lr.Timestamp(); ts != 0 {
		r.Time = ts.AsTime()
	}
	if ts := lr.ObservedTimestamp(); ts != 0 {
		r.ObservedTime = ts.AsTime()
	}
	return r
}

// pushLogs converts ld and hands it to the library's exporter, waiting
// (within the export's timeout) for the records whose spans are known to
// be delivered; like pushTraces, delivery failures are never returned.
// With a persistent sending queue it returns only once every record is
// delivered or counted, records waiting for their span included.
func (e *ezopExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	e.mu.Lock()
	exp, durable, shut := e.exp, e.store != nil, e.shutCtx
	e.mu.Unlock()
	if exp == nil {
		return consumererror.NewPermanent(errors.New("ezop exporter: not started"))
	}
	recs := toRecords(ld)
	if len(recs) == 0 {
		return nil
	}
	if durable {
		err := exp.ExportLogRecordsDelivered(shut, recs)
		if errors.Is(err, exporter.ErrShutdown) {
			return consumererror.NewPermanent(err)
		}
		return nil
	}
	err := exp.ExportLogRecords(ctx, recs)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, exporter.ErrShutdown):
		return consumererror.NewPermanent(err)
	case ctx.Err() != nil:
		e.logger.Debug("Export timeout passed; delivery goes on in the background", zap.Int("log_records", len(recs)))
		return nil
	}
	return consumererror.NewPermanent(fmt.Errorf("ezop exporter: %w", err))
}

// The components of one configuration entry (its *Config, which the
// Collector hands to the factory for each signal) share one ezopExporter:
// it starts with the first of them and shuts down with the last.
var shared = struct {
	mu sync.Mutex
	m  map[*Config]*sharedExporter
}{m: map[*Config]*sharedExporter{}}

type sharedExporter struct {
	e       *ezopExporter
	users   int  // handles not shut down
	running int  // handles started and not shut down
	logs    bool // one of them is in a logs pipeline
}

// handle is one signal's use of a shared exporter.
type handle struct {
	cfg           *Config
	s             *sharedExporter
	started, shut bool
}

// acquire returns a handle on the exporter of cfg, made if needed; logs
// says it is for a logs pipeline.
func acquire(cfg *Config, set collexporter.Settings, logs bool) *handle {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	s := shared.m[cfg]
	if s == nil {
		s = &sharedExporter{e: newEzopExporter(cfg, set)}
		shared.m[cfg] = s
	}
	s.users++
	s.logs = s.logs || logs
	return &handle{cfg: cfg, s: s}
}

func (h *handle) start(ctx context.Context, host component.Host) error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if h.started || h.shut {
		return nil
	}
	if h.s.running == 0 {
		// Makes the library's exporter (no request); quick.
		if err := h.s.e.start(ctx, host); err != nil {
			return err
		}
		if h.s.logs {
			// The Collector creates every component before it starts
			// one: the library remembers what records after their span
			// need from the first span on.
			h.s.e.mu.Lock()
			h.s.e.exp.LogExporter()
			h.s.e.mu.Unlock()
		}
	}
	h.started = true
	h.s.running++
	return nil
}

func (h *handle) shutdown(ctx context.Context) error {
	shared.mu.Lock()
	if h.shut {
		shared.mu.Unlock()
		return nil
	}
	h.shut = true
	h.s.users--
	last := false
	if h.started {
		h.s.running--
		last = h.s.running == 0
	}
	if h.s.users == 0 && shared.m[h.cfg] == h.s {
		delete(shared.m, h.cfg)
	}
	shared.mu.Unlock()
	if last {
		return h.s.e.shutdown(ctx)
	}
	return nil
}
