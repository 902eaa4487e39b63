package main

import (
	"bytes"
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/ezoptest"
)

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func TestDemo(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	if err := demo(context.Background(), exporter.WithEndpoint(srv.URL), exporter.WithAPIKey(srv.APIKey)); err != nil {
		t.Fatal(err)
	}
	for _, r := range srv.Rejected() {
		t.Errorf("emulator rejected: %s", r)
	}
	agentName := map[string]string{}
	agentOwner := map[string]string{}
	for _, a := range srv.Agents() {
		agentName[a.ID], agentOwner[a.ID] = a.Name, a.Owner
	}
	runs := map[string]ezoptest.Run{}
	for _, r := range srv.Runs() {
		runs[agentName[r.AgentID]] = r
	}
	if len(runs) != 3 || len(srv.Runs()) != 3 {
		t.Fatalf("runs by agent %v, want supervisor, researcher, writer", runs)
	}
	sup := runs["supervisor"]
	if sup.Status != "success" || sup.TriggerType != "webhook" || deref(sup.TriggerID) != "ticket-7" || sup.ParentRunID != nil {
		t.Errorf("supervisor run %+v", sup)
	}
	var calls []string
	for _, s := range srv.Spans(sup.ID) {
		calls = append(calls, deref(s.Name))
	}
	sort.Strings(calls) // created concurrently: any order
	if strings.Join(calls, ",") != "handle ticket,invoke_agent researcher,invoke_agent writer" {
		t.Errorf("supervisor spans %v, want its root and the two calls", calls)
	}
	for name, want := range map[string]struct{ status, owner string }{
		"researcher": {"failed", "support-team"},
		"writer":     {"success", "content-team"},
	} {
		r := runs[name]
		if r.Status != want.status || deref(r.ParentRunID) != sup.ID || r.TriggerType != "agent" || deref(r.TriggerID) != sup.AgentID {
			t.Errorf("%s run %+v: want %s, child of %s triggered by agent %s", name, r, want.status, sup.ID, sup.AgentID)
		}
		if got := agentOwner[r.AgentID]; got != want.owner {
			t.Errorf("%s owner %q, want %q", name, got, want.owner)
		}
		spans := srv.Spans(r.ID)
		if len(spans) != 1 || deref(spans[0].Name) != "chat gpt-4o-mini" {
			t.Errorf("%s spans %+v, want its LLM call", name, spans)
		}
	}
	if got := deref(runs["researcher"].Message); got != "no sources found for the order" {
		t.Errorf("researcher message %q", got)
	}
}

func TestRunWithoutEnvironment(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if first, _, _ := strings.Cut(text, "\n"); !strings.Contains(first, "in-process Ezop emulator") {
		t.Errorf("first line %q does not say the emulator is used", first)
	}
	for _, want := range []string{`agent="supervisor"`, `agent="researcher" status=failed trigger=agent`, `agent="writer" status=success trigger=agent`, "llm/llm_response"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}
