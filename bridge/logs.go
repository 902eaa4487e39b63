package bridge

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

// Log records.
//
// The OpenTelemetry GenAI conventions record message content as log
// records ("events") parented to the span of the call by trace and span
// id: gen_ai.system.message, gen_ai.user.message, gen_ai.assistant.message
// and gen_ai.tool.message (the call's input), gen_ai.choice (its output),
// and gen_ai.client.inference.operation.details (both, in attributes).
// Official instrumentation such as @opentelemetry/instrumentation-openai
// records prompts and completions only there.
//
// TranslateWithRecords translates log records with the spans they belong
// to: a record whose span is in the part becomes content of that span's
// own Ezop event (the llm_response of a model call, the tool events of a
// tool call), so that a model call stays one llm_response with its tokens
// once. A record that matches no event of its span, or whose span was
// translated before, becomes an event of its own on its span (with
// parent_span_id like every event); a record without a span, or whose
// span is not in the run, an event of the run. Content capture, the
// redaction hook and the size limits apply as to span attributes: record
// bodies are content (with capture off, no body reaches Ezop in any
// field), and attribute keys of the content table (content.go) are too.

// LogRecord is one OpenTelemetry log record, as the translation reads it.
// Body and attribute values use the attribute package's kinds (MAP and
// SLICE included), as the OpenTelemetry Go logs SDK does.
type LogRecord struct {
	Time, ObservedTime time.Time
	// SeverityNumber is OTel's severity number, 0 (unset) to 24.
	SeverityNumber int
	SeverityText   string
	// EventName is the record's event name; when empty, its event.name
	// attribute names the event (as older SDKs record it).
	EventName         string
	Body              attribute.Value
	Attributes        []attribute.KeyValue
	TraceID           trace.TraceID
	SpanID            trace.SpanID
	Scope             string // the instrumentation scope's name
	DroppedAttributes int
}

// eventNameKey is the attribute that names a record's event when the
// record's own event name field is empty.
const eventNameKey = "event.name"

// RecordEventName returns the event name of r: its EventName, else its
// event.name attribute, else "".
func RecordEventName(r *LogRecord) string {
	if r.EventName != "" {
		return r.EventName
	}
	for _, kv := range r.Attributes {
		if string(kv.Key) == eventNameKey && kv.Value.Type() == attribute.STRING {
			return kv.Value.AsString()
		}
	}
	return ""
}

// IsGenAIRecord reports whether r is an event of the GenAI conventions:
// its event name starts with "gen_ai.".
func IsGenAIRecord(r *LogRecord) bool {
	return strings.HasPrefix(RecordEventName(r), "gen_ai.")
}

// recordKind is what one GenAI content event stands for.
type recordKind struct {
	role string // the role of the message it carries
	// output marks a response of the model (gen_ai.choice).
	output bool
	// details: gen_ai.client.inference.operation.details, whose content
	// is in its attributes (gen_ai.input.messages, …), input and output.
	details bool
	// attr is the attribute holding the content of the v1.26-era content
	// events (gen_ai.content.prompt / completion).
	attr string
}

// recordKinds are the GenAI events whose only information is message
// content (the call's facts are on its span).
var recordKinds = map[string]recordKind{
	"gen_ai.system.message":                     {role: "system"},
	"gen_ai.user.message":                       {role: "user"},
	"gen_ai.assistant.message":                  {role: "assistant"},
	"gen_ai.tool.message":                       {role: "tool"},
	"gen_ai.choice":                             {role: "assistant", output: true},
	"gen_ai.client.inference.operation.details": {details: true},
	"gen_ai.content.prompt":                     {attr: "gen_ai.prompt"},
	"gen_ai.content.completion":                 {output: true, attr: "gen_ai.completion"},
}

