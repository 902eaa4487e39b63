package bridge

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

// FuzzTranslate derives a configuration, a resource, a span tree (ids,
// parents, kinds, statuses, times), attributes of every OTel type and span
// events from the input, translates the spans in one to three parts with one
// RunState, and checks:
//
//   - no panic;
//   - every request of every plan passes the contract validator;
//   - every span is sent, is the run, or is counted as a duplicate;
//   - every span event is sent under its derived id or counted as over
//     MaxEventsPerSpan;
//   - a span sent without its OTel parent is reported as re-parented;
//   - a plan without issues carries every attribute, name and time exactly
//     (so anything dropped or altered shows in plan.Issues).
func FuzzTranslate(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := decodeFuzzInput(data)
		checkFuzzInput(t, in)
	})
}

// fuzzSeeds complement the corpus in testdata/fuzz/FuzzTranslate.
var fuzzSeeds = []string{
	"",
	"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f",
	strings.Repeat("\x03\x11\x07\x02\x05\x01\x09\x04\x06\x08\x0a", 20),
	strings.Repeat("\xff\x80\x41\x13\x37", 60),
}

// fuzzInput is one decoded fuzz case.
type fuzzInput struct {
	cfg   Config
	parts [][]tracetest.SpanStub
}

// fz reads choices from fuzz bytes; past the end every choice is 0.
type fz struct {
	b []byte
	i int
	// clean restricts choices to input needing no change, so that plans
	// without issues (checked for faithfulness) are common.
	clean bool
}

func (f *fz) byte() byte {
	if f.i >= len(f.b) {
		return 0
	}
	c := f.b[f.i]
	f.i++
	return c
}

func (f *fz) n(max int) int { return int(f.byte()) % max }

func (f *fz) u64() uint64 {
	var buf [8]byte
	for i := range buf {
		buf[i] = f.byte()
	}
	return binary.LittleEndian.Uint64(buf[:])
}

func (f *fz) pick(list []string) string { return list[f.n(len(list))] }

var (
	fuzzSpanKeys = []string{
		"gen_ai.operation.name", "openinference.span.kind", "traceloop.span.kind", "ezop.span.category",
		"gen_ai.tool.name", "gen_ai.request.model", "gen_ai.response.model", "llm.model_name", "gen_ai.provider.name",
		"gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt",
		"llm.token_count.completion", "llm.usage.total_tokens", "gen_ai.usage.cache_read.input_tokens",
		"gen_ai.usage.cost", "llm.cost.total", "gen_ai.response.finish_reasons",
		"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
		"gen_ai.tool.call.arguments", "gen_ai.tool.call.result", "llm.input_messages.0.message.role",
		"llm.input_messages.1.message.content", "llm.output_messages.0.message.content", "gen_ai.prompt.0.content",
		"gen_ai.completion.0.role", "input.value", "output.value", "http.request.method", "db.system", "file.path",
		"rpc.system", "http.route", "ezop.run.status", "ezop.run.message", "ezop.run.user_id", "ezop.run.trigger_type",
		"ezop.run.trigger_id", "gen_ai.retrieval.documents", "gen_ai.data_source.id", "otel", "totals",
		"requested_status", "app.secret", "app.mask", "app.hook", "app.x", "content", "ezop_otel_removed_keys",
		"gen_ai.agent.name", "ezop.agent.name", "ezop.agent.owner", "ezop.agent.version",
	}
	fuzzEventKeys = []string{
		"ezop.event.category", "ezop.event.type", "ezop.event.subtype", "ezop.event.iteration_id",
		"ezop.event.input", "ezop.event.output", "ezop.event.error", "exception.type", "exception.message",
		"exception.stacktrace", "gen_ai.prompt", "gen_ai.completion", "content", "message", "app.secret",
		"app.mask", "app.hook", "app.y", "otel.dropped_attributes",
	}
	fuzzEventNames = []string{
		"exception", "gen_ai.user.message", "gen_ai.system.message", "gen_ai.choice", "gen_ai.assistant.message",
		"gen_ai.client.inference.operation.details", "gen_ai.tool.message", "gen_ai.content.prompt",
		"gen_ai.content.completion", "note", "",
	}
	fuzzResourceKeys = []string{
		"ezop.agent.name", "gen_ai.agent.name", "service.name", "ezop.agent.owner", "service.namespace",
		"ezop.agent.version", "service.version", "ezop.agent.runtime", "ezop.agent.description",
		"ezop.agent.default_permissions", "ezop.agent.permissions", "ezop.agent.changelog",
	}
	fuzzStrings = []string{
		"chat", "text_completion", "generate_content", "embeddings", "execute_tool", "retrieval", "search_memory",
		"create_memory", "delete_memory", "plan", "invoke_agent", "LLM", "TOOL", "RETRIEVER", "tool", "llm",
		"memory", "reasoning", "agent", "error", "system", "user", "error_raised", "llm_response", "llm_request",
		"tool_call_started", "cost", "cost_calculated", "reasoning_plan", "http", "timeout", "bogus", "partial",
		"canceled", "success", "failed", "running", "api", "cron", "unknown_service:x", "unknown_service",
		"0B9E7F6A-4C1D-4E2F-8A3B-5C6D7E8F9A0B", "12", "1e999", "-5", "2147483648", "3.0",
		`{"a":[1,2,{"b":null}]}`, `[{"role":"user","content":"hi"}]`, `{"n":1e999,"m":-1e400}`,
		`[` + strings.Repeat("9", 400) + `]`, nestJSON(40), nestJSON(3), `"quoted"`, "", " ",
		"\xff\xfe", "日本語🚀", "\x00", "<&>", "a\u2028b",
	}
)

