package bridge

import (
	"math"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

var (
	str  = attribute.String
	num  = attribute.Int
	op   = func(v string) attribute.KeyValue { return attribute.String("gen_ai.operation.name", v) }
	oi   = func(v string) attribute.KeyValue { return attribute.String("openinference.span.kind", v) }
	tl   = func(v string) attribute.KeyValue { return attribute.String("traceloop.span.kind", v) }
	cat  = func(v string) attribute.KeyValue { return attribute.String("ezop.span.category", v) }
	tool = attribute.String("gen_ai.tool.name", "search")
	mdl  = attribute.String("gen_ai.request.model", "gpt-4o")
)

// The classification rule table, in priority order.
func TestClassificationTable(t *testing.T) {
	cases := []struct {
		name  string
		attrs []attribute.KeyValue
		cat   semconv.EventCategory
		typ   semconv.EventType
		rule  string
		issue string
	}{
		// Each rule alone.
		{"ezop llm", []attribute.KeyValue{cat("llm")}, "llm", "", "ezop.span.category", ""},
		{"ezop tool", []attribute.KeyValue{cat("tool")}, "tool", "", "ezop.span.category", ""},
		{"ezop memory", []attribute.KeyValue{cat("memory")}, "memory", "memory_retrieval", "ezop.span.category", ""},
		{"ezop reasoning", []attribute.KeyValue{cat("reasoning")}, "reasoning", "reasoning_step", "ezop.span.category", ""},
		{"ezop agent", []attribute.KeyValue{cat("agent")}, "agent", "", "ezop.span.category", ""},
		{"ezop normalised", []attribute.KeyValue{cat(" LLM ")}, "llm", "", "ezop.span.category", ""},
		{"op chat", []attribute.KeyValue{op("chat")}, "llm", "", "gen_ai.operation.name", ""},
		{"op text_completion", []attribute.KeyValue{op("text_completion")}, "llm", "", "gen_ai.operation.name", ""},
		{"op generate_content", []attribute.KeyValue{op("generate_content")}, "llm", "", "gen_ai.operation.name", ""},
		{"op embeddings", []attribute.KeyValue{op("embeddings")}, "llm", "", "gen_ai.operation.name", ""},
		{"op execute_tool", []attribute.KeyValue{op("execute_tool")}, "tool", "", "gen_ai.operation.name", ""},
		{"op retrieval", []attribute.KeyValue{op("retrieval")}, "memory", "memory_retrieval", "gen_ai.operation.name", ""},
		{"op search_memory", []attribute.KeyValue{op("search_memory")}, "memory", "memory_query", "gen_ai.operation.name", ""},
		{"op create_memory", []attribute.KeyValue{op("create_memory")}, "memory", "memory_write", "gen_ai.operation.name", ""},
		{"op update_memory", []attribute.KeyValue{op("update_memory")}, "memory", "memory_write", "gen_ai.operation.name", ""},
		{"op upsert_memory", []attribute.KeyValue{op("upsert_memory")}, "memory", "memory_write", "gen_ai.operation.name", ""},
		{"op delete_memory", []attribute.KeyValue{op("delete_memory")}, "memory", "memory_write", "gen_ai.operation.name", ""},
		{"op plan", []attribute.KeyValue{op("plan")}, "reasoning", "reasoning_plan", "gen_ai.operation.name", ""},
		{"op invoke_agent", []attribute.KeyValue{op("invoke_agent")}, "agent", "", "gen_ai.operation.name", ""},
		{"op create_agent", []attribute.KeyValue{op("create_agent")}, "agent", "", "gen_ai.operation.name", ""},
		{"op invoke_workflow", []attribute.KeyValue{op("invoke_workflow")}, "agent", "", "gen_ai.operation.name", ""},
		{"openinference LLM", []attribute.KeyValue{oi("LLM")}, "llm", "", "openinference.span.kind", ""},
		{"openinference lower case", []attribute.KeyValue{oi("llm")}, "llm", "", "openinference.span.kind", ""},
		{"openinference TOOL", []attribute.KeyValue{oi("TOOL")}, "tool", "", "openinference.span.kind", ""},
		{"openinference RETRIEVER", []attribute.KeyValue{oi("RETRIEVER")}, "memory", "memory_retrieval", "openinference.span.kind", ""},
		{"openinference AGENT", []attribute.KeyValue{oi("AGENT")}, "agent", "", "openinference.span.kind", ""},
		{"openinference CHAIN is plain", []attribute.KeyValue{oi("CHAIN")}, "", "", "plain", ""},
		{"traceloop tool", []attribute.KeyValue{tl("tool")}, "tool", "", "traceloop.span.kind", ""},
		{"traceloop workflow is plain", []attribute.KeyValue{tl("workflow")}, "", "", "plain", ""},
		{"tool name", []attribute.KeyValue{tool}, "tool", "", "has a tool name", ""},
		{"tool.name alias", []attribute.KeyValue{str("tool.name", "x")}, "tool", "", "has a tool name", ""},
		{"request model", []attribute.KeyValue{mdl}, "llm", "", "has a model", ""},
		{"response model", []attribute.KeyValue{str("gen_ai.response.model", "m")}, "llm", "", "has a model", ""},
		{"openinference model", []attribute.KeyValue{str("llm.model_name", "m")}, "llm", "", "has a model", ""},
		{"nothing", []attribute.KeyValue{str("http.method", "GET")}, "", "", "plain", ""},
		{"blank model", []attribute.KeyValue{str("gen_ai.request.model", " ")}, "", "", "plain", ""},

		// Several signals: the higher rule wins.
		{"ezop over op", []attribute.KeyValue{cat("tool"), op("chat"), oi("LLM"), mdl}, "tool", "", "ezop.span.category", ""},
		{"invalid ezop falls through", []attribute.KeyValue{cat("database"), op("chat")}, "llm", "", "gen_ai.operation.name", "ezop.span.category value not one of"},
		{"op over openinference", []attribute.KeyValue{op("execute_tool"), oi("LLM")}, "tool", "", "gen_ai.operation.name", ""},
		{"unknown op falls through", []attribute.KeyValue{op("frobnicate"), oi("TOOL")}, "tool", "", "openinference.span.kind", ""},
		{"openinference over traceloop", []attribute.KeyValue{oi("RETRIEVER"), tl("tool")}, "memory", "memory_retrieval", "openinference.span.kind", ""},
		{"traceloop over tool name", []attribute.KeyValue{tl("agent"), tool}, "agent", "", "traceloop.span.kind", ""},
		{"tool name over model", []attribute.KeyValue{tool, mdl}, "tool", "", "has a tool name", ""},
		{"op agent over model", []attribute.KeyValue{op("invoke_agent"), mdl}, "agent", "", "gen_ai.operation.name", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var log issueLog
			c := classify(newAttrs(tc.attrs), &log)
			if c.category != tc.cat || c.eventType != tc.typ || c.rule != tc.rule {
				t.Errorf("class = %s/%s by %q, want %s/%s by %q", c.category, c.eventType, c.rule, tc.cat, tc.typ, tc.rule)
			}
			p := RunPlan{Issues: log.issues()}
			if tc.issue != "" {
				wantIssue(t, p, Altered, tc.issue)
			} else {
				wantNoIssues(t, p)
			}

			// And through Translate: which events the span yields.
			plan := translate(t, Config{}, rootStub(), child(2, "work", tc.attrs...))
			evs := eventsOn(plan, uuidOf(2))
			switch tc.cat {
			case "llm":
				oneEvent(t, evs, semconv.CategoryLLM, semconv.TypeLLMResponse)
			case "tool":
				oneEvent(t, evs, semconv.CategoryTool, semconv.TypeToolCallStarted)
				oneEvent(t, evs, semconv.CategoryTool, semconv.TypeToolCallCompleted)
			case "memory", "reasoning":
				oneEvent(t, evs, tc.cat, tc.typ)
			}
			// An agent invocation shows as one agent event (the creation
			// of an agent or a workflow does not).
			agentEvents := 1
			if tc.name == "op create_agent" || tc.name == "op invoke_workflow" {
				agentEvents = 0
			}
			if tc.cat == "" && len(evs) != 0 {
				t.Errorf("plain span yields events: %s", dump(evs))
			}
			if tc.cat != "" && len(evs) != map[semconv.EventCategory]int{"llm": 1, "tool": 2, "memory": 1, "reasoning": 1, "agent": agentEvents}[tc.cat] {
				t.Errorf("events: %s", dump(evs))
			}
			if tc.cat == "agent" && agentEvents == 1 {
				oneEvent(t, evs, semconv.CategoryAgent, semconv.TypeAgentRunCompleted)
			}
		})
	}
}

