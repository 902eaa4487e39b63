package bridge

import (
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

// Shared fixtures of the bridge tests: a trace, a clock, a resource, span
// and event builders, and lookups into plans. Every translation helper runs
// the contract validator (validate_test.go) on what it returns.

var (
	testTraceID = trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	t0          = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	testRes     = resource.NewSchemaless(
		semconv.AgentName("support-bot"),
		semconv.AgentOwner("team-a"),
		semconv.AgentVersion("1.2.3"),
	)
)

const rootID = 1

func spanID(n uint64) trace.SpanID {
	var s trace.SpanID
	binary.BigEndian.PutUint64(s[:], n)
	return s
}

func spanCtx(id uint64, remote bool) trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: testTraceID, SpanID: spanID(id), TraceFlags: trace.FlagsSampled, Remote: remote,
	})
}

// uuidOf is the Ezop id of the test span with OTel id n.
func uuidOf(n uint64) string { return SpanUUID(testTraceID, spanID(n)) }

// stub is span id n with parent p (0: none), starting n seconds after t0
// and lasting half a second.
func stub(n, p uint64, name string, attrs ...attribute.KeyValue) tracetest.SpanStub {
	s := tracetest.SpanStub{
		Name:        name,
		SpanContext: spanCtx(n, false),
		SpanKind:    trace.SpanKindInternal,
		StartTime:   t0.Add(time.Duration(n) * time.Second),
		EndTime:     t0.Add(time.Duration(n)*time.Second + 500*time.Millisecond),
		Attributes:  attrs,
		Resource:    testRes,
	}
	if p != 0 {
		s.Parent = spanCtx(p, false)
	}
	return s
}

// rootStub is the run's local root span (id 1), with no parent.
func rootStub(attrs ...attribute.KeyValue) tracetest.SpanStub {
	s := stub(rootID, 0, "agent.run", attrs...)
	s.EndTime = t0.Add(time.Minute)
	return s
}

// child is span n under the root.
func child(n uint64, name string, attrs ...attribute.KeyValue) tracetest.SpanStub {
	return stub(n, rootID, name, attrs...)
}

func withEvents(s tracetest.SpanStub, evs ...sdktrace.Event) tracetest.SpanStub {
	s.Events = append(s.Events, evs...)
	return s
}

func sdkStatus(c codes.Code, desc string) sdktrace.Status {
	return sdktrace.Status{Code: c, Description: desc}
}

func withStatus(s tracetest.SpanStub, c codes.Code, desc string) tracetest.SpanStub {
	s.Status = sdktrace.Status{Code: c, Description: desc}
	return s
}

// event is an OTel span event 100 ms after t0.
func event(name string, attrs ...attribute.KeyValue) sdktrace.Event {
	return sdktrace.Event{Name: name, Attributes: attrs, Time: t0.Add(100 * time.Millisecond)}
}

func snapshots(stubs ...tracetest.SpanStub) []sdktrace.ReadOnlySpan {
	return tracetest.SpanStubs(stubs).Snapshots()
}

func capture(b bool) *bool { return &b }

// translate runs one translation of stubs with a fresh state and checks
// every request of the plan against the server's rules.
func translate(tb testing.TB, cfg Config, stubs ...tracetest.SpanStub) RunPlan {
	tb.Helper()
	var st RunState
	p := NewTranslator(cfg).Translate(&st, snapshots(stubs...))
	requireValid(tb, newPlanChecker(), p)
	return p
}

// translateParts translates each part in turn with one state, as spans of
// one run arriving in several batches, and checks the plans in order.
func translateParts(tb testing.TB, cfg Config, parts ...[]tracetest.SpanStub) ([]RunPlan, *RunState) {
	tb.Helper()
	tr := NewTranslator(cfg)
	var st RunState
	c := newPlanChecker()
	plans := make([]RunPlan, 0, len(parts))
	for _, part := range parts {
		p := tr.Translate(&st, snapshots(part...))
		requireValid(tb, c, p)
		plans = append(plans, p)
	}
	return plans, &st
}

// --- lookups ---

func spanOp(tb testing.TB, p RunPlan, n uint64) SpanOp {
	tb.Helper()
	for _, s := range p.Spans {
		if s.OTelSpanID == spanID(n) {
			return s
		}
	}
	tb.Fatalf("span %d not in plan (%d spans)", n, len(p.Spans))
	return SpanOp{}
}

