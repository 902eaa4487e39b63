package client

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
)

const (
	agentID = "0b7c6a52-6f0e-4a43-9f5e-3f2c1d0e9a11"
	runID   = "5e1d2c3b-4a59-4867-8d7c-6b5a49382716"
	spanID  = "a1b2c3d4-e5f6-4718-8293-a4b5c6d7e8f9"
	eventID = "f0e1d2c3-b4a5-4697-8877-665544332211"
	verID   = "c0ffee00-1234-4abc-8def-0123456789ab"
)

// upperNoHyphens spells a UUID the way the server mishandles in paths.
func upperNoHyphens(id string) string {
	return strings.ReplaceAll(strings.ToUpper(id), "-", "")
}

func toUpper(s string) string { return strings.ToUpper(s) }

func sp(s string) *string { return &s }

func TestOperations(t *testing.T) {
	agent := map[string]any{
		"id": agentID, "name": "a", "owner": "o", "runtime": "go", "description": nil,
		"default_permissions": []string{"read"}, "organization_id": "org", "created_at": "2026-01-02T03:04:05.000001Z", "updated_at": "2026-01-02T03:04:05Z",
	}
	version := map[string]any{"id": verID, "agent_id": agentID, "version": "1.0", "permissions": []string{}, "changelog": "c", "organization_id": "org", "created_at": "2026-01-02T03:04:05Z"}
	run := map[string]any{
		"id": runID, "agent_id": agentID, "version_id": verID, "user_id": nil, "status": "running", "metadata": nil, "message": nil,
		"parent_run_id": nil, "root_run_id": runID, "trigger_type": "api", "trigger_id": "t1", "organization_id": "org",
		"start_time": "2026-01-02T03:04:05.123456Z", "end_time": "2026-01-02T03:04:05.123456Z", "created_at": "2026-01-02T03:04:05.123456Z", "updated_at": "2026-01-02T03:04:05.123456Z",
	}
	ended := map[string]any{}
	for k, v := range run {
		ended[k] = v
	}
	ended["status"], ended["metadata"], ended["message"] = "success", map[string]any{"k": "v"}, "done"
	span := map[string]any{"id": spanID, "run_id": runID, "agent_id": agentID, "parent_id": nil, "name": "s", "start_time": "2026-01-02T03:04:05.000001Z", "end_time": nil, "metadata": map[string]any{"a": 1.0}, "organization_id": "org", "created_at": "x", "updated_at": "x"}
	closed := map[string]any{}
	for k, v := range span {
		closed[k] = v
	}
	closed["end_time"] = "2026-01-02T03:04:06Z"
	event := map[string]any{"id": eventID, "run_id": runID, "agent_id": agentID, "span_id": spanID, "name": "e", "category": "llm", "type": "llm_request", "subtype": nil, "iteration_id": 3, "timestamp": "2026-01-02T03:04:05Z", "input": map[string]any{"p": "q"}, "output": nil, "metadata": nil, "error": nil, "sequence": 42, "organization_id": "org", "created_at": "x"}
	it := int64(3)

	tests := []struct {
		name       string
		call       func(context.Context, *Client) (any, error)
		method     string
		path       string
		auth       bool
		body       string // expected JSON body; "" for none
		status     int
		data       any
		want       any
		checkBody  func(t *testing.T, body map[string]any)
		wantResult func(t *testing.T, got any)
	}{
		{
			name:   "health",
			call:   func(ctx context.Context, c *Client) (any, error) { return c.Health(ctx) },
			method: "GET", path: "/health", auth: false, status: 200,
			data: map[string]any{"status": "ok"}, want: wire.Health{Status: "ok"},
		},
		{
			name: "register agent",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.RegisterAgent(ctx, wire.RegisterAgentRequest{Name: "a", Owner: "o", Runtime: "go", DefaultPermissions: []string{"read"}})
			},
			method: "POST", path: "/agents/register", auth: true, status: 200,
			body: `{"name":"a","owner":"o","runtime":"go","default_permissions":["read"]}`,
			data: agent,
			want: wire.Agent{ID: agentID, Name: "a", Owner: "o", Runtime: sp("go"), DefaultPermissions: []string{"read"}, OrganizationID: "org", CreatedAt: "2026-01-02T03:04:05.000001Z", UpdatedAt: "2026-01-02T03:04:05Z"},
		},
		{
			name: "create version (agent id normalised)",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.CreateVersion(ctx, upperNoHyphens(agentID), wire.CreateVersionRequest{Version: "1.0", Changelog: sp("c")})
			},
			method: "POST", path: "/agents/" + agentID + "/versions", auth: true, status: 201,
			body: `{"version":"1.0","changelog":"c"}`, data: version,
			want: wire.Version{ID: verID, AgentID: agentID, Version: "1.0", Permissions: []string{}, Changelog: sp("c"), OrganizationID: "org", CreatedAt: "2026-01-02T03:04:05Z"},
		},
		{
			name: "start run with empty body",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.StartRun(ctx, agentID, wire.StartRunRequest{})
			},
			method: "POST", path: "/agents/" + agentID + "/runs", auth: true, status: 201,
			body: `{}`, data: run,
			wantResult: func(t *testing.T, got any) { assert.Equal(t, runID, got.(wire.Run).ID) },
		},
		{
			name: "start run (ids normalised)",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.StartRun(ctx, "{"+toUpper(agentID)+"}", wire.StartRunRequest{VersionID: toUpper(verID), TriggerType: "api", TriggerID: "t1"})
			},
			method: "POST", path: "/agents/" + agentID + "/runs", auth: true, status: 201,
			body: `{"version_id":"` + verID + `","trigger_type":"api","trigger_id":"t1"}`, data: run,
			want: wire.Run{ID: runID, AgentID: agentID, VersionID: sp(verID), Status: "running", RootRunID: runID, TriggerType: "api", TriggerID: sp("t1"), OrganizationID: "org",
				StartTime: "2026-01-02T03:04:05.123456Z", EndTime: sp("2026-01-02T03:04:05.123456Z"), CreatedAt: "2026-01-02T03:04:05.123456Z", UpdatedAt: "2026-01-02T03:04:05.123456Z"},
		},
		{
			name:   "list runs",
			call:   func(ctx context.Context, c *Client) (any, error) { return c.ListRuns(ctx, agentID) },
			method: "GET", path: "/agents/" + agentID + "/runs", auth: true, status: 200,
			data: []any{run, ended},
			wantResult: func(t *testing.T, got any) {
				runs := got.([]wire.Run)
				require.Len(t, runs, 2)
				assert.Equal(t, "running", runs[0].Status)
				assert.Equal(t, "success", runs[1].Status)
			},
		},
		{
			name: "end run",
			call: func(ctx context.Context, c *Client) (any, error) {
				return decoded(c.EndRun(ctx, toUpper(runID), wire.EndRunRequest{Status: "success", Message: sp("done"), Metadata: wire.Object{"k": "v"}}))
			},
			method: "PATCH", path: "/runs/" + runID, auth: true, status: 200,
			body: `{"status":"success","message":"done","metadata":{"k":"v"}}`, data: ended,
			wantResult: func(t *testing.T, got any) {
				r := got.(wire.Run)
				assert.Equal(t, "success", r.Status)
				assert.Equal(t, wire.Object{"k": "v"}, r.Metadata)
				assert.Equal(t, "done", *r.Message)
			},
		},
		{
			name: "create span with caller's id (normalised)",
			call: func(ctx context.Context, c *Client) (any, error) {
				res, err := c.CreateSpan(ctx, runID, wire.CreateSpanRequest{ID: upperNoHyphens(spanID), Name: "s", StartTime: "2026-01-02T03:04:05.000001Z", Metadata: wire.Object{"a": 1}})
				if err != nil {
					return nil, err
				}
				return decoded(res.Span, nil)
			},
			method: "POST", path: "/runs/" + runID + "/spans", auth: true, status: 201,
			body: `{"id":"` + spanID + `","name":"s","start_time":"2026-01-02T03:04:05.000001Z","metadata":{"a":1}}`, data: span,
			want: (wire.Span{ID: spanID, RunID: runID, AgentID: agentID, Name: sp("s"), StartTime: "2026-01-02T03:04:05.000001Z", Metadata: wire.Object{"a": 1.0}, OrganizationID: "org", CreatedAt: "x", UpdatedAt: "x"}),
		},
		{
			name: "create span without id gets a generated one",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.CreateSpan(ctx, runID, wire.CreateSpanRequest{Name: "s", ParentID: toUpper(eventID)})
			},
			method: "POST", path: "/runs/" + runID + "/spans", auth: true, status: 201, data: span,
			checkBody: func(t *testing.T, body map[string]any) {
				id, _ := body["id"].(string)
				u, err := uuid.Parse(id)
				require.NoError(t, err)
				assert.Equal(t, u.String(), id, "generated id is lower-case hyphenated")
				assert.Equal(t, eventID, body["parent_id"])
				assert.Equal(t, "s", body["name"])
			},
			wantResult: func(t *testing.T, got any) { assert.False(t, got.(SpanResult).AssumedStored) },
		},
		{
			name: "close span",
			call: func(ctx context.Context, c *Client) (any, error) {
				return decoded(c.CloseSpan(ctx, spanID, wire.CloseSpanRequest{EndTime: "2026-01-02T03:04:06Z"}))
			},
			method: "PATCH", path: "/spans/" + spanID, auth: true, status: 200,
			body: `{"end_time":"2026-01-02T03:04:06Z"}`, data: closed,
			wantResult: func(t *testing.T, got any) { assert.Equal(t, "2026-01-02T03:04:06Z", *got.(wire.Span).EndTime) },
		},
		{
			name: "emit event",
			call: func(ctx context.Context, c *Client) (any, error) {
				res, err := c.EmitEvent(ctx, runID, wire.EmitEventRequest{ID: eventID, SpanID: toUpper(spanID), Name: "e", Category: "llm", Type: "llm_request", IterationID: &it, Timestamp: "2026-01-02T03:04:05Z", Input: wire.Object{"p": "q"}})
				if err != nil || res.AssumedStored {
					return res, err
				}
				return decoded(res.Event, nil)
			},
			method: "POST", path: "/runs/" + runID + "/events", auth: true, status: 201,
			body: `{"id":"` + eventID + `","span_id":"` + spanID + `","name":"e","category":"llm","type":"llm_request","iteration_id":3,"timestamp":"2026-01-02T03:04:05Z","input":{"p":"q"}}`,
			data: event,
			want: (wire.Event{ID: eventID, RunID: runID, AgentID: agentID, SpanID: sp(spanID), Name: "e", Category: "llm", Type: sp("llm_request"), IterationID: &it, Timestamp: "2026-01-02T03:04:05Z", Input: wire.Object{"p": "q"}, Sequence: 42, OrganizationID: "org", CreatedAt: "x"}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				rec.add(r)
				writeData(w, tt.status, tt.data)
			})
			c := newTestClient(t, srv.URL)
			got, err := tt.call(context.Background(), c)
			require.NoError(t, err)

			reqs := rec.all()
			require.Len(t, reqs, 1)
			req := reqs[0]
			assert.Equal(t, tt.method, req.Method)
			assert.Equal(t, tt.path, req.Path)
			assert.Equal(t, "application/json", req.Header.Get("Accept"))
			assert.Regexp(t, `^ezop-otel-go/`, req.Header.Get("User-Agent"))
			if tt.auth {
				assert.Equal(t, "Bearer "+testKey, req.Header.Get("Authorization"))
			} else {
				assert.Empty(t, req.Header.Values("Authorization"), "no key on /health")
			}
			switch {
			case tt.method == "GET":
				assert.Empty(t, req.Body)
				assert.Empty(t, req.Header.Get("Content-Type"))
			default:
				assert.Equal(t, "application/json", req.Header.Get("Content-Type"))
				if tt.body != "" {
					assert.JSONEq(t, tt.body, req.Body)
				}
				if tt.checkBody != nil {
					var m map[string]any
					require.NoError(t, json.Unmarshal([]byte(req.Body), &m))
					tt.checkBody(t, m)
				}
			}
			if tt.want != nil {
				assert.Equal(t, tt.want, got)
			}
			if tt.wantResult != nil {
				tt.wantResult(t, got)
			}
			st := c.Stats()
			assert.Equal(t, Stats{Operations: 1, Requests: 1, Succeeded: 1}, st)
		})
	}
}

