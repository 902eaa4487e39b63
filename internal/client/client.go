package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/ezopotel/ezop-otel-go/internal/version"
	"github.com/ezopotel/ezop-otel-go/internal/wire"
)

// maxAnswer bounds the body of an answer the client reads.
const maxAnswer = 32 << 20

// Client talks to the Ezop API. It is safe for concurrent use; build it
// once and share it (its transport keeps connections to the host).
//
// Printing a Client (%v, %+v, %#v, %s) never shows its API key.
type Client struct {
	base      string       // endpoint without trailing slash
	creds     *credentials // behind a pointer: fmt shows an address
	hc        *http.Client
	userAgent string
	timeout   time.Duration
	retry     RetryConfig
	runs      *runLedger
	stats     *counters

	// Test hooks: sleep waits between attempts (returning an error when ctx
	// ends first) and now is the clock of the retry budget and of the
	// StartRun adoption window.
	sleep func(ctx context.Context, d time.Duration) error
	now   func() time.Time

	// gate is the outage state (outage.go); probeCtx ends with Close.
	gate      *gate
	probeCtx  context.Context
	probeStop context.CancelFunc
}

// New builds a Client. Options given override the environment (EZOP_API_URL,
// EZOP_API_KEY), which overrides the defaults. Every error wraps
// ErrInvalidConfig.
func New(opts ...Option) (*Client, error) {
	cfg := config{
		timeout:  DefaultTimeout,
		retry:    DefaultRetryConfig,
		maxConns: DefaultMaxConns,
	}
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	if !cfg.endpointSet {
		cfg.endpoint = strings.TrimSpace(os.Getenv(EnvAPIURL))
		if cfg.endpoint == "" {
			cfg.endpoint = DefaultEndpoint
		}
	}
	if !cfg.apiKeySet {
		cfg.apiKey = strings.TrimSpace(os.Getenv(EnvAPIKey))
	}
	creds := newCredentials(cfg.apiKey)
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, creds.clean(fmt.Sprintf(format, args...)))
	}

	base, err := parseEndpoint(cfg.endpoint, cfg.insecure)
	if err != nil {
		return nil, invalid("%v", err)
	}
	switch {
	case cfg.apiKey != "" && strings.Contains(cfg.endpoint, cfg.apiKey):
		return nil, invalid("the endpoint contains the API key: the key goes only in the Authorization header")
	case cfg.apiKey == "":
		return nil, invalid("no API key: set %s or use WithAPIKey", EnvAPIKey)
	case !headerSafe(cfg.apiKey) || strings.ContainsAny(cfg.apiKey, " \t"):
		return nil, invalid("the API key contains spaces or control characters")
	case cfg.timeout <= 0:
		return nil, invalid("timeout %s is not positive", cfg.timeout)
	case cfg.maxConns < 1:
		return nil, invalid("max conns %d is below 1", cfg.maxConns)
	case cfg.httpSet && cfg.httpClient == nil:
		return nil, invalid("WithHTTPClient(nil)")
	case !headerSafe(cfg.userAgent):
		return nil, invalid("the User-Agent addition contains control characters")
	}
	rc := cfg.retry.withDefaults()
	if err := rc.validate(); err != nil {
		return nil, invalid("%v", err)
	}

	ua := fmt.Sprintf("ezop-otel-go/%s (%s; %s/%s)", version.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if extra := strings.TrimSpace(cfg.userAgent); extra != "" {
		ua += " " + extra
	}
	hc := cfg.httpClient
	if hc == nil {
		hc = newHTTPClient(cfg.maxConns)
	} else {
		hc = guardRedirects(hc, base)
	}
	c := &Client{
		base:      base,
		creds:     creds,
		hc:        hc,
		userAgent: ua,
		timeout:   cfg.timeout,
		retry:     rc,
		stats:     new(counters),
		sleep:     sleepCtx,
		now:       time.Now,
	}
	// Runs handed out are remembered as long as an operation may last
	// (the ledger is bounded by count too).
	keep := rc.MaxElapsedTime
	if keep > 24*time.Hour {
		keep = 24 * time.Hour
	}
	c.runs = newRunLedger(keep + cfg.timeout + time.Minute)
	c.gate = &gate{c: c, max: cfg.maxOutage, hook: cfg.outageHook}
	c.probeCtx, c.probeStop = context.WithCancel(context.Background())
	return c, nil
}