// RecordCarriesNothing reports whether r is a GenAI content event (a
// message, a choice, the operation details) while content capture is off:
// its content is not forwarded and the facts of its call are on the span,
// so it has nothing to send.
func (t *Translator) RecordCarriesNothing(r *LogRecord) bool {
	if t.captureContent {
		return false
	}
	_, ok := recordKinds[RecordEventName(r)]
	return ok
}

// RecordCounts says what one translation made of its log records. Every
// record is counted once.
type RecordCounts struct {
	// Joined records became content of an event of their span.
	Joined int
	// Events records became an event of their own (on their span, or on
	// the run).
	Events int
	// NotCaptured records carried only content, left out with capture off.
	NotCaptured int
	// Placed says, for each record in order, which Ezop event carries it
	// (the zero RecordPlace for a record that went nowhere): what a
	// sender that must not send a record twice across restarts keeps.
	Placed []RecordPlace
}

// RecordPlace is where a log record went: the id of the Ezop event that
// carries its content, and Own when that is an event of the record's own
// (else an event of its span, such as the llm_response of its model call).
type RecordPlace struct {
	EventID string
	Own     bool
}

// recordJoin holds the records of one translation while its spans are
// translated (RunState.join).
type recordJoin struct {
	records []LogRecord
	bySpan  map[trace.SpanID][]int
	used    []bool
	counts  RecordCounts
	// dups tells apart identical records in the event ids.
	dups map[string]int
}

// spanInfo is what a RunState keeps of a translated span for its late
// log records: its parent (zero for a top-level span) and what it is.
type spanInfo struct {
	parent trace.SpanID
	cat    uint8
}

const (
	infoOther uint8 = iota
	infoLLM
	infoTool
)

// KeepSpanInfo makes the translation remember, in each RunState, what log
// records that arrive after their span need of it: its parent (for the
// event's parent_span_id) and whether it is a model or a tool call, a few
// dozen bytes per span for as long as the state lives. Off until called
// (a sender that takes no log records keeps ids only); a sender calls it
// once it takes log records, before their spans are translated
// (exporter.LogExporter and ExportLogRecords do). TranslateWithRecords
// turns it on too. Safe for concurrent use.
func (t *Translator) KeepSpanInfo() { t.keepSpans.Store(true) }

// noteSpan remembers, for late log records, the parent under which span s
// was planned (parentID, its Ezop id, empty at top level) and its class.
func (b *builder) noteSpan(s sdktrace.ReadOnlySpan, class spanClass, parentID string) {
	if b.state == nil || !b.t.keepSpans.Load() {
		return
	}
	var in spanInfo
	if parentID != "" {
		in.parent = s.Parent().SpanID()
	}
	switch class.category {
	case semconv.CategoryLLM:
		in.cat = infoLLM
	case semconv.CategoryTool:
		in.cat = infoTool
	}
	if in == (spanInfo{}) {
		return // the default: nothing to keep
	}
	if b.state.info == nil {
		b.state.info = map[trace.SpanID]spanInfo{}
	}
	b.state.info[s.SpanContext().SpanID()] = in
}

// TranslateWithRecords is Translate with the log records of the run that
// arrived with spans or since its last translation (see the package
// comment on log records). spans may be empty: the records then go to
// spans translated before, or to the run. It returns the plan and what
// became of the records. The plan of records alone names no agent and no
// run start: its run exists already, and the sender only emits its events
// (with those of its ChildRuns, runs started before).
func (t *Translator) TranslateWithRecords(state *RunState, spans []sdktrace.ReadOnlySpan, records []LogRecord) (RunPlan, RecordCounts) {
	t.KeepSpanInfo()
	state.init()
	j := &recordJoin{records: records, bySpan: map[trace.SpanID][]int{}, used: make([]bool, len(records)), dups: map[string]int{}}
	j.counts.Placed = make([]RecordPlace, len(records))
	for i := range records {
		j.bySpan[records[i].SpanID] = append(j.bySpan[records[i].SpanID], i)
	}
	var plan RunPlan
	if len(spans) > 0 {
		state.join = j
		plan = t.Translate(state, spans)
		state.join = nil
	} else {
		plan = RunPlan{RootSpanID: state.run.rootID}
		if len(records) > 0 {
			plan.TraceID = records[0].TraceID
		}
	}
	log := &issueLog{}
	b := &builder{t: t, z: sanitizer{t: t, issues: log}, log: log, state: state, traceID: plan.TraceID}
	for i := range records {
		if !j.used[i] {
			b.lateRecord(&plan, j, i)
		}
	}
	plan.Issues = append(plan.Issues, log.issues()...)
	return plan, j.counts
}

