package bridge

import (
	"strings"

	"go.opentelemetry.io/otel/attribute"

	"github.com/ezopotel/ezop-otel-go/semconv"
)

// Span attribute keys of GenAI instrumentation that classification and the
// synthesized events read. The OTel Go module ships no constants for the
// newest GenAI keys, so the project owns them.
const (
	keyOperationName      = "gen_ai.operation.name"
	keyOpenInferenceKind  = "openinference.span.kind"
	keyTraceloopKind      = "traceloop.span.kind"
	keyToolName           = "gen_ai.tool.name"
	keyRequestModel       = "gen_ai.request.model"
	keyResponseModel      = "gen_ai.response.model"
	keyOpenInferenceModel = "llm.model_name"
)

// spanClass is what kind of agent work a span is.
type spanClass struct {
	// category is llm, tool, memory, reasoning or agent; empty for a plain
	// span that gets no synthesized events.
	category semconv.EventCategory
	// eventType is the type of the synthesized event for memory and
	// reasoning spans.
	eventType semconv.EventType
	// operation is the GenAI operation name, when known.
	operation string
	// nameKey is the attribute that names the model, tool or retriever
	// when the convention names it apart (Genkit's genkit:name).
	nameKey string
	// streamed says the convention marks the call as streamed.
	streamed bool
	// rule names the rule that decided, for diagnostics and tests.
	rule string
}

// operationClasses maps gen_ai.operation.name values.
var operationClasses = map[string]spanClass{
	"chat":             {category: semconv.CategoryLLM},
	"text_completion":  {category: semconv.CategoryLLM},
	"generate_content": {category: semconv.CategoryLLM},
	"embeddings":       {category: semconv.CategoryLLM},
	"execute_tool":     {category: semconv.CategoryTool},
	"retrieval":        {category: semconv.CategoryMemory, eventType: semconv.TypeMemoryRetrieval},
	"search_memory":    {category: semconv.CategoryMemory, eventType: semconv.TypeMemoryQuery},
	"create_memory":    {category: semconv.CategoryMemory, eventType: semconv.TypeMemoryWrite},
	"update_memory":    {category: semconv.CategoryMemory, eventType: semconv.TypeMemoryWrite},
	"upsert_memory":    {category: semconv.CategoryMemory, eventType: semconv.TypeMemoryWrite},
	"delete_memory":    {category: semconv.CategoryMemory, eventType: semconv.TypeMemoryWrite},
	"plan":             {category: semconv.CategoryReasoning, eventType: semconv.TypeReasoningPlan},
	"invoke_agent":     {category: semconv.CategoryAgent},
	"create_agent":     {category: semconv.CategoryAgent},
	"invoke_workflow":  {category: semconv.CategoryAgent},
}

// openInferenceClasses maps openinference.span.kind values.
var openInferenceClasses = map[string]spanClass{
	"LLM":       {category: semconv.CategoryLLM},
	"EMBEDDING": {category: semconv.CategoryLLM, operation: "embeddings"},
	"TOOL":      {category: semconv.CategoryTool},
	"RETRIEVER": {category: semconv.CategoryMemory, eventType: semconv.TypeMemoryRetrieval},
	"AGENT":     {category: semconv.CategoryAgent},
}

// traceloopClasses maps traceloop.span.kind values.
var traceloopClasses = map[string]spanClass{
	"tool":  {category: semconv.CategoryTool},
	"agent": {category: semconv.CategoryAgent},
}

// spanCategoryClasses maps the values of ezop.span.category that classify a
// span.
var spanCategoryClasses = map[string]spanClass{
	string(semconv.CategoryLLM):       {category: semconv.CategoryLLM},
	string(semconv.CategoryTool):      {category: semconv.CategoryTool},
	string(semconv.CategoryMemory):    {category: semconv.CategoryMemory, eventType: semconv.TypeMemoryRetrieval},
	string(semconv.CategoryReasoning): {category: semconv.CategoryReasoning, eventType: semconv.TypeReasoningStep},
	string(semconv.CategoryAgent):     {category: semconv.CategoryAgent},
}

// classRule is one row of the classification table: it looks at a span's
// attributes and decides, or passes.
type classRule struct {
	name   string
	decide func(a attrs, log *issueLog) (spanClass, bool)
}

