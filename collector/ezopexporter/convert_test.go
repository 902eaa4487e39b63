package ezopexporter

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/bridge"
)

func TestToValue(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(pcommon.Value)
		want attribute.Value
	}{
		{"empty", func(pcommon.Value) {}, attribute.Value{}},
		{"string", func(v pcommon.Value) { v.SetStr("héllo") }, attribute.StringValue("héllo")},
		{"empty string", func(v pcommon.Value) { v.SetStr("") }, attribute.StringValue("")},
		{"bool", func(v pcommon.Value) { v.SetBool(true) }, attribute.BoolValue(true)},
		{"int", func(v pcommon.Value) { v.SetInt(math.MinInt64) }, attribute.Int64Value(math.MinInt64)},
		{"double", func(v pcommon.Value) { v.SetDouble(2.5) }, attribute.Float64Value(2.5)},
		{"NaN", func(v pcommon.Value) { v.SetDouble(math.NaN()) }, attribute.Float64Value(math.NaN())},
		{"bytes", func(v pcommon.Value) { v.SetEmptyBytes().FromRaw([]byte{0, 1, 0xff}) }, attribute.ByteSliceValue([]byte{0, 1, 0xff})},
		{"empty bytes", func(v pcommon.Value) { v.SetEmptyBytes() }, attribute.ByteSliceValue(nil)},
		{"string slice", func(v pcommon.Value) { require.NoError(t, v.SetEmptySlice().FromRaw([]any{"a", "b"})) }, attribute.StringSliceValue([]string{"a", "b"})},
		{"int slice", func(v pcommon.Value) { require.NoError(t, v.SetEmptySlice().FromRaw([]any{1, 2})) }, attribute.Int64SliceValue([]int64{1, 2})},
		{"double slice", func(v pcommon.Value) { require.NoError(t, v.SetEmptySlice().FromRaw([]any{1.5})) }, attribute.Float64SliceValue([]float64{1.5})},
		{"bool slice", func(v pcommon.Value) { require.NoError(t, v.SetEmptySlice().FromRaw([]any{true, false})) }, attribute.BoolSliceValue([]bool{true, false})},
		{"empty slice", func(v pcommon.Value) { v.SetEmptySlice() }, attribute.SliceValue()},
		{"mixed slice", func(v pcommon.Value) { require.NoError(t, v.SetEmptySlice().FromRaw([]any{"a", 1, nil})) },
			attribute.SliceValue(attribute.StringValue("a"), attribute.Int64Value(1), attribute.Value{})},
		{"nested slice", func(v pcommon.Value) { require.NoError(t, v.SetEmptySlice().FromRaw([]any{[]any{"x"}})) },
			attribute.SliceValue(attribute.StringSliceValue([]string{"x"}))},
		{"map", func(v pcommon.Value) {
			require.NoError(t, v.SetEmptyMap().FromRaw(map[string]any{"role": "user", "n": 2, "parts": []any{map[string]any{"type": "text"}}}))
		}, attribute.MapValue(
			attribute.String("role", "user"), attribute.Int64("n", 2),
			attribute.Slice("parts", attribute.MapValue(attribute.String("type", "text"))))},
		{"empty map", func(v pcommon.Value) { v.SetEmptyMap() }, attribute.MapValue()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := pcommon.NewValueEmpty()
			tc.set(v)
			got := toValue(v)
			assert.Equal(t, tc.want.Type(), got.Type())
			assert.Equal(t, tc.want.Emit(), got.Emit())
		})
	}
}

func byName(spans []sdktrace.ReadOnlySpan) map[string]sdktrace.ReadOnlySpan {
	m := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		m[s.Name()] = s
	}
	return m
}