// joinRecords adds the log records of span s (spanID its Ezop id) to out,
// the events of the span: content of its llm_response (a model call) or
// of its tool events (a tool call), else events of their own on the span.
func (b *builder) joinRecords(s sdktrace.ReadOnlySpan, class spanClass, spanID string, out []wire.EmitEventRequest) []wire.EmitEventRequest {
	if b.state == nil || b.state.join == nil {
		return out
	}
	j := b.state.join
	idx := j.bySpan[s.SpanContext().SpanID()]
	if len(idx) == 0 {
		return out
	}
	llm, toolStart, toolEnd := -1, -1, -1
	for i, ev := range out {
		switch {
		case class.category == semconv.CategoryLLM && ev.Category == string(semconv.CategoryLLM) && ev.Type == string(semconv.TypeLLMResponse) && llm < 0:
			llm = i
		case class.category == semconv.CategoryTool && ev.Type == string(semconv.TypeToolCallStarted) && toolStart < 0:
			toolStart = i
		case class.category == semconv.CategoryTool && (ev.Type == string(semconv.TypeToolCallCompleted) || ev.Type == string(semconv.TypeToolCallFailed)) && toolEnd < 0:
			toolEnd = i
		}
	}
	// Content gathered per target event, added once at the end.
	type gather struct {
		in, out         []any
		inObj, outObj   wire.Object
		records, target int
	}
	targets := map[int]*gather{}
	at := func(k int) *gather {
		g := targets[k]
		if g == nil {
			g = &gather{target: k}
			targets[k] = g
		}
		return g
	}
	cat := infoOther
	switch class.category {
	case semconv.CategoryLLM:
		cat = infoLLM
	case semconv.CategoryTool:
		cat = infoTool
	}
	for _, i := range idx {
		if j.used[i] {
			continue
		}
		j.used[i] = true
		r := &j.records[i]
		k, content := recordKinds[RecordEventName(r)]
		if content && !b.t.captureContent {
			b.notCaptured(j, r)
			continue
		}
		target := -1
		switch {
		case !content:
		case llm >= 0:
			target = llm
		case toolEnd >= 0 && k.role == "tool":
			target = toolEnd
		case toolStart >= 0 && !k.output && !k.details && k.attr == "":
			target = toolStart
		}
		if target < 0 {
			if ev, ok := b.recordEvent(j, i, spanID, cat); ok {
				out = append(out, ev)
			}
			continue
		}
		j.counts.Placed[i] = RecordPlace{EventID: out[target].ID}
		g := at(target)
		in, outObj, msg := b.recordContent(r, k)
		switch {
		case msg != nil && (k.output || target == toolEnd):
			g.out = append(g.out, msg)
		case msg != nil:
			g.in = append(g.in, msg)
		}
		g.inObj = mergeFields(g.inObj, in)
		g.outObj = mergeFields(g.outObj, outObj)
		g.records++
		j.counts.Joined++
	}
	for _, g := range targets {
		ev := &out[g.target]
		if len(g.in) > 0 || len(g.inObj) > 0 {
			ev.Input = b.z.fit(addContent(ev.Input, g.in, g.inObj))
		}
		if len(g.out) > 0 || len(g.outObj) > 0 {
			ev.Output = b.z.fit(addContent(ev.Output, g.out, g.outObj))
		}
		if ev.Metadata == nil {
			ev.Metadata = wire.Object{}
		}
		ev.Metadata[metaLogRecords] = g.records
		ev.Metadata = b.z.fit(ev.Metadata)
	}
	return out
}

