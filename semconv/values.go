package semconv

// The closed value sets of the Ezop API. The real server refuses any value
// outside them (422 for enums, 500 for a category/type pair outside the
// table), so code that builds requests checks with the Valid methods and
// [TypeAllowed] before it sends.

// RunStatus is the status of an Ezop run.
type RunStatus string

// Run statuses the server accepts.
const (
	RunStatusRunning RunStatus = "running"
	RunStatusSuccess RunStatus = "success"
	RunStatusFailed  RunStatus = "failed"
)

// Run statuses the Ezop Python SDK documents but the server refuses with
// 422. Users may still set them on ezop.run.status; the exporter maps
// partial to success and canceled to failed and keeps the requested value in
// the run's metadata.
const (
	RunStatusPartial  RunStatus = "partial"
	RunStatusCanceled RunStatus = "canceled"
)

// Valid reports whether the server accepts s.
func (s RunStatus) Valid() bool {
	switch s {
	case RunStatusRunning, RunStatusSuccess, RunStatusFailed:
		return true
	}
	return false
}

// Accepted returns the status to send for s and whether s had to be
// changed: partial becomes success, canceled becomes failed. ok is false for
// values that have no sensible mapping.
func (s RunStatus) Accepted() (sent RunStatus, changed, ok bool) {
	switch s {
	case RunStatusRunning, RunStatusSuccess, RunStatusFailed:
		return s, false, true
	case RunStatusPartial:
		return RunStatusSuccess, true, true
	case RunStatusCanceled:
		return RunStatusFailed, true, true
	}
	return "", false, false
}

// TriggerType says what started a run.
type TriggerType string

// Trigger types the server accepts. TriggerAgent requires a parent run, and
// a parent run is accepted only with TriggerAgent.
const (
	TriggerUnknown TriggerType = "unknown"
	TriggerAPI     TriggerType = "api"
	TriggerAgent   TriggerType = "agent"
	TriggerUser    TriggerType = "user"
	TriggerCron    TriggerType = "cron"
	TriggerWebhook TriggerType = "webhook"
)

// TriggerTypes lists every trigger type the server accepts.
var TriggerTypes = []TriggerType{TriggerUnknown, TriggerAPI, TriggerAgent, TriggerUser, TriggerCron, TriggerWebhook}

// Valid reports whether the server accepts t.
func (t TriggerType) Valid() bool {
	for _, v := range TriggerTypes {
		if t == v {
			return true
		}
	}
	return false
}

// EventCategory is the category of an Ezop event; Ezop's dashboard groups
// and charts events by it.
type EventCategory string

// The nine event categories.
const (
	CategoryAgent     EventCategory = "agent"
	CategoryLLM       EventCategory = "llm"
	CategoryTool      EventCategory = "tool"
	CategoryReasoning EventCategory = "reasoning"
	CategorySystem    EventCategory = "system"
	CategoryUser      EventCategory = "user"
	CategoryMemory    EventCategory = "memory"
	CategoryCost      EventCategory = "cost"
	CategoryError     EventCategory = "error"
)

// EventCategories lists every event category the server accepts.
var EventCategories = []EventCategory{
	CategoryAgent, CategoryLLM, CategoryTool, CategoryReasoning, CategorySystem,
	CategoryUser, CategoryMemory, CategoryCost, CategoryError,
}

// Valid reports whether the server accepts c.
func (c EventCategory) Valid() bool {
	_, ok := typesByCategory[c]
	return ok
}

// EventType is the type of an Ezop event. Each type belongs to exactly one
// category (see [TypeAllowed]).
type EventType string

// Event types, grouped by the only category each is allowed with.
const (
	TypeAgentRunStarted   EventType = "agent_run_started"
	TypeAgentRunCompleted EventType = "agent_run_completed"
	TypeAgentRunFailed    EventType = "agent_run_failed"

	TypeLLMRequest  EventType = "llm_request"
	TypeLLMResponse EventType = "llm_response"

	TypeToolCallStarted   EventType = "tool_call_started"
	TypeToolCallCompleted EventType = "tool_call_completed"
	TypeToolCallFailed    EventType = "tool_call_failed"
	TypeToolRetry         EventType = "tool_retry"

	TypeReasoningStep       EventType = "reasoning_step"
	TypeReasoningPlan       EventType = "reasoning_plan"
	TypeReasoningReflection EventType = "reasoning_reflection"
	TypeReasoningDecision   EventType = "reasoning_decision"
	TypeReasoningFinal      EventType = "reasoning_final"

	TypeMemoryQuery     EventType = "memory_query"
	TypeMemoryRetrieval EventType = "memory_retrieval"
	TypeMemoryWrite     EventType = "memory_write"

	TypeSpanStarted   EventType = "span_started"
	TypeSpanCompleted EventType = "span_completed"

	TypeUserInput    EventType = "user_input"
	TypeUserFeedback EventType = "user_feedback"

	TypeCostCalculated EventType = "cost_calculated"

	TypeErrorRaised EventType = "error_raised"
)