// classRules is the priority-ordered classification table. The first rule
// that decides wins; README.md documents the same table.
var classRules = []classRule{
	{"ezop.span.category", func(a attrs, log *issueLog) (spanClass, bool) {
		v, ok := a.str(string(semconv.SpanCategoryKey))
		if !ok {
			return spanClass{}, false
		}
		c, ok := spanCategoryClasses[strings.ToLower(strings.TrimSpace(v))]
		if !ok {
			log.add(Altered, "ezop.span.category value not one of llm, tool, memory, reasoning, agent: ignored")
		}
		return c, ok
	}},
	{"genkit:type", genkitRule},
	{"adk merged tools", adkMergedToolsRule},
	{"gen_ai.operation.name", func(a attrs, _ *issueLog) (spanClass, bool) {
		v, ok := a.str(keyOperationName)
		if !ok {
			return spanClass{}, false
		}
		c, ok := operationClasses[strings.ToLower(strings.TrimSpace(v))]
		c.operation = v
		return c, ok
	}},
	{"openinference.span.kind", tableRule(keyOpenInferenceKind, openInferenceClasses, strings.ToUpper)},
	{"traceloop.span.kind", tableRule(keyTraceloopKind, traceloopClasses, strings.ToLower)},
	{"ai.operationId", tableRule(keyAIOperationID, aiSDKOperations, func(s string) string { return s })},
	{"has a tool name", func(a attrs, _ *issueLog) (spanClass, bool) {
		_, ok := a.firstStr(toolNameKeys...)
		return spanClass{category: semconv.CategoryTool}, ok
	}},
	{"has a model", func(a attrs, _ *issueLog) (spanClass, bool) {
		_, ok := a.firstStr(modelKeys...)
		return spanClass{category: semconv.CategoryLLM}, ok
	}},
}

func tableRule(key string, table map[string]spanClass, norm func(string) string) func(attrs, *issueLog) (spanClass, bool) {
	return func(a attrs, _ *issueLog) (spanClass, bool) {
		v, ok := a.str(key)
		if !ok {
			return spanClass{}, false
		}
		c, ok := table[norm(strings.TrimSpace(v))]
		if !ok {
			return spanClass{}, false
		}
		return c, ok
	}
}

// classify returns the class of a span with attributes a.
func classify(a attrs, log *issueLog) spanClass {
	for _, r := range classRules {
		if c, ok := r.decide(a, log); ok {
			c.rule = r.name
			if op, ok := a.str(keyOperationName); ok {
				c.operation = op
			}
			return c
		}
	}
	return spanClass{rule: "plain"}
}

// attrs indexes a span's attributes by key. Later duplicates win, as in
// the OTel SDK.
type attrs map[string]attribute.Value

func newAttrs(kvs []attribute.KeyValue) attrs {
	a := make(attrs, len(kvs))
	for _, kv := range kvs {
		a[string(kv.Key)] = kv.Value
	}
	return a
}

// str returns the value at k as a non-empty string; non-string values are
// read in their text form.
func (a attrs) str(k string) (string, bool) {
	v, ok := a[k]
	if !ok {
		return "", false
	}
	var s string
	if v.Type() == attribute.STRING {
		s = v.AsString()
	} else {
		s = v.Emit()
	}
	return s, strings.TrimSpace(s) != ""
}

func (a attrs) firstStr(keys ...string) (string, bool) {
	for _, k := range keys {
		if s, ok := a.str(k); ok {
			return s, true
		}
	}
	return "", false
}

// int returns the value at k as an integer, accepting integer-valued
// floats and numeric strings, as instrumentation records counts all three
// ways.
func (a attrs) int(k string) (int64, bool) {
	v, ok := a[k]
	if !ok {
		return 0, false
	}
	switch v.Type() {
	case attribute.INT64:
		return v.AsInt64(), true
	case attribute.FLOAT64:
		f := v.AsFloat64()
		if f == float64(int64(f)) {
			return int64(f), true
		}
	case attribute.STRING:
		var n int64
		s := strings.TrimSpace(v.AsString())
		if s == "" || len(s) > 18 {
			return 0, false
		}
		for _, r := range s {
			if r < '0' || r > '9' {
				return 0, false
			}
			n = n*10 + int64(r-'0')
		}
		return n, true
	}
	return 0, false
}

func (a attrs) firstInt(keys ...string) (int64, bool) {
	for _, k := range keys {
		if n, ok := a.int(k); ok {
			return n, true
		}
	}
	return 0, false
}

// float returns the value at k as a finite number.
func (a attrs) float(k string) (float64, bool) {
	v, ok := a[k]
	if !ok {
		return 0, false
	}
	switch v.Type() {
	case attribute.INT64:
		return float64(v.AsInt64()), true
	case attribute.FLOAT64:
		f := v.AsFloat64()
		return f, f == f && f-f == 0
	}
	return 0, false
}
