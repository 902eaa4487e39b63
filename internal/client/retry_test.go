package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
)

// failThenSucceed answers fail for the first n requests, then success.
func failThenSucceed(t *testing.T, n int32, fail func(w http.ResponseWriter, r *http.Request)) (*atomic.Int32, http.HandlerFunc) {
	var count atomic.Int32
	return &count, func(w http.ResponseWriter, r *http.Request) {
		if count.Add(1) <= n {
			fail(w, r)
			return
		}
		writeData(w, 200, map[string]any{"id": agentID, "name": "a", "owner": "o"})
	}
}

func status(code int) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		switch code {
		case 429:
			writeError(w, code, wire.CodeHTTPError, "Agent limit reached for your plan.")
		case 500:
			writeError(w, code, wire.CodeInternalError, "Internal server error")
		case 502, 504:
			writeRaw(w, code, "text/html", "<html>gateway</html>")
		default:
			writeError(w, code, wire.CodeHTTPError, http.StatusText(code))
		}
	}
}

// TestRetryMatrix: which failures are retried, and how often.
func TestRetryMatrix(t *testing.T) {
	tests := []struct {
		name     string
		fail     func(w http.ResponseWriter, r *http.Request)
		failures int32
		retry    RetryConfig
		attempts int
		kind     error // nil: success
	}{
		{"500 twice then ok", status(500), 2, fastRetry, 3, nil},
		{"500 three times fails", status(500), 3, fastRetry, 3, ErrServer},
		{"500 with retries -1", status(500), 1, RetryConfig{Enabled: true, InitialInterval: time.Millisecond, MaxServerErrorRetries: -1}, 1, ErrServer},
		{"500 with 5 retries", status(500), 5, RetryConfig{Enabled: true, InitialInterval: time.Millisecond, MaxServerErrorRetries: 5}, 6, nil},
		{"502 many times", status(502), 8, fastRetry, 9, nil},
		{"503 many times", status(503), 8, fastRetry, 9, nil},
		{"504 many times", status(504), 8, fastRetry, 9, nil},
		{"transport many times", func(w http.ResponseWriter, r *http.Request) { dropConnection(t, w) }, 8, fastRetry, 9, nil},
		{"quota 429 twice then ok", status(429), 2, fastRetry, 3, nil},
		{"quota 429 bounded", status(429), 100, fastRetry, 3, ErrRateLimited},
		{"quota 429 no retries", status(429), 100, RetryConfig{Enabled: true, InitialInterval: time.Millisecond, MaxQuotaRetries: -1}, 1, ErrRateLimited},
		{"429 with Retry-After many times", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "1")
			status(429)(w, r)
		}, 8, fastRetry, 9, nil},
		{"401 never", status(401), 1, fastRetry, 1, ErrAuth},
		{"403 never", status(403), 1, fastRetry, 1, ErrAuth},
		{"404 never", status(404), 1, fastRetry, 1, ErrNotFound},
		{"422 never", status(422), 1, fastRetry, 1, ErrValidation},
		{"400 never", status(400), 1, fastRetry, 1, ErrValidation},
		{"409 never", status(409), 1, fastRetry, 1, nil},
		{"408 never", status(408), 1, fastRetry, 1, nil},
		{"501 never", status(501), 1, fastRetry, 1, ErrServer},
		{"disabled: 503 once", status(503), 1, RetryConfig{}, 1, ErrServer},
		{"disabled: transport once", func(w http.ResponseWriter, r *http.Request) { dropConnection(t, w) }, 1, RetryConfig{}, 1, ErrTransport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			count, h := failThenSucceed(t, tt.failures, tt.fail)
			srv := newServer(t, h)
			c := newTestClient(t, srv.URL, WithRetry(tt.retry))
			clock := installFakeClock(c)
			_, err := c.RegisterAgent(context.Background(), wire.RegisterAgentRequest{Name: "a", Owner: "o", Runtime: "go"})
			assert.Equal(t, int32(tt.attempts), count.Load(), "requests")
			assert.Len(t, clock.Sleeps(), tt.attempts-1, "one wait between attempts")
			st := c.Stats()
			assert.Equal(t, int64(tt.attempts), st.Requests)
			assert.Equal(t, int64(tt.attempts-1), st.Retries)
			if tt.kind == nil && tt.failures < int32(tt.attempts) {
				require.NoError(t, err)
				return
			}
			e := asAPIError(t, err)
			assert.Equal(t, tt.attempts, e.Attempts)
			if tt.kind != nil {
				assert.ErrorIs(t, err, tt.kind)
			}
		})
	}
}

