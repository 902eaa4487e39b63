package client

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
)

// What a storeServer does with one create request.
const (
	actOK               = "ok"                  // store, answer 201
	actDropAfterStore   = "drop-after-store"    // store, close the connection
	actDropBeforeStore  = "drop-before-store"   // close the connection, store nothing
	act502AfterStore    = "502-after-store"     // store, a gateway answers 502
	act503AfterStore    = "503-after-store"     // store, answer 503
	actHTML500          = "html-500"            // store nothing, a gateway answers 500 HTML
	actTimeoutAfterStor = "timeout-after-store" // store, never answer
	actCutAfterStore    = "cut-after-store"     // store, answer 201 and cut the body
	actFault            = "fault"               // store nothing, answer 500 INTERNAL_ERROR
)

// storeServer stores spans and events by id like the real server: a create
// whose id is stored answers 500 INTERNAL_ERROR.
type storeServer struct {
	t      *testing.T
	mu     sync.Mutex
	stored map[string]map[string]any
	ids    []string // the id of every create request, in order
	acts   []string // action per request; actOK beyond
}

func newStoreServer(t *testing.T, acts ...string) (*storeServer, string) {
	s := &storeServer{t: t, stored: map[string]map[string]any{}, acts: acts}
	srv := newServer(t, s.handle)
	return s, srv.URL
}

func (s *storeServer) handle(w http.ResponseWriter, r *http.Request) {
	body := readJSON(s.t, r)
	id, _ := body["id"].(string)
	s.mu.Lock()
	n := len(s.ids)
	s.ids = append(s.ids, id)
	act := actOK
	if n < len(s.acts) {
		act = s.acts[n]
	}
	switch act {
	case actDropBeforeStore:
		s.mu.Unlock()
		dropConnection(s.t, w)
		return
	case actHTML500:
		s.mu.Unlock()
		writeRaw(w, 500, "text/html", "<html>Internal Server Error</html>")
		return
	case actFault:
		s.mu.Unlock()
		writeError(w, 500, wire.CodeInternalError, "Internal server error")
		return
	}
	if _, dup := s.stored[id]; dup {
		s.mu.Unlock()
		writeError(w, 500, wire.CodeInternalError, "Internal server error")
		return
	}
	s.stored[id] = body
	s.mu.Unlock()

	switch act {
	case actDropAfterStore:
		dropConnection(s.t, w)
	case act502AfterStore:
		writeRaw(w, 502, "text/html", "<html>Bad Gateway</html>")
	case act503AfterStore:
		writeError(w, 503, wire.CodeHTTPError, "Service Unavailable")
	case actTimeoutAfterStor:
		<-r.Context().Done()
	case actCutAfterStore:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "500")
		w.WriteHeader(201)
		_, _ = io.WriteString(w, `{"success": true, "data": {"id": "`)
		w.(http.Flusher).Flush()
		dropConnection(s.t, w)
	default:
		rec := map[string]any{"run_id": runID, "agent_id": agentID, "organization_id": "org", "created_at": "2026-01-02T03:04:05Z", "sequence": 7}
		for k, v := range body {
			rec[k] = v
		}
		writeData(w, 201, rec)
	}
}

func (s *storeServer) state() (stored int, ids []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.stored), append([]string(nil), s.ids...)
}

