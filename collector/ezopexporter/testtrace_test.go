package ezopexporter

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// OTLP flags as SDKs send them: sampled, and whether the parent is remote.
const (
	flagsLocalParent  = 0x01 | flagsHasIsRemote
	flagsRemoteParent = 0x01 | flagsHasIsRemote | flagsIsRemote
)

// twoServiceTraces builds, as a Python and a Node.js service would send
// it, one trace over two services: service A's root "a root" → A's client
// span "a call b" → service B's root "b root" (parent "a call b", remote)
// → B's LLM span "b chat" (7 input and 3 output tokens).
func twoServiceTraces(seed byte) ptrace.Traces {
	td := ptrace.NewTraces()
	tid := pcommon.TraceID{0x0a, seed, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
	sid := func(n byte) pcommon.SpanID { return pcommon.SpanID{0x0b, seed, 0, 0, 0, 0, 0, n} }
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ts := func(ms int) pcommon.Timestamp {
		return pcommon.NewTimestampFromTime(t0.Add(time.Duration(ms) * time.Millisecond))
	}

	resource := func(name, lang string) ptrace.ScopeSpans {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", name)
		rs.Resource().Attributes().PutStr("service.namespace", "platform")
		rs.Resource().Attributes().PutStr("service.version", "1.0.0")
		rs.Resource().Attributes().PutStr("telemetry.sdk.language", lang)
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("agent-instrumentation")
		ss.Scope().SetVersion("0.1")
		return ss
	}
	span := func(ss ptrace.ScopeSpans, id, parent byte, flags uint32, name string, kind ptrace.SpanKind, start, end int) ptrace.Span {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(tid)
		s.SetSpanID(sid(id))
		if parent != 0 {
			s.SetParentSpanID(sid(parent))
		}
		s.SetFlags(flags)
		s.SetName(name)
		s.SetKind(kind)
		s.SetStartTimestamp(ts(start))
		s.SetEndTimestamp(ts(end))
		return s
	}

	a := resource("agent-a", "python")
	root := span(a, 1, 0, 0x01|flagsHasIsRemote, "a root", ptrace.SpanKindServer, 0, 100)
	root.Attributes().PutStr("gen_ai.operation.name", "invoke_agent")
	span(a, 2, 1, flagsLocalParent, "a call b", ptrace.SpanKindClient, 10, 90)

	b := resource("agent-b", "nodejs")
	span(b, 3, 2, flagsRemoteParent, "b root", ptrace.SpanKindServer, 20, 80)
	llm := span(b, 4, 3, flagsLocalParent, "b chat", ptrace.SpanKindInternal, 30, 70)
	llm.Attributes().PutStr("gen_ai.operation.name", "chat")
	llm.Attributes().PutStr("gen_ai.request.model", "gpt-test")
	llm.Attributes().PutInt("gen_ai.usage.input_tokens", 7)
	llm.Attributes().PutInt("gen_ai.usage.output_tokens", 3)
	return td
}
