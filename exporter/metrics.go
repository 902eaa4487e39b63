package exporter

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/otelconv"

	"github.com/ezopotel/ezop-otel-go/internal/client"
	"github.com/ezopotel/ezop-otel-go/internal/version"
)

// Self-observability: the exporter reports its health as OpenTelemetry
// metrics, through the MeterProvider of WithMeterProvider or, without it,
// the global one (otel.GetMeterProvider, a no-op until the program sets
// one). The names, units and attributes of the SDK exporter metrics are
// those of the OpenTelemetry semantic conventions (semconv v1.43.0,
// "OpenTelemetry SDK metrics"); the exporter's own metrics are under
// ezop.exporter.
//
// Every metric but the operation duration is asynchronous: one callback
// reads Stats when a reader collects, so the exporter records nothing per
// span or event, and the counters equal those of Stats. The operation
// duration is a histogram recorded once per API operation (its retries
// included), on the goroutine that sent it, when the provider enables it.

// Instrumentation scope of the metrics, and the otel.component.type of the
// exporter (no standard value applies, so it is the Go type's name, as the
// semantic conventions ask and as OpenTelemetry Go's own exporters do).
const (
	MeterName     = "github.com/ezopotel/ezop-otel-go/exporter"
	ComponentType = "github.com/ezopotel/ezop-otel-go/exporter.Exporter"
)

// Names of the exporter's own metrics (the SDK exporter metrics use the
// semantic conventions' names: otel.sdk.exporter.span.inflight,
// otel.sdk.exporter.span.exported, otel.sdk.exporter.operation.duration).
const (
	metricEventInflight    = "ezop.exporter.event.inflight"
	metricEventExported    = "ezop.exporter.event.exported"
	metricRunStarted       = "ezop.exporter.run.started"
	metricRunEnded         = "ezop.exporter.run.ended"
	metricRunLive          = "ezop.exporter.run.live"
	metricRequestSent      = "ezop.exporter.request.sent"
	metricRequestRetried   = "ezop.exporter.request.retried"
	metricRequestInflight  = "ezop.exporter.request.inflight"
	metricDropped          = "ezop.exporter.dropped"
	metricAltered          = "ezop.exporter.altered"
	metricBufferTraces     = "ezop.exporter.buffer.traces"
	metricBufferSpans      = "ezop.exporter.buffer.spans"
	metricBufferSize       = "ezop.exporter.buffer.size"
	metricRememberedTraces = "ezop.exporter.remembered.traces"
	metricRememberedSize   = "ezop.exporter.remembered.size"
)

// Attributes of the exporter's own metrics.
const (
	// attrItem is what a drop lost: span, event, run, or other (a value or
	// a part the translation left out).
	attrItem = attribute.Key("ezop.exporter.item")
	// attrReason is the reason of a drop or an alteration, as the key of
	// Stats.Dropped or Stats.Altered (at most 256 distinct, then "other").
	attrReason = attribute.Key("ezop.exporter.reason")
)

// Values of error.type: the class of a failure, low-cardinality.
const (
	errTypeBufferFull   = "buffer_full"
	errTypeAuth         = "auth"
	errTypeValidation   = "validation"
	errTypeNotFound     = "not_found"
	errTypeRateLimited  = "rate_limited"
	errTypeServer       = "server_error"
	errTypeTransport    = "transport"
	errTypeInvalidArg   = "invalid_argument"
	errTypeUnavailable  = "unavailable" // an outage longer than WithMaxOutage
	errTypeShutdown     = "shutdown"
	errTypeParentNotRun = "parent_run_not_started"
	errTypeOther        = "_OTHER" // otelconv.ErrorTypeOther
)

// durationBuckets are the histogram's bucket boundaries in seconds (those
// the semantic conventions advise for HTTP client durations).
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// WithMeterProvider makes the exporter report its metrics (see the
// package documentation, section Metrics) through mp. Default: the global
// MeterProvider (otel.GetMeterProvider), which records nothing until the
// program sets one with otel.SetMeterProvider. Pass a no-op provider
// (go.opentelemetry.io/otel/metric/noop) to keep the exporter out of a
// global one.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c config) config {
		c.meterProvider = mp
		return c
	})
}

