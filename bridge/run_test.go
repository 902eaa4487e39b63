package bridge

import (
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/semconv"
)

func TestIsLocalRoot(t *testing.T) {
	cases := []struct {
		name   string
		parent trace.SpanContext
		want   bool
	}{
		{"no parent", trace.SpanContext{}, true},
		{"remote parent", spanCtx(9, true), true},
		{"local parent", spanCtx(9, false), false},
		{"parent without trace id", trace.NewSpanContext(trace.SpanContextConfig{SpanID: spanID(9)}), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := stub(2, 0, "s")
			s.Parent = tc.parent
			if got := IsLocalRoot(s.Snapshot()); got != tc.want {
				t.Errorf("IsLocalRoot = %v, want %v", got, tc.want)
			}
			p := translate(t, Config{}, s)
			if tc.want {
				if p.RootSpanID != spanID(2) || p.End == nil || len(p.Spans) != 1 || !p.Spans[0].Root {
					t.Errorf("local root not taken as the run: root=%v end=%v spans=%d", p.RootSpanID, p.End != nil, len(p.Spans))
				}
			} else if p.RootSpanID.IsValid() || p.End != nil || len(p.Spans) != 1 {
				t.Errorf("span with a local parent taken as the run")
			}
		})
	}
}

func TestRunMetadata(t *testing.T) {
	root := rootStub(attribute.String("app.request", "r-1"), attribute.Int("app.n", 3))
	root.Parent = spanCtx(77, true)
	root.SpanKind = trace.SpanKindServer
	root.InstrumentationScope = instrumentation.Scope{Name: "my/tracer"}
	root.DroppedAttributes = 2
	root.StartTime = t0
	root.EndTime = t0.Add(1500*time.Millisecond + 250*time.Microsecond)
	p := translate(t, Config{}, root)
	if p.End == nil {
		t.Fatal("no end")
	}
	m := p.End.Metadata
	if m["app.request"] != "r-1" || m["app.n"] != int64(3) {
		t.Errorf("attributes missing from run metadata: %s", dump(m))
	}
	o := otelOf(t, m)
	want := map[string]any{
		"trace_id":           testTraceID.String(),
		"span_id":            spanID(rootID).String(),
		"parent_span_id":     spanID(77).String(),
		"parent_remote":      true,
		"name":               "agent.run",
		"kind":               "server",
		"status":             "Unset",
		"start_time":         "2025-03-01T12:00:00Z",
		"end_time":           "2025-03-01T12:00:01.50025Z",
		"duration_ms":        1500.25,
		"scope":              "my/tracer",
		"dropped_attributes": 2,
	}
	for k, v := range want {
		if !sameJSON(o[k], v) {
			t.Errorf("otel.%s = %s, want %s", k, jsonOf(o[k]), jsonOf(v))
		}
	}
	tot, ok := m["totals"].(map[string]any)
	if !ok {
		t.Fatalf("no totals in run metadata: %s", dump(m))
	}
	wantJSON(t, "totals", tot, map[string]any{"llm_calls": 0, "tool_calls": 0, "errors": 0})
	if p.RootSpanID != spanID(rootID) || p.TraceID != testTraceID {
		t.Errorf("plan ids = %v/%v", p.TraceID, p.RootSpanID)
	}
}

func TestRunTotals(t *testing.T) {
	p := translate(t, Config{},
		rootStub(),
		child(2, "chat", attribute.String("gen_ai.operation.name", "chat"),
			attribute.Int("gen_ai.usage.input_tokens", 100), attribute.Int("gen_ai.usage.output_tokens", 20),
			attribute.Float64("gen_ai.usage.cost", 0.25)),
		child(3, "chat", attribute.String("gen_ai.operation.name", "chat"),
			attribute.Int("gen_ai.usage.input_tokens", 50), attribute.Int("gen_ai.usage.output_tokens", 5),
			attribute.Float64("gen_ai.usage.cost", 0.5)),
		child(4, "chat without usage", attribute.String("gen_ai.operation.name", "chat")),
		child(5, "tool", attribute.String("gen_ai.tool.name", "search")),
		withStatus(child(6, "broken tool", attribute.String("gen_ai.tool.name", "fetch")), codes.Error, "timeout"),
		withEvents(child(7, "step"), event("exception", attribute.String("exception.message", "x"))),
	)
	wantJSON(t, "totals", p.End.Metadata["totals"], map[string]any{
		"llm_calls": 3, "input_tokens": 150, "output_tokens": 25, "tool_calls": 2, "errors": 2, "cost": 0.75,
	})

	// Each count is totalled over the calls that reported it.
	p = translate(t, Config{}, rootStub(),
		child(2, "embed", op("embeddings"), num("gen_ai.usage.input_tokens", 7)),
		child(3, "chat", op("chat"), num("gen_ai.usage.output_tokens", 3)))
	wantJSON(t, "split totals", p.End.Metadata["totals"], map[string]any{"llm_calls": 2, "input_tokens": 7, "output_tokens": 3, "tool_calls": 0, "errors": 0})
	p = translate(t, Config{}, rootStub(), child(2, "embed", op("embeddings"), num("gen_ai.usage.input_tokens", 7)))
	wantJSON(t, "input-only totals", p.End.Metadata["totals"], map[string]any{"llm_calls": 1, "input_tokens": 7, "tool_calls": 0, "errors": 0})

	// Nothing reported: token and cost totals are absent, not 0.
	p = translate(t, Config{}, rootStub(), child(2, "chat", attribute.String("gen_ai.operation.name", "chat")))
	tot := p.End.Metadata["totals"].(map[string]any)
	for _, k := range []string{"input_tokens", "output_tokens", "cost"} {
		if _, ok := tot[k]; ok {
			t.Errorf("totals.%s present though never reported: %s", k, dump(tot))
		}
	}
}