// eventsOn returns the events naming Ezop span id sid ("" for run level).
func eventsOn(p RunPlan, sid string) []wire.EmitEventRequest {
	var out []wire.EmitEventRequest
	for _, e := range p.Events {
		if e.SpanID == sid {
			out = append(out, e)
		}
	}
	return out
}

// eventsOf returns the events of category c and type t (any type if t is
// "*").
func eventsOf(evs []wire.EmitEventRequest, c semconv.EventCategory, t semconv.EventType) []wire.EmitEventRequest {
	var out []wire.EmitEventRequest
	for _, e := range evs {
		if e.Category == string(c) && (t == "*" || e.Type == string(t)) {
			out = append(out, e)
		}
	}
	return out
}

func oneEvent(tb testing.TB, evs []wire.EmitEventRequest, c semconv.EventCategory, t semconv.EventType) wire.EmitEventRequest {
	tb.Helper()
	got := eventsOf(evs, c, t)
	if len(got) != 1 {
		tb.Fatalf("want exactly one %s/%s event, got %d in %s", c, t, len(got), dump(evs))
	}
	return got[0]
}

// issueCount sums the counts of issues of kind k whose reason contains sub.
func issueCount(p RunPlan, k IssueKind, sub string) int {
	n := 0
	for _, is := range p.Issues {
		if is.Kind == k && strings.Contains(is.Reason, sub) {
			n += is.Count
		}
	}
	return n
}

func wantIssue(tb testing.TB, p RunPlan, k IssueKind, sub string) {
	tb.Helper()
	if issueCount(p, k, sub) == 0 {
		tb.Errorf("want a %v issue containing %q, got %+v", k, sub, p.Issues)
	}
}

func wantNoIssue(tb testing.TB, p RunPlan, sub string) {
	tb.Helper()
	if issueCount(p, Dropped, sub)+issueCount(p, Altered, sub) != 0 {
		tb.Errorf("want no issue containing %q, got %+v", sub, p.Issues)
	}
}

func wantNoIssues(tb testing.TB, p RunPlan) {
	tb.Helper()
	if len(p.Issues) != 0 {
		tb.Errorf("want no issues, got %+v", p.Issues)
	}
}

// jsonOf encodes v the way the client does, for comparing values by their
// JSON text.
func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "!" + err.Error()
	}
	return string(b)
}

// sameJSON reports whether a and b encode to the same JSON document (key
// order aside).
func sameJSON(a, b any) bool {
	var x, y any
	if json.Unmarshal([]byte(jsonOf(a)), &x) != nil || json.Unmarshal([]byte(jsonOf(b)), &y) != nil {
		return false
	}
	return jsonOf(x) == jsonOf(y)
}

func wantJSON(tb testing.TB, what string, got, want any) {
	tb.Helper()
	if !sameJSON(got, want) {
		tb.Errorf("%s = %s, want %s", what, jsonOf(got), jsonOf(want))
	}
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", " ")
	if len(b) > 4000 {
		return string(b[:4000]) + "…"
	}
	return string(b)
}

// otelOf returns the "otel" object of a metadata object.
func otelOf(tb testing.TB, m wire.Object) wire.Object {
	tb.Helper()
	o, ok := m["otel"].(wire.Object)
	if !ok {
		tb.Fatalf("metadata has no otel object: %s", dump(m))
	}
	return o
}

func strAttr(k, v string) attribute.KeyValue { return attribute.String(k, v) }

// withoutParentKey checks that event e names parent as its span's parent
// in metadata (Ezop's run view nests spans by it) and returns e without
// that key, for tests about the rest of its metadata.
func withoutParentKey(tb testing.TB, e wire.EmitEventRequest, parent string) wire.EmitEventRequest {
	tb.Helper()
	if got := e.Metadata[ParentSpanIDKey]; got != parent {
		tb.Errorf("event %q: metadata %s = %v, want %s", e.Name, ParentSpanIDKey, got, parent)
	}
	m := make(wire.Object, len(e.Metadata))
	for k, v := range e.Metadata {
		if k != ParentSpanIDKey {
			m[k] = v
		}
	}
	if len(m) == 0 {
		m = nil
	}
	e.Metadata = m
	return e
}
