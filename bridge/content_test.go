package bridge

import (
	"math"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/ezopotel/ezop-otel-go/semconv"
)

const (
	inputJSON  = `[{"role":"user","parts":[{"type":"text","content":"Weather in Paris?"}]}]`
	outputJSON = `[{"role":"assistant","parts":[{"type":"text","content":"Sunny."}],"finish_reason":"stop"}]`
	systemJSON = `[{"type":"text","content":"You are helpful."}]`
)

var (
	inputWant = []any{map[string]any{"role": "user", "parts": []any{map[string]any{"type": "text", "content": "Weather in Paris?"}}}}
	// The same messages as a structured attribute value (OTel >= 1.45).
	inputStructured = attribute.SliceValue(attribute.MapValue(
		attribute.String("role", "user"),
		attribute.Slice("parts", attribute.MapValue(attribute.String("type", "text"), attribute.String("content", "Weather in Paris?"))),
	))
)

func chatSpan(extra ...attribute.KeyValue) []attribute.KeyValue {
	return append([]attribute.KeyValue{op("chat"), mdl,
		str("gen_ai.input.messages", inputJSON), str("gen_ai.output.messages", outputJSON), str("gen_ai.system_instructions", systemJSON),
	}, extra...)
}

func TestContentCapture(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		p := translate(t, Config{CaptureContent: capture(false)}, rootStub(), child(2, "chat", chatSpan()...))
		e := llmEvent(t, p, 2)
		if e.Input != nil || e.Output != nil {
			t.Errorf("content forwarded with capture off: %s", dump(e))
		}
		m := spanOp(t, p, 2).Create.Metadata
		for _, k := range []string{"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"} {
			if _, ok := m[k]; ok {
				t.Errorf("%s in span metadata with capture off", k)
			}
		}
		if m["gen_ai.request.model"] != "gpt-4o" {
			t.Error("non-content attributes lost")
		}
		if n := issueCount(p, Dropped, "content not captured"); n != 3 {
			t.Errorf("dropped content counted %d, want 3", n)
		}
	})
	t.Run("on", func(t *testing.T) {
		p := translate(t, Config{CaptureContent: capture(true)}, rootStub(), child(2, "chat", chatSpan()...))
		e := llmEvent(t, p, 2)
		wantJSON(t, "input", e.Input, map[string]any{
			"messages":            inputWant,
			"system_instructions": []any{map[string]any{"type": "text", "content": "You are helpful."}},
		})
		wantJSON(t, "output", e.Output, map[string]any{"messages": []any{map[string]any{
			"role": "assistant", "parts": []any{map[string]any{"type": "text", "content": "Sunny."}}, "finish_reason": "stop"}}})
		// Span metadata carries the content decoded, not as escaped text.
		wantJSON(t, "span metadata messages", spanOp(t, p, 2).Create.Metadata["gen_ai.input.messages"], inputWant)
		wantNoIssues(t, p)
	})
	t.Run("structured values equal JSON strings", func(t *testing.T) {
		attrs := []attribute.KeyValue{op("chat"), {Key: "gen_ai.input.messages", Value: inputStructured}}
		p := translate(t, Config{CaptureContent: capture(true)}, rootStub(), child(2, "chat", attrs...))
		wantJSON(t, "input", llmEvent(t, p, 2).Input, map[string]any{"messages": inputWant})
		wantJSON(t, "span metadata", spanOp(t, p, 2).Create.Metadata["gen_ai.input.messages"], inputWant)
		wantNoIssues(t, p)
	})
	t.Run("content that is not JSON", func(t *testing.T) {
		p := translate(t, Config{CaptureContent: capture(true)}, rootStub(), child(2, "chat", op("chat"), str("gen_ai.input.messages", "just text"), str("gen_ai.output.messages", `[{"broken"`)))
		e := llmEvent(t, p, 2)
		wantJSON(t, "input", e.Input, map[string]any{"messages": "just text"})
		wantJSON(t, "output", e.Output, map[string]any{"messages": `[{"broken"`})
	})
}