func TestRunStatus(t *testing.T) {
	exc := event("exception", attribute.String("exception.type", "ValueError"), attribute.String("exception.message", "bad input"))
	cases := []struct {
		name      string
		attrs     []attribute.KeyValue
		code      codes.Code
		desc      string
		exception bool
		status    string
		message   string // "-" = no message
		requested string // requested_status in metadata, "" = absent
		issue     string
	}{
		{"default success", nil, codes.Unset, "", false, "success", "-", "", ""},
		{"otel ok", nil, codes.Ok, "", false, "success", "-", "", ""},
		{"otel error with description", nil, codes.Error, "db down", false, "failed", "db down", "", ""},
		{"otel error without description uses exception message", nil, codes.Error, "", true, "failed", "bad input", "", ""},
		{"otel error without any message", nil, codes.Error, "", false, "failed", "-", "", ""},
		{"explicit failed", []attribute.KeyValue{semconv.RunStatusAttr(semconv.RunStatusFailed)}, codes.Unset, "", false, "failed", "-", "", ""},
		{"explicit success beats otel error", []attribute.KeyValue{semconv.RunStatusAttr(semconv.RunStatusSuccess)}, codes.Error, "x", false, "success", "", "", ""},
		{"partial sent as success", []attribute.KeyValue{semconv.RunStatusAttr(semconv.RunStatusPartial)}, codes.Unset, "", false, "success", "-", "partial", "partial sent as success"},
		{"canceled sent as failed", []attribute.KeyValue{semconv.RunStatusAttr(semconv.RunStatusCanceled)}, codes.Unset, "", false, "failed", "-", "canceled", "canceled sent as failed"},
		{"status is normalised", []attribute.KeyValue{attribute.String("ezop.run.status", "  Partial ")}, codes.Unset, "", false, "success", "-", "partial", "sent as success"},
		{"running is not an outcome", []attribute.KeyValue{attribute.String("ezop.run.status", "running")}, codes.Error, "e", false, "failed", "e", "", "ezop.run.status not success"},
		{"invalid status ignored", []attribute.KeyValue{attribute.String("ezop.run.status", "done")}, codes.Unset, "", false, "success", "-", "", "ezop.run.status not success"},
		{"message overrides description", []attribute.KeyValue{semconv.RunMessage("user gave up")}, codes.Error, "ctx canceled", true, "failed", "user gave up", "", ""},
		{"message with success", []attribute.KeyValue{semconv.RunMessage("answered")}, codes.Unset, "", false, "success", "answered", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := withStatus(rootStub(tc.attrs...), tc.code, tc.desc)
			if tc.exception {
				root = withEvents(root, exc)
			}
			p := translate(t, Config{}, root)
			if p.End.Status != tc.status {
				t.Errorf("status = %q, want %q", p.End.Status, tc.status)
			}
			switch {
			case tc.message == "-" && p.End.Message != nil:
				t.Errorf("message = %q, want none", *p.End.Message)
			case tc.message != "-" && tc.message != "" && (p.End.Message == nil || *p.End.Message != tc.message):
				t.Errorf("message = %v, want %q", p.End.Message, tc.message)
			}
			got, has := p.End.Metadata["requested_status"]
			switch {
			case tc.requested == "" && has:
				t.Errorf("requested_status = %v, want absent", got)
			case tc.requested != "" && got != tc.requested:
				t.Errorf("requested_status = %v, want %q", got, tc.requested)
			}
			if tc.issue == "" {
				wantNoIssues(t, p)
			} else {
				wantIssue(t, p, Altered, tc.issue)
			}
		})
	}
}