// fuzzCleanStrings are the fuzzStrings the translation sends unchanged
// wherever they appear.
var fuzzCleanStrings = func() []string {
	var out []string
	for _, s := range fuzzStrings {
		if utf8.ValidString(s) && !strings.Contains(s, "1e999") && !strings.Contains(s, "999999") && len(s) < 100 {
			out = append(out, s)
		}
	}
	return out
}()

func (f *fz) str() string {
	if f.clean {
		return f.pick(fuzzCleanStrings)
	}
	switch f.n(6) {
	case 0, 1, 2:
		return f.pick(fuzzStrings)
	case 3:
		n := f.n(24)
		b := make([]byte, n)
		for i := range b {
			b[i] = f.byte()
		}
		return string(b)
	case 4:
		return strings.Repeat(f.pick(fuzzStrings)+"é", 1+f.n(64)*8)
	}
	return ""
}

func (f *fz) key(keys []string) string {
	if f.n(8) == 0 {
		return f.str()
	}
	k := f.pick(keys)
	if f.clean && fuzzNeedsChange(k) {
		return "app.clean"
	}
	return k
}

// fuzzNeedsChange says which keys make the translation report an issue
// for most values: left out of clean inputs.
func fuzzNeedsChange(k string) bool {
	switch k {
	case "otel", "totals", "requested_status", "app.secret", "app.hook", "ezop.event.category", "ezop.event.type",
		"ezop.event.subtype", "ezop.event.iteration_id":
		return true
	}
	return strings.HasPrefix(k, "ezop.run.") || strings.HasPrefix(k, "ezop.span.")
}

func (f *fz) float() float64 {
	if f.clean {
		return float64(f.n(200))/4 - 10
	}
	switch f.n(8) {
	case 0:
		return math.NaN()
	case 1:
		return math.Inf(1)
	case 2:
		return math.Inf(-1)
	case 3:
		return math.Float64frombits(f.u64())
	case 4:
		return -0.0
	case 5:
		return math.MaxFloat64
	}
	return float64(f.n(200)) / 4
}

func (f *fz) int() int64 {
	switch f.n(5) {
	case 0:
		return int64(f.u64())
	case 1:
		return math.MaxInt32 + int64(f.n(3)) - 1
	case 2:
		return -int64(f.n(10))
	}
	return int64(f.n(200))
}

