package ezoptest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
)

// Record types of the API, as the emulator stores and answers them.
type (
	Agent   = wire.Agent
	Version = wire.Version
	Run     = wire.Run
	Span    = wire.Span
	Event   = wire.Event
)

// Endpoint names one route of the API. Its value is the method and the
// path template.
type Endpoint string

// The API's endpoints.
const (
	EndpointHealth        Endpoint = "GET /health"
	EndpointRegisterAgent Endpoint = "POST /agents/register"
	EndpointCreateVersion Endpoint = "POST /agents/{agent_id}/versions"
	EndpointStartRun      Endpoint = "POST /agents/{agent_id}/runs"
	EndpointListRuns      Endpoint = "GET /agents/{agent_id}/runs"
	EndpointEndRun        Endpoint = "PATCH /runs/{run_id}"
	EndpointCreateSpan    Endpoint = "POST /runs/{run_id}/spans"
	EndpointCloseSpan     Endpoint = "PATCH /spans/{span_id}"
	EndpointEmitEvent     Endpoint = "POST /runs/{run_id}/events"
)

// Endpoints lists every endpoint in the order the server registers its
// routes.
var Endpoints = []Endpoint{
	EndpointHealth, EndpointRegisterAgent, EndpointCreateVersion, EndpointListRuns,
	EndpointStartRun, EndpointEndRun, EndpointCreateSpan, EndpointEmitEvent, EndpointCloseSpan,
}

// Method returns the endpoint's HTTP method.
func (e Endpoint) Method() string { m, _, _ := strings.Cut(string(e), " "); return m }

// Path returns the endpoint's path template, e.g. "/runs/{run_id}/spans".
func (e Endpoint) Path() string { _, p, _ := strings.Cut(string(e), " "); return p }

// hasBody reports whether the server declares a request body model for e
// (and so reads and decodes the body).
func (e Endpoint) hasBody() bool { return e != EndpointHealth && e != EndpointListRuns }

// Rejection is a non-2xx answer the emulator gave on its own, as the real
// server would have: routing errors (404, 405, 307), authentication,
// validation, lookups, database errors and plan limits. Injected faults and
// RejectKey answers are not rejections.
type Rejection struct {
	Endpoint Endpoint // "" when routing found no endpoint
	Method   string
	Path     string // the request path, with ?query if any
	Status   int
	Code     string // error code of the envelope; "" for routing answers
	Message  string // error message, or the routing detail
	Body     []byte // the request body
}

func (r Rejection) String() string {
	s := fmt.Sprintf("%s %s → %d", r.Method, r.Path, r.Status)
	if r.Code != "" {
		s += " " + r.Code
	}
	if r.Message != "" {
		s += ": " + r.Message
	}
	if len(r.Body) > 0 {
		b := string(r.Body)
		if len(b) > 200 {
			b = b[:200] + "…"
		}
		s += " (body " + b + ")"
	}
	return s
}

// Option configures a Server.
type Option func(*config)

type config struct {
	apiKey     string
	eventQuota int
	agentLimit int
	clock      func() time.Time
	from       *Server
}

// WithAPIKey sets the one valid API key (default: a random "ezop_sk_" key).
func WithAPIKey(key string) Option { return func(c *config) { c.apiKey = key } }

// WithEventQuota sets the plan's monthly event quota: once n events were
// stored this month, emitting answers 429 HTTP_ERROR "Monthly event limit
// reached (n/n). …" without Retry-After, as the real plan limit does. A
// negative n means unlimited (the default).
func WithEventQuota(n int) Option { return func(c *config) { c.eventQuota = n } }

// WithAgentLimit sets the plan's agent limit: registering a new (name,
// owner) once n agents exist answers 429 HTTP_ERROR "Agent limit reached
// (n/n). …"; re-registering an existing agent is always allowed. A negative
// n means unlimited (the default).
func WithAgentLimit(n int) Option { return func(c *config) { c.agentLimit = n } }

// WithClock sets the server clock (default time.Now). It gives run times,
// created_at/updated_at, the default span and event times and the month of
// the event quota; the emulator keeps its microseconds. It is called from
// request goroutines, so it must be safe for concurrent use.
func WithClock(now func() time.Time) Option { return func(c *config) { c.clock = now } }

// WithDataFrom starts the server with a copy of prev's data, organization
// id and API key (unless WithAPIKey is also given): together with Start on
// prev's address it emulates a server restart that keeps its database.
func WithDataFrom(prev *Server) Option { return func(c *config) { c.from = prev } }

