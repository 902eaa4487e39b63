package client

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
)

// flappingServer serves handler on a fixed address that can go down
// (connections refused) and come back.
type flappingServer struct {
	t       *testing.T
	addr    string
	handler http.Handler
	mu      sync.Mutex
	srv     *httptest.Server
	hits    atomic.Int64 // requests answered, health probes included
	probes  atomic.Int64
}

func newFlappingServer(t *testing.T, h http.HandlerFunc) *flappingServer {
	f := &flappingServer{t: t}
	f.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		if r.URL.Path == "/health" {
			f.probes.Add(1)
			writeData(w, 200, map[string]any{"status": "ok"})
			return
		}
		h(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f.addr = ln.Addr().String()
	f.serve(ln)
	t.Cleanup(f.down)
	return f
}

func (f *flappingServer) serve(ln net.Listener) {
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: f.handler}}
	srv.Start()
	f.mu.Lock()
	f.srv = srv
	f.mu.Unlock()
}

func (f *flappingServer) down() {
	f.mu.Lock()
	srv := f.srv
	f.srv = nil
	f.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

func (f *flappingServer) up() {
	var ln net.Listener
	var err error
	for range 100 { // the port may take a moment to be free again
		if ln, err = net.Listen("tcp", f.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(f.t, err)
	f.serve(ln)
}

func registered(w http.ResponseWriter, _ *http.Request) {
	writeData(w, 200, map[string]any{"id": agentID, "name": "a", "owner": "o", "runtime": "go"})
}

var shortRetry = RetryConfig{Enabled: true, InitialInterval: 10 * time.Millisecond, MaxInterval: 20 * time.Millisecond, MaxElapsedTime: 200 * time.Millisecond}

// Through an outage longer than the retry budget, a request waits and
// succeeds once the server is back; meanwhile nothing but health probes
// is sent, and the outage is reported once when it starts and once when
// it ends.
func TestOutageWaitsAndResumes(t *testing.T) {
	srv := newFlappingServer(t, registered)
	var events []bool
	var mu sync.Mutex
	c := newTestClient(t, "http://"+srv.addr, WithRetry(shortRetry), WithMaxOutage(time.Minute),
		WithOutageHook(func(down bool, _ time.Time, _ error) { mu.Lock(); events = append(events, down); mu.Unlock() }))
	t.Cleanup(c.Close)
	srv.down()

	const calls = 5
	errs := make(chan error, calls)
	for range calls {
		go func() {
			_, err := c.RegisterAgent(context.Background(), wire.RegisterAgentRequest{Name: "a", Owner: "o", Runtime: "go"})
			errs <- err
		}()
	}
	// Down for three times the budget: without outage handling every call
	// would have failed by now.
	time.Sleep(3 * shortRetry.MaxElapsedTime)
	down, since := c.Down()
	require.True(t, down, "no outage after %d unanswered requests", outageAfter)
	assert.False(t, since.IsZero())
	srv.up()
	for range calls {
		require.NoError(t, <-errs)
	}
	assert.Equal(t, int64(calls), srv.hits.Load()-srv.probes.Load(), "each call answered once, after the outage")
	st := c.Stats()
	assert.Equal(t, int64(1), st.Outages)
	assert.GreaterOrEqual(t, st.Probes, int64(1))
	assert.LessOrEqual(t, st.Requests-st.Probes, int64(calls*outageAfter+calls), "no retry storm through the outage")
	mu.Lock()
	assert.Equal(t, []bool{true, false}, events)
	mu.Unlock()
	down, _ = c.Down()
	assert.False(t, down)
}

// An outage longer than WithMaxOutage fails the waiting requests with
// ErrUnavailable, and new ones at once; the client recovers when the
// server answers again.
func TestOutageLongerThanTheLimit(t *testing.T) {
	srv := newFlappingServer(t, registered)
	c := newTestClient(t, "http://"+srv.addr, WithRetry(shortRetry), WithMaxOutage(300*time.Millisecond))
	t.Cleanup(c.Close)
	srv.down()
	_, err := c.RegisterAgent(context.Background(), wire.RegisterAgentRequest{Name: "a", Owner: "o", Runtime: "go"})
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Contains(t, err.Error(), "longer than 300ms")
	start := time.Now()
	_, err = c.RegisterAgent(context.Background(), wire.RegisterAgentRequest{Name: "a", Owner: "o", Runtime: "go"})
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Less(t, time.Since(start), 100*time.Millisecond, "fails at once while the outage lasts")
	assert.Equal(t, int64(2), c.Stats().Unavailable)
	srv.up()
	require.Eventually(t, func() bool { d, _ := c.Down(); return !d }, 20*time.Second, 10*time.Millisecond)
	_, err = c.RegisterAgent(context.Background(), wire.RegisterAgentRequest{Name: "a", Owner: "o", Runtime: "go"})
	require.NoError(t, err)
}

// A server that answers, even with refusals, is up: 503s count toward an
// outage, a 422 or a quota 429 does not, and keeps its own budget.
func TestRefusalsAreNotAnOutage(t *testing.T) {
	for name, status := range map[string]int{"422": 422, "quota 429": 429, "500": 500} {
		t.Run(name, func(t *testing.T) {
			srv := newFlappingServer(t, func(w http.ResponseWriter, r *http.Request) {
				writeError(w, status, wire.CodeHTTPError, "refused")
			})
			c := newTestClient(t, "http://"+srv.addr, WithRetry(shortRetry), WithMaxOutage(time.Minute))
			t.Cleanup(c.Close)
			for range 5 {
				_, err := c.RegisterAgent(context.Background(), wire.RegisterAgentRequest{Name: "a", Owner: "o", Runtime: "go"})
				require.Error(t, err)
			}
			down, _ := c.Down()
			assert.False(t, down)
			assert.Equal(t, int64(0), c.Stats().Outages)
		})
	}
}

// The caller's context still bounds a wait through an outage.
func TestOutageWaitEndsWithTheContext(t *testing.T) {
	srv := newFlappingServer(t, registered)
	c := newTestClient(t, "http://"+srv.addr, WithRetry(shortRetry), WithMaxOutage(time.Hour))
	t.Cleanup(c.Close)
	srv.down()
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.RegisterAgent(ctx, wire.RegisterAgentRequest{Name: "a", Owner: "o", Runtime: "go"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second)
}
