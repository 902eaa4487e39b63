package semconv

import (
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
)

// The contract's table of which event types go with which category.
var contractTable = map[string][]string{
	"agent":     {"agent_run_started", "agent_run_completed", "agent_run_failed"},
	"llm":       {"llm_request", "llm_response"},
	"tool":      {"tool_call_started", "tool_call_completed", "tool_call_failed", "tool_retry"},
	"reasoning": {"reasoning_step", "reasoning_plan", "reasoning_reflection", "reasoning_decision", "reasoning_final"},
	"system":    {"span_started", "span_completed"},
	"user":      {"user_input", "user_feedback"},
	"memory":    {"memory_query", "memory_retrieval", "memory_write"},
	"cost":      {"cost_calculated"},
	"error":     {"error_raised"},
}

func TestTypeAllowedMatchesContractTable(t *testing.T) {
	require.Len(t, EventCategories, 9)
	for _, c := range EventCategories {
		allowed := map[string]bool{}
		for _, ty := range contractTable[string(c)] {
			allowed[ty] = true
		}
		assert.True(t, TypeAllowed(c, ""), "empty type with %s", c)
		for cat, types := range contractTable {
			for _, ty := range types {
				got := TypeAllowed(c, EventType(ty))
				assert.Equal(t, allowed[ty], got, "category %s type %s (table category %s)", c, ty, cat)
			}
		}
		var fromPkg []string
		for _, ty := range TypesOf(c) {
			fromPkg = append(fromPkg, string(ty))
		}
		assert.Equal(t, contractTable[string(c)], fromPkg, "TypesOf(%s)", c)
	}
}

func TestTypeCategory(t *testing.T) {
	for cat, types := range contractTable {
		for _, ty := range types {
			got, ok := EventType(ty).Category()
			assert.True(t, ok, ty)
			assert.Equal(t, EventCategory(cat), got, ty)
		}
	}
	_, ok := EventType("llm_call").Category()
	assert.False(t, ok)
}

func TestTypesOfReturnsCopy(t *testing.T) {
	ts := TypesOf(CategoryLLM)
	ts[0] = "mutated"
	assert.Equal(t, TypeLLMRequest, TypesOf(CategoryLLM)[0])
}

func TestValidateEvent(t *testing.T) {
	tests := []struct {
		name    string
		c       EventCategory
		ty      EventType
		s       EventSubtype
		wantErr string
	}{
		{"category only", CategoryTool, "", "", ""},
		{"pair and subtype", CategoryTool, TypeToolCallFailed, SubtypeTimeout, ""},
		{"subtype free of category", CategoryLLM, TypeLLMResponse, SubtypeRateLimit, ""},
		{"missing category", "", TypeLLMRequest, "", "unknown category"},
		{"unknown category", "genai", "", "", "unknown category"},
		{"unknown type", CategoryLLM, "llm_call", "", "unknown type"},
		{"pair outside table", CategoryLLM, TypeToolCallStarted, "", "type belongs to category tool"},
		{"unknown subtype", CategoryTool, TypeToolCallStarted, "grpc", "unknown subtype"},
		{"case matters", "LLM", "", "", "unknown category"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateEvent(tt.c, tt.ty, tt.s)
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			var ce *ClassificationError
			require.True(t, errors.As(err, &ce))
			assert.Equal(t, tt.c, ce.Category)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestRunStatus(t *testing.T) {
	tests := []struct {
		in          RunStatus
		valid       bool
		sent        RunStatus
		changed, ok bool
	}{
		{RunStatusRunning, true, RunStatusRunning, false, true},
		{RunStatusSuccess, true, RunStatusSuccess, false, true},
		{RunStatusFailed, true, RunStatusFailed, false, true},
		{RunStatusPartial, false, RunStatusSuccess, true, true},
		{RunStatusCanceled, false, RunStatusFailed, true, true},
		{"cancelled", false, "", false, false},
		{"", false, "", false, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.in), func(t *testing.T) {
			assert.Equal(t, tt.valid, tt.in.Valid())
			sent, changed, ok := tt.in.Accepted()
			assert.Equal(t, tt.sent, sent)
			assert.Equal(t, tt.changed, changed)
			assert.Equal(t, tt.ok, ok)
		})
	}
}

func TestClosedSets(t *testing.T) {
	for _, tt := range []string{"unknown", "api", "agent", "user", "cron", "webhook"} {
		assert.True(t, TriggerType(tt).Valid(), tt)
	}
	assert.False(t, TriggerType("scheduled").Valid())
	assert.Len(t, TriggerTypes, 6)

	subtypes := []string{"chain_of_thought", "react", "reflection", "self_consistency", "http", "database",
		"filesystem", "api", "timeout", "rate_limit", "validation", "tool_error", "llm_error"}
	require.Len(t, EventSubtypes, len(subtypes))
	for _, s := range subtypes {
		assert.True(t, EventSubtype(s).Valid(), s)
	}
	assert.False(t, EventSubtype("grpc").Valid())
	assert.False(t, EventCategory("genai").Valid())
}

func TestKeysAndConstructors(t *testing.T) {
	tests := []struct {
		kv   attribute.KeyValue
		key  string
		want any
	}{
		{AgentName("a"), "ezop.agent.name", "a"},
		{AgentOwner("o"), "ezop.agent.owner", "o"},
		{AgentVersion("1"), "ezop.agent.version", "1"},
		{AgentRuntime("go"), "ezop.agent.runtime", "go"},
		{AgentDescription("d"), "ezop.agent.description", "d"},
		{AgentDefaultPermissions("r", "w"), "ezop.agent.default_permissions", []string{"r", "w"}},
		{AgentPermissions("x"), "ezop.agent.permissions", []string{"x"}},
		{AgentChangelog("c"), "ezop.agent.changelog", "c"},
		{RunStatusAttr(RunStatusFailed), "ezop.run.status", "failed"},
		{RunMessage("m"), "ezop.run.message", "m"},
		{RunUserID("u"), "ezop.run.user_id", "u"},
		{RunTriggerType(TriggerCron), "ezop.run.trigger_type", "cron"},
		{RunTriggerID("job"), "ezop.run.trigger_id", "job"},
		{SpanCategory(CategoryMemory), "ezop.span.category", "memory"},
		{EventCategoryAttr(CategoryUser), "ezop.event.category", "user"},
		{EventTypeAttr(TypeUserFeedback), "ezop.event.type", "user_feedback"},
		{EventSubtypeAttr(SubtypeAPI), "ezop.event.subtype", "api"},
		{EventIterationID(3), "ezop.event.iteration_id", int64(3)},
		{EventInput(map[string]int{"n": 1}), "ezop.event.input", `{"n":1}`},
		{EventOutput("done"), "ezop.event.output", `"done"`},
		{EventError(json.RawMessage(`{"type":"E"}`)), "ezop.event.error", `{"type":"E"}`},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			assert.Equal(t, tt.key, string(tt.kv.Key))
			assert.Equal(t, tt.want, tt.kv.Value.AsInterface())
		})
	}
}

func TestJSONValuedKeysNeverLoseTheValue(t *testing.T) {
	// A value JSON cannot encode still produces valid JSON saying why.
	kv := EventInput(math.NaN())
	assert.True(t, json.Valid([]byte(kv.Value.AsString())))
	assert.Contains(t, kv.Value.AsString(), "not encodable")
	// Invalid raw JSON is encoded as data, not passed through.
	kv = EventOutput(json.RawMessage(`{broken`))
	assert.True(t, json.Valid([]byte(kv.Value.AsString())))
}
