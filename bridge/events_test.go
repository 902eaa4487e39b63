package bridge

import (
	"math"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

// translateEvent puts one OTel event on a child span and returns the Ezop
// event it became, with the plan.
func translateEvent(t *testing.T, cfg Config, e sdktrace.Event) (wire.EmitEventRequest, RunPlan) {
	t.Helper()
	p := translate(t, cfg, rootStub(), withEvents(child(2, "step"), e))
	evs := eventsOn(p, uuidOf(2))
	if len(evs) != 1 {
		t.Fatalf("want 1 event, got %s", dump(evs))
	}
	if evs[0].ID != eventUUID(testTraceID, spanID(2), "event", 0) {
		t.Errorf("event id = %s, want the derived id", evs[0].ID)
	}
	// Every event of a span with a parent names it; the tests below look
	// at the rest.
	return withoutParentKey(t, evs[0], uuidOf(rootID)), p
}

func TestEventClassification(t *testing.T) {
	ezop := func(c, ty, st string) []attribute.KeyValue {
		kv := []attribute.KeyValue{attribute.String("ezop.event.category", c)}
		if ty != "" {
			kv = append(kv, attribute.String("ezop.event.type", ty))
		}
		if st != "" {
			kv = append(kv, attribute.String("ezop.event.subtype", st))
		}
		return kv
	}
	cases := []struct {
		name             string
		event            string
		attrs            []attribute.KeyValue
		cat, typ, subtyp string
		issue            string
	}{
		{"explicit", "decided", ezop("reasoning", "reasoning_decision", "react"), "reasoning", "reasoning_decision", "react", ""},
		{"explicit category only", "x", ezop("user", "", ""), "user", "", "", ""},
		{"explicit beats exception", "exception", ezop("tool", "tool_retry", "timeout"), "tool", "tool_retry", "timeout", ""},
		{"explicit beats genai", "gen_ai.choice", ezop("cost", "cost_calculated", ""), "cost", "cost_calculated", "", ""},
		{"invalid pair falls back", "x", ezop("llm", "tool_call_started", ""), "system", "", "", "invalid ezop.event classification"},
		{"invalid pair on exception falls back to error", "exception", ezop("llm", "tool_call_started", ""), "error", "error_raised", "", "invalid ezop.event classification"},
		{"invalid pair on genai falls back", "gen_ai.user.message", ezop("cost", "llm_request", ""), "llm", "llm_request", "", "invalid ezop.event classification"},
		{"unknown category", "x", ezop("misc", "", ""), "system", "", "", "invalid ezop.event classification"},
		{"unknown type", "x", ezop("llm", "llm_stream", ""), "system", "", "", "invalid ezop.event classification"},
		{"unknown subtype", "x", ezop("llm", "llm_request", "grpc"), "system", "", "", "invalid ezop.event classification"},
		{"exception", "exception", nil, "error", "error_raised", "", ""},
		{"gen_ai.user.message", "gen_ai.user.message", nil, "llm", "llm_request", "", ""},
		{"gen_ai.system.message", "gen_ai.system.message", nil, "llm", "llm_request", "", ""},
		{"gen_ai.content.prompt", "gen_ai.content.prompt", nil, "llm", "llm_request", "", ""},
		{"gen_ai.choice", "gen_ai.choice", nil, "llm", "llm_response", "", ""},
		{"gen_ai.assistant.message", "gen_ai.assistant.message", nil, "llm", "llm_response", "", ""},
		{"gen_ai.client.inference.operation.details", "gen_ai.client.inference.operation.details", nil, "llm", "llm_response", "", ""},
		{"gen_ai.content.completion", "gen_ai.content.completion", nil, "llm", "llm_response", "", ""},
		{"gen_ai.tool.message", "gen_ai.tool.message", nil, "tool", "tool_call_completed", "", ""},
		{"other", "cache miss", []attribute.KeyValue{attribute.String("key", "k1")}, "system", "", "", ""},
		{"genai names are exact", "GEN_AI.CHOICE", nil, "system", "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, p := translateEvent(t, Config{}, event(tc.event, tc.attrs...))
			if e.Category != tc.cat || e.Type != tc.typ || e.Subtype != tc.subtyp {
				t.Errorf("classified %s/%s/%s, want %s/%s/%s", e.Category, e.Type, e.Subtype, tc.cat, tc.typ, tc.subtyp)
			}
			if e.Name != tc.event {
				t.Errorf("name = %q, want %q", e.Name, tc.event)
			}
			if e.Timestamp != formatTime(t0.Add(100*time.Millisecond)) {
				t.Errorf("timestamp = %q", e.Timestamp)
			}
			if tc.issue == "" {
				wantNoIssues(t, p)
				// Used ezop.event.* keys are not repeated in metadata.
				for k := range e.Metadata {
					if k == "ezop.event.category" || k == "ezop.event.type" || k == "ezop.event.subtype" {
						t.Errorf("consumed key %s in metadata", k)
					}
				}
			} else {
				wantIssue(t, p, Altered, tc.issue)
				// The rejected classification is kept for the user to see.
				if e.Metadata["ezop.event.category"] == nil {
					t.Errorf("rejected ezop.event.category not kept in metadata: %s", dump(e.Metadata))
				}
			}
			if tc.name == "other" && e.Metadata["key"] != "k1" {
				t.Errorf("attributes not in metadata: %s", dump(e.Metadata))
			}
		})
	}
}