// llmEvent returns the llm_response event of span n, whose parent is
// the root, without the parent_span_id its metadata must carry.
func llmEvent(t *testing.T, p RunPlan, n uint64) wire.EmitEventRequest {
	t.Helper()
	e := oneEvent(t, eventsOn(p, uuidOf(n)), semconv.CategoryLLM, semconv.TypeLLMResponse)
	return withoutParentKey(t, e, uuidOf(rootID))
}

func TestLLMResponse(t *testing.T) {
	s := child(2, "chat gpt-4o",
		op("chat"), str("gen_ai.provider.name", "openai"), str("gen_ai.system", "legacy"),
		str("gen_ai.request.model", "gpt-4o"), str("gen_ai.response.model", "gpt-4o-2024-08-06"),
		str("gen_ai.response.id", "chatcmpl-1"),
		attribute.StringSlice("gen_ai.response.finish_reasons", []string{"stop"}),
		num("gen_ai.usage.input_tokens", 120), num("gen_ai.usage.output_tokens", 40),
	)
	p := translate(t, Config{}, rootStub(), s)
	e := llmEvent(t, p, 2)
	wantJSON(t, "metadata", e.Metadata, map[string]any{
		"model": "gpt-4o-2024-08-06", "provider": "openai", "operation": "chat", "response_id": "chatcmpl-1",
		"finish_reasons": []string{"stop"}, "input_tokens": 120, "output_tokens": 40,
	})
	if e.Timestamp != formatTime(s.EndTime) || e.Name != "chat gpt-4o" || e.Subtype != "" {
		t.Errorf("event = %s", dump(e))
	}
	if e.ID != eventUUID(testTraceID, spanID(2), "llm_response", 0) {
		t.Errorf("id not derived")
	}
	wantNoIssues(t, p)

	// A failed call: subtype llm_error and an error event.
	p = translate(t, Config{}, rootStub(), withStatus(child(2, "chat", op("chat")), codes.Error, "429"))
	if e := llmEvent(t, p, 2); e.Subtype != "llm_error" {
		t.Errorf("failed llm subtype = %q", e.Subtype)
	}
	oneEvent(t, eventsOn(p, uuidOf(2)), semconv.CategoryError, semconv.TypeErrorRaised)
}

