package ezopexporter

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/internal/spandata"
)

// OTLP span flags (opentelemetry-proto SpanFlags): bits 0-7 are the W3C
// trace flags; bit 8 says whether bit 9 is known, bit 9 that the parent
// span is remote.
const (
	flagsTraceMask   = 0x000000ff
	flagsHasIsRemote = 0x00000100
	flagsIsRemote    = 0x00000200
)

// Resource keys the conversion reads.
const (
	keyAgentRuntime = "ezop.agent.runtime"
	keySDKLanguage  = "telemetry.sdk.language"
)

// converted is what toSpans makes of one ptrace.Traces.
type converted struct {
	spans []sdktrace.ReadOnlySpan
	// invalid counts spans left out: an empty trace or span id, which
	// OTLP requires and Ezop ids derive from.
	invalid int
}

// toSpans converts OTLP traces to the OpenTelemetry SDK's read-only spans
// that the library's exporter takes: one per valid span, with the
// resource and instrumentation scope it was sent under.
//
// A span's parent is remote when its OTLP flags say so. Senders that
// predate those flags (bit 8 unset) do not say: a SERVER or CONSUMER span
// with a parent is then taken as the entry of a process, its parent
// remote, as tracing back ends have long guessed.
func toSpans(td ptrace.Traces) converted {
	var out converted
	out.spans = make([]sdktrace.ReadOnlySpan, 0, td.SpanCount())
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := toResource(rs.Resource(), rs.SchemaUrl())
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			scope := toScope(ss.Scope(), ss.SchemaUrl())
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				s := spans.At(k)
				if s.TraceID().IsEmpty() || s.SpanID().IsEmpty() {
					out.invalid++
					continue
				}
				out.spans = append(out.spans, toSpan(s, res, scope))
			}
		}
	}
	return out
}

func toSpan(s ptrace.Span, res *resource.Resource, scope instrumentation.Scope) sdktrace.ReadOnlySpan {
	tid := trace.TraceID(s.TraceID())
	flags := s.Flags()
	stub := &spandata.Span{
		Name: s.Name(),
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
			TraceID:    tid,
			SpanID:     trace.SpanID(s.SpanID()),
			TraceFlags: traceFlags(flags),
			TraceState: traceState(s.TraceState()),
		}),
		Kind:                 toKind(s.Kind()),
		StartTime:            s.StartTimestamp().AsTime(),
		EndTime:              s.EndTimestamp().AsTime(),
		Attributes:           toKeyValues(s.Attributes()),
		Status:               toStatus(s.Status()),
		DroppedAttributes:    int(s.DroppedAttributesCount()),
		DroppedEvents:        int(s.DroppedEventsCount()),
		DroppedLinks:         int(s.DroppedLinksCount()),
		Resource:             res,
		InstrumentationScope: scope,
	}
	if pid := s.ParentSpanID(); !pid.IsEmpty() {
		remote := flags&flagsIsRemote != 0
		if flags&flagsHasIsRemote == 0 {
			k := s.Kind()
			remote = k == ptrace.SpanKindServer || k == ptrace.SpanKindConsumer
		}
		stub.Parent = trace.NewSpanContext(trace.SpanContextConfig{
			TraceID:    tid,
			SpanID:     trace.SpanID(pid),
			TraceFlags: traceFlags(flags),
			Remote:     remote,
		})
	}
	if evs := s.Events(); evs.Len() > 0 {
		stub.Events = make([]sdktrace.Event, evs.Len())
		for i := range stub.Events {
			ev := evs.At(i)
			stub.Events[i] = sdktrace.Event{
				Name:                  ev.Name(),
				Attributes:            toKeyValues(ev.Attributes()),
				DroppedAttributeCount: int(ev.DroppedAttributesCount()),
				Time:                  ev.Timestamp().AsTime(),
			}
		}
	}
	if ls := s.Links(); ls.Len() > 0 {
		stub.Links = make([]sdktrace.Link, ls.Len())
		for i := range stub.Links {
			l := ls.At(i)
			stub.Links[i] = sdktrace.Link{
				SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
					TraceID:    trace.TraceID(l.TraceID()),
					SpanID:     trace.SpanID(l.SpanID()),
					TraceFlags: traceFlags(l.Flags()),
					TraceState: traceState(l.TraceState()),
					Remote:     l.Flags()&flagsIsRemote != 0,
				}),
				Attributes:            toKeyValues(l.Attributes()),
				DroppedAttributeCount: int(l.DroppedAttributesCount()),
			}
		}
	}
	return stub.ReadOnly()
}

func traceFlags(flags uint32) trace.TraceFlags {
	return trace.TraceFlags(flags & flagsTraceMask)
}

// traceState parses the W3C tracestate; a malformed one is left out (it
// plays no part in Ezop's model).
func traceState(ts pcommon.TraceState) trace.TraceState {
	raw := ts.AsRaw()
	if raw == "" {
		return trace.TraceState{}
	}
	st, err := trace.ParseTraceState(raw)
	if err != nil {
		return trace.TraceState{}
	}
	return st
}

