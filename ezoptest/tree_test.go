package ezoptest

import (
	"strings"
	"testing"
	"time"
)

func TestTree(t *testing.T) {
	clk := newClock(time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC))
	c := newTC(t, WithClock(clk.now))
	run := c.run(c.agent("planner"), map[string]any{"trigger_type": "api"})
	const (
		root   = "10000000-0000-4000-8000-000000000001"
		chat   = "10000000-0000-4000-8000-000000000002"
		tool   = "10000000-0000-4000-8000-000000000003"
		bg     = "10000000-0000-4000-8000-000000000004"
		tieA   = "00000000-0000-4000-8000-00000000000a"
		tieB   = "ffffffff-0000-4000-8000-00000000000b"
		noName = "10000000-0000-4000-8000-000000000005"
	)
	spans := []map[string]any{
		{"id": bg, "name": "background", "start_time": "2026-01-02T03:04:06Z"},
		{"id": root, "name": "agent.invoke", "start_time": "2026-01-02T03:04:05Z"},
		{"id": tool, "name": "tool search", "parent_id": root, "start_time": "2026-01-02T03:04:06.1Z"},
		{"id": chat, "name": "chat gpt-4o", "parent_id": root, "start_time": "2026-01-02T03:04:05.25Z"},
		{"id": tieB, "name": "tie-b", "start_time": "2026-01-02T03:04:09Z"},
		{"id": tieA, "name": "tie-a", "start_time": "2026-01-02T03:04:09Z"},
		{"id": noName, "parent_id": chat, "start_time": "2026-01-02T03:04:05.5Z"},
	}
	for _, sp := range spans {
		c.span(run, sp)
	}
	for id, end := range map[string]string{
		root: "2026-01-02T03:04:07.5Z", chat: "2026-01-02T03:04:06Z", tool: "2026-01-02T03:04:06.35Z",
		tieA: "2026-01-02T03:04:10Z", tieB: "2026-01-02T03:04:09.001Z", noName: "2026-01-02T03:04:05.5Z",
	} {
		c.expect(c.do("PATCH", "/spans/"+id, map[string]any{"end_time": end}), 200, "")
	}
	events := []map[string]any{
		{"name": "agent.start", "category": "agent", "type": "agent_run_started", "timestamp": "2026-01-02T03:04:05Z"},
		{"name": "user.input", "category": "user", "type": "user_input", "timestamp": "2026-01-02T03:04:04Z"},
		{"name": "llm.response", "category": "llm", "type": "llm_response", "span_id": chat, "timestamp": "2026-01-02T03:04:06Z",
			"metadata": map[string]any{"model": "gpt-4o", "input_tokens": 12, "output_tokens": 34}},
		{"name": "llm.request", "category": "llm", "type": "llm_request", "span_id": chat, "timestamp": "2026-01-02T03:04:05.25Z",
			"metadata": map[string]any{"model": "gpt-4o"}},
		{"name": "tool.call", "category": "tool", "type": "tool_call_failed", "subtype": "timeout", "span_id": tool,
			"timestamp": "2026-01-02T03:04:06.35Z", "error": map[string]any{"message": "timed out"}},
		{"name": "note", "category": "reasoning", "span_id": root, "timestamp": "2026-01-02T03:04:05Z"},
	}
	for _, e := range events {
		c.expect(c.do("POST", "/runs/"+run+"/events", e), 201, "")
	}
	clk.add(8 * time.Second)
	c.expect(c.do("PATCH", "/runs/"+run, map[string]any{"status": "success", "message": "done"}), 200, "")

	want := strings.Join([]string{
		`run agent="planner" status=success trigger=api duration=8s message="done"`,
		`├── event user/user_input "user.input"`,
		`├── event agent/agent_run_started "agent.start"`,
		`├── span "agent.invoke" 2.5s`,
		`│   ├── event reasoning "note"`,
		`│   ├── span "chat gpt-4o" 750ms`,
		`│   │   ├── event llm/llm_request "llm.request" model=gpt-4o`,
		`│   │   ├── event llm/llm_response "llm.response" model=gpt-4o in=12 out=34`,
		`│   │   └── span (unnamed) 0s`,
		`│   └── span "tool search" 250ms`,
		`│       └── event tool/tool_call_failed/timeout "tool.call" error="timed out"`,
		`├── span "background" (open)`,
		`├── span "tie-a" 1s`,
		`└── span "tie-b" 1ms`,
		``,
	}, "\n")
	got := c.srv.Tree(run)
	if got != want {
		t.Errorf("Tree:\n%s\nwant:\n%s", got, want)
	}
	// Any spelling of the run id; the same output every time.
	if again := c.srv.Tree(strings.ToUpper(run)); again != got {
		t.Errorf("Tree is not deterministic:\n%s", again)
	}
	if got := c.srv.Tree("00000000-0000-0000-0000-000000000000"); got != "run 00000000-0000-0000-0000-000000000000: not found\n" {
		t.Errorf("unknown run: %q", got)
	}
}

func TestTreeRunningRun(t *testing.T) {
	c := newTC(t)
	run := c.run(c.agent("r"), nil)
	if got, want := c.srv.Tree(run), "run agent=\"r\" status=running trigger=unknown\n"; got != want {
		t.Errorf("Tree = %q, want %q", got, want)
	}
}