func TestModelAndProviderAliases(t *testing.T) {
	cases := []struct {
		attrs           []attribute.KeyValue
		model, provider string
	}{
		{[]attribute.KeyValue{str("gen_ai.request.model", "req"), str("gen_ai.response.model", "resp"), str("llm.model_name", "oi")}, "resp", ""},
		{[]attribute.KeyValue{str("gen_ai.request.model", "req"), str("llm.model_name", "oi")}, "req", ""},
		{[]attribute.KeyValue{str("llm.model_name", "oi"), str("llm.provider", "anthropic")}, "oi", "anthropic"},
		{[]attribute.KeyValue{mdl, str("gen_ai.system", "openai")}, "gpt-4o", "openai"},
		{[]attribute.KeyValue{mdl, str("gen_ai.provider.name", "aws.bedrock"), str("gen_ai.system", "x")}, "gpt-4o", "aws.bedrock"},
		{[]attribute.KeyValue{cat("llm")}, "", ""},
	}
	for i, tc := range cases {
		p := translate(t, Config{}, rootStub(), child(2, "llm", tc.attrs...))
		m := llmEvent(t, p, 2).Metadata
		for k, want := range map[string]string{"model": tc.model, "provider": tc.provider} {
			got, has := m[k]
			if want == "" && has {
				t.Errorf("case %d: %s = %v, want absent", i, k, got)
			}
			if want != "" && got != want {
				t.Errorf("case %d: %s = %v, want %q", i, k, got, want)
			}
		}
	}
}

