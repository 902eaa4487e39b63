package exporter

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/ezoptest"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

// transport wraps the default transport to observe and shape requests:
// it counts them by endpoint, measures concurrency, adds latency, and can
// answer some requests itself (fault) or hang until they are cancelled.
type transport struct {
	base  http.RoundTripper
	delay time.Duration
	// fault, when set, may answer a request instead of the server.
	fault func(r *http.Request, body []byte) *http.Response
	// hang makes every request wait for its cancellation.
	hang bool

	mu          sync.Mutex
	counts      map[string]int
	runEnds     map[string]int // PATCH /runs/{id} by run id
	bodies      [][]byte       // every request body, when keepBodies
	keepBodies  bool
	total       int
	inflight    int
	maxInflight int
}

var idPattern = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// endpointOf names a request like "POST /runs/{id}/spans".
func endpointOf(r *http.Request) string {
	return r.Method + " " + idPattern.ReplaceAllString(r.URL.Path, "{id}")
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		_ = r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	t.mu.Lock()
	if t.counts == nil {
		t.counts = map[string]int{}
	}
	t.counts[endpointOf(r)]++
	if r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, "/runs/") {
		if t.runEnds == nil {
			t.runEnds = map[string]int{}
		}
		t.runEnds[strings.TrimPrefix(r.URL.Path, "/runs/")]++
	}
	if t.keepBodies {
		t.bodies = append(t.bodies, body)
	}
	t.total++
	t.inflight++
	t.maxInflight = max(t.maxInflight, t.inflight)
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.inflight--
		t.mu.Unlock()
	}()
	if t.hang {
		<-r.Context().Done()
		return nil, r.Context().Err()
	}
	if t.delay > 0 {
		select {
		case <-time.After(t.delay):
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	if t.fault != nil {
		if resp := t.fault(r, body); resp != nil {
			return resp, nil
		}
	}
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}

func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (t *transport) count(endpoint string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.counts[endpoint]
}

// ends returns how often each run was ended (PATCHed).
func (t *transport) ends() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]int, len(t.runEnds))
	for k, v := range t.runEnds {
		out[k] = v
	}
	return out
}

// sent returns every request body so far (keepBodies).
func (t *transport) sent() [][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([][]byte(nil), t.bodies...)
}

func (t *transport) requests() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total
}

func (t *transport) peak() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.maxInflight
}

// envelopeResponse builds an API error answer.
func envelopeResponse(r *http.Request, status int, code, msg string) *http.Response {
	b := `{"success":false,"data":null,"error":{"code":"` + code + `","message":"` + msg + `"}}`
	return &http.Response{
		StatusCode: status, Status: http.StatusText(status), Request: r,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   io.NopCloser(strings.NewReader(b)), ContentLength: int64(len(b)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}
}

// handlerLog collects what the exporter reports.
type handlerLog struct {
	mu   sync.Mutex
	errs []error
}

func (h *handlerLog) Handle(err error) {
	h.mu.Lock()
	h.errs = append(h.errs, err)
	h.mu.Unlock()
}

func (h *handlerLog) all() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), h.errs...)
}

func (h *handlerLog) drops() []*DropError {
	var out []*DropError
	for _, err := range h.all() {
		var d *DropError
		if errors.As(err, &d) {
			out = append(out, d)
		}
	}
	return out
}

// env is one test's emulator, transport and exporter.
type env struct {
	t   *testing.T
	srv *ezoptest.Server
	tr  *transport
	exp *Exporter
	log *handlerLog
}

// fast retries keep failing tests short.
var fastRetry = RetryConfig{Enabled: true, InitialInterval: 5 * time.Millisecond, MaxInterval: 20 * time.Millisecond, MaxElapsedTime: 500 * time.Millisecond}

func newEnv(t *testing.T, tr *transport, opts ...Option) *env {
	t.Helper()
	srv := ezoptest.NewServer()
	t.Cleanup(srv.Close)
	return newEnvWith(t, srv, srv.APIKey, tr, opts...)
}