// componentIDs numbers exporters in the process, for otel.component.name
// ("<type>/<n>", n from 0, as the semantic conventions suggest).
var componentIDs atomic.Int64

// selfMetrics are an exporter's instruments and the registration of their
// callback.
type selfMetrics struct {
	reg metric.Registration

	// duration is recorded on the request path; okObs and okRec hold the
	// attributes of a success.
	duration otelconv.SDKExporterOperationDuration
	base     []attribute.KeyValue
	okObs    metric.ObserveOption
	okRec    metric.RecordOption

	spanInflight, eventInflight, runLive, reqInflight  metric.Int64ObservableUpDownCounter
	bufTraces, bufSpans, bufBytes, memTraces, memBytes metric.Int64ObservableUpDownCounter
	spanExported, eventExported, runStarted, runEnded  metric.Int64ObservableCounter
	reqSent, reqRetried, dropped, altered              metric.Int64ObservableCounter

	// mu guards the high-water marks of the failures counted only in the
	// totals (reasons beyond the 256 kept): observed counters never go
	// down, even when a collection reads Stats between a drop's total and
	// its reason.
	mu                    sync.Mutex
	spanOther, eventOther int64
	classSets             map[string]metric.ObserveOption
}

// startMetrics creates the instruments and registers their callback.
// Failures are reported through the error handler; the exporter works
// without its metrics.
func (e *Exporter) startMetrics() {
	mp := e.cfg.meterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := &selfMetrics{classSets: map[string]metric.ObserveOption{}}
	m.base = baseAttrs(componentIDs.Add(1)-1, e.api.Endpoint())
	set := attribute.NewSet(m.base...)
	m.okObs, m.okRec = metric.WithAttributeSet(set), metric.WithAttributeSet(set)
	e.met = m

	meter := mp.Meter(MeterName, metric.WithInstrumentationVersion(version.Version), metric.WithSchemaURL(semconv.SchemaURL))
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	m.duration, err = otelconv.NewSDKExporterOperationDuration(meter,
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	note(err)
	si, err := otelconv.NewSDKExporterSpanInflightObservable(meter)
	note(err)
	m.spanInflight = si.Inst()
	se, err := otelconv.NewSDKExporterSpanExportedObservable(meter)
	note(err)
	m.spanExported = se.Inst()

	upDown := func(name, unit, desc string) metric.Int64ObservableUpDownCounter {
		i, err := meter.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		note(err)
		return i
	}
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		i, err := meter.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		note(err)
		return i
	}
	m.eventInflight = upDown(metricEventInflight, "{event}", "The number of Ezop events translated and not yet delivered or given up on.")
	m.eventExported = counter(metricEventExported, "{event}", "The number of Ezop events whose export has finished, stored (no error.type) or not delivered (error.type: why).")
	m.runStarted = counter(metricRunStarted, "{run}", "The number of runs started on Ezop.")
	m.runEnded = counter(metricRunEnded, "{run}", "The number of runs ended on Ezop.")
	m.runLive = upDown(metricRunLive, "{run}", "The number of runs started by the live processor whose root span has not reached the exporter.")
	m.reqSent = counter(metricRequestSent, "{request}", "The number of Ezop API operations made, each counted once however often it was retried.")
	m.reqRetried = counter(metricRequestRetried, "{request}", "The number of retry attempts of Ezop API operations.")
	m.reqInflight = upDown(metricRequestInflight, "{request}", "The number of Ezop API operations being sent.")
	m.dropped = counter(metricDropped, "{item}", "The number of items not delivered, by reason (the keys of Stats.Dropped).")
	m.altered = counter(metricAltered, "{item}", "The number of items delivered changed, by reason (the keys of Stats.Altered).")
	m.bufTraces = upDown(metricBufferTraces, "{trace}", "The number of traces whose spans wait for their run (their root span or remote parent).")
	m.bufSpans = upDown(metricBufferSpans, "{span}", "The number of spans waiting for their run.")
	m.bufBytes = upDown(metricBufferSize, "By", "The estimated size of the spans waiting for their run.")
	m.memTraces = upDown(metricRememberedTraces, "{trace}", "The number of finished traces remembered for their late spans.")
	m.memBytes = upDown(metricRememberedSize, "By", "The estimated memory of the remembered traces.")

	m.reg, err = meter.RegisterCallback(e.observe,
		m.spanInflight, m.spanExported, m.eventInflight, m.eventExported,
		m.runStarted, m.runEnded, m.runLive, m.reqSent, m.reqRetried, m.reqInflight,
		m.dropped, m.altered, m.bufTraces, m.bufSpans, m.bufBytes, m.memTraces, m.memBytes)
	note(err)
	if len(errs) > 0 {
		e.st.report(fmt.Errorf("ezop exporter: metrics: %w", errors.Join(errs...)))
	}
}

