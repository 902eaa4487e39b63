package semconv

import (
	"encoding/json"

	"go.opentelemetry.io/otel/attribute"
)

// Resource keys: who the agent is. The exporter registers one Ezop agent per
// distinct (name, owner) and one version per distinct version string, and
// attaches every run to them.
const (
	// AgentNameKey is the agent's name on Ezop (required by the API).
	// Fallbacks when absent: gen_ai.agent.name, then service.name.
	AgentNameKey = attribute.Key("ezop.agent.name")
	// AgentOwnerKey is the team or person owning the agent (required by the
	// API; Ezop identifies an agent by name and owner). Fallback:
	// service.namespace, then the exporter's configured owner.
	AgentOwnerKey = attribute.Key("ezop.agent.owner")
	// AgentVersionKey is the agent version every run is attached to.
	// Fallback: service.version. Without one, runs carry no version.
	AgentVersionKey = attribute.Key("ezop.agent.version")
	// AgentRuntimeKey names what the agent runs on (required by the API,
	// e.g. "go", "langchain"). Fallback: "go".
	AgentRuntimeKey = attribute.Key("ezop.agent.runtime")
	// AgentDescriptionKey is shown on the agent's page.
	AgentDescriptionKey = attribute.Key("ezop.agent.description")
	// AgentDefaultPermissionsKey is the agent's default permission list
	// (string slice).
	AgentDefaultPermissionsKey = attribute.Key("ezop.agent.default_permissions")
	// AgentPermissionsKey is the permission list of this agent version
	// (string slice).
	AgentPermissionsKey = attribute.Key("ezop.agent.permissions")
	// AgentChangelogKey is the changelog of this agent version.
	AgentChangelogKey = attribute.Key("ezop.agent.changelog")
)

// Root span keys: the outcome and origin of the run. They are read from the
// local root span of a trace, which becomes one Ezop run.
const (
	// RunStatusKey overrides the run's final status (see [RunStatus]). The
	// server accepts success and failed; partial is sent as success and
	// canceled as failed, with the requested value kept in run metadata.
	// Without it the status follows the OTel span status.
	RunStatusKey = attribute.Key("ezop.run.status")
	// RunMessageKey is the run's final message shown beside its status.
	// Without it a failed run carries the OTel status description.
	RunMessageKey = attribute.Key("ezop.run.message")
	// RunUserIDKey is the end user the run worked for. The server requires
	// a UUID; other values are kept in run metadata instead.
	RunUserIDKey = attribute.Key("ezop.run.user_id")
	// RunTriggerTypeKey says what started the run (see [TriggerType]).
	// Without it the exporter infers api for HTTP server spans, else unknown.
	RunTriggerTypeKey = attribute.Key("ezop.run.trigger_type")
	// RunTriggerIDKey identifies the trigger (a route, a job name, a
	// webhook id).
	RunTriggerIDKey = attribute.Key("ezop.run.trigger_id")
)

// Span keys.
const (
	// SpanCategoryKey marks what kind of agent work a span is (llm, tool,
	// memory, reasoning, agent) when it carries no GenAI attributes that
	// say so. It takes precedence over every other classification rule and
	// decides which events the exporter synthesizes for the span (an LLM
	// span yields an llm_response event with its tokens, a tool span a
	// tool_call_started/completed pair, ...).
	SpanCategoryKey = attribute.Key("ezop.span.category")
)

// Span event keys: an OTel span event carrying these becomes an Ezop event
// with exactly this classification.
const (
	// EventCategoryKey is the event's category (see [EventCategory]).
	EventCategoryKey = attribute.Key("ezop.event.category")
	// EventTypeKey is the event's type; it must belong to the category
	// (see [TypeAllowed]). An invalid pair is not sent as such: the
	// exporter falls back to its own classification and reports it.
	EventTypeKey = attribute.Key("ezop.event.type")
	// EventSubtypeKey refines the event (see [EventSubtype]).
	EventSubtypeKey = attribute.Key("ezop.event.subtype")
	// EventIterationIDKey groups events of one agent-loop iteration (int).
	EventIterationIDKey = attribute.Key("ezop.event.iteration_id")
	// EventInputKey is the event's input as a JSON document. Ezop stores
	// input as an object; other JSON values are wrapped as {"value": ...}.
	EventInputKey = attribute.Key("ezop.event.input")
	// EventOutputKey is the event's output as a JSON document, wrapped like
	// EventInputKey.
	EventOutputKey = attribute.Key("ezop.event.output")
	// EventErrorKey is the event's error as a JSON document, wrapped like
	// EventInputKey.
	EventErrorKey = attribute.Key("ezop.event.error")
)

