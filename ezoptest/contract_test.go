package ezoptest

// One test (or table row) per row of testdata/CONTRACT.md, named after the
// row: the emulator must answer as the real server does.

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ezopotel/ezop-otel-go/semconv"
)

const internalMsg = "An unexpected error occurred."

// fixture: an agent with a version, two runs, a span in each.
type fixture struct {
	*tc
	agent, version, run, run2, span, span2 string
}

func newFixture(t *testing.T, opts ...Option) *fixture {
	t.Helper()
	c := newTC(t, opts...)
	f := &fixture{tc: c}
	f.agent = c.agent("fixture-agent")
	r := c.do("POST", "/agents/"+f.agent+"/versions", map[string]any{"version": "1.0.0"})
	c.expect(r, 201, "")
	f.version = r.str("id")
	f.run = c.run(f.agent, nil)
	f.run2 = c.run(f.agent, nil)
	f.span = c.span(f.run, map[string]any{"name": "s1"})
	f.span2 = c.span(f.run2, map[string]any{"name": "s2"})
	return f
}

// request is one request of a table row.
type request struct {
	method, path string
	body         any
	opts         []reqOpt
}

func (c *tc) send(r request) result {
	c.t.Helper()
	return c.do(r.method, r.path, r.body, r.opts...)
}

// ── Connection ─────────────────────────────────────────────────────────────

func TestContractConnection_NoPathPrefix(t *testing.T) {
	c := newTC(t)
	for _, p := range []string{"/v1/agents/register", "/api/agents/register", "/v1/health"} {
		r := c.do("POST", p, map[string]any{"name": "a", "owner": "o", "runtime": "go"})
		if r.Status != 404 || string(r.Raw) != `{"detail":"Not Found"}` || r.Envelope {
			t.Errorf("POST %s: %d %s, want 404 {\"detail\":\"Not Found\"}", p, r.Status, r.Raw)
		}
	}
	c.expect(c.do("POST", "/agents/register", map[string]any{"name": "a", "owner": "o", "runtime": "go"}), 200, "")
}

func TestContractConnection_TrailingSlashRedirect307(t *testing.T) {
	c := newTC(t)
	id := uuid.NewString()
	for _, tt := range []struct{ method, path, location string }{
		{"GET", "/health/", "/health"},
		{"POST", "/agents/register/", "/agents/register"},
		{"POST", "/agents/" + id + "/versions/", "/agents/" + id + "/versions"},
		{"POST", "/agents/" + id + "/runs/", "/agents/" + id + "/runs"},
		{"GET", "/agents/" + id + "/runs/?limit=5", "/agents/" + id + "/runs?limit=5"},
		{"PATCH", "/runs/" + id + "/", "/runs/" + id},
		{"POST", "/runs/" + id + "/spans/", "/runs/" + id + "/spans"},
		{"POST", "/runs/" + id + "/events/", "/runs/" + id + "/events"},
		{"PATCH", "/spans/" + id + "//", "/spans/" + id},
		{"DELETE", "/health/", "/health"}, // the path matches with another method: still a redirect
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := c.do(tt.method, tt.path, nil, auth(""))
			loc := r.Header.Get("Location")
			if r.Status != 307 || len(r.Raw) != 0 || !strings.HasSuffix(loc, tt.location) || !strings.HasPrefix(loc, c.srv.URL) {
				t.Fatalf("%d Location %q body %q, want 307 to %s with an empty body", r.Status, loc, r.Raw, tt.location)
			}
		})
	}
	if r := c.do("GET", "/", nil); r.Status != 404 {
		t.Errorf("GET /: %d, want 404", r.Status)
	}
}

func TestContractConnection_AuthBearerOnEveryEndpointExceptHealth(t *testing.T) {
	f := newFixture(t)
	reqs := map[Endpoint]request{
		EndpointRegisterAgent: {"POST", "/agents/register", map[string]any{"name": "x", "owner": "o", "runtime": "go"}, nil},
		EndpointCreateVersion: {"POST", "/agents/" + f.agent + "/versions", map[string]any{"version": "2"}, nil},
		EndpointStartRun:      {"POST", "/agents/" + f.agent + "/runs", map[string]any{}, nil},
		EndpointListRuns:      {"GET", "/agents/" + f.agent + "/runs", nil, nil},
		EndpointEndRun:        {"PATCH", "/runs/" + f.run, map[string]any{"status": "success"}, nil},
		EndpointCreateSpan:    {"POST", "/runs/" + f.run + "/spans", map[string]any{}, nil},
		EndpointCloseSpan:     {"PATCH", "/spans/" + f.span, map[string]any{"end_time": "2026-01-02T03:04:05Z"}, nil},
		EndpointEmitEvent:     {"POST", "/runs/" + f.run + "/events", map[string]any{"name": "e", "category": "llm"}, nil},
	}
	headers := []struct {
		name, header string
		status       int
		code, msg    string
	}{
		{"none", "", 401, "UNAUTHORIZED", msgMissingCredentials},
		{"basic", "Basic Zm9vOmJhcg==", 401, "UNAUTHORIZED", msgMissingCredentials},
		{"empty bearer", "Bearer", 401, "UNAUTHORIZED", msgMissingCredentials},
		{"other scheme with the key", "Token " + f.srv.APIKey, 401, "UNAUTHORIZED", msgMissingCredentials},
		{"unknown key", "Bearer ezop_sk_" + strings.Repeat("0", 64), 403, "FORBIDDEN", msgInvalidKey},
		{"key with a typo", "Bearer " + f.srv.APIKey + "x", 403, "FORBIDDEN", msgInvalidKey},
		{"lower-case scheme", "bearer " + f.srv.APIKey, 0, "", ""},
		{"valid", "Bearer " + f.srv.APIKey, 0, "", ""},
	}
	for _, ep := range Endpoints {
		if ep == EndpointHealth {
			continue
		}
		for _, h := range headers {
			t.Run(string(ep)+"/"+h.name, func(t *testing.T) {
				r := f.do(reqs[ep].method, reqs[ep].path, reqs[ep].body, auth(h.header))
				if h.status == 0 {
					if r.Status >= 300 {
						t.Fatalf("%d %s, want success", r.Status, r.Raw)
					}
					return
				}
				if r.Status != h.status || r.Code != h.code || r.Message != h.msg {
					t.Fatalf("%d %s, want %d %s %q", r.Status, r.Raw, h.status, h.code, h.msg)
				}
				if r.Header.Get("WWW-Authenticate") != "" {
					t.Fatalf("unexpected WWW-Authenticate header (the server's handler drops it)")
				}
			})
		}
	}
	for _, h := range headers {
		r := f.do("GET", "/health", nil, auth(h.header))
		if r.Status != 200 || r.str("status") != "ok" {
			t.Errorf("health with %s: %d %s", h.name, r.Status, r.Raw)
		}
	}
}

func TestContractConnection_JSONContentType(t *testing.T) {
	c := newTC(t)
	body := map[string]any{"name": "ct", "owner": "o", "runtime": "go"}
	for _, tt := range []struct {
		ct     string
		status int
		errTyp string
	}{
		{"application/json", 200, ""},
		{"", 200, ""}, // no Content-Type is tolerated
		{"application/json; charset=utf-8", 200, ""},
		{"APPLICATION/JSON", 200, ""},
		{"application/vnd.ezop+json", 200, ""},
		{"text/plain", 422, "model_attributes_type"},
		{"text/json", 422, "model_attributes_type"},
		{"application/x-www-form-urlencoded", 422, "model_attributes_type"},
		{"json", 422, "model_attributes_type"},
	} {
		t.Run(tt.ct, func(t *testing.T) {
			r := c.do("POST", "/agents/register", body, ctype(tt.ct))
			if tt.status == 200 {
				c.expect(r, 200, "")
				return
			}
			c.expect(r, 422, "VALIDATION_ERROR", tt.errTyp)
		})
	}
}

func TestContractConnection_UnknownBodyFieldsIgnored(t *testing.T) {
	f := newFixture(t)
	extra := func(m map[string]any) map[string]any {
		m["unknown_field"] = map[string]any{"x": []any{1, 2}}
		m["organization_id"] = uuid.NewString()
		return m
	}
	for _, tt := range []struct {
		name string
		req  request
		want int
	}{
		{"register", request{"POST", "/agents/register", extra(map[string]any{"name": "u", "owner": "o", "runtime": "go"}), nil}, 200},
		{"version", request{"POST", "/agents/" + f.agent + "/versions", extra(map[string]any{"version": "9"}), nil}, 201},
		{"run", request{"POST", "/agents/" + f.agent + "/runs", extra(map[string]any{"id": uuid.NewString(), "status": "failed"}), nil}, 201},
		{"end run", request{"PATCH", "/runs/" + f.run, extra(map[string]any{"status": "success", "end_time": "2020-01-01T00:00:00Z"}), nil}, 200},
		{"span", request{"POST", "/runs/" + f.run + "/spans", extra(map[string]any{"end_time": "2020-01-01T00:00:00Z"}), nil}, 201},
		{"close span", request{"PATCH", "/spans/" + f.span, extra(map[string]any{"end_time": "2026-01-02T03:04:05Z", "name": "renamed"}), nil}, 200},
		{"event", request{"POST", "/runs/" + f.run + "/events", extra(map[string]any{"name": "e", "category": "llm", "sequence": 99}), nil}, 201},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := f.send(tt.req)
			f.expect(r, tt.want, "")
			if got := r.str("organization_id"); got != f.srv.OrganizationID() {
				t.Errorf("organization_id = %q, want the server's %q", got, f.srv.OrganizationID())
			}
		})
	}
	// The extra fields changed nothing.
	if r, _ := f.srv.Run(f.run); r.StartTime == "2020-01-01T00:00:00Z" {
		t.Errorf("run start_time was taken from the body")
	}
	for _, sp := range f.srv.Spans(f.run) {
		if sp.Name != nil && *sp.Name == "renamed" {
			t.Errorf("span name changed by PATCH")
		}
	}
	for _, e := range f.srv.AllEvents() {
		if e.Sequence == 99 {
			t.Errorf("event sequence taken from the body")
		}
	}
}