func TestTokenAliases(t *testing.T) {
	const absent = -1
	cases := []struct {
		name          string
		attrs         []attribute.KeyValue
		in, out, tot  int64
		cacheRead     int64
		cacheCreation int64
		reasoning     int64
	}{
		{"gen_ai.usage", []attribute.KeyValue{num("gen_ai.usage.input_tokens", 10), num("gen_ai.usage.output_tokens", 3)}, 10, 3, absent, absent, absent, absent},
		{"deprecated prompt/completion", []attribute.KeyValue{num("gen_ai.usage.prompt_tokens", 11), num("gen_ai.usage.completion_tokens", 4)}, 11, 4, absent, absent, absent, absent},
		{"current beats deprecated", []attribute.KeyValue{num("gen_ai.usage.prompt_tokens", 99), num("gen_ai.usage.input_tokens", 12), num("gen_ai.usage.completion_tokens", 98), num("gen_ai.usage.output_tokens", 5)}, 12, 5, absent, absent, absent, absent},
		{"openinference", []attribute.KeyValue{num("llm.token_count.prompt", 13), num("llm.token_count.completion", 6), num("llm.token_count.total", 19)}, 13, 6, 19, absent, absent, absent},
		{"openllmetry total", []attribute.KeyValue{num("llm.usage.total_tokens", 30)}, absent, absent, 30, absent, absent, absent},
		{"gen_ai total", []attribute.KeyValue{num("gen_ai.usage.total_tokens", 31)}, absent, absent, 31, absent, absent, absent},
		{"counts as floats and strings", []attribute.KeyValue{attribute.Float64("gen_ai.usage.input_tokens", 14), str("gen_ai.usage.output_tokens", "7")}, 14, 7, absent, absent, absent, absent},
		{"non-integral counts are absent", []attribute.KeyValue{attribute.Float64("gen_ai.usage.input_tokens", 1.5), str("gen_ai.usage.output_tokens", "many")}, absent, absent, absent, absent, absent, absent},
		{"unusable alias falls to the next", []attribute.KeyValue{str("gen_ai.usage.input_tokens", "n/a"), num("gen_ai.usage.prompt_tokens", 8)}, 8, absent, absent, absent, absent, absent},
		{"zero is a count", []attribute.KeyValue{num("gen_ai.usage.input_tokens", 0), num("gen_ai.usage.output_tokens", 0)}, 0, 0, absent, absent, absent, absent},
		{"subsets as given", []attribute.KeyValue{
			num("gen_ai.usage.input_tokens", 100), num("gen_ai.usage.output_tokens", 50),
			num("gen_ai.usage.cache_read.input_tokens", 40), num("gen_ai.usage.cache_creation.input_tokens", 20),
			num("gen_ai.usage.reasoning.output_tokens", 30),
		}, 100, 50, absent, 40, 20, 30},
		{"openinference subsets", []attribute.KeyValue{
			num("llm.token_count.prompt", 100), num("llm.token_count.prompt_details.cache_read", 60),
			num("llm.token_count.prompt_details.cache_write", 5), num("llm.token_count.completion_details.reasoning", 9),
		}, 100, absent, absent, 60, 5, 9},
		{"nothing", nil, absent, absent, absent, absent, absent, absent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := translate(t, Config{}, rootStub(), child(2, "chat", append([]attribute.KeyValue{op("chat")}, tc.attrs...)...))
			m := llmEvent(t, p, 2).Metadata
			for k, want := range map[string]int64{
				"input_tokens": tc.in, "output_tokens": tc.out, "total_tokens": tc.tot,
				"cache_read_input_tokens": tc.cacheRead, "cache_creation_input_tokens": tc.cacheCreation, "reasoning_output_tokens": tc.reasoning,
			} {
				got, has := m[k]
				switch {
				case want == absent && has:
					t.Errorf("%s = %v, want absent", k, got)
				case want != absent && !sameJSON(got, want):
					t.Errorf("%s = %v, want %d", k, got, want)
				}
			}
			// Run totals: cached and reasoning tokens are never added again,
			// and a count no call reported stays absent.
			tot := p.End.Metadata["totals"].(map[string]any)
			for k, want := range map[string]int64{"input_tokens": tc.in, "output_tokens": tc.out} {
				got, has := tot[k]
				switch {
				case want == absent && has:
					t.Errorf("run totals %s = %v, never reported", k, got)
				case want != absent && !sameJSON(got, want):
					t.Errorf("run totals %s = %v, want %d", k, got, want)
				}
			}
		})
	}
}

