package bridge

import (
	"encoding/json"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

// Hand-made cases of the framework rules: error propagation, wrappers,
// agent frameworks' own invocations, the frameworks' facts and content
// keys. The recordings of the real packages are in recordings_test.go.

func withScope(s tracetest.SpanStub, name string) tracetest.SpanStub {
	s.InstrumentationScope = instrumentation.Scope{Name: name}
	return s
}

func failing(s tracetest.SpanStub, desc, exception string) tracetest.SpanStub {
	s = withStatus(s, codes.Error, desc)
	if exception != "" {
		s = withEvents(s, event("exception", str("exception.type", "E"), str("exception.message", exception)))
	}
	return s
}

// errorSpans returns the OTel span numbers (among 1..20) carrying an
// error_raised event in p.
func errorSpans(p RunPlan) []uint64 {
	var out []uint64
	for n := uint64(1); n <= 20; n++ {
		if len(eventsOf(eventsOn(p, uuidOf(n)), semconv.CategoryError, semconv.TypeErrorRaised)) > 0 {
			out = append(out, n)
		}
	}
	return out
}

func totalsOf(tb testing.TB, p RunPlan) map[string]any {
	tb.Helper()
	if p.End == nil {
		tb.Fatal("no run end")
	}
	return p.End.Metadata["totals"].(map[string]any)
}

func TestErrorPropagation(t *testing.T) {
	tool := []attribute.KeyValue{op("execute_tool"), str("gen_ai.tool.name", "lookup_order")}
	cases := []struct {
		name   string
		spans  []tracetest.SpanStub
		errors []uint64
	}{
		{"a message containing the child's propagates it", []tracetest.SpanStub{
			failing(rootStub(), `flow failed: tool "lookup_order": order service down`, `flow failed: tool "lookup_order": order service down`),
			failing(child(2, "generate"), `tool "lookup_order": order service down`, `tool "lookup_order": order service down`),
			failing(stub(3, 2, "lookup_order", tool...), "order service down", "order service down"),
		}, []uint64{3}},
		{"no message of its own propagates", []tracetest.SpanStub{
			rootStub(),
			failing(child(2, "step"), "", ""),
			failing(stub(3, 2, "chat", op("chat")), "429 rate limited", ""),
		}, []uint64{3}},
		{"an own reason after a handled failure counts", []tracetest.SpanStub{
			rootStub(),
			failing(child(2, "answer"), "validation failed: empty answer", ""),
			failing(stub(3, 2, "lookup_order", tool...), "timeout", "timeout"),
		}, []uint64{2, 3}},
		{"through a span that did not fail", []tracetest.SpanStub{
			failing(rootStub(), "request failed: timeout", ""),
			child(2, "retry loop"),
			failing(stub(3, 2, "lookup_order", tool...), "timeout", "timeout"),
		}, []uint64{3}},
		{"only the source marked (AI SDK, OTel)", []tracetest.SpanStub{
			rootStub(),
			child(2, "step"),
			failing(stub(3, 2, "lookup_order", tool...), "boom", "boom"),
		}, []uint64{3}},
		{"a handled exception below, its own failure above", []tracetest.SpanStub{
			failing(rootStub(), "could not answer", ""),
			withEvents(child(2, "lookup"), event("exception", str("exception.message", "cache miss"))),
		}, []uint64{1, 2}},
		{"Genkit JS marks only the source", []tracetest.SpanStub{
			rootStub(),
			failing(child(2, "generate", str("genkit:type", "util"), str("genkit:state", "error")), "generation aborted", ""),
			failing(stub(3, 2, "lookup_order", str("genkit:type", "action"), str("genkit:metadata:subtype", "tool"), str("genkit:name", "lookup_order"),
				str("genkit:state", "error"), attribute.Bool("genkit:isFailureSource", true)), "boom", "boom"),
		}, []uint64{3}},
		{"a tool propagating its HTTP call's failure", []tracetest.SpanStub{
			rootStub(),
			failing(child(2, "lookup_order", tool...), "lookup failed: HTTP 503", ""),
			failing(stub(3, 2, "GET /orders", str("http.request.method", "GET")), "HTTP 503", ""),
		}, []uint64{3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := translate(t, Config{}, tc.spans...)
			if got := errorSpans(p); !sameJSON(got, tc.errors) {
				t.Errorf("error_raised on spans %v, want %v: %s", got, tc.errors, dump(p.Events))
			}
			if got := totalsOf(t, p)["errors"]; !sameJSON(got, len(tc.errors)) {
				t.Errorf("totals errors %v, want %d", got, len(tc.errors))
			}
			// In parts, children first, as spans end: the same errors.
			parts := make([][]tracetest.SpanStub, len(tc.spans))
			for i, s := range tc.spans {
				parts[len(tc.spans)-1-i] = []tracetest.SpanStub{s}
			}
			plans, _ := translateParts(t, Config{}, parts...)
			var all RunPlan
			for _, pl := range plans {
				all.Events = append(all.Events, pl.Events...)
			}
			if got := errorSpans(all); !sameJSON(got, tc.errors) {
				t.Errorf("in parts: error_raised on spans %v, want %v", got, tc.errors)
			}
		})
	}

	// A propagating span's exception stays, as a system event, and a
	// propagating tool still fails with its error.
	p := translate(t, Config{}, cases[0].spans...)
	ev := eventsOn(p, uuidOf(2))
	if len(ev) != 1 || ev[0].Category != "system" || ev[0].Metadata[PropagatedErrorKey] != true || ev[0].Name != "exception" {
		t.Errorf("propagated exception: %s", dump(ev))
	}
	p = translate(t, Config{}, cases[7].spans...)
	failed := oneEvent(t, eventsOn(p, uuidOf(2)), semconv.CategoryTool, semconv.TypeToolCallFailed)
	wantJSON(t, "propagating tool's error", failed.Error, map[string]any{"type": "otel.status", "message": "lookup failed: HTTP 503"})
	if p.End.Status != "success" {
		t.Errorf("run %s", p.End.Status)
	}
}

func TestToolCallFailedCarriesError(t *testing.T) {
	s := failing(child(2, "execute_tool lookup_order", op("execute_tool"), str("gen_ai.tool.name", "lookup_order")), "order service unavailable", "order service unavailable")
	p := translate(t, Config{}, rootStub(), s)
	e := oneEvent(t, eventsOn(p, uuidOf(2)), semconv.CategoryTool, semconv.TypeToolCallFailed)
	wantJSON(t, "error", e.Error, map[string]any{"type": "E", "message": "order service unavailable"})
	oneEvent(t, eventsOn(p, uuidOf(2)), semconv.CategoryError, semconv.TypeErrorRaised)
}

func TestLLMWrappers(t *testing.T) {
	usage := func(in, out int) []attribute.KeyValue {
		return []attribute.KeyValue{num("gen_ai.usage.input_tokens", in), num("gen_ai.usage.output_tokens", out)}
	}
	chat := func(n, p uint64, extra ...attribute.KeyValue) tracetest.SpanStub {
		return stub(n, p, "chat", append([]attribute.KeyValue{op("chat"), mdl}, extra...)...)
	}
	cases := []struct {
		name       string
		spans      []tracetest.SpanStub
		calls      []uint64 // spans with an llm_response
		in, out    int
		llmCallsIn int
	}{
		{"a wrapper without usage", []tracetest.SpanStub{rootStub(),
			child(2, "embeddings", op("embeddings"), mdl),
			stub(3, 2, "embeddings", append([]attribute.KeyValue{op("embeddings"), mdl}, num("gen_ai.usage.input_tokens", 7))...),
		}, []uint64{3}, 7, 0, 1},
		{"a wrapper with its children's summed usage (AI SDK ai.generateText)", []tracetest.SpanStub{rootStub(),
			child(2, "ai.generateText", str("ai.operationId", "ai.generateText"), str("ai.model.id", "m"), num("ai.usage.inputTokens", 30), num("ai.usage.outputTokens", 9)),
			stub(3, 2, "ai.generateText.doGenerate", str("ai.operationId", "ai.generateText.doGenerate"), str("ai.model.id", "m"), num("ai.usage.inputTokens", 10), num("ai.usage.outputTokens", 4)),
			stub(4, 3, "ai.toolCall", str("ai.operationId", "ai.toolCall"), str("ai.toolCall.name", "t")),
			stub(5, 2, "ai.generateText.doGenerate", str("ai.operationId", "ai.generateText.doGenerate"), str("ai.model.id", "m"), num("ai.usage.inputTokens", 20), num("ai.usage.outputTokens", 5)),
		}, []uint64{3, 5}, 30, 9, 2},
		{"ADK Python call_llm over generate_content", []tracetest.SpanStub{rootStub(),
			child(2, "call_llm", append([]attribute.KeyValue{str("gen_ai.system", "gcp.vertex.agent"), mdl}, usage(12, 3)...)...),
			stub(3, 2, "generate_content gpt-4o", append([]attribute.KeyValue{op("generate_content"), mdl}, usage(12, 3)...)...),
		}, []uint64{3}, 12, 3, 1},
		{"an LLM span over a call of its own (other usage): both count", []tracetest.SpanStub{rootStub(),
			chat(2, rootID, usage(100, 10)...),
			chat(3, 2, usage(5, 1)...),
		}, []uint64{2, 3}, 105, 11, 2},
		{"a model call in a tool below an LLM span is the tool's", []tracetest.SpanStub{rootStub(),
			chat(2, rootID),
			stub(3, 2, "execute_tool summarize", op("execute_tool"), str("gen_ai.tool.name", "summarize")),
			chat(4, 3, usage(5, 1)...),
		}, []uint64{2, 4}, 5, 1, 2},
		{"Genkit's generate util span is plain", []tracetest.SpanStub{rootStub(),
			child(2, "generate", str("genkit:type", "util"), str("genkit:metadata:subtype", "util"),
				str("genkit:output", `{"usage":{"inputTokens":8,"outputTokens":2}}`)),
			stub(3, 2, "fake/model", str("genkit:type", "action"), str("genkit:metadata:subtype", "model"), str("genkit:name", "fake/model"),
				str("genkit:output", `{"usage":{"inputTokens":8,"outputTokens":2}}`)),
		}, []uint64{3}, 8, 2, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			check := func(what string, evs []wire.EmitEventRequest, tot map[string]any) {
				t.Helper()
				var got []uint64
				in, out := 0.0, 0.0
				for n := uint64(1); n <= 10; n++ {
					for _, e := range evs {
						if e.SpanID == uuidOf(n) && e.Category == "llm" && e.Type == "llm_response" {
							got = append(got, n)
						}
					}
				}
				for _, e := range evs {
					if e.Category == "llm" {
						f, _ := json.Marshal(e.Metadata["input_tokens"])
						g, _ := json.Marshal(e.Metadata["output_tokens"])
						var x, y float64
						_ = json.Unmarshal(f, &x)
						_ = json.Unmarshal(g, &y)
						in, out = in+x, out+y
					}
				}
				if !sameJSON(got, tc.calls) || int(in) != tc.in || int(out) != tc.out {
					t.Errorf("%s: llm_response on %v (%v in, %v out), want %v (%d, %d)", what, got, in, out, tc.calls, tc.in, tc.out)
				}
				if tot != nil && !sameJSON(tot["llm_calls"], tc.llmCallsIn) {
					t.Errorf("%s: totals %v", what, tot)
				}
			}
			p := translate(t, Config{}, tc.spans...)
			check("one part", p.Events, totalsOf(t, p))
			// Children first, each alone: what a child says waits in the
			// state for its parent.
			parts := make([][]tracetest.SpanStub, len(tc.spans))
			for i, s := range tc.spans {
				parts[len(tc.spans)-1-i] = []tracetest.SpanStub{s}
			}
			plans, st := translateParts(t, Config{}, parts...)
			var evs []wire.EmitEventRequest
			for _, pl := range plans {
				evs = append(evs, pl.Events...)
			}
			check("in parts", evs, totalsOf(t, plans[len(plans)-1]))
			if len(st.pending) != 0 {
				t.Errorf("%d facts still pending after the root", len(st.pending))
			}
		})
	}
}