func TestContractConnection_EveryAnswerIsTheEnvelope(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		name string
		req  request
	}{
		{"health", request{"GET", "/health", nil, nil}},
		{"register", request{"POST", "/agents/register", map[string]any{"name": "e", "owner": "o", "runtime": "go"}, nil}},
		{"register 422", request{"POST", "/agents/register", map[string]any{}, nil}},
		{"list runs", request{"GET", "/agents/" + f.agent + "/runs", nil, nil}},
		{"list runs 404", request{"GET", "/agents/" + uuid.NewString() + "/runs", nil, nil}},
		{"run 500", request{"POST", "/agents/x/runs", map[string]any{}, nil}},
		{"end run 401", request{"PATCH", "/runs/" + f.run, map[string]any{"status": "success"}, []reqOpt{auth("")}}},
		{"event 403", request{"POST", "/runs/" + f.run + "/events", map[string]any{}, []reqOpt{auth("Bearer nope")}}},
		{"span 422 json", request{"POST", "/runs/" + f.run + "/spans", raw("{"), nil}},
		{"close span 404", request{"PATCH", "/spans/" + uuid.NewString(), map[string]any{"end_time": "2026-01-01"}, nil}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := f.send(tt.req)
			if !r.Envelope {
				t.Fatalf("not the envelope: %s", r.Raw)
			}
			if r.Success != (r.Status < 300) {
				t.Fatalf("success=%v with status %d", r.Success, r.Status)
			}
			if r.Success && (r.Data == nil || r.Code != "") || !r.Success && (r.Data != nil || r.Code == "" || r.Message == "") {
				t.Fatalf("envelope invariants broken: %s", r.Raw)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
		})
	}
	// Routing answers are not the envelope.
	for _, req := range []request{{"GET", "/nope", nil, nil}, {"GET", "/agents/register", nil, nil}, {"POST", "/health/", nil, nil}} {
		if r := f.send(req); r.Envelope {
			t.Errorf("%s %s: routing answer is the envelope: %s", req.method, req.path, r.Raw)
		}
	}
}

func TestContractConnection_ErrorCodes(t *testing.T) {
	f := newFixture(t, WithEventQuota(0))
	for _, tt := range []struct {
		code   string
		status int
		req    request
	}{
		{"UNAUTHORIZED", 401, request{"GET", "/agents/" + f.agent + "/runs", nil, []reqOpt{auth("")}}},
		{"FORBIDDEN", 403, request{"GET", "/agents/" + f.agent + "/runs", nil, []reqOpt{auth("Bearer x")}}},
		{"NOT_FOUND", 404, request{"GET", "/agents/" + uuid.NewString() + "/runs", nil, nil}},
		{"VALIDATION_ERROR", 422, request{"PATCH", "/runs/" + f.run, map[string]any{"status": "partial"}, nil}},
		{"HTTP_ERROR", 429, request{"POST", "/runs/" + f.run + "/events", map[string]any{"name": "e", "category": "llm"}, nil}},
		{"HTTP_ERROR", 400, request{"POST", "/agents/register", raw("\xff\xfe\xfd"), nil}},
		{"INTERNAL_ERROR", 500, request{"GET", "/agents/not-a-uuid/runs", nil, nil}},
	} {
		t.Run(tt.code+"/"+fmt.Sprint(tt.status), func(t *testing.T) {
			f.expect(f.send(tt.req), tt.status, tt.code)
		})
	}
	// VALIDATION_ERROR messages are a Python repr, not JSON.
	r := f.do("POST", "/agents/register", map[string]any{"name": "n"})
	if !strings.HasPrefix(r.Message, "[{'type': 'missing', 'loc': ('body', 'owner')") {
		t.Errorf("validation message %q is not the Python repr of the errors", r.Message)
	}
}

func TestContractConnection_PlanLimits429(t *testing.T) {
	t.Run("agent limit", func(t *testing.T) {
		c := newTC(t, WithAgentLimit(2))
		c.agent("a1")
		c.agent("a2")
		r := c.do("POST", "/agents/register", map[string]any{"name": "a3", "owner": "test", "runtime": "go"})
		c.expect(r, 429, "HTTP_ERROR", "Agent limit reached (2/2)")
		if r.Header.Get("Retry-After") != "" {
			t.Errorf("the server sends no Retry-After")
		}
		// Re-registering an existing agent is always allowed.
		c.agent("a1")
		if n := len(c.srv.Agents()); n != 2 {
			t.Errorf("%d agents stored, want 2", n)
		}
		if rj := c.srv.Rejected(); len(rj) != 1 || rj[0].Status != 429 || rj[0].Endpoint != EndpointRegisterAgent {
			t.Errorf("Rejected() = %v, want the 429", rj)
		}
	})
	t.Run("event quota", func(t *testing.T) {
		c := newTC(t, WithEventQuota(3))
		run := c.run(c.agent("q"), nil)
		for i := 0; i < 3; i++ {
			c.expect(c.do("POST", "/runs/"+run+"/events", map[string]any{"name": "e", "category": "llm"}), 201, "")
		}
		for i := 0; i < 2; i++ { // waiting does not clear it
			r := c.do("POST", "/runs/"+run+"/events", map[string]any{"name": "e", "category": "llm"})
			c.expect(r, 429, "HTTP_ERROR", "Monthly event limit reached (3/3)")
			if r.Header.Get("Retry-After") != "" {
				t.Errorf("the server sends no Retry-After")
			}
		}
		// The run is looked up before the quota, the span after it.
		c.expect(c.do("POST", "/runs/"+uuid.NewString()+"/events", map[string]any{"name": "e", "category": "llm"}), 404, "NOT_FOUND")
		c.expect(c.do("POST", "/runs/"+run+"/events", map[string]any{"name": "e", "category": "llm", "span_id": uuid.NewString()}), 429, "HTTP_ERROR")
		if n := len(c.srv.Events(run)); n != 3 {
			t.Errorf("%d events stored, want 3", n)
		}
	})
	t.Run("quota counts this month only", func(t *testing.T) {
		clk := newClock(time.Date(2026, 1, 31, 23, 59, 0, 0, time.UTC))
		c := newTC(t, WithEventQuota(1), WithClock(clk.now))
		run := c.run(c.agent("m"), nil)
		c.expect(c.do("POST", "/runs/"+run+"/events", map[string]any{"name": "e", "category": "llm"}), 201, "")
		c.expect(c.do("POST", "/runs/"+run+"/events", map[string]any{"name": "e", "category": "llm"}), 429, "HTTP_ERROR")
		clk.add(2 * time.Minute)
		c.expect(c.do("POST", "/runs/"+run+"/events", map[string]any{"name": "e", "category": "llm"}), 201, "")
	})
}

// ── Endpoints ──────────────────────────────────────────────────────────────