// TestBackoffIntervals: waits grow exponentially with ±50% jitter and are
// capped by MaxInterval.
func TestBackoffIntervals(t *testing.T) {
	_, h := failThenSucceed(t, 8, status(503))
	srv := newServer(t, h)
	c := newTestClient(t, srv.URL, WithRetry(RetryConfig{Enabled: true, InitialInterval: 100 * time.Millisecond, MaxInterval: 400 * time.Millisecond, MaxElapsedTime: time.Minute}))
	clock := installFakeClock(c)
	_, err := c.Health(context.Background())
	require.NoError(t, err)
	sleeps := clock.Sleeps()
	require.Len(t, sleeps, 8)
	interval := 100 * time.Millisecond
	for i, d := range sleeps {
		assert.GreaterOrEqual(t, d, interval/2, "sleep %d", i)
		assert.LessOrEqual(t, d, interval*3/2+time.Millisecond, "sleep %d", i)
		interval = min(time.Duration(float64(interval)*1.5), 400*time.Millisecond)
	}
}

// TestRetryAfter: seconds and HTTP-date forms are honoured on 429 and 503.
func TestRetryAfter(t *testing.T) {
	serverNow := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	tests := []struct {
		name   string
		status int
		header func() http.Header
		want   time.Duration
		within time.Duration // tolerance
	}{
		{"429 seconds", 429, func() http.Header { return http.Header{"Retry-After": {"7"}} }, 7 * time.Second, 0},
		{"503 seconds", 503, func() http.Header { return http.Header{"Retry-After": {"3"}} }, 3 * time.Second, 0},
		{"429 zero seconds uses backoff", 429, func() http.Header { return http.Header{"Retry-After": {"0"}} }, time.Millisecond, time.Millisecond},
		{"429 date relative to Date header", 429, func() http.Header {
			return http.Header{
				"Date":        {serverNow.Format(http.TimeFormat)},
				"Retry-After": {serverNow.Add(12 * time.Second).Format(http.TimeFormat)},
			}
		}, 12 * time.Second, 0},
		{"503 date relative to Date header", 503, func() http.Header {
			return http.Header{
				"Date":        {serverNow.Format(http.TimeFormat)},
				"Retry-After": {serverNow.Add(5 * time.Second).Format(http.TimeFormat)},
			}
		}, 5 * time.Second, 0},
		{"429 date without Date header uses local clock", 429, func() http.Header {
			return http.Header{"Retry-After": {time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)}}
		}, 30 * time.Second, 2 * time.Second},
		{"429 date in the past uses backoff", 429, func() http.Header {
			return http.Header{"Retry-After": {"Mon, 02 Jan 2006 15:04:05 GMT"}}
		}, time.Millisecond, time.Millisecond},
		{"garbage Retry-After on 503 uses backoff", 503, func() http.Header { return http.Header{"Retry-After": {"soon"}} }, time.Millisecond, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, h := failThenSucceed(t, 1, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header() {
					w.Header()[k] = v
				}
				writeError(w, tt.status, wire.CodeHTTPError, "slow down")
			})
			srv := newServer(t, h)
			c := newTestClient(t, srv.URL, WithRetry(RetryConfig{Enabled: true, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond, MaxElapsedTime: time.Minute}))
			clock := installFakeClock(c)
			_, err := c.Health(context.Background())
			require.NoError(t, err)
			sleeps := clock.Sleeps()
			require.Len(t, sleeps, 1)
			assert.InDelta(t, float64(tt.want), float64(sleeps[0]), float64(tt.within)+float64(time.Millisecond/2))
		})
	}
}

// TestRetryAfterBeyondBudget: a Retry-After longer than the budget left
// fails at once, without sleeping, and reports the wait.
func TestRetryAfterBeyondBudget(t *testing.T) {
	for _, code := range []int{429, 503} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			count, h := failThenSucceed(t, 100, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "120")
				writeError(w, code, wire.CodeHTTPError, "Too Many Requests")
			})
			srv := newServer(t, h)
			c := newTestClient(t, srv.URL, WithRetry(RetryConfig{Enabled: true, MaxElapsedTime: 60 * time.Second}))
			clock := installFakeClock(c)
			_, err := c.Health(context.Background())
			e := asAPIError(t, err)
			if code == 429 {
				assert.ErrorIs(t, err, ErrRateLimited)
			} else {
				assert.ErrorIs(t, err, ErrServer)
			}
			assert.Equal(t, 120*time.Second, e.RetryAfter)
			assert.Equal(t, 1, e.Attempts)
			assert.Equal(t, int32(1), count.Load())
			assert.Empty(t, clock.Sleeps())
			assert.Contains(t, err.Error(), "Retry-After 2m0s; Retry-After exceeds the 1m0s left of the retry budget")
		})
	}
	t.Run("retries disabled still report Retry-After", func(t *testing.T) {
		_, h := failThenSucceed(t, 100, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "5")
			writeError(w, 429, wire.CodeHTTPError, "Too Many Requests")
		})
		srv := newServer(t, h)
		c := newTestClient(t, srv.URL, WithRetry(RetryConfig{}))
		_, err := c.Health(context.Background())
		e := asAPIError(t, err)
		assert.ErrorIs(t, err, ErrRateLimited)
		assert.Equal(t, 5*time.Second, e.RetryAfter)
		assert.NotContains(t, err.Error(), "quota", "a 429 with Retry-After is not the quota")
	})
}