// Exactly one event carries the tokens of one LLM call.
func TestExplicitLLMResponseNotDuplicated(t *testing.T) {
	usage := []attribute.KeyValue{op("chat"), mdl, num("gen_ai.usage.input_tokens", 9), num("gen_ai.usage.output_tokens", 2)}
	cases := map[string][]attribute.KeyValue{
		"ezop.event keys": {str("ezop.event.category", "llm"), str("ezop.event.type", "llm_response"), str("note", "mine")},
		"gen_ai.choice":   {str("note", "mine")},
	}
	for name, evAttrs := range cases {
		t.Run(name, func(t *testing.T) {
			evName := "response"
			if name == "gen_ai.choice" {
				evName = "gen_ai.choice"
			}
			s := withEvents(child(2, "chat", usage...),
				event("gen_ai.user.message"), event(evName, evAttrs...), event("gen_ai.choice", str("index", "1")))
			p := translate(t, Config{}, rootStub(), s)
			evs := eventsOn(p, uuidOf(2))
			resp := eventsOf(evs, semconv.CategoryLLM, semconv.TypeLLMResponse)
			if len(resp) != 2 {
				t.Fatalf("want the 2 recorded responses and no synthesized one, got %s", dump(resp))
			}
			withTokens := 0
			for _, e := range evs {
				if _, ok := e.Metadata["input_tokens"]; ok {
					withTokens++
				}
				if e.ID == eventUUID(testTraceID, spanID(2), "llm_response", 0) {
					t.Error("synthesized llm_response next to a recorded one")
				}
			}
			if withTokens != 1 {
				t.Errorf("%d events carry tokens, want 1", withTokens)
			}
			// The first recorded response gets the call's facts and keeps its
			// own attributes.
			first := resp[0]
			if first.Metadata["note"] != "mine" || !sameJSON(first.Metadata["input_tokens"], 9) || first.Metadata["model"] != "gpt-4o" {
				t.Errorf("merged metadata = %s", dump(first.Metadata))
			}
			tot := p.End.Metadata["totals"].(map[string]any)
			if !sameJSON(tot["input_tokens"], 9) || !sameJSON(tot["llm_calls"], 1) {
				t.Errorf("totals = %s", dump(tot))
			}
		})
	}
	// The recorded event's own values win over the span's.
	s := withEvents(child(2, "chat", usage...), event("gen_ai.choice", num("input_tokens", 7)))
	p := translate(t, Config{}, rootStub(), s)
	if got := llmEvent(t, p, 2).Metadata["input_tokens"]; !sameJSON(got, 7) {
		t.Errorf("recorded input_tokens overwritten: %v", got)
	}
}

func TestCost(t *testing.T) {
	cases := []struct {
		name string
		attr attribute.KeyValue
		want float64 // NaN: no cost
	}{
		{"gen_ai.usage.cost", attribute.Float64("gen_ai.usage.cost", 0.0125), 0.0125},
		{"llm.cost.total", attribute.Float64("llm.cost.total", 0.5), 0.5},
		{"integer cost", attribute.Int("gen_ai.usage.cost", 2), 2},
		{"NaN cost ignored", attribute.Float64("gen_ai.usage.cost", math.NaN()), math.NaN()},
		{"infinite cost ignored", attribute.Float64("gen_ai.usage.cost", math.Inf(1)), math.NaN()},
		{"text cost ignored", attribute.String("gen_ai.usage.cost", "$1"), math.NaN()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := child(2, "chat", op("chat"), mdl, tc.attr)
			p := translate(t, Config{}, rootStub(), s)
			evs := eventsOf(eventsOn(p, uuidOf(2)), semconv.CategoryCost, "*")
			tot := p.End.Metadata["totals"].(map[string]any)
			if math.IsNaN(tc.want) {
				if len(evs) != 0 {
					t.Errorf("cost event for unusable cost: %s", dump(evs))
				}
				if _, has := tot["cost"]; has {
					t.Errorf("run cost total for unusable cost")
				}
				return
			}
			e := oneEvent(t, evs, semconv.CategoryCost, semconv.TypeCostCalculated)
			if !sameJSON(e.Metadata["cost"], tc.want) || e.Metadata["model"] != "gpt-4o" || e.Timestamp != formatTime(s.EndTime) {
				t.Errorf("cost event = %s", dump(e))
			}
			if !sameJSON(tot["cost"], tc.want) {
				t.Errorf("run cost = %v", tot["cost"])
			}
			if !sameJSON(llmEvent(t, p, 2).Metadata["cost"], tc.want) {
				t.Errorf("llm_response cost missing")
			}
		})
	}
}

