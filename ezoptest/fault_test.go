package ezoptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

func eventBody() map[string]any { return map[string]any{"name": "e", "category": "llm"} }

// rawDo sends a request and returns the transport error, if any.
func (c *tc) rawDo(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.srv.URL+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.srv.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return resp, err
}

func TestFaultStatusTimes(t *testing.T) {
	c := newTC(t)
	a := c.agent("f")
	c.srv.FailNext(2, 503)
	for i := 0; i < 2; i++ {
		r := c.do("POST", "/agents/"+a+"/runs", map[string]any{})
		c.expect(r, 503, "HTTP_ERROR", "Service Unavailable")
		if r.Header.Get("Retry-After") != "" {
			t.Errorf("no Retry-After unless asked")
		}
	}
	c.run(a, nil)
	if n := len(c.srv.Runs()); n != 1 {
		t.Errorf("%d runs stored, want 1 (failed requests are not processed)", n)
	}
	if n := c.srv.RequestCount(EndpointStartRun); n != 3 {
		t.Errorf("RequestCount = %d, want 3 (injected failures count)", n)
	}
	if rj := c.srv.Rejected(); len(rj) != 0 {
		t.Errorf("injected faults are not rejections: %v", rj)
	}
	// Status codes map to the server's error codes.
	for status, code := range map[int]string{401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 422: "VALIDATION_ERROR", 429: "HTTP_ERROR", 500: "INTERNAL_ERROR", 502: "HTTP_ERROR"} {
		c.srv.FailNext(1, status)
		r := c.do("GET", "/agents/"+a+"/runs", nil)
		c.expect(r, status, code)
		if status == 500 && r.Message != internalMsg {
			t.Errorf("500 message %q", r.Message)
		}
	}
	c.expect(c.do("GET", "/agents/"+a+"/runs", nil), 200, "")
}

func TestFaultEndpointAndRetryAfter(t *testing.T) {
	c := newTC(t)
	run := c.run(c.agent("f"), nil)
	c.srv.Inject(Fault{Endpoint: EndpointEmitEvent, Status: 429, RetryAfter: "2", Message: "Rate limit exceeded"})
	r := c.do("POST", "/runs/"+run+"/events", eventBody())
	c.expect(r, 429, "HTTP_ERROR", "Rate limit exceeded")
	if got := r.Header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q, want 2", got)
	}
	// Other endpoints are not affected.
	c.span(run, nil)
	if len(c.srv.Events(run)) != 0 {
		t.Errorf("a faulted event was stored")
	}
}

func TestFaultEveryNth(t *testing.T) {
	c := newTC(t)
	run := c.run(c.agent("f"), nil)
	c.srv.Inject(Fault{Endpoint: EndpointCreateSpan, Status: 500, EveryNth: 3})
	var got []int
	for i := 0; i < 7; i++ {
		got = append(got, c.do("POST", "/runs/"+run+"/spans", map[string]any{}).Status)
	}
	if fmt.Sprint(got) != "[201 201 500 201 201 500 201]" {
		t.Errorf("statuses %v, want every 3rd to fail", got)
	}
	// Times counts applications: with EveryNth 2 and Times 1 only the 2nd fails.
	c.srv.ClearFaults()
	c.srv.Inject(Fault{Endpoint: EndpointCreateSpan, Status: 502, EveryNth: 2, Times: 1})
	got = nil
	for i := 0; i < 5; i++ {
		got = append(got, c.do("POST", "/runs/"+run+"/spans", map[string]any{}).Status)
	}
	if fmt.Sprint(got) != "[201 502 201 201 201]" {
		t.Errorf("statuses %v", got)
	}
}

func TestFaultHealthExcludedUnlessIncluded(t *testing.T) {
	c := newTC(t)
	c.srv.Inject(Fault{Status: 503})
	c.expect(c.do("GET", "/health", nil), 200, "")
	c.expect(c.do("POST", "/agents/register", map[string]any{"name": "x", "owner": "o", "runtime": "go"}), 503, "HTTP_ERROR")
	c.srv.ClearFaults()
	c.srv.Inject(Fault{Status: 503, IncludeHealth: true, Times: 1})
	c.expect(c.do("GET", "/health", nil), 503, "HTTP_ERROR")
	c.srv.Inject(Fault{Endpoint: EndpointHealth, Status: 500, Times: 1})
	c.expect(c.do("GET", "/health", nil), 500, "INTERNAL_ERROR")
	c.expect(c.do("GET", "/health", nil), 200, "")
}