// Server is an in-process emulator of the Ezop API server listening on a
// real TCP address, like httptest.Server.
type Server struct {
	// URL is the base URL of the server, "http://127.0.0.1:port", with no
	// trailing slash.
	URL string
	// APIKey is the one valid API key.
	APIKey string

	ln        net.Listener
	srv       *http.Server
	closing   chan struct{}
	serveDone chan struct{}
	closeOnce sync.Once

	hmu      sync.Mutex
	closed   bool
	handlers sync.WaitGroup

	clock      func() time.Time
	eventQuota int
	agentLimit int
	orgID      string

	mu       sync.Mutex // guards st, requests, rejected
	st       *store
	requests map[Endpoint]int
	rejected []Rejection

	fmu       sync.Mutex // guards faults, latency, rejectKey
	faults    []*faultState
	nextFault uint64
	latency   time.Duration
	rejectKey bool
}

// NewServer starts an emulator on a random port of the loopback interface.
// It panics only if it cannot listen, like httptest.NewServer.
func NewServer(opts ...Option) *Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		if ln, err = net.Listen("tcp6", "[::1]:0"); err != nil {
			panic(fmt.Sprintf("ezoptest: failed to listen on a port: %v", err))
		}
	}
	return serve(ln, opts)
}

// Start starts an emulator listening on addr, e.g. "127.0.0.1:43123"; use
// it to restart an emulator on the address of one that was closed.
func Start(addr string, opts ...Option) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ezoptest: %w", err)
	}
	return serve(ln, opts), nil
}

func serve(ln net.Listener, opts []Option) *Server {
	cfg := config{eventQuota: -1, agentLimit: -1}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{
		ln:         ln,
		closing:    make(chan struct{}),
		serveDone:  make(chan struct{}),
		clock:      cfg.clock,
		eventQuota: cfg.eventQuota,
		agentLimit: cfg.agentLimit,
		requests:   map[Endpoint]int{},
		st:         newStore(),
		orgID:      uuid.NewString(),
		APIKey:     cfg.apiKey,
	}
	if cfg.from != nil {
		p := cfg.from
		p.mu.Lock()
		s.st = p.st.clone()
		p.mu.Unlock()
		s.orgID = p.orgID
		if s.APIKey == "" {
			s.APIKey = p.APIKey
		}
	}
	if s.APIKey == "" {
		var b [32]byte
		_, _ = rand.Read(b[:])
		s.APIKey = "ezop_sk_" + hex.EncodeToString(b[:])
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	s.URL = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.serveDone)
		_ = s.srv.Serve(ln)
	}()
	return s
}

// Addr returns the address the server listens on, "127.0.0.1:port".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server: it closes the listener and every connection,
// aborts requests waiting on injected latency and returns once every handler
// has returned. It is safe to call more than once. The data stays
// inspectable after Close.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.hmu.Lock()
		s.closed = true
		s.hmu.Unlock()
		close(s.closing)
		_ = s.srv.Close()
		s.handlers.Wait()
		<-s.serveDone
	})
}

// now is the database's now(): the server clock to the microsecond.
func (s *Server) now() time.Time { return s.clock().UTC().Truncate(time.Microsecond) }

// ── routing ────────────────────────────────────────────────────────────────

type routeDef struct {
	endpoint Endpoint
	segs     []string
}

var routeDefs = func() []routeDef {
	var rs []routeDef
	for _, e := range Endpoints {
		rs = append(rs, routeDef{endpoint: e, segs: strings.Split(e.Path(), "/")})
	}
	return rs
}()

func (rd routeDef) match(path string) (map[string]string, bool) {
	segs := strings.Split(path, "/")
	if len(segs) != len(rd.segs) {
		return nil, false
	}
	params := map[string]string{}
	for i, p := range rd.segs {
		if strings.HasPrefix(p, "{") {
			if segs[i] == "" {
				return nil, false
			}
			params[strings.Trim(p, "{}")] = segs[i]
		} else if p != segs[i] {
			return nil, false
		}
	}
	return params, true
}

// route resolves a request like Starlette's router: a full match, else a
// path match with another method (405), else the same path without (or
// with) a trailing slash (307), else 404.
func route(method, path string) (rd *routeDef, params map[string]string, status int, redirect string, allow string) {
	var partial *routeDef
	for i := range routeDefs {
		r := &routeDefs[i]
		p, ok := r.match(path)
		if !ok {
			continue
		}
		if r.endpoint.Method() == method {
			return r, p, 0, "", ""
		}
		if partial == nil {
			partial = r
		}
	}
	if partial != nil {
		return nil, nil, http.StatusMethodNotAllowed, "", partial.endpoint.Method()
	}
	if path != "/" {
		alt := path + "/"
		if strings.HasSuffix(path, "/") {
			alt = strings.TrimRight(path, "/")
		}
		for i := range routeDefs {
			if _, ok := routeDefs[i].match(alt); ok {
				return nil, nil, http.StatusTemporaryRedirect, alt, ""
			}
		}
	}
	return nil, nil, http.StatusNotFound, "", ""
}