// metaLogRecords counts, in the metadata of an event, the log records
// whose content it carries.
const metaLogRecords = "otel_log_records"

// addContent adds messages (under "messages", or "record_messages" when
// the span's attributes gave messages already) and the fields of obj that
// o lacks to o.
func addContent(o wire.Object, msgs []any, obj wire.Object) wire.Object {
	if o == nil {
		o = wire.Object{}
	}
	if len(msgs) > 0 {
		field := "messages"
		if _, taken := o[field]; taken {
			field = "record_messages"
		}
		if prev, ok := o[field].([]any); ok {
			msgs = append(prev, msgs...)
		}
		o[field] = msgs
	}
	return mergeFields(o, obj)
}

func mergeFields(o, add wire.Object) wire.Object {
	if len(add) == 0 {
		return o
	}
	if o == nil {
		o = wire.Object{}
	}
	for k, v := range add {
		if _, taken := o[k]; !taken {
			o[k] = v
		}
	}
	return o
}

// recordContent returns the content of GenAI content record r of kind k,
// with capture on: the message it carries (msg), or for the operation
// details and the content events, fields of the call's input and output.
func (b *builder) recordContent(r *LogRecord, k recordKind) (in, out wire.Object, msg map[string]any) {
	a := newAttrs(r.Attributes)
	switch {
	case k.details:
		return b.content(a, llmInputSources, ""), b.content(a, llmOutputSources, ""), nil
	case k.attr != "":
		field := "prompt"
		if k.output {
			field = "completion"
		}
		o := wire.Object{}
		if v, ok := a[k.attr]; ok {
			if val, keep := b.z.redact(k.attr, b.z.jsonish(v)); keep {
				o[field] = val
			}
		}
		if v, ok := b.bodyValue(r, "content"); ok {
			if _, taken := o[field]; !taken {
				o[field] = v
			}
		}
		if k.output {
			return nil, o, nil
		}
		return o, nil, nil
	}
	return nil, nil, b.recordMessage(r, k)
}

// recordMessage is the message a GenAI message record carries: the
// fields of its body (a choice's message lifted beside its finish reason
// and index), with the role it stands for; nil when the body is empty.
// Each field passes the redaction hook under its key.
func (b *builder) recordMessage(r *LogRecord, k recordKind) map[string]any {
	m := map[string]any{}
	switch r.Body.Type() {
	case attribute.EMPTY:
	case attribute.MAP:
		var lift map[string]any
		for _, kv := range r.Body.AsMap() {
			key := string(kv.Key)
			val, keep := b.z.redact(key, b.z.jsonish(kv.Value))
			if !keep {
				continue
			}
			if mm, ok := val.(map[string]any); ok && key == "message" {
				lift = mm
				continue
			}
			m[b.z.str(key)] = val
		}
		for key, v := range lift {
			if _, taken := m[key]; !taken {
				m[key] = v
			}
		}
	default:
		if v, ok := b.bodyValue(r, "content"); ok {
			m["content"] = v
		}
	}
	if len(m) == 0 {
		return nil
	}
	if _, ok := m["role"]; !ok && k.role != "" {
		m["role"] = k.role
	}
	return m
}

// bodyValue is the body of r as one value, through the redaction hook
// under key; false when there is none or the hook drops it.
func (b *builder) bodyValue(r *LogRecord, key string) (any, bool) {
	if r.Body.Type() == attribute.EMPTY {
		return nil, false
	}
	v, keep := b.z.redact(key, b.z.jsonish(r.Body))
	if !keep || v == nil {
		return nil, false
	}
	return v, true
}