func TestFaultRemoveAndClear(t *testing.T) {
	c := newTC(t)
	remove := c.srv.Inject(Fault{Status: 500})
	c.expect(c.do("POST", "/agents/register", map[string]any{"name": "x", "owner": "o", "runtime": "go"}), 500, "INTERNAL_ERROR")
	remove()
	remove() // idempotent
	a := c.agent("x")

	c.srv.Inject(Fault{Status: 503})
	c.srv.Inject(Fault{Drop: true, Endpoint: EndpointListRuns})
	c.srv.SetLatency(time.Hour)
	c.srv.RejectKey(true)
	c.srv.ClearFaults()
	c.expect(c.do("GET", "/agents/"+a+"/runs", nil), 200, "")
	c.agent("y")
}

func TestFaultLatency(t *testing.T) {
	c := newTC(t)
	c.srv.Inject(Fault{Endpoint: EndpointRegisterAgent, Latency: 60 * time.Millisecond, Times: 1})
	start := time.Now()
	c.agent("slow")
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Errorf("request took %v, want ≥ 60ms", d)
	}
	c.srv.SetLatency(40 * time.Millisecond)
	start = time.Now()
	c.expect(c.do("GET", "/health", nil), 200, "")
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("health took %v with SetLatency, want ≥ 40ms", d)
	}
	c.srv.SetLatency(0)
}

func TestFaultLatencyHonoursCancellation(t *testing.T) {
	c := newTC(t)
	for _, tt := range []struct {
		name   string
		inject func() func()
	}{
		{"fault latency", func() func() {
			return c.srv.Inject(Fault{Endpoint: EndpointRegisterAgent, Latency: 150 * time.Millisecond})
		}},
		{"global latency", func() func() {
			c.srv.SetLatency(150 * time.Millisecond)
			return func() { c.srv.SetLatency(0) }
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			remove := tt.inject()
			defer remove()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := c.rawDo(ctx, "POST", "/agents/register", map[string]any{"name": tt.name, "owner": "o", "runtime": "go"})
			if err == nil {
				t.Fatal("want a context error")
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("the client waited %v", d)
			}
			// Past the latency, the abandoned request has still not been
			// processed: the server gave up on it.
			time.Sleep(200 * time.Millisecond)
			for _, a := range c.srv.Agents() {
				if a.Name == tt.name {
					t.Errorf("the cancelled request was processed")
				}
			}
		})
	}
}

func TestFaultDropAfterCommit(t *testing.T) {
	c := newTC(t)
	run := c.run(c.agent("f"), nil)
	c.srv.Inject(Fault{Endpoint: EndpointEmitEvent, DropAfterCommit: true, Times: 1})
	id := uuid.NewString()
	body := map[string]any{"id": id, "name": "e", "category": "llm"}
	if _, err := c.rawDo(context.Background(), "POST", "/runs/"+run+"/events", body); err == nil {
		t.Fatal("want a transport error")
	}
	evs := c.srv.Events(run)
	if len(evs) != 1 || evs[0].ID != id {
		t.Fatalf("the write must be stored: %+v", evs)
	}
	// The client's retry hits the duplicate id: 500, like the real server.
	r := c.do("POST", "/runs/"+run+"/events", body)
	c.expect(r, 500, "INTERNAL_ERROR", internalMsg)
	if rj := c.srv.Rejected(); len(rj) != 1 || rj[0].Status != 500 || !bytes.Contains(rj[0].Body, []byte(id)) {
		t.Errorf("Rejected() = %v, want the duplicate's 500 with its body", rj)
	}
}

func TestFaultDrop(t *testing.T) {
	c := newTC(t)
	run := c.run(c.agent("f"), nil)
	c.srv.Inject(Fault{Endpoint: EndpointCreateSpan, Drop: true, Times: 1})
	if _, err := c.rawDo(context.Background(), "POST", "/runs/"+run+"/spans", map[string]any{"name": "s"}); err == nil {
		t.Fatal("want a transport error")
	}
	if n := len(c.srv.Spans(run)); n != 0 {
		t.Errorf("%d spans stored, want 0", n)
	}
	if n := c.srv.RequestCount(EndpointCreateSpan); n != 1 {
		t.Errorf("RequestCount = %d, want 1", n)
	}
	c.span(run, nil)
}