func TestContentCaptureEnv(t *testing.T) {
	cases := []struct {
		env  string
		cfg  *bool
		want bool
	}{
		{"", nil, false},
		{"true", nil, true},
		{"TRUE", nil, true},
		{" True ", nil, true},
		{"false", nil, false},
		{"1", nil, false},
		{"yes", nil, false},
		// The experimental GenAI modes: any mode that records content.
		{"SPAN_ONLY", nil, true},
		{"EVENT_ONLY", nil, true},
		{"span_and_event", nil, true},
		{"NO_CONTENT", nil, false},
		{"NO_CONTENT", capture(true), true},
		{"true", capture(false), false},
		{"false", capture(true), true},
		{"", capture(true), true},
	}
	for _, tc := range cases {
		name := "env=" + tc.env
		if tc.cfg != nil {
			name += map[bool]string{true: ",option=true", false: ",option=false"}[*tc.cfg]
		}
		t.Run(name, func(t *testing.T) {
			t.Setenv(CaptureContentEnv, tc.env)
			p := translate(t, Config{CaptureContent: tc.cfg}, rootStub(), child(2, "chat", chatSpan()...))
			got := llmEvent(t, p, 2).Input != nil
			_, inMeta := spanOp(t, p, 2).Create.Metadata["gen_ai.input.messages"]
			if got != tc.want || inMeta != tc.want {
				t.Errorf("captured = %v (metadata %v), want %v", got, inMeta, tc.want)
			}
		})
	}
}

func TestFlattenedMessages(t *testing.T) {
	t.Run("openinference", func(t *testing.T) {
		attrs := []attribute.KeyValue{oi("LLM"), str("llm.model_name", "claude"),
			str("llm.input_messages.0.message.role", "system"), str("llm.input_messages.0.message.content", "Be brief."),
			str("llm.input_messages.1.message.role", "user"), str("llm.input_messages.1.message.content", "Hi"),
			str("llm.input_messages.10.message.role", "user"), str("llm.input_messages.10.message.content", "Tenth"),
			str("llm.input_messages.2.message.role", "assistant"), str("llm.input_messages.2.message.content", "Hello"),
			str("llm.output_messages.0.message.role", "assistant"), str("llm.output_messages.0.message.content", "Bye"),
			num("llm.token_count.prompt", 5),
		}
		p := translate(t, Config{CaptureContent: capture(true)}, rootStub(), child(2, "llm", attrs...))
		e := llmEvent(t, p, 2)
		wantJSON(t, "input", e.Input, map[string]any{"messages": []any{
			map[string]any{"role": "system", "content": "Be brief."},
			map[string]any{"role": "user", "content": "Hi"},
			map[string]any{"role": "assistant", "content": "Hello"},
			map[string]any{"role": "user", "content": "Tenth"},
		}})
		wantJSON(t, "output", e.Output, map[string]any{"messages": []any{map[string]any{"role": "assistant", "content": "Bye"}}})
		if !sameJSON(e.Metadata["input_tokens"], 5) {
			t.Errorf("tokens = %v", e.Metadata["input_tokens"])
		}
		// Off: none of the flattened keys leave the process.
		p = translate(t, Config{CaptureContent: capture(false)}, rootStub(), child(2, "llm", attrs...))
		for k := range spanOp(t, p, 2).Create.Metadata {
			if strings.HasPrefix(k, "llm.input_messages.") || strings.HasPrefix(k, "llm.output_messages.") {
				t.Errorf("%s sent with capture off", k)
			}
		}
		if llmEvent(t, p, 2).Input != nil {
			t.Error("input sent with capture off")
		}
		if n := issueCount(p, Dropped, "content not captured"); n != 10 {
			t.Errorf("dropped content counted %d, want 10", n)
		}
	})
	t.Run("openllmetry gen_ai.prompt.N", func(t *testing.T) {
		attrs := []attribute.KeyValue{mdl,
			str("gen_ai.prompt.0.role", "user"), str("gen_ai.prompt.0.content", "Q"),
			str("gen_ai.completion.0.role", "assistant"), str("gen_ai.completion.0.content", `{"answer":42}`),
		}
		p := translate(t, Config{CaptureContent: capture(true)}, rootStub(), child(2, "llm", attrs...))
		e := llmEvent(t, p, 2)
		wantJSON(t, "input", e.Input, map[string]any{"messages": []any{map[string]any{"role": "user", "content": "Q"}}})
		wantJSON(t, "output", e.Output, map[string]any{"messages": []any{map[string]any{"role": "assistant", "content": map[string]any{"answer": 42}}}})
	})
	t.Run("input.value fallback", func(t *testing.T) {
		p := translate(t, Config{CaptureContent: capture(true)}, rootStub(), child(2, "llm", oi("LLM"), str("input.value", `{"q":"x"}`), str("output.value", "plain")))
		e := llmEvent(t, p, 2)
		wantJSON(t, "input", e.Input, map[string]any{"value": map[string]any{"q": "x"}})
		wantJSON(t, "output", e.Output, map[string]any{"value": "plain"})
	})
	t.Run("gen_ai.input.messages beats flattened", func(t *testing.T) {
		p := translate(t, Config{CaptureContent: capture(true)}, rootStub(), child(2, "llm", op("chat"), str("gen_ai.input.messages", inputJSON), str("llm.input_messages.0.message.role", "x")))
		wantJSON(t, "input", llmEvent(t, p, 2).Input, map[string]any{"messages": inputWant})
	})
}

