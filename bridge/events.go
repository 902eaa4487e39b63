package bridge

import (
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

// genAIEvents maps the names of GenAI span events to Ezop classifications.
var genAIEvents = map[string]struct {
	category semconv.EventCategory
	typ      semconv.EventType
}{
	"gen_ai.user.message":                       {semconv.CategoryLLM, semconv.TypeLLMRequest},
	"gen_ai.system.message":                     {semconv.CategoryLLM, semconv.TypeLLMRequest},
	"gen_ai.content.prompt":                     {semconv.CategoryLLM, semconv.TypeLLMRequest},
	"gen_ai.choice":                             {semconv.CategoryLLM, semconv.TypeLLMResponse},
	"gen_ai.assistant.message":                  {semconv.CategoryLLM, semconv.TypeLLMResponse},
	"gen_ai.client.inference.operation.details": {semconv.CategoryLLM, semconv.TypeLLMResponse},
	"gen_ai.content.completion":                 {semconv.CategoryLLM, semconv.TypeLLMResponse},
	"gen_ai.tool.message":                       {semconv.CategoryTool, semconv.TypeToolCallCompleted},
}

const exceptionEventName = "exception"

// ReasonContentNotCaptured is the reason of the Dropped issue reported for
// each piece of content left out because content capture is off. Leaving
// content out is a setting, not a loss: a sender may count it apart from
// real drops (the text is stable).
const ReasonContentNotCaptured = "message content not captured (content capture is off)"

const contentOffReason = ReasonContentNotCaptured

// genAIMessageRoles are the roles the older GenAI message events stand
// for; with capture on their content becomes the event's input (requests)
// or output (responses, tool messages).
var genAIMessageRoles = map[string]string{
	"gen_ai.user.message":      "user",
	"gen_ai.system.message":    "system",
	"gen_ai.assistant.message": "assistant",
	"gen_ai.tool.message":      "tool",
	"gen_ai.choice":            "assistant",
}

// requestContentKeys are the content keys of a response event that
// describe the request (gen_ai.client.inference.operation.details carries
// both): they go to its input.
var requestContentKeys = map[string]bool{
	"gen_ai.input.messages": true, "gen_ai.system_instructions": true, "gen_ai.tool.definitions": true,
}

// Exception attribute keys, as span.RecordError writes them.
const (
	keyExceptionType       = "exception.type"
	keyExceptionMessage    = "exception.message"
	keyExceptionStacktrace = "exception.stacktrace"
)

// spanEvents returns the Ezop events of one OTel span: its own span events,
// mapped, and the events its semantics imply. spanID is the span's Ezop id
// and parentID its parent's (empty for a top-level span): Ezop's run view
// nests spans by the parent_span_id in their events' metadata, so every
// event of a span with a parent names it. root marks the run's root span.
// The agent event of a span that starts a child run is not returned: it
// goes to b.delegations (see ChildRun.Delegation).
func (b *builder) spanEvents(s sdktrace.ReadOnlySpan, a attrs, class spanClass, spanID, parentID string, totals *Totals, root bool) []wire.EmitEventRequest {
	out, delegation := b.spanEventsOf(s, a, class, spanID, totals, root)
	b.noteSpan(s, class, parentID)             // for late log records (logs.go)
	out = b.joinRecords(s, class, spanID, out) // its log records (logs.go)
	if parentID != "" {
		for i := range out {
			// Reserved: the payload limit makes room for it.
			out[i].Metadata = b.withReserved(out[i].Metadata, wire.Object{ParentSpanIDKey: parentID})
		}
		if delegation != nil {
			delegation.Metadata = b.withReserved(delegation.Metadata, wire.Object{ParentSpanIDKey: parentID})
		}
	}
	if delegation != nil {
		if b.delegations == nil {
			b.delegations = map[trace.SpanID]*wire.EmitEventRequest{}
		}
		b.delegations[s.SpanContext().SpanID()] = delegation
	}
	return out
}

// ParentSpanIDKey is the event metadata key naming the Ezop id of the
// parent of the event's span (see spanEvents).
const ParentSpanIDKey = "parent_span_id"

// PropagatedErrorKey marks, in its metadata, the event an exception event
// becomes on a span whose failure is propagated from a descendant (see
// analyze): a system event, so that one failure is one error.
const PropagatedErrorKey = "propagated_error"

func (b *builder) spanEventsOf(s sdktrace.ReadOnlySpan, a attrs, class spanClass, spanID string, totals *Totals, root bool) ([]wire.EmitEventRequest, *wire.EmitEventRequest) {
	sc := s.SpanContext()
	name := b.z.str(s.Name())
	otelEvents := s.Events()
	var out []wire.EmitEventRequest
	var delegation *wire.EmitEventRequest
	budget := b.t.cfg.MaxEventsPerSpan
	hasLLMResponse, hasError := -1, false
	v := b.verdicts[sc.SpanID()]

	for i, e := range otelEvents {
		if i >= budget {
			b.log.add(Dropped, "span event over MaxEventsPerSpan")
			continue
		}
		req := b.otelEvent(e, v.propagated)
		req.ID = eventUUID(sc.TraceID(), sc.SpanID(), "event", i)
		req.SpanID = spanID
		if req.Category == string(semconv.CategoryLLM) && req.Type == string(semconv.TypeLLMResponse) && hasLLMResponse < 0 {
			hasLLMResponse = len(out)
		}
		if req.Category == string(semconv.CategoryError) {
			hasError = true
			totals.Errors++
		}
		out = append(out, req)
	}

	failed := s.Status().Code == codes.Error
	add := func(kind string, when time.Time, req wire.EmitEventRequest) {
		req.ID = eventUUID(sc.TraceID(), sc.SpanID(), kind, 0)
		req.SpanID = spanID
		req.Timestamp = formatTime(when)
		out = append(out, req)
	}
	if b.t.cfg.LifecycleEvents && spanID != "" {
		add("span_started", s.StartTime(), wire.EmitEventRequest{Name: name, Category: string(semconv.CategorySystem), Type: string(semconv.TypeSpanStarted)})
	}

	switch {
	case class.category == semconv.CategoryLLM && v.wrapper:
		// Its children are the model calls: it adds none.
	case class.category == semconv.CategoryLLM:
		f := b.llmFacts(a, class)
		totals.LLMCalls++
		if f.hasTokens {
			totals.TokensReported = true
			totals.inputReported = totals.inputReported || f.hasInput
			totals.outputReported = totals.outputReported || f.hasOutput
			totals.InputTokens += f.inputTokens
			totals.OutputTokens += f.outputTokens
		}
		if hasLLMResponse >= 0 {
			// The instrumentation recorded its own response event: it
			// carries the call's facts, so the call's tokens are counted
			// exactly once.
			ev := &out[hasLLMResponse]
			if ev.Metadata == nil {
				ev.Metadata = wire.Object{}
			}
			for k, v := range f.meta {
				if _, taken := ev.Metadata[k]; !taken {
					ev.Metadata[k] = v
				}
			}
			ev.Metadata = b.z.fit(ev.Metadata)
			if ev.Input == nil {
				ev.Input = b.z.fit(f.input)
			}
			if ev.Output == nil {
				ev.Output = b.z.fit(f.output)
			}
		} else {
			add("llm_response", s.EndTime(), wire.EmitEventRequest{
				Name: name, Category: string(semconv.CategoryLLM), Type: string(semconv.TypeLLMResponse),
				Input: b.z.fit(f.input), Output: b.z.fit(f.output), Metadata: b.z.fit(f.meta),
				Subtype: subtypeIf(failed, semconv.SubtypeLLMError),
			})
		}
		if f.hasCost {
			totals.Cost += f.cost
			totals.CostReported = true
			meta := wire.Object{"cost": f.cost, "currency": "USD"}
			if m, ok := f.meta["model"]; ok {
				meta["model"] = m
			}
			add("cost", s.EndTime(), wire.EmitEventRequest{Name: "cost", Category: string(semconv.CategoryCost), Type: string(semconv.TypeCostCalculated), Metadata: b.z.fit(meta)})
		}
	case class.category == semconv.CategoryTool:
		f := b.toolFacts(a, class, failed)
		totals.ToolCalls++
		add("tool_start", s.StartTime(), wire.EmitEventRequest{
			Name: name, Category: string(semconv.CategoryTool), Type: string(semconv.TypeToolCallStarted),
			Subtype: string(f.subtype), Input: b.z.fit(f.input), Metadata: b.z.fit(cloneObject(f.meta)),
		})
		end := wire.EmitEventRequest{
			Name: name, Category: string(semconv.CategoryTool), Type: string(semconv.TypeToolCallCompleted),
			Subtype: string(f.subtype), Output: b.z.fit(f.output), Metadata: b.z.fit(f.meta),
		}
		if failed {
			end.Type = string(semconv.TypeToolCallFailed)
			end.Error = b.failureObject(s, a)
		}
		add("tool_end", s.EndTime(), end)
	case class.category == semconv.CategoryMemory, class.category == semconv.CategoryReasoning:
		meta, input, output := b.memoryFacts(a, class)
		add(string(class.eventType), s.EndTime(), wire.EmitEventRequest{
			Name: name, Category: string(class.category), Type: string(class.eventType),
			Input: b.z.fit(input), Output: b.z.fit(output), Metadata: b.z.fit(meta),
		})
	case isAgentInvocation(class) && !root:
		// Every agent invocation below the root shows as an event:
		// Ezop's pages read no parent_run_id. (The root's invocation is
		// the run itself; LifecycleEvents adds its agent_run_* events.)
		// One that starts a child run is the invoking run's delegation,
		// emitted once the child run exists.
		ev := b.agentEvent(s, a, class, failed)
		ev.ID = eventUUID(sc.TraceID(), sc.SpanID(), "agent_run", 0)
		ev.SpanID = spanID
		ev.Timestamp = formatTime(s.EndTime())
		if b.state != nil && b.state.children[sc.SpanID()] != nil {
			delegation = &ev
		} else {
			out = append(out, ev)
		}
	}

	if failed && !hasError && !v.propagated {
		totals.Errors++
		errObj := wire.Object{"type": "otel.status"}
		if m := b.statusMessage(s, a); m != "" {
			errObj["message"] = b.z.str(m)
		}
		add("status_error", s.EndTime(), wire.EmitEventRequest{
			Name: name, Category: string(semconv.CategoryError), Type: string(semconv.TypeErrorRaised),
			Error: b.payload("error", errObj),
		})
	}
	if b.t.cfg.LifecycleEvents && spanID != "" {
		add("span_completed", s.EndTime(), wire.EmitEventRequest{Name: name, Category: string(semconv.CategorySystem), Type: string(semconv.TypeSpanCompleted)})
	}
	return out, delegation
}

// failureObject is the error of a failed tool call: its first exception's
// type and message, else its status.
func (b *builder) failureObject(s sdktrace.ReadOnlySpan, a attrs) wire.Object {
	for _, e := range s.Events() {
		if e.Name != exceptionEventName {
			continue
		}
		ea := newAttrs(e.Attributes)
		o := wire.Object{}
		for name, k := range map[string]string{"type": keyExceptionType, "message": keyExceptionMessage} {
			if v, ok := ea[k]; ok {
				if val, keep := b.z.redact(k, b.z.value(v)); keep {
					o[name] = val
				}
			}
		}
		if len(o) > 0 {
			return b.z.fit(o)
		}
	}
	o := wire.Object{"type": "otel.status"}
	if m := b.statusMessage(s, a); m != "" {
		o["message"] = b.z.str(m)
	}
	return b.payload("error", o)
}

// agentEvent is the event of an agent invocation span: agent_run_completed
// or agent_run_failed, named like the span, with the agent in metadata.
func (b *builder) agentEvent(s sdktrace.ReadOnlySpan, a attrs, class spanClass, failed bool) wire.EmitEventRequest {
	meta := wire.Object{}
	for _, f := range []struct {
		meta string
		keys []string
	}{
		{"agent_name", []string{string(semconv.AgentNameKey), string(genAIAgentNameKey), "agent.name", "traceloop.entity.name"}},
		{"agent_id", []string{"gen_ai.agent.id"}},
		{"agent_description", []string{"gen_ai.agent.description"}},
		{"conversation_id", []string{"gen_ai.conversation.id", "session.id", "gcp.vertex.agent.session_id"}},
	} {
		if v, ok := a.firstStr(f.keys...); ok {
			meta[f.meta] = b.z.str(v)
		}
	}
	if class.operation != "" {
		meta["operation"] = b.z.str(class.operation)
	}
	ev := wire.EmitEventRequest{
		Name: b.z.str(s.Name()), Category: string(semconv.CategoryAgent), Type: string(semconv.TypeAgentRunCompleted),
	}
	if failed {
		ev.Type = string(semconv.TypeAgentRunFailed)
		ev.Error = b.failureObject(s, a)
	}
	ev.Metadata = b.z.fit(meta)
	return ev
}

func subtypeIf(cond bool, s semconv.EventSubtype) string {
	if cond {
		return string(s)
	}
	return ""
}

func cloneObject(o wire.Object) wire.Object {
	if o == nil {
		return nil
	}
	c := make(wire.Object, len(o))
	for k, v := range o {
		c[k] = v
	}
	return c
}

// otelEvent maps one OTel span event: explicit ezop.event.* keys first,
// then the exception event, then GenAI events, else a system event. On a
// span whose failure is propagated from a descendant (propagated), an
// exception event is a system event marked PropagatedErrorKey.
func (b *builder) otelEvent(e sdktrace.Event, propagated bool) wire.EmitEventRequest {
	a := newAttrs(e.Attributes)
	req := wire.EmitEventRequest{Name: b.z.str(e.Name), Timestamp: b.time(e.Time, "event time")}
	if req.Name == "" {
		req.Name = "event"
	}
	consumed := map[string]bool{}

	cat, hasCat := a.str(string(semconv.EventCategoryKey))
	if ty, ok := a.str(string(semconv.EventTypeKey)); ok && !hasCat {
		// A type belongs to one category: it says the category too.
		if c, known := semconv.EventType(ty).Category(); known {
			cat, hasCat = string(c), true
		}
	}
	if hasCat {
		ty, _ := a.str(string(semconv.EventTypeKey))
		st, _ := a.str(string(semconv.EventSubtypeKey))
		if err := semconv.ValidateEvent(semconv.EventCategory(cat), semconv.EventType(ty), semconv.EventSubtype(st)); err == nil {
			req.Category, req.Type, req.Subtype = cat, ty, st
			for _, k := range []attribute.Key{semconv.EventCategoryKey, semconv.EventTypeKey, semconv.EventSubtypeKey} {
				consumed[string(k)] = true
			}
		} else {
			b.log.add(Altered, "invalid ezop.event classification: fell back to the default mapping")
		}
	}
	var reserved wire.Object
	if req.Category == "" {
		switch m, isGenAI := genAIEvents[e.Name]; {
		case e.Name == exceptionEventName && propagated:
			req.Category = string(semconv.CategorySystem)
			reserved = wire.Object{PropagatedErrorKey: true}
		case e.Name == exceptionEventName:
			req.Category, req.Type = string(semconv.CategoryError), string(semconv.TypeErrorRaised)
			errObj := wire.Object{}
			for name, k := range map[string]string{"type": keyExceptionType, "message": keyExceptionMessage, "stacktrace": keyExceptionStacktrace} {
				if v, ok := a[k]; ok {
					consumed[k] = true
					if val, keep := b.z.redact(k, b.z.value(v)); keep {
						errObj[name] = val
					}
				}
			}
			req.Error = b.z.fit(errObj)
		case isGenAI:
			req.Category, req.Type = string(m.category), string(m.typ)
			if e.Name == "gen_ai.content.prompt" {
				if v, ok := a["gen_ai.prompt"]; ok && b.t.captureContent {
					req.Input = b.payload("input", b.z.jsonish(v))
				} else if ok {
					b.log.add(Dropped, contentOffReason)
				}
				consumed["gen_ai.prompt"] = true
			}
			if e.Name == "gen_ai.content.completion" {
				if v, ok := a["gen_ai.completion"]; ok && b.t.captureContent {
					req.Output = b.payload("output", b.z.jsonish(v))
				} else if ok {
					b.log.add(Dropped, contentOffReason)
				}
				consumed["gen_ai.completion"] = true
			}
			if b.t.captureContent && e.Name != "gen_ai.content.prompt" && e.Name != "gen_ai.content.completion" {
				b.messageContent(&req, a, e.Name, consumed)
			}
		default:
			req.Category = string(semconv.CategorySystem)
		}
	}

	for name, k := range map[string]attribute.Key{"input": semconv.EventInputKey, "output": semconv.EventOutputKey, "error": semconv.EventErrorKey} {
		v, ok := a[string(k)]
		if !ok {
			continue
		}
		consumed[string(k)] = true
		var val any
		if v.Type() == attribute.STRING {
			if d, ok := b.z.decodeAnyJSON(v.AsString()); ok {
				val = d
			} else {
				val = b.z.str(v.AsString())
			}
		} else {
			val = b.z.value(v)
		}
		obj := b.payload(name, val)
		switch name {
		case "input":
			req.Input = obj
		case "output":
			req.Output = obj
		case "error":
			req.Error = obj
		}
	}
	if v, ok := a[string(semconv.EventIterationIDKey)]; ok {
		consumed[string(semconv.EventIterationIDKey)] = true
		if n, ok := a.int(string(semconv.EventIterationIDKey)); ok && n >= 0 && n <= 1<<31-1 {
			req.IterationID = &n
		} else {
			b.log.add(Altered, "ezop.event.iteration_id not an integer in 0..2^31-1: kept in metadata")
			consumed[string(semconv.EventIterationIDKey)] = false
			_ = v
		}
	}
	if e.DroppedAttributeCount > 0 {
		if reserved == nil {
			reserved = wire.Object{}
		}
		reserved["otel.dropped_attributes"] = e.DroppedAttributeCount
	}
	if reserved != nil {
		req.Metadata = b.withReserved(b.metadata(e.Attributes, consumed), reserved)
	} else {
		req.Metadata = b.z.fit(b.metadata(e.Attributes, consumed))
	}
	if req.Category == string(semconv.CategoryLLM) && req.Type == string(semconv.TypeLLMRequest) {
		// Ezop's dashboard sums these keys over every llm event: a request
		// carries no usage of its own.
		for _, k := range []string{metaInputTokens, metaOutputTokens} {
			if v, ok := req.Metadata[k]; ok {
				delete(req.Metadata, k)
				req.Metadata["event_"+k] = v
				b.log.add(Altered, "token count on an llm_request event renamed event_"+k+": Ezop would sum it as usage")
			}
		}
	}
	return req
}

// messageContent moves, with capture on, the content attributes of an
// older GenAI message event (gen_ai.user.message, gen_ai.choice, …) to
// the event's input (requests) or output (responses, tool messages),
// with the role the event stands for.
func (b *builder) messageContent(req *wire.EmitEventRequest, a attrs, name string, consumed map[string]bool) {
	in, out := wire.Object{}, wire.Object{}
	keys := make([]string, 0, len(a))
	for k := range a {
		if isContentKey(k) && !consumed[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		consumed[k] = true
		val, keep := b.z.redact(k, b.z.jsonish(a[k]))
		if !keep {
			continue
		}
		if req.Type == string(semconv.TypeLLMRequest) || requestContentKeys[k] {
			in[b.z.str(k)] = val
		} else {
			out[b.z.str(k)] = val
		}
	}
	role := genAIMessageRoles[name]
	if r, ok := a.str("role"); ok {
		role = b.z.str(r)
	}
	for _, o := range []wire.Object{in, out} {
		if len(o) > 0 && role != "" {
			if _, taken := o["role"]; !taken {
				o["role"] = role
			}
		}
	}
	if len(in) > 0 && req.Input == nil {
		req.Input = b.z.fit(in)
	}
	if len(out) > 0 && req.Output == nil {
		req.Output = b.z.fit(out)
	}
}

// payload turns a value into an input/output/error object, through the
// redaction hook and the size limit.
func (b *builder) payload(name string, v any) wire.Object {
	v, keep := b.z.redact(name, v)
	if !keep || v == nil {
		return nil
	}
	return b.z.fit(object(v))
}

// metadata converts attributes to a metadata object, leaving out consumed
// keys and, unless content capture is on, message content. The caller fits
// it to the payload limit.
func (b *builder) metadata(kvs []attribute.KeyValue, consumed map[string]bool) wire.Object {
	if len(kvs) == 0 {
		return nil
	}
	m := make(wire.Object, len(kvs))
	var families map[string]bool
	for _, kv := range kvs {
		k := string(kv.Key)
		if consumed[k] {
			continue
		}
		if !b.t.captureContent && isContentKey(k) {
			b.log.add(Dropped, contentOffReason)
			continue
		}
		if fam, ok := indexedFamily(k); ok {
			// Rebuilt nested below, never sent as flattened keys.
			if families == nil {
				families = map[string]bool{}
			}
			families[fam] = true
			continue
		}
		var val any
		if isContentKey(k) {
			val = b.z.jsonish(kv.Value)
		} else {
			val = b.z.value(kv.Value)
		}
		if v, keep := b.z.redact(k, val); keep {
			m[b.z.str(k)] = v
		}
	}
	if families != nil {
		b.foldIndexed(m, newAttrs(kvs), families, consumed)
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// formatTime spells t for the API; the zero time is omitted so the server
// uses its own clock.
func formatTime(t time.Time) string {
	if !validTime(t) {
		return ""
	}
	return t.UTC().Format(wire.TimeFormat)
}

// validTime reports whether t can be sent: set, and within the years the
// server can store once it rounds t to microseconds.
func validTime(t time.Time) bool {
	if t.IsZero() {
		return false
	}
	u := t.UTC()
	return u.Year() >= 1 && !u.After(lastTime)
}

// lastTime is the last time the server stores (Python's datetime.max).
var lastTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)

// norm lower-cases and trims, for comparing enum-like attribute values.
func norm(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// statusMessage says why a span failed: its status description, else what
// the OTel conventions record of the failure (error.type, an HTTP or RPC
// status code), so an error event has a message unless the redaction hook
// removes it. Every text passes the hook, under its attribute key or
// KeyStatusDescription.
func (b *builder) statusMessage(s sdktrace.ReadOnlySpan, a attrs) string {
	if d := s.Status().Description; d != "" {
		return b.z.redactText(KeyStatusDescription, d)
	}
	for _, c := range []struct{ key, prefix string }{
		{"error.type", ""},
		{"http.response.status_code", "HTTP status "},
		{"http.status_code", "HTTP status "},
		{"rpc.grpc.status_code", "gRPC status "},
	} {
		if v, ok := a.str(c.key); ok {
			if v = b.z.redactText(c.key, v); v == "" {
				return ""
			}
			return c.prefix + v
		}
	}
	return "span status Error"
}