func (f *fz) value(depth int) attribute.Value {
	switch f.n(14) {
	case 0:
		return attribute.BoolValue(f.n(2) == 1)
	case 1, 2:
		return attribute.Int64Value(f.int())
	case 3:
		return attribute.Float64Value(f.float())
	case 4, 5, 6:
		return attribute.StringValue(f.str())
	case 7:
		return attribute.BoolSliceValue([]bool{f.n(2) == 1, true})
	case 8:
		return attribute.Int64SliceValue([]int64{f.int(), f.int()})
	case 9:
		return attribute.Float64SliceValue([]float64{f.float(), f.float()})
	case 10:
		return attribute.StringSliceValue([]string{f.str(), f.str()})
	case 11:
		b := make([]byte, f.n(8))
		for i := range b {
			b[i] = f.byte()
		}
		return attribute.ByteSliceValue(b)
	case 12:
		if depth > 50 {
			return attribute.Value{}
		}
		n := f.n(4)
		vs := make([]attribute.Value, n)
		for i := range vs {
			vs[i] = f.value(depth + 1)
		}
		if n == 1 && f.n(2) == 0 && !f.clean {
			// Deep chains: nest many levels cheaply.
			for range f.n(60) {
				vs = []attribute.Value{attribute.SliceValue(vs...)}
			}
		}
		return attribute.SliceValue(vs...)
	case 13:
		if depth > 50 {
			return attribute.Value{}
		}
		n := f.n(4)
		kvs := make([]attribute.KeyValue, n)
		for i := range kvs {
			kvs[i] = attribute.KeyValue{Key: attribute.Key(f.key([]string{"role", "content", "parts", "k"})), Value: f.value(depth + 1)}
		}
		return attribute.MapValue(kvs...)
	}
	return attribute.Value{} // EMPTY
}

func (f *fz) attrs(keys []string, max int) []attribute.KeyValue {
	n := f.n(max + 1)
	kvs := make([]attribute.KeyValue, n)
	for i := range kvs {
		kvs[i] = attribute.KeyValue{Key: attribute.Key(f.key(keys)), Value: f.value(0)}
	}
	return kvs
}

func (f *fz) time() time.Time {
	if f.clean {
		return t0.Add(time.Duration(f.byte()) * 100 * time.Millisecond)
	}
	switch f.n(12) {
	case 0:
		return time.Time{}
	case 1:
		return time.Date(0, 3, 1, 0, 0, 0, 0, time.UTC)
	case 2:
		return time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	case 3:
		return time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	case 4:
		return time.Unix(0, int64(f.u64()))
	}
	return t0.Add(time.Duration(int8(f.byte())) * 100 * time.Millisecond)
}

func (f *fz) sid() trace.SpanID {
	if f.n(16) == 0 && !f.clean {
		return trace.SpanID{}
	}
	return spanID(uint64(1 + f.n(10)))
}