func TestContractEndpoints(t *testing.T) {
	f := newFixture(t)
	agentKeys := []string{"id", "name", "owner", "runtime", "description", "default_permissions", "organization_id", "created_at", "updated_at"}
	versionKeys := []string{"id", "agent_id", "version", "permissions", "changelog", "organization_id", "created_at"}
	runKeys := []string{"id", "agent_id", "version_id", "user_id", "status", "metadata", "message", "parent_run_id", "root_run_id", "trigger_type", "trigger_id", "organization_id", "start_time", "end_time", "created_at", "updated_at"}
	spanKeys := []string{"id", "run_id", "agent_id", "parent_id", "name", "start_time", "end_time", "metadata", "organization_id", "created_at", "updated_at"}
	eventKeys := []string{"id", "run_id", "agent_id", "span_id", "name", "category", "type", "subtype", "iteration_id", "timestamp", "input", "output", "metadata", "error", "sequence", "organization_id", "created_at"}
	for _, tt := range []struct {
		row    string
		req    request
		status int
		keys   []string
		subset map[string]any
	}{
		{"1 GET /health", request{"GET", "/health", nil, []reqOpt{auth("")}}, 200, []string{"status"}, map[string]any{"status": "ok"}},
		{"2 POST /agents/register", request{"POST", "/agents/register", map[string]any{"name": "ep", "owner": "o", "runtime": "go", "description": "d", "default_permissions": []string{"p"}}, nil},
			200, agentKeys, map[string]any{"name": "ep", "owner": "o", "runtime": "go", "description": "d"}},
		{"3 POST /agents/{agent_id}/versions", request{"POST", "/agents/" + f.agent + "/versions", map[string]any{"version": "2.0", "permissions": []string{"a"}, "changelog": "c"}, nil},
			201, versionKeys, map[string]any{"agent_id": f.agent, "version": "2.0", "changelog": "c"}},
		{"3 POST /agents/{agent_id}/versions again", request{"POST", "/agents/" + f.agent + "/versions", map[string]any{"version": "2.0"}, nil},
			200, versionKeys, map[string]any{"agent_id": f.agent, "version": "2.0", "changelog": "c"}},
		{"4 POST /agents/{agent_id}/runs", request{"POST", "/agents/" + f.agent + "/runs", map[string]any{"version_id": f.version, "user_id": strings.ToUpper(f.version), "trigger_type": "cron", "trigger_id": "t"}, nil},
			201, runKeys, map[string]any{"status": "running", "version_id": f.version, "user_id": f.version, "trigger_type": "cron", "trigger_id": "t", "metadata": nil}},
		{"GET /agents/{agent_id}/runs", request{"GET", "/agents/" + f.agent + "/runs", nil, nil}, 200, nil, nil},
		{"5 PATCH /runs/{run_id}", request{"PATCH", "/runs/" + f.run, map[string]any{"status": "failed", "message": "m", "metadata": map[string]any{"k": "v"}}, nil},
			200, runKeys, map[string]any{"status": "failed", "message": "m", "metadata": map[string]any{"k": "v"}}},
		{"6 POST /runs/{run_id}/spans", request{"POST", "/runs/" + f.run + "/spans", map[string]any{"name": "n", "parent_id": f.span, "start_time": "2026-01-02T03:04:05Z", "metadata": map[string]any{"a": 1.0}}, nil},
			201, spanKeys, map[string]any{"name": "n", "parent_id": f.span, "run_id": f.run, "start_time": "2026-01-02T03:04:05Z", "end_time": nil, "metadata": map[string]any{"a": 1.0}}},
		{"7 PATCH /spans/{span_id}", request{"PATCH", "/spans/" + f.span, map[string]any{"end_time": "2026-01-02T03:04:06Z"}, nil},
			200, spanKeys, map[string]any{"id": f.span, "end_time": "2026-01-02T03:04:06Z"}},
		{"8 POST /runs/{run_id}/events", request{"POST", "/runs/" + f.run + "/events", map[string]any{"name": "n", "category": "tool", "type": "tool_retry", "subtype": "timeout", "span_id": f.span, "iteration_id": 3, "timestamp": "2026-01-02T03:04:05Z", "input": map[string]any{}, "output": map[string]any{"o": true}, "metadata": map[string]any{"m": nil}, "error": map[string]any{"e": "x"}}, nil},
			201, eventKeys, map[string]any{"name": "n", "category": "tool", "type": "tool_retry", "subtype": "timeout", "span_id": f.span, "iteration_id": 3.0, "input": map[string]any{}, "output": map[string]any{"o": true}, "metadata": map[string]any{"m": nil}, "error": map[string]any{"e": "x"}}},
	} {
		t.Run(tt.row, func(t *testing.T) {
			r := f.send(tt.req)
			f.expect(r, tt.status, "")
			if tt.keys != nil {
				got := r.keys()
				sort.Strings(got)
				want := append([]string(nil), tt.keys...)
				sort.Strings(want)
				if strings.Join(got, ",") != strings.Join(want, ",") {
					t.Fatalf("data keys %v, want %v", got, want)
				}
			}
			for k, v := range tt.subset {
				if !jsonEqualPlain(r.get(k), v) {
					t.Errorf("data.%s = %#v, want %#v", k, r.get(k), v)
				}
			}
		})
	}
}

// jsonEqualPlain compares values decoded by encoding/json.
func jsonEqualPlain(a, b any) bool {
	return fmt.Sprintf("%#v", normalizeJSON(a)) == fmt.Sprintf("%#v", normalizeJSON(b))
}

func normalizeJSON(v any) any {
	switch x := v.(type) {
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	case int:
		return float64(x)
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = normalizeJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeJSON(e)
		}
		return out
	}
	return v
}

func TestContractAgentsUniqueByNameAndOwner(t *testing.T) {
	clk := newClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	c := newTC(t, WithClock(clk.now))
	r1 := c.do("POST", "/agents/register", map[string]any{"name": "u", "owner": "o", "runtime": "go", "description": "d", "default_permissions": []string{"p"}})
	c.expect(r1, 200, "")
	clk.add(time.Second)
	r2 := c.do("POST", "/agents/register", map[string]any{"name": "u", "owner": "o", "runtime": "python"})
	c.expect(r2, 200, "")
	if r2.str("id") != r1.str("id") || r2.str("created_at") != r1.str("created_at") {
		t.Errorf("re-register: id/created_at changed: %s vs %s", r2.Raw, r1.Raw)
	}
	if r2.str("updated_at") != "2026-03-01T12:00:01Z" || r2.str("runtime") != "python" || r2.get("description") != nil || r2.get("default_permissions") != nil {
		t.Errorf("re-register must update runtime/description/default_permissions (omitted = null) and bump updated_at: %s", r2.Raw)
	}
	r3 := c.do("POST", "/agents/register", map[string]any{"name": "u", "owner": "o2", "runtime": "go"})
	r4 := c.do("POST", "/agents/register", map[string]any{"name": "U", "owner": "o", "runtime": "go"})
	if r3.str("id") == r1.str("id") || r4.str("id") == r1.str("id") {
		t.Errorf("another owner or another name is another agent")
	}
	if n := len(c.srv.Agents()); n != 3 {
		t.Errorf("%d agents, want 3", n)
	}
}

func TestContractVersionsUniqueByAgentAndVersion(t *testing.T) {
	c := newTC(t)
	a1, a2 := c.agent("v1"), c.agent("v2")
	r1 := c.do("POST", "/agents/"+a1+"/versions", map[string]any{"version": "1", "permissions": []string{"x"}, "changelog": "first"})
	c.expect(r1, 201, "")
	r2 := c.do("POST", "/agents/"+strings.ToUpper(a1)+"/versions", map[string]any{"version": "1", "changelog": "second"})
	c.expect(r2, 200, "")
	if r2.str("id") != r1.str("id") || r2.str("changelog") != "first" {
		t.Errorf("second create must answer the original record: %s", r2.Raw)
	}
	r3 := c.do("POST", "/agents/"+a2+"/versions", map[string]any{"version": "1"})
	c.expect(r3, 201, "")
	if n := len(c.srv.Versions()); n != 2 {
		t.Errorf("%d versions, want 2", n)
	}
}

func TestContractTriggerTypeAgentAndParentRunID(t *testing.T) {
	f := newFixture(t)
	a2 := f.tc.agent("second-agent")
	for _, tt := range []struct {
		name   string
		body   map[string]any
		status int
		code   string
		msg    string
	}{
		{"agent with parent", map[string]any{"trigger_type": "agent", "parent_run_id": f.run}, 201, "", ""},
		{"agent without parent", map[string]any{"trigger_type": "agent"}, 422, "VALIDATION_ERROR", "parent_run_id required when trigger_type is 'agent'"},
		{"agent with null parent", map[string]any{"trigger_type": "agent", "parent_run_id": nil}, 422, "VALIDATION_ERROR", "parent_run_id required when trigger_type is 'agent'"},
		{"api with parent", map[string]any{"trigger_type": "api", "parent_run_id": f.run}, 422, "VALIDATION_ERROR", "parent_run_id only valid when trigger_type is 'agent'"},
		{"default with parent", map[string]any{"parent_run_id": f.run}, 422, "VALIDATION_ERROR", "parent_run_id only valid when trigger_type is 'agent'"},
		{"api with empty parent", map[string]any{"trigger_type": "api", "parent_run_id": ""}, 422, "VALIDATION_ERROR", "value_error"},
		{"agent with unknown parent", map[string]any{"trigger_type": "agent", "parent_run_id": uuid.NewString()}, 404, "NOT_FOUND", "Parent run not found."},
		{"agent with non-UUID parent", map[string]any{"trigger_type": "agent", "parent_run_id": "run-1"}, 500, "INTERNAL_ERROR", internalMsg},
		{"agent with empty parent", map[string]any{"trigger_type": "agent", "parent_run_id": ""}, 500, "INTERNAL_ERROR", internalMsg},
		{"null trigger type", map[string]any{"trigger_type": nil}, 422, "VALIDATION_ERROR", "enum"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do("POST", "/agents/"+a2+"/runs", tt.body)
			f.expect(r, tt.status, tt.code, tt.msg)
			if tt.status == 201 && (r.str("root_run_id") != f.run || r.str("parent_run_id") != f.run) {
				t.Errorf("child run: %s", r.Raw)
			}
		})
	}
}

// ── Closed value sets ──────────────────────────────────────────────────────

func TestContractValuesRunStatus(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		status string
		ok     bool
	}{
		{"running", true}, {"success", true}, {"failed", true},
		{"partial", false}, {"canceled", false}, {"SUCCESS", false}, {"", false}, {"cancelled", false},
	} {
		t.Run(tt.status, func(t *testing.T) {
			r := f.do("PATCH", "/runs/"+f.run, map[string]any{"status": tt.status})
			if tt.ok {
				f.expect(r, 200, "")
				if r.str("status") != tt.status {
					t.Errorf("status %q", r.str("status"))
				}
				return
			}
			f.expect(r, 422, "VALIDATION_ERROR", "enum", "status")
		})
	}
}

