package exporter

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ezopotel/ezop-otel-go/ezoptest"
)

// The findings of the lifecycle review about run starts whose answer is
// lost (items 3 and 10), through the exporter: adoption reads only the head
// of an agent's run list, never takes another process's run, and a
// caller's HTTP client never takes the key elsewhere.

// startCapture keeps the body of the exporter's last run start, so a test
// can make runs the server takes for the same request.
type startCapture struct {
	mu   sync.Mutex
	body []byte
}

func (c *startCapture) fault(r *http.Request, body []byte) *http.Response {
	if endpointOf(r) == "POST /agents/{id}/runs" {
		c.mu.Lock()
		c.body = append([]byte(nil), body...)
		c.mu.Unlock()
	}
	return nil
}

func (c *startCapture) last() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.body
}

// apiCall sends one request to the emulator as another client would and
// returns the id in its answer.
func apiCall(t *testing.T, srv *ezoptest.Server, method, path string, body []byte) string {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+srv.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Success bool
		Data    struct{ ID string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || !env.Success {
		t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, err)
	}
	return env.Data.ID
}

// runNamed returns the runs whose root span was named name.
func runsNamed(srv *ezoptest.Server, name string) []ezoptest.Run {
	var out []ezoptest.Run
	for _, r := range srv.Runs() {
		if m, _ := r.Metadata["otel"].(map[string]any); m["name"] == name {
			out = append(out, r)
		}
	}
	return out
}

// warmUp sends one trace so that the agent and its version exist, and
// returns the agent's id.
func warmUp(t *testing.T, e *env, tr *tracer) string {
	t.Helper()
	_, warm := tr.Start(context.Background(), "warm")
	warm.End()
	e.export(tr.pick(t, "warm")...)
	if len(e.srv.Agents()) != 1 || len(runsNamed(e.srv, "warm")) != 1 {
		t.Fatalf("warm-up: agents %d, runs %d", len(e.srv.Agents()), len(e.srv.Runs()))
	}
	return e.srv.Agents()[0].ID
}

// 3. An agent with a long history: its run list is larger than any answer
// the client reads (32 MiB). A run start whose answer is lost is looked up
// in the head of the list (newest first) and adopted: one run, no second
// create, nothing dropped.
func TestLifecycleAdoptionWithALongHistory(t *testing.T) {
	var offset atomic.Int64 // server clock minus real time
	srv := ezoptest.NewServer(ezoptest.WithClock(func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }))
	t.Cleanup(srv.Close)
	starts := &startCapture{}
	// The server must build the whole list before its first byte: the
	// look-up gets a budget for that (the default is 60 s).
	retry := fastRetry
	retry.MaxElapsedTime = 30 * time.Second
	e := newEnvWith(t, srv, srv.APIKey, &transport{fault: starts.fault}, WithRetry(retry))
	tr := newTracer()
	agentID := warmUp(t, e, tr)

	// The history: 34 runs ended two hours ago, each with 1 MiB of
	// metadata, 34 MiB in the list.
	offset.Store(int64(-2 * time.Hour))
	end, _ := json.Marshal(map[string]any{"status": "success", "metadata": map[string]any{"notes": strings.Repeat("x", 1<<20)}})
	history := map[string]bool{}
	for range 34 {
		id := apiCall(t, srv, http.MethodPost, "/agents/"+agentID+"/runs", starts.last())
		apiCall(t, srv, http.MethodPatch, "/runs/"+id, end)
		history[id] = true
	}
	offset.Store(0)

	srv.Inject(ezoptest.Fault{Endpoint: ezoptest.EndpointStartRun, DropAfterCommit: true, Times: 1})
	_, root := tr.Start(context.Background(), "after the cut")
	root.End()
	e.export(tr.pick(t, "after the cut")...)
	e.shutdown()

	if n := len(runsNamed(srv, "after the cut")); n != 1 {
		t.Errorf("%d runs for the trace, want 1", n)
	}
	if n := len(srv.Runs()); n != 36 {
		t.Errorf("%d runs, want 36 (warm-up, history, the adopted one)", n)
	}
	if n := srv.RequestCount(ezoptest.EndpointListRuns); n != 1 {
		t.Errorf("%d run list reads, want 1", n)
	}
	st := e.exp.Stats()
	if st.RunsAdopted != 1 || st.RunStartsAmbiguous != 0 {
		t.Errorf("adopted %d, ambiguous %d; want 1, 0", st.RunsAdopted, st.RunStartsAmbiguous)
	}
	if st.SpansDropped != 0 || st.EventsDropped != 0 || len(e.log.drops()) != 0 {
		t.Errorf("dropped: %+v, reported %v", st.Dropped, e.log.drops())
	}
	for _, r := range srv.Runs() {
		if !history[r.ID] && (r.Status == "running" || e.tr.ends()[r.ID] != 1) {
			t.Errorf("run %s: %s, ended %d times; want ended once", r.ID, r.Status, e.tr.ends()[r.ID])
		}
	}
	e.noRejections()
}