func decodeFuzzInput(data []byte) fuzzInput {
	f := &fz{b: data}
	var in fuzzInput
	cfg := &in.cfg
	f.clean = f.n(3) == 0
	switch f.n(3) {
	case 1:
		cfg.CaptureContent = capture(true)
	case 2:
		cfg.CaptureContent = capture(false)
	}
	cfg.LifecycleEvents = f.n(2) == 1
	cfg.MaxValueBytes = []int{0, 1, 16, 40, 200}[f.n(5)]
	cfg.MaxPayloadBytes = []int{0, 64, 300, 4096}[f.n(4)]
	cfg.MaxEventsPerSpan = []int{0, 1, 2, 5}[f.n(4)]
	cfg.Owner = []string{"", "cfg-owner"}[f.n(2)]
	if f.clean {
		cfg.MaxValueBytes, cfg.MaxPayloadBytes, cfg.Owner = 0, 0, "cfg-owner"
	}
	if f.n(2) == 1 {
		cfg.Redact = fuzzRedact
	}

	res := resource.NewSchemaless(f.attrs(fuzzResourceKeys, 4)...)
	if f.clean {
		cfg.CaptureContent, cfg.MaxEventsPerSpan = capture(true), 0
		res = resource.NewSchemaless(semconv.AgentName("bot"), semconv.AgentVersion("1"), attribute.String("app.env", f.str()))
	}
	nParts := 1 + f.n(3)
	in.parts = make([][]tracetest.SpanStub, nParts)
	nSpans := 1 + f.n(8)
	for i := range nSpans {
		s := tracetest.SpanStub{
			Name:     f.str(),
			SpanKind: trace.SpanKind(f.n(6)),
			Resource: res,
		}
		id := f.sid()
		if i == 0 && f.n(4) != 0 {
			id = spanID(rootID) // usually a proper root first
		}
		if f.clean {
			id = spanID(uint64(i + 1))
		}
		s.SpanContext = trace.NewSpanContext(trace.SpanContextConfig{TraceID: testTraceID, SpanID: id, TraceFlags: trace.FlagsSampled})
		switch p := f.n(8); {
		case f.clean && i > 0:
			s.Parent = trace.NewSpanContext(trace.SpanContextConfig{TraceID: testTraceID, SpanID: spanID(uint64(1 + f.n(i)))})
		case f.clean:
			// the root
		case i == 0 && p < 6:
			// no parent
		case p == 0:
			// no parent: another local root
		case p == 1:
			s.Parent = trace.NewSpanContext(trace.SpanContextConfig{TraceID: testTraceID, SpanID: f.sid(), Remote: true})
		case p == 2:
			s.Parent = s.SpanContext // its own parent
		default:
			s.Parent = trace.NewSpanContext(trace.SpanContextConfig{TraceID: testTraceID, SpanID: f.sid()})
		}
		s.StartTime = f.time()
		s.EndTime = s.StartTime.Add(time.Duration(int8(f.byte())) * 10 * time.Millisecond)
		if f.clean {
			s.EndTime = s.StartTime.Add(time.Duration(f.byte()) * 10 * time.Millisecond)
		} else if f.n(6) == 0 {
			s.EndTime = f.time()
		}
		s.Status = sdktrace.Status{Code: codes.Code(f.n(3)), Description: f.str()}
		s.Attributes = f.attrs(fuzzSpanKeys, 6)
		if f.n(5) == 0 {
			// An invocation of another agent: a child run.
			s.Attributes = append(s.Attributes,
				attribute.String("gen_ai.operation.name", "invoke_agent"),
				attribute.String("gen_ai.agent.name", f.pick([]string{"researcher", "writer", "bot", f.str()})))
		}
		for range f.n(4) {
			e := sdktrace.Event{Name: f.pick(fuzzEventNames), Time: f.time(), Attributes: f.attrs(fuzzEventKeys, 4)}
			if f.n(4) == 0 {
				e.Name = f.str()
			}
			if f.n(4) == 0 {
				e.DroppedAttributeCount = 1 + f.n(3)
			}
			s.Events = append(s.Events, e)
		}
		if f.n(4) == 0 {
			s.DroppedAttributes, s.DroppedEvents = f.n(3), f.n(3)
		}
		part := f.n(nParts)
		in.parts[part] = append(in.parts[part], s)
	}
	return in
}

// fuzzRedact drops keys naming secrets, masks keys naming masks, and
// answers keys naming the hook with values no JSON or database holds.
func fuzzRedact(key string, v any) (any, bool) {
	switch {
	case strings.Contains(key, "secret"):
		return nil, false
	case strings.Contains(key, "mask"):
		return "***", true
	case strings.Contains(key, "hook"):
		if len(key)%2 == 0 {
			return map[string]any{"nan": math.NaN(), "s": "a\x00\xff"}, true
		}
		return []any{"a\x00", map[string]any{"\xff": 1e300 * 10}, deep(100)}, true
	}
	return v, true
}