func TestEventException(t *testing.T) {
	e, p := translateEvent(t, Config{}, event("exception",
		attribute.String("exception.type", "*net.OpError"),
		attribute.String("exception.message", "dial tcp: refused"),
		attribute.String("exception.stacktrace", "goroutine 1 [running]:\nmain.main()"),
		attribute.Bool("exception.escaped", true),
	))
	wantJSON(t, "error", e.Error, map[string]any{"type": "*net.OpError", "message": "dial tcp: refused", "stacktrace": "goroutine 1 [running]:\nmain.main()"})
	for _, k := range []string{"exception.type", "exception.message", "exception.stacktrace"} {
		if _, ok := e.Metadata[k]; ok {
			t.Errorf("%s repeated in metadata", k)
		}
	}
	if e.Metadata["exception.escaped"] != true {
		t.Errorf("other exception attributes lost: %s", dump(e.Metadata))
	}
	wantNoIssues(t, p)
	if got := p.End.Metadata["totals"].(map[string]any)["errors"]; got != 1 {
		t.Errorf("errors total = %v", got)
	}

	// Without attributes the error object is empty but still an object.
	e, _ = translateEvent(t, Config{}, event("exception"))
	if e.Error == nil || len(e.Error) != 0 {
		t.Errorf("bare exception error = %v", e.Error)
	}
}

func TestEventPayloadsAreObjects(t *testing.T) {
	cases := []struct {
		name string
		val  attribute.Value
		want any
	}{
		{"json object", attribute.StringValue(`{"q":"weather","n":2}`), map[string]any{"q": "weather", "n": 2}},
		{"json array", attribute.StringValue(`[1,2,3]`), map[string]any{"value": []int{1, 2, 3}}},
		{"json string", attribute.StringValue(`"hi"`), map[string]any{"value": "hi"}},
		{"json number", attribute.StringValue(`42`), map[string]any{"value": 42}},
		{"json bool", attribute.StringValue(`true`), map[string]any{"value": true}},
		{"plain text", attribute.StringValue(`what is the weather`), map[string]any{"value": "what is the weather"}},
		{"broken json", attribute.StringValue(`{"a":`), map[string]any{"value": `{"a":`}},
		{"int attribute", attribute.IntValue(7), map[string]any{"value": 7}},
		{"bool attribute", attribute.BoolValue(false), map[string]any{"value": false}},
		{"string slice", attribute.StringSliceValue([]string{"a", "b"}), map[string]any{"value": []string{"a", "b"}}},
		{"map attribute", attribute.MapValue(attribute.String("city", "Paris"), attribute.Int("days", 3)), map[string]any{"city": "Paris", "days": 3}},
		{"slice attribute", attribute.SliceValue(attribute.StringValue("x"), attribute.IntValue(1)), map[string]any{"value": []any{"x", 1}}},
	}
	for _, tc := range cases {
		for _, key := range []string{"input", "output", "error"} {
			t.Run(tc.name+"/"+key, func(t *testing.T) {
				e, p := translateEvent(t, Config{}, event("step",
					attribute.String("ezop.event.category", "tool"),
					attribute.KeyValue{Key: attribute.Key("ezop.event." + key), Value: tc.val}))
				got := map[string]wire.Object{"input": e.Input, "output": e.Output, "error": e.Error}[key]
				wantJSON(t, key, got, tc.want)
				if _, ok := e.Metadata["ezop.event."+key]; ok {
					t.Errorf("ezop.event.%s repeated in metadata", key)
				}
				wantNoIssues(t, p)
			})
		}
	}
	// The semconv helpers' encoding round-trips.
	e, _ := translateEvent(t, Config{}, event("step", semconv.EventCategoryAttr(semconv.CategoryUser),
		semconv.EventInput(map[string]any{"text": "hello"}), semconv.EventOutput([]int{1})))
	wantJSON(t, "helper input", e.Input, map[string]any{"text": "hello"})
	wantJSON(t, "helper output", e.Output, map[string]any{"value": []int{1}})
}

