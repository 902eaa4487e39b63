package bridge

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

// The contract validator: what the real Ezop server accepts, from
// /work/shared/ezop-api/CONTRACT.md, checked on every request of a RunPlan.
// A plan that passes never earns a 4xx or 5xx from the server for its
// content (plan-level ordering included: parents before children, spans
// before their events, run ended last).

// canonicalUUID is how ids must be spelled: lower-case and hyphenated
// (upper case or no hyphens breaks same-run checks on the server).
var canonicalUUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// maxSentDepth bounds the nesting of any payload: the bridge promises 32
// levels of attribute values; the server's parser gives up near 1000.
const maxSentDepth = 48

// planChecker validates the plans of one run in order: a plan may name
// spans stored by earlier plans of the run.
type planChecker struct {
	spans  map[string]bool // span ids stored in this run by earlier plans
	events map[string]bool // event ids stored by earlier plans
	// allSpans holds span ids stored in any run: the server refuses a
	// span id stored anywhere.
	allSpans map[string]bool
	// child says the checker is for a child run, whose start names its
	// parent run (filled by the sender); children are the checkers of the
	// child runs seen so far, by key.
	child    bool
	children map[trace.SpanID]*planChecker
}

func newPlanChecker() *planChecker {
	return &planChecker{spans: map[string]bool{}, events: map[string]bool{}, allSpans: map[string]bool{}, children: map[trace.SpanID]*planChecker{}}
}

// requireValid fails tb with every rule p breaks, then records p's spans
// and events as stored.
func requireValid(tb testing.TB, c *planChecker, p RunPlan) {
	tb.Helper()
	if errs := c.check(p); len(errs) > 0 {
		if len(errs) > 20 {
			errs = append(errs[:20], fmt.Sprintf("… and %d more", len(errs)-20))
		}
		tb.Fatalf("plan breaks the server contract:\n  %s", strings.Join(errs, "\n  "))
	}
}

// validatePlan checks one plan that is the first of its run.
func validatePlan(p RunPlan) []string { return newPlanChecker().check(p) }

