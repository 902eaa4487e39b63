package bridge

import (
	"math/rand/v2"
	"regexp"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/semconv"
)

func TestSpanUUID(t *testing.T) {
	v5 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a := SpanUUID(testTraceID, spanID(2))
	if !v5.MatchString(a) {
		t.Errorf("SpanUUID = %q, want a lower-case hyphenated version-5 UUID", a)
	}
	if SpanUUID(testTraceID, spanID(2)) != a {
		t.Error("SpanUUID is not deterministic")
	}
	other := testTraceID
	other[15] ^= 1
	seen := map[string]string{a: "base"}
	for name, id := range map[string]string{
		"other span":  SpanUUID(testTraceID, spanID(3)),
		"other trace": SpanUUID(other, spanID(2)),
		"zero ids":    SpanUUID(trace.TraceID{}, trace.SpanID{}),
		"event id":    eventUUID(testTraceID, spanID(2), "event", 0),
		"event id 1":  eventUUID(testTraceID, spanID(2), "event", 1),
		"other kind":  eventUUID(testTraceID, spanID(2), "llm_response", 0),
	} {
		if !canonicalUUID.MatchString(id) {
			t.Errorf("%s: %q not canonical", name, id)
		}
		if prev, dup := seen[id]; dup {
			t.Errorf("%s and %s share id %s", name, prev, id)
		}
		seen[id] = name
	}
}