func TestContentEvents(t *testing.T) {
	prompt := event("gen_ai.content.prompt", str("gen_ai.prompt", `[{"role":"user","content":"Hi"}]`))
	completion := event("gen_ai.content.completion", str("gen_ai.completion", "Hello!"))
	user := event("gen_ai.user.message", str("content", "Hi"), str("gen_ai.system", "openai"))
	s := withEvents(child(2, "chat", op("chat")), prompt, completion, user)

	p := translate(t, Config{CaptureContent: capture(true)}, rootStub(), s)
	evs := eventsOn(p, uuidOf(2))
	req := eventsOf(evs, semconv.CategoryLLM, semconv.TypeLLMRequest)
	if len(req) != 2 {
		t.Fatalf("requests: %s", dump(req))
	}
	wantJSON(t, "prompt input", req[0].Input, map[string]any{"value": []any{map[string]any{"role": "user", "content": "Hi"}}})
	// An older-convention message event's content is its input, not
	// metadata.
	wantJSON(t, "user message input", req[1].Input, map[string]any{"content": "Hi", "role": "user"})
	if _, ok := req[1].Metadata["content"]; ok || req[1].Metadata["gen_ai.system"] != "openai" {
		t.Errorf("user message metadata = %s", dump(req[1].Metadata))
	}
	resp := oneEvent(t, evs, semconv.CategoryLLM, semconv.TypeLLMResponse)
	wantJSON(t, "completion output", resp.Output, map[string]any{"value": "Hello!"})

	p = translate(t, Config{CaptureContent: capture(false)}, rootStub(), s)
	for _, e := range eventsOn(p, uuidOf(2)) {
		if e.Input != nil || e.Output != nil || e.Metadata["content"] != nil || e.Metadata["gen_ai.prompt"] != nil || e.Metadata["gen_ai.completion"] != nil {
			t.Errorf("content sent with capture off: %s", dump(e))
		}
	}
	// Every piece of content left out is reported.
	if n := issueCount(p, Dropped, "content not captured"); n != 3 {
		t.Errorf("dropped content counted %d, want 3: %+v", n, p.Issues)
	}
}

func TestToolContent(t *testing.T) {
	attrs := []attribute.KeyValue{tool, str("gen_ai.tool.call.arguments", `{"query":"weather"}`), str("gen_ai.tool.call.result", `["sunny"]`)}
	p := translate(t, Config{CaptureContent: capture(true)}, rootStub(), child(2, "tool", attrs...))
	evs := eventsOn(p, uuidOf(2))
	wantJSON(t, "arguments", oneEvent(t, evs, semconv.CategoryTool, semconv.TypeToolCallStarted).Input, map[string]any{"arguments": map[string]any{"query": "weather"}})
	wantJSON(t, "result", oneEvent(t, evs, semconv.CategoryTool, semconv.TypeToolCallCompleted).Output, map[string]any{"result": []any{"sunny"}})

	// Structured arguments (a MAP value) and a plain-text result.
	structured := []attribute.KeyValue{tool,
		attribute.Map("gen_ai.tool.call.arguments", attribute.String("query", "weather"), attribute.StringSlice("units", []string{"C"})),
		str("gen_ai.tool.call.result", "sunny")}
	p = translate(t, Config{CaptureContent: capture(true)}, rootStub(), child(2, "tool", structured...))
	evs = eventsOn(p, uuidOf(2))
	wantJSON(t, "structured arguments", oneEvent(t, evs, semconv.CategoryTool, semconv.TypeToolCallStarted).Input,
		map[string]any{"arguments": map[string]any{"query": "weather", "units": []string{"C"}}})
	wantJSON(t, "text result", oneEvent(t, evs, semconv.CategoryTool, semconv.TypeToolCallCompleted).Output, map[string]any{"result": "sunny"})

	p = translate(t, Config{CaptureContent: capture(false)}, rootStub(), child(2, "tool", attrs...))
	for _, e := range eventsOn(p, uuidOf(2)) {
		if e.Input != nil || e.Output != nil {
			t.Errorf("tool content with capture off: %s", dump(e))
		}
	}
	wantIssue(t, p, Dropped, "content not captured")
}