// pyQuote is urllib.parse.quote with the safe set Starlette's
// RedirectResponse uses.
func pyQuote(s string) string {
	const safe = ":/%#?=@[]!$&'()*+,;"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("_.-~", c) >= 0 || strings.IndexByte(safe, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// ── request handling ───────────────────────────────────────────────────────

// response is one answer, built before anything is written so that a
// DropAfterCommit fault can discard it.
type response struct {
	status int
	header http.Header
	body   []byte
	code   string // envelope error code, or "" for routing answers
	msg    string
	// injected marks answers that come from fault injection or RejectKey.
	injected bool
}

func envelopeError(status int, code, msg string) *response {
	body := pyJSON(struct {
		Success bool              `json:"success"`
		Data    any               `json:"data"`
		Error   *wire.ErrorDetail `json:"error"`
	}{false, nil, &wire.ErrorDetail{Code: code, Message: msg}})
	return &response{status: status, header: jsonHeader(), body: body, code: code, msg: msg}
}

func envelopeData(status int, data any) *response {
	body := pyJSON(struct {
		Success bool `json:"success"`
		Data    any  `json:"data"`
		Error   any  `json:"error"`
	}{true, data, nil})
	return &response{status: status, header: jsonHeader(), body: body}
}

func jsonHeader() http.Header { return http.Header{"Content-Type": {"application/json"}} }

// statusCode is the server's mapping from an HTTPException status to the
// envelope's error code.
func statusCode(status int) string {
	switch status {
	case 401:
		return wire.CodeUnauthorized
	case 403:
		return wire.CodeForbidden
	case 404:
		return wire.CodeNotFound
	case 405:
		return "METHOD_NOT_ALLOWED"
	case 422:
		return wire.CodeValidationError
	case 500:
		return wire.CodeInternalError
	}
	return wire.CodeHTTPError
}

// httpError is an HTTPException raised by the server's code.
func httpError(status int, msg string) *response {
	return envelopeError(status, statusCode(status), msg)
}

// internalError is the answer to any unhandled exception (database errors).
func internalError() *response {
	return envelopeError(500, wire.CodeInternalError, "An unexpected error occurred.")
}

func validationError(errs []pyErr) *response {
	return envelopeError(422, wire.CodeValidationError, pyErrorsMessage(errs))
}

const (
	msgMissingCredentials = "Missing credentials. Provide: Authorization: Bearer <API_KEY>"
	msgInvalidKey         = "Invalid or revoked API key."
	maxBodyBytes          = 64 << 20
)

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.hmu.Lock()
	if s.closed {
		s.hmu.Unlock()
		dropConn(w)
		return
	}
	s.handlers.Add(1)
	s.hmu.Unlock()
	defer s.handlers.Done()

	// Read the body first: net/http notices that the client went away (and
	// cancels r.Context()) only once the body has been consumed.
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		dropConn(w)
		return
	}

	s.fmu.Lock()
	global := s.latency
	s.fmu.Unlock()
	if !s.wait(r.Context(), global) {
		dropConn(w)
		return
	}

	reqPath := r.URL.Path
	if r.URL.RawQuery != "" {
		reqPath += "?" + r.URL.RawQuery
	}
	rd, params, status, redirect, allow := route(r.Method, r.URL.Path)
	if rd == nil {
		var resp *response
		switch status {
		case http.StatusTemporaryRedirect:
			loc := "http://" + r.Host + pyQuote(redirect)
			if r.URL.RawQuery != "" {
				loc += "?" + r.URL.RawQuery
			}
			resp = &response{status: status, header: http.Header{"Location": {loc}}, msg: "Temporary Redirect"}
		case http.StatusMethodNotAllowed:
			resp = &response{status: status, header: jsonHeader(), body: []byte(`{"detail":"Method Not Allowed"}`), msg: "Method Not Allowed"}
			resp.header.Set("Allow", allow)
		default:
			resp = &response{status: status, header: jsonHeader(), body: []byte(`{"detail":"Not Found"}`), msg: "Not Found"}
		}
		s.reject("", r.Method, reqPath, resp, body)
		writeResponse(w, resp)
		return
	}
	ep := rd.endpoint

	s.mu.Lock()
	s.requests[ep]++
	s.mu.Unlock()

	f, latency := s.pickFault(ep)
	if !s.wait(r.Context(), latency) {
		dropConn(w)
		return
	}
	if f != nil && f.Drop {
		dropConn(w)
		return
	}
	if f != nil && f.Status != 0 {
		writeResponse(w, faultResponse(f))
		return
	}
	if !ep.hasBody() {
		body = nil // the server does not read it
	}

	var resp *response
	if len(body) > maxBodyBytes {
		resp = httpError(http.StatusRequestEntityTooLarge, "Request body too large.")
	} else {
		resp = s.handle(ep, r, params, body)
	}
	if !resp.injected {
		s.reject(ep, r.Method, reqPath, resp, body)
	}
	if f != nil && f.DropAfterCommit {
		dropConn(w)
		return
	}
	writeResponse(w, resp)
}