func TestAgentFrameworkInvocations(t *testing.T) {
	aiSDK := func(n, p uint64, fn string) tracetest.SpanStub {
		return withScope(invokeAgent(n, p, fn, mdl), "gen_ai")
	}
	adk := func(s tracetest.SpanStub) tracetest.SpanStub { return withScope(s, "gcp.vertex.agent") }

	t.Run("AI SDK calls stay in their run", func(t *testing.T) {
		p := translate(t, Config{}, rootStub(), aiSDK(2, rootID, "support-chat"), stub(3, 2, "step 1", op("agent_step")), llmSpan(4, 3),
			aiSDK(5, rootID, "support-stream"), llmSpan(6, 5))
		if len(p.ChildRuns) != 0 || len(p.Spans) != 6 {
			t.Fatalf("%d child runs, %d spans: want one run of 6 spans", len(p.ChildRuns), len(p.Spans))
		}
		e := oneEvent(t, eventsOn(p, uuidOf(2)), semconv.CategoryAgent, semconv.TypeAgentRunCompleted)
		if e.Name != "invoke_agent support-chat" || e.Metadata["agent_name"] != "support-chat" || e.Metadata[ParentSpanIDKey] != uuidOf(rootID) {
			t.Errorf("agent event %s", dump(e))
		}
		if tot := totalsOf(t, p); !sameJSON(tot["llm_calls"], 2) {
			t.Errorf("totals %v", tot)
		}
	})
	t.Run("an AI SDK agent called from another's tool is a child run", func(t *testing.T) {
		p := translate(t, Config{}, rootStub(), aiSDK(2, rootID, "supervisor"),
			stub(3, 2, "execute_tool research", op("execute_tool"), str("gen_ai.tool.name", "research")),
			aiSDK(4, 3, "researcher"), llmSpan(5, 4))
		if len(p.ChildRuns) != 1 || p.ChildRuns[0].Key != spanID(4) || p.ChildRuns[0].Plan.Agent.Register.Name != "researcher" {
			t.Fatalf("child runs %s", dump(p.ChildRuns))
		}
	})
	t.Run("ADK: the root agent is the run's, a sub-agent a child run", func(t *testing.T) {
		p := translate(t, Config{}, rootStub(),
			adk(child(2, "invocation")),
			adk(invokeAgent(3, 2, "root_agent")),
			adk(stub(4, 3, "call_llm", mdl, num("gen_ai.usage.input_tokens", 5))),
			adk(invokeAgent(5, 3, "billing_agent")),
			adk(stub(6, 5, "call_llm", mdl, num("gen_ai.usage.input_tokens", 7))),
		)
		if len(p.ChildRuns) != 1 || p.ChildRuns[0].Key != spanID(5) {
			t.Fatalf("child runs %s, want billing_agent's alone", dump(p.ChildRuns))
		}
		c := p.ChildRuns[0]
		if c.Plan.Agent.Register.Name != "billing_agent" || len(c.Plan.Spans) != 1 {
			t.Errorf("child run %s", dump(c.Plan))
		}
		d := c.Delegation
		if d == nil || d.SpanID != uuidOf(5) || d.Category != "agent" || d.Type != "agent_run_completed" ||
			d.Name != "invoke_agent billing_agent" || d.Metadata["agent_name"] != "billing_agent" || d.Metadata[ParentSpanIDKey] != uuidOf(3) {
			t.Errorf("delegation %s", dump(d))
		}
		if len(eventsOf(eventsOn(p, uuidOf(5)), semconv.CategoryAgent, "*")) != 0 {
			t.Error("the delegation must not also be an event of the plan")
		}
		oneEvent(t, eventsOn(p, uuidOf(3)), semconv.CategoryAgent, semconv.TypeAgentRunCompleted)
		if tot := totalsOf(t, p); !sameJSON(tot["llm_calls"], 1) || !sameJSON(tot["input_tokens"], 5) {
			t.Errorf("root run totals %v", tot)
		}
	})
	t.Run("a failed delegation, set once, in the part of the invoking span", func(t *testing.T) {
		plans, _ := translateParts(t, Config{},
			[]tracetest.SpanStub{llmSpan(3, 2)},
			[]tracetest.SpanStub{failing(invokeAgent(2, rootID, "researcher"), "no sources", "")},
			[]tracetest.SpanStub{stub(4, 2, "late")},
			[]tracetest.SpanStub{rootStub()},
		)
		var delegations []*wire.EmitEventRequest
		for i, pl := range plans {
			for _, c := range pl.ChildRuns {
				if c.Delegation != nil {
					if i != 1 {
						t.Errorf("delegation in part %d, want the invoking span's (1)", i)
					}
					delegations = append(delegations, c.Delegation)
				}
			}
		}
		if len(delegations) != 1 || delegations[0].Type != "agent_run_failed" || delegations[0].Error["message"] != "no sources" {
			t.Errorf("delegations %s", dump(delegations))
		}
	})
	t.Run("a supervisor's plain invocation of another agent is a child run", func(t *testing.T) {
		p := translate(t, Config{}, rootStub(), invokeAgent(2, rootID, "researcher"), llmSpan(3, 2))
		if len(p.ChildRuns) != 1 || p.ChildRuns[0].Delegation == nil {
			t.Fatalf("child runs %s", dump(p.ChildRuns))
		}
	})
	t.Run("the root's own invocation adds no agent event", func(t *testing.T) {
		root := rootStub(op("invoke_agent"), str("gen_ai.agent.name", "support-bot"))
		p := translate(t, Config{}, root, llmSpan(2, rootID))
		if n := len(eventsOf(p.Events, semconv.CategoryAgent, "*")); n != 0 {
			t.Errorf("%d agent events", n)
		}
	})
}