func TestContractValuesTriggerType(t *testing.T) {
	f := newFixture(t)
	for _, tt := range semconv.TriggerTypes {
		body := map[string]any{"trigger_type": string(tt)}
		if tt == semconv.TriggerAgent {
			body["parent_run_id"] = f.run
		}
		r := f.do("POST", "/agents/"+f.agent+"/runs", body)
		f.expect(r, 201, "")
		if r.str("trigger_type") != string(tt) {
			t.Errorf("trigger_type %q", r.str("trigger_type"))
		}
	}
	f.expect(f.do("POST", "/agents/"+f.agent+"/runs", map[string]any{"trigger_type": "scheduled"}), 422, "VALIDATION_ERROR", "enum", "trigger_type")
	if r := f.do("POST", "/agents/"+f.agent+"/runs", map[string]any{}); r.str("trigger_type") != "unknown" {
		t.Errorf("default trigger_type %q, want unknown", r.str("trigger_type"))
	}
}

// contractTypes is the category/type table of CONTRACT.md.
var contractTypes = map[string][]string{
	"agent":     {"agent_run_started", "agent_run_completed", "agent_run_failed"},
	"llm":       {"llm_request", "llm_response"},
	"tool":      {"tool_call_started", "tool_call_completed", "tool_call_failed", "tool_retry"},
	"reasoning": {"reasoning_step", "reasoning_plan", "reasoning_reflection", "reasoning_decision", "reasoning_final"},
	"memory":    {"memory_query", "memory_retrieval", "memory_write"},
	"system":    {"span_started", "span_completed"},
	"user":      {"user_input", "user_feedback"},
	"cost":      {"cost_calculated"},
	"error":     {"error_raised"},
}

var contractSubtypes = []string{"chain_of_thought", "react", "reflection", "self_consistency", "http", "database",
	"filesystem", "api", "timeout", "rate_limit", "validation", "tool_error", "llm_error"}

func TestContractValuesEventCategories(t *testing.T) {
	f := newFixture(t)
	if len(categoryValues) != len(contractTypes) {
		t.Fatalf("emulator has %d categories, contract %d", len(categoryValues), len(contractTypes))
	}
	for _, cat := range categoryValues {
		if _, ok := contractTypes[cat]; !ok {
			t.Errorf("category %q not in the contract", cat)
		}
		t.Run(cat+"/no type", func(t *testing.T) {
			f.expect(f.do("POST", "/runs/"+f.run+"/events", map[string]any{"name": "e", "category": cat}), 201, "")
		})
	}
	for _, bad := range []string{"genai", "LLM", "", "span"} {
		f.expect(f.do("POST", "/runs/"+f.run+"/events", map[string]any{"name": "e", "category": bad}), 422, "VALIDATION_ERROR", "enum", "category")
	}
}

// Every (category, type) pair: the contract's table answers 201, every other
// pair 500 (the database check constraint).
func TestContractValuesEventCategoryTypePairs(t *testing.T) {
	f := newFixture(t)
	var allTypes []string
	for _, ts := range contractTypes {
		allTypes = append(allTypes, ts...)
	}
	sort.Strings(allTypes)
	if len(allTypes) != len(eventTypeValues) {
		t.Fatalf("emulator has %d types, contract %d", len(eventTypeValues), len(allTypes))
	}
	allowed := map[[2]string]bool{}
	for c, ts := range contractTypes {
		for _, ty := range ts {
			allowed[[2]string{c, ty}] = true
		}
	}
	before := len(f.srv.AllEvents())
	stored := 0
	for _, cat := range categoryValues {
		for _, ty := range allTypes {
			want := allowed[[2]string{cat, ty}]
			if semconv.TypeAllowed(semconv.EventCategory(cat), semconv.EventType(ty)) != want {
				t.Errorf("semconv.TypeAllowed(%s, %s) disagrees with the contract", cat, ty)
			}
			r := f.do("POST", "/runs/"+f.run+"/events", map[string]any{"name": cat + "." + ty, "category": cat, "type": ty})
			if want {
				stored++
				if r.Status != 201 || r.str("type") != ty {
					t.Errorf("%s/%s: %d %s, want 201", cat, ty, r.Status, r.Raw)
				}
			} else if r.Status != 500 || r.Code != "INTERNAL_ERROR" || r.Message != internalMsg {
				t.Errorf("%s/%s: %d %s, want 500 INTERNAL_ERROR", cat, ty, r.Status, r.Raw)
			}
		}
	}
	if got := len(f.srv.AllEvents()) - before; got != stored {
		t.Errorf("%d events stored, want %d", got, stored)
	}
	f.expect(f.do("POST", "/runs/"+f.run+"/events", map[string]any{"name": "e", "category": "llm", "type": "llm_call"}), 422, "VALIDATION_ERROR", "enum", "type")
}

func TestContractValuesEventSubtypes(t *testing.T) {
	f := newFixture(t)
	if strings.Join(subtypeValues, ",") != strings.Join(contractSubtypes, ",") {
		t.Fatalf("subtypes %v, contract %v", subtypeValues, contractSubtypes)
	}
	cats := []string{"agent", "llm", "tool", "error"}
	for i, st := range contractSubtypes {
		cat := cats[i%len(cats)]
		r := f.do("POST", "/runs/"+f.run+"/events", map[string]any{"name": "e", "category": cat, "subtype": st})
		f.expect(r, 201, "")
		if r.str("subtype") != st {
			t.Errorf("subtype %q", r.str("subtype"))
		}
	}
	f.expect(f.do("POST", "/runs/"+f.run+"/events", map[string]any{"name": "e", "category": "tool", "subtype": "network"}), 422, "VALIDATION_ERROR", "enum", "subtype")
}

// ── What the server answers to bad requests ────────────────────────────────

