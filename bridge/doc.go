// Package bridge translates finished OpenTelemetry spans into Ezop
// operations, and offers helpers that speak Ezop's vocabulary on top of the
// OpenTelemetry API.
//
// The translation ([Translator.Translate]) is pure: it reads
// sdktrace.ReadOnlySpan values and returns a [RunPlan], the ordered Ezop
// requests for one run, with no I/O. The exporter package sends plans; the
// translation can be tested, and reused by other senders, on its own.
//
// # Mapping
//
// The resource becomes an Ezop agent and version ([Translator.Agent]): name
// from ezop.agent.name, gen_ai.agent.name or service.name; owner from
// ezop.agent.owner, service.namespace or [Config.Owner]; version from
// ezop.agent.version or service.version.
//
// A trace's local root span (no parent, or a remote parent) becomes a run.
// Its end sets the run's status (ezop.run.status, else failed for an OTel
// Error status, else success), message and metadata: the OTel ids, name,
// true start and end times, attributes and the run's totals (LLM calls,
// tokens, tool calls, errors, cost).
//
// Other spans become Ezop spans with ids derived from their trace and span
// ids ([SpanUUID]), parented like the OTel spans. OTel span events become
// Ezop events, classified by explicit ezop.event.* keys, the exception
// event, GenAI event names, or else as system events. Spans classified as
// LLM, tool, memory or reasoning work (see README.md for the rule table)
// add the events Ezop's dashboard charts: llm_response with model and
// token usage, tool_call_started/completed/failed, memory and reasoning
// events; an OTel Error status adds an error_raised event.
//
// # Conventions
//
// Besides the OpenTelemetry GenAI keys, the translation reads what Genkit,
// the Vercel AI SDK (modern gen_ai.* and legacy ai.* spans), OpenInference,
// OpenLLMetry and Google ADK record (classification in classify.go and
// frameworks.go, facts in genai.go), with rules that hold for all of them:
// one model call is one llm_response (a span that only wraps model calls
// adds none), one failure is one error at its source (a failure
// propagated through its ancestors adds none; see tree.go), an agent
// framework's own invoke_agent spans stay in the agent's run, and every
// agent invocation below the root shows as an agent event (for a child
// run, [ChildRun.Delegation]). Message content is forwarded only with
// content capture on; the keys that hold it, per convention, are in one
// table (content.go), and each value left out is reported under
// [ReasonContentNotCaptured].
//
// Everything sent is valid for the Ezop server: bad input is sanitized,
// truncated or dropped, and each such change is reported in
// [RunPlan.Issues].
package bridge