// check returns every contract rule p breaks, and records p's spans and
// events as stored.
func (c *planChecker) check(p RunPlan) []string {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	// POST /agents/register and POST /agents/{id}/versions.
	reg := p.Agent.Register
	for what, s := range map[string]string{"name": reg.Name, "owner": reg.Owner, "runtime": reg.Runtime} {
		if strings.TrimSpace(s) == "" {
			add("agent %s is empty", what)
		}
		checkText(add, "agent "+what, s)
	}
	if reg.Description != nil {
		checkText(add, "agent description", *reg.Description)
	}
	for i, s := range reg.DefaultPermissions {
		checkText(add, fmt.Sprintf("agent default_permissions[%d]", i), s)
	}
	if v := p.Agent.Version; v != nil {
		if strings.TrimSpace(v.Version) == "" {
			add("version is empty")
		}
		checkText(add, "version", v.Version)
		for i, s := range v.Permissions {
			checkText(add, fmt.Sprintf("version permissions[%d]", i), s)
		}
		if v.Changelog != nil {
			checkText(add, "version changelog", *v.Changelog)
		}
		checkEncodes(add, "version", v)
	}
	checkEncodes(add, "agent", reg)

	// POST /agents/{id}/runs: no metadata field exists on the type, so the
	// 500 on run metadata cannot happen.
	st := p.Start
	if st.VersionID != "" {
		add("start: version_id %q set by the translation (the sender fills it)", st.VersionID)
	}
	if st.UserID != "" && !canonicalUUID.MatchString(st.UserID) {
		add("start: user_id %q is not a canonical UUID", st.UserID)
	}
	if st.ParentRunID != "" {
		add("start: parent_run_id set by the translation (the sender fills it)")
	}
	switch tt := semconv.TriggerType(st.TriggerType); {
	case c.child && tt != semconv.TriggerAgent:
		add("start: child run with trigger_type %q, want agent", st.TriggerType)
	case st.TriggerType == "":
		// The server's default, unknown.
	case !tt.Valid():
		add("start: trigger_type %q outside the server's set", st.TriggerType)
	case tt == semconv.TriggerAgent && !c.child:
		add("start: trigger_type agent requires a parent run")
	}
	checkText(add, "start trigger_id", st.TriggerID)
	checkEncodes(add, "start", st)

	// POST /runs/{id}/spans and PATCH /spans/{id}.
	inPlan := map[string]bool{}
	for i, s := range p.Spans {
		where := fmt.Sprintf("span[%d] %q", i, s.Create.Name)
		id := s.Create.ID
		switch {
		case !canonicalUUID.MatchString(id):
			add("%s: id %q is not a canonical UUID", where, id)
		case c.allSpans[id] || inPlan[id]:
			add("%s: id %s already stored (the server answers 500)", where, id)
		}
		if pid := s.Create.ParentID; pid != "" {
			switch {
			case !canonicalUUID.MatchString(pid):
				add("%s: parent_id %q is not a canonical UUID", where, pid)
			case pid == id:
				add("%s: its own parent", where)
			case !c.spans[pid] && !inPlan[pid]:
				add("%s: parent %s not stored before it", where, pid)
			}
		}
		checkText(add, where+" name", s.Create.Name)
		checkTime(add, where+" start_time", s.Create.StartTime, false)
		checkTime(add, where+" end_time", s.Close.EndTime, true)
		checkObject(add, where+" metadata", s.Create.Metadata)
		checkEncodes(add, where, s.Create)
		checkEncodes(add, where+" close", s.Close)
		inPlan[id] = true
	}

	// POST /runs/{id}/events.
	evIDs := map[string]bool{}
	for i, e := range p.Events {
		where := fmt.Sprintf("event[%d] %q %s/%s", i, e.Name, e.Category, e.Type)
		switch {
		case !canonicalUUID.MatchString(e.ID):
			add("%s: id %q is not a canonical UUID", where, e.ID)
		case c.events[e.ID] || evIDs[e.ID]:
			add("%s: id %s sent twice (the server answers 500)", where, e.ID)
		}
		evIDs[e.ID] = true
		if e.SpanID != "" {
			switch {
			case !canonicalUUID.MatchString(e.SpanID):
				add("%s: span_id %q is not a canonical UUID", where, e.SpanID)
			case !c.spans[e.SpanID] && !inPlan[e.SpanID]:
				add("%s: span %s not stored", where, e.SpanID)
			}
		}
		checkText(add, where+" name", e.Name)
		if err := semconv.ValidateEvent(semconv.EventCategory(e.Category), semconv.EventType(e.Type), semconv.EventSubtype(e.Subtype)); err != nil {
			add("%s: %v", where, err)
		}
		if e.IterationID != nil && (*e.IterationID < 0 || *e.IterationID > math.MaxInt32) {
			add("%s: iteration_id %d outside 0..2^31-1", where, *e.IterationID)
		}
		checkTime(add, where+" timestamp", e.Timestamp, false)
		checkObject(add, where+" input", e.Input)
		checkObject(add, where+" output", e.Output)
		checkObject(add, where+" metadata", e.Metadata)
		checkObject(add, where+" error", e.Error)
		checkEncodes(add, where, e)
	}

	// PATCH /runs/{id}.
	if end := p.End; end != nil {
		if end.Status != string(semconv.RunStatusSuccess) && end.Status != string(semconv.RunStatusFailed) {
			add("end: status %q is not success or failed", end.Status)
		}
		if end.Message != nil {
			checkText(add, "end message", *end.Message)
		}
		checkObject(add, "end metadata", end.Metadata)
		checkEncodes(add, "end", end)
	}

	for _, is := range p.Issues {
		if (is.Kind != Dropped && is.Kind != Altered) || is.Count <= 0 || is.Reason == "" {
			add("malformed issue %+v", is)
		}
	}

	for id := range inPlan {
		c.spans[id] = true
		c.allSpans[id] = true
	}
	for id := range evIDs {
		c.events[id] = true
	}

	// Child runs: each its own run (spans and events may name only its
	// own spans), parents listed before children.
	for i, ch := range p.ChildRuns {
		where := fmt.Sprintf("child run[%d] %s", i, ch.Key)
		if len(ch.Plan.ChildRuns) > 0 {
			add("%s: nested child runs must be listed in the top plan", where)
		}
		if ch.Parent.IsValid() && c.children[ch.Parent] == nil {
			add("%s: parent run %s not listed before it", where, ch.Parent)
		}
		cc := c.children[ch.Key]
		if cc == nil {
			cc = &planChecker{spans: map[string]bool{}, events: c.events, allSpans: c.allSpans, child: true, children: map[trace.SpanID]*planChecker{}}
			c.children[ch.Key] = cc
		}
		for _, e := range cc.check(ch.Plan) {
			add("%s: %s", where, e)
		}
		// The delegation: an event of the invoking run, on the invoking
		// span, once per child run.
		if d := ch.Delegation; d != nil {
			pc := c
			if ch.Parent.IsValid() {
				pc = c.children[ch.Parent]
			}
			dw := where + " delegation"
			switch {
			case pc == nil:
			case d.SpanID == "" || !pc.spans[d.SpanID]:
				add("%s: span %q not stored in the invoking run", dw, d.SpanID)
			}
			if !canonicalUUID.MatchString(d.ID) || c.events[d.ID] {
				add("%s: id %q not a fresh canonical UUID", dw, d.ID)
			}
			c.events[d.ID] = true
			if d.Category != string(semconv.CategoryAgent) || (d.Type != string(semconv.TypeAgentRunCompleted) && d.Type != string(semconv.TypeAgentRunFailed)) {
				add("%s: %s/%s, want agent/agent_run_completed|failed", dw, d.Category, d.Type)
			}
			checkText(add, dw+" name", d.Name)
			checkTime(add, dw+" timestamp", d.Timestamp, false)
			checkObject(add, dw+" metadata", d.Metadata)
			checkObject(add, dw+" error", d.Error)
			checkEncodes(add, dw, d)
		}
	}
	return errs
}

