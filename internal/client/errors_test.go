package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
)

var allKinds = []error{ErrAuth, ErrValidation, ErrNotFound, ErrRateLimited, ErrServer, ErrTransport, ErrInvalidArgument, ErrInvalidConfig}

// TestErrorKinds: each answer maps to one kind (or none), the error carries
// status, code, message and attempts, and its text is useful.
func TestErrorKinds(t *testing.T) {
	tests := []struct {
		name         string
		answer       func(w http.ResponseWriter)
		kind         error // nil: matches no kind
		status       int
		code         string
		message      string // exact Message, or "" to skip
		attempts     int
		text         string // exact Error(), or "" to skip
		textContains string
	}{
		{
			name:   "404 envelope",
			answer: func(w http.ResponseWriter) { writeError(w, 404, wire.CodeNotFound, "Parent span not found.") },
			kind:   ErrNotFound, status: 404, code: "NOT_FOUND", message: "Parent span not found.", attempts: 1,
			text: "ezop: create span: 404 NOT_FOUND: Parent span not found. (after 1 attempt)",
		},
		{
			name: "401",
			answer: func(w http.ResponseWriter) {
				writeError(w, 401, wire.CodeUnauthorized, "Missing credentials. Provide: Authorization: Bearer <API_KEY>")
			},
			kind: ErrAuth, status: 401, code: "UNAUTHORIZED", attempts: 1,
			text: "ezop: create span: 401 UNAUTHORIZED: Missing credentials. Provide: Authorization: Bearer <API_KEY> (after 1 attempt)",
		},
		{
			name:   "403",
			answer: func(w http.ResponseWriter) { writeError(w, 403, wire.CodeForbidden, "Invalid or revoked API key.") },
			kind:   ErrAuth, status: 403, code: "FORBIDDEN", message: "Invalid or revoked API key.", attempts: 1,
		},
		{
			name: "422 keeps the server's message",
			answer: func(w http.ResponseWriter) {
				writeError(w, 422, wire.CodeValidationError, "[{'type': 'missing', 'loc': ('body', 'name'), 'msg': 'Field required'}]")
			},
			kind: ErrValidation, status: 422, code: "VALIDATION_ERROR", message: "[{'type': 'missing', 'loc': ('body', 'name'), 'msg': 'Field required'}]", attempts: 1,
		},
		{
			name:   "400 from a proxy",
			answer: func(w http.ResponseWriter) { writeRaw(w, 400, "text/plain", "bad request") },
			kind:   ErrValidation, status: 400, attempts: 1, textContains: `400 Bad Request: not an Ezop API answer (Content-Type text/plain): "bad request"`,
		},
		{
			name:   "routing 404 is not the envelope",
			answer: func(w http.ResponseWriter) { writeRaw(w, 404, "application/json", `{"detail":"Not Found"}`) },
			kind:   ErrNotFound, status: 404, code: "", attempts: 1,
			text: `ezop: create span: 404 Not Found: not an Ezop API answer (Content-Type application/json): "{\"detail\":\"Not Found\"}" (after 1 attempt)`,
		},
		{
			name:   "405 matches no kind",
			answer: func(w http.ResponseWriter) { writeRaw(w, 405, "application/json", `{"detail":"Method Not Allowed"}`) },
			kind:   nil, status: 405, attempts: 1, textContains: "405 Method Not Allowed",
		},
		{
			name:   "409 matches no kind",
			answer: func(w http.ResponseWriter) { writeError(w, 409, "CONFLICT", "exists") },
			kind:   nil, status: 409, code: "CONFLICT", attempts: 1,
		},
		{
			name:   "500 retried twice",
			answer: func(w http.ResponseWriter) { writeError(w, 500, wire.CodeInternalError, "Internal server error") },
			kind:   ErrServer, status: 500, code: "INTERNAL_ERROR", attempts: 3,
			text: "ezop: create span: 500 INTERNAL_ERROR: Internal server error (after 3 attempts)",
		},
		{
			name:   "501 not retried",
			answer: func(w http.ResponseWriter) { writeError(w, 501, wire.CodeHTTPError, "no") },
			kind:   ErrServer, status: 501, code: "HTTP_ERROR", attempts: 1,
		},
		{
			name: "quota 429",
			answer: func(w http.ResponseWriter) {
				writeError(w, 429, wire.CodeHTTPError, "Monthly event quota exceeded for your plan.")
			},
			kind: ErrRateLimited, status: 429, code: "HTTP_ERROR", message: "Monthly event quota exceeded for your plan.", attempts: 3,
			textContains: "(after 3 attempts; a 429 without Retry-After is the plan's quota (agents or monthly events), which waiting does not clear)",
		},
		{
			name: "HTML page from a proxy",
			answer: func(w http.ResponseWriter) {
				writeRaw(w, 200, "text/html", "<html><body>\n<h1>Welcome to the captive portal</h1></body></html>")
			},
			kind: ErrServer, status: 200, attempts: 1,
			textContains: `200 OK: not an Ezop API answer (Content-Type text/html): "<html><body> <h1>Welcome`,
		},
		{
			name:   "empty body",
			answer: func(w http.ResponseWriter) { writeRaw(w, 418, "", "") },
			kind:   nil, status: 418, attempts: 1, textContains: "Content-Type none): empty body",
		},
		{
			name:   "success without data is not the envelope",
			answer: func(w http.ResponseWriter) { writeRaw(w, 403, "application/json", `{"success":false}`) },
			kind:   ErrAuth, status: 403, code: "", attempts: 1, textContains: "not an Ezop API answer",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				tt.answer(w)
			})
			c := newTestClient(t, srv.URL)
			installFakeClock(c)
			_, err := c.CreateSpan(context.Background(), runID, wire.CreateSpanRequest{ID: spanID, Name: "s"})
			e := asAPIError(t, err)
			for _, k := range allKinds {
				if k == tt.kind {
					assert.ErrorIs(t, err, k)
				} else {
					assert.NotErrorIs(t, err, k)
				}
			}
			assert.Equal(t, "create span", e.Op)
			assert.Equal(t, "POST", e.Method)
			assert.Equal(t, "/runs/"+runID+"/spans", e.Path)
			assert.Equal(t, tt.status, e.StatusCode)
			assert.Equal(t, tt.code, e.Code)
			if tt.message != "" {
				assert.Equal(t, tt.message, e.Message)
			}
			assert.Equal(t, tt.attempts, e.Attempts)
			assert.Equal(t, int32(tt.attempts), n.Load())
			if tt.text != "" {
				assert.Equal(t, tt.text, err.Error())
			}
			if tt.textContains != "" {
				assert.Contains(t, err.Error(), tt.textContains)
			}
			var target *APIError
			require.True(t, errors.As(err, &target))
		})
	}
}