// TestBudgetExhausted: retries stop when the next wait would pass
// MaxElapsedTime.
func TestBudgetExhausted(t *testing.T) {
	count, h := failThenSucceed(t, 1000, status(503))
	srv := newServer(t, h)
	c := newTestClient(t, srv.URL, WithRetry(RetryConfig{Enabled: true, InitialInterval: time.Second, MaxInterval: 2 * time.Second, MaxElapsedTime: 10 * time.Second}))
	clock := installFakeClock(c)
	_, err := c.Health(context.Background())
	e := asAPIError(t, err)
	assert.ErrorIs(t, err, ErrServer)
	assert.Contains(t, err.Error(), "retry budget of 10s exhausted")
	slept := sum(clock.Sleeps())
	assert.LessOrEqual(t, slept, 10*time.Second)
	assert.Greater(t, slept, 6*time.Second, "the budget should be mostly used")
	assert.Equal(t, int(count.Load()), e.Attempts)
	assert.Equal(t, len(clock.Sleeps())+1, e.Attempts)
}

// TestBudgetBoundsAttemptTimeout: the last attempt's timeout is cut to the
// budget left.
func TestBudgetBoundsAttemptTimeout(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	c := newTestClient(t, srv.URL, WithTimeout(10*time.Second), WithRetry(RetryConfig{Enabled: true, InitialInterval: time.Millisecond, MaxElapsedTime: 150 * time.Millisecond}))
	start := time.Now()
	_, err := c.Health(context.Background())
	assert.ErrorIs(t, err, ErrTransport)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second)
}

// TestPerRequestTimeout: WithTimeout bounds one attempt; the next attempt
// may succeed.
func TestPerRequestTimeout(t *testing.T) {
	var n atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			<-r.Context().Done()
			return
		}
		writeData(w, 200, map[string]any{"status": "ok"})
	})
	c := newTestClient(t, srv.URL, WithTimeout(50*time.Millisecond))
	start := time.Now()
	h, err := c.Health(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "ok", h.Status)
	assert.Equal(t, int32(2), n.Load())
	assert.Less(t, time.Since(start), 2*time.Second)

	c = newTestClient(t, srv.URL, WithTimeout(50*time.Millisecond), WithRetry(RetryConfig{}))
	n.Store(0)
	_, err = c.Health(context.Background())
	assert.ErrorIs(t, err, ErrTransport)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// TestCancellation: the caller's context stops a request in flight and a
// wait between attempts at once; the error wraps ctx.Err() and matches no
// kind.
func TestCancellation(t *testing.T) {
	hang := func(w http.ResponseWriter, r *http.Request) {
		// The server notices a closed connection only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}
	retryLater := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		writeError(w, 429, wire.CodeHTTPError, "Too Many Requests")
	}
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		ctx      func() (context.Context, context.CancelFunc)
		want     error
		attempts int
		status   int
	}{
		{"cancel mid-request", hang, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled, 1, 0},
		{"deadline mid-request", hang, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, context.DeadlineExceeded, 1, 0},
		{"cancel mid-sleep", retryLater, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled, 1, 429},
		{"already cancelled", hang, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.handler)
			c := newTestClient(t, srv.URL, WithRetry(RetryConfig{Enabled: true, MaxElapsedTime: time.Minute}))
			ctx, cancel := tt.ctx()
			defer cancel()
			start := time.Now()
			_, err := c.CreateSpan(ctx, runID, wire.CreateSpanRequest{ID: spanID})
			assert.Less(t, time.Since(start), time.Second, "must return promptly")
			e := asAPIError(t, err)
			assert.ErrorIs(t, err, tt.want)
			for _, k := range allKinds {
				assert.NotErrorIs(t, err, k)
			}
			assert.Equal(t, tt.attempts, e.Attempts)
			assert.Equal(t, tt.status, e.StatusCode)
			assert.Contains(t, err.Error(), "ezop: create span: ")
			assert.Contains(t, err.Error(), tt.want.Error())
			assert.Equal(t, int64(1), c.Stats().Canceled)
		})
	}
}

// TestCancelCause: a cancellation cause is wrapped too.
func TestCancelCause(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	c := newTestClient(t, srv.URL)
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("exporter shut down")
	time.AfterFunc(20*time.Millisecond, func() { cancel(cause) })
	_, err := c.Health(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, cause)
	assert.Contains(t, err.Error(), "exporter shut down")
}

// TestNoElapsedLimit: with NoElapsedLimit an unavailable server is retried
// past any budget (here 60 failures over more than two minutes of backoff
// on the fake clock, twice the default budget) until it answers.
func TestNoElapsedLimit(t *testing.T) {
	count, h := failThenSucceed(t, 60, status(503))
	srv := newServer(t, h)
	c := newTestClient(t, srv.URL, WithRetry(RetryConfig{Enabled: true, InitialInterval: time.Second, MaxInterval: 5 * time.Second, MaxElapsedTime: NoElapsedLimit}))
	clock := installFakeClock(c)
	start := clock.Now()
	_, err := c.Health(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int32(61), count.Load())
	assert.Greater(t, clock.Now().Sub(start), 2*DefaultRetryConfig.MaxElapsedTime, "waited past the default budget")
}