func TestToSpansTwoServices(t *testing.T) {
	td := twoServiceTraces(1)
	c := toSpans(td)
	require.Len(t, c.spans, 4)
	assert.Zero(t, c.invalid)
	m := byName(c.spans)

	aRoot, call, bRoot, llm := m["a root"], m["a call b"], m["b root"], m["b chat"]
	require.NotNil(t, aRoot)
	assert.True(t, bridge.IsLocalRoot(aRoot), "A's root has no parent")
	assert.False(t, bridge.IsLocalRoot(call), "A's client span is A's")
	assert.True(t, bridge.IsLocalRoot(bRoot), "B's root has a remote parent")
	assert.True(t, bRoot.Parent().IsRemote())
	assert.Equal(t, call.SpanContext().SpanID(), bRoot.Parent().SpanID())
	assert.Equal(t, call.SpanContext().TraceID(), bRoot.Parent().TraceID())
	assert.False(t, bridge.IsLocalRoot(llm))
	assert.Equal(t, bRoot.SpanContext().SpanID(), llm.Parent().SpanID())

	assert.Equal(t, trace.SpanKindServer, aRoot.SpanKind())
	assert.Equal(t, trace.SpanKindClient, call.SpanKind())
	assert.True(t, aRoot.SpanContext().IsSampled())
	assert.Equal(t, 100*time.Millisecond, aRoot.EndTime().Sub(aRoot.StartTime()))
	assert.Equal(t, time.Date(2026, 1, 2, 3, 4, 5, int(10*time.Millisecond), time.UTC), call.StartTime().UTC())
	assert.Equal(t, "agent-instrumentation", llm.InstrumentationScope().Name)
	assert.Equal(t, "0.1", llm.InstrumentationScope().Version)

	res := func(s sdktrace.ReadOnlySpan, k string) string {
		v, _ := s.Resource().Set().Value(attribute.Key(k))
		return v.AsString()
	}
	assert.Equal(t, "agent-a", res(aRoot, "service.name"))
	assert.Equal(t, "agent-b", res(llm, "service.name"))
	assert.Equal(t, "python", res(aRoot, keyAgentRuntime), "runtime from the SDK's language")
	assert.Equal(t, "nodejs", res(llm, keyAgentRuntime))

	// The library's translation sees the agents the resources name.
	tr := bridge.NewTranslator(bridge.Config{})
	agent, _ := tr.Agent(llm.Resource())
	assert.Equal(t, "agent-b", agent.Register.Name)
	assert.Equal(t, "platform", agent.Register.Owner)
	assert.Equal(t, "nodejs", agent.Register.Runtime)
	require.NotNil(t, agent.Version)
	assert.Equal(t, "1.0.0", agent.Version.Version)
}

func TestToSpansParentRemoteness(t *testing.T) {
	for _, tc := range []struct {
		name   string
		flags  uint32
		kind   ptrace.SpanKind
		remote bool
	}{
		{"flags say remote", flagsRemoteParent, ptrace.SpanKindInternal, true},
		{"flags say local", flagsLocalParent, ptrace.SpanKindServer, false},
		{"no flags, server span", 0, ptrace.SpanKindServer, true},
		{"no flags, consumer span", 0x01, ptrace.SpanKindConsumer, true},
		{"no flags, client span", 0, ptrace.SpanKindClient, false},
		{"no flags, internal span", 0, ptrace.SpanKindInternal, false},
		{"is-remote without has-is-remote", flagsIsRemote, ptrace.SpanKindInternal, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			td := ptrace.NewTraces()
			s := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
			s.SetTraceID(pcommon.TraceID{1})
			s.SetSpanID(pcommon.SpanID{2})
			s.SetParentSpanID(pcommon.SpanID{3})
			s.SetFlags(tc.flags)
			s.SetKind(tc.kind)
			c := toSpans(td)
			require.Len(t, c.spans, 1)
			assert.Equal(t, tc.remote, c.spans[0].Parent().IsRemote())
			assert.True(t, c.spans[0].Parent().IsValid())
			assert.Equal(t, tc.remote, bridge.IsLocalRoot(c.spans[0]))
		})
	}
}

