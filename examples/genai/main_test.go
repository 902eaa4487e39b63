package main

import (
	"bytes"
	"context"
	"go/parser"
	"go/token"
	"sort"
	"strconv"
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

// The example uses no Ezop vocabulary: it imports neither semconv nor
// bridge, and no stored span carries an ezop.* attribute.
func TestNoEzopKeys(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		if strings.HasSuffix(p, "/semconv") || strings.HasSuffix(p, "/bridge") {
			t.Errorf("main.go imports %s", p)
		}
	}
}

func TestDemo(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	var rep reports
	st, err := demo(context.Background(),
		exporter.WithEndpoint(srv.URL), exporter.WithAPIKey(srv.APIKey), exporter.WithErrorHandler(&rep))
	if err != nil {
		t.Fatal(err)
	}
	if a := srv.Agents(); len(a) != 1 || a[0].Name != "research-assistant" || a[0].Owner != "research" {
		t.Errorf("agents: %+v", a)
	}
	runs := srv.Runs()
	if len(runs) != 1 {
		t.Fatalf("runs: %d", len(runs))
	}
	r := runs[0]
	if r.Status != "success" || r.TriggerType != "unknown" {
		t.Errorf("run: %s %s", r.Status, r.TriggerType)
	}

	// The root is the run's top-level span; every other span hangs
	// under it.
	names := map[string]string{}
	rootID := ""
	for _, s := range srv.Spans(r.ID) {
		names[s.ID] = deref(s.Name)
		if s.ParentID == nil {
			rootID = s.ID
		}
	}
	if names[rootID] != "invoke_agent research-assistant" {
		t.Errorf("top-level span %q, want the root", names[rootID])
	}
	for _, s := range srv.Spans(r.ID) {
		if s.ID != rootID && deref(s.ParentID) != rootID {
			t.Errorf("span %s has parent %s, want the root", deref(s.Name), deref(s.ParentID))
		}
		for k := range s.Metadata {
			if strings.HasPrefix(k, "ezop.") {
				t.Errorf("span %s metadata has %s", deref(s.Name), k)
			}
		}
	}
	if len(names) != 7 {
		t.Errorf("spans: %v", names)
	}

	var got []string
	byKind := map[string]ezoptest.Event{}
	for _, e := range srv.Events(r.ID) {
		k := names[deref(e.SpanID)] + ": " + e.Category + "/" + deref(e.Type)
		got = append(got, k)
		byKind[k] = e
	}
	sort.Strings(got)
	want := []string{
		"chat claude-sonnet-4: llm/llm_response",
		"chat gpt-4o-mini: llm/llm_request",
		"chat gpt-4o-mini: llm/llm_response",
		"embeddings text-embedding-3-small: llm/llm_response",
		"execute_tool fetch_page: error/error_raised",
		"execute_tool fetch_page: tool/tool_call_failed",
		"execute_tool fetch_page: tool/tool_call_started",
		"execute_tool web_search: tool/tool_call_completed",
		"execute_tool web_search: tool/tool_call_started",
		"retrieval papers-index: memory/memory_retrieval",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n  %s\nwant:\n  %s\n%s", strings.Join(got, "\n  "), strings.Join(want, "\n  "), srv.Tree(r.ID))
	}

	// Embeddings: input tokens only; an absent count stays absent.
	m := byKind["embeddings text-embedding-3-small: llm/llm_response"].Metadata
	if m["input_tokens"] != 11.0 || m["output_tokens"] != nil {
		t.Errorf("embeddings metadata: %v", m)
	}
	// Current conventions: response model, provider, tokens, cached
	// subset, and the captured messages as input and output.
	e := byKind["chat claude-sonnet-4: llm/llm_response"]
	m = e.Metadata
	if m["model"] != "claude-sonnet-4-20250514" || m["provider"] != "anthropic" ||
		m["input_tokens"] != 1450.0 || m["output_tokens"] != 210.0 || m["cache_read_input_tokens"] != 1024.0 {
		t.Errorf("chat metadata: %v", m)
	}
	if msgs, _ := e.Input["messages"].([]any); len(msgs) != 1 {
		t.Errorf("chat input: %v", e.Input)
	}
	if msgs, _ := e.Output["messages"].([]any); len(msgs) != 1 {
		t.Errorf("chat output: %v", e.Output)
	}
	// Older conventions: the tokens join the instrumentation's own
	// gen_ai.choice event (one llm_response per call).
	e = byKind["chat gpt-4o-mini: llm/llm_response"]
	if e.Name != "gen_ai.choice" || e.Metadata["input_tokens"] != 380.0 || e.Metadata["output_tokens"] != 52.0 ||
		e.Metadata["provider"] != "openai" || e.Metadata["model"] != "gpt-4o-mini" {
		t.Errorf("gen_ai.choice event: %s %v", e.Name, e.Metadata)
	}
	// Tools: arguments in, result out, the failure's message.
	e = byKind["execute_tool web_search: tool/tool_call_started"]
	if args, _ := e.Input["arguments"].(map[string]any); args["query"] == nil || e.Metadata["tool_name"] != "web_search" {
		t.Errorf("tool_call_started: input %v metadata %v", e.Input, e.Metadata)
	}
	if res, _ := byKind["execute_tool web_search: tool/tool_call_completed"].Output["result"].(map[string]any); res["results"] != 3.0 {
		t.Errorf("tool_call_completed output: %v", byKind["execute_tool web_search: tool/tool_call_completed"].Output)
	}
	if msg := byKind["execute_tool fetch_page: error/error_raised"].Error["message"]; msg != "fetch_page: 403 Forbidden" {
		t.Errorf("error_raised: %v", msg)
	}
	// Retrieval: the documents as output.
	if docs, _ := byKind["retrieval papers-index: memory/memory_retrieval"].Output["documents"].([]any); len(docs) != 2 {
		t.Errorf("retrieval output: %v", byKind["retrieval papers-index: memory/memory_retrieval"].Output)
	}

	totals, _ := r.Metadata["totals"].(map[string]any)
	if totals["llm_calls"] != 3.0 || totals["tool_calls"] != 2.0 || totals["input_tokens"] != 11.0+1450+380 ||
		totals["output_tokens"] != 210.0+52 || totals["errors"] != 1.0 {
		t.Errorf("totals: %v", totals)
	}

	for _, rj := range srv.Rejected() {
		t.Errorf("the emulator refused: %s", rj)
	}
	for _, err := range rep.errs {
		t.Errorf("exporter reported: %v", err)
	}
	if st.SpansDropped != 0 || st.EventsDropped != 0 || st.EventsSent != 10 {
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
		!strings.Contains(text, `run agent="research-assistant" status=success`) ||
		!strings.Contains(text, `event llm/llm_response "gen_ai.choice" model=gpt-4o-mini in=380 out=52`) {
		t.Errorf("output:\n%s", text)
	}
}