func writeResponse(w http.ResponseWriter, resp *response) {
	for k, v := range resp.header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

// dropConn closes the connection without answering.
func dropConn(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func (s *Server) reject(ep Endpoint, method, path string, resp *response, body []byte) {
	if resp.status >= 200 && resp.status < 300 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejected = append(s.rejected, Rejection{
		Endpoint: ep, Method: method, Path: path, Status: resp.status,
		Code: resp.code, Message: resp.msg, Body: append([]byte(nil), body...),
	})
}

// wait sleeps d unless the request is cancelled or the server closes.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closing:
		return false
	}
}

// isJSONContentType is FastAPI's test: no content type, or
// application/json, or application/*+json (parameters ignored).
func isJSONContentType(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	if strings.Count(mt, "/") != 1 {
		return false // Python's email module falls back to text/plain
	}
	main, sub, _ := strings.Cut(mt, "/")
	return main == "application" && (sub == "json" || strings.HasSuffix(sub, "+json"))
}

// handle answers a routed request: body decoding, authentication, body
// validation, then the endpoint's own logic, in the server's order.
func (s *Server) handle(ep Endpoint, r *http.Request, params map[string]string, body []byte) *response {
	if ep == EndpointHealth {
		return envelopeData(200, wire.Health{Status: "ok"})
	}
	var parsed any
	if len(body) > 0 {
		if isJSONContentType(r.Header.Get("Content-Type")) {
			v, err := pyJSONLoads(body)
			var jerr *jsonDecodeError
			switch {
			case errors.As(err, &jerr):
				return validationError([]pyErr{jsonInvalidError(jerr)})
			case err != nil:
				return httpError(400, "There was an error parsing the body")
			}
			parsed = v
		} else {
			parsed = pyBytes(body)
		}
	}
	if resp := s.authenticate(r.Header.Get("Authorization")); resp != nil {
		return resp
	}
	switch ep {
	case EndpointListRuns:
		return s.listRuns(params["agent_id"])
	case EndpointRegisterAgent:
		return withModel(registerAgentModel, parsed, s.registerAgent)
	case EndpointCreateVersion:
		return withModel(createVersionModel, parsed, func(v map[string]any) *response { return s.createVersion(params["agent_id"], v) })
	case EndpointStartRun:
		return withModel(startRunModel, parsed, func(v map[string]any) *response { return s.startRun(params["agent_id"], v) })
	case EndpointEndRun:
		return withModel(endRunModel, parsed, func(v map[string]any) *response { return s.endRun(params["run_id"], v) })
	case EndpointCreateSpan:
		return withModel(createSpanModel, parsed, func(v map[string]any) *response { return s.createSpan(params["run_id"], v) })
	case EndpointCloseSpan:
		return withModel(closeSpanModel, parsed, func(v map[string]any) *response { return s.closeSpan(params["span_id"], v) })
	case EndpointEmitEvent:
		return withModel(emitEventModel, parsed, func(v map[string]any) *response { return s.emitEvent(params["run_id"], v) })
	}
	return internalError()
}

func withModel(m *model, body any, h func(map[string]any) *response) *response {
	vals, errs := validateModel(m, body)
	if len(errs) > 0 {
		return validationError(errs)
	}
	return h(vals)
}

// authenticate is FastAPI's HTTPBearer(auto_error=False) followed by the
// server's key lookup.
func (s *Server) authenticate(header string) *response {
	scheme, token, _ := strings.Cut(header, " ")
	if header == "" || scheme == "" || token == "" || !strings.EqualFold(scheme, "bearer") {
		return httpError(401, msgMissingCredentials)
	}
	s.fmu.Lock()
	reject := s.rejectKey
	s.fmu.Unlock()
	if reject && token == s.APIKey {
		resp := httpError(403, msgInvalidKey)
		resp.injected = true
		return resp
	}
	if token != s.APIKey {
		return httpError(403, msgInvalidKey)
	}
	return nil
}
