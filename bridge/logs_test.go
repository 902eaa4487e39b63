package bridge_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/bridge"
	"github.com/ezopotel/ezop-otel-go/internal/fixtures"
	"github.com/ezopotel/ezop-otel-go/internal/fixtures/fixturecheck"
	"github.com/ezopotel/ezop-otel-go/internal/wire"
)

// translateWithRecords translates the spans of a recording with its log
// records, one RunState per local root: with late false the records come
// with the spans (they arrived first and waited), with late true after the
// spans were translated (they arrived after their span was sent). Every
// plan is checked against the contract.
func translateWithRecords(t *testing.T, capture bool, spans []sdktrace.ReadOnlySpan, records []bridge.LogRecord, late bool) ([]fixturecheck.Run, bridge.RecordCounts) {
	t.Helper()
	tr := bridge.NewTranslator(bridge.Config{CaptureContent: &capture, Owner: "fixtures"})
	tr.KeepSpanInfo() // as a sender taking log records does
	rootOf := localRoots(spans)
	var order []trace.SpanID
	groups := map[trace.SpanID][]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		r := rootOf[s.SpanContext().SpanID()]
		if groups[r] == nil {
			order = append(order, r)
		}
		groups[r] = append(groups[r], s)
	}
	recs := map[trace.SpanID][]bridge.LogRecord{}
	for _, r := range records {
		root, ok := rootOf[r.SpanID]
		if !ok {
			t.Fatalf("record of span %s, not recorded", r.SpanID)
		}
		recs[root] = append(recs[root], r)
	}
	var ps fixturecheck.Plans
	var total bridge.RecordCounts
	for _, root := range order {
		st := &bridge.RunState{}
		check := bridge.NewPlanValidator()
		apply := func(p bridge.RunPlan, first bridge.RunPlan) {
			v := p
			if len(v.Spans) == 0 {
				// A plan of records alone names no agent: its run exists.
				v.Agent, v.Start = first.Agent, first.Start
			}
			if errs := check(v); len(errs) > 0 {
				t.Fatalf("plan breaks the contract:\n  %s", strings.Join(errs, "\n  "))
			}
			for _, is := range p.Issues {
				if is.Kind == bridge.Dropped && is.Reason != bridge.ReasonContentNotCaptured {
					t.Errorf("dropped: %+v", is)
				}
			}
			ps.Add(root.String(), p)
		}
		var first bridge.RunPlan
		var c bridge.RecordCounts
		if late {
			first = tr.Translate(st, groups[root])
			apply(first, first)
			var p bridge.RunPlan
			p, c = tr.TranslateWithRecords(st, nil, recs[root])
			apply(p, first)
		} else {
			first, c = tr.TranslateWithRecords(st, groups[root], recs[root])
			apply(first, first)
		}
		total.Joined += c.Joined
		total.Events += c.Events
		total.NotCaptured += c.NotCaptured
	}
	return ps.Runs(), total
}

// The otel-openai recordings (the official instrumentation, content only
// in log records) translated with their records, arriving before their
// spans were translated (joined: every prompt and completion on the
// call's one llm_response) and after (events of their own on the stored
// chat span): the same calls, tokens and errors as the truth, every
// canary in the right llm event of the right span with capture on, no
// canary anywhere with capture off.
func TestRecordingsWithLogRecords(t *testing.T) {
	recs, err := fixtures.All()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, rec := range recs {
		if len(rec.LogBodies) == 0 {
			continue
		}
		n++
		spans, err := rec.Spans()
		if err != nil {
			t.Fatal(err)
		}
		lrs, err := rec.LogRecords()
		if err != nil {
			t.Fatal(err)
		}
		for _, late := range []bool{false, true} {
			for _, capture := range []bool{true, false} {
				name := rec.Framework + "/" + rec.Scenario + map[bool]string{true: "/late", false: "/joined"}[late] + map[bool]string{true: "/capture", false: "/nocapture"}[capture]
				t.Run(name, func(t *testing.T) {
					runs, counts := translateWithRecords(t, capture, spans, fixturecheck.RecordsOf(lrs), late)
					fixturecheck.Check(t, rec, runs, fixturecheck.Options{CaptureContent: capture, Logs: true, Records: lrs, Joined: !late})
					all, _ := json.Marshal(runs)
					if got := counts.Joined + counts.Events + counts.NotCaptured; got != len(lrs) {
						t.Errorf("records counted %+v, want %d in all", counts, len(lrs))
					}
					switch {
					case !capture:
						if counts.NotCaptured != len(lrs) {
							t.Errorf("capture off: %+v, want every record not captured", counts)
						}
						for _, c := range rec.Truth.Canaries {
							if strings.Contains(string(all), c) {
								t.Errorf("canary %s with capture off", c)
							}
						}
					case late:
						if counts.Events != len(lrs) {
							t.Errorf("late: %+v, want every record an event of its own", counts)
						}
					default:
						if counts.Joined != len(lrs) {
							t.Errorf("joined: %+v, want every record joined", counts)
						}
					}
				})
			}
		}
	}
	if n == 0 {
		t.Fatal("no recording with log records")
	}
}