func TestRunUserID(t *testing.T) {
	const id = "0b9e7f6a-4c1d-4e2f-8a3b-5c6d7e8f9a0b"
	cases := []struct {
		in, want string
	}{
		{id, id},
		{strings.ToUpper(id), id},
		{strings.ReplaceAll(id, "-", ""), id},
		{"{" + id + "}", id},
		{"urn:uuid:" + id, id},
		{"alice@example.com", ""},
		{"12345", ""},
		{id + "x", ""},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			p := translate(t, Config{}, rootStub(semconv.RunUserID(tc.in)))
			if p.Start.UserID != tc.want {
				t.Errorf("user_id = %q, want %q", p.Start.UserID, tc.want)
			}
			// Either way the requested value stays in the run's metadata.
			if p.End.Metadata["ezop.run.user_id"] != tc.in {
				t.Errorf("metadata ezop.run.user_id = %v", p.End.Metadata["ezop.run.user_id"])
			}
			if tc.want == "" {
				wantIssue(t, p, Altered, "ezop.run.user_id is not a UUID")
			} else {
				wantNoIssues(t, p)
			}
		})
	}
	if p := translate(t, Config{}, rootStub()); p.Start.UserID != "" {
		t.Errorf("user_id without attribute = %q", p.Start.UserID)
	}
}

func TestRunTrigger(t *testing.T) {
	route := attribute.String("http.route", "/v1/chat/{id}")
	cases := []struct {
		name     string
		kind     trace.SpanKind
		attrs    []attribute.KeyValue
		typ, id  string
		issue    string
		noIssues bool
	}{
		{"nothing", trace.SpanKindInternal, nil, "unknown", "", "", true},
		{"explicit cron", trace.SpanKindInternal, []attribute.KeyValue{semconv.RunTriggerType(semconv.TriggerCron), semconv.RunTriggerID("nightly")}, "cron", "nightly", "", true},
		{"explicit beats inference", trace.SpanKindServer, []attribute.KeyValue{semconv.RunTriggerType(semconv.TriggerWebhook), route}, "webhook", "", "", true},
		{"explicit is normalised", trace.SpanKindInternal, []attribute.KeyValue{attribute.String("ezop.run.trigger_type", " USER ")}, "user", "", "", true},
		{"explicit unknown", trace.SpanKindServer, []attribute.KeyValue{semconv.RunTriggerType(semconv.TriggerUnknown), route}, "unknown", "", "", true},
		{"server span with route", trace.SpanKindServer, []attribute.KeyValue{route}, "api", "/v1/chat/{id}", "", true},
		{"trigger id beats route", trace.SpanKindServer, []attribute.KeyValue{route, semconv.RunTriggerID("chat")}, "api", "chat", "", true},
		{"client span with route", trace.SpanKindClient, []attribute.KeyValue{route}, "unknown", "", "", true},
		{"server span without route", trace.SpanKindServer, nil, "unknown", "", "", true},
		{"trigger id alone", trace.SpanKindInternal, []attribute.KeyValue{semconv.RunTriggerID("job-7")}, "unknown", "job-7", "", true},
		{"invalid type falls back to inference", trace.SpanKindServer, []attribute.KeyValue{attribute.String("ezop.run.trigger_type", "timer"), route}, "api", "/v1/chat/{id}", "outside the server's set", false},
		{"invalid type without inference", trace.SpanKindInternal, []attribute.KeyValue{attribute.String("ezop.run.trigger_type", "timer")}, "unknown", "", "outside the server's set", false},
		{"agent without parent run", trace.SpanKindServer, []attribute.KeyValue{semconv.RunTriggerType(semconv.TriggerAgent), route}, "unknown", "", "agent without a parent run", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := rootStub(tc.attrs...)
			root.SpanKind = tc.kind
			p := translate(t, Config{}, root)
			if p.Start.TriggerType != tc.typ || p.Start.TriggerID != tc.id {
				t.Errorf("trigger = %q/%q, want %q/%q", p.Start.TriggerType, p.Start.TriggerID, tc.typ, tc.id)
			}
			if tc.issue != "" {
				wantIssue(t, p, Altered, tc.issue)
			}
			if tc.noIssues {
				wantNoIssues(t, p)
			}
		})
	}
}