func toKind(k ptrace.SpanKind) trace.SpanKind {
	switch k {
	case ptrace.SpanKindInternal:
		return trace.SpanKindInternal
	case ptrace.SpanKindServer:
		return trace.SpanKindServer
	case ptrace.SpanKindClient:
		return trace.SpanKindClient
	case ptrace.SpanKindProducer:
		return trace.SpanKindProducer
	case ptrace.SpanKindConsumer:
		return trace.SpanKindConsumer
	}
	return trace.SpanKindUnspecified
}

func toStatus(st ptrace.Status) sdktrace.Status {
	switch st.Code() {
	case ptrace.StatusCodeError:
		return sdktrace.Status{Code: codes.Error, Description: st.Message()}
	case ptrace.StatusCodeOk:
		return sdktrace.Status{Code: codes.Ok}
	}
	return sdktrace.Status{Code: codes.Unset}
}

// toResource converts a resource. The agent's runtime is the SDK's
// language (telemetry.sdk.language: python, nodejs, …) unless the resource
// names it with ezop.agent.runtime; the configured runtime is the fallback
// of the library's translation.
func toResource(r pcommon.Resource, schemaURL string) *resource.Resource {
	attrs := r.Attributes()
	kvs := toKeyValues(attrs)
	if _, ok := attrs.Get(keyAgentRuntime); !ok {
		if lang, ok := attrs.Get(keySDKLanguage); ok && lang.Type() == pcommon.ValueTypeStr && lang.Str() != "" {
			kvs = append(kvs, attribute.String(keyAgentRuntime, lang.Str()))
		}
	}
	if schemaURL == "" {
		return resource.NewSchemaless(kvs...)
	}
	return resource.NewWithAttributes(schemaURL, kvs...)
}

func toScope(s pcommon.InstrumentationScope, schemaURL string) instrumentation.Scope {
	return instrumentation.Scope{
		Name:       s.Name(),
		Version:    s.Version(),
		SchemaURL:  schemaURL,
		Attributes: attribute.NewSet(toKeyValues(s.Attributes())...),
	}
}

func toKeyValues(m pcommon.Map) []attribute.KeyValue {
	if m.Len() == 0 {
		return nil
	}
	kvs := make([]attribute.KeyValue, 0, m.Len())
	m.Range(func(k string, v pcommon.Value) bool {
		kvs = append(kvs, attribute.KeyValue{Key: attribute.Key(k), Value: toValue(v)})
		return true
	})
	return kvs
}

// toValue converts an attribute value. Arrays of one primitive type become
// the typed slices an OpenTelemetry SDK records ([]string, []int64, …);
// other arrays (mixed, nested, empty) and maps keep their structure; bytes
// stay bytes; an empty value stays empty.
func toValue(v pcommon.Value) attribute.Value {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return attribute.StringValue(v.Str())
	case pcommon.ValueTypeBool:
		return attribute.BoolValue(v.Bool())
	case pcommon.ValueTypeInt:
		return attribute.Int64Value(v.Int())
	case pcommon.ValueTypeDouble:
		return attribute.Float64Value(v.Double())
	case pcommon.ValueTypeBytes:
		return attribute.ByteSliceValue(v.Bytes().AsRaw())
	case pcommon.ValueTypeSlice:
		return toSliceValue(v.Slice())
	case pcommon.ValueTypeMap:
		m := v.Map()
		kvs := make([]attribute.KeyValue, 0, m.Len())
		m.Range(func(k string, e pcommon.Value) bool {
			kvs = append(kvs, attribute.KeyValue{Key: attribute.Key(k), Value: toValue(e)})
			return true
		})
		return attribute.MapValue(kvs...)
	}
	return attribute.Value{}
}

func toSliceValue(s pcommon.Slice) attribute.Value {
	n := s.Len()
	typ := pcommon.ValueTypeEmpty
	for i := 0; i < n; i++ {
		t := s.At(i).Type()
		if i == 0 {
			typ = t
		} else if t != typ {
			typ = pcommon.ValueTypeEmpty // mixed
			break
		}
	}
	if n > 0 {
		switch typ {
		case pcommon.ValueTypeStr:
			out := make([]string, n)
			for i := range out {
				out[i] = s.At(i).Str()
			}
			return attribute.StringSliceValue(out)
		case pcommon.ValueTypeBool:
			out := make([]bool, n)
			for i := range out {
				out[i] = s.At(i).Bool()
			}
			return attribute.BoolSliceValue(out)
		case pcommon.ValueTypeInt:
			out := make([]int64, n)
			for i := range out {
				out[i] = s.At(i).Int()
			}
			return attribute.Int64SliceValue(out)
		case pcommon.ValueTypeDouble:
			out := make([]float64, n)
			for i := range out {
				out[i] = s.At(i).Double()
			}
			return attribute.Float64SliceValue(out)
		}
	}
	vs := make([]attribute.Value, n)
	for i := range vs {
		vs[i] = toValue(s.At(i))
	}
	return attribute.SliceValue(vs...)
}