// The id derivation must never change: re-sent data would get new ids.
func TestSpanUUIDStable(t *testing.T) {
	got := SpanUUID(trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	again := SpanUUID(trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	if got != again {
		t.Fatal("not deterministic")
	}
	if want := stableSpanUUID; got != want {
		t.Errorf("SpanUUID changed: %s, want %s", got, want)
	}
}

// stableSpanUUID pins the derivation (namespace + trace id + span id).
const stableSpanUUID = "aa466224-6bd0-54ec-92e7-fcb537ede437"

func TestSpanTree(t *testing.T) {
	// root(1) ─ a(2) ─ b(3) ─ c(4) ─ d(5)
	//         └ e(6)
	stubs := []tracetest.SpanStub{
		stub(5, 4, "d"), stub(4, 3, "c"), stub(3, 2, "b"), stub(2, rootID, "a"), stub(6, rootID, "e"), rootStub(),
	}
	// Whatever order the spans come in, parents come first.
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20; i++ {
		rng.Shuffle(len(stubs), func(i, j int) { stubs[i], stubs[j] = stubs[j], stubs[i] })
		p := translate(t, Config{}, stubs...)
		wantNoIssues(t, p)
		if len(p.Spans) != 6 || !p.Spans[0].Root || p.Spans[0].OTelSpanID != spanID(rootID) {
			t.Fatalf("%d spans, want 6, the root first", len(p.Spans))
		}
		wantParent := map[uint64]string{rootID: "", 2: uuidOf(rootID), 6: uuidOf(rootID), 3: uuidOf(2), 4: uuidOf(3), 5: uuidOf(4)}
		for n, parent := range wantParent {
			op := spanOp(t, p, n)
			if op.Create.ParentID != parent {
				t.Errorf("span %d parent = %q, want %q", n, op.Create.ParentID, parent)
			}
			if op.Create.ID != uuidOf(n) {
				t.Errorf("span %d id = %s", n, op.Create.ID)
			}
		}
	}
}

func TestSpanFields(t *testing.T) {
	s := child(2, "tool call", attribute.String("app.key", "v"), attribute.Int64Slice("app.ids", []int64{1, 2}))
	s.SpanKind = trace.SpanKindClient
	s.Status = sdkStatus(codes.Error, "refused")
	s.InstrumentationScope = instrumentation.Scope{Name: "lib"}
	s.DroppedAttributes, s.DroppedEvents, s.DroppedLinks = 1, 2, 3
	s.StartTime = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.FixedZone("x", 3600))
	s.EndTime = s.StartTime.Add(time.Second)
	p := translate(t, Config{}, rootStub(), s)
	op := spanOp(t, p, 2)
	if op.Create.Name != "tool call" {
		t.Errorf("name = %q", op.Create.Name)
	}
	if op.Create.StartTime != "2025-03-01T11:00:00.123456789Z" || op.Close.EndTime != "2025-03-01T11:00:01.123456789Z" {
		t.Errorf("times = %s .. %s, want UTC RFC 3339 with nanoseconds", op.Create.StartTime, op.Close.EndTime)
	}
	m := op.Create.Metadata
	if m["app.key"] != "v" || !sameJSON(m["app.ids"], []int{1, 2}) {
		t.Errorf("attributes missing: %s", dump(m))
	}
	wantJSON(t, "otel", otelOf(t, m), map[string]any{
		"trace_id": testTraceID.String(), "span_id": spanID(2).String(), "parent_span_id": spanID(rootID).String(),
		"kind": "client", "status": "Error", "status_description": "refused", "scope": "lib",
		"dropped_attributes": 1, "dropped_events": 2, "dropped_links": 3,
	})
	// A classified span says so.
	p = translate(t, Config{}, rootStub(), child(3, "chat", attribute.String("gen_ai.operation.name", "chat")))
	if c := otelOf(t, spanOp(t, p, 3).Create.Metadata)["category"]; c != "llm" {
		t.Errorf("otel.category = %v", c)
	}
}

func TestSpanParentAnomalies(t *testing.T) {
	t.Run("unknown parent", func(t *testing.T) {
		p := translate(t, Config{}, rootStub(), stub(3, 99, "orphan"))
		op := spanOp(t, p, 3)
		if op.Create.ParentID != "" {
			t.Errorf("orphan parent = %q, want run level", op.Create.ParentID)
		}
		if got := otelOf(t, op.Create.Metadata)["parent_span_id"]; got != spanID(99).String() {
			t.Errorf("orphan keeps OTel parent %v in metadata", got)
		}
		wantIssue(t, p, Altered, "parent span not seen")
	})
	t.Run("own parent", func(t *testing.T) {
		p := translate(t, Config{}, rootStub(), stub(3, 3, "self"))
		if op := spanOp(t, p, 3); op.Create.ParentID != "" {
			t.Errorf("own-parent span parent = %q", op.Create.ParentID)
		}
		wantIssue(t, p, Altered, "own parent")
	})
	for _, size := range []int{2, 3, 5} {
		t.Run("cycle", func(t *testing.T) {
			var stubs []tracetest.SpanStub
			for i := 0; i < size; i++ {
				n := uint64(10 + i)
				parent := uint64(10 + (i+1)%size)
				stubs = append(stubs, stub(n, parent, "cyc"))
			}
			p := translate(t, Config{}, append(stubs, rootStub())...)
			if len(p.Spans) != size+1 {
				t.Fatalf("%d spans, want %d", len(p.Spans), size+1)
			}
			runLevel := 0
			for _, s := range p.Spans {
				if s.Create.ParentID == "" && !s.Root {
					runLevel++
				}
			}
			if runLevel != 1 {
				t.Errorf("%d spans of the cycle at run level, want 1", runLevel)
			}
			wantIssue(t, p, Altered, "cycle")
		})
	}
	t.Run("second local root is a run-level span", func(t *testing.T) {
		other := stub(4, 0, "other root")
		p := translate(t, Config{}, rootStub(), other, stub(5, 4, "under other"))
		if p.RootSpanID != spanID(rootID) {
			t.Fatalf("root = %v", p.RootSpanID)
		}
		if spanOp(t, p, 4).Create.ParentID != "" || spanOp(t, p, 5).Create.ParentID != uuidOf(4) {
			t.Errorf("second root tree misplaced: %s", dump(p.Spans))
		}
	})
}

func TestSpanTimes(t *testing.T) {
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	bc := time.Date(0, 6, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name       string
		start, end time.Time
		wantStart  string // "" = omitted (server clock)
		wantEnd    string // "start" = same as start; "any" = any valid time
		issue      string
	}{
		{"normal", t0, t0.Add(time.Second), formatTime(t0), formatTime(t0.Add(time.Second)), ""},
		{"zero length", t0, t0, formatTime(t0), formatTime(t0), ""},
		{"end before start", t0, t0.Add(-time.Second), formatTime(t0), formatTime(t0), "ends before it starts"},
		{"zero end", t0, time.Time{}, formatTime(t0), formatTime(t0), "span end time missing"},
		{"zero start", time.Time{}, t0, "", formatTime(t0), "span start time missing"},
		{"both zero", time.Time{}, time.Time{}, "", "any", "span start time missing"},
		{"end after year 9999", t0, far, formatTime(t0), formatTime(t0), "span end time missing or out of range"},
		{"start before year 1", bc, t0, "", formatTime(t0), "span start time missing or out of range"},
		{"both out of range", bc, far, "", "any", "out of range"},
		{"last representable", time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), "9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z", ""},
		{"rounds into year 10000", t0, time.Date(9999, 12, 31, 23, 59, 59, 999999500, time.UTC), formatTime(t0), formatTime(t0), "span end time missing or out of range"},
		{"first of year 1", time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), t0, "0001-01-01T00:00:00.000000001Z", formatTime(t0), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := child(2, "s")
			s.StartTime, s.EndTime = tc.start, tc.end
			p := translate(t, Config{}, rootStub(), s)
			op := spanOp(t, p, 2)
			if op.Create.StartTime != tc.wantStart {
				t.Errorf("start = %q, want %q", op.Create.StartTime, tc.wantStart)
			}
			if tc.wantEnd != "any" && op.Close.EndTime != tc.wantEnd {
				t.Errorf("end = %q, want %q", op.Close.EndTime, tc.wantEnd)
			}
			if tc.issue == "" {
				wantNoIssues(t, p)
			} else {
				wantIssue(t, p, Altered, tc.issue)
			}
		})
	}
}