func TestContractBadRequests(t *testing.T) {
	f := newFixture(t)
	events := "/runs/" + f.run + "/events"
	spans := "/runs/" + f.run + "/spans"
	ev := func(kv ...any) map[string]any {
		m := map[string]any{"name": "e", "category": "llm"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	dupSpan := uuid.NewString()
	f.tc.span(f.run, map[string]any{"id": dupSpan})
	dupEvent := uuid.NewString()
	f.expect(f.do("POST", events, ev("id", dupEvent)), 201, "")

	rows := []struct {
		row    string
		req    request
		status int
		code   string
		msg    string // exact message, or a fragment when fragment is set
		frag   []string
	}{
		{"no Authorization", request{"POST", events, ev(), []reqOpt{auth("")}}, 401, "UNAUTHORIZED", msgMissingCredentials, nil},
		{"non-Bearer scheme", request{"POST", events, ev(), []reqOpt{auth("Basic Zm9vOmJhcg==")}}, 401, "UNAUTHORIZED", msgMissingCredentials, nil},
		{"empty Bearer token", request{"POST", events, ev(), []reqOpt{auth("Bearer")}}, 401, "UNAUTHORIZED", msgMissingCredentials, nil},
		{"unknown key", request{"POST", events, ev(), []reqOpt{auth("Bearer ezop_sk_" + strings.Repeat("0", 64))}}, 403, "FORBIDDEN", msgInvalidKey, nil},
		{"body is not JSON", request{"POST", events, raw("name=e&category=llm"), nil}, 422, "VALIDATION_ERROR", "", []string{"json_invalid"}},
		{"body is truncated JSON", request{"POST", events, raw(`{"name": "e"`), nil}, 422, "VALIDATION_ERROR", "", []string{"json_invalid", "Expecting ',' delimiter"}},
		{"missing required field", request{"POST", events, map[string]any{"category": "llm"}, nil}, 422, "VALIDATION_ERROR", "", []string{"missing", "name"}},
		{"missing body", request{"PATCH", "/runs/" + f.run, nil, nil}, 422, "VALIDATION_ERROR", "", []string{"missing"}},
		{"wrong JSON type: start_time number", request{"POST", spans, map[string]any{"start_time": 1767323045}, nil}, 422, "VALIDATION_ERROR", "", []string{"string_type", "start_time"}},
		{"wrong JSON type: body is an array", request{"POST", events, []any{1}, nil}, 422, "VALIDATION_ERROR", "", []string{"model_attributes_type"}},
		{"enum: run status partial", request{"PATCH", "/runs/" + f.run, map[string]any{"status": "partial"}, nil}, 422, "VALIDATION_ERROR", "", []string{"enum", "status"}},
		{"enum: unknown category", request{"POST", events, ev("category", "genai"), nil}, 422, "VALIDATION_ERROR", "", []string{"enum", "category"}},
		{"enum: unknown type", request{"POST", events, ev("type", "llm_call"), nil}, 422, "VALIDATION_ERROR", "", []string{"enum", "type"}},
		{"enum: unknown subtype", request{"POST", events, ev("subtype", "network"), nil}, 422, "VALIDATION_ERROR", "", []string{"enum", "subtype"}},
		{"enum: unknown trigger_type", request{"POST", "/agents/" + f.agent + "/runs", map[string]any{"trigger_type": "scheduled"}, nil}, 422, "VALIDATION_ERROR", "", []string{"enum", "trigger_type"}},
		{"input is a string", request{"POST", events, ev("input", "hello"), nil}, 422, "VALIDATION_ERROR", "", []string{"dict_type", "input"}},
		{"output is a number", request{"POST", events, ev("output", 42), nil}, 422, "VALIDATION_ERROR", "", []string{"dict_type", "output"}},
		{"metadata is an array", request{"POST", events, ev("metadata", []any{1}), nil}, 422, "VALIDATION_ERROR", "", []string{"dict_type", "metadata"}},
		{"error is a string", request{"POST", events, ev("error", "boom"), nil}, 422, "VALIDATION_ERROR", "", []string{"dict_type", "error"}},
		{"span metadata is a string", request{"POST", spans, map[string]any{"metadata": "k=v"}, nil}, 422, "VALIDATION_ERROR", "", []string{"dict_type", "metadata"}},
		{"run end metadata is an array", request{"PATCH", "/runs/" + f.run, map[string]any{"status": "success", "metadata": []any{}}, nil}, 422, "VALIDATION_ERROR", "", []string{"dict_type", "metadata"}},
		{"unknown agent id: versions", request{"POST", "/agents/" + uuid.NewString() + "/versions", map[string]any{"version": "1"}, nil}, 404, "NOT_FOUND", "Agent not found.", nil},
		{"unknown agent id: runs", request{"POST", "/agents/" + uuid.NewString() + "/runs", map[string]any{}, nil}, 404, "NOT_FOUND", "Agent not found.", nil},
		{"unknown run id: PATCH run", request{"PATCH", "/runs/" + uuid.NewString(), map[string]any{"status": "success"}, nil}, 404, "NOT_FOUND", "Run not found.", nil},
		{"unknown run id: POST spans", request{"POST", "/runs/" + uuid.NewString() + "/spans", map[string]any{}, nil}, 404, "NOT_FOUND", "Run not found.", nil},
		{"unknown run id: POST events", request{"POST", "/runs/" + uuid.NewString() + "/events", ev(), nil}, 404, "NOT_FOUND", "Run not found.", nil},
		{"span parent_id not stored", request{"POST", spans, map[string]any{"parent_id": uuid.NewString()}, nil}, 404, "NOT_FOUND", "Parent span not found.", nil},
		{"span parent_id stored in another run", request{"POST", spans, map[string]any{"parent_id": f.span2}, nil}, 422, "VALIDATION_ERROR", "Parent span belongs to a different run.", nil},
		{"span id equal to its parent_id", request{"POST", spans, map[string]any{"id": f.span, "parent_id": f.span}, nil}, 422, "VALIDATION_ERROR", "A span cannot be its own parent.", nil},
		{"event span_id not stored", request{"POST", events, ev("span_id", uuid.NewString()), nil}, 404, "NOT_FOUND", "Span not found.", nil},
		{"event span_id stored in another run", request{"POST", events, ev("span_id", f.span2), nil}, 422, "VALIDATION_ERROR", "Span belongs to a different run.", nil},
		{"PATCH of an unknown span id", request{"PATCH", "/spans/" + uuid.NewString(), map[string]any{"end_time": "2026-01-02T03:04:05Z"}, nil}, 404, "NOT_FOUND", "Span not found.", nil},
		{"category/type pair outside the table", request{"POST", events, ev("category", "llm", "type", "tool_call_started"), nil}, 500, "INTERNAL_ERROR", internalMsg, nil},
		{"span id not a UUID", request{"POST", spans, map[string]any{"id": "00f067aa0ba902b7"}, nil}, 500, "INTERNAL_ERROR", internalMsg, nil},
		{"event id not a UUID", request{"POST", events, ev("id", "e-1"), nil}, 500, "INTERNAL_ERROR", internalMsg, nil},
		{"span parent_id not a UUID", request{"POST", spans, map[string]any{"parent_id": "p"}, nil}, 500, "INTERNAL_ERROR", internalMsg, nil},
		{"event span_id not a UUID", request{"POST", events, ev("span_id", "s"), nil}, 500, "INTERNAL_ERROR", internalMsg, nil},
		{"path agent id not a UUID: versions", request{"POST", "/agents/agent-1/versions", map[string]any{"version": "1"}, nil}, 500, "INTERNAL_ERROR", internalMsg, nil},
		{"path agent id not a UUID: runs", request{"POST", "/agents/agent-1/runs", map[string]any{}, nil}, 500, "INTERNAL_ERROR", internalMsg, nil},
		{"path agent id not a UUID: list runs", request{"GET", "/agents/agent-1/runs", nil, nil}, 500, "INTERNAL_ERROR", internalMsg, nil},
		{"path run id not a UUID: PATCH run", request{"PATCH", "/runs/run-1", map[string]any{"status": "success"}, nil}, 500, "INTERNAL_ERROR", internalMsg, nil},
		{"path run id not a UUID: spans", request{"POST", "/runs/run-1/spans", map[string]any{}, nil}, 500, "INTERNAL_ERROR", internalMsg, nil},
		{"path run id not a UUID: events", request{"POST", "/runs/run-1/events", ev(), nil}, 500, "INTERNAL_ERROR", internalMsg, nil},
		{"path span id not a UUID", request{"PATCH", "/spans/00f067aa0ba902b7", map[string]any{"end_time": "2026-01-02T03:04:05Z"}, nil}, 500, "INTERNAL_ERROR", internalMsg, nil},
		{"version_id not a UUID", request{"POST", "/agents/" + f.agent + "/runs", map[string]any{"version_id": "1.0.0"}, nil}, 500, "INTERNAL_ERROR", internalMsg, nil},
		{"user_id not a UUID", request{"POST", "/agents/" + f.agent + "/runs", map[string]any{"user_id": "alice"}, nil}, 500, "INTERNAL_ERROR", internalMsg, nil},
		{"version_id that does not exist", request{"POST", "/agents/" + f.agent + "/runs", map[string]any{"version_id": uuid.NewString()}, nil}, 500, "INTERNAL_ERROR", internalMsg, nil},
		{"unparsable span start_time", request{"POST", spans, map[string]any{"start_time": "yesterday-ish"}, nil}, 500, "INTERNAL_ERROR", internalMsg, nil},
		{"unparsable span end_time", request{"PATCH", "/spans/" + f.span, map[string]any{"end_time": "soon"}, nil}, 500, "INTERNAL_ERROR", internalMsg, nil},
		{"unparsable event timestamp", request{"POST", events, ev("timestamp", "nope"), nil}, 500, "INTERNAL_ERROR", internalMsg, nil},
		{"span id already stored", request{"POST", spans, map[string]any{"id": dupSpan}, nil}, 500, "INTERNAL_ERROR", internalMsg, nil},
		{"event id already stored", request{"POST", events, ev("id", dupEvent), nil}, 500, "INTERNAL_ERROR", internalMsg, nil},
	}
	for _, tt := range rows {
		t.Run(tt.row, func(t *testing.T) {
			spansBefore, eventsBefore := len(f.srv.AllSpans()), len(f.srv.AllEvents())
			r := f.send(tt.req)
			f.expect(r, tt.status, tt.code, tt.frag...)
			if tt.msg != "" && r.Message != tt.msg {
				t.Fatalf("message %q, want %q", r.Message, tt.msg)
			}
			if len(f.srv.AllSpans()) != spansBefore || len(f.srv.AllEvents()) != eventsBefore {
				t.Fatalf("a refused request stored something")
			}
		})
	}
}

// ── Behaviour a client must design around ──────────────────────────────────

func TestContractBehaviourIds(t *testing.T) {
	f := newFixture(t)
	// Agent, version and run ids are assigned by the server.
	r := f.do("POST", "/agents/"+f.agent+"/runs", map[string]any{"id": "11111111-1111-4111-8111-111111111111"})
	if r.str("id") == "11111111-1111-4111-8111-111111111111" {
		t.Errorf("run id taken from the body")
	}
	// Span and event ids may be chosen by the client.
	sid := uuid.NewString()
	if got := f.tc.span(f.run, map[string]any{"id": sid}); got != sid {
		t.Errorf("span id %q, want %q", got, sid)
	}
	for _, tt := range []struct{ name, sent string }{
		{"32 hex digits", strings.ReplaceAll(uuid.NewString(), "-", "")},
		{"upper case", strings.ToUpper(uuid.NewString())},
		{"braces", "{" + uuid.NewString() + "}"},
		{"groups of four", groups4(uuid.NewString())},
	} {
		t.Run("span "+tt.name, func(t *testing.T) {
			want, _ := pgUUID(tt.sent)
			r := f.do("POST", "/runs/"+f.run+"/spans", map[string]any{"id": tt.sent})
			f.expect(r, 201, "")
			if r.str("id") != want || strings.ToLower(r.str("id")) != r.str("id") {
				t.Errorf("id %q, want %q", r.str("id"), want)
			}
			er := f.do("POST", "/runs/"+f.run+"/events", map[string]any{"name": "e", "category": "llm", "id": strings.ToUpper(tt.sent), "span_id": tt.sent})
			f.expect(er, 201, "")
			if er.str("span_id") != want {
				t.Errorf("span_id %q, want %q", er.str("span_id"), want)
			}
		})
	}
	f.expect(f.do("POST", "/runs/"+f.run+"/spans", map[string]any{"id": "00f067aa0ba902b7"}), 500, "INTERNAL_ERROR")
	f.expect(f.do("POST", "/runs/"+f.run+"/spans", map[string]any{"id": " " + uuid.NewString()}), 500, "INTERNAL_ERROR")
}

func groups4(u string) string {
	h := strings.ReplaceAll(u, "-", "")
	var g []string
	for i := 0; i < len(h); i += 4 {
		g = append(g, h[i:i+4])
	}
	return strings.Join(g, "-")
}

func TestContractBehaviourOrder(t *testing.T) {
	f := newFixture(t)
	parent, child, evID := uuid.NewString(), uuid.NewString(), uuid.NewString()
	f.expect(f.do("POST", "/runs/"+f.run+"/spans", map[string]any{"id": child, "parent_id": parent}), 404, "NOT_FOUND", "Parent span not found.")
	f.expect(f.do("POST", "/runs/"+f.run+"/events", map[string]any{"id": evID, "name": "e", "category": "llm", "span_id": parent}), 404, "NOT_FOUND", "Span not found.")
	f.tc.span(f.run, map[string]any{"id": parent})
	f.tc.span(f.run, map[string]any{"id": child, "parent_id": parent})
	f.expect(f.do("POST", "/runs/"+f.run+"/events", map[string]any{"id": evID, "name": "e", "category": "llm", "span_id": parent}), 201, "")
	r := f.do("POST", "/runs/"+f.run+"/events", map[string]any{"name": "run-level", "category": "agent"})
	if r.get("span_id") != nil || r.str("run_id") != f.run {
		t.Errorf("an event without span_id belongs to the run: %s", r.Raw)
	}
}

func TestContractBehaviourTimes(t *testing.T) {
	clk := newClock(time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC))
	c := newTC(t, WithClock(clk.now))
	run := c.run(c.agent("times"), nil)
	rr, _ := c.srv.Run(run)
	if rr.StartTime != "2026-05-06T07:08:09.123456Z" || rr.EndTime == nil || *rr.EndTime != rr.StartTime || rr.CreatedAt != rr.StartTime || rr.UpdatedAt != rr.StartTime {
		t.Errorf("a new run's times are the server clock and end_time == start_time: %+v", rr)
	}
	// Span and event times come from the client, rounded to microseconds.
	r := c.do("POST", "/runs/"+run+"/spans", map[string]any{"start_time": "2026-01-02T03:04:05.123456789Z"})
	if r.str("start_time") != "2026-01-02T03:04:05.123457Z" || r.str("created_at") != "2026-05-06T07:08:09.123456Z" {
		t.Errorf("span times: %s", r.Raw)
	}
	// Omitted, they default to the server clock.
	r = c.do("POST", "/runs/"+run+"/spans", map[string]any{})
	if r.str("start_time") != "2026-05-06T07:08:09.123456Z" {
		t.Errorf("default start_time %s", r.str("start_time"))
	}
	r = c.do("POST", "/runs/"+run+"/events", map[string]any{"name": "e", "category": "llm"})
	if r.str("timestamp") != "2026-05-06T07:08:09.123456Z" || r.str("created_at") != r.str("timestamp") {
		t.Errorf("default timestamp %s", r.Raw)
	}
	// A run's end_time is the server clock at the PATCH.
	clk.add(1500 * time.Millisecond)
	r = c.do("PATCH", "/runs/"+run, map[string]any{"status": "success"})
	if r.str("end_time") != "2026-05-06T07:08:10.623456Z" || r.str("start_time") != "2026-05-06T07:08:09.123456Z" {
		t.Errorf("end_time %s", r.Raw)
	}
	// No zone is UTC; microseconds zero print no fraction.
	r = c.do("POST", "/runs/"+run+"/spans", map[string]any{"start_time": "2026-01-02T03:04:05"})
	if r.str("start_time") != "2026-01-02T03:04:05Z" {
		t.Errorf("no zone: %s", r.str("start_time"))
	}
}

func TestContractBehaviourNothingClosesARun(t *testing.T) {
	clk := newClock(time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC))
	c := newTC(t, WithClock(clk.now))
	run := c.run(c.agent("nc"), nil)
	clk.add(time.Second)
	r1 := c.do("PATCH", "/runs/"+run, map[string]any{"status": "success"})
	sp := c.span(run, map[string]any{"name": "late"})
	c.expect(c.do("POST", "/runs/"+run+"/events", map[string]any{"name": "late", "category": "system", "type": "span_completed", "span_id": sp}), 201, "")
	c.expect(c.do("PATCH", "/spans/"+sp, map[string]any{"end_time": "2026-05-06T07:09:00Z"}), 200, "")
	clk.add(time.Second)
	r2 := c.do("PATCH", "/runs/"+run, map[string]any{"status": "failed"})
	if r2.str("status") != "failed" || r2.str("end_time") == r1.str("end_time") {
		t.Errorf("re-patch must overwrite status and end time: %s then %s", r1.Raw, r2.Raw)
	}
	// A span's name and metadata cannot be changed after creation.
	r := c.do("PATCH", "/spans/"+sp, map[string]any{"end_time": "2026-05-06T07:09:01Z", "name": "x", "metadata": map[string]any{"a": 1}})
	if r.str("name") != "late" || r.get("metadata") != nil {
		t.Errorf("span changed: %s", r.Raw)
	}
}