func TestFrameworkFacts(t *testing.T) {
	cases := []struct {
		name  string
		attrs []attribute.KeyValue
		want  map[string]any
	}{
		{"Genkit model: name, provider, usage and finish reason from its output", []attribute.KeyValue{
			str("genkit:type", "action"), str("genkit:metadata:subtype", "model"), str("genkit:name", "googleai/gemini-2.5-flash"),
			str("genkit:output", `{"finishReason":"stop","usage":{"inputTokens":31,"outputTokens":12,"cachedContentTokens":4,"thoughtsTokens":3,"totalTokens":46}}`),
		}, map[string]any{"model": "googleai/gemini-2.5-flash", "provider": "googleai", "operation": "chat", "finish_reasons": []string{"stop"},
			"input_tokens": 31, "output_tokens": 12, "cache_read_input_tokens": 4, "reasoning_output_tokens": 3, "total_tokens": 46}},
		{"Genkit embedder", []attribute.KeyValue{
			str("genkit:type", "action"), str("genkit:metadata:subtype", "embedder"), str("genkit:name", "fake/embedder"),
		}, map[string]any{"model": "fake/embedder", "provider": "fake", "operation": "embeddings"}},
		{"AI SDK doStream: provider id, cached and reasoning details, streamed", []attribute.KeyValue{
			str("ai.operationId", "ai.streamText.doStream"), str("ai.model.id", "gpt-4o-mini"), str("ai.model.provider", "openai.chat"),
			str("gen_ai.system", "openai.chat"), str("ai.response.finishReason", "stop"), str("ai.response.id", "r1"),
			num("ai.usage.inputTokens", 157), num("ai.usage.outputTokens", 56), num("ai.usage.totalTokens", 213),
			num("ai.usage.cachedInputTokens", 17), num("ai.usage.inputTokenDetails.cacheReadTokens", 17),
			num("ai.usage.reasoningTokens", 5), num("ai.usage.outputTokenDetails.reasoningTokens", 5),
		}, map[string]any{"model": "gpt-4o-mini", "provider": "openai", "operation": "chat", "finish_reasons": []string{"stop"}, "response_id": "r1",
			"input_tokens": 157, "output_tokens": 56, "total_tokens": 213, "cache_read_input_tokens": 17, "reasoning_output_tokens": 5, "streamed": true}},
		{"AI SDK doEmbed: ai.usage.tokens", []attribute.KeyValue{
			str("ai.operationId", "ai.embed.doEmbed"), str("ai.model.id", "text-embedding-3-small"), str("ai.model.provider", "openai.embedding"), num("ai.usage.tokens", 174),
		}, map[string]any{"model": "text-embedding-3-small", "provider": "openai", "operation": "embeddings", "input_tokens": 174}},
		{"OpenInference: finish reason, embedding model, streamed", []attribute.KeyValue{
			oi("EMBEDDING"), str("embedding.model_name", "text-embedding-3-small"), str("llm.provider", "openai"),
			str("llm.finish_reason", "stop"), str("llm.invocation_parameters", `{"model":"m","stream":true}`),
		}, map[string]any{"model": "text-embedding-3-small", "provider": "openai", "operation": "embeddings", "finish_reasons": []string{"stop"}, "streamed": true}},
		{"ADK JS call_llm: Gemini usage in its response, ADK is no provider", []attribute.KeyValue{
			str("gen_ai.system", "gcp.vertex.agent"), str("gen_ai.request.model", "gemini-2.5-flash"),
			num("gen_ai.usage.input_tokens", 123), num("gen_ai.usage.output_tokens", 42), attribute.StringSlice("gen_ai.response.finish_reasons", []string{"stop"}),
			str("gcp.vertex.agent.llm_response", `{"usageMetadata":{"promptTokenCount":123,"candidatesTokenCount":42,"cachedContentTokenCount":11,"thoughtsTokenCount":3,"totalTokenCount":168},"finishReason":"STOP"}`),
		}, map[string]any{"model": "gemini-2.5-flash", "finish_reasons": []string{"stop"},
			"input_tokens": 123, "output_tokens": 42, "cache_read_input_tokens": 11, "reasoning_output_tokens": 3, "total_tokens": 168}},
		{"ADK Python: snake_case usage metadata", []attribute.KeyValue{
			op("generate_content"), str("gen_ai.request.model", "gemini-2.5-flash"),
			str("gcp.vertex.agent.llm_response", `{"usage_metadata":{"prompt_token_count":9,"candidates_token_count":2,"cached_content_token_count":1,"thoughts_token_count":4},"finish_reason":"STOP"}`),
		}, map[string]any{"model": "gemini-2.5-flash", "operation": "generate_content", "finish_reasons": []string{"STOP"},
			"input_tokens": 9, "output_tokens": 2, "cache_read_input_tokens": 1, "reasoning_output_tokens": 4}},
		{"AI SDK modern chat: time to first chunk says streamed", []attribute.KeyValue{
			op("chat"), mdl, attribute.Float64("gen_ai.client.operation.time_to_first_chunk", 0.03), attribute.StringSlice("gen_ai.response.finish_reasons", []string{"tool-calls"}),
		}, map[string]any{"model": "gpt-4o", "operation": "chat", "finish_reasons": []string{"tool-calls"}, "streamed": true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := translate(t, Config{}, rootStub(), child(2, "call", tc.attrs...))
			wantJSON(t, "metadata", llmEvent(t, p, 2).Metadata, tc.want)
			if tot := totalsOf(t, p); tc.want["input_tokens"] != nil && !sameJSON(tot["input_tokens"], tc.want["input_tokens"]) {
				t.Errorf("totals %v", tot)
			}
		})
	}
}