type addFunc func(format string, args ...any)

// checkText checks a string the server stores: valid UTF-8 (a lone
// surrogate cannot be encoded) without NUL characters (refused by the
// database driver, in text columns and in jsonb alike: 500).
func checkText(add addFunc, where, s string) {
	if !utf8.ValidString(s) {
		add("%s: invalid UTF-8 %.60q", where, s)
	}
	if strings.IndexByte(s, 0) >= 0 {
		add("%s: NUL character in %.60q", where, s)
	}
}

// checkTime checks a time the database parses: RFC 3339, years 1..9999
// once rounded to microseconds as PostgreSQL does (the server's Python
// datetimes end at 9999-12-31T23:59:59.999999). An empty time is omitted
// (server clock) unless required.
func checkTime(add addFunc, where, s string, required bool) {
	if s == "" {
		if required {
			add("%s: missing", where)
		}
		return
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		add("%s: %q is not RFC 3339: %v", where, s, err)
		return
	}
	if y := t.UTC().Round(time.Microsecond).Year(); y < 1 || y > 9999 {
		add("%s: %q outside years 1..9999", where, s)
	}
}

// checkObject checks an input/output/metadata/error field: a JSON object
// (or absent) whose every string and key is valid UTF-8 and every number
// finite, nested at most maxSentDepth deep.
func checkObject(add addFunc, where string, o wire.Object) {
	if o == nil {
		return
	}
	checkJSONValue(add, where, reflect.ValueOf(o), 0)
	b, err := json.Marshal(o)
	if err != nil {
		add("%s: does not encode: %v", where, err)
		return
	}
	var back any
	if err := json.Unmarshal(b, &back); err != nil {
		add("%s: encodes to invalid JSON: %v", where, err)
		return
	}
	if _, ok := back.(map[string]any); !ok {
		add("%s: encodes to %T, not an object", where, back)
	}
}

var numberType = reflect.TypeOf(json.Number(""))