// 10. Another process of the same agent starts a run with the same trigger
// in the same seconds as a run start whose answer is lost: two candidates,
// and the exporter cannot tell its own. It takes neither: the other
// process's run is never touched, the trace gets a run of its own, and the
// look-up is counted.
func TestLifecycleAdoptionNeverTakesAnotherProcesssRun(t *testing.T) {
	starts := &startCapture{}
	tp := &transport{fault: starts.fault}
	e := newEnv(t, tp)
	tr := newTracer()
	agentID := warmUp(t, e, tr)
	other := apiCall(t, e.srv, http.MethodPost, "/agents/"+agentID+"/runs", starts.last())

	e.srv.Inject(ezoptest.Fault{Endpoint: ezoptest.EndpointStartRun, DropAfterCommit: true, Times: 1})
	_, root := tr.Start(context.Background(), "mine")
	root.End()
	e.export(tr.pick(t, "mine")...)
	e.shutdown()

	mine := runsNamed(e.srv, "mine")
	if len(mine) != 1 || mine[0].ID == other || mine[0].Status == "running" {
		t.Fatalf("the trace's runs %+v (the other process's is %s)", mine, other)
	}
	if n := tp.ends()[mine[0].ID]; n != 1 {
		t.Errorf("the trace's run ended %d times", n)
	}
	if r, _ := e.srv.Run(other); r.Status != "running" || tp.ends()[other] != 0 {
		t.Errorf("the other process's run was touched: %s, %d ends", r.Status, tp.ends()[other])
	}
	// warm-up, the other's, the one the lost start stored, the new one.
	if n := len(e.srv.Runs()); n != 4 {
		t.Errorf("%d runs, want 4", n)
	}
	if n := e.srv.RequestCount(ezoptest.EndpointStartRun); n != 4 {
		t.Errorf("%d run starts, want 4", n)
	}
	st := e.exp.Stats()
	if st.RunsAdopted != 0 || st.RunStartsAmbiguous != 1 {
		t.Errorf("adopted %d, ambiguous %d; want 0, 1", st.RunsAdopted, st.RunStartsAmbiguous)
	}
	if st.SpansDropped != 0 || st.EventsDropped != 0 {
		t.Errorf("dropped: %+v", st.Dropped)
	}
	e.noRejections()
}

// 10. A caller's HTTP client that follows redirects never takes the API
// key elsewhere: the exporter does not follow them, says so, and the key
// is in no error.
func TestLifecycleCallerClientRedirectsKeepTheKey(t *testing.T) {
	var leaked atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Add(1)
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	defer elsewhere.Close()
	var target atomic.Value
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.Load().(string)+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer api.Close()
	const key = "ezop_sk_redirect_secret_0123456789"
	for name, to := range map[string]string{
		"other host":    elsewhere.URL,
		"https to http": strings.Replace(api.URL, "https://", "http://", 1),
	} {
		t.Run(name, func(t *testing.T) {
			target.Store(to)
			log := &handlerLog{}
			hc := api.Client() // follows redirects by default
			exp, err := New(context.Background(), WithEndpoint(api.URL), WithAPIKey(key),
				WithHTTPClient(hc), WithRetry(fastRetry), WithErrorHandler(log))
			if err != nil {
				t.Fatal(err)
			}
			tr := newTracer()
			_, root := tr.Start(context.Background(), "root")
			root.End()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			exportErr := exp.ExportSpans(ctx, tr.rec.Ended())
			if err := exp.Shutdown(ctx); err != nil {
				t.Logf("Shutdown: %v", err)
			}
			if n := leaked.Load(); n != 0 {
				t.Fatalf("the API key followed %d redirects", n)
			}
			if hc.CheckRedirect != nil {
				t.Error("the caller's client was changed")
			}
			var said []string
			for _, err := range append(log.all(), exportErr) {
				if err != nil {
					said = append(said, err.Error())
				}
			}
			all := strings.Join(said, "\n")
			if !strings.Contains(all, "redirects are not followed") {
				t.Errorf("the redirect is not named in what was reported:\n%s", all)
			}
			if strings.Contains(all, key) {
				t.Error("the API key is in an error")
			}
			if st := exp.Stats(); st.SpansDropped != 1 || st.RunsStarted != 0 {
				t.Errorf("spans dropped %d, runs started %d; want 1, 0", st.SpansDropped, st.RunsStarted)
			}
		})
	}
}
