package bridge

import (
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/semconv"
)

func invokeAgent(n, p uint64, agent string, extra ...attribute.KeyValue) tracetest.SpanStub {
	attrs := append([]attribute.KeyValue{
		attribute.String("gen_ai.operation.name", "invoke_agent"),
		attribute.String("gen_ai.agent.name", agent),
	}, extra...)
	return stub(n, p, "invoke_agent "+agent, attrs...)
}

func llmSpan(n, p uint64) tracetest.SpanStub {
	return stub(n, p, "chat",
		attribute.String("gen_ai.operation.name", "chat"),
		attribute.String("gen_ai.request.model", "m"),
		attribute.Int("gen_ai.usage.input_tokens", 7),
		attribute.Int("gen_ai.usage.output_tokens", 3))
}

func childRun(tb testing.TB, p RunPlan, key uint64) ChildRun {
	tb.Helper()
	for _, c := range p.ChildRuns {
		if c.Key == spanID(key) {
			return c
		}
	}
	tb.Fatalf("no child run for span %d in %s", key, dump(p.ChildRuns))
	return ChildRun{}
}

// A supervisor invoking two sub-agents: each becomes a child run of its
// own agent, holding the invoking span's descendants; the invoking spans
// stay in the supervisor's run.
func TestChildRunsOfInvokedAgents(t *testing.T) {
	p := translate(t, Config{},
		rootStub(),
		invokeAgent(2, rootID, "researcher"),
		llmSpan(3, 2),
		withStatus(stub(4, rootID, "delegate",
			semconv.SpanCategory(semconv.CategoryAgent), semconv.AgentName("writer"),
			semconv.AgentOwner("team-w"), semconv.AgentVersion("2.0")), codes.Error, "writer gave up"),
		stub(5, 4, "execute_tool format", attribute.String("gen_ai.operation.name", "execute_tool"), attribute.String("gen_ai.tool.name", "format")),
		stub(6, 5, "nested step"),
	)

	// The supervisor's run: its root and both invoking spans under it,
	// nothing below them.
	if got := len(p.Spans); got != 3 {
		t.Fatalf("supervisor run has %d spans, want the root and the 2 invoking spans: %s", got, dump(p.Spans))
	}
	for _, n := range []uint64{2, 4} {
		if op := spanOp(t, p, n); op.Create.ParentID != uuidOf(rootID) {
			t.Errorf("invoking span %d has parent %q, want the root", n, op.Create.ParentID)
		}
	}
	if p.End == nil || p.End.Metadata["totals"].(map[string]any)["llm_calls"] != 0 {
		t.Errorf("supervisor totals should not count the sub-agents' LLM calls: %s", dump(p.End))
	}
	if len(p.ChildRuns) != 2 {
		t.Fatalf("%d child runs, want 2", len(p.ChildRuns))
	}

	r := childRun(t, p, 2)
	if r.Parent.IsValid() {
		t.Errorf("researcher's parent run %s, want the supervisor's (zero key)", r.Parent)
	}
	if a := r.Plan.Agent; a.Register.Name != "researcher" || a.Register.Owner != "team-a" || a.Version == nil || a.Version.Version != "1.2.3" {
		t.Errorf("researcher agent %s: want its own name, owner and version inherited", dump(a))
	}
	if r.Plan.Start.TriggerType != "agent" {
		t.Errorf("child run trigger %q, want agent", r.Plan.Start.TriggerType)
	}
	if len(r.Plan.Spans) != 1 || r.Plan.Spans[0].Create.ID != uuidOf(3) || r.Plan.Spans[0].Create.ParentID != "" {
		t.Errorf("researcher run spans %s: want the LLM span at run level", dump(r.Plan.Spans))
	}
	ev := oneEvent(t, r.Plan.Events, semconv.CategoryLLM, semconv.TypeLLMResponse)
	if ev.SpanID != uuidOf(3) || ev.Metadata["input_tokens"] != int64(7) {
		t.Errorf("llm_response %s", dump(ev))
	}
	if r.Plan.End == nil || r.Plan.End.Status != "success" {
		t.Errorf("researcher end %s", dump(r.Plan.End))
	}
	if tot := r.Plan.End.Metadata["totals"].(map[string]any); tot["llm_calls"] != 1 || tot["input_tokens"] != int64(7) {
		t.Errorf("researcher totals %v", tot)
	}

	w := childRun(t, p, 4)
	if a := w.Plan.Agent; a.Register.Name != "writer" || a.Register.Owner != "team-w" || a.Version.Version != "2.0" {
		t.Errorf("writer agent %s: want owner and version from the span's ezop.agent.* keys", dump(a))
	}
	if w.Plan.End == nil || w.Plan.End.Status != "failed" || w.Plan.End.Message == nil || *w.Plan.End.Message != "writer gave up" {
		t.Errorf("writer end %s: want failed with the span's status description", dump(w.Plan.End))
	}
	if got := len(w.Plan.Spans); got != 2 {
		t.Fatalf("writer run has %d spans, want 2", got)
	}
	if op := spanOp(t, w.Plan, 6); op.Create.ParentID != uuidOf(5) {
		t.Errorf("nested step parent %q, want the tool span", op.Create.ParentID)
	}
	if len(eventsOf(w.Plan.Events, semconv.CategoryTool, semconv.TypeToolCallStarted)) != 1 {
		t.Errorf("writer run lacks its tool events: %s", dump(w.Plan.Events))
	}
	// The invoking span's Error status is an event of the supervisor's
	// span, not of the child run.
	if len(eventsOn(p, uuidOf(4))) != 1 || len(eventsOf(w.Plan.Events, semconv.CategoryError, semconv.TypeErrorRaised)) != 0 {
		t.Errorf("error event placement: supervisor %s, writer %s", dump(eventsOn(p, uuidOf(4))), dump(w.Plan.Events))
	}
}