func newEnvWith(t *testing.T, srv *ezoptest.Server, key string, tr *transport, opts ...Option) *env {
	t.Helper()
	if tr == nil {
		tr = &transport{}
	}
	if tr.base == nil {
		base := http.DefaultTransport.(*http.Transport).Clone()
		base.MaxIdleConnsPerHost = 64
		tr.base = base
	}
	log := &handlerLog{}
	all := append([]Option{
		WithEndpoint(srv.URL), WithAPIKey(key),
		WithHTTPClient(&http.Client{Transport: tr}),
		WithRetry(fastRetry), WithErrorHandler(log),
	}, opts...)
	exp, err := New(context.Background(), all...)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: srv, tr: tr, exp: exp, log: log}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = exp.Shutdown(ctx)
	})
	return e
}

func (e *env) export(spans ...sdktrace.ReadOnlySpan) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.exp.ExportSpans(ctx, spans); err != nil {
		e.t.Fatalf("ExportSpans: %v", err)
	}
}

func (e *env) flush() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.exp.ForceFlush(ctx); err != nil {
		e.t.Fatalf("ForceFlush: %v", err)
	}
}

func (e *env) shutdown() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.exp.Shutdown(ctx); err != nil {
		e.t.Fatalf("Shutdown: %v", err)
	}
}

// noRejections fails the test if the emulator refused any request: the
// exporter must never send what the real server would refuse.
func (e *env) noRejections() {
	e.t.Helper()
	for _, r := range e.srv.Rejected() {
		e.t.Errorf("emulator rejected: %s", r)
	}
}

// tracer records spans in memory; tests feed them to the exporter in the
// batches they choose.
type tracer struct {
	rec *tracetest.SpanRecorder
	tp  *sdktrace.TracerProvider
	trace.Tracer
}

var testResource = resource.NewSchemaless(
	semconv.AgentName("test-agent"), semconv.AgentOwner("test-team"), semconv.AgentVersion("1.0.0"))

func newTracer() *tracer {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithResource(testResource))
	return &tracer{rec: rec, tp: tp, Tracer: tp.Tracer("test")}
}

// ended returns the spans ended so far, by name.
func (tr *tracer) byName() map[string]sdktrace.ReadOnlySpan {
	m := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range tr.rec.Ended() {
		m[s.Name()] = s
	}
	return m
}

// pick returns the named ended spans, in order.
func (tr *tracer) pick(t *testing.T, names ...string) []sdktrace.ReadOnlySpan {
	t.Helper()
	m := tr.byName()
	out := make([]sdktrace.ReadOnlySpan, 0, len(names))
	for _, n := range names {
		s, ok := m[n]
		if !ok {
			t.Fatalf("no ended span %q", n)
		}
		out = append(out, s)
	}
	return out
}

// tree makes a trace: a root named prefix+"root" with fanout children per
// level down to depth levels below the root. Children end before parents.
// Every span below the root has one span event. It returns the number of
// spans.
func (tr *tracer) tree(prefix string, depth, fanout int) int {
	ctx, root := tr.Start(context.Background(), prefix+"root")
	n := 1 + tr.subtree(ctx, prefix, "", depth, fanout)
	root.End()
	return n
}

func (tr *tracer) subtree(ctx context.Context, prefix, path string, depth, fanout int) int {
	if depth == 0 {
		return 0
	}
	n := 0
	for i := range fanout {
		name := path + "/" + string(rune('a'+i))
		c, s := tr.Start(ctx, prefix+name)
		n += 1 + tr.subtree(c, prefix, name, depth-1, fanout)
		s.AddEvent("step done")
		s.End()
	}
	return n
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkGoroutines fails if more goroutines run than before, after a short
// grace period for the runtime and net/http to wind down.
func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutines: %d before, %d after Shutdown:\n%s", before, n, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
