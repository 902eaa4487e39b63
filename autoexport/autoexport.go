// Package autoexport makes the Ezop exporter selectable by environment in
// programs that build their exporters with
// go.opentelemetry.io/contrib/exporters/autoexport, as the OpenTelemetry
// SDKs' OTEL_TRACES_EXPORTER variable does for OTLP. One blank import
// registers the factory under the name "ezop":
//
//	import _ "github.com/ezopotel/ezop-otel-go/autoexport"
//
//	exp, err := autoexport.NewSpanExporter(ctx) // contrib's autoexport
//	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
//
// and then, in the program's environment:
//
//	OTEL_TRACES_EXPORTER=ezop EZOP_API_KEY=... ./program
//
// The exporter is exporter.New's, configured by the EZOP_* variables (see
// package exporter and README.md: EZOP_API_URL, EZOP_API_KEY,
// EZOP_TIMEOUT, EZOP_ROOT_WAIT, …); a malformed variable makes
// NewSpanExporter fail with an error that names it. Live runs (the
// exporter's LiveProcessor) need the exporter itself: use exporter.Install
// for them.
//
// Logs are registered too, under the same name, so that
// OTEL_LOGS_EXPORTER=ezop sends the content that GenAI instrumentation
// records as log records. A log record joins the Ezop event of its span
// only inside the exporter that has the span, so the factories pair up:
// the first span exporter and the first log exporter built are one
// exporter (exporter.Exporter and its LogExporter), the second of each
// another one, and so on. Build both before spans flow, and shut the
// LoggerProvider down before the TracerProvider: the span exporter's
// Shutdown delivers what the records left and ends the pair. A log
// exporter with no span exporter to pair with (OTEL_TRACES_EXPORTER is not
// ezop) sends records as run events only of traces it knows, which are
// none: they are dropped and counted; its Shutdown shuts its exporter
// down.
//
// The package is a module of its own, so that the library does not bring
// autoexport's dependencies (every OTLP, Prometheus and stdout exporter).
package autoexport

import (
	"context"
	"errors"
	"sync"

	otelautoexport "go.opentelemetry.io/contrib/exporters/autoexport"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/ezopotel/ezop-otel-go/exporter"
)

// Name is the value of OTEL_TRACES_EXPORTER and OTEL_LOGS_EXPORTER that
// selects the Ezop exporter.
const Name = "ezop"

func init() {
	p := &pairs{}
	otelautoexport.RegisterSpanExporter(Name, p.spanExporter)
	otelautoexport.RegisterLogExporter(Name, p.logExporter)
}

// pairs hands the span and the log factory the same exporter, once each.
// It is the registration's own state (autoexport's factories take only a
// context): it holds at most the one exporter that waits for its other
// signal.
type pairs struct {
	mu   sync.Mutex
	open *pair // built by one factory, not yet taken by the other
}

type pair struct {
	exp         *exporter.Exporter
	spans, logs bool // taken by the span factory, by the log factory
}

// take returns the exporter waiting for this signal, or builds one.
func (p *pairs) take(ctx context.Context, spans bool) (*pair, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if o := p.open; o != nil && (spans && !o.spans || !spans && !o.logs) {
		p.open = nil
		if spans {
			o.spans = true
		} else {
			o.logs = true
		}
		return o, nil
	}
	exp, err := exporter.New(ctx)
	if err != nil {
		return nil, err
	}
	o := &pair{exp: exp, spans: spans, logs: !spans}
	p.open = o
	return o, nil
}

func (p *pairs) spanExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	o, err := p.take(ctx, true)
	if err != nil {
		return nil, err
	}
	return o.exp, nil
}

func (p *pairs) logExporter(ctx context.Context) (sdklog.Exporter, error) {
	o, err := p.take(ctx, false)
	if err != nil {
		return nil, err
	}
	return &logSide{Exporter: o.exp.LogExporter(), p: p, o: o}, nil
}

// logSide is the exporter's LogExporter; when no span exporter took the
// pair by the time it shuts down, its Shutdown also shuts the exporter
// down, which nothing else would.
type logSide struct {
	sdklog.Exporter
	p *pairs
	o *pair
}

func (l *logSide) Shutdown(ctx context.Context) error {
	err := l.Exporter.Shutdown(ctx)
	l.p.mu.Lock()
	alone := !l.o.spans
	if alone && l.p.open == l.o {
		l.p.open = nil
	}
	l.o.spans = true // a span factory called later builds its own
	l.p.mu.Unlock()
	if alone {
		err = errors.Join(err, l.o.exp.Shutdown(ctx))
	}
	return err
}
