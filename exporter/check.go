package exporter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/ezopotel/ezop-otel-go/internal/client"
)

// Errors of Check, to tell its answers apart with errors.Is. Every error
// Check returns is a *CheckError that matches one of them (ErrAuth, of
// exporter.go, for a refused key), or, for a configuration New would
// refuse, an error matching ErrInvalidConfig.
var (
	// ErrUnreachable: no answer from the endpoint (connection refused, a
	// name that does not resolve, TLS failure, no answer in time).
	ErrUnreachable = errors.New("ezop: the endpoint is unreachable")
	// ErrNotEzopAPI: something answered, but not as the Ezop API: a wrong
	// path (404 from the server's router), a redirect, a web page, a
	// proxy's refusal.
	ErrNotEzopAPI = errors.New("ezop: the endpoint does not answer as the Ezop API")
	// ErrRateLimited: a 429. From the Ezop server itself only a plan limit
	// (agents, monthly events) answers 429; to Check's requests, which
	// store nothing, a 429 comes from a proxy or gateway in front of it.
	ErrRateLimited = client.ErrRateLimited
	// ErrServerError: the server (or its gateway) answered 5xx, or its
	// health is not "ok".
	ErrServerError = client.ErrServer
	// ErrInvalidConfig: the options or the environment are malformed (no
	// API key, a bad endpoint, a bad EZOP_* variable); New fails the same
	// way. No request was sent.
	ErrInvalidConfig = client.ErrInvalidConfig
)

// Steps of Check.
const (
	CheckStepHealth = "health"  // GET /health, without the key
	CheckStepKey    = "api key" // GET /agents/{unknown id}/runs, with it
)

// CheckError is a failed Check: the step that failed, its kind (one of the
// errors above, matched by errors.Is), what happened and how to fix it. It
// never contains the API key.
type CheckError struct {
	// Step is CheckStepHealth or CheckStepKey.
	Step string
	// Endpoint is the API base URL checked.
	Endpoint string
	// Kind is ErrUnreachable, ErrNotEzopAPI, ErrAuth, ErrRateLimited or
	// ErrServerError.
	Kind error
	// StatusCode is the HTTP status of the answer, 0 when none came.
	StatusCode int
	// Problem says what happened; Fix what to do about it.
	Problem, Fix string
	// Err is the underlying error (a client error, or the context's).
	Err error
}

func (e *CheckError) Error() string {
	s := "ezop check: " + e.Endpoint + ": " + e.Problem
	if e.Fix != "" {
		s += "; fix: " + e.Fix
	}
	if e.Err != nil {
		s += " (" + e.Err.Error() + ")"
	}
	return s
}

// Unwrap returns the kind and, where it cannot match another kind, the
// underlying error (a context's error or a network error for
// ErrUnreachable): errors.Is matches one kind only.
func (e *CheckError) Unwrap() []error {
	errs := []error{e.Kind}
	if e.Err != nil && (e.Kind == ErrUnreachable || errors.Is(e.Err, e.Kind)) {
		errs = append(errs, e.Err)
	}
	return errs
}

// Check answers in one call whether the exporter that opts (and the
// environment, as for New) configure can deliver: it asks the endpoint's
// health (GET /health, which needs no key), then makes one authenticated
// request that stores nothing (GET /agents/{id}/runs for an agent id that
// does not exist: Ezop authenticates before it looks the agent up, so its
// 404 "Agent not found." means the key is accepted). Each request is made
// once, without retries, within WithTimeout and ctx.
//
// It returns nil when the endpoint is the Ezop API and accepts the key.
// Otherwise a *CheckError whose message names the fix, matching (with
// errors.Is) ErrUnreachable, ErrNotEzopAPI, ErrAuth, ErrRateLimited or
// ErrServerError; or an error matching ErrInvalidConfig when New would
// refuse the configuration.
//
// Check cannot tell whether the plan is over its limits: Ezop answers 429
// only when an agent beyond the plan's agent limit is registered or an
// event beyond the monthly event quota is emitted, and it has no request
// that reports either without storing something (a new agent, an event).
// The exporter reports those refusals when they happen (the error
// handler; Stats.Dropped under "rate limited").
func Check(ctx context.Context, opts ...Option) error {
	cfg := newConfig(opts)
	if cfg.err != nil {
		return cfg.err
	}
	return check(ctx, cfg.clientOpts)
}

// Check is the package's Check for the exporter's configuration, with a
// client of its own (the exporter's requests are not affected).
func (e *Exporter) Check(ctx context.Context) error {
	return check(ctx, e.cfg.clientOpts)
}

