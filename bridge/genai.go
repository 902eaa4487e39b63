package bridge

import (
	"encoding/json"
	"strings"

	"go.opentelemetry.io/otel/attribute"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

// Aliases of one fact across instrumentation libraries, most specific first.
var (
	modelKeys    = []string{keyResponseModel, keyRequestModel, keyOpenInferenceModel, "embedding.model_name", "ai.response.model", "ai.model.id"}
	providerKeys = []string{"gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system", "ai.model.provider"}
	toolNameKeys = []string{keyToolName, "tool.name", "ai.toolCall.name"}

	// inputTokenKeys include ai.usage.tokens, the AI SDK's usage of an
	// embedding call (its input).
	inputTokenKeys  = []string{"gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt", "ai.usage.inputTokens", "ai.usage.promptTokens", "ai.usage.tokens"}
	outputTokenKeys = []string{"gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion", "ai.usage.outputTokens", "ai.usage.completionTokens"}
	totalTokenKeys  = []string{"gen_ai.usage.total_tokens", "llm.token_count.total", "llm.usage.total_tokens", "ai.usage.totalTokens"}
	costKeys        = []string{"gen_ai.usage.cost", "llm.cost.total"}
	responseIDKeys  = []string{"gen_ai.response.id", "ai.response.id"}
	// finishReasonKeys: a string slice (OTel) or one string (OpenInference,
	// the AI SDK's ai.* keys).
	finishReasonKeys = []string{"gen_ai.response.finish_reasons", "llm.finish_reason", "ai.response.finishReason"}

	// tokenSubsets are reported as given, never added to the totals: OTel
	// counts cached tokens inside input tokens and reasoning tokens inside
	// output tokens (Gemini, and so Genkit and ADK, count thoughts apart
	// from the output: reported as given too).
	tokenSubsets = []struct {
		meta string
		keys []string
	}{
		{"cache_read_input_tokens", []string{"gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens", "llm.token_count.prompt_details.cache_read", "ai.usage.inputTokenDetails.cacheReadTokens", "ai.usage.cachedInputTokens"}},
		{"cache_creation_input_tokens", []string{"gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens", "llm.token_count.prompt_details.cache_write", "ai.usage.inputTokenDetails.cacheWriteTokens"}},
		{"reasoning_output_tokens", []string{"gen_ai.usage.reasoning.output_tokens", "llm.token_count.completion_details.reasoning", "ai.usage.outputTokenDetails.reasoningTokens", "ai.usage.reasoningTokens"}},
	}
)

// Metadata keys of the llm events that Ezop's dashboard reads: it sums
// input_tokens and output_tokens over every event of category llm, so only
// llm_response events carry them, once per model call.
const (
	metaInputTokens  = "input_tokens"
	metaOutputTokens = "output_tokens"
)

// contextKeys are identifiers of the agent's conversation and framework
// that the llm and tool events carry in metadata (under the name given).
var contextKeys = []struct{ meta, key string }{
	{"conversation_id", "gen_ai.conversation.id"},
	{"session_id", "session.id"},
	{"session_id", "gcp.vertex.agent.session_id"},
	{"invocation_id", "gcp.vertex.agent.invocation_id"},
	{"event_id", "gcp.vertex.agent.event_id"},
}

// putContext adds the contextKeys of a to meta.
func (b *builder) putContext(a attrs, meta wire.Object) {
	for _, c := range contextKeys {
		if _, taken := meta[c.meta]; taken {
			continue
		}
		if v, ok := a.str(c.key); ok {
			meta[c.meta] = b.z.str(v)
		}
	}
}

// jsonFact is a fact of a model call found inside a JSON document that a
// framework records as an attribute, at one of paths.
type jsonFact struct {
	meta  string
	paths [][]string
}

// jsonFactSources are the documents read for facts when the attributes
// lack them (token counts and finish reasons are not content: they are
// read whether or not content is captured). Genkit repeats its
// GenerationUsage in the model action's output; ADK's model response
// carries Gemini's usage metadata, the only place of its cached and
// thoughts counts (camelCase in JS, snake_case in Python).
var jsonFactSources = []struct {
	key   string
	facts []jsonFact
}{
	{keyGenkitOutput, []jsonFact{
		{metaInputTokens, [][]string{{"usage", "inputTokens"}}},
		{metaOutputTokens, [][]string{{"usage", "outputTokens"}}},
		{"total_tokens", [][]string{{"usage", "totalTokens"}}},
		{"cache_read_input_tokens", [][]string{{"usage", "cachedContentTokens"}}},
		{"reasoning_output_tokens", [][]string{{"usage", "thoughtsTokens"}}},
		{"finish_reasons", [][]string{{"finishReason"}}},
	}},
	{keyADKLLMResponse, []jsonFact{
		{metaInputTokens, [][]string{{"usageMetadata", "promptTokenCount"}, {"usage_metadata", "prompt_token_count"}}},
		{metaOutputTokens, [][]string{{"usageMetadata", "candidatesTokenCount"}, {"usage_metadata", "candidates_token_count"}}},
		{"total_tokens", [][]string{{"usageMetadata", "totalTokenCount"}, {"usage_metadata", "total_token_count"}}},
		{"cache_read_input_tokens", [][]string{{"usageMetadata", "cachedContentTokenCount"}, {"usage_metadata", "cached_content_token_count"}}},
		{"reasoning_output_tokens", [][]string{{"usageMetadata", "thoughtsTokenCount"}, {"usage_metadata", "thoughts_token_count"}}},
		{"finish_reasons", [][]string{{"finishReason"}, {"finish_reason"}}},
	}},
}

// contentSource is where a convention records one piece of a call's
// content: field is the key in the event's input or output ("" merges the
// fields of a JSON object), key an attribute key or, with indexed, the
// prefix of a flattened family (see unflatten); pick takes one field of
// every element of the rebuilt list. A fallback source is used only when
// no other source gave anything.
type contentSource struct {
	field    string
	key      string
	indexed  bool
	pick     string
	fallback bool
	// skipOp leaves the source out for calls of this operation (the
	// vectors of an embedder's output).
	skipOp string
}

// llmInputSources and llmOutputSources: an LLM call's content, by
// convention, first source of a field wins.
var (
	llmInputSources = []contentSource{
		{field: "system_instructions", key: "gen_ai.system_instructions"},
		{field: "messages", key: "gen_ai.input.messages"},
		{field: "messages", key: "ai.prompt.messages"},
		{field: "messages", key: "llm.input_messages.", indexed: true},
		{field: "messages", key: "gen_ai.prompt.", indexed: true},
		{field: "messages", key: "llm.prompts.", indexed: true},
		{field: "texts", key: "embedding.embeddings.", indexed: true, pick: "text"},
		{field: "values", key: "ai.values"},
		{field: "value", key: "ai.value"},
		{field: "tools", key: "gen_ai.tool.definitions"},
		{field: "tools", key: "ai.prompt.tools"},
		{field: "tools", key: "llm.tools.", indexed: true},
		{field: "", key: keyGenkitInput},
		{field: "", key: keyADKLLMRequest},
		{field: "value", key: "input.value", fallback: true},
	}
	llmOutputSources = []contentSource{
		{field: "messages", key: "gen_ai.output.messages"},
		{field: "messages", key: "llm.output_messages.", indexed: true},
		{field: "messages", key: "gen_ai.completion.", indexed: true},
		{field: "messages", key: "llm.completions.", indexed: true},
		{field: "text", key: "ai.response.text"},
		{field: "tool_calls", key: "ai.response.toolCalls"},
		{field: "object", key: "ai.response.object"},
		{field: "reasoning", key: "ai.response.reasoning"},
		{field: "", key: keyGenkitOutput, skipOp: "embeddings"},
		{field: "", key: keyADKLLMResponse},
		{field: "value", key: "output.value", fallback: true},
	}
	toolInputSources = []contentSource{
		{field: "arguments", key: "gen_ai.tool.call.arguments"},
		{field: "arguments", key: "ai.toolCall.args"},
		{field: "arguments", key: keyADKToolArgs},
		{field: "arguments", key: keyGenkitInput},
		{field: "arguments", key: "input.value"},
		{field: "arguments", key: "traceloop.entity.input"},
		{field: "arguments", key: "tool.parameters"},
	}
	toolOutputSources = []contentSource{
		{field: "result", key: "gen_ai.tool.call.result"},
		{field: "result", key: "ai.toolCall.result"},
		{field: "result", key: keyADKToolResp},
		{field: "result", key: keyGenkitOutput},
		{field: "result", key: "output.value"},
		{field: "result", key: "traceloop.entity.output"},
	}
	memoryInputSources = []contentSource{
		{field: "query", key: "gen_ai.retrieval.query.text"},
		{field: "query", key: "gen_ai.retrieval.query"},
		{field: "", key: keyGenkitInput},
		{field: "query", key: "input.value", fallback: true},
	}
	memoryOutputSources = []contentSource{
		{field: "documents", key: "gen_ai.retrieval.documents"},
		{field: "documents", key: "retrieval.documents.", indexed: true},
		{field: "records", key: "gen_ai.memory.records"},
		{field: "", key: keyGenkitOutput},
		{field: "documents", key: "output.value", fallback: true},
	}
)

// content gathers the content of sources from a into one object, nil when
// there is none. Only called with capture on.
func (b *builder) content(a attrs, sources []contentSource, operation string) wire.Object {
	o := wire.Object{}
	for _, src := range sources {
		if src.skipOp != "" && norm(operation) == src.skipOp {
			continue
		}
		if src.fallback && len(o) > 0 {
			continue
		}
		if src.field != "" {
			if _, taken := o[src.field]; taken {
				continue
			}
		}
		var val any
		switch {
		case src.indexed:
			v := b.unflatten(a, src.key)
			if v == nil {
				continue
			}
			if list, ok := v.([]any); ok && src.pick != "" {
				picked := make([]any, 0, len(list))
				for _, e := range list {
					if m, ok := e.(map[string]any); ok {
						if p, ok := m[src.pick]; ok {
							picked = append(picked, p)
						}
					}
				}
				v = picked
			}
			val = v
		default:
			v, ok := a[src.key]
			if !ok {
				continue
			}
			r, keep := b.z.redact(src.key, b.z.jsonish(v))
			if !keep {
				continue
			}
			val = r
		}
		if src.field != "" {
			o[src.field] = val
			continue
		}
		if m, ok := val.(map[string]any); ok {
			for k, e := range m {
				if _, taken := o[k]; !taken {
					o[k] = e
				}
			}
		} else if val != nil {
			if _, taken := o["value"]; !taken {
				o["value"] = val
			}
		}
	}
	if len(o) == 0 {
		return nil
	}
	return o
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
func (b *builder) llmFacts(a attrs, class spanClass) llmFacts {
	f := llmFacts{meta: wire.Object{}}
	if m, ok := modelOf(a, class); ok {
		f.meta["model"] = b.z.str(m)
	}
	if p, ok := providerOf(a, class); ok {
		f.meta["provider"] = b.z.str(p)
	}
	if op, ok := a.str(keyOperationName); ok {
		f.meta["operation"] = b.z.str(op)
	} else if class.operation != "" {
		f.meta["operation"] = class.operation
	}
	if id, ok := a.firstStr(responseIDKeys...); ok {
		f.meta["response_id"] = b.z.str(id)
	}
	if r := b.finishReasons(a); r != nil {
		f.meta["finish_reasons"] = r
	}
	if n, ok := b.count(a, inputTokenKeys...); ok {
		f.meta[metaInputTokens] = n
	}
	if n, ok := b.count(a, outputTokenKeys...); ok {
		f.meta[metaOutputTokens] = n
	}
	if n, ok := a.firstInt(totalTokenKeys...); ok {
		f.meta["total_tokens"] = n
	}
	for _, s := range tokenSubsets {
		if n, ok := a.firstInt(s.keys...); ok {
			f.meta[s.meta] = n
		}
	}
	b.jsonFacts(a, f.meta)
	if n, ok := f.meta[metaInputTokens].(int64); ok {
		f.inputTokens, f.hasTokens, f.hasInput = n, true, true
	}
	if n, ok := f.meta[metaOutputTokens].(int64); ok {
		f.outputTokens, f.hasTokens, f.hasOutput = n, true, true
	}
	if b.streamed(a, class) {
		f.meta["streamed"] = true
	}
	b.putContext(a, f.meta)
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
	op, _ := f.meta["operation"].(string)
	f.input = b.content(a, llmInputSources, op)
	f.output = b.content(a, llmOutputSources, op)
	return f
}

// finishReasons returns the finish reasons an LLM span records, as a list.
func (b *builder) finishReasons(a attrs) any {
	for _, k := range finishReasonKeys {
		v, ok := a[k]
		if !ok {
			continue
		}
		switch v.Type() {
		case attribute.STRINGSLICE:
			return b.z.value(v)
		case attribute.STRING:
			if s := strings.TrimSpace(v.AsString()); s != "" {
				if d, ok := b.z.decodeJSON(s); ok {
					if l, isList := d.([]any); isList {
						return l
					}
				}
				return []string{b.z.str(s)}
			}
		default:
			return b.z.value(v)
		}
	}
	return nil
}

// jsonFacts adds to meta the facts of jsonFactSources that meta lacks.
func (b *builder) jsonFacts(a attrs, meta wire.Object) {
	for _, src := range jsonFactSources {
		v, ok := a[src.key]
		if !ok || v.Type() != attribute.STRING {
			continue
		}
		doc, ok := decodeDoc(v.AsString())
		if !ok {
			continue
		}
		for _, fact := range src.facts {
			if _, have := meta[fact.meta]; have {
				continue
			}
			for _, path := range fact.paths {
				x, ok := lookup(doc, path)
				if !ok {
					continue
				}
				if fact.meta == "finish_reasons" {
					if s, ok := x.(string); ok && strings.TrimSpace(s) != "" {
						meta[fact.meta] = []string{b.z.str(s)}
						break
					}
					continue
				}
				if n, ok := jsonInt(x); ok {
					if n < 0 {
						b.log.add(Dropped, "negative token count left out")
						break
					}
					meta[fact.meta] = n
					break
				}
			}
		}
	}
}

// decodeDoc decodes a JSON object or array recorded as text, for reading
// facts (never sent as decoded here).
func decodeDoc(s string) (any, bool) {
	t := strings.TrimSpace(s)
	if t == "" || (t[0] != '{' && t[0] != '[') || len(t) > 4<<20 {
		return nil, false
	}
	dec := json.NewDecoder(strings.NewReader(t))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil, false
	}
	return v, true
}

func lookup(doc any, path []string) (any, bool) {
	for _, p := range path {
		m, ok := doc.(map[string]any)
		if !ok {
			return nil, false
		}
		if doc, ok = m[p]; !ok {
			return nil, false
		}
	}
	return doc, true
}

func jsonInt(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	if i, err := n.Int64(); err == nil {
		return i, true
	}
	if f, err := n.Float64(); err == nil && f == float64(int64(f)) {
		return int64(f), true
	}
	return 0, false
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

// toolFacts is what one tool span says about its call.
type toolFacts struct {
	meta    wire.Object
	input   wire.Object
	output  wire.Object
	subtype semconv.EventSubtype
}

func (b *builder) toolFacts(a attrs, class spanClass, failed bool) toolFacts {
	f := toolFacts{meta: wire.Object{"error_flag": failed}}
	if n, ok := a.firstStr(toolNameKeys...); ok {
		f.meta["tool_name"] = b.z.str(n)
	} else if class.nameKey != "" {
		if n, ok := a.str(class.nameKey); ok {
			f.meta["tool_name"] = b.z.str(n)
		}
	}
	if id, ok := a.firstStr("gen_ai.tool.call.id", "ai.toolCall.id", "tool_call.id"); ok {
		f.meta["tool_call_id"] = b.z.str(id)
	}
	if ty, ok := a.str("gen_ai.tool.type"); ok {
		f.meta["tool_type"] = b.z.str(ty)
	}
	if d, ok := a.str("gen_ai.tool.description"); ok {
		f.meta["tool_description"] = b.z.str(d)
	}
	b.putContext(a, f.meta)
	f.subtype = toolSubtype(a)
	if b.t.captureContent {
		f.input = b.content(a, toolInputSources, "")
		f.output = b.content(a, toolOutputSources, "")
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
func (b *builder) memoryFacts(a attrs, class spanClass) (meta, input, output wire.Object) {
	meta = wire.Object{}
	for meta2, k := range map[string]string{
		"data_source_id": "gen_ai.data_source.id",
		"operation":      keyOperationName,
		"memory_store":   "gen_ai.memory.store.name",
	} {
		if s, ok := a.str(k); ok {
			meta[meta2] = b.z.str(s)
		}
	}
	if class.nameKey != "" {
		if n, ok := a.str(class.nameKey); ok {
			meta["name"] = b.z.str(n)
		}
	}
	if !b.t.captureContent {
		return meta, nil, nil
	}
	return meta, b.content(a, memoryInputSources, ""), b.content(a, memoryOutputSources, "")
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
