package main

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/ezoptest"
)

func TestDemo(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	var rep reports
	var out bytes.Buffer
	st, err := demo(context.Background(), &out,
		exporter.WithEndpoint(srv.URL), exporter.WithAPIKey(srv.APIKey), exporter.WithErrorHandler(&rep))
	if err != nil {
		t.Fatal(err)
	}

	// The agent and version from the ezop.agent.* resource keys.
	agents := srv.Agents()
	if len(agents) != 1 {
		t.Fatalf("agents: %+v", agents)
	}
	a := agents[0]
	if a.Name != "digest-agent" || a.Owner != "newsroom" || deref(a.Runtime) != "go" ||
		deref(a.Description) != "Summarizes the day's sources for a reader." ||
		strings.Join(a.DefaultPermissions, ",") != "read:sources" {
		t.Errorf("agent: %+v", a)
	}
	versions := srv.Versions()
	if len(versions) != 1 || versions[0].Version != "3.2.0" || deref(versions[0].Changelog) != "Digests are saved for the reader." ||
		strings.Join(versions[0].Permissions, ",") != "read:sources,write:digests" {
		t.Errorf("versions: %+v", versions)
	}

	// The run: trigger, user, and the outcome (partial → success, kept in
	// metadata, with the message).
	runs := srv.Runs()
	if len(runs) != 1 {
		t.Fatalf("runs: %d", len(runs))
	}
	r := runs[0]
	if r.TriggerType != "user" || deref(r.TriggerID) != "web-app/digest-button" ||
		deref(r.UserID) != "3f0c9a52-7d1e-4b8a-9c61-2f4e8d0b7a15" {
		t.Errorf("run trigger %s %q user %q", r.TriggerType, deref(r.TriggerID), deref(r.UserID))
	}
	if r.Status != "success" || r.Metadata["requested_status"] != "partial" || deref(r.Message) != "2 of 3 sources summarized" {
		t.Errorf("run outcome: %s %v %q", r.Status, r.Metadata["requested_status"], deref(r.Message))
	}

	// The root "daily digest" is the run's top-level span; the steps
	// hang under it.
	names := map[string]string{}
	var rootID string
	for _, s := range srv.Spans(r.ID) {
		names[s.ID] = deref(s.Name)
		if s.ParentID == nil {
			rootID = s.ID
		}
	}
	if names[rootID] != "daily digest" {
		t.Errorf("top-level span %q, want the root", names[rootID])
	}
	for _, s := range srv.Spans(r.ID) {
		if s.ID != rootID && deref(s.ParentID) != rootID {
			t.Errorf("span %s: parent %s, want the root", deref(s.Name), deref(s.ParentID))
		}
	}
	var got []string
	byName := map[string]ezoptest.Event{}
	for _, e := range srv.Events(r.ID) {
		span := "run"
		if e.SpanID != nil {
			span = names[*e.SpanID]
		}
		k := span + ": " + e.Category + "/" + deref(e.Type)
		if e.Subtype != nil {
			k += "/" + *e.Subtype
		}
		got = append(got, k)
		byName[e.Name] = e
	}
	sort.Strings(got)
	want := []string{
		"daily digest: user/user_feedback",
		"daily digest: user/user_input",
		"load preferences: memory/memory_retrieval",
		"plan: reasoning/reasoning_decision/chain_of_thought",
		"plan: reasoning/reasoning_step",
		"save digest: memory/memory_write",
		"summarize blog: llm/llm_response",
		"summarize paywalled: error/error_raised",
		"summarize paywalled: llm/llm_response/llm_error",
		"summarize wire: llm/llm_response",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n  %s\nwant:\n  %s\n%s", strings.Join(got, "\n  "), strings.Join(want, "\n  "), srv.Tree(r.ID))
	}

	// Payloads of the explicit events.
	if e := byName["choose sources"]; e.IterationID == nil || *e.IterationID != 1 || len(e.Output["sources"].([]any)) != 3 {
		t.Errorf("decision event: iteration %v output %v", e.IterationID, e.Output)
	}
	if e := byName["digest saved"]; e.Input["key"] != "digests/2026-01-02" || e.Metadata["store"] != "redis" {
		t.Errorf("memory_write event: input %v metadata %v", e.Input, e.Metadata)
	}
	if e := byName["reader feedback"]; e.Input["rating"] != 4.0 {
		t.Errorf("feedback event input: %v", e.Input)
	}
	if e := byName["summarize wire"]; e.Metadata["input_tokens"] != 1800.0 || e.Metadata["output_tokens"] != 150.0 {
		t.Errorf("llm_response metadata: %v", e.Metadata)
	}

	for _, rj := range srv.Rejected() {
		t.Errorf("the emulator refused: %s", rj)
	}
	// One report: the requested status changed, once.
	errs := rep.all()
	var notice *exporter.AlterNotice
	if len(errs) != 1 || !errors.As(errs[0], &notice) || !strings.Contains(notice.Reason, "partial sent as success") {
		t.Errorf("reports: %v", errs)
	}
	if st.RunsEnded != 1 || st.SpansSent != 7 || st.EventsSent != 10 || st.SpansDropped != 0 || st.EventsDropped != 0 {
		t.Errorf("stats: %+v", st)
	}
}

func TestRunWithoutEnvironment(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		`run agent="digest-agent" status=success trigger=user`,
		`message="2 of 3 sources summarized"`,
		`event user/user_feedback "reader feedback"`,
		`user_id=3f0c9a52-7d1e-4b8a-9c61-2f4e8d0b7a15 trigger_id=web-app/digest-button requested_status=partial`,
		`exporter reported: ezop exporter: sent altered data`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if !strings.HasPrefix(text, "EZOP_API_KEY is not set") {
		t.Errorf("first line: %s", text)
	}
}
