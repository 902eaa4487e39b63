package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

// otherKey is a key of another account that a server might echo.
const otherKey = "ezop_sk_0000000000000000000000000000000000000000000000000000000000000000"

// assertNoKey checks every way a value may be printed.
func assertNoKey(t *testing.T, what string, v any) {
	t.Helper()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		out := fmt.Sprintf(verb, v)
		assert.NotContains(t, out, testKey, "%s printed with %s: %s", what, verb, out)
		assert.NotContains(t, out, testKey[8:24], "%s printed with %s shows part of the key", what, verb)
		assert.NotContains(t, out, otherKey, "%s printed with %s: %s", what, verb, out)
		assert.NotContains(t, out, fmt.Sprintf("%x", testKey), "%s printed with %s hex-encodes the key", what, verb)
	}
}

// TestKeyNeverPrinted builds errors of every kind, from servers that echo
// the key back, and prints them and the client in every way.
func TestKeyNeverPrinted(t *testing.T) {
	var rec recorder
	echo := func(r *http.Request) string {
		return "you sent " + r.Header.Get("Authorization") + " and " + otherKey
	}
	handlers := map[string]http.HandlerFunc{
		"401": func(w http.ResponseWriter, r *http.Request) { writeError(w, 401, wire.CodeUnauthorized, echo(r)) },
		"403": func(w http.ResponseWriter, r *http.Request) { writeError(w, 403, wire.CodeForbidden, echo(r)) },
		"404": func(w http.ResponseWriter, r *http.Request) { writeError(w, 404, wire.CodeNotFound, echo(r)) },
		"422": func(w http.ResponseWriter, r *http.Request) { writeError(w, 422, wire.CodeValidationError, echo(r)) },
		"429": func(w http.ResponseWriter, r *http.Request) { writeError(w, 429, wire.CodeHTTPError, echo(r)) },
		"500": func(w http.ResponseWriter, r *http.Request) { writeError(w, 500, echo(r), echo(r)) },
		"429 retry-after": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "3600")
			writeError(w, 429, wire.CodeHTTPError, echo(r))
		},
		"html echo": func(w http.ResponseWriter, r *http.Request) {
			var b strings.Builder
			_ = r.Header.Write(&b)
			writeRaw(w, 502, "text/html; "+echo(r), "<html><pre>"+b.String()+"</pre></html>")
		},
		"key straddles the snippet cut": func(w http.ResponseWriter, r *http.Request) {
			writeRaw(w, 404, "text/plain", strings.Repeat("x", 180)+r.Header.Get("Authorization"))
		},
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "https://elsewhere.example/?key="+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
			w.WriteHeader(http.StatusFound)
		},
	}
	var errs []error
	ctx := context.Background()
	for name, h := range handlers {
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			rec.add(r)
			h(w, r)
		})
		c := newTestClient(t, srv.URL)
		installFakeClock(c)
		_, err := c.RegisterAgent(ctx, wire.RegisterAgentRequest{Name: "a", Owner: "o", Runtime: "go"})
		require.Error(t, err, name)
		errs = append(errs, err)
		assertNoKey(t, "client after "+name, c)
		assertNoKey(t, "client value after "+name, *c)
	}

	// Transport error: the text quotes the request URL (here holding
	// another account's key, which the client scrubs too).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	c := newTestClient(t, "http://"+addr+"/"+otherKey, WithRetry(RetryConfig{}))
	_, err = c.CreateSpan(ctx, runID, wire.CreateSpanRequest{})
	require.ErrorIs(t, err, ErrTransport)
	var ue *url.Error
	require.ErrorAs(t, err, &ue)
	assert.Contains(t, ue.URL, redacted, "the wrapped *url.Error is scrubbed too")
	errs = append(errs, err, ue)

	// Cancelled context, with a last answer that echoed the key.
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		writeError(w, 503, wire.CodeHTTPError, echo(r))
	})
	c = newTestClient(t, srv.URL, WithRetry(RetryConfig{Enabled: true, MaxElapsedTime: time.Minute}))
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = c.Health(cctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	errs = append(errs, err)

	// Arguments that are the key itself.
	_, err = c.CreateSpan(ctx, testKey, wire.CreateSpanRequest{})
	require.ErrorIs(t, err, ErrInvalidArgument)
	errs = append(errs, err)
	_, err = c.EmitEvent(ctx, runID, wire.EmitEventRequest{Name: "e", Category: testKey})
	require.ErrorIs(t, err, ErrInvalidArgument)
	var ce *semconv.ClassificationError
	require.ErrorAs(t, err, &ce, "the classification error stays reachable, scrubbed")
	assert.Equal(t, redacted, string(ce.Category))
	errs = append(errs, err)

	// Configuration errors.
	for _, opts := range [][]Option{
		{WithEndpoint("http://ezop.example.com/" + testKey)},
		{WithEndpoint("https://api.ezop.ai/" + testKey)},
		{WithEndpoint("https://user:" + testKey + "@api.ezop.ai")},
		{WithEndpoint("ftp://" + testKey)},
		{WithEndpoint("https://api.ezop.ai"), WithTimeout(0)},
		{WithEndpoint("https://api.ezop.ai"), WithUserAgent(testKey + "\n")},
	} {
		c, err := New(append(opts, WithAPIKey(testKey))...)
		require.ErrorIs(t, err, ErrInvalidConfig)
		require.Nil(t, c)
		errs = append(errs, err)
	}

	for _, err := range errs {
		assertNoKey(t, "error "+err.Error(), err)
		var e *APIError
		if errors.As(err, &e) {
			assertNoKey(t, "APIError value", *e)
			assertNoKey(t, "APIError message", e.Message+e.Code)
		}
		walkErrors(err, func(u error) { assertNoKey(t, "wrapped error", u) })
	}

	// The key went only in the Authorization header, never in a URL.
	for _, r := range rec.all() {
		assert.NotContains(t, r.RequestURI, testKey)
		assert.Equal(t, "Bearer "+testKey, r.Header.Get("Authorization"))
	}
	assert.Greater(t, rec.count(), len(handlers)-1)
}