func TestContractBehaviourRetries(t *testing.T) {
	f := newFixture(t)
	sid, eid := uuid.NewString(), uuid.NewString()
	f.tc.span(f.run, map[string]any{"id": sid})
	f.expect(f.do("POST", "/runs/"+f.run+"/spans", map[string]any{"id": sid}), 500, "INTERNAL_ERROR", internalMsg)
	f.expect(f.do("POST", "/runs/"+f.run+"/events", map[string]any{"id": eid, "name": "e", "category": "llm"}), 201, "")
	f.expect(f.do("POST", "/runs/"+f.run+"/events", map[string]any{"id": eid, "name": "e", "category": "llm"}), 500, "INTERNAL_ERROR", internalMsg)
	// The same id in another spelling is the same id.
	f.expect(f.do("POST", "/runs/"+f.run+"/spans", map[string]any{"id": strings.ToUpper(sid)}), 500, "INTERNAL_ERROR", internalMsg)
	// Runs have no idempotency: a retried start creates a second run.
	before := len(f.srv.Runs())
	f.tc.run(f.agent, nil)
	f.tc.run(f.agent, nil)
	if len(f.srv.Runs()) != before+2 {
		t.Errorf("each run start creates a run")
	}
}

func TestContractBehaviourSuccessCodes(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		name   string
		req    request
		status int
	}{
		{"register 200", request{"POST", "/agents/register", map[string]any{"name": "sc", "owner": "o", "runtime": "go"}, nil}, 200},
		{"re-register 200", request{"POST", "/agents/register", map[string]any{"name": "sc", "owner": "o", "runtime": "go"}, nil}, 200},
		{"version create 201", request{"POST", "/agents/" + f.agent + "/versions", map[string]any{"version": "sc"}, nil}, 201},
		{"version again 200", request{"POST", "/agents/" + f.agent + "/versions", map[string]any{"version": "sc"}, nil}, 200},
		{"run 201", request{"POST", "/agents/" + f.agent + "/runs", map[string]any{}, nil}, 201},
		{"list runs 200", request{"GET", "/agents/" + f.agent + "/runs", nil, nil}, 200},
		{"span 201", request{"POST", "/runs/" + f.run + "/spans", map[string]any{}, nil}, 201},
		{"event 201", request{"POST", "/runs/" + f.run + "/events", map[string]any{"name": "e", "category": "llm"}, nil}, 201},
		{"PATCH run 200", request{"PATCH", "/runs/" + f.run, map[string]any{"status": "success"}, nil}, 200},
		{"PATCH span 200", request{"PATCH", "/spans/" + f.span, map[string]any{"end_time": "2026-01-01T00:00:00Z"}, nil}, 200},
	} {
		t.Run(tt.name, func(t *testing.T) { f.expect(f.send(tt.req), tt.status, "") })
	}
}

// ── More behaviour found while recording conformance.json ──────────────────

func TestContractMoreRunMetadataAtCreation(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		name   string
		meta   any
		status int
	}{
		{"empty object 500", map[string]any{}, 500},
		{"object 500", map[string]any{"env": "test"}, 500},
		{"null 201", nil, 201},
		{"string 422", "env=test", 422},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.srv.Runs())
			r := f.do("POST", "/agents/"+f.agent+"/runs", map[string]any{"metadata": tt.meta})
			if r.Status != tt.status {
				t.Fatalf("%d %s, want %d", r.Status, r.Raw, tt.status)
			}
			if tt.status != 201 && len(f.srv.Runs()) != before {
				t.Fatalf("a refused run was stored")
			}
		})
	}
	r := f.do("PATCH", "/runs/"+f.run, map[string]any{"status": "success", "metadata": map[string]any{"env": "test"}})
	if m, _ := r.get("metadata").(map[string]any); m["env"] != "test" {
		t.Errorf("the ending PATCH stores metadata: %s", r.Raw)
	}
}