func TestEventIterationID(t *testing.T) {
	cases := []struct {
		name string
		val  attribute.Value
		want int64 // -1: not set
	}{
		{"zero", attribute.IntValue(0), 0},
		{"max", attribute.Int64Value(math.MaxInt32), math.MaxInt32},
		{"integral float", attribute.Float64Value(3), 3},
		{"numeric string", attribute.StringValue("12"), 12},
		{"negative", attribute.IntValue(-1), -1},
		{"above int32", attribute.Int64Value(math.MaxInt32 + 1), -1},
		{"huge", attribute.Int64Value(math.MaxInt64), -1},
		{"fraction", attribute.Float64Value(1.5), -1},
		{"text", attribute.StringValue("first"), -1},
		{"NaN", attribute.Float64Value(math.NaN()), -1},
		{"bool", attribute.BoolValue(true), -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, p := translateEvent(t, Config{}, event("step", attribute.KeyValue{Key: semconv.EventIterationIDKey, Value: tc.val}))
			if tc.want < 0 {
				if e.IterationID != nil {
					t.Errorf("iteration_id = %d, want none", *e.IterationID)
				}
				wantIssue(t, p, Altered, "iteration_id")
				if _, ok := e.Metadata["ezop.event.iteration_id"]; !ok {
					t.Errorf("rejected iteration id not kept in metadata")
				}
				return
			}
			if e.IterationID == nil || *e.IterationID != tc.want {
				t.Errorf("iteration_id = %v, want %d", e.IterationID, tc.want)
			}
			if _, ok := e.Metadata["ezop.event.iteration_id"]; ok {
				t.Errorf("used iteration id repeated in metadata")
			}
			wantNoIssues(t, p)
		})
	}
}

func TestEventsOfRootAndChildren(t *testing.T) {
	p := translate(t, Config{},
		withEvents(rootStub(), event("run note"), event("run note 2")),
		withEvents(child(2, "a"), event("a note")),
		withEvents(stub(3, 2, "b"), event("b note")),
	)
	// The root is the run's top-level span: its events are on it.
	want := map[string]string{"run note": uuidOf(rootID), "run note 2": uuidOf(rootID), "a note": uuidOf(2), "b note": uuidOf(3)}
	if len(p.Events) != len(want) {
		t.Fatalf("events: %s", dump(p.Events))
	}
	ids := map[string]bool{}
	for _, e := range p.Events {
		if e.SpanID != want[e.Name] {
			t.Errorf("event %q on span %q, want %q", e.Name, e.SpanID, want[e.Name])
		}
		ids[e.ID] = true
	}
	if len(ids) != len(want) {
		t.Error("event ids collide")
	}
	// Ids are derived: the same input gives the same ids.
	again := translate(t, Config{},
		withEvents(rootStub(), event("run note"), event("run note 2")),
		withEvents(child(2, "a"), event("a note")),
		withEvents(stub(3, 2, "b"), event("b note")),
	)
	for _, e := range again.Events {
		if !ids[e.ID] {
			t.Errorf("event id %s not stable", e.ID)
		}
	}
}

