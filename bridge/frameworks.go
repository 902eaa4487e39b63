package bridge

import (
	"strings"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/ezopotel/ezop-otel-go/semconv"
)

// Framework conventions beyond the OpenTelemetry GenAI keys: what Genkit,
// the Vercel AI SDK and Google ADK put on their spans, as tables the
// classification (classRules) and the facts (genai.go) read. README.md's
// "Supported instrumentation" section lists what each maps to.

// Attribute keys of the framework conventions.
const (
	keyGenkitType          = "genkit:type"
	keyGenkitSubtype       = "genkit:metadata:subtype"
	keyGenkitName          = "genkit:name"
	keyGenkitState         = "genkit:state"
	keyGenkitFailureSource = "genkit:isFailureSource"
	keyGenkitInput         = "genkit:input"
	keyGenkitOutput        = "genkit:output"

	keyAIOperationID = "ai.operationId"

	keyADKLLMRequest  = "gcp.vertex.agent.llm_request"
	keyADKLLMResponse = "gcp.vertex.agent.llm_response"
	keyADKToolArgs    = "gcp.vertex.agent.tool_call_args"
	keyADKToolResp    = "gcp.vertex.agent.tool_response"
	// adkSystem is the gen_ai.system ADK writes on its spans: the
	// framework, not the model provider.
	adkSystem = "gcp.vertex.agent"
	// adkMergedTools is the tool name of ADK's "execute_tool (merged)"
	// span, which sums up the parallel tool calls of one model response
	// (each has its own execute_tool span): not a tool call.
	adkMergedTools = "(merged tools)"
)

// genkitSubtypes maps genkit:metadata:subtype of Genkit action spans.
// Subtypes not listed (flow, util such as generate, prompt,
// executable-prompt, evaluator, custom) are plain spans: flow and generate
// spans only wrap the model and tool actions, whose spans say what they
// did.
var genkitSubtypes = map[string]spanClass{
	"model":            {category: semconv.CategoryLLM, operation: "chat", nameKey: keyGenkitName},
	"background-model": {category: semconv.CategoryLLM, operation: "chat", nameKey: keyGenkitName},
	"embedder":         {category: semconv.CategoryLLM, operation: "embeddings", nameKey: keyGenkitName},
	"tool":             {category: semconv.CategoryTool, nameKey: keyGenkitName},
	"tool.v2":          {category: semconv.CategoryTool, nameKey: keyGenkitName},
	"retriever":        {category: semconv.CategoryMemory, eventType: semconv.TypeMemoryRetrieval, nameKey: keyGenkitName},
	"indexer":          {category: semconv.CategoryMemory, eventType: semconv.TypeMemoryWrite, nameKey: keyGenkitName},
}

// genkitRule classifies every span that carries genkit:type: by its
// subtype, else as a plain span.
func genkitRule(a attrs, _ *issueLog) (spanClass, bool) {
	if _, ok := a.str(keyGenkitType); !ok {
		return spanClass{}, false
	}
	sub, _ := a.str(keyGenkitSubtype)
	return genkitSubtypes[strings.TrimSpace(sub)], true
}

// adkMergedToolsRule makes ADK's merged tool span plain.
func adkMergedToolsRule(a attrs, _ *issueLog) (spanClass, bool) {
	n, ok := a.str(keyToolName)
	return spanClass{}, ok && n == adkMergedTools
}

// aiSDKOperations maps the AI SDK's ai.operationId (its legacy ai.* spans).
// The generate/stream/embed calls wrap one model call per step
// (doGenerate, doStream, doEmbed) and carry their summed usage: being LLM
// spans over LLM spans, they count as wrappers (see analyze) and add no
// call of their own.
var aiSDKOperations = map[string]spanClass{
	"ai.generateText":              {category: semconv.CategoryLLM, operation: "chat"},
	"ai.streamText":                {category: semconv.CategoryLLM, operation: "chat", streamed: true},
	"ai.generateObject":            {category: semconv.CategoryLLM, operation: "chat"},
	"ai.streamObject":              {category: semconv.CategoryLLM, operation: "chat", streamed: true},
	"ai.generateText.doGenerate":   {category: semconv.CategoryLLM, operation: "chat"},
	"ai.streamText.doStream":       {category: semconv.CategoryLLM, operation: "chat", streamed: true},
	"ai.generateObject.doGenerate": {category: semconv.CategoryLLM, operation: "chat"},
	"ai.streamObject.doStream":     {category: semconv.CategoryLLM, operation: "chat", streamed: true},
	"ai.embed":                     {category: semconv.CategoryLLM, operation: "embeddings"},
	"ai.embedMany":                 {category: semconv.CategoryLLM, operation: "embeddings"},
	"ai.embed.doEmbed":             {category: semconv.CategoryLLM, operation: "embeddings"},
	"ai.embedMany.doEmbed":         {category: semconv.CategoryLLM, operation: "embeddings"},
	"ai.toolCall":                  {category: semconv.CategoryTool},
}