func checkJSONValue(add addFunc, where string, v reflect.Value, depth int) {
	if depth > maxSentDepth {
		add("%s: nested deeper than %d", where, maxSentDepth)
		return
	}
	if !v.IsValid() {
		return // nil
	}
	if v.Type() == numberType {
		n := json.Number(v.String())
		f, err := n.Float64()
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || !json.Valid([]byte(n)) {
			add("%s: number %.40q not a finite JSON number", where, string(n))
		}
		return
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if !v.IsNil() {
			checkJSONValue(add, where, v.Elem(), depth)
		}
	case reflect.String:
		checkText(add, where, v.String())
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			add("%s: non-finite number %v", where, f)
		}
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			add("%s: map with %s keys", where, v.Type().Key())
			return
		}
		iter := v.MapRange()
		for iter.Next() {
			k := iter.Key().String()
			checkText(add, where+" key", k)
			checkJSONValue(add, where+"."+trimKey(k), iter.Value(), depth+1)
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return // []byte: base64 text
		}
		for i := 0; i < v.Len(); i++ {
			checkJSONValue(add, fmt.Sprintf("%s[%d]", where, i), v.Index(i), depth+1)
		}
	default:
		add("%s: %s cannot be sent as JSON", where, v.Type())
	}
}

func trimKey(k string) string {
	if len(k) > 40 {
		return k[:40] + "…"
	}
	return k
}

func checkEncodes(add addFunc, where string, v any) {
	if _, err := json.Marshal(v); err != nil {
		add("%s: does not encode as JSON: %v", where, err)
	}
}