func TestFrameworkClassification(t *testing.T) {
	gk := func(sub string) []attribute.KeyValue {
		return []attribute.KeyValue{str("genkit:type", "action"), str("genkit:metadata:subtype", sub), str("genkit:name", "x/y")}
	}
	cases := []struct {
		name  string
		attrs []attribute.KeyValue
		cat   semconv.EventCategory
		typ   semconv.EventType
		rule  string
	}{
		{"genkit model", gk("model"), "llm", "", "genkit:type"},
		{"genkit embedder", gk("embedder"), "llm", "", "genkit:type"},
		{"genkit tool.v2", gk("tool.v2"), "tool", "", "genkit:type"},
		{"genkit tool", gk("tool"), "tool", "", "genkit:type"},
		{"genkit retriever", gk("retriever"), "memory", "memory_retrieval", "genkit:type"},
		{"genkit indexer", gk("indexer"), "memory", "memory_write", "genkit:type"},
		{"genkit flow is plain", gk("flow"), "", "", "genkit:type"},
		{"genkit util is plain, even with a model key", append(gk("util"), mdl), "", "", "genkit:type"},
		{"ai.operationId doGenerate", []attribute.KeyValue{str("ai.operationId", "ai.generateText.doGenerate")}, "llm", "", "ai.operationId"},
		{"ai.operationId toolCall", []attribute.KeyValue{str("ai.operationId", "ai.toolCall")}, "tool", "", "ai.operationId"},
		{"ai.operationId unknown falls through", []attribute.KeyValue{str("ai.operationId", "ai.generateSpeech"), str("ai.model.id", "tts")}, "llm", "", "has a model"},
		{"ADK merged tools is no tool call", []attribute.KeyValue{op("execute_tool"), str("gen_ai.tool.name", "(merged tools)")}, "", "", "adk merged tools"},
		{"ezop.span.category beats genkit", append(gk("model"), cat("tool")), "tool", "", "ezop.span.category"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var log issueLog
			c := classify(newAttrs(tc.attrs), &log)
			if c.category != tc.cat || c.eventType != tc.typ || c.rule != tc.rule {
				t.Errorf("class = %s/%s by %q, want %s/%s by %q", c.category, c.eventType, c.rule, tc.cat, tc.typ, tc.rule)
			}
		})
	}
	// A Genkit tool is named by genkit:name, a retriever in metadata.
	p := translate(t, Config{}, rootStub(), child(2, "get_weather", str("genkit:type", "action"), str("genkit:metadata:subtype", "tool.v2"), str("genkit:name", "get_weather")),
		child(3, "fake/retriever", gk("retriever")...))
	if e := oneEvent(t, eventsOn(p, uuidOf(2)), semconv.CategoryTool, semconv.TypeToolCallStarted); e.Metadata["tool_name"] != "get_weather" {
		t.Errorf("tool event %s", dump(e))
	}
	if e := oneEvent(t, eventsOn(p, uuidOf(3)), semconv.CategoryMemory, semconv.TypeMemoryRetrieval); e.Metadata["name"] != "x/y" {
		t.Errorf("retrieval event %s", dump(e))
	}
}