// TestCreateSpanRetrySafety: a retried span create never stores twice, and
// a 500 after an ambiguous attempt means "stored by that attempt".
func TestCreateSpanRetrySafety(t *testing.T) {
	tests := []struct {
		name     string
		acts     []string
		opts     []Option
		attempts int
		stored   int
		assumed  bool
		kind     error // nil: success
	}{
		{"stored then connection dropped", []string{actDropAfterStore}, nil, 2, 1, true, nil},
		{"dropped before storing", []string{actDropBeforeStore}, nil, 2, 1, false, nil},
		{"stored then 502 from gateway", []string{act502AfterStore}, nil, 2, 1, true, nil},
		{"stored then attempt timed out", []string{actTimeoutAfterStor}, []Option{WithTimeout(100 * time.Millisecond)}, 2, 1, true, nil},
		{"201 with its body cut", []string{actCutAfterStore}, nil, 1, 1, true, nil},
		{"dropped twice, stored by the first", []string{actDropAfterStore, actDropBeforeStore}, nil, 3, 1, true, nil},
		{"gateway 500 is not the duplicate answer", []string{actDropAfterStore, actHTML500}, nil, 3, 1, true, nil},
		{"503 is not ambiguous: duplicate 500s exhaust the 500 retries", []string{act503AfterStore}, nil, 4, 1, false, ErrServer},
		{"server fault without ambiguity", []string{actFault, actFault, actFault}, nil, 3, 0, false, ErrServer},
		{"server fault twice then stored", []string{actFault, actFault}, nil, 3, 1, false, nil},
		{"retries disabled", []string{actDropAfterStore}, []Option{WithRetry(RetryConfig{})}, 1, 1, false, ErrTransport},
		// The documented limit: a genuine fault right after an ambiguous
		// attempt that stored nothing is taken for a duplicate.
		{"limit: fault after an attempt that stored nothing", []string{actDropBeforeStore, actFault}, nil, 2, 0, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, url := newStoreServer(t, tt.acts...)
			c := newTestClient(t, url, tt.opts...)
			req := wire.CreateSpanRequest{ID: toUpper(spanID), Name: "llm call", StartTime: "2026-01-02T03:04:05.123456789Z", ParentID: eventID, Metadata: wire.Object{"k": "v"}}
			res, err := c.CreateSpan(context.Background(), toUpper(runID), req)
			stored, ids := srv.state()
			assert.Len(t, ids, tt.attempts, "requests")
			assert.Equal(t, tt.stored, stored, "records stored")
			for _, id := range ids {
				assert.Equal(t, spanID, id, "every attempt carries the same lower-case id")
			}
			if tt.kind != nil {
				e := asAPIError(t, err)
				assert.ErrorIs(t, err, tt.kind)
				assert.Equal(t, tt.attempts, e.Attempts)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.assumed, res.AssumedStored)
			assert.Equal(t, spanID, mustGet(t, res.Span).ID)
			assert.Equal(t, runID, mustGet(t, res.Span).RunID)
			assert.Equal(t, "llm call", *mustGet(t, res.Span).Name)
			assert.Equal(t, eventID, *mustGet(t, res.Span).ParentID)
			assert.Equal(t, "2026-01-02T03:04:05.123456789Z", mustGet(t, res.Span).StartTime)
			assert.Equal(t, "v", mustGet(t, res.Span).Metadata["k"])
			st := c.Stats()
			assert.Equal(t, int64(1), st.Succeeded)
			if tt.assumed {
				assert.Equal(t, int64(1), st.AssumedStored)
				assert.Empty(t, mustGet(t, res.Span).AgentID, "server fields are unknown")
			} else {
				assert.Equal(t, agentID, mustGet(t, res.Span).AgentID)
			}
		})
	}
}

// TestCreateSpanGeneratedID: without a caller id, the generated id is the
// same in every attempt and is returned.
func TestCreateSpanGeneratedID(t *testing.T) {
	srv, url := newStoreServer(t, actDropAfterStore)
	c := newTestClient(t, url)
	res, err := c.CreateSpan(context.Background(), runID, wire.CreateSpanRequest{Name: "s"})
	require.NoError(t, err)
	assert.True(t, res.AssumedStored)
	stored, ids := srv.state()
	require.Len(t, ids, 2)
	assert.Equal(t, 1, stored)
	assert.Equal(t, ids[0], ids[1])
	assert.Equal(t, ids[0], mustGet(t, res.Span).ID)
	_, err = uuid.Parse(mustGet(t, res.Span).ID)
	require.NoError(t, err)
	assert.Nil(t, mustGet(t, res.Span).ParentID)
}

func TestEmitEventRetrySafety(t *testing.T) {
	it := int64(2)
	tests := []struct {
		name     string
		acts     []string
		opts     []Option
		attempts int
		assumed  bool
	}{
		{"ok", nil, nil, 1, false},
		{"stored then connection dropped", []string{actDropAfterStore}, nil, 2, true},
		{"stored then attempt timed out", []string{actTimeoutAfterStor}, []Option{WithTimeout(100 * time.Millisecond)}, 2, true},
		{"stored then 504", []string{act502AfterStore}, nil, 2, true},
		{"dropped before storing", []string{actDropBeforeStore}, nil, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, url := newStoreServer(t, tt.acts...)
			c := newTestClient(t, url, tt.opts...)
			req := wire.EmitEventRequest{ID: eventID, SpanID: spanID, Name: "tool call", Category: "tool", Type: "tool_call_completed", Subtype: "http",
				IterationID: &it, Timestamp: "2026-01-02T03:04:05Z", Input: wire.Object{"q": 1}, Output: wire.Object{"a": 2}, Error: wire.Object{"e": 3}}
			res, err := c.EmitEvent(context.Background(), runID, req)
			require.NoError(t, err)
			stored, ids := srv.state()
			assert.Len(t, ids, tt.attempts)
			assert.Equal(t, 1, stored)
			assert.Equal(t, tt.assumed, res.AssumedStored)
			ev := mustGet(t, res.Event)
			assert.Equal(t, eventID, ev.ID)
			assert.Equal(t, runID, ev.RunID)
			assert.Equal(t, spanID, *ev.SpanID)
			assert.Equal(t, "tool call", ev.Name)
			assert.Equal(t, "tool", ev.Category)
			assert.Equal(t, "tool_call_completed", *ev.Type)
			assert.Equal(t, "http", *ev.Subtype)
			assert.Equal(t, int64(2), *ev.IterationID)
			assert.Equal(t, "2026-01-02T03:04:05Z", ev.Timestamp)
			assert.NotNil(t, ev.Input)
			assert.NotNil(t, ev.Output)
			assert.NotNil(t, ev.Error)
			if !tt.assumed {
				assert.Equal(t, int64(7), ev.Sequence)
			}
		})
	}
}