// TestValidatorRejects makes sure the validator itself catches each kind
// of request the server refuses: a validator that passes everything would
// make every other test vacuous.
func TestValidatorRejects(t *testing.T) {
	good := func() RunPlan {
		msg := "ok"
		return RunPlan{
			RootSpanID: spanID(1),
			Agent:      AgentSpec{Register: wire.RegisterAgentRequest{Name: "a", Owner: "o", Runtime: "go"}},
			Start:      wire.StartRunRequest{TriggerType: "unknown"},
			Spans: []SpanOp{
				{Create: wire.CreateSpanRequest{ID: uuidOf(2), StartTime: "2025-01-01T00:00:00Z"}, Close: wire.CloseSpanRequest{EndTime: "2025-01-01T00:00:01Z"}},
				{Create: wire.CreateSpanRequest{ID: uuidOf(3), ParentID: uuidOf(2)}, Close: wire.CloseSpanRequest{EndTime: "2025-01-01T00:00:01.5Z"}},
			},
			Events: []wire.EmitEventRequest{{ID: uuidOf(9), SpanID: uuidOf(3), Name: "e", Category: "llm", Type: "llm_response", Metadata: wire.Object{"k": []any{1, "x"}}}},
			End:    &wire.EndRunRequest{Status: "success", Message: &msg},
		}
	}
	if errs := validatePlan(good()); len(errs) != 0 {
		t.Fatalf("valid plan rejected: %v", errs)
	}
	nan := math.NaN()
	cases := map[string]func(p *RunPlan){
		"empty agent name":        func(p *RunPlan) { p.Agent.Register.Name = " " },
		"empty owner":             func(p *RunPlan) { p.Agent.Register.Owner = "" },
		"empty runtime":           func(p *RunPlan) { p.Agent.Register.Runtime = "" },
		"invalid UTF-8 name":      func(p *RunPlan) { p.Agent.Register.Name = "a\xff" },
		"NUL in name":             func(p *RunPlan) { p.Spans[0].Create.Name = "a\x00" },
		"NUL in metadata":         func(p *RunPlan) { p.Events[0].Metadata["k"] = []any{"a\x00"} },
		"rounds into year 10000":  func(p *RunPlan) { p.Events[0].Timestamp = "9999-12-31T23:59:59.9999999Z" },
		"user id not uuid":        func(p *RunPlan) { p.Start.UserID = "alice" },
		"user id upper case":      func(p *RunPlan) { p.Start.UserID = strings.ToUpper(uuidOf(1)) },
		"trigger agent":           func(p *RunPlan) { p.Start.TriggerType = "agent" },
		"trigger outside set":     func(p *RunPlan) { p.Start.TriggerType = "timer" },
		"span id not uuid":        func(p *RunPlan) { p.Spans[0].Create.ID = "00000000000000aa" },
		"span id upper":           func(p *RunPlan) { p.Spans[0].Create.ID = strings.ToUpper(p.Spans[0].Create.ID) },
		"child before parent":     func(p *RunPlan) { p.Spans[0], p.Spans[1] = p.Spans[1], p.Spans[0] },
		"own parent":              func(p *RunPlan) { p.Spans[0].Create.ParentID = p.Spans[0].Create.ID },
		"duplicate span":          func(p *RunPlan) { p.Spans[1].Create = p.Spans[0].Create },
		"bad start time":          func(p *RunPlan) { p.Spans[0].Create.StartTime = "yesterday" },
		"year 10000":              func(p *RunPlan) { p.Spans[0].Create.StartTime = "10000-01-01T00:00:00Z" },
		"missing end time":        func(p *RunPlan) { p.Spans[0].Close.EndTime = "" },
		"event of unknown span":   func(p *RunPlan) { p.Events[0].SpanID = uuidOf(7) },
		"event id not uuid":       func(p *RunPlan) { p.Events[0].ID = "x" },
		"duplicate event":         func(p *RunPlan) { p.Events = append(p.Events, p.Events[0]) },
		"pair outside table":      func(p *RunPlan) { p.Events[0].Type = "tool_call_started" },
		"unknown category":        func(p *RunPlan) { p.Events[0].Category = "misc"; p.Events[0].Type = "" },
		"unknown subtype":         func(p *RunPlan) { p.Events[0].Subtype = "grpc" },
		"iteration above 2^31-1":  func(p *RunPlan) { n := int64(1 << 31); p.Events[0].IterationID = &n },
		"negative iteration":      func(p *RunPlan) { n := int64(-1); p.Events[0].IterationID = &n },
		"bad timestamp":           func(p *RunPlan) { p.Events[0].Timestamp = "2025-13-01T00:00:00Z" },
		"NaN in metadata":         func(p *RunPlan) { p.Events[0].Metadata["n"] = nan },
		"inf json number":         func(p *RunPlan) { p.Events[0].Metadata["n"] = json.Number("1e999") },
		"invalid UTF-8 key":       func(p *RunPlan) { p.Events[0].Metadata["\xfe"] = 1 },
		"invalid UTF-8 deep":      func(p *RunPlan) { p.Events[0].Input = wire.Object{"a": []any{map[string]any{"b": "\xc3"}}} },
		"unencodable value":       func(p *RunPlan) { p.Events[0].Output = wire.Object{"f": func() {}} },
		"too deep":                func(p *RunPlan) { p.Events[0].Error = wire.Object{"d": deep(maxSentDepth + 2)} },
		"run status partial":      func(p *RunPlan) { p.End.Status = "partial" },
		"run status running":      func(p *RunPlan) { p.End.Status = "running" },
		"version empty":           func(p *RunPlan) { p.Agent.Version = &wire.CreateVersionRequest{} },
		"message invalid UTF-8":   func(p *RunPlan) { m := "\xff"; p.End.Message = &m },
		"malformed issue":         func(p *RunPlan) { p.Issues = []Issue{{Kind: Dropped, Reason: "x"}} },
		"span metadata bad float": func(p *RunPlan) { p.Spans[0].Create.Metadata = wire.Object{"f": []any{math.Inf(1)}} },
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			p := good()
			breakIt(&p)
			if errs := validatePlan(p); len(errs) == 0 {
				t.Errorf("validator accepted a plan the server refuses")
			}
		})
	}

	// Spans stored by an earlier plan of the run may be named.
	c := newPlanChecker()
	first := good()
	first.Events, first.End = nil, nil
	if errs := c.check(first); len(errs) != 0 {
		t.Fatal(errs)
	}
	later := RunPlan{
		RootSpanID: spanID(1),
		Agent:      first.Agent,
		Spans:      []SpanOp{{Create: wire.CreateSpanRequest{ID: uuidOf(4), ParentID: uuidOf(3)}, Close: wire.CloseSpanRequest{EndTime: "2025-01-01T00:00:02Z"}}},
		Events:     []wire.EmitEventRequest{{ID: uuidOf(10), SpanID: uuidOf(2), Name: "late", Category: "system"}},
	}
	if errs := c.check(later); len(errs) != 0 {
		t.Errorf("later plan naming earlier spans rejected: %v", errs)
	}
	again := later
	again.Events = nil
	if errs := c.check(again); len(errs) == 0 {
		t.Errorf("re-creating a stored span accepted")
	}
}

func deep(n int) any {
	var v any = "leaf"
	for range n {
		v = []any{v}
	}
	return v
}