func TestClientFormatting(t *testing.T) {
	c := newTestClient(t, "https://api.ezop.ai", WithUserAgent("svc/1"))
	assert.Equal(t, "ezop client https://api.ezop.ai (API key [REDACTED])", c.String())
	assert.Equal(t, c.String(), fmt.Sprint(c))
	assert.Contains(t, fmt.Sprintf("%#v", c), `&client.Client{Endpoint:"https://api.ezop.ai", APIKey:"[REDACTED]"`)
	assert.Contains(t, fmt.Sprintf("%#v", c), `Retry:{Enabled:true InitialInterval:1ms MaxInterval:4ms MaxElapsedTime:20s`)
	assert.Contains(t, fmt.Sprintf("%+v", c), "svc/1")
	assertNoKey(t, "client", c)
	assertNoKey(t, "client value", *c)
	assertNoKey(t, "credentials", c.creds)
	assertNoKey(t, "slice of clients", []*Client{c})
	assertNoKey(t, "map of clients", map[string]*Client{"c": c})
	var nilClient *Client
	assert.Equal(t, "<nil>", fmt.Sprint(nilClient))
}

// walkErrors calls f for err and every error it wraps.
func walkErrors(err error, f func(error)) {
	if err == nil {
		return
	}
	f(err)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		walkErrors(u.Unwrap(), f)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walkErrors(e, f)
		}
	}
}

// TestShortKeyNotScrubbed: a (test) key too short to tell from words is
// not scrubbed, so messages stay readable.
func TestShortKeyNotScrubbed(t *testing.T) {
	_, err := New(WithEndpoint("http://10.1.1.1"), WithAPIKey("k"))
	require.ErrorIs(t, err, ErrInvalidConfig)
	assert.Contains(t, err.Error(), "not loopback: use https, or WithInsecure to send the API key in clear text")
}