func TestContractMoreOrderOfChecks(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		name   string
		req    request
		status int
		code   string
	}{
		{"routing 404 before a bad body", request{"POST", "/v1/agents/register", raw("{"), []reqOpt{auth("")}}, 404, ""},
		{"routing 405 before a bad body", request{"PATCH", "/agents/register", raw("{"), []reqOpt{auth("")}}, 405, ""},
		{"trailing slash 307 before auth", request{"POST", "/agents/register/", raw("{"), []reqOpt{auth("")}}, 307, ""},
		{"malformed JSON before auth", request{"POST", "/agents/register", raw("{"), []reqOpt{auth("")}}, 422, "VALIDATION_ERROR"},
		{"malformed JSON before auth (bad key)", request{"PATCH", "/spans/x", raw("nope"), []reqOpt{auth("Bearer bad")}}, 422, "VALIDATION_ERROR"},
		{"auth before validation", request{"POST", "/agents/register", map[string]any{"name": 5}, []reqOpt{auth("")}}, 401, "UNAUTHORIZED"},
		{"auth before lookups", request{"PATCH", "/runs/not-a-uuid", map[string]any{"status": "partial"}, []reqOpt{auth("Bearer bad")}}, 403, "FORBIDDEN"},
		{"validation before the run lookup", request{"PATCH", "/runs/" + uuid.NewString(), map[string]any{"status": "partial"}, nil}, 422, "VALIDATION_ERROR"},
		{"validation before a non-UUID path", request{"POST", "/runs/not-a-uuid/events", map[string]any{"name": "x"}, nil}, 422, "VALIDATION_ERROR"},
		{"run lookup before span checks", request{"POST", "/runs/" + uuid.NewString() + "/spans", map[string]any{"start_time": "bad", "parent_id": "bad"}, nil}, 404, "NOT_FOUND"},
		{"run lookup before the pair check", request{"POST", "/runs/" + uuid.NewString() + "/events", map[string]any{"name": "e", "category": "llm", "type": "tool_retry"}, nil}, 404, "NOT_FOUND"},
		{"own-parent check before the parent lookup", request{"POST", "/runs/" + f.run + "/spans", map[string]any{"id": "same", "parent_id": "same"}, nil}, 422, "VALIDATION_ERROR"},
		{"parent lookup before the insert", request{"POST", "/runs/" + f.run + "/spans", map[string]any{"id": "bad-id", "parent_id": uuid.NewString()}, nil}, 404, "NOT_FOUND"},
		{"span lookup before the pair check", request{"POST", "/runs/" + f.run + "/events", map[string]any{"name": "e", "category": "llm", "type": "tool_retry", "span_id": f.span2}, nil}, 422, "VALIDATION_ERROR"},
		{"span PATCH parses end_time before the lookup", request{"PATCH", "/spans/" + uuid.NewString(), map[string]any{"end_time": "bad"}, nil}, 500, "INTERNAL_ERROR"},
		{"agent lookup before parent run", request{"POST", "/agents/" + uuid.NewString() + "/runs", map[string]any{"trigger_type": "agent", "parent_run_id": "bad"}, nil}, 404, "NOT_FOUND"},
		{"parent run lookup before metadata", request{"POST", "/agents/" + f.agent + "/runs", map[string]any{"trigger_type": "agent", "parent_run_id": uuid.NewString(), "metadata": map[string]any{}}, nil}, 404, "NOT_FOUND"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := f.send(tt.req)
			if r.Status != tt.status || r.Code != tt.code {
				t.Fatalf("%d %s %s, want %d %s", r.Status, r.Code, r.Raw, tt.status, tt.code)
			}
		})
	}
}

func TestContractMoreListRunsNewestFirst(t *testing.T) {
	clk := newClock(time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC))
	c := newTC(t, WithClock(clk.now))
	a := c.agent("list")
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, c.run(a, nil))
		clk.add(time.Millisecond)
	}
	same1, same2 := c.run(a, nil), c.run(a, nil) // equal start times
	r := c.do("GET", "/agents/"+a+"/runs", nil)
	l, _ := r.Data.([]any)
	var got []string
	for _, x := range l {
		got = append(got, x.(map[string]any)["id"].(string))
	}
	want := []string{same2, same1, ids[2], ids[1], ids[0]}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("runs %v, want newest first %v", got, want)
	}
	other := c.agent("other")
	if r := c.do("GET", "/agents/"+other+"/runs", nil); fmt.Sprint(r.Data) != "[]" {
		t.Errorf("another agent's runs: %s", r.Raw)
	}
}

func TestContractMoreTimesParsedLikePostgres(t *testing.T) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 500000000, time.UTC)
	c := newTC(t, WithClock(func() time.Time { return now }))
	run := c.run(c.agent("pg"), nil)
	for _, tt := range []struct{ in, want string }{
		{"2026-01-02T03:04:05Z", "2026-01-02T03:04:05Z"},
		{"2026-01-02T03:04:05.250Z", "2026-01-02T03:04:05.250000Z"},
		{"2026-01-02T03:04:05.123456789Z", "2026-01-02T03:04:05.123457Z"},
		{"2026-01-02T03:04:05.1234565Z", "2026-01-02T03:04:05.123456Z"},
		{"2026-01-02T03:04:05.9999999Z", "2026-01-02T03:04:06Z"},
		{"2026-12-31T23:59:59.9999996Z", "2027-01-01T00:00:00Z"},
		{"2026-01-02T03:04:05", "2026-01-02T03:04:05Z"},
		{"2026-01-02 03:04:05", "2026-01-02T03:04:05Z"},
		{"2026-01-02", "2026-01-02T00:00:00Z"},
		{"2026-1-2 3:04", "2026-01-02T03:04:00Z"},
		{"2026-01-02t03:04:05z", "2026-01-02T03:04:05Z"},
		{"2026-01-02T03:04:05+05:30", "2026-01-01T21:34:05Z"},
		{"2026-01-02T03:04:05.5-08:00", "2026-01-02T11:04:05.500000Z"},
		{"2026-01-02T03:04:05+0530", "2026-01-01T21:34:05Z"},
		{"2026-01-02T03:04:05+05", "2026-01-01T22:04:05Z"},
		{"2026-01-02 03:04:05 UTC", "2026-01-02T03:04:05Z"},
		{" 2026-01-02T03:04:05Z ", "2026-01-02T03:04:05Z"},
		{"2026-01-02T24:00:00", "2026-01-03T00:00:00Z"},
		{"2024-02-29", "2024-02-29T00:00:00Z"},
		{"now", "2026-05-06T07:08:09.500000Z"},
		{"today", "2026-05-06T00:00:00Z"},
		{"epoch", "1970-01-01T00:00:00Z"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			r := c.do("POST", "/runs/"+run+"/spans", map[string]any{"start_time": tt.in})
			if r.Status != 201 || r.str("start_time") != tt.want {
				t.Fatalf("%d %s, want start_time %s", r.Status, r.Raw, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "yesterday-ish", "2026-02-30", "2026-13-01", "03:04:05", "2026-01-02T25:00:00",
		"2026-01-02T03:60:00", "1767323045", "2026/01/02", "2026-01-02T03:04:05.Z", "9999-12-31T23:00:00-05:00", "0000-01-01"} {
		t.Run("bad "+bad, func(t *testing.T) {
			c.expect(c.do("POST", "/runs/"+run+"/events", map[string]any{"name": "e", "category": "llm", "timestamp": bad}), 500, "INTERNAL_ERROR")
		})
	}
}

func TestContractMoreUUIDsComparedAsText(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct{ name, path string }{
		{"upper case", strings.ToUpper(f.run)},
		{"no hyphens", strings.ReplaceAll(f.run, "-", "")},
		{"braces", "{" + f.run + "}"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The run is found …
			r := f.do("POST", "/runs/"+tt.path+"/spans", map[string]any{"name": "x"})
			f.expect(r, 201, "")
			if r.str("run_id") != f.run {
				t.Errorf("run_id %q, want the canonical %q", r.str("run_id"), f.run)
			}
			f.expect(f.do("PATCH", "/runs/"+tt.path, map[string]any{"status": "running"}), 200, "")
			// … but same-run checks compare the path text.
			f.expect(f.do("POST", "/runs/"+tt.path+"/spans", map[string]any{"parent_id": f.span}), 422, "VALIDATION_ERROR", "Parent span belongs to a different run.")
			f.expect(f.do("POST", "/runs/"+tt.path+"/events", map[string]any{"name": "e", "category": "llm", "span_id": f.span}), 422, "VALIDATION_ERROR", "Span belongs to a different run.")
		})
	}
	// Lookups by id accept every spelling.
	f.expect(f.do("PATCH", "/spans/"+strings.ToUpper(f.span), map[string]any{"end_time": "2026-01-01"}), 200, "")
	f.expect(f.do("GET", "/agents/"+strings.ReplaceAll(f.agent, "-", "")+"/runs", nil), 200, "")
	// Parent and span ids in the body may be spelled any way.
	f.expect(f.do("POST", "/runs/"+f.run+"/spans", map[string]any{"parent_id": strings.ToUpper(f.span)}), 201, "")
}

func TestContractMoreEmptyStringIDs(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		name string
		req  request
	}{
		{"span parent_id", request{"POST", "/runs/" + f.run + "/spans", map[string]any{"parent_id": ""}, nil}},
		{"event span_id", request{"POST", "/runs/" + f.run + "/events", map[string]any{"name": "e", "category": "llm", "span_id": ""}, nil}},
		{"span id", request{"POST", "/runs/" + f.run + "/spans", map[string]any{"id": ""}, nil}},
		{"event id", request{"POST", "/runs/" + f.run + "/events", map[string]any{"name": "e", "category": "llm", "id": ""}, nil}},
		{"run version_id", request{"POST", "/agents/" + f.agent + "/runs", map[string]any{"version_id": ""}, nil}},
		{"run user_id", request{"POST", "/agents/" + f.agent + "/runs", map[string]any{"user_id": ""}, nil}},
		{"event timestamp", request{"POST", "/runs/" + f.run + "/events", map[string]any{"name": "e", "category": "llm", "timestamp": ""}, nil}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.expect(f.send(tt.req), 500, "INTERNAL_ERROR")
		})
	}
}