// A chat span with its records joined: one llm_response with its tokens
// once, the prompt in its input messages (roles in order, tool message
// JSON decoded), the choice in its output, the record count in metadata.
func TestRecordsJoinTheLLMResponse(t *testing.T) {
	rec, err := fixtures.Load("otel-openai", "chat_tools")
	if err != nil {
		t.Fatal(err)
	}
	spans, _ := rec.Spans()
	lrs, _ := rec.LogRecords()
	runs, _ := translateWithRecords(t, true, spans, fixturecheck.RecordsOf(lrs), false)
	var llm []fixturecheck.Event
	for _, e := range runs[0].Events {
		if e.Category == "llm" {
			llm = append(llm, e)
		}
	}
	if len(llm) != 2 || llm[0].Type != "llm_response" || llm[1].Type != "llm_response" {
		t.Fatalf("llm events %+v, want the two llm_response", llm)
	}
	second := llm[1]
	msgs, _ := second.Input["messages"].([]any)
	var roles []string
	for _, m := range msgs {
		roles = append(roles, m.(map[string]any)["role"].(string))
	}
	if strings.Join(roles, ",") != "system,user,assistant,tool,tool" {
		t.Errorf("input roles %v", roles)
	}
	tool := msgs[3].(map[string]any)
	if content, ok := tool["content"].(map[string]any); !ok || content["city"] != "EZCANARY_otel_openai_toolargs_103" {
		t.Errorf("tool message %v: content not decoded", tool)
	}
	out, _ := second.Output["messages"].([]any)
	if len(out) != 1 || out[0].(map[string]any)["finish_reason"] != "stop" || !strings.Contains(out[0].(map[string]any)["content"].(string), "completion_107") {
		t.Errorf("output %v", second.Output)
	}
	if second.Metadata["otel_log_records"] != float64(6) || second.Metadata["input_tokens"] != float64(140) {
		t.Errorf("metadata %v", second.Metadata)
	}
}

// record builds a GenAI record of span sc.
func record(sc trace.SpanContext, name string, body attribute.Value, attrs ...attribute.KeyValue) bridge.LogRecord {
	return bridge.LogRecord{
		Time: time.Unix(1700000000, 0), SeverityNumber: 9, EventName: name, Body: body,
		Attributes: attrs, TraceID: sc.TraceID(), SpanID: sc.SpanID(), Scope: "test",
	}
}

// spansOf makes a root "agent" and a child with attrs, ended.
func spansOf(childName string, attrs ...attribute.KeyValue) (root, child sdktrace.ReadOnlySpan) {
	tid := trace.TraceID{1, 2, 3}
	rootSC := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled})
	childSC := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	t0 := time.Unix(1700000000, 0)
	stubs := tracetest.SpanStubs{
		{Name: "agent", SpanContext: rootSC, StartTime: t0, EndTime: t0.Add(time.Second)},
		{Name: childName, SpanContext: childSC, Parent: rootSC, StartTime: t0, EndTime: t0.Add(500 * time.Millisecond), Attributes: attrs},
	}.Snapshots()
	return stubs[0], stubs[1]
}

func eventsOf(p bridge.RunPlan) []wire.EmitEventRequest {
	out := append([]wire.EmitEventRequest(nil), p.Events...)
	for _, c := range p.ChildRuns {
		out = append(out, c.Plan.Events...)
	}
	return out
}