// newHTTPClient returns the client's own HTTP client: one transport, shared
// by every call, sized for concurrent use, not following redirects (the API
// never redirects a correct request; a redirect means a wrong endpoint, and
// following it could resend the key elsewhere).
func newHTTPClient(maxConns int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = maxConns
	tr.MaxIdleConnsPerHost = maxConns
	tr.MaxConnsPerHost = maxConns
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// guardRedirects returns a copy of a caller's client that never follows a
// redirect away from the endpoint's scheme and host: the request carries
// the API key, and net/http keeps Authorization on a redirect to the same
// host, plain http included. Redirects within the endpoint follow the
// caller's policy.
func guardRedirects(hc *http.Client, base string) *http.Client {
	cp := *hc
	own := hc.CheckRedirect
	u, _ := url.Parse(base)
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !strings.EqualFold(req.URL.Scheme, u.Scheme) || !strings.EqualFold(req.URL.Host, u.Host) {
			return http.ErrUseLastResponse // answered as a redirect: not followed
		}
		if own != nil {
			return own(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cp
}

// parseEndpoint checks a base URL and returns it without trailing slash.
func parseEndpoint(raw string, insecure bool) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("empty endpoint")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("endpoint %q is not an absolute http(s) URL", raw)
	}
	if u.User != nil {
		return "", fmt.Errorf("endpoint %q must not carry user information", u.Redacted())
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", fmt.Errorf("endpoint %q must not have a query or fragment", raw)
	}
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "https":
	case "http":
		if !insecure && !isLoopback(u.Hostname()) {
			return "", fmt.Errorf("endpoint %q is plain http to a host that is not loopback: use https, or WithInsecure to send the API key in clear text", raw)
		}
	default:
		return "", fmt.Errorf("endpoint %q: scheme must be https or http", raw)
	}
	return scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"), nil
}