func TestFaultRejectKey(t *testing.T) {
	c := newTC(t)
	a := c.agent("f")
	c.srv.RejectKey(true)
	r := c.do("GET", "/agents/"+a+"/runs", nil)
	c.expect(r, 403, "FORBIDDEN")
	if r.Message != msgInvalidKey {
		t.Errorf("message %q", r.Message)
	}
	c.expect(c.do("GET", "/health", nil), 200, "")
	// Authentication still comes after body decoding and before validation.
	c.expect(c.do("POST", "/agents/register", raw("{")), 422, "VALIDATION_ERROR", "json_invalid")
	c.expect(c.do("POST", "/agents/register", map[string]any{}), 403, "FORBIDDEN")
	c.srv.RejectKey(false)
	c.expect(c.do("GET", "/agents/"+a+"/runs", nil), 200, "")
	for _, rj := range c.srv.Rejected() {
		if rj.Status == 403 {
			t.Errorf("RejectKey answers are not rejections: %v", rj)
		}
	}
}

func TestFaultEventQuota429(t *testing.T) {
	c := newTC(t, WithEventQuota(1))
	run := c.run(c.agent("q"), nil)
	c.expect(c.do("POST", "/runs/"+run+"/events", eventBody()), 201, "")
	r := c.do("POST", "/runs/"+run+"/events", eventBody())
	c.expect(r, 429, "HTTP_ERROR", "Monthly event limit reached (1/1). Upgrade your plan to emit more events.")
	if r.Header.Get("Retry-After") != "" {
		t.Errorf("a quota 429 has no Retry-After")
	}
	if rj := c.srv.Rejected(); len(rj) != 1 || rj[0].Status != 429 || rj[0].Code != "HTTP_ERROR" {
		t.Errorf("the quota 429 is the server's own answer: %v", rj)
	}
}

func TestFaultAgentLimit429(t *testing.T) {
	c := newTC(t, WithAgentLimit(1))
	c.agent("one")
	r := c.do("POST", "/agents/register", map[string]any{"name": "two", "owner": "test", "runtime": "go"})
	c.expect(r, 429, "HTTP_ERROR", "Agent limit reached (1/1). Upgrade your plan to register more agents.")
	if r.Header.Get("Retry-After") != "" {
		t.Errorf("a plan-limit 429 has no Retry-After")
	}
	c.agent("one")
	c0 := newTC(t, WithAgentLimit(0))
	c0.expect(c0.do("POST", "/agents/register", map[string]any{"name": "x", "owner": "o", "runtime": "go"}), 429, "HTTP_ERROR", "(0/0)")
}