func (b *builder) notCaptured(j *recordJoin, r *LogRecord) {
	j.counts.NotCaptured++
	if r.Body.Type() != attribute.EMPTY || hasContentAttr(r.Attributes) {
		b.log.add(Dropped, contentOffReason)
	}
}

func hasContentAttr(kvs []attribute.KeyValue) bool {
	for _, kv := range kvs {
		if isContentKey(string(kv.Key)) {
			return true
		}
	}
	return false
}

// Reasons of log records sent otherwise than on their span's events.
const (
	// ReasonRecordSpanNotInRun: a record whose span is not a translated
	// span of its run (it never reached the exporter, or was dropped)
	// becomes an event of the run.
	ReasonRecordSpanNotInRun = "log record: its span is not in its run: attached to the run"
)

// lateRecord makes record i, which no span of this translation took, an
// event of its own: on its span if the run translated it before (in the
// child run it went to), else on the run.
func (b *builder) lateRecord(plan *RunPlan, j *recordJoin, i int) {
	j.used[i] = true
	r := &j.records[i]
	if _, content := recordKinds[RecordEventName(r)]; content && !b.t.captureContent {
		b.notCaptured(j, r)
		return
	}
	st := b.state
	sid := r.SpanID
	spanID, parentID := "", ""
	child := trace.SpanID{}
	info := st.info[sid]
	if sid.IsValid() {
		owner, known := st.owner[sid]
		if !known && st.run.rootSeen && st.run.rootID == sid {
			known = true // the root
		}
		if known {
			spanID = SpanUUID(r.TraceID, sid)
			if info.parent.IsValid() {
				parentID = SpanUUID(r.TraceID, info.parent)
			}
			child = owner
		} else {
			b.log.add(Altered, ReasonRecordSpanNotInRun)
		}
	}
	cat := info.cat
	if spanID == "" {
		cat = infoOther
	}
	ev, ok := b.recordEvent(j, i, spanID, cat)
	if !ok {
		return
	}
	if parentID != "" {
		ev.Metadata = b.withReserved(ev.Metadata, wire.Object{ParentSpanIDKey: parentID})
	}
	if !child.IsValid() {
		plan.Events = append(plan.Events, ev)
		return
	}
	for k := range plan.ChildRuns {
		if plan.ChildRuns[k].Key == child {
			plan.ChildRuns[k].Plan.Events = append(plan.ChildRuns[k].Plan.Events, ev)
			return
		}
	}
	ch := st.children[child]
	if ch == nil {
		// Cannot happen (owner names a child run it made); the run
		// takes it.
		ev.SpanID = ""
		delete(ev.Metadata, ParentSpanIDKey)
		b.log.add(Altered, ReasonRecordSpanNotInRun)
		plan.Events = append(plan.Events, ev)
		return
	}
	plan.ChildRuns = append(plan.ChildRuns, ChildRun{Key: child, Parent: ch.parent,
		Plan: RunPlan{TraceID: plan.TraceID, Agent: ch.agent, RootSpanID: child, Events: []wire.EmitEventRequest{ev}}})
}

