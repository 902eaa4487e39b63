package bridge

import (
	"sort"
	"strconv"
	"strings"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
)

// contentConvention lists, for one instrumentation convention, the
// attribute keys that hold message content: prompts, completions, messages,
// tool arguments and results, embedding inputs, documents, framework inputs
// and outputs. With content capture off (Config.CaptureContent false) none
// of them reaches Ezop in any field: span, event and run metadata, event
// input and output. With capture on they go to the events' input and output
// (see llmContent, toolContent, memoryContent) and stay in span metadata,
// JSON text decoded.
type contentConvention struct {
	convention string
	// keys are exact attribute keys.
	keys []string
	// indexed are prefixes of flattened families whose next segment is an
	// index (prefix + "0.message.role"): with capture on they are rebuilt
	// as nested lists and objects, never sent as flattened keys.
	indexed []string
}

// contentKeyTable is the one place that says which keys hold content, per
// convention. A key added here is private by default everywhere.
var contentKeyTable = []contentConvention{
	// OpenTelemetry GenAI conventions, current: opt-in content attributes.
	{convention: "otel-genai", keys: []string{
		"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
		"gen_ai.tool.call.arguments", "gen_ai.tool.call.result", "gen_ai.tool.definitions",
		"gen_ai.retrieval.documents", "gen_ai.retrieval.query", "gen_ai.retrieval.query.text", "gen_ai.memory.records",
	}},
	// OpenTelemetry GenAI conventions, older: the v1.26-era content events'
	// attributes (gen_ai.content.prompt / completion) and the message
	// events' attributes (gen_ai.user.message, gen_ai.choice, …), which may
	// also appear on spans.
	{convention: "otel-genai-events", keys: []string{
		"gen_ai.prompt", "gen_ai.completion", "content", "message", "tool_calls", "gen_ai.event.content",
	}},
	// OpenLLMetry / Traceloop: indexed prompts and completions
	// (gen_ai.prompt.0.content, gen_ai.completion.0.tool_calls.0.arguments,
	// older llm.prompts.0.content) and the entity input and output of
	// workflow, task, agent and tool spans.
	{convention: "openllmetry", keys: []string{
		"traceloop.entity.input", "traceloop.entity.output",
	}, indexed: []string{"gen_ai.prompt.", "gen_ai.completion.", "llm.prompts.", "llm.completions."}},
	// OpenInference (Arize Phoenix): input.value / output.value, flattened
	// messages with their tool calls, tool definitions and parameters,
	// embedding texts and vectors, retrieved and reranked documents.
	{convention: "openinference", keys: []string{
		"input.value", "output.value", "tool.parameters", "llm.prompt_template.variables", "reranker.query",
	}, indexed: []string{
		"llm.input_messages.", "llm.output_messages.", "llm.tools.", "llm.prompts.", "embedding.embeddings.",
		"retrieval.documents.", "reranker.input_documents.", "reranker.output_documents.",
	}},
	// Vercel AI SDK: the legacy ai.* spans (prompt, response text, tool calls,
	// objects, reasoning, tool call arguments and results, embedding values
	// and vectors, reranked documents) and the same supplemental keys on
	// the modern @ai-sdk/otel integration's gen_ai.* spans (ai.value(s),
	// ai.embedding(s)).
	{convention: "ai-sdk", keys: []string{
		"ai.prompt", "ai.prompt.messages", "ai.prompt.tools",
		"ai.response.text", "ai.response.toolCalls", "ai.response.object", "ai.response.reasoning", "ai.response.files",
		"ai.toolCall.args", "ai.toolCall.result",
		"ai.value", "ai.values", "ai.embedding", "ai.embeddings",
		"ai.documents", "ai.ranking", "ai.request.text",
	}},
	// Genkit: every action's input and output JSON (flows, generate,
	// models, tools, embedders, retrievers).
	{convention: "genkit", keys: []string{"genkit:input", "genkit:output"}},
	// Google ADK: the model request and response JSON and the tool call
	// arguments and response on call_llm, generate_content and
	// execute_tool spans.
	{convention: "adk", keys: []string{
		"gcp.vertex.agent.llm_request", "gcp.vertex.agent.llm_response",
		"gcp.vertex.agent.tool_call_args", "gcp.vertex.agent.tool_response", "gcp.vertex.agent.data",
	}},
}

var (
	contentExact   = map[string]bool{}
	contentIndexed []string
)

func init() {
	for _, c := range contentKeyTable {
		for _, k := range c.keys {
			contentExact[k] = true
		}
		contentIndexed = append(contentIndexed, c.indexed...)
	}
	// Longest first: a key belongs to the most specific family.
	sort.Slice(contentIndexed, func(i, j int) bool { return len(contentIndexed[i]) > len(contentIndexed[j]) })
}