// Every content key of every convention: with capture off its value
// reaches Ezop nowhere (span, event or run metadata, input, output) and
// is counted; with capture on it reaches the span's metadata.
func TestContentKeyTable(t *testing.T) {
	const canary = "EZCANARY_content_key"
	for _, conv := range contentKeyTable {
		var keys []string
		keys = append(keys, conv.keys...)
		for _, p := range conv.indexed {
			keys = append(keys, p+"0.message.content", p+"1.text")
		}
		for _, k := range keys {
			t.Run(conv.convention+"/"+k, func(t *testing.T) {
				if !isContentKey(k) {
					t.Fatalf("%s is not a content key", k)
				}
				for _, kind := range [][]attribute.KeyValue{
					{op("chat"), mdl}, {op("execute_tool"), str("gen_ai.tool.name", "t")}, {op("retrieval")}, nil,
				} {
					attrs := append(append([]attribute.KeyValue{}, kind...), str(k, canary+" "+k))
					s := withEvents(child(2, "work", attrs...), event("gen_ai.choice", str(k, canary)))
					root := rootStub(str(k, canary))
					p := translate(t, Config{CaptureContent: capture(false)}, root, s)
					if b, _ := json.Marshal(p); strings.Contains(string(b), canary) {
						t.Fatalf("%s sent with capture off: %s", k, b)
					}
					if n := issueCount(p, Dropped, ReasonContentNotCaptured); n < 3 {
						t.Errorf("%d content issues, want one per value left out (3)", n)
					}
					p = translate(t, Config{CaptureContent: capture(true)}, root, s)
					if b, _ := json.Marshal(spanOp(t, p, 2).Create.Metadata); !strings.Contains(string(b), canary) {
						t.Errorf("%s not in span metadata with capture on: %s", k, b)
					}
				}
			})
		}
	}
	for _, k := range []string{"gen_ai.prompt.name", "gen_ai.request.model", "llm.token_count.prompt", "genkit:name", "genkit:path", "ai.model.id", "gcp.vertex.agent.invocation_id", "embedding.model_name"} {
		if isContentKey(k) {
			t.Errorf("%s is not content", k)
		}
	}
}