// checkFuzzInput checks the fuzz properties on in and returns how many of
// its plans had no issues (and so were checked for faithfulness).
func checkFuzzInput(t *testing.T, in fuzzInput) (faithful, childRuns int) {
	tr := NewTranslator(in.cfg)
	budget := tr.cfg.MaxEventsPerSpan
	var st RunState
	var root sdktrace.ReadOnlySpan // the run's root, once translated
	c := newPlanChecker()
	for partNo, part := range in.parts {
		rootBefore := st.RootSeen()
		p := tr.Translate(&st, snapshots(part...))
		if errs := c.check(p); len(errs) > 0 {
			t.Fatalf("part %d breaks the contract:\n  %s\ninput: %s", partNo, strings.Join(errs, "\n  "), describe(in))
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("part %d: %s\nissues: %+v\ninput: %s", partNo, fmt.Sprintf(format, args...), p.Issues, describe(in))
		}

		// The first occurrence of each id is the one translated.
		first := map[trace.SpanID]sdktrace.ReadOnlySpan{}
		for _, s := range snapshots(part...) {
			if _, ok := first[s.SpanContext().SpanID()]; !ok {
				first[s.SpanContext().SpanID()] = s
			}
		}
		newRoot := !rootBefore && st.RootSeen()
		if newRoot {
			root = first[p.RootSpanID]
		}
		dups := issueCount(p, Dropped, "duplicate span id")
		spans, events := flattenRuns(p)
		childRuns += len(p.ChildRuns)
		// The root is a span of its run, like the others.
		if got := len(spans) + dups; got != len(part) {
			fail("%d spans in, %d accounted for (root %v, %d sent, %d duplicates)", len(part), got, newRoot, len(spans), dups)
		}
		if newRoot && (len(p.Spans) == 0 || !p.Spans[0].Root || p.Spans[0].OTelSpanID != p.RootSpanID || p.Spans[0].Create.ParentID != "") {
			fail("a new root must be the run's first span, at top level")
		}

		// No object is larger than MaxPayloadBytes.
		if msg := payloadOverLimit(p, tr.cfg.MaxPayloadBytes); msg != "" {
			fail("%s", msg)
		}

		// Every span event is sent or counted.
		type sent struct {
			s   sdktrace.ReadOnlySpan
			sid string
		}
		var translated []sent
		for _, rs := range spans {
			translated = append(translated, sent{first[rs.op.OTelSpanID], rs.op.Create.ID})
		}
		byID := map[string]int{}
		for i, e := range events {
			byID[e.ID] = i
		}
		over := 0
		for _, ts := range translated {
			for i, oe := range ts.s.Events() {
				if i >= budget {
					over++
					continue
				}
				j, ok := byID[eventUUID(testTraceID, ts.s.SpanContext().SpanID(), "event", i)]
				if !ok {
					fail("event %d of span %v not sent", i, ts.s.SpanContext().SpanID())
				}
				if e := events[j]; e.SpanID != ts.sid {
					fail("event %q on span %q, want %q", oe.Name, e.SpanID, ts.sid)
				}
			}
		}
		if got := issueCount(p, Dropped, "MaxEventsPerSpan"); got != over {
			fail("%d events over MaxEventsPerSpan, %d counted", over, got)
		}

		// Parents: the OTel parent, or run level and reported.
		for _, rs := range spans {
			op := rs.op
			s := first[op.OTelSpanID]
			par := s.Parent()
			// The root of a child run is the invoking span, a span of
			// the parent run: its children are top-level in the child
			// run.
			local := par.IsValid() && !par.IsRemote() && !(rs.child && par.SpanID() == rs.runRoot)
			if op.Create.ParentID != "" {
				if !local || par.SpanID() == s.SpanContext().SpanID() || op.Create.ParentID != SpanUUID(testTraceID, par.SpanID()) {
					fail("span %v sent under %s, OTel parent %v", op.OTelSpanID, op.Create.ParentID, par.SpanID())
				}
			} else if local && issueCount(p, Altered, "run level") == 0 {
				fail("span %v moved to run level from parent %v without an issue", op.OTelSpanID, par.SpanID())
			}
		}

		if len(p.Issues) == 0 && len(p.ChildRuns) == 0 {
			faithful++
			checkFaithful(t, p, first, root, fail)
			for _, ts := range translated {
				checkFaithfulEvents(ts.s, p, byID, fail)
			}
		}
	}
	return faithful, childRuns
}

// runSpan is a span operation of a plan or of one of its child runs, with
// the OTel id of that run's root (the invoking span for a child run).
type runSpan struct {
	op      SpanOp
	runRoot trace.SpanID
	child   bool
}

// flattenRuns lists the spans and events of p and of its child runs.
func flattenRuns(p RunPlan) ([]runSpan, []wire.EmitEventRequest) {
	var spans []runSpan
	for _, op := range p.Spans {
		spans = append(spans, runSpan{op, p.RootSpanID, false})
	}
	events := append([]wire.EmitEventRequest(nil), p.Events...)
	for _, c := range p.ChildRuns {
		for _, op := range c.Plan.Spans {
			spans = append(spans, runSpan{op, c.Key, true})
		}
		events = append(events, c.Plan.Events...)
	}
	return spans, events
}