func text(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Records on a tool span go to its tool events; a record that matches no
// event is an event of its own on the span, with parent_span_id; a record
// without a span, or of a span not in the run, is an event of the run; a
// record that is not a GenAI event is a system event whose body is sent
// with capture on only.
func TestRecordPlacement(t *testing.T) {
	root, tool := spansOf("execute_tool lookup", attribute.String("gen_ai.operation.name", "execute_tool"), attribute.String("gen_ai.tool.name", "lookup"))
	sc := tool.SpanContext()
	noSpan := trace.NewSpanContext(trace.SpanContextConfig{TraceID: sc.TraceID()})
	other := trace.NewSpanContext(trace.SpanContextConfig{TraceID: sc.TraceID(), SpanID: trace.SpanID{9}})
	records := []bridge.LogRecord{
		record(sc, "gen_ai.tool.message", attribute.MapValue(attribute.String("id", "call_1"), attribute.String("content", "RESULT-CANARY"))),
		record(sc, "gen_ai.choice", attribute.MapValue(attribute.String("finish_reason", "stop"), attribute.Int("index", 0))),
		record(noSpan, "gen_ai.user.message", attribute.MapValue(attribute.String("content", "RUN-CANARY"))),
		record(other, "gen_ai.user.message", attribute.MapValue(attribute.String("content", "LOST-CANARY"))),
		record(sc, "", attribute.StringValue("BODY-CANARY"), attribute.String("level", "info")),
	}
	for _, capture := range []bool{true, false} {
		tr := bridge.NewTranslator(bridge.Config{CaptureContent: &capture, Owner: "o"})
		p, c := tr.TranslateWithRecords(&bridge.RunState{}, []sdktrace.ReadOnlySpan{root, tool}, records)
		if errs := bridge.NewPlanValidator()(p); len(errs) > 0 {
			t.Fatalf("contract: %v", errs)
		}
		toolID := bridge.SpanUUID(sc.TraceID(), sc.SpanID())
		rootID := bridge.SpanUUID(sc.TraceID(), root.SpanContext().SpanID())
		byName := map[string][]wire.EmitEventRequest{}
		for _, e := range eventsOf(p) {
			byName[e.Name] = append(byName[e.Name], e)
		}
		if !capture {
			if c.NotCaptured != 4 || c.Events != 1 {
				t.Errorf("capture off: %+v, want 4 not captured and the log line an event", c)
			}
			if strings.Contains(text(p), "CANARY") {
				t.Errorf("content with capture off: %s", text(p))
			}
			continue
		}
		if c.Joined != 1 || c.Events != 4 {
			t.Errorf("counts %+v, want 1 joined (the tool message), 4 events", c)
		}
		for _, e := range eventsOf(p) {
			if e.Type == "tool_call_completed" && !strings.Contains(text(e.Output), "RESULT-CANARY") {
				t.Errorf("tool message not in the tool's end event: %s", text(e))
			}
		}
		ch := byName["gen_ai.choice"]
		if len(ch) != 1 || ch[0].SpanID != toolID || ch[0].Category != "llm" || ch[0].Type != "" || ch[0].Metadata[bridge.ParentSpanIDKey] != rootID {
			t.Errorf("choice on a tool span: %s", text(ch))
		}
		users := byName["gen_ai.user.message"]
		if len(users) != 2 {
			t.Fatalf("user messages %s", text(users))
		}
		for _, u := range users {
			if u.SpanID != "" || u.Type != "llm_request" || !strings.Contains(text(u.Input), "CANARY") {
				t.Errorf("user message without a span in the run: %s", text(u))
			}
		}
		logs := byName["log"]
		if len(logs) != 1 || logs[0].Category != "system" || logs[0].Metadata["body"] != "BODY-CANARY" || logs[0].Metadata["level"] != "info" {
			t.Errorf("log line: %s", text(logs))
		}
		var altered bool
		for _, is := range p.Issues {
			altered = altered || is.Reason == bridge.ReasonRecordSpanNotInRun
		}
		if !altered {
			t.Errorf("the record of a span not in the run is not reported: %+v", p.Issues)
		}
	}
}

// Records pass the redaction hook under their body keys, and the size
// limit; the hook's drop leaves nothing.
func TestRecordRedactionAndLimits(t *testing.T) {
	root, chat := spansOf("chat m", attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", "m"))
	sc := chat.SpanContext()
	on := true
	var seen []string
	tr := bridge.NewTranslator(bridge.Config{CaptureContent: &on, Owner: "o", MaxValueBytes: 64,
		Redact: func(k string, v any) (any, bool) {
			seen = append(seen, k)
			if s, ok := v.(string); ok && strings.Contains(s, "SECRET") {
				return nil, false
			}
			return v, true
		}})
	records := []bridge.LogRecord{
		record(sc, "gen_ai.user.message", attribute.MapValue(attribute.String("content", "SECRET prompt"))),
		record(sc, "gen_ai.user.message", attribute.MapValue(attribute.String("content", strings.Repeat("long ", 100)))),
	}
	p, _ := tr.TranslateWithRecords(&bridge.RunState{}, []sdktrace.ReadOnlySpan{root, chat}, records)
	all := text(p)
	if strings.Contains(all, "SECRET") {
		t.Errorf("redacted content sent: %s", all)
	}
	if !strings.Contains(all, "truncated by ezop-otel-go") {
		t.Errorf("long content not truncated: %s", all)
	}
	if !strings.Contains(strings.Join(seen, ","), "content") {
		t.Errorf("the hook saw %v, want the body's content key", seen)
	}
}

// A record of a span of a child run (an agent invoking another agent),
// arriving after the span was translated, goes to that child run.
func TestLateRecordOfChildRun(t *testing.T) {
	tid := trace.TraceID{7}
	sc := func(id byte) trace.SpanContext {
		return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{id}, TraceFlags: trace.FlagsSampled})
	}
	t0 := time.Unix(1700000000, 0)
	stubs := tracetest.SpanStubs{
		{Name: "invoke_agent boss", SpanContext: sc(1), StartTime: t0, EndTime: t0.Add(3 * time.Second),
			Attributes: []attribute.KeyValue{attribute.String("gen_ai.operation.name", "invoke_agent"), attribute.String("gen_ai.agent.name", "boss")}},
		{Name: "invoke_agent helper", SpanContext: sc(2), Parent: sc(1), StartTime: t0, EndTime: t0.Add(2 * time.Second),
			Attributes: []attribute.KeyValue{attribute.String("gen_ai.operation.name", "invoke_agent"), attribute.String("gen_ai.agent.name", "helper")}},
		{Name: "chat m", SpanContext: sc(3), Parent: sc(2), StartTime: t0, EndTime: t0.Add(time.Second),
			Attributes: []attribute.KeyValue{attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", "m")}},
	}.Snapshots()
	on := true
	tr := bridge.NewTranslator(bridge.Config{CaptureContent: &on, Owner: "o"})
	tr.KeepSpanInfo()
	st := &bridge.RunState{}
	p := tr.Translate(st, stubs)
	if len(p.ChildRuns) != 1 {
		t.Fatalf("%d child runs, want helper's", len(p.ChildRuns))
	}
	late, c := tr.TranslateWithRecords(st, nil, []bridge.LogRecord{
		record(sc(3), "gen_ai.choice", attribute.MapValue(attribute.String("finish_reason", "stop"), attribute.KeyValue{Key: "message", Value: attribute.MapValue(attribute.String("content", "late answer"))})),
	})
	if c.Events != 1 || len(late.Events) != 0 || len(late.ChildRuns) != 1 || len(late.ChildRuns[0].Plan.Events) != 1 {
		t.Fatalf("late record: %+v %s", c, text(late))
	}
	ev := late.ChildRuns[0].Plan.Events[0]
	var own wire.EmitEventRequest
	for _, e := range p.ChildRuns[0].Plan.Events {
		if e.Type == "llm_response" {
			own = e
		}
	}
	if ev.SpanID != bridge.SpanUUID(tid, trace.SpanID{3}) || ev.SpanID != own.SpanID || ev.Metadata[bridge.ParentSpanIDKey] != own.Metadata[bridge.ParentSpanIDKey] {
		t.Errorf("event %s, want on the span of %s, with its parent_span_id", text(ev), text(own))
	}
}