// TestInvalidArguments: ids that are not UUIDs, bad times and bad event
// classifications are refused before any request.
func TestInvalidArguments(t *testing.T) {
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		writeError(w, 500, wire.CodeInternalError, "should not be called")
	})
	c := newTestClient(t, srv.URL)
	ctx := context.Background()
	big := int64(1) << 31
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"version agent id", func() error {
			_, err := c.CreateVersion(ctx, "agent-1", wire.CreateVersionRequest{Version: "1"})
			return err
		}, `agent id "agent-1" is not a UUID`},
		{"empty agent id", func() error { _, err := c.ListRuns(ctx, ""); return err }, `agent id "" is not a UUID`},
		{"start run user id", func() error { _, err := c.StartRun(ctx, agentID, wire.StartRunRequest{UserID: "bob"}); return err }, `user_id "bob" is not a UUID`},
		{"start run version id", func() error { _, err := c.StartRun(ctx, agentID, wire.StartRunRequest{VersionID: "v1"}); return err }, `version_id "v1" is not a UUID`},
		{"end run id", func() error { _, err := c.EndRun(ctx, "r", wire.EndRunRequest{Status: "success"}); return err }, `run id "r" is not a UUID`},
		{"span run id", func() error { _, err := c.CreateSpan(ctx, "x", wire.CreateSpanRequest{}); return err }, `run id "x" is not a UUID`},
		{"otel span id", func() error {
			_, err := c.CreateSpan(ctx, runID, wire.CreateSpanRequest{ID: "00f067aa0ba902b7"})
			return err
		}, `id "00f067aa0ba902b7" is not a UUID`},
		{"span parent id", func() error { _, err := c.CreateSpan(ctx, runID, wire.CreateSpanRequest{ParentID: "p"}); return err }, `parent_id "p" is not a UUID`},
		{"own parent", func() error {
			_, err := c.CreateSpan(ctx, runID, wire.CreateSpanRequest{ID: spanID, ParentID: toUpper(spanID)})
			return err
		}, "cannot be its own parent"},
		{"span start time", func() error {
			_, err := c.CreateSpan(ctx, runID, wire.CreateSpanRequest{StartTime: "yesterday"})
			return err
		}, `start_time "yesterday" is not an RFC 3339 time`},
		{"close span empty end", func() error { _, err := c.CloseSpan(ctx, spanID, wire.CloseSpanRequest{}); return err }, `end_time "" is not an RFC 3339 time`},
		{"close span id", func() error {
			_, err := c.CloseSpan(ctx, "s", wire.CloseSpanRequest{EndTime: "2026-01-02T03:04:05Z"})
			return err
		}, `span id "s" is not a UUID`},
		{"event pair", func() error {
			_, err := c.EmitEvent(ctx, runID, wire.EmitEventRequest{Name: "e", Category: "tool", Type: "llm_request"})
			return err
		}, "type belongs to category llm"},
		{"event category", func() error {
			_, err := c.EmitEvent(ctx, runID, wire.EmitEventRequest{Name: "e", Category: "nope"})
			return err
		}, "unknown category"},
		{"event span id", func() error {
			_, err := c.EmitEvent(ctx, runID, wire.EmitEventRequest{Name: "e", Category: "llm", SpanID: "s"})
			return err
		}, `span_id "s" is not a UUID`},
		{"event iteration", func() error {
			_, err := c.EmitEvent(ctx, runID, wire.EmitEventRequest{Name: "e", Category: "llm", IterationID: &big})
			return err
		}, "iteration_id 2147483648 does not fit in 32 bits"},
		{"event timestamp", func() error {
			_, err := c.EmitEvent(ctx, runID, wire.EmitEventRequest{Name: "e", Category: "llm", Timestamp: "2026-01-02 03:04:05"})
			return err
		}, `timestamp "2026-01-02 03:04:05" is not an RFC 3339 time`},
		{"unencodable metadata", func() error {
			_, err := c.EndRun(ctx, runID, wire.EndRunRequest{Status: "success", Metadata: wire.Object{"f": func() {}}})
			return err
		}, "cannot encode the request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			e := asAPIError(t, err)
			assert.ErrorIs(t, err, ErrInvalidArgument)
			assert.Equal(t, 0, e.Attempts)
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, err.Error(), "(no request sent)")
		})
	}
	assert.Equal(t, 0, rec.count(), "no request may be sent")
	assert.Equal(t, int64(len(tests)), c.Stats().InvalidArguments)
}

// decoded decodes a returned record, for the table above.
func decoded[T any](r Record[T], err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return r.Get()
}