// stopMetrics unregisters the callback, so that a shut-down exporter is
// not kept by its MeterProvider.
func (e *Exporter) stopMetrics() {
	if m := e.met; m != nil && m.reg != nil {
		if err := m.reg.Unregister(); err != nil {
			e.st.report(fmt.Errorf("ezop exporter: metrics: %w", err))
		}
	}
}

// baseAttrs are the attributes of every measurement: the component and
// the server.
func baseAttrs(id int64, endpoint string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		semconv.OTelComponentTypeKey.String(ComponentType),
		semconv.OTelComponentName(ComponentType + "/" + strconv.FormatInt(id, 10)),
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Hostname() == "" {
		return attrs
	}
	attrs = append(attrs, semconv.ServerAddress(u.Hostname()))
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if p, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, semconv.ServerPort(p))
	}
	return attrs
}

// opStart is when an API operation starts, the zero time when its
// duration is not recorded (metrics off): the request path then costs one
// check.
func (m *selfMetrics) opStart() time.Time {
	if m == nil || !m.duration.Enabled(context.Background()) {
		return time.Time{}
	}
	return time.Now()
}

// opEnd records the duration of the operation started at start, with the
// class of err and the status of its last answer when it failed.
func (m *selfMetrics) opEnd(start time.Time, err error) {
	if start.IsZero() {
		return
	}
	d := time.Since(start).Seconds()
	if err == nil {
		m.duration.Inst().Record(context.Background(), d, m.okRec)
		return
	}
	attrs := append(m.base[:len(m.base):len(m.base)], semconv.ErrorTypeKey.String(requestErrorType(err)))
	var ae *client.APIError
	if errors.As(err, &ae) && ae.StatusCode != 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(ae.StatusCode))
	}
	m.duration.Inst().Record(context.Background(), d, metric.WithAttributeSet(attribute.NewSet(attrs...)))
}

// requestErrorType is the error.type of a failed API operation.
func requestErrorType(err error) string {
	switch {
	case errors.Is(err, client.ErrAuth):
		return errTypeAuth
	case errors.Is(err, client.ErrValidation):
		return errTypeValidation
	case errors.Is(err, client.ErrNotFound):
		return errTypeNotFound
	case errors.Is(err, client.ErrRateLimited):
		return errTypeRateLimited
	case errors.Is(err, client.ErrServer):
		return errTypeServer
	case errors.Is(err, client.ErrTransport):
		return errTypeTransport
	case errors.Is(err, client.ErrInvalidArgument):
		return errTypeInvalidArg
	case errors.Is(err, client.ErrUnavailable):
		return errTypeUnavailable
	case errors.Is(err, errShutdownAbort), errors.Is(err, context.Canceled):
		return errTypeShutdown
	}
	return errTypeOther
}

// dropItem and dropErrorType split a reason of Stats.Dropped into what
// was lost and the class of why.
func dropItem(reason string) string {
	for _, k := range []string{kindSpan, kindEvent, kindRun} {
		if strings.HasPrefix(reason, k+": ") {
			return k
		}
	}
	return "other"
}

func dropErrorType(reason string) string {
	r := reason
	for _, p := range []string{kindSpan + ": ", kindEvent + ": ", kindRun + ": ", "end: ", "end time: "} {
		r = strings.TrimPrefix(r, p)
	}
	switch {
	case strings.HasPrefix(r, "buffer full"):
		return errTypeBufferFull
	case r == "auth", strings.HasSuffix(r, ": auth"):
		return errTypeAuth
	case strings.Contains(r, "shutdown deadline passed"), strings.Contains(r, "shut down"):
		return errTypeShutdown
	case strings.HasPrefix(r, "child run: invoking run not started"):
		return errTypeParentNotRun
	}
	for _, c := range []struct{ why, class string }{
		{"failed: validation", errTypeValidation},
		{"failed: not found", errTypeNotFound},
		{"failed: rate limited", errTypeRateLimited},
		{"failed: server error", errTypeServer},
		{"failed: transport error", errTypeTransport},
		{"failed: invalid argument", errTypeInvalidArg},
		{"failed: outage longer than", errTypeUnavailable},
	} {
		if strings.Contains(r, c.why) {
			return c.class
		}
	}
	return errTypeOther
}

