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

type reports struct {
	mu   sync.Mutex
	errs []error
}

func (r *reports) Handle(err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
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
	for _, want := range []string{
		"GET /ask?city=Paris -> 200 Paris: cloudy, 14°C.",
		"GET /ask?city=Oslo -> 200 Oslo: snow, -3°C.",
		"GET /ask?city=Atlantis -> 200 Sorry, I could not get the weather for Atlantis.",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	runs := srv.Runs()
	if len(runs) != len(cities) {
		t.Fatalf("runs: %d, want %d", len(runs), len(cities))
	}
	seen := map[string]bool{}
	for _, r := range runs {
		city, _ := r.Metadata["weather.city"].(string)
		seen[city] = true
		otelInfo, _ := r.Metadata["otel"].(map[string]any)
		// Each request is a run: otelhttp's SERVER span with http.route.
		if r.Status != "success" || r.TriggerType != "api" || deref(r.TriggerID) != "/ask" ||
			otelInfo["kind"] != "server" || r.Metadata["http.route"] != "/ask" {
			t.Errorf("run %s: status %s trigger %s %q, otel %v, route %v",
				city, r.Status, r.TriggerType, deref(r.TriggerID), otelInfo, r.Metadata["http.route"])
		}

		// Span tree: the LLM calls and the tool at run level, otelhttp's
		// CLIENT span under the tool span.
		names := map[string]string{}
		for _, s := range srv.Spans(r.ID) {
			names[s.ID] = deref(s.Name)
		}
		var tree []string
		for _, s := range srv.Spans(r.ID) {
			parent := "run"
			if s.ParentID != nil {
				parent = names[*s.ParentID]
			}
			tree = append(tree, parent+" > "+deref(s.Name))
			if s.EndTime == nil {
				t.Errorf("run %s: span %s not closed", city, deref(s.Name))
			}
		}
		sort.Strings(tree)
		// The request's SERVER span is the run's top-level span.
		wantTree := []string{
			"GET /ask > chat gpt-4o-mini",
			"GET /ask > chat gpt-4o-mini",
			"GET /ask > execute_tool get_weather",
			"execute_tool get_weather > HTTP GET",
			"run > GET /ask",
		}
		if strings.Join(tree, "\n") != strings.Join(wantTree, "\n") {
			t.Errorf("run %s tree:\n  %s\nwant:\n  %s", city, strings.Join(tree, "\n  "), strings.Join(wantTree, "\n  "))
		}

		var evs []string
		var in, outTok float64
		for _, e := range srv.Events(r.ID) {
			evs = append(evs, names[deref(e.SpanID)]+": "+e.Category+"/"+deref(e.Type))
			if deref(e.Type) == "llm_response" {
				i, _ := e.Metadata["input_tokens"].(float64)
				o, _ := e.Metadata["output_tokens"].(float64)
				in, outTok = in+i, outTok+o
			}
			if e.Category == "tool" && e.Metadata["tool_name"] != "get_weather" {
				t.Errorf("run %s: tool event metadata %v", city, e.Metadata)
			}
		}
		sort.Strings(evs)
		wantEvents := []string{
			"chat gpt-4o-mini: llm/llm_response",
			"chat gpt-4o-mini: llm/llm_response",
			"execute_tool get_weather: tool/tool_call_completed",
			"execute_tool get_weather: tool/tool_call_started",
		}
		if city == "Atlantis" {
			// The tool call failed (the agent coped): the tool span's
			// exception, otelhttp's Error status on the 404, and
			// tool_call_failed.
			wantEvents = []string{
				"HTTP GET: error/error_raised",
				"chat gpt-4o-mini: llm/llm_response",
				"chat gpt-4o-mini: llm/llm_response",
				"execute_tool get_weather: error/error_raised",
				"execute_tool get_weather: tool/tool_call_failed",
				"execute_tool get_weather: tool/tool_call_started",
			}
		}
		if strings.Join(evs, "\n") != strings.Join(wantEvents, "\n") {
			t.Errorf("run %s events:\n  %s\nwant:\n  %s\n%s", city, strings.Join(evs, "\n  "), strings.Join(wantEvents, "\n  "), srv.Tree(r.ID))
		}
		if in != 520 || outTok != 42 {
			t.Errorf("run %s tokens: %v in, %v out", city, in, outTok)
		}
	}
	for _, c := range cities {
		if !seen[c] {
			t.Errorf("no run for %s", c)
		}
	}

	for _, rj := range srv.Rejected() {
		t.Errorf("the emulator refused: %s", rj)
	}
	for _, err := range rep.errs {
		t.Errorf("exporter reported: %v", err)
	}
	if st.RunsEnded != 3 || st.SpansDropped != 0 || st.EventsDropped != 0 {
		t.Errorf("stats: %+v", st)
	}
}

func TestRunWithoutEnvironment(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if !strings.HasPrefix(text, "EZOP_API_KEY is not set") ||
		strings.Count(text, `run agent="weather-agent" status=success trigger=api`) != 3 ||
		!strings.Contains(text, `event tool/tool_call_failed "execute_tool get_weather"`) {
		t.Errorf("output:\n%s", text)
	}
}