func check(ctx context.Context, clientOpts []client.Option) error {
	// One attempt per request, and none of the exporter's outage hook.
	opts := append(clientOpts[:len(clientOpts):len(clientOpts)], client.WithRetry(client.RetryConfig{}), client.WithOutageHook(nil))
	api, err := client.New(opts...)
	if err != nil {
		return fmt.Errorf("ezop exporter: %w", err)
	}
	defer api.Close()
	endpoint := api.Endpoint()

	h, err := api.Health(ctx)
	if err != nil {
		return checkFailed(ctx, CheckStepHealth, endpoint, err)
	}
	if !strings.EqualFold(h.Status, "ok") {
		return &CheckError{
			Step: CheckStepHealth, Endpoint: endpoint, Kind: ErrServerError, StatusCode: http.StatusOK,
			Problem: fmt.Sprintf("GET /health says the server's status is %q, not \"ok\"", h.Status),
			Fix:     "wait for the server to be healthy (a self-hosted server: see its logs)",
		}
	}
	if err := api.CheckKey(ctx); err != nil {
		return checkFailed(ctx, CheckStepKey, endpoint, err)
	}
	return nil
}

// checkFailed turns a failed request of step into its CheckError.
func checkFailed(ctx context.Context, step, endpoint string, err error) error {
	ce := &CheckError{Step: step, Endpoint: endpoint, Err: err}
	var ae *client.APIError
	if errors.As(err, &ae) {
		ce.StatusCode = ae.StatusCode
	}
	req := "GET /health"
	if step == CheckStepKey {
		req = "the API key check (GET /agents/{id}/runs)"
	}
	status := ce.StatusCode
	switch {
	case ctx.Err() != nil || errors.Is(err, client.ErrTransport):
		ce.Kind = ErrUnreachable
		ce.Problem = req + " got no answer"
		if ctx.Err() != nil {
			ce.Problem += " before the context ended"
		}
		ce.Fix = "check the endpoint (EZOP_API_URL or WithEndpoint): is the server running, and reachable from here (address, port, DNS, firewall, proxy)? A slow server: raise EZOP_TIMEOUT (WithTimeout)"
	case errors.Is(err, client.ErrAuth):
		ce.Kind = ErrAuth
		if status == http.StatusUnauthorized {
			ce.Problem = "the server received no API key (401)"
			ce.Fix = "set EZOP_API_KEY (WithAPIKey); if it is set, something between here and the server drops the Authorization header"
		} else {
			ce.Problem = fmt.Sprintf("the server refused the API key (%d)", status)
			ce.Fix = "set EZOP_API_KEY (WithAPIKey) to a valid key of your Ezop organization (keys that were revoked or have expired are refused)"
		}
		if step == CheckStepHealth {
			// /health needs no key: the refusal is a proxy's.
			ce.Kind = ErrNotEzopAPI
			ce.Problem = fmt.Sprintf("GET /health, which needs no key on Ezop, was refused (%d)", status)
			ce.Fix = "check the endpoint (EZOP_API_URL or WithEndpoint): something other than the Ezop API answers there, or a proxy in front of it asks for credentials of its own"
		}
	case errors.Is(err, client.ErrRateLimited):
		ce.Kind = ErrRateLimited
		ce.Problem = fmt.Sprintf("%s was rate limited (429)", req)
		if ae != nil && ae.RetryAfter > 0 {
			ce.Problem += fmt.Sprintf(", Retry-After %s", ae.RetryAfter)
		}
		ce.Fix = "try again later; Check's requests store nothing, so the limit is a proxy's or gateway's in front of Ezop, not the plan's (Ezop's plan limits answer 429 to agent registrations and events)"
	case status/100 == 5 || (errors.Is(err, client.ErrServer) && status/100 != 2):
		ce.Kind = ErrServerError
		ce.Problem = fmt.Sprintf("%s answered %d", req, status)
		ce.Fix = "the server or its gateway has a problem: try again later (a self-hosted server: see its logs)"
	case status/100 == 3:
		ce.Kind = ErrNotEzopAPI
		ce.Problem = fmt.Sprintf("%s was redirected (%d)", req, status)
		ce.Fix = "set the endpoint (EZOP_API_URL or WithEndpoint) to the URL it redirects to, without a trailing slash or path (the exporter follows no redirect: its requests carry the key)"
	case errors.Is(err, client.ErrNotFound) && (ae == nil || ae.Code == ""):
		ce.Kind = ErrNotEzopAPI
		ce.Problem = fmt.Sprintf("%s answered 404, not from the Ezop API", req)
		ce.Fix = "set the endpoint (EZOP_API_URL or WithEndpoint) to the API's base URL, such as https://api.ezop.ai or http://localhost:13000 for a self-hosted server: Ezop serves its endpoints at the root, with no path such as /v1 or /api"
	default:
		ce.Kind = ErrNotEzopAPI
		if status != 0 {
			ce.Problem = fmt.Sprintf("%s answered %d, not as the Ezop API does", req, status)
		} else {
			ce.Problem = req + " did not get an Ezop API answer"
		}
		ce.Fix = "check that the endpoint (EZOP_API_URL or WithEndpoint) is the Ezop API's base URL"
	}
	return ce
}