// Whatever the hook returns is sent as valid JSON (the validator checks).
func TestRedactionHookOutputSanitized(t *testing.T) {
	outs := map[string]any{
		"app.nan":    math.NaN(),
		"app.inf":    []float64{math.Inf(-1)},
		"app.text":   "a\x00b\xff",
		"app.key":    map[string]any{"k\xff\x00": 1},
		"app.func":   func() {},
		"app.deep":   deep(200),
		"app.huge":   strings.Repeat("x", 1<<20),
		"app.struct": struct{ A float32 }{float32(math.Inf(1))},
		"input":      map[string]any{"v": math.NaN()},
	}
	cfg := Config{Redact: func(key string, v any) (any, bool) {
		if o, ok := outs[key]; ok {
			return o, true
		}
		return v, true
	}}
	var attrs []attribute.KeyValue
	for k := range outs {
		attrs = append(attrs, str(k, "original"))
	}
	p := translate(t, cfg, rootStub(attrs...), withEvents(child(2, "s", attrs...),
		event("e", str("ezop.event.category", "user"), str("ezop.event.input", "x"))))
	for _, sub := range []string{"JSON cannot encode", "NUL", "nested too deeply", "truncated"} {
		if issueCount(p, Altered, sub) == 0 {
			t.Errorf("no issue for %q: %+v", sub, p.Issues)
		}
	}
	if got := spanOp(t, p, 2).Create.Metadata["app.text"]; got != "a\uFFFDb\uFFFD" {
		t.Errorf("hook text = %q", got)
	}
}

func TestRedaction(t *testing.T) {
	var seen []string
	redact := func(key string, v any) (any, bool) {
		seen = append(seen, key)
		switch {
		case key == "user.email":
			return "[redacted]", true
		case key == "gen_ai.input.messages", key == "input", key == "exception.message":
			return nil, false
		case key == "gen_ai.output.messages":
			return map[string]any{"n": 1}, true
		}
		return v, true
	}
	cfg := Config{CaptureContent: capture(true), Redact: redact}
	s := withEvents(withStatus(child(2, "chat", chatSpan(str("user.email", "a@b.c"))...), codes.Error, "x"),
		event("step", str("ezop.event.category", "user"), str("ezop.event.input", `{"pw":"x"}`), str("ezop.event.output", `{"ok":true}`), str("user.email", "a@b.c")),
		event("exception", str("exception.type", "E"), str("exception.message", "password=hunter2")),
	)
	root := withEvents(withStatus(rootStub(str("user.email", "a@b.c")), codes.Error, ""), event("exception", str("exception.message", "password=hunter2")))
	p := translate(t, cfg, root, s)

	m := spanOp(t, p, 2).Create.Metadata
	if m["user.email"] != "[redacted]" {
		t.Errorf("span metadata user.email = %v", m["user.email"])
	}
	if _, ok := m["gen_ai.input.messages"]; ok {
		t.Error("dropped attribute still in span metadata")
	}
	wantJSON(t, "replaced attribute", m["gen_ai.output.messages"], map[string]any{"n": 1})
	if p.End.Metadata["user.email"] != "[redacted]" {
		t.Errorf("run metadata user.email = %v", p.End.Metadata["user.email"])
	}

	evs := eventsOn(p, uuidOf(2))
	llm := llmEvent(t, p, 2)
	if _, ok := llm.Input["messages"]; ok {
		t.Errorf("redacted messages in llm input: %s", dump(llm.Input))
	}
	wantJSON(t, "llm output", llm.Output, map[string]any{"messages": map[string]any{"n": 1}})
	user := oneEvent(t, evs, semconv.CategoryUser, "")
	if user.Input != nil || user.Metadata["user.email"] != "[redacted]" {
		t.Errorf("explicit event not redacted: %s", dump(user))
	}
	wantJSON(t, "explicit output", user.Output, map[string]any{"ok": true})
	exc := eventsOf(evs, semconv.CategoryError, semconv.TypeErrorRaised)
	for _, e := range exc {
		if strings.Contains(jsonOf(e), "hunter2") {
			t.Errorf("exception message not redacted: %s", dump(e))
		}
	}
	if n := issueCount(p, Dropped, "redaction"); n < 4 {
		t.Errorf("redaction drops counted %d, want >= 4 (metadata, llm input, event input, exception message)", n)
	}
	if p.End.Message != nil {
		t.Errorf("run message from a redacted exception message: %q", *p.End.Message)
	}
	if strings.Contains(jsonOf(p), "hunter2") {
		t.Error("redacted exception message leaked somewhere in the plan")
	}
	if strings.Contains(jsonOf(p), "a@b.c") {
		t.Error("redacted value leaked somewhere in the plan")
	}
	if len(seen) == 0 {
		t.Error("hook never called")
	}
}