// withClass returns the observe option of the base attributes and
// error.type class, cached (classes are few).
func (m *selfMetrics) withClass(class string) metric.ObserveOption {
	if o, ok := m.classSets[class]; ok {
		return o
	}
	attrs := append(m.base[:len(m.base):len(m.base)], semconv.ErrorTypeKey.String(class))
	o := metric.WithAttributeSet(attribute.NewSet(attrs...))
	m.classSets[class] = o
	return o
}

// observe is the callback of the asynchronous instruments: one Stats per
// collection.
func (e *Exporter) observe(_ context.Context, o metric.Observer) error {
	m := e.met
	st := e.Stats()
	m.mu.Lock()
	defer m.mu.Unlock()

	o.ObserveInt64(m.spanInflight, int64(st.BufferedSpans+st.InFlightSpans), m.okObs)
	o.ObserveInt64(m.eventInflight, int64(st.InFlightEvents), m.okObs)
	o.ObserveInt64(m.runLive, int64(st.LiveRuns), m.okObs)
	o.ObserveInt64(m.reqInflight, int64(st.InFlightRequests), m.okObs)
	o.ObserveInt64(m.bufTraces, int64(st.BufferedTraces), m.okObs)
	o.ObserveInt64(m.bufSpans, int64(st.BufferedSpans), m.okObs)
	o.ObserveInt64(m.bufBytes, int64(st.BufferedBytes), m.okObs)
	o.ObserveInt64(m.memTraces, int64(st.RememberedTraces), m.okObs)
	o.ObserveInt64(m.memBytes, int64(st.RememberedBytes), m.okObs)
	o.ObserveInt64(m.runStarted, st.RunsStarted, m.okObs)
	o.ObserveInt64(m.runEnded, st.RunsEnded, m.okObs)
	o.ObserveInt64(m.reqSent, st.Requests, m.okObs)
	o.ObserveInt64(m.reqRetried, st.RequestsRetried, m.okObs)

	// Exported: stored without error.type, the rest by class of reason.
	o.ObserveInt64(m.spanExported, st.SpansSent, m.okObs)
	o.ObserveInt64(m.eventExported, st.EventsSent, m.okObs)
	spans, events := map[string]int64{}, map[string]int64{}
	var spanSum, eventSum int64
	for reason, n := range st.Dropped {
		class := dropErrorType(reason)
		switch dropItem(reason) {
		case kindSpan:
			spans[class] += n
			spanSum += n
		case kindEvent:
			events[class] += n
			eventSum += n
		}
		attrs := append(m.base[:len(m.base):len(m.base)],
			attrItem.String(dropItem(reason)), attrReason.String(reason), semconv.ErrorTypeKey.String(class))
		o.ObserveInt64(m.dropped, n, metric.WithAttributeSet(attribute.NewSet(attrs...)))
	}
	// Drops whose reason went to "other" (past the reasons kept) are in
	// the totals only.
	m.spanOther = max(m.spanOther, st.SpansDropped-spanSum)
	m.eventOther = max(m.eventOther, st.EventsDropped-eventSum)
	spans[errTypeOther] += m.spanOther
	events[errTypeOther] += m.eventOther
	for class, n := range spans {
		if n > 0 {
			o.ObserveInt64(m.spanExported, n, m.withClass(class))
		}
	}
	for class, n := range events {
		if n > 0 {
			o.ObserveInt64(m.eventExported, n, m.withClass(class))
		}
	}
	for reason, n := range st.Altered {
		attrs := append(m.base[:len(m.base):len(m.base)], attrReason.String(reason))
		o.ObserveInt64(m.altered, n, metric.WithAttributeSet(attribute.NewSet(attrs...)))
	}
	return nil
}
