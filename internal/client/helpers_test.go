package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testKey is a recognisable, well-formed API key; no test output, error or
// URL may contain it.
const testKey = "ezop_sk_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// fastRetry keeps the backoff in milliseconds; tests that count sleeps
// install a fakeClock instead.
var fastRetry = RetryConfig{
	Enabled:               true,
	InitialInterval:       time.Millisecond,
	MaxInterval:           4 * time.Millisecond,
	MaxElapsedTime:        20 * time.Second,
	MaxServerErrorRetries: 2,
	MaxQuotaRetries:       2,
}

// newServer starts an httptest server closed at the end of the test.
func newServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// newTestClient builds a client for srvURL with the test key and fast
// retries; opts come last and override.
func newTestClient(t *testing.T, srvURL string, opts ...Option) *Client {
	t.Helper()
	all := append([]Option{WithEndpoint(srvURL), WithAPIKey(testKey), WithRetry(fastRetry)}, opts...)
	c, err := New(all...)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// fakeClock replaces the client's clock and sleep: sleeping records the
// duration and advances the clock at once.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func installFakeClock(c *Client) *fakeClock {
	f := &fakeClock{now: time.Now()}
	c.now = f.Now
	c.sleep = f.Sleep
	return f
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sleeps = append(f.sleeps, d)
	f.now = f.now.Add(d)
	return nil
}

func (f *fakeClock) Sleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

// writeData answers the success envelope.
func writeData(w http.ResponseWriter, status int, data any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"success": true, "data": data, "error": nil})
}

// writeError answers the error envelope.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"success": false, "data": nil,
		"error": map[string]string{"code": code, "message": msg},
	})
}

// writeRaw answers a body that is not the envelope.
func writeRaw(w http.ResponseWriter, status int, contentType, body string) {
	if contentType != "" {
		w.Header().Set("Content-Type", contentType)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// dropConnection closes the connection without answering: the client has
// written its request and reads nothing.
func dropConnection(t *testing.T, w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	_ = conn.Close()
}

// readJSON decodes a request body into a map.
func readJSON(t *testing.T, r *http.Request) map[string]any {
	var m map[string]any
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		t.Errorf("request body: %v", err)
	}
	return m
}

// seen is a request as a handler saw it.
type seen struct {
	Method, Path, RequestURI string
	Header                   http.Header
	Body                     string
}

// recorder records requests; handlers call add first.
type recorder struct {
	mu   sync.Mutex
	reqs []seen
}

func (r *recorder) add(req *http.Request) seen {
	b, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(strings.NewReader(string(b)))
	s := seen{Method: req.Method, Path: req.URL.Path, RequestURI: req.RequestURI, Header: req.Header.Clone(), Body: string(b)}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, s)
	return s
}

func (r *recorder) all() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]seen(nil), r.reqs...)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

// asAPIError asserts err is an *APIError and returns it.
func asAPIError(t *testing.T, err error) *APIError {
	t.Helper()
	require.Error(t, err)
	e, ok := err.(*APIError)
	require.True(t, ok, "error %T is not *APIError: %v", err, err)
	return e
}

// mustGet decodes a record the client returned.
func mustGet[T any](t testing.TB, r Record[T]) T {
	t.Helper()
	v, err := r.Get()
	if err != nil {
		t.Fatalf("decoding the record: %v", err)
	}
	return v
}