// payloadOverLimit names an object of p (or of its child runs) that
// encodes to more than limit bytes, or returns "".
func payloadOverLimit(p RunPlan, limit int) string {
	for _, c := range p.ChildRuns {
		if m := payloadOverLimit(c.Plan, limit); m != "" {
			return "child run " + c.Key.String() + ": " + m
		}
	}
	check := func(where string, o map[string]any) string {
		if n := len(jsonOf(o)); o != nil && n > limit {
			return fmt.Sprintf("%s: %d bytes over MaxPayloadBytes %d: %.300s", where, n, limit, jsonOf(o))
		}
		return ""
	}
	var msgs []string
	for _, s := range p.Spans {
		msgs = append(msgs, check("span metadata", s.Create.Metadata))
	}
	for _, e := range p.Events {
		w := "event " + e.Category + "/" + e.Type
		msgs = append(msgs, check(w+" input", e.Input), check(w+" output", e.Output), check(w+" metadata", e.Metadata), check(w+" error", e.Error))
	}
	if p.End != nil {
		msgs = append(msgs, check("run metadata", p.End.Metadata))
	}
	for _, m := range msgs {
		if m != "" {
			return m
		}
	}
	return ""
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// skipFaithful says which attributes a plan without issues may still carry
// changed: content (decoded from JSON text when captured), values the
// redaction hook replaced by design, and keys the translation consumes.
func skipFaithful(k string) bool {
	return isContentKey(k) || strings.Contains(k, "mask") || strings.Contains(k, "hook")
}

// checkFaithful checks that a plan reporting no issues sends spans and the
// run exactly as recorded.
func checkFaithful(t *testing.T, p RunPlan, first map[trace.SpanID]sdktrace.ReadOnlySpan, root sdktrace.ReadOnlySpan, fail func(string, ...any)) {
	t.Helper()
	check := func(where string, m map[string]any, kvs []attribute.KeyValue) {
		last := map[string]attribute.Value{}
		for _, kv := range kvs {
			last[string(kv.Key)] = kv.Value
		}
		for k, v := range last {
			if skipFaithful(k) {
				continue
			}
			got, ok := m[k]
			if !ok {
				fail("%s: attribute %q silently dropped", where, k)
			}
			if !sameJSON(got, refValue(v)) {
				fail("%s: attribute %q silently changed: %.200s, want %.200s", where, k, jsonOf(got), jsonOf(refValue(v)))
			}
		}
	}
	for _, op := range p.Spans {
		s := first[op.OTelSpanID]
		if op.Create.Name != s.Name() {
			fail("span name %q silently changed to %q", s.Name(), op.Create.Name)
		}
		if op.Create.StartTime != formatTime(s.StartTime()) {
			fail("span start %v silently sent as %q", s.StartTime(), op.Create.StartTime)
		}
		if !s.EndTime().Before(s.StartTime()) && op.Close.EndTime != formatTime(s.EndTime()) {
			fail("span end %v silently sent as %q", s.EndTime(), op.Close.EndTime)
		}
		if !op.Root { // the root's attributes are the run's metadata (checked below)
			check("span "+op.OTelSpanID.String(), op.Create.Metadata, s.Attributes())
		}
	}
	if p.End != nil {
		check("run", p.End.Metadata, root.Attributes())
	}
}

func checkFaithfulEvents(s sdktrace.ReadOnlySpan, p RunPlan, byID map[string]int, fail func(string, ...any)) {
	for i, oe := range s.Events() {
		j, ok := byID[eventUUID(testTraceID, s.SpanContext().SpanID(), "event", i)]
		if !ok {
			continue // over budget: counted, so not faithful-checked
		}
		e := p.Events[j]
		if oe.Name != "" && e.Name != oe.Name {
			fail("event name %q silently changed to %q", oe.Name, e.Name)
		}
		if e.Timestamp != formatTime(oe.Time) {
			fail("event time %v silently sent as %q", oe.Time, e.Timestamp)
		}
		last := map[string]attribute.Value{}
		for _, kv := range oe.Attributes {
			last[string(kv.Key)] = kv.Value
		}
		for k, v := range last {
			if skipFaithful(k) || strings.HasPrefix(k, "ezop.") || strings.HasPrefix(k, "exception.") || k == "gen_ai.prompt" || k == "gen_ai.completion" {
				continue
			}
			got, ok := e.Metadata[k]
			if !ok {
				fail("event %q: attribute %q silently dropped", oe.Name, k)
			}
			if !sameJSON(got, refValue(v)) {
				fail("event %q: attribute %q silently changed: %.200s, want %.200s", oe.Name, k, jsonOf(got), jsonOf(refValue(v)))
			}
		}
	}
}

// refValue is the JSON an attribute value should be sent as when nothing
// needed changing.
func refValue(v attribute.Value) any {
	switch v.Type() {
	case attribute.BYTESLICE:
		return base64.StdEncoding.EncodeToString(v.AsByteSlice())
	case attribute.SLICE:
		vs := v.AsSlice()
		out := make([]any, len(vs))
		for i, e := range vs {
			out[i] = refValue(e)
		}
		return out
	case attribute.MAP:
		out := map[string]any{}
		for _, kv := range v.AsMap() {
			out[string(kv.Key)] = refValue(kv.Value)
		}
		return out
	case attribute.EMPTY:
		return nil
	}
	return v.AsInterface()
}

// describe summarises a fuzz input for failure messages.
func describe(in fuzzInput) string {
	var b strings.Builder
	fmt.Fprintf(&b, "cfg{capture=%v lifecycle=%v maxValue=%d maxPayload=%d maxEvents=%d owner=%q redact=%v}",
		in.cfg.CaptureContent != nil && *in.cfg.CaptureContent, in.cfg.LifecycleEvents, in.cfg.MaxValueBytes,
		in.cfg.MaxPayloadBytes, in.cfg.MaxEventsPerSpan, in.cfg.Owner, in.cfg.Redact != nil)
	for i, part := range in.parts {
		fmt.Fprintf(&b, "\n part %d:", i)
		for _, s := range part {
			fmt.Fprintf(&b, "\n  span %s parent %s remote=%v name=%.40q start=%s end=%s status=%v attrs=%.300s events=%d",
				s.SpanContext.SpanID(), s.Parent.SpanID(), s.Parent.IsRemote(), s.Name,
				s.StartTime.Format(time.RFC3339Nano), s.EndTime.Format(time.RFC3339Nano), s.Status.Code, fmt.Sprint(s.Attributes), len(s.Events))
			for _, e := range s.Events {
				fmt.Fprintf(&b, "\n    event %.40q at %s attrs=%.300s dropped=%d", e.Name, e.Time.Format(time.RFC3339Nano), fmt.Sprint(e.Attributes), e.DroppedAttributeCount)
			}
		}
	}
	return b.String()
}

// TestFuzzPropertiesRun runs the fuzz properties over pseudo-random inputs
// in every ordinary test run, beyond the committed corpus
// (BRIDGE_FUZZ_RUNS=n runs n of them instead of 300).
func TestFuzzPropertiesRun(t *testing.T) {
	rng := uint64(0x9e3779b97f4a7c15)
	n := 300
	if v, err := strconv.Atoi(os.Getenv("BRIDGE_FUZZ_RUNS")); err == nil {
		n = v
	}
	if testing.Short() {
		n = 50
	}
	faithful, childRuns := 0, 0
	for i := range n {
		data := make([]byte, 64+i%512)
		for j := range data {
			rng ^= rng << 13
			rng ^= rng >> 7
			rng ^= rng << 17
			data[j] = byte(rng)
		}
		in := decodeFuzzInput(data)
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			f, c := checkFuzzInput(t, in)
			faithful, childRuns = faithful+f, childRuns+c
		})
		if t.Failed() {
			t.Logf("input bytes: %q", data)
			return
		}
	}
	// The faithfulness property must actually be exercised.
	if faithful < n/20 {
		t.Errorf("only %d of %d inputs produced a plan without issues", faithful, n)
	}
	// So must the child runs of invoked agents.
	if childRuns == 0 {
		t.Errorf("no input produced a child run")
	}
	t.Logf("%d plans without issues checked for faithfulness, %d child runs", faithful, childRuns)
}
