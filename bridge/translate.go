package bridge

import (
	"sort"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

// builder carries the state of one translation.
type builder struct {
	t       *Translator
	z       sanitizer
	log     *issueLog
	traceID trace.TraceID
	state   *RunState
	// classes holds the class of every span of the translation, decided
	// once (classification reports issues).
	classes map[trace.SpanID]spanClass
	// verdicts are what the span tree says about them (see analyze).
	verdicts map[trace.SpanID]verdict
	// delegations are the agent events of spans that start a child run,
	// by span id, for ChildRun.Delegation.
	delegations map[trace.SpanID]*wire.EmitEventRequest
}

// classOf returns the class of s, classifying it the first time.
func (b *builder) classOf(s sdktrace.ReadOnlySpan) spanClass {
	id := s.SpanContext().SpanID()
	if c, ok := b.classes[id]; ok {
		return c
	}
	c := classify(newAttrs(s.Attributes()), b.log)
	if b.classes == nil {
		b.classes = map[trace.SpanID]spanClass{}
	}
	b.classes[id] = c
	return c
}

// Translate turns spans of one trace that belong to one run into the Ezop
// operations for them. spans holds the run's local root span once it has
// ended, and any of its descendants; a run may be translated in parts (spans
// arriving in several batches, or before their root), each call passing the
// same state. Spans already translated through state are skipped. state
// keeps span ids only, never the spans.
//
// The root becomes the run's top-level Ezop span, and its children hang
// under it. The run's end (status, message, metadata with the run's
// totals) is planned once, in the part that holds the root: a later part
// adds spans and events but never ends the run again, since Ezop stamps a
// run's end time when it is patched.
//
// A span that invokes another agent (see [RunPlan.ChildRuns]) starts a
// child run: its descendants go to that run, and it stays a span of the
// run that invoked it.
func (t *Translator) Translate(state *RunState, spans []sdktrace.ReadOnlySpan) RunPlan {
	log := &issueLog{}
	b := &builder{t: t, z: sanitizer{t: t, issues: log}, log: log, state: state}
	state.init()
	rootDone := state.run.rootSeen

	// Pick the root and drop what was already translated.
	var root sdktrace.ReadOnlySpan
	batch := make(map[trace.SpanID]sdktrace.ReadOnlySpan, len(spans))
	rest := make([]sdktrace.ReadOnlySpan, 0, len(spans))
	for _, s := range spans {
		if s == nil {
			continue
		}
		id := s.SpanContext().SpanID()
		_, seen := state.owner[id]
		if _, dup := batch[id]; dup || seen || (state.run.rootSeen && state.run.rootID == id) {
			log.add(Dropped, "duplicate span id")
			continue
		}
		if b.traceID == (trace.TraceID{}) {
			b.traceID = s.SpanContext().TraceID()
		}
		if root == nil && !state.run.rootSeen && IsLocalRoot(s) && (!state.run.rootID.IsValid() || state.run.rootID == id) {
			root = s
			batch[id] = s
			continue
		}
		batch[id] = s
		rest = append(rest, s)
	}
	if root != nil {
		state.run.rootID = root.SpanContext().SpanID()
		state.run.rootSeen = true
	}

	plan := RunPlan{TraceID: b.traceID, RootSpanID: state.run.rootID}
	plan.Agent = t.agent(resourceOf(root, rest), log)

	all := rest
	if root != nil {
		all = append([]sdktrace.ReadOnlySpan{root}, rest...)
	}
	for _, s := range all {
		b.classOf(s)
	}
	b.verdicts = b.analyze(state, all, rootDone)

	groups, order := b.assignRuns(state, plan.Agent, batch, rest)
	b.runPart(&plan, &state.run, root, groups[trace.SpanID{}], false)
	for _, key := range order {
		ch := state.children[key]
		child := ChildRun{Key: key, Parent: ch.parent, Plan: RunPlan{TraceID: b.traceID, Agent: ch.agent, RootSpanID: key}}
		var inv sdktrace.ReadOnlySpan
		if s := batch[key]; s != nil && !ch.run.rootSeen {
			inv = s
			ch.run.rootID, ch.run.rootSeen = key, true
		}
		b.runPart(&child.Plan, &ch.run, inv, groups[key], true)
		child.Delegation = b.delegations[key]
		if !child.Plan.Empty() || child.Delegation != nil {
			plan.ChildRuns = append(plan.ChildRuns, child)
		}
	}
	plan.Issues = log.issues()
	return plan
}

// runPart fills plan with the operations of spans, all of one run whose
// state is st; root is the run's root when this part brings it (nil
// otherwise). The root of a top run becomes its top-level span; the root
// of a child run is the span that invoked its agent, a span of the parent
// run whose events stay there.
func (b *builder) runPart(plan *RunPlan, st *runState, root sdktrace.ReadOnlySpan, spans []sdktrace.ReadOnlySpan, child bool) {
	rootID := st.rootID
	// The top run's root is an Ezop span (planned now, or by RunStart).
	rootIsSpan := !child && rootID.IsValid() && (root != nil || st.rootSeen || st.rootStarted)
	log := b.log
	group := make(map[trace.SpanID]sdktrace.ReadOnlySpan, len(spans))
	for _, s := range spans {
		group[s.SpanContext().SpanID()] = s
	}

	// Parents first: order by depth within this part, then start time.
	depth := make(map[trace.SpanID]int, len(spans))
	parentOf := func(s sdktrace.ReadOnlySpan) (string, bool) {
		p := s.Parent()
		pid := p.SpanID()
		switch {
		case !p.IsValid() || p.IsRemote():
			return "", false
		case pid == s.SpanContext().SpanID():
			log.add(Altered, "span is its own parent: attached at run level")
			return "", true
		case rootID.IsValid() && pid == rootID:
			if rootIsSpan {
				return SpanUUID(b.traceID, pid), true
			}
			return "", true
		}
		if _, ok := st.known[pid]; ok {
			return SpanUUID(b.traceID, pid), true
		}
		if _, ok := group[pid]; ok {
			return SpanUUID(b.traceID, pid), true
		}
		log.add(Altered, "parent span not seen: attached at run level")
		return "", false
	}
	var depthOf func(s sdktrace.ReadOnlySpan, guard int) int
	depthOf = func(s sdktrace.ReadOnlySpan, guard int) int {
		id := s.SpanContext().SpanID()
		if d, ok := depth[id]; ok {
			return d
		}
		d := 0
		pid := s.Parent().SpanID()
		if p, ok := group[pid]; ok && pid != id && pid != rootID && guard < len(group) && !IsLocalRoot(p) {
			d = depthOf(p, guard+1) + 1
		}
		depth[id] = d
		return d
	}
	for _, s := range spans {
		depthOf(s, 0)
	}
	sort.SliceStable(spans, func(i, j int) bool {
		di, dj := depth[spans[i].SpanContext().SpanID()], depth[spans[j].SpanContext().SpanID()]
		if di != dj {
			return di < dj
		}
		return spans[i].StartTime().Before(spans[j].StartTime())
	})

	if root != nil && !child {
		// The root span goes first: its children name it as parent.
		a := newAttrs(root.Attributes())
		class := b.classOf(root)
		op := b.spanOp(root, class, "", true)
		op.Root = true
		st.known[rootID] = struct{}{}
		plan.Spans = append(plan.Spans, op)
		plan.Events = append(plan.Events, b.spanEvents(root, a, class, op.Create.ID, "", &st.totals, true)...)
	}
	for _, s := range spans {
		a := newAttrs(s.Attributes())
		class := b.classOf(s)
		parent, _ := parentOf(s)
		// A parent that was placed after its child (a cycle) would be
		// refused by the server: only name parents already planned.
		if parent != "" && s.Parent().SpanID() != rootID {
			if _, ok := st.known[s.Parent().SpanID()]; !ok {
				log.add(Altered, "span parent cycle: attached at run level")
				parent = ""
			}
		}
		op := b.spanOp(s, class, parent, false)
		st.known[s.SpanContext().SpanID()] = struct{}{}
		plan.Spans = append(plan.Spans, op)
		plan.Events = append(plan.Events, b.spanEvents(s, a, class, op.Create.ID, parent, &st.totals, false)...)
	}

	if root != nil && b.t.cfg.LifecycleEvents {
		plan.Events = append(plan.Events, b.runLifecycle(root)...)
	}
	plan.Start = b.start(root)
	if child {
		plan.Start.TriggerType = string(semconv.TriggerAgent)
		plan.Start.TriggerID = ""
	}
	if root != nil {
		end := b.end(root, st.totals)
		plan.End = &end
	}
}

// createOp builds the create of one span; the root of a run (root set)
// has only its OTel identity as metadata (rootSpanMetadata).
func (b *builder) createOp(s sdktrace.ReadOnlySpan, class spanClass, parent string, root bool) SpanOp {
	id := s.SpanContext().SpanID()
	op := SpanOp{OTelSpanID: id, Root: root, Create: wire.CreateSpanRequest{
		ID: SpanUUID(b.traceID, id), Name: b.z.str(s.Name()), ParentID: parent,
		StartTime: b.time(s.StartTime(), "span start time"),
	}}
	if root {
		op.Create.Metadata = b.rootSpanMetadata(s, class)
	} else {
		op.Create.Metadata = b.spanMetadata(s, class)
	}
	return op
}

// spanOp builds the create and close of one ended span.
func (b *builder) spanOp(s sdktrace.ReadOnlySpan, class spanClass, parent string, root bool) SpanOp {
	op := b.createOp(s, class, parent, root)
	end := s.EndTime()
	if !end.IsZero() && s.StartTime().After(end) {
		b.log.add(Altered, "span ends before it starts: end set to start")
		end = s.StartTime()
	}
	op.Close = wire.CloseSpanRequest{EndTime: b.time(end, "span end time")}
	if op.Close.EndTime == "" {
		op.Close.EndTime = op.Create.StartTime
	}
	if op.Close.EndTime == "" {
		// The close requires a time and neither is usable: the server's
		// clock stands in for the start, so the current time stands in
		// for the end.
		op.Close.EndTime = formatTime(time.Now())
	}
	return op
}

// resourceOf picks the resource of the run: the root's, else any span's.
func resourceOf(root sdktrace.ReadOnlySpan, others []sdktrace.ReadOnlySpan) *resource.Resource {
	if root != nil {
		return root.Resource()
	}
	for _, s := range others {
		if r := s.Resource(); r != nil {
			return r
		}
	}
	return nil
}

// time formats a span or event time, reporting times it cannot send.
func (b *builder) time(t time.Time, what string) string {
	s := formatTime(t)
	if s == "" {
		b.log.add(Altered, what+" missing or out of range: server time used")
	}
	return s
}

// KeyStatusDescription is the key under which the redaction hook sees a
// span's status description (in metadata, run messages and error events).
const KeyStatusDescription = "otel.status_description"

// otelInfo describes an OTel span for the metadata of its run or span.
func (b *builder) otelInfo(s sdktrace.ReadOnlySpan) wire.Object {
	sc := s.SpanContext()
	info := wire.Object{
		"trace_id": sc.TraceID().String(),
		"span_id":  sc.SpanID().String(),
		"kind":     s.SpanKind().String(),
		"status":   s.Status().Code.String(),
	}
	if p := s.Parent(); p.IsValid() {
		info["parent_span_id"] = p.SpanID().String()
		if p.IsRemote() {
			info["parent_remote"] = true
		}
	}
	if d := b.z.redactText(KeyStatusDescription, s.Status().Description); d != "" {
		info["status_description"] = b.z.str(d)
	}
	if sc := s.InstrumentationScope(); sc.Name != "" {
		info["scope"] = b.z.str(sc.Name)
	}
	if n := s.DroppedAttributes(); n > 0 {
		info["dropped_attributes"] = n
	}
	if n := s.DroppedEvents(); n > 0 {
		info["dropped_events"] = n
	}
	if n := s.DroppedLinks(); n > 0 {
		info["dropped_links"] = n
	}
	return info
}

// spanMetadata is a span's attributes plus its OTel identity under "otel".
func (b *builder) spanMetadata(s sdktrace.ReadOnlySpan, class spanClass) wire.Object {
	info := b.otelInfo(s)
	if class.category != "" {
		info["category"] = string(class.category)
	}
	return b.withReserved(b.metadata(s.Attributes(), nil), wire.Object{"otel": info})
}

// rootSpanMetadata is the metadata of a run's top-level span: its OTel
// identity only. Its attributes are the run's metadata already (the end's
// PATCH); repeating them would double what a large root costs.
func (b *builder) rootSpanMetadata(s sdktrace.ReadOnlySpan, class spanClass) wire.Object {
	info := b.otelInfo(s)
	if class.category != "" {
		info["category"] = string(class.category)
	}
	return b.withReserved(nil, wire.Object{"otel": info})
}

// withReserved returns the attribute metadata m with the entries of
// reserved, which the payload limit never removes: m is fitted into the
// room they leave. Attributes of a reserved name are replaced, and reported.
func (b *builder) withReserved(m, reserved wire.Object) wire.Object {
	if m == nil {
		m = wire.Object{}
	}
	for k := range reserved {
		if _, taken := m[k]; taken {
			b.log.add(Altered, "attribute "+k+" replaced by a reserved metadata key")
			delete(m, k)
		}
	}
	room, _ := jsonSizes(reserved)
	m = b.z.fitTo(m, b.t.cfg.MaxPayloadBytes-room+1)
	for k, v := range reserved {
		m[k] = v
	}
	return b.z.fit(m)
}

// start builds the run-creation body from the root span, if known.
func (b *builder) start(root sdktrace.ReadOnlySpan) wire.StartRunRequest {
	req := wire.StartRunRequest{TriggerType: string(semconv.TriggerUnknown)}
	if root == nil {
		return req
	}
	a := newAttrs(root.Attributes())
	if u, ok := a.str(string(semconv.RunUserIDKey)); ok {
		if id, ok := normalizeUUID(u); ok {
			req.UserID = id
		} else {
			b.log.add(Altered, "ezop.run.user_id is not a UUID: kept in run metadata only")
		}
	}
	tt, hasTT := a.str(string(semconv.RunTriggerTypeKey))
	switch trig := semconv.TriggerType(norm(tt)); {
	case hasTT && trig == semconv.TriggerAgent:
		// The server requires a parent run with trigger type agent, which a
		// single process cannot name.
		b.log.add(Altered, "ezop.run.trigger_type agent without a parent run: sent as unknown")
	case hasTT && trig.Valid():
		req.TriggerType = string(trig)
	case hasTT:
		b.log.add(Altered, "ezop.run.trigger_type outside the server's set: inferred instead")
		fallthrough
	default:
		if route, ok := a.str("http.route"); ok && root.SpanKind() == trace.SpanKindServer {
			req.TriggerType = string(semconv.TriggerAPI)
			req.TriggerID = b.z.str(route)
		}
	}
	if id, ok := a.str(string(semconv.RunTriggerIDKey)); ok {
		req.TriggerID = b.z.str(id)
	}
	return req
}

// end builds the run's final PATCH. Its metadata is complete, because the
// server replaces what it stored.
func (b *builder) end(root sdktrace.ReadOnlySpan, totals Totals) wire.EndRunRequest {
	a := newAttrs(root.Attributes())
	info := b.otelInfo(root)
	info["name"] = b.z.str(root.Name())
	start, end := root.StartTime(), root.EndTime()
	if s := formatTime(start); s != "" {
		info["start_time"] = s
	}
	if e := formatTime(end); e != "" {
		info["end_time"] = e
	}
	if validTime(start) && validTime(end) && !end.Before(start) {
		info["duration_ms"] = float64(end.Sub(start).Microseconds()) / 1000
	}
	reserved := wire.Object{"otel": info, "totals": totals.object()}

	req := wire.EndRunRequest{Status: string(semconv.RunStatusSuccess)}
	var message string
	if root.Status().Code == codes.Error {
		req.Status = string(semconv.RunStatusFailed)
		message = b.z.redactText(KeyStatusDescription, root.Status().Description)
		if root.Status().Description == "" {
			// An attribute: the redaction hook decides, as for the
			// exception event itself.
			m, keep := b.z.redact(keyExceptionMessage, exceptionMessage(root))
			message, _ = m.(string)
			if !keep {
				message = ""
			}
		}
	}
	if v, ok := a.str(string(semconv.RunStatusKey)); ok {
		requested := semconv.RunStatus(norm(v))
		sent, changed, ok := requested.Accepted()
		switch {
		case ok && sent != semconv.RunStatusRunning:
			req.Status = string(sent)
			if changed {
				reserved["requested_status"] = string(requested)
				b.log.add(Altered, "ezop.run.status "+string(requested)+" sent as "+string(sent))
			}
		default:
			b.log.add(Altered, "ezop.run.status not success, failed, partial or canceled: ignored")
		}
	}
	if m, ok := a.str(string(semconv.RunMessageKey)); ok {
		message = b.z.redactText(string(semconv.RunMessageKey), m)
	}
	if message != "" {
		m := b.z.str(message)
		req.Message = &m
	}
	req.Metadata = b.withReserved(b.metadata(root.Attributes(), nil), reserved)
	return req
}

// exceptionMessage returns the message of the span's first exception event.
func exceptionMessage(s sdktrace.ReadOnlySpan) string {
	for _, e := range s.Events() {
		if e.Name != exceptionEventName {
			continue
		}
		if m, ok := newAttrs(e.Attributes).str(keyExceptionMessage); ok {
			return m
		}
	}
	return ""
}

// object renders totals for run metadata; counts never reported are left
// out rather than shown as 0.
func (t Totals) object() wire.Object {
	o := wire.Object{
		"llm_calls":  t.LLMCalls,
		"tool_calls": t.ToolCalls,
		"errors":     t.Errors,
	}
	if t.inputReported {
		o["input_tokens"] = t.InputTokens
	}
	if t.outputReported {
		o["output_tokens"] = t.OutputTokens
	}
	if t.CostReported {
		o["cost"] = t.Cost
	}
	return o
}

// runLifecycle returns the agent_run_* events of a run, when enabled.
func (b *builder) runLifecycle(root sdktrace.ReadOnlySpan) []wire.EmitEventRequest {
	sc := root.SpanContext()
	endType := semconv.TypeAgentRunCompleted
	if root.Status().Code == codes.Error {
		endType = semconv.TypeAgentRunFailed
	}
	return []wire.EmitEventRequest{
		{ID: eventUUID(sc.TraceID(), sc.SpanID(), "run_started", 0), Name: b.z.str(root.Name()), Category: string(semconv.CategoryAgent), Type: string(semconv.TypeAgentRunStarted), Timestamp: formatTime(root.StartTime())},
		{ID: eventUUID(sc.TraceID(), sc.SpanID(), "run_ended", 0), Name: b.z.str(root.Name()), Category: string(semconv.CategoryAgent), Type: string(endType), Timestamp: formatTime(root.EndTime())},
	}
}