func TestContractMoreIterationID(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		name   string
		val    any
		status int
		want   any
		frag   string
	}{
		{"2^31-1", 2147483647, 201, 2147483647.0, ""},
		{"2^31", 2147483648, 500, nil, ""},
		{"-2^31", -2147483648, 201, -2147483648.0, ""},
		{"-2^31-1", -2147483649, 500, nil, ""},
		{"huge", raw("123456789012345678901234567890"), 500, nil, ""},
		{"integral float", 7.0, 201, 7.0, ""},
		{"numeric string", "8", 201, 8.0, ""},
		{"fraction", 7.5, 422, nil, "int_from_float"},
		{"word", "first", 422, nil, "int_parsing"},
		{"list", []any{1}, 422, nil, "int_type"},
		{"null", nil, 201, nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var r result
			if rv, ok := tt.val.(raw); ok {
				r = f.do("POST", "/runs/"+f.run+"/events", raw(`{"name":"e","category":"llm","iteration_id":`+string(rv)+`}`))
			} else {
				r = f.do("POST", "/runs/"+f.run+"/events", map[string]any{"name": "e", "category": "llm", "iteration_id": tt.val})
			}
			code := map[int]string{201: "", 422: "VALIDATION_ERROR", 500: "INTERNAL_ERROR"}[tt.status]
			if tt.frag != "" {
				f.expect(r, tt.status, code, tt.frag, "iteration_id")
			} else {
				f.expect(r, tt.status, code)
			}
			if tt.status == 201 && r.get("iteration_id") != tt.want {
				t.Errorf("iteration_id %v, want %v", r.get("iteration_id"), tt.want)
			}
		})
	}
}

func TestContractMorePatchRunRunningAndUpdatedAt(t *testing.T) {
	clk := newClock(time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC))
	c := newTC(t, WithClock(clk.now))
	run := c.run(c.agent("pr"), nil)
	clk.add(time.Second)
	r := c.do("PATCH", "/runs/"+run, map[string]any{"status": "success", "message": "m1", "metadata": map[string]any{"a": 1, "b": 2}})
	clk.add(time.Second)
	r = c.do("PATCH", "/runs/"+run, map[string]any{"status": "running"})
	if r.str("status") != "running" || r.str("end_time") != "2026-05-06T07:08:11Z" {
		t.Errorf("running sets end_time to now: %s", r.Raw)
	}
	if r.str("updated_at") != "2026-05-06T07:08:09Z" {
		t.Errorf("updated_at changed by PATCH: %s", r.Raw)
	}
	if r.str("message") != "m1" || fmt.Sprint(r.get("metadata")) != "map[a:1 b:2]" {
		t.Errorf("omitted message/metadata must keep the stored values: %s", r.Raw)
	}
	r = c.do("PATCH", "/runs/"+run, map[string]any{"status": "failed", "message": nil, "metadata": nil})
	if r.str("message") != "m1" || r.get("metadata") == nil {
		t.Errorf("null message/metadata keep the stored values: %s", r.Raw)
	}
	r = c.do("PATCH", "/runs/"+run, map[string]any{"status": "failed", "message": "", "metadata": map[string]any{"c": 3}})
	if r.str("message") != "" || fmt.Sprint(r.get("metadata")) != "map[c:3]" {
		t.Errorf("metadata replaces, empty message is stored: %s", r.Raw)
	}
}

func TestContractMoreOtherAgentsVersionAndParentAccepted(t *testing.T) {
	c := newTC(t)
	a1, a2 := c.agent("x1"), c.agent("x2")
	v := c.do("POST", "/agents/"+a1+"/versions", map[string]any{"version": "1"}).str("id")
	parent := c.run(a1, nil)
	r := c.do("POST", "/agents/"+a2+"/runs", map[string]any{"version_id": v, "trigger_type": "agent", "parent_run_id": parent})
	c.expect(r, 201, "")
	if r.str("version_id") != v || r.str("parent_run_id") != parent || r.str("root_run_id") != parent || r.str("agent_id") != a2 {
		t.Errorf("child run of another agent: %s", r.Raw)
	}
	grand := c.do("POST", "/agents/"+a1+"/runs", map[string]any{"trigger_type": "agent", "parent_run_id": r.str("id")})
	if grand.str("root_run_id") != parent {
		t.Errorf("a grandchild's root is the root: %s", grand.Raw)
	}
}

func TestContractMoreEventSequence(t *testing.T) {
	f := newFixture(t)
	var seqs []float64
	for i := 0; i < 3; i++ {
		seqs = append(seqs, f.do("POST", "/runs/"+f.run+"/events", map[string]any{"name": "e", "category": "llm"}).get("sequence").(float64))
	}
	// A row refused by a constraint consumes a sequence value (gaps possible);
	// input errors do not.
	f.expect(f.do("POST", "/runs/"+f.run+"/events", map[string]any{"name": "e", "category": "llm", "type": "tool_retry"}), 500, "INTERNAL_ERROR")
	f.expect(f.do("POST", "/runs/"+f.run+"/events", map[string]any{"name": "e", "category": "llm", "timestamp": "bad"}), 500, "INTERNAL_ERROR")
	seqs = append(seqs, f.do("POST", "/runs/"+f.run2+"/events", map[string]any{"name": "e", "category": "llm"}).get("sequence").(float64))
	if fmt.Sprint(seqs) != "[1 2 3 5]" {
		t.Errorf("sequences %v, want [1 2 3 5] (global, increasing, a gap after the constraint failure)", seqs)
	}
}

func TestContractMoreStoredTextAndJSON(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		name   string
		req    request
		status int
	}{
		{"NUL in a name", request{"POST", "/runs/" + f.run + "/spans", map[string]any{"name": "a\x00b"}, nil}, 500},
		{"NUL in metadata", request{"POST", "/runs/" + f.run + "/spans", map[string]any{"metadata": map[string]any{"k": "a\x00b"}}, nil}, 500},
		{"lone surrogate in a name", request{"POST", "/runs/" + f.run + "/events", raw(`{"name":"\ud800","category":"llm"}`), nil}, 500},
		{"lone surrogate in input", request{"POST", "/runs/" + f.run + "/events", raw(`{"name":"e","category":"llm","input":{"k":"\udc00"}}`), nil}, 500},
		{"surrogate pair", request{"POST", "/runs/" + f.run + "/events", raw(`{"name":"\ud83d\ude80","category":"llm"}`), nil}, 201},
		{"NaN in metadata", request{"POST", "/runs/" + f.run + "/events", raw(`{"name":"e","category":"llm","metadata":{"x":NaN}}`), nil}, 500},
		{"NaN in an ignored field", request{"POST", "/runs/" + f.run + "/events", raw(`{"name":"e","category":"llm","extra":NaN}`), nil}, 201},
		{"invalid UTF-8", request{"POST", "/runs/" + f.run + "/events", raw("{\"name\":\"\xff\",\"category\":\"llm\"}"), nil}, 400},
		{"UTF-8 BOM", request{"POST", "/runs/" + f.run + "/events", raw("\xef\xbb\xbf{\"name\":\"e\",\"category\":\"llm\"}"), nil}, 201},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if r := f.send(tt.req); r.Status != tt.status {
				t.Fatalf("%d %s, want %d", r.Status, r.Raw, tt.status)
			}
		})
	}
	// Numbers come back as Python sends them after the jsonb round trip, and
	// object keys in jsonb order.
	r := f.do("POST", "/runs/"+f.run+"/events", raw(`{"name":"n","category":"llm","metadata":{"bb":1.0,"a":1e20,"c":[1e-7,-0.0,12345678901234567890,2.50]}}`))
	if !strings.Contains(string(r.Raw), `"metadata":{"a":100000000000000000000,"c":[1e-07,0.0,12345678901234567890,2.5],"bb":1.0}`) {
		t.Errorf("metadata rendered %s", r.Raw)
	}
	evs := f.srv.Events(f.run)
	last := evs[len(evs)-1]
	if last.Metadata["bb"] != 1.0 || last.Metadata["a"] != 1e20 {
		t.Errorf("inspection numbers must be float64: %#v", last.Metadata)
	}
}
