// Package spandata holds finished spans that did not come from the
// OpenTelemetry SDK (spans decoded from OTLP, by the Collector component
// and the test fixtures) in the form the exporter takes:
// sdktrace.ReadOnlySpan.
//
// The SDK's own ended spans are immutable snapshots already, so the
// exporter keeps them as they are; this type is for the others. It holds
// only what the translation reads, and nothing is copied on access.
package spandata

import (
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Span is a finished span. The zero value is a span without ids.
type Span struct {
	Name                 string
	SpanContext          trace.SpanContext
	Parent               trace.SpanContext
	Kind                 trace.SpanKind
	StartTime, EndTime   time.Time
	Attributes           []attribute.KeyValue
	Links                []sdktrace.Link
	Events               []sdktrace.Event
	Status               sdktrace.Status
	InstrumentationScope instrumentation.Scope
	Resource             *resource.Resource
	DroppedAttributes    int
	DroppedLinks         int
	DroppedEvents        int
	ChildSpanCount       int
}

// ReadOnly returns s as an sdktrace.ReadOnlySpan. The span must not be
// changed afterwards: the exporter may keep it.
func (s *Span) ReadOnly() sdktrace.ReadOnlySpan { return readOnly{s: s} }

// readOnly implements sdktrace.ReadOnlySpan. The interface is embedded
// (nil) only for its unexported method, which the SDK never calls on
// spans it did not make; every exported method is defined here.
type readOnly struct {
	sdktrace.ReadOnlySpan
	s *Span
}

func (r readOnly) Name() string                     { return r.s.Name }
func (r readOnly) SpanContext() trace.SpanContext   { return r.s.SpanContext }
func (r readOnly) Parent() trace.SpanContext        { return r.s.Parent }
func (r readOnly) SpanKind() trace.SpanKind         { return r.s.Kind }
func (r readOnly) StartTime() time.Time             { return r.s.StartTime }
func (r readOnly) EndTime() time.Time               { return r.s.EndTime }
func (r readOnly) Attributes() []attribute.KeyValue { return r.s.Attributes }
func (r readOnly) Links() []sdktrace.Link           { return r.s.Links }
func (r readOnly) Events() []sdktrace.Event         { return r.s.Events }
func (r readOnly) Status() sdktrace.Status          { return r.s.Status }
func (r readOnly) InstrumentationScope() instrumentation.Scope {
	return r.s.InstrumentationScope
}

//nolint:staticcheck // InstrumentationLibrary is part of the interface.
func (r readOnly) InstrumentationLibrary() instrumentation.Library {
	return instrumentation.Library(r.s.InstrumentationScope)
}
func (r readOnly) Resource() *resource.Resource { return r.s.Resource }
func (r readOnly) DroppedAttributes() int       { return r.s.DroppedAttributes }
func (r readOnly) DroppedLinks() int            { return r.s.DroppedLinks }
func (r readOnly) DroppedEvents() int           { return r.s.DroppedEvents }
func (r readOnly) ChildSpanCount() int          { return r.s.ChildSpanCount }