// TestTransportError: no answer is ErrTransport wrapping the net error.
func TestTransportError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now

	c := newTestClient(t, "http://"+addr, WithRetry(RetryConfig{Enabled: true, InitialInterval: 20 * time.Millisecond, MaxInterval: 50 * time.Millisecond, MaxElapsedTime: 300 * time.Millisecond}))
	clock := installFakeClock(c)
	_, err = c.RegisterAgent(context.Background(), wire.RegisterAgentRequest{Name: "a", Owner: "o", Runtime: "go"})
	e := asAPIError(t, err)
	assert.ErrorIs(t, err, ErrTransport)
	var urlErr *url.Error
	require.ErrorAs(t, err, &urlErr)
	var opErr *net.OpError
	require.ErrorAs(t, err, &opErr)
	assert.Equal(t, 0, e.StatusCode)
	assert.Greater(t, e.Attempts, 3, "transport errors are retried within the budget")
	assert.Contains(t, err.Error(), "ezop: register agent: POST /agents/register: Post \"http://"+addr+"/agents/register\"")
	assert.Contains(t, err.Error(), "retry budget of 300ms exhausted")
	assert.LessOrEqual(t, sum(clock.Sleeps()), 300*time.Millisecond)
	st := c.Stats()
	assert.Equal(t, int64(1), st.TransportErrors)
	assert.Equal(t, int64(e.Attempts), st.Requests)
	assert.Equal(t, int64(e.Attempts-1), st.Retries)
}

func sum(ds []time.Duration) time.Duration {
	var s time.Duration
	for _, d := range ds {
		s += d
	}
	return s
}

// TestUnexpectedData: a success envelope whose data is not the record is
// ErrServer.
func TestUnexpectedData(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { writeData(w, 200, "not an agent") })
	c := newTestClient(t, srv.URL)
	_, err := c.RegisterAgent(context.Background(), wire.RegisterAgentRequest{Name: "a", Owner: "o", Runtime: "go"})
	e := asAPIError(t, err)
	assert.ErrorIs(t, err, ErrServer)
	assert.Equal(t, 1, e.Attempts)
	assert.Contains(t, err.Error(), "the answer's data is not the expected record")
}

func TestStatsOutcomes(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			writeData(w, 200, map[string]any{"status": "ok"})
		case "/agents/register":
			writeError(w, 403, wire.CodeForbidden, "Invalid or revoked API key.")
		default:
			writeError(w, 404, wire.CodeNotFound, "Run not found.")
		}
	})
	c := newTestClient(t, srv.URL)
	ctx := context.Background()
	_, _ = c.Health(ctx)
	_, _ = c.RegisterAgent(ctx, wire.RegisterAgentRequest{})
	_, _ = c.EndRun(ctx, runID, wire.EndRunRequest{Status: "success"})
	_, _ = c.EndRun(ctx, "nope", wire.EndRunRequest{Status: "success"})
	assert.Equal(t, Stats{Operations: 4, Requests: 3, Succeeded: 1, AuthErrors: 1, NotFound: 1, InvalidArguments: 1}, c.Stats())
}