func TestRunLifecycleEvents(t *testing.T) {
	for _, on := range []bool{false, true} {
		for _, code := range []codes.Code{codes.Unset, codes.Error} {
			root := withStatus(rootStub(), code, "")
			p := translate(t, Config{LifecycleEvents: on}, root, child(2, "step"))
			agentEvents := eventsOf(p.Events, semconv.CategoryAgent, "*")
			sysEvents := eventsOf(p.Events, semconv.CategorySystem, "*")
			if !on {
				if len(agentEvents)+len(sysEvents) != 0 {
					t.Errorf("lifecycle events without the option: %s", dump(p.Events))
				}
				continue
			}
			started := oneEvent(t, agentEvents, semconv.CategoryAgent, semconv.TypeAgentRunStarted)
			endType := semconv.TypeAgentRunCompleted
			if code == codes.Error {
				endType = semconv.TypeAgentRunFailed
			}
			ended := oneEvent(t, agentEvents, semconv.CategoryAgent, endType)
			if started.SpanID != "" || ended.SpanID != "" {
				t.Error("run lifecycle events name a span")
			}
			if started.Timestamp != formatTime(root.StartTime) || ended.Timestamp != formatTime(root.EndTime) {
				t.Errorf("run lifecycle times = %s, %s", started.Timestamp, ended.Timestamp)
			}
			// Every span gets span_started/span_completed, the root (the
			// run's top-level span) too.
			for _, n := range []uint64{rootID, 2} {
				s := oneEvent(t, eventsOn(p, uuidOf(n)), semconv.CategorySystem, semconv.TypeSpanStarted)
				c := oneEvent(t, eventsOn(p, uuidOf(n)), semconv.CategorySystem, semconv.TypeSpanCompleted)
				if s.Timestamp == "" || c.Timestamp == "" {
					t.Errorf("span %d lifecycle events without times", n)
				}
			}
			if len(sysEvents) != 4 {
				t.Errorf("%d system events, want 4", len(sysEvents))
			}
		}
	}
}

// Reserved metadata keys the translation writes do not silently replace
// attributes of the same name.
func TestRunMetadataReservedKeys(t *testing.T) {
	p := translate(t, Config{}, rootStub(attribute.String("otel", "mine"), attribute.String("totals", "mine")),
		child(2, "s", attribute.String("otel", "mine")))
	if _, ok := p.End.Metadata["otel"].(map[string]any); !ok {
		t.Errorf("run metadata otel = %v", p.End.Metadata["otel"])
	}
	wantIssue(t, p, Altered, "reserved")
}

// RunStart gives, from the root alone, the same agent and run-creation body
// as the plan of the finished run.
func TestRunStartMatchesPlan(t *testing.T) {
	cases := map[string]tracetest.SpanStub{
		"plain":      rootStub(),
		"user+cron":  rootStub(semconv.RunUserID("0B9E7F6A-4C1D-4E2F-8A3B-5C6D7E8F9A0B"), semconv.RunTriggerType(semconv.TriggerCron), semconv.RunTriggerID("nightly")),
		"bad values": rootStub(semconv.RunUserID("bob"), semconv.RunTriggerType(semconv.TriggerAgent)),
		"api route": func() tracetest.SpanStub {
			s := rootStub(attribute.String("http.route", "/chat"))
			s.SpanKind = trace.SpanKindServer
			return s
		}(),
	}
	for name, root := range cases {
		t.Run(name, func(t *testing.T) {
			tr := NewTranslator(Config{})
			var st RunState
			sp := tr.RunStart(&st, root.Snapshot())
			p := translate(t, Config{}, root)
			wantJSON(t, "agent", sp.Agent, p.Agent)
			wantJSON(t, "start", sp.Start, p.Start)
			wantJSON(t, "issues", sp.Issues, p.Issues)
			// The start plans the root's span, open; the finished root's
			// plan creates the same span and closes it.
			if len(sp.Spans) != 1 || !sp.Spans[0].Root || sp.Spans[0].Close.EndTime != "" || sp.End != nil {
				t.Fatalf("start plan spans %+v end %v, want the open root span only", sp.Spans, sp.End)
			}
			if len(p.Spans) == 0 || !p.Spans[0].Root || p.Spans[0].Create.ID != sp.Spans[0].Create.ID {
				t.Errorf("finished plan spans %+v, want the root span first", p.Spans)
			}
		})
	}
	// Without a resource.
	root := rootStub()
	root.Resource = nil
	sp := NewTranslator(Config{}).RunStart(&RunState{}, root.Snapshot())
	if sp.Agent.Register.Name != fallbackAgentName || len(sp.Issues) == 0 {
		t.Errorf("RunStart without resource: %+v %+v", sp.Agent, sp.Issues)
	}
}