// isLoopback reports whether host is localhost, 127.0.0.0/8 or ::1.
func isLoopback(host string) bool {
	if h := strings.ToLower(host); h == "localhost" || h == "localhost." {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

// headerSafe reports whether s may be sent in an HTTP header value.
func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Endpoint returns the base URL the client sends to.
func (c *Client) Endpoint() string { return c.base }

// CloseIdleConnections closes the idle connections of the client's
// transport. The client stays usable.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// String describes the client without its API key.
func (c *Client) String() string {
	if c == nil {
		return "<nil>"
	}
	return fmt.Sprintf("ezop client %s (API key %s)", c.base, redacted)
}

// GoString describes the client without its API key.
func (c *Client) GoString() string {
	if c == nil {
		return "(*client.Client)(nil)"
	}
	return fmt.Sprintf("&client.Client{Endpoint:%q, APIKey:%q, UserAgent:%q, Timeout:%s, Retry:%+v}",
		c.base, redacted, c.userAgent, c.timeout, c.retry)
}

// Format implements fmt.Formatter so that every verb prints the redacted
// forms above.
func (c *Client) Format(f fmt.State, verb rune) {
	s := c.String()
	if verb == 'v' && (f.Flag('#') || f.Flag('+')) {
		s = c.GoString()
	}
	_, _ = io.WriteString(f, s)
}

// answer is the outcome of one request.
type answer struct {
	method, path string
	status       int // 0 when no answer arrived
	header       http.Header
	env          *wire.Envelope // nil when the body is not the envelope
	body         []byte
	bodyNote     string
	err          error // no answer, or its body could not be read
	// ambiguous: a write (not a GET) that may have been committed by the
	// server although no usable answer was read — the request was written
	// and the connection failed or timed out, or a gateway answered 502/504
	// (or a 500 that is not the server's envelope).
	ambiguous    bool
	begun, ended time.Time
	// callerCanceled: the attempt ended because the caller's context did;
	// outage: it was not made, an outage having lasted too long.
	callerCanceled, outage bool
}

// ok reports a success envelope in a 2xx answer.
func (a *answer) ok() bool {
	return a.err == nil && a.status/100 == 2 && a.env != nil && a.env.Success
}

// validEnvelope checks the envelope's invariants: success with data, or
// failure with an error object.
func validEnvelope(e *wire.Envelope) bool {
	if e.Success {
		return len(e.Data) > 0 && string(e.Data) != "null" && e.Error == nil
	}
	return e.Error != nil && e.Error.Code != ""
}

// opState is one operation in progress: its attempts and retry budget.
type opState struct {
	c         *Client
	op        string
	start     time.Time
	bo        backoff.ExponentialBackOff
	attempts  int
	server500 int  // 500s retried
	quota     int  // 429s without Retry-After retried
	ambiguous bool // an attempt before the current one was ambiguous
	last      *answer
	probe     bool // the outage prober's own request: not gated
	outages   int  // outages this operation waited through
}

func (c *Client) newOp(op string) *opState {
	c.stats.operations.Add(1)
	s := &opState{c: c, op: op, start: c.now()}
	s.bo = backoff.ExponentialBackOff{
		InitialInterval:     c.retry.InitialInterval,
		RandomizationFactor: backoff.DefaultRandomizationFactor,
		Multiplier:          backoff.DefaultMultiplier,
		MaxInterval:         c.retry.MaxInterval,
	}
	s.bo.Reset()
	return s
}

// send makes one request. body nil means no body. It never returns nil.
func (s *opState) send(ctx context.Context, method, path string, body []byte, auth bool) *answer {
	return s.sendWith(ctx, method, path, body, auth, nil)
}

// sendWith is send; when stream is set, a 2xx answer's body is handed to
// it instead of being read whole: it reads what it needs (the head of a
// long list) and returns the envelope it made of it, or an error.
func (s *opState) sendWith(ctx context.Context, method, path string, body []byte, auth bool, stream func(a *answer, r io.Reader) (*wire.Envelope, error)) *answer {
	c := s.c
	a := &answer{method: method, path: path, begun: c.now()}
	defer func() { a.ended = c.now(); s.last = a }()
	if err := ctx.Err(); err != nil {
		a.err, a.callerCanceled = err, true
		return a
	}
	if !s.probe {
		// Through an outage nothing is sent: the request waits, and its
		// retry budget with it.
		waited, err := c.gate.wait(ctx)
		if waited > 0 {
			// The wait is not charged to the retry budget, for the first
			// pausedOutages outages an operation meets: a server that
			// answers /health but keeps failing this request (a 503 of one
			// endpoint) is refusing, and the budget applies again.
			if s.outages < pausedOutages {
				s.start = s.start.Add(waited)
			}
			s.outages++
		}
		if err != nil {
			a.err = err
			a.callerCanceled = ctx.Err() != nil
			a.outage = !a.callerCanceled
			return a
		}
		a.begun = c.now()
		defer func() { c.gate.note(a) }()
	}
	if s.attempts > 0 {
		c.stats.retries.Add(1)
	}
	s.attempts++
	c.stats.requests.Add(1)

	timeout := c.timeout
	if c.retry.Enabled && c.retry.MaxElapsedTime > 0 {
		if left := c.retry.MaxElapsedTime - c.now().Sub(s.start); left > 0 && left < timeout {
			timeout = left
		}
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var wrote atomic.Bool
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			// A failed write left the body incomplete: the server cannot
			// have committed it.
			if info.Err == nil {
				wrote.Store(true)
			}
		},
	})
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, method, c.base+path, rd)
	if err != nil {
		a.err = err
		return a
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+c.creds.key())
	}
	write := method != http.MethodGet

	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			// The error's text quotes the URL: scrub it in a copy, so
			// that errors.As callers see no key either.
			cp := *ue
			cp.URL = c.creds.clean(ue.URL)
			err = &cp
		}
		a.err = err
		a.callerCanceled = ctx.Err() != nil
		a.ambiguous = write && wrote.Load()
		return a
	}
	defer func() { _ = resp.Body.Close() }()
	a.status, a.header = resp.StatusCode, resp.Header
	if stream != nil && a.status/100 == 2 {
		env, err := stream(a, io.LimitReader(resp.Body, maxAnswer))
		if err != nil {
			a.err = err
			return a
		}
		a.env = env
		return a
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		// The status arrived, the body did not. A 2xx means committed
		// (creates handle that), a gateway's 502/504 means unknown; any
		// other status says the server did not store the request.
		a.err = err
		a.ambiguous = write && (a.status/100 == 2 || a.status == http.StatusBadGateway || a.status == http.StatusGatewayTimeout)
		return a
	}
	if len(data) > maxAnswer {
		a.body, a.bodyNote = data[:256], fmt.Sprintf("answer larger than %d bytes", maxAnswer)
		return a
	}
	a.body = data
	var env wire.Envelope
	if json.Unmarshal(data, &env) == nil && validEnvelope(&env) {
		a.env = &env
	}
	switch {
	case a.status == http.StatusBadGateway, a.status == http.StatusGatewayTimeout:
		a.ambiguous = write
	case a.status == http.StatusInternalServerError && a.env == nil:
		a.ambiguous = write
	}
	return a
}