// recordEvent is the event of its own of record i, on the span spanID
// (empty: on the run), whose kind is cat: a GenAI message an llm event
// (llm_request for the call's input, no type for its output: a model call
// has one llm_response, its span's), a tool message on a tool span a tool
// event, any other record a system event. false when it has nothing to
// send (content only, capture off).
func (b *builder) recordEvent(j *recordJoin, i int, spanID string, cat uint8) (wire.EmitEventRequest, bool) {
	r := &j.records[i]
	name := RecordEventName(r)
	k, content := recordKinds[name]
	if content && !b.t.captureContent {
		b.notCaptured(j, r)
		return wire.EmitEventRequest{}, false
	}
	ev := wire.EmitEventRequest{
		ID:     b.recordID(j, r),
		SpanID: spanID,
		Name:   b.z.str(name),
	}
	j.counts.Placed[i] = RecordPlace{EventID: ev.ID, Own: true}
	if ev.Name == "" {
		ev.Name = "log"
	}
	when := r.Time
	if !validTime(when) {
		when = r.ObservedTime
	}
	ev.Timestamp = formatTime(when)
	consumed := map[string]bool{eventNameKey: true}
	if content {
		in, out, msg := b.recordContent(r, k)
		switch {
		case k.role == "tool" && cat == infoTool:
			ev.Category = string(semconv.CategoryTool)
			if msg != nil {
				out = addContent(out, []any{msg}, nil)
			}
		case k.output || k.details:
			ev.Category = string(semconv.CategoryLLM)
			if msg != nil {
				out = addContent(out, []any{msg}, nil)
			}
		default:
			ev.Category, ev.Type = string(semconv.CategoryLLM), string(semconv.TypeLLMRequest)
			if msg != nil {
				in = addContent(in, []any{msg}, nil)
			}
		}
		if len(in) > 0 {
			ev.Input = b.z.fit(in)
		}
		if len(out) > 0 {
			ev.Output = b.z.fit(out)
		}
		if k.attr != "" {
			consumed[k.attr] = true
		}
	} else {
		ev.Category = string(semconv.CategorySystem)
	}
	meta := b.metadata(r.Attributes, consumed)
	if !content && r.Body.Type() != attribute.EMPTY {
		if !b.t.captureContent {
			b.log.add(Dropped, contentOffReason)
		} else if v, ok := b.bodyValue(r, "body"); ok {
			if meta == nil {
				meta = wire.Object{}
			}
			if _, taken := meta["body"]; !taken {
				meta["body"] = v
			}
		}
	}
	ev.Metadata = b.withReserved(meta, wire.Object{"otel_log": b.recordInfo(r, spanID == "")})
	j.counts.Events++
	return ev, true
}

// recordInfo describes a record for the metadata of its event: severity,
// scope, and for an event of the run the span it named.
func (b *builder) recordInfo(r *LogRecord, runLevel bool) wire.Object {
	o := wire.Object{}
	if r.SeverityNumber != 0 {
		o["severity_number"] = r.SeverityNumber
	}
	if r.SeverityText != "" {
		o["severity_text"] = b.z.str(r.SeverityText)
	}
	if r.Scope != "" {
		o["scope"] = b.z.str(r.Scope)
	}
	if runLevel && r.SpanID.IsValid() {
		o["span_id"] = r.SpanID.String()
	}
	if r.DroppedAttributes > 0 {
		o["dropped_attributes"] = r.DroppedAttributes
	}
	return o
}

// RecordHash is a hash of what r holds (its times, severity, event name,
// body and attributes): the same for a record handed over again, as a
// Collector's queue replays a batch after a restart.
func RecordHash(r *LogRecord) uint64 {
	h := fnv.New64a()
	var buf [8]byte
	put := func(n int64) {
		binary.LittleEndian.PutUint64(buf[:], uint64(n))
		h.Write(buf[:])
	}
	put(r.Time.UnixNano())
	put(r.ObservedTime.UnixNano())
	put(int64(r.SeverityNumber))
	h.Write([]byte(r.EventName))
	h.Write([]byte{0})
	h.Write([]byte(r.Body.Emit()))
	h.Write([]byte{0})
	for _, kv := range r.Attributes {
		h.Write([]byte(kv.Key))
		h.Write([]byte{0})
		h.Write([]byte(kv.Value.Emit()))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// recordID derives the id of a record's event from what the record holds,
// so that a record handed over again (a Collector's queue replaying a
// batch after a restart) gets the same id; identical records of one
// translation are told apart by their position among themselves.
func (b *builder) recordID(j *recordJoin, r *LogRecord) string {
	key := "log/" + strconv.FormatUint(RecordHash(r), 16)
	n := j.dups[key]
	j.dups[key] = n + 1
	if n > math.MaxInt32 {
		n = math.MaxInt32
	}
	return eventUUID(r.TraceID, r.SpanID, key, n)
}
