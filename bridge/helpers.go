package bridge

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/semconv"
)

// The helpers below speak the Ezop SDKs' vocabulary (emit an event, end a
// run with a status) on top of the OTel API. They only set attributes and
// add span events; the exporter turns those into Ezop calls.

// EventOption adds a detail to an event emitted with [EmitEvent].
type EventOption func(*[]attribute.KeyValue)

// WithType sets the event's type; it must belong to the event's category.
func WithType(t semconv.EventType) EventOption {
	return func(kv *[]attribute.KeyValue) { *kv = append(*kv, semconv.EventTypeAttr(t)) }
}

// WithSubtype sets the event's subtype.
func WithSubtype(s semconv.EventSubtype) EventOption {
	return func(kv *[]attribute.KeyValue) { *kv = append(*kv, semconv.EventSubtypeAttr(s)) }
}

// WithInput sets the event's input; v is encoded as JSON.
func WithInput(v any) EventOption {
	return func(kv *[]attribute.KeyValue) { *kv = append(*kv, semconv.EventInput(v)) }
}

// WithOutput sets the event's output; v is encoded as JSON.
func WithOutput(v any) EventOption {
	return func(kv *[]attribute.KeyValue) { *kv = append(*kv, semconv.EventOutput(v)) }
}

// WithError sets the event's error; v is encoded as JSON.
func WithError(v any) EventOption {
	return func(kv *[]attribute.KeyValue) { *kv = append(*kv, semconv.EventError(v)) }
}

// WithIterationID sets the agent-loop iteration the event belongs to.
func WithIterationID(i int) EventOption {
	return func(kv *[]attribute.KeyValue) { *kv = append(*kv, semconv.EventIterationID(i)) }
}

// WithMetadata adds attributes that become the event's metadata.
func WithMetadata(attrs ...attribute.KeyValue) EventOption {
	return func(kv *[]attribute.KeyValue) { *kv = append(*kv, attrs...) }
}

// EmitEvent records an Ezop event on the span in ctx: an OTel span event
// named name with the ezop.event.* attributes. It reports an error, and
// records nothing, when the classification is one the Ezop server would
// refuse; with no recording span in ctx it does nothing.
func EmitEvent(ctx context.Context, name string, category semconv.EventCategory, opts ...EventOption) error {
	kvs := []attribute.KeyValue{semconv.EventCategoryAttr(category)}
	for _, o := range opts {
		o(&kvs)
	}
	var typ semconv.EventType
	var sub semconv.EventSubtype
	for _, kv := range kvs {
		switch kv.Key {
		case semconv.EventTypeKey:
			typ = semconv.EventType(kv.Value.AsString())
		case semconv.EventSubtypeKey:
			sub = semconv.EventSubtype(kv.Value.AsString())
		}
	}
	if err := semconv.ValidateEvent(category, typ, sub); err != nil {
		return err
	}
	trace.SpanFromContext(ctx).AddEvent(name, trace.WithAttributes(kvs...))
	return nil
}

// SetRunOutcome sets the outcome of the run whose local root span is span:
// its status and message on Ezop. A failed outcome also sets the OTel span
// status to Error, so other backends see the failure too. Call it before
// the root span ends.
func SetRunOutcome(span trace.Span, status semconv.RunStatus, message string) {
	kvs := []attribute.KeyValue{semconv.RunStatusAttr(status)}
	if message != "" {
		kvs = append(kvs, semconv.RunMessage(message))
	}
	span.SetAttributes(kvs...)
	if sent, _, ok := status.Accepted(); ok && sent == semconv.RunStatusFailed {
		span.SetStatus(codes.Error, message)
	}
}

// MarkSpan says what kind of agent work span is (llm, tool, memory,
// reasoning or agent), for spans that carry no GenAI attributes.
func MarkSpan(span trace.Span, category semconv.EventCategory) {
	span.SetAttributes(semconv.SpanCategory(category))
}