// decode reads a success answer's data into out.
func (s *opState) decode(a *answer, out any) error {
	if err := json.Unmarshal(a.env.Data, out); err != nil {
		return s.fail(a, ErrServer, 0, "the answer's data is not the expected record: "+err.Error())
	}
	s.c.stats.succeeded.Add(1)
	return nil
}

// quotaNote explains a final 429 without Retry-After.
const quotaNote = "a 429 without Retry-After is the plan's quota (agents or monthly events), which waiting does not clear"

// retryOrFail decides after a failed attempt: it sleeps and returns nil to
// have the caller try again, or returns the operation's final error.
func (s *opState) retryOrFail(ctx context.Context, a *answer) error {
	c := s.c
	if ctx.Err() != nil {
		return s.canceled(ctx)
	}
	var ra time.Duration
	hasRA := false
	if a.err == nil && (a.status == http.StatusTooManyRequests || a.status == http.StatusServiceUnavailable) {
		ra, hasRA = retryAfter(a.header, c.now())
	}
	var (
		kind  error
		retry bool
		note  string
	)
	switch {
	case a.outage:
		return s.fail(a, ErrUnavailable, 0, "")
	case a.err != nil:
		kind, retry = ErrTransport, true
	case a.status == http.StatusTooManyRequests:
		kind = ErrRateLimited
		switch {
		case hasRA:
			retry = true
		case s.quota < c.retry.MaxQuotaRetries && c.retry.Enabled:
			s.quota++
			retry = true
		default:
			note = quotaNote
		}
	case a.status == http.StatusBadGateway, a.status == http.StatusServiceUnavailable, a.status == http.StatusGatewayTimeout:
		kind, retry = ErrServer, true
	case a.status == http.StatusInternalServerError:
		kind = ErrServer
		if s.server500 < c.retry.MaxServerErrorRetries && c.retry.Enabled {
			s.server500++
			retry = true
		}
	default:
		kind = kindOf(a.status)
		if a.status/100 == 3 {
			note = "redirects are not followed: check the endpoint"
			if loc := a.header.Get("Location"); loc != "" {
				note += " (Location " + strconv.Quote(loc) + ")"
			}
		}
	}
	s.ambiguous = s.ambiguous || a.ambiguous
	if !retry || !c.retry.Enabled {
		return s.fail(a, kind, ra, note)
	}

	if down, _ := c.Down(); down && unavailable(a) {
		// An outage: the next attempt waits for the server at the gate,
		// not on its budget.
		return nil
	}
	delay := s.bo.NextBackOff()
	if hasRA && ra > delay {
		delay = ra
	}
	left := c.retry.MaxElapsedTime - c.now().Sub(s.start)
	if hasRA && ra > left {
		return s.fail(a, kind, ra, fmt.Sprintf("Retry-After exceeds the %s left of the retry budget", max(left, 0).Round(time.Millisecond)))
	}
	if delay > left {
		return s.fail(a, kind, ra, fmt.Sprintf("retry budget of %s exhausted", c.retry.MaxElapsedTime))
	}
	if err := c.sleep(ctx, delay); err != nil {
		return s.canceled(ctx)
	}
	return nil
}