// frameworkAgentScopes are the instrumentation scopes whose invoke_agent
// spans are an agent framework's own calls rather than one agent
// delegating to another:
//
//   - the AI SDK's OpenTelemetry integration (@ai-sdk/otel, tracer
//     "gen_ai") marks every generateText/streamText/generateObject call
//     invoke_agent, naming its telemetry functionId as the agent;
//   - Google ADK (tracer "gcp.vertex.agent", JS, Python and Go) names the
//     root agent of an invocation in its own spelling, which rarely
//     matches the resource's service.name.
//
// Such a span starts a child run only when it is nested under another
// agent invocation of its run: an ADK sub-agent, or an agent called from
// another agent's tool. See invokedAgent.
var frameworkAgentScopes = map[string]string{
	"gen_ai":           "ai-sdk",
	"gcp.vertex.agent": "adk",
}

// frameworkAgent reports whether s is an agent framework's own invocation
// span (see frameworkAgentScopes).
func frameworkAgent(s sdktrace.ReadOnlySpan) bool {
	_, ok := frameworkAgentScopes[s.InstrumentationScope().Name]
	return ok
}

// isAgentInvocation reports whether a span of class c invokes an agent:
// classified agent, and not the creation of an agent or a workflow.
func isAgentInvocation(c spanClass) bool {
	if c.category != semconv.CategoryAgent {
		return false
	}
	switch norm(c.operation) {
	case "create_agent", "invoke_workflow":
		return false
	}
	return true
}

// providerOf returns the model provider of an LLM span, normalizing the
// frameworks' spellings: Genkit names models "<provider>/<model>"; the AI
// SDK names providers "<provider>.<api>" (openai.chat); ADK writes its own
// name as gen_ai.system.
func providerOf(a attrs, class spanClass) (string, bool) {
	if class.nameKey == keyGenkitName {
		if n, ok := a.str(keyGenkitName); ok {
			if p, _, found := strings.Cut(n, "/"); found && p != "" {
				return p, true
			}
		}
	}
	for _, k := range providerKeys {
		p, ok := a.str(k)
		if !ok || (k == "gen_ai.system" && p == adkSystem) {
			continue
		}
		if _, aiSDK := a[keyAIOperationID]; aiSDK {
			if head, _, found := strings.Cut(p, "."); found && head != "" {
				p = head
			}
		}
		return p, true
	}
	return "", false
}

// modelOf returns the model of an LLM span.
func modelOf(a attrs, class spanClass) (string, bool) {
	if m, ok := a.firstStr(modelKeys...); ok {
		return m, true
	}
	if class.nameKey != "" {
		return a.str(class.nameKey)
	}
	return "", false
}

// streamSignals are attributes that mark a model call as streamed.
var streamSignals = []struct {
	key string
	// jsonField, when set, is a field of the JSON document at key that
	// must be true.
	jsonField string
}{
	{key: "gen_ai.request.stream"},
	{key: "llm.is_streaming"},
	{key: "gen_ai.client.operation.time_to_first_chunk"},
	{key: "ai.response.msToFirstChunk"},
	{key: "llm.invocation_parameters", jsonField: "stream"},
}

// streamed reports whether the span says its model call was streamed.
func (b *builder) streamed(a attrs, class spanClass) bool {
	if class.streamed {
		return true
	}
	for _, sig := range streamSignals {
		v, ok := a[sig.key]
		if !ok {
			continue
		}
		if sig.jsonField != "" {
			doc, ok := decodeDoc(v.AsString())
			if m, isObj := doc.(map[string]any); ok && isObj && m[sig.jsonField] == true {
				return true
			}
			continue
		}
		switch v.AsInterface().(type) {
		case bool:
			if v.AsBool() {
				return true
			}
		case string:
			if norm(v.AsString()) == "true" {
				return true
			}
		case int64, float64:
			// A time to the first chunk.
			return true
		}
	}
	return false
}