// isContentKey reports whether attribute key k holds message content (see
// contentKeyTable).
func isContentKey(k string) bool {
	if contentExact[k] {
		return true
	}
	_, ok := indexedFamily(k)
	return ok
}

// indexedFamily returns the indexed content family of k: its prefix, when
// the rest of k starts with an index segment.
func indexedFamily(k string) (string, bool) {
	for _, p := range contentIndexed {
		if rest, ok := strings.CutPrefix(k, p); ok && rest != "" && rest[0] >= '0' && rest[0] <= '9' {
			return p, true
		}
	}
	return "", false
}

// maxListIndex bounds the indexes rebuilt into lists; a larger index is
// kept as an object key.
const maxListIndex = 10000

// unflatten rebuilds the nested value of the flattened keys of a that
// start with prefix and then an index ("llm.input_messages." with keys such as
// "llm.input_messages.0.message.tool_calls.1.tool_call.function.name"):
// index segments become lists, others objects, and values are decoded
// from JSON text where they hold a document. Single-key wrapper objects of
// the OpenInference and OpenLLMetry conventions ({"message": …},
// {"tool_call": …}, {"message_content": …}, {"embedding": …},
// {"document": …}, {"tool": …}) are unwrapped. Every value passes the
// redaction hook under its own key. It returns nil when no key matches.
func (b *builder) unflatten(a attrs, prefix string) any {
	keys := make([]string, 0, 8)
	for k := range a {
		if rest, ok := strings.CutPrefix(k, prefix); ok && rest != "" && rest[0] >= '0' && rest[0] <= '9' {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	sort.Strings(keys) // deterministic when paths conflict
	root := map[string]any{}
	for _, k := range keys {
		val, keep := b.z.redact(k, b.z.jsonish(a[k]))
		if !keep {
			continue
		}
		segs := strings.Split(k[len(prefix):], ".")
		if len(segs) > maxJSONDepth {
			// Too deep to nest: the rest stays one key.
			segs = append(segs[:maxJSONDepth-1], strings.Join(segs[maxJSONDepth-1:], "."))
		}
		node := root
		for i, seg := range segs {
			seg = b.z.str(seg)
			if i == len(segs)-1 {
				if _, taken := node[seg]; !taken {
					node[seg] = val
				} else if m, ok := node[seg].(map[string]any); ok {
					m[""] = val
				}
				break
			}
			next, ok := node[seg].(map[string]any)
			if !ok {
				if old, taken := node[seg]; taken {
					// A value where a path continues: keep both.
					next = map[string]any{"": old}
				} else {
					next = map[string]any{}
				}
				node[seg] = next
			}
			node = next
		}
	}
	return listify(root)
}

// listify turns objects whose keys are all indexes into lists, in index
// order, and unwraps the conventions' single-key wrappers.
func listify(v any) any {
	switch t := v.(type) {
	case map[string]any:
		allIndex := len(t) > 0
		for k, e := range t {
			t[k] = listify(e)
			if n, err := strconv.Atoi(k); err != nil || n < 0 || n > maxListIndex || strconv.Itoa(n) != k {
				allIndex = false
			}
		}
		if !allIndex {
			return t
		}
		idx := make([]int, 0, len(t))
		for k := range t {
			n, _ := strconv.Atoi(k)
			idx = append(idx, n)
		}
		sort.Ints(idx)
		out := make([]any, 0, len(idx))
		for _, n := range idx {
			out = append(out, unwrap(t[strconv.Itoa(n)]))
		}
		return out
	}
	return v
}

// wrapperKeys are the single keys under which the conventions nest each
// element of a flattened list.
var wrapperKeys = map[string]bool{
	"message": true, "tool_call": true, "message_content": true, "embedding": true, "document": true, "tool": true,
}

func unwrap(v any) any {
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		for k, e := range m {
			if wrapperKeys[k] {
				return e
			}
		}
	}
	return v
}

// foldIndexed adds to metadata m, built from attributes a, one key per
// indexed content family in families (the family's prefix without its
// final dot) holding the rebuilt nested value of its flattened keys. A
// family whose folded key is taken (an attribute of that name) keeps its
// flattened keys instead. Consumed keys are left out.
func (b *builder) foldIndexed(m wire.Object, a attrs, families map[string]bool, consumed map[string]bool) {
	if len(consumed) > 0 {
		for k := range consumed {
			delete(a, k)
		}
	}
	names := make([]string, 0, len(families))
	for p := range families {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		name := strings.TrimSuffix(p, ".")
		_, taken := a[name]
		if v := b.unflatten(a, p); v != nil && !taken {
			m[b.z.str(name)] = v
			continue
		}
		for k, v := range a {
			if fam, ok := indexedFamily(k); ok && fam == p {
				if val, keep := b.z.redact(k, b.z.jsonish(v)); keep {
					m[b.z.str(k)] = val
				}
			}
		}
	}
}
