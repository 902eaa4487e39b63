package ezoptest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/ezopotel/ezop-otel-go/ezoptest"
)

// post sends one JSON request and returns the status and the envelope's
// data.
func post(srv *ezoptest.Server, method, path string, body any) (int, map[string]any) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+srv.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var env struct {
		Data map[string]any `json:"data"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&env)
	return resp.StatusCode, env.Data
}

// A client records a run with nested spans and events; the test then
// checks that the real server would have accepted every request and looks
// at the run.
func Example() {
	var clock atomic.Int64 // the server clock, in Unix microseconds
	clock.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMicro())
	srv := ezoptest.NewServer(ezoptest.WithClock(func() time.Time { return time.UnixMicro(clock.Load()) }))
	defer srv.Close()

	_, agent := post(srv, "POST", "/agents/register", map[string]any{"name": "support-bot", "owner": "team-a", "runtime": "go"})
	_, run := post(srv, "POST", "/agents/"+agent["id"].(string)+"/runs", map[string]any{"trigger_type": "api"})
	runID := run["id"].(string)

	root := "6f1c2d3e-0000-4000-8000-000000000001"
	llm := "6f1c2d3e-0000-4000-8000-000000000002"
	post(srv, "POST", "/runs/"+runID+"/spans", map[string]any{"id": root, "name": "agent.invoke", "start_time": "2026-01-02T03:04:05Z"})
	post(srv, "POST", "/runs/"+runID+"/spans", map[string]any{"id": llm, "name": "chat gpt-4o", "parent_id": root, "start_time": "2026-01-02T03:04:05.1Z"})
	post(srv, "POST", "/runs/"+runID+"/events", map[string]any{
		"name": "llm.response", "category": "llm", "type": "llm_response", "span_id": llm,
		"metadata": map[string]any{"model": "gpt-4o", "input_tokens": 12, "output_tokens": 34},
	})
	post(srv, "PATCH", "/spans/"+llm, map[string]any{"end_time": "2026-01-02T03:04:05.9Z"})
	post(srv, "PATCH", "/spans/"+root, map[string]any{"end_time": "2026-01-02T03:04:06.5Z"})
	clock.Add(1_500_000) // the work took 1.5s
	status, _ := post(srv, "PATCH", "/runs/"+runID, map[string]any{"status": "success"})
	fmt.Println("end run:", status)

	// A request the real server refuses: "partial" is not a run status.
	status, _ = post(srv, "PATCH", "/runs/"+runID, map[string]any{"status": "partial"})
	fmt.Println("partial:", status)

	for _, r := range srv.Rejected() {
		fmt.Println("rejected:", r.Endpoint, r.Status, r.Code)
	}
	fmt.Print(srv.Tree(runID))
	// Output:
	// end run: 200
	// partial: 422
	// rejected: PATCH /runs/{run_id} 422 VALIDATION_ERROR
	// run agent="support-bot" status=success trigger=api duration=1.5s
	// └── span "agent.invoke" 1.5s
	//     └── span "chat gpt-4o" 800ms
	//         └── event llm/llm_response "llm.response" model=gpt-4o in=12 out=34
}

// Injected faults make the server fail the way a proxy or an overloaded
// deployment would; they are not in Rejected.
func ExampleServer_Inject() {
	srv := ezoptest.NewServer()
	defer srv.Close()
	srv.Inject(ezoptest.Fault{Endpoint: ezoptest.EndpointRegisterAgent, Status: 503, RetryAfter: "1", Times: 1})

	body := map[string]any{"name": "a", "owner": "o", "runtime": "go"}
	first, _ := post(srv, "POST", "/agents/register", body)
	second, _ := post(srv, "POST", "/agents/register", body)
	fmt.Println(first, second, srv.RequestCount(ezoptest.EndpointRegisterAgent), len(srv.Rejected()))
	// Output:
	// 503 200 2 0
}