func TestToSpansDetails(t *testing.T) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
	rs.Resource().Attributes().PutStr("service.name", "svc")
	rs.Resource().Attributes().PutStr(keyAgentRuntime, "custom")
	rs.Resource().Attributes().PutStr(keySDKLanguage, "java")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.SetSchemaUrl("https://example.com/scope-schema")
	ss.Scope().Attributes().PutBool("scope.attr", true)
	s := ss.Spans().AppendEmpty()
	s.SetTraceID(pcommon.TraceID{1})
	s.SetSpanID(pcommon.SpanID{2})
	s.TraceState().FromRaw("vendor=value")
	s.SetFlags(0x01)
	s.SetName("step")
	s.SetKind(ptrace.SpanKindProducer)
	s.Status().SetCode(ptrace.StatusCodeError)
	s.Status().SetMessage("boom")
	s.SetDroppedAttributesCount(1)
	s.SetDroppedEventsCount(2)
	s.SetDroppedLinksCount(3)
	ev := s.Events().AppendEmpty()
	ev.SetName("exception")
	ev.SetTimestamp(pcommon.NewTimestampFromTime(time.Unix(10, 0)))
	ev.Attributes().PutStr("exception.message", "boom")
	ev.SetDroppedAttributesCount(4)
	l := s.Links().AppendEmpty()
	l.SetTraceID(pcommon.TraceID{9})
	l.SetSpanID(pcommon.SpanID{8})
	l.SetFlags(0x01 | flagsHasIsRemote | flagsIsRemote)
	l.Attributes().PutStr("link.kind", "follows")
	l.TraceState().FromRaw("not a valid trace state ===")

	c := toSpans(td)
	require.Len(t, c.spans, 1)
	got := c.spans[0]
	assert.Equal(t, "step", got.Name())
	assert.Equal(t, trace.SpanKindProducer, got.SpanKind())
	assert.Equal(t, sdktrace.Status{Code: codes.Error, Description: "boom"}, got.Status())
	assert.Equal(t, "vendor=value", got.SpanContext().TraceState().String())
	assert.False(t, got.Parent().IsValid())
	assert.Equal(t, 1, got.DroppedAttributes())
	assert.Equal(t, 2, got.DroppedEvents())
	assert.Equal(t, 3, got.DroppedLinks())
	require.Len(t, got.Events(), 1)
	assert.Equal(t, "exception", got.Events()[0].Name)
	assert.Equal(t, time.Unix(10, 0).UTC(), got.Events()[0].Time.UTC())
	assert.Equal(t, 4, got.Events()[0].DroppedAttributeCount)
	require.Len(t, got.Links(), 1)
	assert.Equal(t, trace.SpanID{8}, got.Links()[0].SpanContext.SpanID())
	assert.True(t, got.Links()[0].SpanContext.IsRemote())
	assert.Empty(t, got.Links()[0].SpanContext.TraceState().String(), "a malformed trace state is left out")
	assert.Equal(t, "https://opentelemetry.io/schemas/1.26.0", got.Resource().SchemaURL())
	assert.Equal(t, "https://example.com/scope-schema", got.InstrumentationScope().SchemaURL)
	scopeAttrs := got.InstrumentationScope().Attributes
	v, _ := scopeAttrs.Value("scope.attr")
	assert.True(t, v.AsBool())
	rt, _ := got.Resource().Set().Value(keyAgentRuntime)
	assert.Equal(t, "custom", rt.AsString(), "ezop.agent.runtime wins over the SDK language")

	for code, want := range map[ptrace.StatusCode]codes.Code{ptrace.StatusCodeOk: codes.Ok, ptrace.StatusCodeUnset: codes.Unset} {
		s.Status().SetCode(code)
		assert.Equal(t, want, toSpans(td).spans[0].Status().Code)
	}
	s.SetKind(ptrace.SpanKindUnspecified)
	assert.Equal(t, trace.SpanKindUnspecified, toSpans(td).spans[0].SpanKind())
}

func TestToSpansEmptyIDs(t *testing.T) {
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	noTrace := spans.AppendEmpty()
	noTrace.SetSpanID(pcommon.SpanID{1})
	noSpan := spans.AppendEmpty()
	noSpan.SetTraceID(pcommon.TraceID{1})
	spans.AppendEmpty() // neither
	ok := spans.AppendEmpty()
	ok.SetTraceID(pcommon.TraceID{1})
	ok.SetSpanID(pcommon.SpanID{2})
	ok.SetParentSpanID(pcommon.SpanID{}) // empty parent: a root

	c := toSpans(td)
	assert.Equal(t, 3, c.invalid)
	require.Len(t, c.spans, 1)
	assert.False(t, c.spans[0].Parent().IsValid())

	// Empty input, empty resources and scopes.
	empty := ptrace.NewTraces()
	empty.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	assert.Empty(t, toSpans(empty).spans)
	assert.Empty(t, toSpans(ptrace.NewTraces()).spans)
}

// FuzzToSpans feeds arbitrary OTLP (protobuf) traces through the
// conversion and the library's translation: nothing panics, every span
// with ids comes out, with the ids it went in with.
func FuzzToSpans(f *testing.F) {
	var m ptrace.ProtoMarshaler
	seed, err := m.MarshalTraces(twoServiceTraces(3))
	require.NoError(f, err)
	f.Add(seed)
	odd := ptrace.NewTraces()
	s := odd.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetTraceID(pcommon.TraceID{1})
	s.SetSpanID(pcommon.SpanID{1})
	s.SetParentSpanID(pcommon.SpanID{1}) // its own parent
	s.SetFlags(0xffffffff)
	require.NoError(f, s.Attributes().PutEmptyMap("m").FromRaw(map[string]any{"x": []any{nil, []byte{1}, map[string]any{}}}))
	s.Attributes().PutEmptyBytes("b").FromRaw([]byte("\x00\xff"))
	s.Attributes().PutStr("bad utf8", "\xff\xfe")
	b, err := m.MarshalTraces(odd)
	require.NoError(f, err)
	f.Add(b)

	var u ptrace.ProtoUnmarshaler
	f.Fuzz(func(t *testing.T, data []byte) {
		td, err := u.UnmarshalTraces(data)
		if err != nil {
			return
		}
		c := toSpans(td)
		if len(c.spans)+c.invalid != td.SpanCount() {
			t.Fatalf("%d spans + %d invalid, want %d", len(c.spans), c.invalid, td.SpanCount())
		}
		for _, s := range c.spans {
			if !s.SpanContext().TraceID().IsValid() || !s.SpanContext().SpanID().IsValid() {
				t.Fatalf("span %q with an invalid id came out", s.Name())
			}
		}
		var st bridge.RunState
		plan := bridge.NewTranslator(bridge.Config{}).Translate(&st, c.spans)
		_ = plan
	})
}