func TestWhichSpansStartChildRuns(t *testing.T) {
	tests := []struct {
		name  string
		span  tracetest.SpanStub
		child bool
	}{
		{"invoke_agent of another agent", invokeAgent(2, rootID, "other"), true},
		{"ezop.span.category agent with ezop.agent.name", stub(2, rootID, "x", semconv.SpanCategory(semconv.CategoryAgent), semconv.AgentName("other")), true},
		{"ezop.agent.name wins over gen_ai.agent.name", invokeAgent(2, rootID, "support-bot", semconv.AgentName("other")), true},
		{"invoke_agent of the run's own agent", invokeAgent(2, rootID, "support-bot"), false},
		{"invoke_agent naming no agent", stub(2, rootID, "x", attribute.String("gen_ai.operation.name", "invoke_agent")), false},
		{"create_agent", stub(2, rootID, "x", attribute.String("gen_ai.operation.name", "create_agent"), attribute.String("gen_ai.agent.name", "other")), false},
		{"agent name without an invocation", stub(2, rootID, "x", attribute.String("gen_ai.agent.name", "other")), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := translate(t, Config{}, rootStub(), tt.span, stub(3, 2, "inside"))
			if got := len(p.ChildRuns) == 1; got != tt.child {
				t.Fatalf("child run: %v, want %v (%s)", got, tt.child, dump(p.ChildRuns))
			}
			if tt.child {
				if len(p.Spans) != 2 || len(p.ChildRuns[0].Plan.Spans) != 1 {
					t.Errorf("spans split %d/%d, want 2/1 (root and invoking span / inside)", len(p.Spans), len(p.ChildRuns[0].Plan.Spans))
				}
			} else if len(p.Spans) != 3 {
				t.Errorf("%d spans in the run, want 3", len(p.Spans))
			}
		})
	}
}

// An agent invoked by a sub-agent is a child of the sub-agent's run;
// child runs are listed parents first.
func TestNestedChildRuns(t *testing.T) {
	p := translate(t, Config{},
		rootStub(),
		stub(5, 4, "leaf"),
		invokeAgent(4, 3, "fact-checker"),
		llmSpan(3, 2),
		invokeAgent(2, rootID, "researcher"),
	)
	if len(p.ChildRuns) != 2 {
		t.Fatalf("%d child runs, want 2", len(p.ChildRuns))
	}
	if p.ChildRuns[0].Key != spanID(2) || p.ChildRuns[1].Key != spanID(4) {
		t.Fatalf("order %s, %s: want the researcher before the fact-checker", p.ChildRuns[0].Key, p.ChildRuns[1].Key)
	}
	fc := p.ChildRuns[1]
	if fc.Parent != spanID(2) || fc.Plan.Agent.Register.Name != "fact-checker" {
		t.Errorf("fact-checker run %s", dump(fc))
	}
	if len(fc.Plan.Spans) != 1 || fc.Plan.Spans[0].Create.ID != uuidOf(5) {
		t.Errorf("fact-checker spans %s", dump(fc.Plan.Spans))
	}
	researcher := p.ChildRuns[0]
	if len(researcher.Plan.Spans) != 2 {
		t.Errorf("researcher spans %s, want the LLM span and the invoking span", dump(researcher.Plan.Spans))
	}
}

// Spans of a child run that arrive in a later part go to the same child
// run.
func TestChildRunAcrossParts(t *testing.T) {
	plans, st := translateParts(t, Config{},
		[]tracetest.SpanStub{rootStub(), invokeAgent(2, rootID, "researcher"), stub(3, 2, "early")},
		[]tracetest.SpanStub{stub(4, 3, "late")},
	)
	late := plans[1]
	if len(late.Spans) != 0 || len(late.ChildRuns) != 1 {
		t.Fatalf("late part: %d top spans, %d child runs; want 0 and 1", len(late.Spans), len(late.ChildRuns))
	}
	c := late.ChildRuns[0]
	if c.Key != spanID(2) || len(c.Plan.Spans) != 1 || c.Plan.Spans[0].Create.ParentID != uuidOf(3) {
		t.Errorf("late child part %s", dump(c))
	}
	if c.Plan.End != nil {
		t.Error("a late part must not end the child run again: Ezop would move its end time")
	}
	if st.children[spanID(2)] == nil || st.owner[spanID(4)] != spanID(2) {
		t.Error("state does not place the late span in the child run")
	}
	_ = trace.SpanID{}
}
