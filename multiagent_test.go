package ezopotel_test

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/semconv"
)

// A supervisor agent invokes two sub-agents, one of which fails: Ezop holds
// the supervisor's run with both calls as spans, and one child run per
// sub-agent, registered under its own name, triggered by the supervisor's
// run and agent, holding the sub-agent's work.
func TestSupervisorWithSubAgents(t *testing.T) {
	h := newHarness(t)
	ctx, root := h.tr.Start(context.Background(), "supervise ticket")

	invoke := func(agent string, fail bool, extra ...attribute.KeyValue) {
		c, span := h.tr.Start(ctx, "invoke_agent "+agent, trace.WithAttributes(append([]attribute.KeyValue{
			attribute.String("gen_ai.operation.name", "invoke_agent"),
			attribute.String("gen_ai.agent.name", agent),
		}, extra...)...))
		_, llm := h.tr.Start(c, "chat small-model", trace.WithAttributes(
			attribute.String("gen_ai.operation.name", "chat"),
			attribute.String("gen_ai.request.model", "small-model"),
			attribute.Int("gen_ai.usage.input_tokens", 50),
			attribute.Int("gen_ai.usage.output_tokens", 10)))
		llm.End()
		if fail {
			span.RecordError(errors.New("no sources found"))
			span.SetStatus(codes.Error, "no sources found")
		}
		span.End()
	}
	invoke("researcher", true)
	invoke("writer", false, semconv.AgentOwner("content-team"), semconv.AgentVersion("0.9"))
	root.End()
	h.shutdown()
	h.noRejections()

	runs := h.srv.Runs()
	if len(runs) != 3 {
		t.Fatalf("%d runs, want the supervisor's and two child runs", len(runs))
	}
	agents := map[string]ezopAgent{}
	for _, a := range h.srv.Agents() {
		agents[a.ID] = ezopAgent{a.Name, a.Owner}
	}
	var sup string
	byAgent := map[string]int{}
	for i, r := range runs {
		byAgent[agents[r.AgentID].name] = i
		if agents[r.AgentID].name == "support-agent" {
			sup = r.ID
		}
	}
	supRun := runs[byAgent["support-agent"]]
	if supRun.ParentRunID != nil || supRun.Status != "success" {
		t.Errorf("supervisor run %+v", supRun)
	}
	if got := h.tree(sup); len(got) != 3 || got[0] != "run > supervise ticket" {
		t.Errorf("supervisor tree %v, want its root and the two invoke_agent spans under it", got)
	}
	for _, name := range []string{"researcher", "writer"} {
		r := runs[byAgent[name]]
		if r.ParentRunID == nil || *r.ParentRunID != sup || r.TriggerType != "agent" || r.TriggerID == nil || *r.TriggerID != supRun.AgentID {
			t.Errorf("%s run: parent %v trigger %s/%v, want parent %s, agent trigger by %s", name, r.ParentRunID, r.TriggerType, r.TriggerID, sup, supRun.AgentID)
		}
		spans := h.srv.Spans(r.ID)
		if len(spans) != 1 || deref(spans[0].Name) != "chat small-model" {
			t.Errorf("%s run spans %+v, want its LLM call", name, spans)
		}
		var tokens float64
		for _, e := range h.srv.Events(r.ID) {
			if e.Category == "llm" && deref(e.Type) == "llm_response" {
				tokens += e.Metadata["input_tokens"].(float64)
			}
		}
		if tokens != 50 {
			t.Errorf("%s run input tokens %v, want 50", name, tokens)
		}
	}
	if r := runs[byAgent["researcher"]]; r.Status != "failed" || deref(r.Message) != "no sources found" {
		t.Errorf("researcher run %s %q, want failed with the span's status", r.Status, deref(r.Message))
	}
	if r := runs[byAgent["writer"]]; r.Status != "success" {
		t.Errorf("writer run %s, want success", r.Status)
	}
	if a := agents[runs[byAgent["writer"]].AgentID]; a.owner != "content-team" {
		t.Errorf("writer owner %q, want the span's ezop.agent.owner", a.owner)
	}
	if a := agents[runs[byAgent["researcher"]].AgentID]; a.owner != "platform" {
		t.Errorf("researcher owner %q, want the supervisor's (inherited)", a.owner)
	}
	versions := map[string]string{}
	for _, v := range h.srv.Versions() {
		versions[v.AgentID] = v.Version
	}
	if v := versions[runs[byAgent["writer"]].AgentID]; v != "0.9" {
		t.Errorf("writer version %q, want 0.9", v)
	}
	if v := versions[runs[byAgent["researcher"]].AgentID]; v != "2.1.0" {
		t.Errorf("researcher version %q, want the supervisor's 2.1.0", v)
	}
}

type ezopAgent struct{ name, owner string }
