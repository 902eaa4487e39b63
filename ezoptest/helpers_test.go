package ezoptest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// tc is a test client for one emulator.
type tc struct {
	t    testing.TB
	srv  *Server
	http *http.Client
}

func newTC(t testing.TB, opts ...Option) *tc {
	t.Helper()
	srv := NewServer(opts...)
	c := &tc{t: t, srv: srv, http: testClient()}
	t.Cleanup(func() {
		c.http.CloseIdleConnections()
		srv.Close()
	})
	return c
}

// raw is a request body sent exactly as is.
type raw string

type reqOpt func(*http.Request)

// auth sets the Authorization header ("" removes it).
func auth(h string) reqOpt {
	return func(r *http.Request) {
		if h == "" {
			r.Header.Del("Authorization")
		} else {
			r.Header.Set("Authorization", h)
		}
	}
}

// ctype sets the Content-Type header ("" removes it).
func ctype(ct string) reqOpt {
	return func(r *http.Request) {
		if ct == "" {
			r.Header.Del("Content-Type")
		} else {
			r.Header.Set("Content-Type", ct)
		}
	}
}

type result struct {
	Status   int
	Header   http.Header
	Raw      []byte
	Envelope bool
	Success  bool
	Data     any
	Code     string
	Message  string
}

// str returns data.key as a string ("" if absent or not a string).
func (r result) str(key string) string {
	m, _ := r.Data.(map[string]any)
	s, _ := m[key].(string)
	return s
}

// get returns data.key.
func (r result) get(key string) any {
	m, _ := r.Data.(map[string]any)
	return m[key]
}

func (r result) keys() []string {
	m, _ := r.Data.(map[string]any)
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func (c *tc) do(method, path string, body any, opts ...reqOpt) result {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case raw:
			rd = strings.NewReader(string(b))
		default:
			enc, err := json.Marshal(b)
			if err != nil {
				c.t.Fatal(err)
			}
			rd = bytes.NewReader(enc)
		}
	}
	req, err := http.NewRequest(method, c.srv.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.srv.APIKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, o := range opts {
		o(req)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	res := result{Status: resp.StatusCode, Header: resp.Header, Raw: b}
	var env map[string]any
	if json.Unmarshal(b, &env) == nil && isEnvelope(env) {
		res.Envelope = true
		res.Success, _ = env["success"].(bool)
		res.Data = env["data"]
		if e, ok := env["error"].(map[string]any); ok {
			res.Code, _ = e["code"].(string)
			res.Message, _ = e["message"].(string)
		}
	}
	return res
}

// expect asserts the status (and, for errors, the code and message
// fragments).
func (c *tc) expect(r result, status int, code string, msgParts ...string) {
	c.t.Helper()
	if r.Status != status {
		c.t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	if status >= 300 && status != 307 && code != "" {
		if !r.Envelope || r.Success || r.Code != code {
			c.t.Fatalf("want error envelope with code %s: %s", code, r.Raw)
		}
	}
	if status < 300 && (!r.Envelope || !r.Success) {
		c.t.Fatalf("want success envelope: %s", r.Raw)
	}
	for _, p := range msgParts {
		if !strings.Contains(r.Message, p) {
			c.t.Fatalf("message %q does not contain %q", r.Message, p)
		}
	}
}

func (c *tc) agent(name string) string {
	c.t.Helper()
	r := c.do("POST", "/agents/register", map[string]any{"name": name, "owner": "test", "runtime": "go"})
	c.expect(r, 200, "")
	return r.str("id")
}

func (c *tc) run(agentID string, body map[string]any) string {
	c.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	r := c.do("POST", "/agents/"+agentID+"/runs", body)
	c.expect(r, 201, "")
	return r.str("id")
}

func (c *tc) span(runID string, body map[string]any) string {
	c.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	r := c.do("POST", "/runs/"+runID+"/spans", body)
	c.expect(r, 201, "")
	return r.str("id")
}

// fixedClock is a clock tests can move.
type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *fixedClock { return &fixedClock{t: t} }

func (f *fixedClock) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fixedClock) add(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}