// waitGoroutines polls until the goroutine count is at most n.
func waitGoroutines(n int) int {
	deadline := time.Now().Add(3 * time.Second)
	for {
		got := runtime.NumGoroutine()
		if got <= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCloseWithInFlightRequests(t *testing.T) {
	client := testClient()
	base := runtime.NumGoroutine()
	srv := NewServer()
	srv.Inject(Fault{Endpoint: EndpointRegisterAgent, Latency: time.Minute})
	srv.SetLatency(0)
	errs := make(chan error, 5)
	for i := 0; i < 5; i++ {
		go func(i int) {
			b, _ := json.Marshal(map[string]any{"name": fmt.Sprint(i), "owner": "o", "runtime": "go"})
			req, _ := http.NewRequest("POST", srv.URL+"/agents/register", bytes.NewReader(b))
			req.Header.Set("Authorization", "Bearer "+srv.APIKey)
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			errs <- err
		}(i)
	}
	deadline := time.Now().Add(3 * time.Second)
	for srv.RequestCount(EndpointRegisterAgent) < 5 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	srv.Close()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v with slow requests in flight", d)
	}
	for i := 0; i < 5; i++ {
		if err := <-errs; err == nil {
			t.Errorf("an in-flight request got an answer after Close")
		}
	}
	srv.Close() // idempotent
	if n := len(srv.Agents()); n != 0 {
		t.Errorf("%d agents stored by aborted requests", n)
	}
	client.CloseIdleConnections()
	if got := waitGoroutines(base); got > base {
		buf := make([]byte, 1<<16)
		n := runtime.Stack(buf, true)
		t.Errorf("%d goroutines after Close, %d before:\n%s", got, base, buf[:n])
	}
	if _, err := http.Get(srv.URL + "/health"); err == nil {
		t.Errorf("the server still answers after Close")
	}
}

func TestNoGoroutineLeakAfterUse(t *testing.T) {
	base := runtime.NumGoroutine()
	for i := 0; i < 3; i++ {
		c := &tc{t: t, srv: NewServer(), http: testClient()}
		run := c.run(c.agent("leak"), nil)
		c.span(run, nil)
		c.srv.Inject(Fault{Drop: true, Times: 1})
		_, _ = c.rawDo(context.Background(), "POST", "/runs/"+run+"/spans", map[string]any{})
		c.http.CloseIdleConnections()
		c.srv.Close()
	}
	if got := waitGoroutines(base); got > base {
		t.Errorf("%d goroutines after closing servers, %d before", got, base)
	}
}

func TestRestartOnSameAddress(t *testing.T) {
	c := newTC(t)
	run := c.run(c.agent("restart"), nil)
	addr := c.srv.Addr()
	c.http.CloseIdleConnections()
	c.srv.Close()
	srv2, err := Start(addr, WithDataFrom(c.srv))
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	if srv2.URL != c.srv.URL || srv2.APIKey != c.srv.APIKey || srv2.OrganizationID() != c.srv.OrganizationID() {
		t.Errorf("restarted server: %s %s", srv2.URL, srv2.OrganizationID())
	}
	c2 := &tc{t: t, srv: srv2, http: testClient()}
	defer c2.http.CloseIdleConnections()
	c2.span(run, nil)
	srv3, err := Start(addr)
	if err == nil {
		srv3.Close()
		t.Errorf("Start on a busy address must fail")
	}
	// A fresh server on the address has no data.
	srv2.Close()
	srv4, err := Start(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer srv4.Close()
	c4 := &tc{t: t, srv: srv4, http: testClient()}
	defer c4.http.CloseIdleConnections()
	c4.expect(c4.do("POST", "/runs/"+run+"/spans", map[string]any{}), 404, "NOT_FOUND")
}

// 8 goroutines × 50 requests, with inspection and fault injection running
// at the same time.
func TestConcurrentUse(t *testing.T) {
	c := newTC(t)
	a := c.agent("conc")
	const workers, perWorker = 8, 50
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = c.srv.Runs()
			_ = c.srv.AllEvents()
			_ = c.srv.Requests()
			_ = c.srv.Rejected()
			remove := c.srv.Inject(Fault{Endpoint: EndpointListRuns, Latency: time.Microsecond})
			remove()
			time.Sleep(time.Millisecond)
		}
	}()
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			wc := &tc{t: t, srv: c.srv, http: c.http}
			r := wc.do("POST", "/agents/"+a+"/runs", map[string]any{})
			run := r.str("id")
			span := wc.do("POST", "/runs/"+run+"/spans", map[string]any{"name": fmt.Sprint(w)}).str("id")
			for i := 0; i < perWorker-3; i++ {
				var res result
				if i%10 == 9 {
					res = wc.do("GET", "/agents/"+a+"/runs", nil)
				} else {
					res = wc.do("POST", "/runs/"+run+"/events", map[string]any{"name": fmt.Sprint(i), "category": "tool", "type": "tool_call_started", "span_id": span})
				}
				if res.Status >= 300 {
					errs <- fmt.Errorf("worker %d: %d %s", w, res.Status, res.Raw)
					return
				}
			}
			if res := wc.do("PATCH", "/runs/"+run, map[string]any{"status": "success"}); res.Status != 200 {
				errs <- fmt.Errorf("worker %d: end run %d", w, res.Status)
			}
		}(w)
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	evs := c.srv.AllEvents()
	wantEvents := workers * (perWorker - 3 - (perWorker-3)/10)
	if len(evs) != wantEvents {
		t.Errorf("%d events, want %d", len(evs), wantEvents)
	}
	seqs := make([]int64, len(evs))
	for i, e := range evs {
		seqs[i] = e.Sequence
	}
	if !sort.SliceIsSorted(seqs, func(i, j int) bool { return seqs[i] < seqs[j] }) {
		t.Errorf("AllEvents not in sequence order")
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] == seqs[i-1] {
			t.Errorf("duplicate sequence %d", seqs[i])
		}
	}
	total := 0
	for _, n := range c.srv.Requests() {
		total += n
	}
	if want := 1 + workers*perWorker; total != want {
		t.Errorf("%d requests counted, want %d", total, want)
	}
	if rj := c.srv.Rejected(); len(rj) != 0 {
		t.Errorf("rejections: %v", rj)
	}
	for _, r := range c.srv.Runs() {
		if r.Status != "success" {
			t.Errorf("run %s status %s", r.ID, r.Status)
		}
	}
}