// Spans of one run arrive in several batches; the state carries what was
// translated.
func TestSpansAcrossTranslations(t *testing.T) {
	t.Run("late spans after the root", func(t *testing.T) {
		plans, st := translateParts(t, Config{},
			[]tracetest.SpanStub{rootStub(), child(2, "a", attribute.String("gen_ai.operation.name", "chat"), attribute.Int("gen_ai.usage.input_tokens", 10))},
			[]tracetest.SpanStub{stub(3, 2, "late grandchild"), child(4, "late child", attribute.String("gen_ai.operation.name", "chat"), attribute.Int("gen_ai.usage.input_tokens", 5))},
		)
		// The run ends once, with the root: Ezop stamps a run's end time
		// when it is patched, so a late part must not patch it again.
		if plans[0].End == nil || plans[1].End != nil {
			t.Fatal("the root's part must end the run, and a late part must not")
		}
		if got := spanOp(t, plans[1], 3).Create.ParentID; got != uuidOf(2) {
			t.Errorf("late grandchild parent = %q, want the span of the first part", got)
		}
		if got := spanOp(t, plans[1], 4).Create.ParentID; got != uuidOf(rootID) {
			t.Errorf("late child of the root parent = %q, want the root span", got)
		}
		wantJSON(t, "totals at the end", plans[0].End.Metadata["totals"], map[string]any{"llm_calls": 1, "input_tokens": 10, "tool_calls": 0, "errors": 0})
		if st.Totals().LLMCalls != 2 || !st.RootSeen() {
			t.Errorf("state = %+v", st.Totals())
		}
		// The run-level events of the root are sent once.
		if len(plans[1].Events) != 1 || plans[1].Events[0].SpanID != uuidOf(4) {
			t.Errorf("part 2 events: %s", dump(plans[1].Events))
		}
		wantNoIssues(t, plans[0])
		wantNoIssues(t, plans[1])
	})
	t.Run("root after its children", func(t *testing.T) {
		root := withEvents(rootStub(semconv.RunMessage("done")), event("note"))
		plans, st := translateParts(t, Config{},
			[]tracetest.SpanStub{child(2, "a"), stub(3, 2, "b")},
			[]tracetest.SpanStub{root},
		)
		p0, p1 := plans[0], plans[1]
		if p0.End != nil || p0.RootSpanID.IsValid() {
			t.Errorf("run ended before its root span arrived")
		}
		if p0.TraceID != testTraceID {
			t.Errorf("trace id without root = %v", p0.TraceID)
		}
		if len(p0.Spans) != 2 || spanOp(t, p0, 2).Create.ParentID != "" || spanOp(t, p0, 3).Create.ParentID != uuidOf(2) {
			t.Errorf("children without root: %s", dump(p0.Spans))
		}
		if p1.End == nil || p1.RootSpanID != spanID(rootID) || len(p1.Spans) != 1 || !p1.Spans[0].Root {
			t.Errorf("root part: end=%v root=%v spans=%d", p1.End != nil, p1.RootSpanID, len(p1.Spans))
		}
		if p1.End != nil && (p1.End.Message == nil || *p1.End.Message != "done") {
			t.Errorf("end message = %v", p1.End.Message)
		}
		if len(p1.Events) != 1 || p1.Events[0].SpanID != uuidOf(rootID) {
			t.Errorf("root events: %s, want on the root span", dump(p1.Events))
		}
		if !st.RootSeen() {
			t.Error("RootSeen false after the root")
		}
	})
	t.Run("duplicates are skipped and counted", func(t *testing.T) {
		tr := NewTranslator(Config{})
		var st RunState
		c := newPlanChecker()
		first := tr.Translate(&st, snapshots(rootStub(), child(2, "a"), withEvents(child(3, "b"), event("e"))))
		requireValid(t, c, first)
		again := tr.Translate(&st, snapshots(rootStub(), child(2, "a"), withEvents(child(3, "b"), event("e"))))
		requireValid(t, c, again)
		if !again.Empty() || again.End != nil {
			t.Errorf("re-sent spans produced requests: %s", dump(again))
		}
		if n := issueCount(again, Dropped, "duplicate span id"); n != 3 {
			t.Errorf("duplicates counted %d, want 3", n)
		}
		// Within one call too.
		var st2 RunState
		p := tr.Translate(&st2, snapshots(rootStub(), child(2, "a"), child(2, "a"), rootStub()))
		requireValid(t, newPlanChecker(), p)
		if len(p.Spans) != 2 || issueCount(p, Dropped, "duplicate span id") != 2 {
			t.Errorf("in-call duplicates: %d spans, issues %+v", len(p.Spans), p.Issues)
		}
	})
	t.Run("nil spans are ignored", func(t *testing.T) {
		var st RunState
		p := NewTranslator(Config{}).Translate(&st, append(snapshots(rootStub()), nil))
		requireValid(t, newPlanChecker(), p)
		if p.End == nil {
			t.Error("root lost next to a nil span")
		}
	})
	t.Run("empty input", func(t *testing.T) {
		var st RunState
		p := NewTranslator(Config{}).Translate(&st, nil)
		requireValid(t, newPlanChecker(), p)
		if !p.Empty() {
			t.Errorf("empty input produced %s", dump(p))
		}
	})
}