// OpenInference tool calls inside messages are rebuilt nested, never
// kept as flattened keys, in the event and in span metadata.
func TestFlattenedToolCallsNested(t *testing.T) {
	attrs := []attribute.KeyValue{oi("LLM"), str("llm.model_name", "m"),
		str("llm.output_messages.0.message.role", "assistant"),
		str("llm.output_messages.0.message.tool_calls.0.tool_call.id", "call_1"),
		str("llm.output_messages.0.message.tool_calls.0.tool_call.function.name", "get_weather"),
		str("llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments", `{"city":"Paris"}`),
		str("llm.output_messages.0.message.tool_calls.1.tool_call.function.name", "lookup_order"),
		str("embedding.embeddings.0.embedding.text", "hello"),
		attribute.Float64Slice("embedding.embeddings.0.embedding.vector", []float64{0.5}),
	}
	p := translate(t, Config{CaptureContent: capture(true)}, rootStub(), child(2, "llm", attrs...))
	e := llmEvent(t, p, 2)
	wantJSON(t, "output", e.Output, map[string]any{"messages": []any{map[string]any{"role": "assistant", "tool_calls": []any{
		map[string]any{"id": "call_1", "function": map[string]any{"name": "get_weather", "arguments": map[string]any{"city": "Paris"}}},
		map[string]any{"function": map[string]any{"name": "lookup_order"}},
	}}}})
	wantJSON(t, "input texts", e.Input["texts"], []any{"hello"})
	m := spanOp(t, p, 2).Create.Metadata
	for k := range m {
		if strings.HasPrefix(k, "llm.output_messages.") || strings.HasPrefix(k, "embedding.embeddings.") {
			t.Errorf("flattened key %s in span metadata", k)
		}
	}
	wantJSON(t, "span metadata", m["embedding.embeddings"], []any{map[string]any{"text": "hello", "vector": []float64{0.5}}})
	wantNoIssues(t, p)
}