func TestToolEvents(t *testing.T) {
	for _, sig := range [][]attribute.KeyValue{
		{op("execute_tool"), tool},
		{tool},
		{oi("TOOL"), str("tool.name", "search")},
		{cat("tool"), tool},
		{tl("tool"), tool},
	} {
		for _, failed := range []bool{false, true} {
			s := child(2, "execute_tool search", append(sig, str("gen_ai.tool.call.id", "call_1"), str("gen_ai.tool.type", "function"))...)
			if failed {
				s = withStatus(s, codes.Error, "no results")
			}
			p := translate(t, Config{}, rootStub(), s)
			evs := eventsOn(p, uuidOf(2))
			start := oneEvent(t, evs, semconv.CategoryTool, semconv.TypeToolCallStarted)
			endType := semconv.TypeToolCallCompleted
			if failed {
				endType = semconv.TypeToolCallFailed
			}
			end := oneEvent(t, evs, semconv.CategoryTool, endType)
			if start.Timestamp != formatTime(s.StartTime) || end.Timestamp != formatTime(s.EndTime) {
				t.Errorf("tool times %s .. %s", start.Timestamp, end.Timestamp)
			}
			for _, e := range []wire.EmitEventRequest{start, end} {
				if e.Metadata["tool_name"] != "search" || e.Metadata["error_flag"] != failed || e.Metadata["tool_call_id"] != "call_1" || e.Metadata["tool_type"] != "function" {
					t.Errorf("%v: tool metadata = %s", sig, dump(e.Metadata))
				}
			}
			if failed {
				oneEvent(t, evs, semconv.CategoryError, semconv.TypeErrorRaised)
			} else if len(evs) != 2 {
				t.Errorf("events: %s", dump(evs))
			}
		}
	}
}

func TestToolSubtype(t *testing.T) {
	cases := []struct {
		attr attribute.KeyValue
		want semconv.EventSubtype
	}{
		{str("http.request.method", "GET"), semconv.SubtypeHTTP},
		{str("http.method", "GET"), semconv.SubtypeHTTP},
		{str("url.full", "https://x"), semconv.SubtypeHTTP},
		{str("db.system", "postgresql"), semconv.SubtypeDatabase},
		{str("db.system.name", "sqlite"), semconv.SubtypeDatabase},
		{str("db.query.text", "SELECT 1"), semconv.SubtypeDatabase},
		{str("file.path", "/tmp/x"), semconv.SubtypeFilesystem},
		{str("file.directory", "/tmp"), semconv.SubtypeFilesystem},
		{str("rpc.system", "grpc"), semconv.SubtypeAPI},
		{str("rpc.method", "Get"), semconv.SubtypeAPI},
		{str("app.thing", "x"), ""},
	}
	for _, tc := range cases {
		t.Run(string(tc.attr.Key), func(t *testing.T) {
			p := translate(t, Config{}, rootStub(), child(2, "tool", tool, tc.attr))
			for _, e := range eventsOf(eventsOn(p, uuidOf(2)), semconv.CategoryTool, "*") {
				if e.Subtype != string(tc.want) {
					t.Errorf("%s subtype = %q, want %q", e.Type, e.Subtype, tc.want)
				}
			}
		})
	}
	// The subtype is only for tool spans.
	p := translate(t, Config{}, rootStub(), child(2, "http", str("http.request.method", "GET")))
	if len(p.Events) != 0 {
		t.Errorf("plain HTTP span yields events: %s", dump(p.Events))
	}
}

