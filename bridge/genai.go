package bridge

import (
	"sort"
	"strconv"
	"strings"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

// Aliases of one fact across instrumentation libraries, most specific first.
var (
	modelKeys    = []string{keyResponseModel, keyRequestModel, keyOpenInferenceModel, "ai.model.id"}
	providerKeys = []string{"gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system", "ai.model.provider"}
	toolNameKeys = []string{keyToolName, "tool.name", "ai.toolCall.name"}

	inputTokenKeys  = []string{"gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt", "ai.usage.promptTokens", "ai.usage.inputTokens"}
	outputTokenKeys = []string{"gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion", "ai.usage.completionTokens", "ai.usage.outputTokens"}
	totalTokenKeys  = []string{"gen_ai.usage.total_tokens", "llm.token_count.total", "llm.usage.total_tokens"}
	costKeys        = []string{"gen_ai.usage.cost", "llm.cost.total"}

	// tokenSubsets are reported as given, never added to the totals: OTel
	// counts cached tokens inside input tokens and reasoning tokens inside
	// output tokens.
	tokenSubsets = []struct{ meta, key, alt string }{
		{"cache_read_input_tokens", "gen_ai.usage.cache_read.input_tokens", "llm.token_count.prompt_details.cache_read"},
		{"cache_creation_input_tokens", "gen_ai.usage.cache_creation.input_tokens", "llm.token_count.prompt_details.cache_write"},
		{"reasoning_output_tokens", "gen_ai.usage.reasoning.output_tokens", "llm.token_count.completion_details.reasoning"},
	}
)

// contentKeys hold message content: they are forwarded only when content
// capture is on.
var contentKeys = map[string]bool{
	"gen_ai.input.messages":      true,
	"gen_ai.output.messages":     true,
	"gen_ai.system_instructions": true,
	"gen_ai.tool.call.arguments": true,
	"gen_ai.tool.call.result":    true,
	"gen_ai.tool.definitions":    true,
	"gen_ai.retrieval.documents": true,
	"gen_ai.memory.records":      true,
	"gen_ai.retrieval.query":     true,
	"gen_ai.prompt":              true,
	"gen_ai.completion":          true,
	"input.value":                true,
	"output.value":               true,
	"tool.parameters":            true,
	"traceloop.entity.input":     true,
	"traceloop.entity.output":    true,
	"ai.toolCall.args":           true,
	"ai.toolCall.result":         true,
	"ai.prompt":                  true,
	"ai.response.text":           true,
	"content":                    true,
	"message":                    true,
	"tool_calls":                 true,
}

// isContentKey also recognises the indexed content keys of OpenInference
// (llm.input_messages.N.…) and OpenLLMetry (gen_ai.prompt.N.…).
func isContentKey(k string) bool {
	if contentKeys[k] {
		return true
	}
	for _, p := range []string{"llm.input_messages.", "llm.output_messages.", "gen_ai.prompt.", "gen_ai.completion."} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// llmFacts is what one LLM span says about its call.
type llmFacts struct {
	meta         wire.Object
	input        wire.Object
	output       wire.Object
	inputTokens  int64
	outputTokens int64
	hasTokens    bool
	hasInput     bool
	hasOutput    bool
	cost         float64
	hasCost      bool
}

// llmFacts reads model, provider, usage, finish reasons and (when content
// capture is on) messages from an LLM span's attributes.
func (b *builder) llmFacts(a attrs) llmFacts {
	f := llmFacts{meta: wire.Object{}}
	if m, ok := a.firstStr(modelKeys...); ok {
		f.meta["model"] = b.z.str(m)
	}
	if p, ok := a.firstStr(providerKeys...); ok {
		f.meta["provider"] = b.z.str(p)
	}
	if op, ok := a.str(keyOperationName); ok {
		f.meta["operation"] = b.z.str(op)
	}
	if id, ok := a.str("gen_ai.response.id"); ok {
		f.meta["response_id"] = b.z.str(id)
	}
	if v, ok := a["gen_ai.response.finish_reasons"]; ok {
		f.meta["finish_reasons"] = b.z.value(v)
	}
	if n, ok := b.count(a, inputTokenKeys...); ok {
		f.meta["input_tokens"], f.inputTokens, f.hasTokens, f.hasInput = n, n, true, true
	}
	if n, ok := b.count(a, outputTokenKeys...); ok {
		f.meta["output_tokens"], f.outputTokens, f.hasTokens, f.hasOutput = n, n, true, true
	}
	if n, ok := a.firstInt(totalTokenKeys...); ok {
		f.meta["total_tokens"] = n
	}
	for _, s := range tokenSubsets {
		if n, ok := a.firstInt(s.key, s.alt); ok {
			f.meta[s.meta] = n
		}
	}
	for _, k := range costKeys {
		if c, ok := a.float(k); ok {
			f.cost, f.hasCost = c, true
			f.meta["cost"] = c
			break
		}
	}
	if !b.t.captureContent {
		return f
	}
	in := wire.Object{}
	b.putJSON(in, "system_instructions", a, "gen_ai.system_instructions")
	b.putJSON(in, "messages", a, "gen_ai.input.messages")
	if _, ok := in["messages"]; !ok {
		if msgs := b.indexedMessages(a, "llm.input_messages.", ".message."); msgs != nil {
			in["messages"] = msgs
		} else if msgs := b.indexedMessages(a, "gen_ai.prompt.", "."); msgs != nil {
			in["messages"] = msgs
		} else {
			b.putJSON(in, "value", a, "input.value")
		}
	}
	out := wire.Object{}
	b.putJSON(out, "messages", a, "gen_ai.output.messages")
	if _, ok := out["messages"]; !ok {
		if msgs := b.indexedMessages(a, "llm.output_messages.", ".message."); msgs != nil {
			out["messages"] = msgs
		} else if msgs := b.indexedMessages(a, "gen_ai.completion.", "."); msgs != nil {
			out["messages"] = msgs
		} else {
			b.putJSON(out, "value", a, "output.value")
		}
	}
	if len(in) > 0 {
		f.input = in
	}
	if len(out) > 0 {
		f.output = out
	}
	return f
}

// putJSON stores the value at key k of a under name in o, decoding JSON
// documents recorded as strings.
func (b *builder) putJSON(o wire.Object, name string, a attrs, k string) {
	v, ok := a[k]
	if !ok {
		return
	}
	if val, keep := b.z.redact(k, b.z.jsonish(v)); keep {
		o[name] = val
	}
}

// indexedMessages rebuilds a message list from flattened keys such as
// llm.input_messages.0.message.role (prefix "llm.input_messages.", infix
// ".message.") or gen_ai.prompt.0.content (prefix "gen_ai.prompt.", infix
// ".").
func (b *builder) indexedMessages(a attrs, prefix, infix string) []any {
	byIndex := map[int]map[string]any{}
	for k, v := range a {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		rest := k[len(prefix):]
		dot := strings.IndexByte(rest, '.')
		if dot <= 0 {
			continue
		}
		i, err := strconv.Atoi(rest[:dot])
		if err != nil || i < 0 || i > 10000 {
			continue
		}
		field := strings.TrimPrefix(rest[dot:], infix)
		if field == rest[dot:] && infix != "." {
			continue
		}
		m := byIndex[i]
		if m == nil {
			m = map[string]any{}
			byIndex[i] = m
		}
		if val, keep := b.z.redact(k, b.z.jsonish(v)); keep {
			m[b.z.str(field)] = val
		}
	}
	if len(byIndex) == 0 {
		return nil
	}
	idx := make([]int, 0, len(byIndex))
	for i := range byIndex {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	out := make([]any, 0, len(idx))
	for _, i := range idx {
		out = append(out, byIndex[i])
	}
	return out
}

// toolFacts is what one tool span says about its call.
type toolFacts struct {
	meta    wire.Object
	input   wire.Object
	output  wire.Object
	subtype semconv.EventSubtype
}

func (b *builder) toolFacts(a attrs, failed bool) toolFacts {
	f := toolFacts{meta: wire.Object{"error_flag": failed}}
	if n, ok := a.firstStr(toolNameKeys...); ok {
		f.meta["tool_name"] = b.z.str(n)
	}
	if id, ok := a.firstStr("gen_ai.tool.call.id", "ai.toolCall.id"); ok {
		f.meta["tool_call_id"] = b.z.str(id)
	}
	if ty, ok := a.str("gen_ai.tool.type"); ok {
		f.meta["tool_type"] = b.z.str(ty)
	}
	f.subtype = toolSubtype(a)
	if b.t.captureContent {
		in, out := wire.Object{}, wire.Object{}
		for _, k := range []string{"gen_ai.tool.call.arguments", "tool.parameters", "ai.toolCall.args", "input.value", "traceloop.entity.input"} {
			if _, ok := a[k]; ok {
				b.putJSON(in, "arguments", a, k)
				break
			}
		}
		for _, k := range []string{"gen_ai.tool.call.result", "ai.toolCall.result", "output.value", "traceloop.entity.output"} {
			if _, ok := a[k]; ok {
				b.putJSON(out, "result", a, k)
				break
			}
		}
		if len(in) > 0 {
			f.input = in
		}
		if len(out) > 0 {
			f.output = out
		}
	}
	return f
}

// toolSubtype reads what a tool span touches from the OTel conventions of
// HTTP, database, RPC and file-system spans.
func toolSubtype(a attrs) semconv.EventSubtype {
	has := func(keys ...string) bool {
		for _, k := range keys {
			if _, ok := a[k]; ok {
				return true
			}
		}
		return false
	}
	switch {
	case has("http.request.method", "http.method", "url.full", "http.url"):
		return semconv.SubtypeHTTP
	case has("db.system", "db.system.name", "db.query.text", "db.statement"):
		return semconv.SubtypeDatabase
	case has("file.path", "file.name", "file.directory"):
		return semconv.SubtypeFilesystem
	case has("rpc.system", "rpc.method"):
		return semconv.SubtypeAPI
	}
	return ""
}

// memoryFacts describes a retrieval or memory operation.
func (b *builder) memoryFacts(a attrs) (meta, output wire.Object) {
	meta = wire.Object{}
	for meta2, k := range map[string]string{
		"data_source_id": "gen_ai.data_source.id",
		"operation":      keyOperationName,
		"memory_store":   "gen_ai.memory.store.name",
		"query":          "gen_ai.retrieval.query",
	} {
		if s, ok := a.str(k); ok && (meta2 != "query" || b.t.captureContent) {
			meta[meta2] = b.z.str(s)
		}
	}
	if !b.t.captureContent {
		return meta, nil
	}
	out := wire.Object{}
	b.putJSON(out, "documents", a, "gen_ai.retrieval.documents")
	b.putJSON(out, "records", a, "gen_ai.memory.records")
	if len(out) == 0 {
		return meta, nil
	}
	return meta, out
}

// count reads a token count: the first of keys that holds an integer. A
// negative count is no count: it is left out, and reported, so that run
// totals never go down.
func (b *builder) count(a attrs, keys ...string) (int64, bool) {
	n, ok := a.firstInt(keys...)
	if ok && n < 0 {
		b.log.add(Dropped, "negative token count left out")
		return 0, false
	}
	return n, ok
}
