package main

import (
	"bytes"
	"context"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/ezoptest"
)

// reports records what the exporter reports through its error handler.
type reports struct {
	mu   sync.Mutex
	errs []error
}

func (r *reports) Handle(err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
}

func (r *reports) all() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// tree returns "parent > child" lines for the spans of a run, sorted; the
// run level is "run".
func tree(srv *ezoptest.Server, runID string) []string {
	names := map[string]string{}
	spans := srv.Spans(runID)
	for _, s := range spans {
		names[s.ID] = deref(s.Name)
	}
	var out []string
	for _, s := range spans {
		parent := "run"
		if s.ParentID != nil {
			parent = names[*s.ParentID]
		}
		out = append(out, parent+" > "+deref(s.Name))
	}
	sort.Strings(out)
	return out
}

// events returns "span: category/type" lines for the events of a run,
// sorted; run-level events are on "run".
func events(srv *ezoptest.Server, runID string) []string {
	names := map[string]string{}
	for _, s := range srv.Spans(runID) {
		names[s.ID] = deref(s.Name)
	}
	var out []string
	for _, e := range srv.Events(runID) {
		span := "run"
		if e.SpanID != nil {
			span = names[*e.SpanID]
		}
		out = append(out, span+": "+e.Category+"/"+deref(e.Type))
	}
	sort.Strings(out)
	return out
}

func same(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

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
	if !strings.Contains(out.String(), "agent answered: Order A-1042 is out for delivery") {
		t.Errorf("output: %q", out.String())
	}

	agents := srv.Agents()
	if len(agents) != 1 || agents[0].Name != "support-agent" || agents[0].Owner != "customer-care" {
		t.Errorf("agents: %+v", agents)
	}
	if v := srv.Versions(); len(v) != 1 || v[0].Version != "1.4.0" {
		t.Errorf("versions: %+v", v)
	}
	runs := srv.Runs()
	if len(runs) != 1 {
		t.Fatalf("runs: %d, want 1", len(runs))
	}
	r := runs[0]
	if r.Status != "success" || r.TriggerType != "user" || r.Message != nil {
		t.Errorf("run: status %s trigger %s message %q", r.Status, r.TriggerType, deref(r.Message))
	}
	same(t, "span tree", tree(srv, r.ID), []string{
		"execute_tool lookup_order > GET /orders/{id}",
		"execute_tool lookup_order > GET /orders/{id}",
		"invoke_agent support-agent > chat gpt-4o",
		"invoke_agent support-agent > chat gpt-4o",
		"invoke_agent support-agent > execute_tool lookup_order",
		"invoke_agent support-agent > retrieval kb-articles",
		"run > invoke_agent support-agent",
	})
	same(t, "events", events(srv, r.ID), []string{
		"GET /orders/{id}: error/error_raised",
		"chat gpt-4o: llm/llm_response",
		"chat gpt-4o: llm/llm_response",
		"execute_tool lookup_order: tool/tool_call_completed",
		"execute_tool lookup_order: tool/tool_call_started",
		"retrieval kb-articles: memory/memory_retrieval",
	})
	for _, s := range srv.Spans(r.ID) {
		if s.EndTime == nil {
			t.Errorf("span %s not closed", deref(s.Name))
		}
	}

	// Tokens and model on the LLM events; the handled error's message.
	var in, outTok float64
	for _, e := range srv.Events(r.ID) {
		switch deref(e.Type) {
		case "llm_response":
			if e.Metadata["model"] != "gpt-4o-2024-08-06" || e.Metadata["provider"] != "openai" {
				t.Errorf("llm_response metadata: %v", e.Metadata)
			}
			i, _ := e.Metadata["input_tokens"].(float64)
			o, _ := e.Metadata["output_tokens"].(float64)
			in, outTok = in+i, outTok+o
		case "error_raised":
			if e.Error["message"] != "orders-api: request timed out after 2s" {
				t.Errorf("error_raised error: %v", e.Error)
			}
		case "tool_call_started", "tool_call_completed":
			if e.Metadata["tool_name"] != "lookup_order" {
				t.Errorf("%s metadata: %v", deref(e.Type), e.Metadata)
			}
		}
	}
	if in != 812+1024 || outTok != 64+96 {
		t.Errorf("tokens: in %v out %v", in, outTok)
	}
	if got := totals(r); got != "llm_calls=2 input_tokens=1836 output_tokens=160 tool_calls=1 errors=1" {
		t.Errorf("run totals: %s", got)
	}

	for _, rj := range srv.Rejected() {
		t.Errorf("the emulator refused: %s", rj)
	}
	for _, err := range rep.all() {
		t.Errorf("exporter reported: %v", err)
	}
	if st.RunsEnded != 1 || st.SpansSent != 7 || st.EventsSent != 6 || st.SpansDropped != 0 || st.EventsDropped != 0 {
		t.Errorf("stats: %+v", st)
	}
}

// Without EZOP_API_KEY: the emulator, one line saying so, then the run as
// stored.
func TestRunWithoutEnvironment(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	lines := strings.Split(text, "\n")
	if !strings.Contains(lines[0], "EZOP_API_KEY is not set") || !strings.Contains(lines[0], "emulator") {
		t.Errorf("first line: %q", lines[0])
	}
	if n := strings.Count(text, "emulator"); n != 1 {
		t.Errorf("the emulator is mentioned %d times, want once:\n%s", n, text)
	}
	for _, want := range []string{
		`run agent="support-agent" status=success trigger=user`,
		`event llm/llm_response "chat gpt-4o" model=gpt-4o-2024-08-06 in=812 out=64`,
		`event tool/tool_call_completed "execute_tool lookup_order"`,
		`event error/error_raised "exception" error="orders-api: request timed out after 2s"`,
		`run totals (metadata): llm_calls=2 input_tokens=1836 output_tokens=160 tool_calls=1 errors=1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "refused") {
		t.Errorf("the emulator refused requests:\n%s", text)
	}
}

// With EZOP_API_URL and EZOP_API_KEY: that server gets the run.
func TestRunWithEnvironment(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	env := map[string]string{"EZOP_API_URL": srv.URL, "EZOP_API_KEY": srv.APIKey}
	var out bytes.Buffer
	if err := run(context.Background(), &out, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(out.String(), "\n"); first != "ezop check: "+srv.URL+" is reachable and accepts the API key" {
		t.Errorf("first line: %q", first)
	}
	if strings.Contains(out.String(), "emulator") || !strings.Contains(out.String(), "sent to "+srv.URL+": 1 run, 7 spans, 6 events") {
		t.Errorf("output:\n%s", out.String())
	}
	if runs := srv.Runs(); len(runs) != 1 || runs[0].Status != "success" {
		t.Errorf("runs: %+v", runs)
	}
	// The check's key request is the one expected refusal: 404 "Agent not
	// found." for an agent id that does not exist.
	for _, rj := range srv.Rejected() {
		if rj.Endpoint != ezoptest.EndpointListRuns || rj.Status != 404 {
			t.Errorf("rejected: %v", rj)
		}
	}
}
