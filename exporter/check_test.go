package exporter

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ezopotel/ezop-otel-go/ezoptest"
)

// checkWith runs Check against url with key, reading no environment.
func checkWith(t *testing.T, url, key string, opts ...Option) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return Check(ctx, append([]Option{WithoutEnvironment(), WithEndpoint(url), WithAPIKey(key)}, opts...)...)
}

// assertCheck checks that err is a *CheckError of kind at step, whose
// message holds every part of want and never the key.
func assertCheck(t *testing.T, err error, kind error, step, key string, want ...string) {
	t.Helper()
	var ce *CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("not a *CheckError: %v", err)
	}
	if !errors.Is(err, kind) || ce.Step != step {
		t.Errorf("kind %v at %q, want %v at %q: %v", ce.Kind, ce.Step, kind, step, err)
	}
	for _, k := range []error{ErrUnreachable, ErrNotEzopAPI, ErrAuth, ErrRateLimited, ErrServerError} {
		if k != kind && errors.Is(err, k) {
			t.Errorf("also matches %v: %v", k, err)
		}
	}
	msg := err.Error()
	for _, w := range append(want, "fix: ") {
		if !strings.Contains(msg, w) {
			t.Errorf("message lacks %q: %s", w, msg)
		}
	}
	if strings.Contains(msg, key) {
		t.Errorf("message shows the API key: %s", msg)
	}
}

func TestCheckOK(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	if err := checkWith(t, srv.URL, srv.APIKey); err != nil {
		t.Fatal(err)
	}
	// One request each, and nothing stored or refused.
	if h, r := srv.RequestCount(ezoptest.EndpointHealth), srv.RequestCount(ezoptest.EndpointListRuns); h != 1 || r != 1 {
		t.Errorf("requests: health %d, list runs %d", h, r)
	}
	if len(srv.Agents())+len(srv.Runs()) != 0 {
		t.Error("Check stored something")
	}
	// The method, with the exporter's configuration.
	e := newEnvWith(t, srv, srv.APIKey, nil)
	if err := e.exp.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := e.exp.Stats(); st.Requests != 0 {
		t.Errorf("the exporter's own client was used: %+v", st)
	}
}

func TestCheckNoServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	_ = ln.Close()
	const key = "ezop_sk_nobodylistens0123456789"
	err = checkWith(t, url, key)
	assertCheck(t, err, ErrUnreachable, CheckStepHealth, key, "GET /health got no answer", "EZOP_API_URL", url)
}

func TestCheckBadKey(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	const key = "ezop_sk_0000000000000000000000000000000000000000000000000000000000000bad"
	err := checkWith(t, srv.URL, key)
	assertCheck(t, err, ErrAuth, CheckStepKey, key, "refused the API key (403)", "EZOP_API_KEY", "Invalid or revoked API key.")
	if len(srv.Agents())+len(srv.Runs()) != 0 {
		t.Error("Check stored something")
	}
	// A revoked key, and a proxy that drops the header (401).
	srv.RejectKey(true)
	assertCheck(t, checkWith(t, srv.URL, srv.APIKey), ErrAuth, CheckStepKey, srv.APIKey, "(403)")
	srv.RejectKey(false)
	srv.Inject(ezoptest.Fault{Endpoint: ezoptest.EndpointListRuns, Status: 401, Times: 1})
	assertCheck(t, checkWith(t, srv.URL, srv.APIKey), ErrAuth, CheckStepKey, srv.APIKey, "received no API key (401)", "Authorization header")
}

func TestCheckWrongPath(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	err := checkWith(t, srv.URL+"/v1", srv.APIKey)
	assertCheck(t, err, ErrNotEzopAPI, CheckStepHealth, srv.APIKey, "GET /health answered 404, not from the Ezop API", "no path such as /v1")
	// A trailing-slash redirect (the server's 307) would take the same
	// branch as any redirect.
	redirect := httptest.NewServer(http.RedirectHandler(srv.URL+"/health", http.StatusTemporaryRedirect))
	defer redirect.Close()
	assertCheck(t, checkWith(t, redirect.URL, srv.APIKey), ErrNotEzopAPI, CheckStepHealth, srv.APIKey, "redirected (307)")
	// A web page, not the API.
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>welcome</html>"))
	}))
	defer page.Close()
	assertCheck(t, checkWith(t, page.URL, srv.APIKey), ErrNotEzopAPI, CheckStepHealth, srv.APIKey, "Ezop API")
}

func TestCheckRateLimited(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	remove := srv.Inject(ezoptest.Fault{Endpoint: ezoptest.EndpointListRuns, Status: 429, RetryAfter: "30"})
	err := checkWith(t, srv.URL, srv.APIKey)
	assertCheck(t, err, ErrRateLimited, CheckStepKey, srv.APIKey, "rate limited (429), Retry-After 30s", "try again later")
	if n := srv.RequestCount(ezoptest.EndpointListRuns); n != 1 {
		t.Errorf("%d key checks: Check retried", n)
	}
	remove()
	srv.Inject(ezoptest.Fault{Endpoint: ezoptest.EndpointHealth, Status: 429})
	assertCheck(t, checkWith(t, srv.URL, srv.APIKey), ErrRateLimited, CheckStepHealth, srv.APIKey, "GET /health was rate limited (429)")
}

func TestCheckServerError(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	srv.Inject(ezoptest.Fault{Endpoint: ezoptest.EndpointHealth, Status: 503, Times: 1})
	assertCheck(t, checkWith(t, srv.URL, srv.APIKey), ErrServerError, CheckStepHealth, srv.APIKey, "answered 503")
	srv.Inject(ezoptest.Fault{Endpoint: ezoptest.EndpointListRuns, Status: 500, Times: 1})
	assertCheck(t, checkWith(t, srv.URL, srv.APIKey), ErrServerError, CheckStepKey, srv.APIKey, "answered 500")
}

// A server that does not answer in time is unreachable; the context's
// error is kept.
func TestCheckTimeout(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	srv.SetLatency(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := Check(ctx, WithoutEnvironment(), WithEndpoint(srv.URL), WithAPIKey(srv.APIKey))
	assertCheck(t, err, ErrUnreachable, CheckStepHealth, srv.APIKey, "before the context ended")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("not the context's error: %v", err)
	}
	err = checkWith(t, srv.URL, srv.APIKey, WithTimeout(50*time.Millisecond))
	assertCheck(t, err, ErrUnreachable, CheckStepHealth, srv.APIKey, "EZOP_TIMEOUT")
}

// The configuration New refuses, Check refuses alike, with no request.
func TestCheckInvalidConfig(t *testing.T) {
	err := Check(context.Background(), WithoutEnvironment())
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "no API key") {
		t.Errorf("no key: %v", err)
	}
	err = Check(context.Background(), WithoutEnvironment(), WithAPIKey("k"), WithEndpoint("ftp://x"))
	if !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("bad endpoint: %v", err)
	}
}