// typesByCategory is the server's category/type table.
var typesByCategory = map[EventCategory][]EventType{
	CategoryAgent:     {TypeAgentRunStarted, TypeAgentRunCompleted, TypeAgentRunFailed},
	CategoryLLM:       {TypeLLMRequest, TypeLLMResponse},
	CategoryTool:      {TypeToolCallStarted, TypeToolCallCompleted, TypeToolCallFailed, TypeToolRetry},
	CategoryReasoning: {TypeReasoningStep, TypeReasoningPlan, TypeReasoningReflection, TypeReasoningDecision, TypeReasoningFinal},
	CategoryMemory:    {TypeMemoryQuery, TypeMemoryRetrieval, TypeMemoryWrite},
	CategorySystem:    {TypeSpanStarted, TypeSpanCompleted},
	CategoryUser:      {TypeUserInput, TypeUserFeedback},
	CategoryCost:      {TypeCostCalculated},
	CategoryError:     {TypeErrorRaised},
}

// categoryOfType is the inverse of typesByCategory.
var categoryOfType = func() map[EventType]EventCategory {
	m := make(map[EventType]EventCategory)
	for c, ts := range typesByCategory {
		for _, t := range ts {
			m[t] = c
		}
	}
	return m
}()

// Valid reports whether the server knows t.
func (t EventType) Valid() bool {
	_, ok := categoryOfType[t]
	return ok
}

// Category returns the only category t is allowed with, and false when t is
// not a known type.
func (t EventType) Category() (EventCategory, bool) {
	c, ok := categoryOfType[t]
	return c, ok
}

// TypesOf returns the event types allowed with category c, in the order the
// API documents them. The result is a fresh slice.
func TypesOf(c EventCategory) []EventType {
	return append([]EventType(nil), typesByCategory[c]...)
}

// TypeAllowed reports whether an event of category c may carry type t. An
// empty type is allowed with every valid category.
func TypeAllowed(c EventCategory, t EventType) bool {
	if !c.Valid() {
		return false
	}
	if t == "" {
		return true
	}
	got, ok := categoryOfType[t]
	return ok && got == c
}

// EventSubtype refines an event independently of its category.
type EventSubtype string

// Event subtypes the server accepts, with any category.
const (
	SubtypeChainOfThought  EventSubtype = "chain_of_thought"
	SubtypeReact           EventSubtype = "react"
	SubtypeReflection      EventSubtype = "reflection"
	SubtypeSelfConsistency EventSubtype = "self_consistency"
	SubtypeHTTP            EventSubtype = "http"
	SubtypeDatabase        EventSubtype = "database"
	SubtypeFilesystem      EventSubtype = "filesystem"
	SubtypeAPI             EventSubtype = "api"
	SubtypeTimeout         EventSubtype = "timeout"
	SubtypeRateLimit       EventSubtype = "rate_limit"
	SubtypeValidation      EventSubtype = "validation"
	SubtypeToolError       EventSubtype = "tool_error"
	SubtypeLLMError        EventSubtype = "llm_error"
)

// EventSubtypes lists every subtype the server accepts.
var EventSubtypes = []EventSubtype{
	SubtypeChainOfThought, SubtypeReact, SubtypeReflection, SubtypeSelfConsistency,
	SubtypeHTTP, SubtypeDatabase, SubtypeFilesystem, SubtypeAPI,
	SubtypeTimeout, SubtypeRateLimit, SubtypeValidation, SubtypeToolError, SubtypeLLMError,
}

// Valid reports whether the server accepts s.
func (s EventSubtype) Valid() bool {
	for _, v := range EventSubtypes {
		if s == v {
			return true
		}
	}
	return false
}

// ClassificationError says why an event's category, type and subtype would
// be refused by the server.
type ClassificationError struct {
	Category EventCategory
	Type     EventType
	Subtype  EventSubtype
	Reason   string
}

func (e *ClassificationError) Error() string {
	return "ezop: invalid event classification (category=" + string(e.Category) +
		" type=" + string(e.Type) + " subtype=" + string(e.Subtype) + "): " + e.Reason
}

// ValidateEvent checks a category/type/subtype triple against the server's
// rules. Type and subtype may be empty; category may not.
func ValidateEvent(c EventCategory, t EventType, s EventSubtype) error {
	switch {
	case !c.Valid():
		return &ClassificationError{c, t, s, "unknown category"}
	case t != "" && !t.Valid():
		return &ClassificationError{c, t, s, "unknown type"}
	case !TypeAllowed(c, t):
		want, _ := t.Category()
		return &ClassificationError{c, t, s, "type belongs to category " + string(want)}
	case s != "" && !s.Valid():
		return &ClassificationError{c, t, s, "unknown subtype"}
	}
	return nil
}