// retryAfter reads Retry-After in seconds or as an HTTP date; a date is
// taken relative to the answer's Date header when it has one, so that the
// client's clock does not matter.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		const most = 100 * 365 * 24 * 3600
		return time.Duration(min(n, most)) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		now = d
	}
	return max(at.Sub(now), 0), true
}

// fail builds the final error of the operation from its last answer.
func (s *opState) fail(a *answer, kind error, ra time.Duration, note string) error {
	cr := s.c.creds
	e := &APIError{
		Op: s.op, Method: a.method, Path: a.path, StatusCode: a.status,
		RetryAfter: ra, Attempts: s.attempts, kind: kind, note: cr.clean(note),
	}
	switch {
	case a.err != nil:
		e.cause = errFunc(a.err)
		e.detail = cr.clean(a.err.Error())
		if a.status != 0 {
			e.detail = fmt.Sprintf("%d answer could not be read: %s", a.status, e.detail)
		}
	case a.env != nil && a.env.Error != nil:
		e.Code, e.Message = cr.clean(a.env.Error.Code), cr.clean(a.env.Error.Message)
	case a.env != nil:
		e.Message = "unexpected success envelope"
	default:
		ct := a.header.Get("Content-Type")
		if ct == "" {
			ct = "none"
		}
		e.Message = fmt.Sprintf("not an Ezop API answer (Content-Type %s): %s", cr.clean(ct), cr.snippet(a.body))
		if a.bodyNote != "" {
			e.Message = a.bodyNote + "; " + e.Message
		}
	}
	s.c.stats.count(kind)
	return e
}

// canceled builds the error for a context that ended: it wraps ctx.Err()
// (and the context's cause, if it has another) and matches no error kind.
func (s *opState) canceled(ctx context.Context) error {
	cr := s.c.creds
	cause := ctx.Err()
	if cc := context.Cause(ctx); cc != nil && cc != cause {
		cause = fmt.Errorf("%w: %w", cause, cc)
	}
	e := &APIError{Op: s.op, Attempts: s.attempts, cause: errFunc(cause), detail: cr.clean(cause.Error())}
	if a := s.last; a != nil {
		e.Method, e.Path = a.method, a.path
		switch {
		case a.err != nil && !errors.Is(a.err, ctx.Err()):
			e.note = "last attempt: " + cr.clean(a.err.Error())
		case a.err == nil && a.status != 0:
			e.StatusCode = a.status
			e.note = "last attempt: " + strconv.Itoa(a.status)
			if a.env != nil && a.env.Error != nil {
				e.Code, e.Message = cr.clean(a.env.Error.Code), cr.clean(a.env.Error.Message)
				e.note += " " + e.Code + ": " + e.Message
			}
		}
	}
	s.c.stats.canceled.Add(1)
	return e
}

// invalidArg is the error for arguments refused before any request.
func (c *Client) invalidArg(op string, format string, args ...any) error {
	c.stats.operations.Add(1)
	c.stats.count(ErrInvalidArgument)
	detail := strings.TrimPrefix(fmt.Sprintf(format, args...), "ezop: ")
	return &APIError{Op: op, kind: ErrInvalidArgument, detail: c.creds.clean(detail)}
}

// errFunc wraps err for APIError.cause.
func errFunc(err error) func() error { return func() error { return err } }