func TestEventDetails(t *testing.T) {
	t.Run("empty name", func(t *testing.T) {
		e, _ := translateEvent(t, Config{}, event(""))
		if e.Name == "" {
			t.Error("empty event name sent")
		}
	})
	t.Run("dropped attribute count", func(t *testing.T) {
		ev := event("x", attribute.String("k", "v"))
		ev.DroppedAttributeCount = 4
		e, _ := translateEvent(t, Config{}, ev)
		if e.Metadata["otel.dropped_attributes"] != 4 || e.Metadata["k"] != "v" {
			t.Errorf("metadata = %s", dump(e.Metadata))
		}
	})
	t.Run("attribute named like the dropped count", func(t *testing.T) {
		ev := event("x", attribute.String("otel.dropped_attributes", "mine"))
		ev.DroppedAttributeCount = 1
		e, p := translateEvent(t, Config{}, ev)
		if e.Metadata["otel.dropped_attributes"] != 1 {
			t.Errorf("metadata = %s", dump(e.Metadata))
		}
		wantIssue(t, p, Altered, "reserved")
	})
	t.Run("no attributes no metadata", func(t *testing.T) {
		e, _ := translateEvent(t, Config{}, event("x"))
		if e.Metadata != nil {
			t.Errorf("metadata = %s", dump(e.Metadata))
		}
	})
	for _, tc := range []struct {
		name string
		at   time.Time
	}{{"zero time", time.Time{}}, {"year 10000", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}} {
		t.Run(tc.name, func(t *testing.T) {
			ev := event("x")
			ev.Time = tc.at
			e, p := translateEvent(t, Config{}, ev)
			if e.Timestamp != "" {
				t.Errorf("timestamp = %q, want omitted", e.Timestamp)
			}
			wantIssue(t, p, Altered, "event time")
		})
	}
}

func TestMaxEventsPerSpan(t *testing.T) {
	var evs []sdktrace.Event
	for i := range 5 {
		evs = append(evs, event("e"+strconv.Itoa(i)))
	}
	p := translate(t, Config{MaxEventsPerSpan: 3}, withEvents(rootStub(), evs...), withEvents(child(2, "a"), evs...))
	for _, sid := range []string{uuidOf(rootID), uuidOf(2)} {
		got := eventsOn(p, sid)
		if len(got) != 3 || got[0].Name != "e0" || got[2].Name != "e2" {
			t.Errorf("span %q events: %s", sid, dump(got))
		}
	}
	if n := issueCount(p, Dropped, "MaxEventsPerSpan"); n != 4 {
		t.Errorf("dropped events counted %d, want 4", n)
	}
	// Synthesized events are not span events: they are never cut.
	p = translate(t, Config{MaxEventsPerSpan: 1}, rootStub(),
		withStatus(withEvents(child(2, "tool", attribute.String("gen_ai.tool.name", "t")), evs...), codes.Error, "x"))
	got := eventsOn(p, uuidOf(2))
	if len(eventsOf(got, semconv.CategoryTool, "*")) != 2 || len(eventsOf(got, semconv.CategoryError, "*")) != 1 {
		t.Errorf("synthesized events cut by MaxEventsPerSpan: %s", dump(got))
	}
	// The default is 1000.
	many := make([]sdktrace.Event, 1005)
	for i := range many {
		many[i] = event("n")
	}
	p = translate(t, Config{}, rootStub(), withEvents(child(2, "a"), many...))
	if n := len(eventsOn(p, uuidOf(2))); n != DefaultMaxEventsPerSpan {
		t.Errorf("%d events sent, want %d", n, DefaultMaxEventsPerSpan)
	}
	if n := issueCount(p, Dropped, "MaxEventsPerSpan"); n != 5 {
		t.Errorf("dropped %d, want 5", n)
	}
}