// Older-convention message events carry their content as input or output
// with capture on; no llm_request carries token counts.
func TestMessageEventContent(t *testing.T) {
	s := withEvents(child(2, "chat", op("chat"), mdl),
		event("gen_ai.system.message", str("content", "Be brief.")),
		event("gen_ai.choice", str("message", `{"role":"assistant","content":"Sunny."}`), str("finish_reason", "stop"), num("index", 0)),
		event("gen_ai.tool.message", str("content", "21C"), str("id", "call_1")),
		event("gen_ai.user.message", str("content", "Hi"), num("input_tokens", 3)),
	)
	p := translate(t, Config{CaptureContent: capture(true)}, rootStub(), s)
	evs := eventsOn(p, uuidOf(2))
	wantJSON(t, "system message", evs[0].Input, map[string]any{"content": "Be brief.", "role": "system"})
	wantJSON(t, "choice", evs[1].Output, map[string]any{"message": map[string]any{"role": "assistant", "content": "Sunny."}, "role": "assistant"})
	if evs[1].Metadata["finish_reason"] != "stop" || evs[1].Metadata["message"] != nil {
		t.Errorf("choice metadata %s", dump(evs[1].Metadata))
	}
	wantJSON(t, "tool message", evs[2].Output, map[string]any{"content": "21C", "role": "tool"})
	if _, ok := evs[3].Metadata["input_tokens"]; ok || !sameJSON(evs[3].Metadata["event_input_tokens"], 3) {
		t.Errorf("llm_request metadata %s", dump(evs[3].Metadata))
	}
	wantIssue(t, p, Altered, "token count on an llm_request event")
}