// AgentName returns an attribute for the agent's name.
func AgentName(v string) attribute.KeyValue { return AgentNameKey.String(v) }

// AgentOwner returns an attribute for the agent's owner.
func AgentOwner(v string) attribute.KeyValue { return AgentOwnerKey.String(v) }

// AgentVersion returns an attribute for the agent's version.
func AgentVersion(v string) attribute.KeyValue { return AgentVersionKey.String(v) }

// AgentRuntime returns an attribute for the agent's runtime.
func AgentRuntime(v string) attribute.KeyValue { return AgentRuntimeKey.String(v) }

// AgentDescription returns an attribute for the agent's description.
func AgentDescription(v string) attribute.KeyValue { return AgentDescriptionKey.String(v) }

// AgentDefaultPermissions returns an attribute for the agent's default
// permissions.
func AgentDefaultPermissions(v ...string) attribute.KeyValue {
	return AgentDefaultPermissionsKey.StringSlice(v)
}

// AgentPermissions returns an attribute for the version's permissions.
func AgentPermissions(v ...string) attribute.KeyValue { return AgentPermissionsKey.StringSlice(v) }

// AgentChangelog returns an attribute for the version's changelog.
func AgentChangelog(v string) attribute.KeyValue { return AgentChangelogKey.String(v) }

// RunStatusAttr returns an attribute for the run's final status.
func RunStatusAttr(v RunStatus) attribute.KeyValue { return RunStatusKey.String(string(v)) }

// RunMessage returns an attribute for the run's final message.
func RunMessage(v string) attribute.KeyValue { return RunMessageKey.String(v) }

// RunUserID returns an attribute for the run's user (a UUID).
func RunUserID(v string) attribute.KeyValue { return RunUserIDKey.String(v) }

// RunTriggerType returns an attribute for what started the run.
func RunTriggerType(v TriggerType) attribute.KeyValue { return RunTriggerTypeKey.String(string(v)) }

// RunTriggerID returns an attribute identifying the run's trigger.
func RunTriggerID(v string) attribute.KeyValue { return RunTriggerIDKey.String(v) }

// SpanCategory returns an attribute marking the span's kind of work.
func SpanCategory(v EventCategory) attribute.KeyValue { return SpanCategoryKey.String(string(v)) }

// EventCategoryAttr returns an attribute for an event's category.
func EventCategoryAttr(v EventCategory) attribute.KeyValue {
	return EventCategoryKey.String(string(v))
}

// EventTypeAttr returns an attribute for an event's type.
func EventTypeAttr(v EventType) attribute.KeyValue { return EventTypeKey.String(string(v)) }

// EventSubtypeAttr returns an attribute for an event's subtype.
func EventSubtypeAttr(v EventSubtype) attribute.KeyValue { return EventSubtypeKey.String(string(v)) }

// EventIterationID returns an attribute for an event's iteration.
func EventIterationID(v int) attribute.KeyValue { return EventIterationIDKey.Int(v) }

// EventInput returns an attribute carrying v, encoded as JSON, as the
// event's input. A value that cannot be encoded is recorded as its error
// text under {"error": ...} rather than lost.
func EventInput(v any) attribute.KeyValue { return EventInputKey.String(jsonText(v)) }

// EventOutput returns an attribute carrying v, encoded as JSON, as the
// event's output.
func EventOutput(v any) attribute.KeyValue { return EventOutputKey.String(jsonText(v)) }

// EventError returns an attribute carrying v, encoded as JSON, as the
// event's error.
func EventError(v any) attribute.KeyValue { return EventErrorKey.String(jsonText(v)) }

// jsonText encodes v for the JSON-valued event keys. Raw JSON passes
// through unchanged, so callers holding encoded documents pay nothing.
func jsonText(v any) string {
	switch t := v.(type) {
	case json.RawMessage:
		if json.Valid(t) {
			return string(t)
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": "ezop: value not encodable as JSON: " + err.Error()})
	}
	return string(b)
}