func TestMemoryAndReasoningEvents(t *testing.T) {
	cases := []struct {
		attrs []attribute.KeyValue
		cat   semconv.EventCategory
		typ   semconv.EventType
	}{
		{[]attribute.KeyValue{op("retrieval"), str("gen_ai.data_source.id", "kb-1")}, "memory", "memory_retrieval"},
		{[]attribute.KeyValue{op("search_memory"), str("gen_ai.memory.store.name", "notes")}, "memory", "memory_query"},
		{[]attribute.KeyValue{op("upsert_memory")}, "memory", "memory_write"},
		{[]attribute.KeyValue{oi("RETRIEVER")}, "memory", "memory_retrieval"},
		{[]attribute.KeyValue{cat("memory")}, "memory", "memory_retrieval"},
		{[]attribute.KeyValue{op("plan")}, "reasoning", "reasoning_plan"},
		{[]attribute.KeyValue{cat("reasoning")}, "reasoning", "reasoning_step"},
	}
	for _, tc := range cases {
		s := child(2, "mem", tc.attrs...)
		p := translate(t, Config{}, rootStub(), s)
		e := oneEvent(t, eventsOn(p, uuidOf(2)), tc.cat, tc.typ)
		if e.Timestamp != formatTime(s.EndTime) || e.Metadata == nil {
			t.Errorf("%s event = %s", tc.typ, dump(e))
		}
		if tc.typ == "memory_retrieval" && len(tc.attrs) == 2 && e.Metadata["data_source_id"] != "kb-1" {
			t.Errorf("data source missing: %s", dump(e.Metadata))
		}
		if tc.typ == "memory_query" && e.Metadata["memory_store"] != "notes" {
			t.Errorf("memory store missing: %s", dump(e.Metadata))
		}
	}
}

func TestErrorStatusEvent(t *testing.T) {
	exc := event("exception", str("exception.message", "boom"))
	explicitErr := event("failed", str("ezop.event.category", "error"), str("ezop.event.type", "error_raised"))
	cases := []struct {
		name string
		code codes.Code
		want int // synthesized status error events
	}{
		{"error status", codes.Error, 1},
		{"ok status", codes.Ok, 0},
		{"unset status", codes.Unset, 0},
	}
	for _, tc := range cases {
		p := translate(t, Config{}, rootStub(), withStatus(child(2, "s"), tc.code, "broken pipe"))
		got := eventsOf(eventsOn(p, uuidOf(2)), semconv.CategoryError, semconv.TypeErrorRaised)
		if len(got) != tc.want {
			t.Errorf("%s: %d error events", tc.name, len(got))
			continue
		}
		if tc.want == 1 {
			wantJSON(t, "error", got[0].Error, map[string]any{"type": "otel.status", "message": "broken pipe"})
			if got[0].Timestamp != formatTime(child(2, "").EndTime) {
				t.Errorf("error time = %s", got[0].Timestamp)
			}
		}
	}
	// Not when the span already reports its error.
	for name, recorded := range map[string]sdktrace.Event{"exception": exc, "explicit error event": explicitErr} {
		p := translate(t, Config{}, rootStub(), withEvents(withStatus(child(2, "s"), codes.Error, "x"), recorded))
		if n := len(eventsOf(eventsOn(p, uuidOf(2)), semconv.CategoryError, "*")); n != 1 {
			t.Errorf("%s + Error status: %d error events, want 1", name, n)
		}
		if got := p.End.Metadata["totals"].(map[string]any)["errors"]; !sameJSON(got, 1) {
			t.Errorf("%s: errors total %v", name, got)
		}
	}
	// The root's error status is an error event of the root span, the
	// run's top-level span.
	p := translate(t, Config{}, withStatus(rootStub(), codes.Error, "x"))
	if e := oneEvent(t, p.Events, semconv.CategoryError, semconv.TypeErrorRaised); e.SpanID != uuidOf(rootID) {
		t.Errorf("root error event on span %q", e.SpanID)
	}
}
