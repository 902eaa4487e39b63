// Package semconv defines Ezop's semantic-convention keys for OpenTelemetry
// and the closed value sets of the Ezop API.
//
// Programs already instrumented with the OpenTelemetry GenAI conventions
// need none of these keys: the exporter reads gen_ai.* (and other common
// instrumentation keys) on its own. Use these keys to say what the GenAI
// conventions cannot: which agent and owner a resource is, a run's outcome
// and trigger, the category of a span of custom work, or an exact Ezop event
// classification for a span event.
//
// Keys are grouped by where they belong:
//   - on the resource: ezop.agent.* (agent and version registration);
//   - on a trace's local root span: ezop.run.* (the run's outcome and trigger);
//   - on any span: ezop.span.category;
//   - on a span event: ezop.event.* (the event's classification and payloads).
//
// The value sets ([RunStatus], [TriggerType], [EventCategory], [EventType],
// [EventSubtype]) mirror what the Ezop server accepts; [ValidateEvent] and
// [TypeAllowed] check a classification before anything is sent, because the
// server answers an invalid category/type pair with an internal error.
package semconv
