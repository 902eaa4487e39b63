package client

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ezopotel/ezop-otel-go/internal/version"
	"github.com/ezopotel/ezop-otel-go/internal/wire"
)

func TestEndpointValidation(t *testing.T) {
	t.Setenv(EnvAPIURL, "")
	t.Setenv(EnvAPIKey, "")
	tests := []struct {
		endpoint string
		insecure bool
		want     string // Endpoint() on success
		wantErr  string // substring of the error
	}{
		{endpoint: "https://api.ezop.ai", want: "https://api.ezop.ai"},
		{endpoint: "https://api.ezop.ai/", want: "https://api.ezop.ai"},
		{endpoint: "HTTPS://ezop.example.com:8443/prefix/", want: "https://ezop.example.com:8443/prefix"},
		{endpoint: "http://localhost:13000", want: "http://localhost:13000"},
		{endpoint: "http://LocalHost:13000", want: "http://LocalHost:13000"},
		{endpoint: "http://127.0.0.1:13000", want: "http://127.0.0.1:13000"},
		{endpoint: "http://127.1.2.3", want: "http://127.1.2.3"},
		{endpoint: "http://[::1]:13000", want: "http://[::1]:13000"},
		{endpoint: "http://[::ffff:127.0.0.1]:13000", want: "http://[::ffff:127.0.0.1]:13000"},
		{endpoint: "http://ezop.internal:13000", wantErr: "plain http to a host that is not loopback"},
		{endpoint: "http://10.0.0.5:13000", wantErr: "WithInsecure"},
		{endpoint: "http://128.0.0.1", wantErr: "not loopback"},
		{endpoint: "http://localhost.evil.com", wantErr: "not loopback"},
		{endpoint: "http://[::2]:13000", wantErr: "not loopback"},
		{endpoint: "http://ezop.internal:13000", insecure: true, want: "http://ezop.internal:13000"},
		{endpoint: "http://10.0.0.5:13000/", insecure: true, want: "http://10.0.0.5:13000"},
		{endpoint: "", wantErr: "empty endpoint"},
		{endpoint: "api.ezop.ai", wantErr: "not an absolute http(s) URL"},
		{endpoint: "ftp://api.ezop.ai", wantErr: "scheme must be https or http"},
		{endpoint: "https://api.ezop.ai?x=1", wantErr: "query or fragment"},
		{endpoint: "https://user:secret@api.ezop.ai", wantErr: "user information"},
		{endpoint: "https://%zz", wantErr: "not an absolute"},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			opts := []Option{WithEndpoint(tt.endpoint), WithAPIKey(testKey)}
			if tt.insecure {
				opts = append(opts, WithInsecure())
			}
			c, err := New(opts...)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, ErrInvalidConfig)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.NotContains(t, err.Error(), "secret")
				assert.Nil(t, c)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, c.Endpoint())
		})
	}
}

func TestConfigErrors(t *testing.T) {
	t.Setenv(EnvAPIURL, "")
	t.Setenv(EnvAPIKey, "")
	base := []Option{WithEndpoint("https://api.ezop.ai"), WithAPIKey(testKey)}
	tests := []struct {
		name string
		opts []Option
		want string
	}{
		{"no key", []Option{WithEndpoint("https://api.ezop.ai")}, "no API key: set EZOP_API_KEY or use WithAPIKey"},
		{"empty key", []Option{WithAPIKey("")}, "no API key"},
		{"key with newline", []Option{WithAPIKey("ezop_sk_ab\ncd")}, "spaces or control characters"},
		{"key with space", []Option{WithAPIKey("ab cd")}, "spaces or control characters"},
		{"zero timeout", []Option{WithTimeout(0)}, "timeout 0s is not positive"},
		{"negative timeout", []Option{WithTimeout(-time.Second)}, "not positive"},
		{"zero conns", []Option{WithMaxConns(0)}, "max conns 0 is below 1"},
		{"nil http client", []Option{WithHTTPClient(nil)}, "WithHTTPClient(nil)"},
		{"user agent control", []Option{WithUserAgent("x\r\nInjected: 1")}, "User-Agent"},
		{"negative interval", []Option{WithRetry(RetryConfig{Enabled: true, InitialInterval: -1})}, "must not be negative"},
		{"max below initial", []Option{WithRetry(RetryConfig{Enabled: true, InitialInterval: 2 * time.Second, MaxInterval: time.Second})}, "below InitialInterval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			if tt.name != "no key" {
				opts = append(append([]Option{}, base...), tt.opts...)
			}
			c, err := New(opts...)
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Nil(t, c)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), testKey)
		})
	}
}

func TestRetryConfigDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   RetryConfig
		want RetryConfig
	}{
		{"default", DefaultRetryConfig, DefaultRetryConfig},
		{"zero fields take defaults", RetryConfig{Enabled: true}, DefaultRetryConfig},
		{"negative counts mean never", RetryConfig{Enabled: true, MaxServerErrorRetries: -1, MaxQuotaRetries: -1},
			RetryConfig{Enabled: true, InitialInterval: 500 * time.Millisecond, MaxInterval: 5 * time.Second, MaxElapsedTime: 60 * time.Second}},
		{"large initial raises default max", RetryConfig{Enabled: true, InitialInterval: 8 * time.Second},
			RetryConfig{Enabled: true, InitialInterval: 8 * time.Second, MaxInterval: 8 * time.Second, MaxElapsedTime: 60 * time.Second, MaxServerErrorRetries: 2, MaxQuotaRetries: 2}},
		{"disabled", RetryConfig{}, RetryConfig{InitialInterval: 500 * time.Millisecond, MaxInterval: 5 * time.Second, MaxElapsedTime: 60 * time.Second, MaxServerErrorRetries: 2, MaxQuotaRetries: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(WithEndpoint("https://api.ezop.ai"), WithAPIKey(testKey), WithRetry(tt.in))
			require.NoError(t, err)
			assert.Equal(t, tt.want, c.retry)
		})
	}
	c, err := New(WithEndpoint("https://api.ezop.ai"), WithAPIKey(testKey))
	require.NoError(t, err)
	assert.Equal(t, DefaultRetryConfig, c.retry)
	assert.Equal(t, DefaultTimeout, c.timeout)
	tr := c.hc.Transport.(*http.Transport)
	assert.Equal(t, DefaultMaxConns, tr.MaxConnsPerHost)
	assert.Equal(t, DefaultMaxConns, tr.MaxIdleConnsPerHost)
}

// TestEnvironment: options override the environment, which overrides the
// defaults.
func TestEnvironment(t *testing.T) {
	var mu sync.Mutex
	var gotAuth []string
	handler := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			gotAuth = append(gotAuth, name+" "+r.Header.Get("Authorization"))
			mu.Unlock()
			writeData(w, 200, map[string]any{"id": agentID, "name": "a", "owner": "o"})
		}
	}
	envSrv := newServer(t, handler("env"))
	optSrv := newServer(t, handler("opt"))
	register := func(c *Client) {
		_, err := c.RegisterAgent(context.Background(), wire.RegisterAgentRequest{Name: "a", Owner: "o", Runtime: "go"})
		require.NoError(t, err)
	}

	t.Run("from environment", func(t *testing.T) {
		t.Setenv(EnvAPIURL, envSrv.URL+"/")
		t.Setenv(EnvAPIKey, " ezop_sk_env ")
		c, err := New()
		require.NoError(t, err)
		assert.Equal(t, envSrv.URL, c.Endpoint())
		register(c)
	})
	t.Run("options win", func(t *testing.T) {
		t.Setenv(EnvAPIURL, envSrv.URL)
		t.Setenv(EnvAPIKey, "ezop_sk_env")
		c, err := New(WithEndpoint(optSrv.URL), WithAPIKey("ezop_sk_opt"))
		require.NoError(t, err)
		register(c)
	})
	t.Run("default endpoint", func(t *testing.T) {
		t.Setenv(EnvAPIURL, "")
		t.Setenv(EnvAPIKey, "ezop_sk_env")
		c, err := New()
		require.NoError(t, err)
		assert.Equal(t, DefaultEndpoint, c.Endpoint())
	})
	t.Run("env endpoint refused without insecure", func(t *testing.T) {
		t.Setenv(EnvAPIURL, "http://ezop.internal:13000")
		t.Setenv(EnvAPIKey, "ezop_sk_env")
		_, err := New()
		require.ErrorIs(t, err, ErrInvalidConfig)
		c, err := New(WithInsecure())
		require.NoError(t, err)
		assert.Equal(t, "http://ezop.internal:13000", c.Endpoint())
	})
	t.Run("missing key", func(t *testing.T) {
		t.Setenv(EnvAPIURL, "")
		t.Setenv(EnvAPIKey, "")
		_, err := New()
		require.ErrorIs(t, err, ErrInvalidConfig)
	})
	assert.Equal(t, []string{"env Bearer ezop_sk_env", "opt Bearer ezop_sk_opt"}, gotAuth)
}

func TestUserAgent(t *testing.T) {
	var uas []string
	var mu sync.Mutex
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		uas = append(uas, r.Header.Get("User-Agent"))
		mu.Unlock()
		writeData(w, 200, map[string]any{"status": "ok"})
	})
	base := "ezop-otel-go/" + version.Version + " (" + runtime.Version() + "; " + runtime.GOOS + "/" + runtime.GOARCH + ")"
	for _, extra := range []string{"", "my-service/1.2", "  spaced/1  "} {
		c := newTestClient(t, srv.URL, WithUserAgent(extra))
		_, err := c.Health(context.Background())
		require.NoError(t, err)
	}
	assert.Equal(t, []string{base, base + " my-service/1.2", base + " spaced/1"}, uas)
	assert.Regexp(t, `^ezop-otel-go/\d+\.\d+\.\d+ \(go[^;]+; [a-z0-9]+/[a-z0-9]+\)$`, base)
}

// TestWithHTTPClient: the caller's client is used as given.
func TestWithHTTPClient(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { writeData(w, 200, map[string]any{"status": "ok"}) })
	var used atomic.Int32
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})}
	c := newTestClient(t, srv.URL, WithHTTPClient(hc))
	h, err := c.Health(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "ok", h.Status)
	assert.Equal(t, int32(1), used.Load())
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestRedirectsNotFollowed: a redirect (the server's answer to a trailing
// slash, or a wrong endpoint) is an error, not followed.
func TestRedirectsNotFollowed(t *testing.T) {
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		w.Header().Set("Location", "https://elsewhere.example/agents/register")
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
	c := newTestClient(t, srv.URL)
	_, err := c.RegisterAgent(context.Background(), wire.RegisterAgentRequest{Name: "a", Owner: "o", Runtime: "go"})
	e := asAPIError(t, err)
	assert.Equal(t, 307, e.StatusCode)
	assert.Equal(t, 1, rec.count())
	assert.Contains(t, err.Error(), "redirects are not followed")
	assert.Contains(t, err.Error(), "elsewhere.example")
	for _, kind := range []error{ErrAuth, ErrValidation, ErrNotFound, ErrRateLimited, ErrServer, ErrTransport} {
		assert.NotErrorIs(t, err, kind)
	}
}

// TestEndpointPathPrefix: a path prefix of the endpoint is kept.
func TestEndpointPathPrefix(t *testing.T) {
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		writeData(w, 200, map[string]any{"status": "ok"})
	})
	c := newTestClient(t, srv.URL+"/ezop/")
	_, err := c.Health(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "/ezop/health", rec.all()[0].Path)
}

// countingServer counts the connections a server accepts.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

// TestConnectionReuse: sequential requests share one connection; errors
// (whose bodies the client reads to the end) do not spoil it.
func TestConnectionReuse(t *testing.T) {
	var n atomic.Int32
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%5 == 0 {
			writeError(w, 404, wire.CodeNotFound, "Run not found.")
			return
		}
		writeData(w, 200, map[string]any{"id": agentID, "name": "a", "owner": "o", "status": "ok"})
	})
	c := newTestClient(t, srv.URL)
	ctx := context.Background()
	for i := 0; i < 40; i++ {
		if i%2 == 0 {
			_, _ = c.Health(ctx)
		} else {
			_, _ = c.RegisterAgent(ctx, wire.RegisterAgentRequest{Name: "a", Owner: "o", Runtime: "go"})
		}
	}
	assert.Equal(t, int32(40), n.Load())
	assert.LessOrEqual(t, conns.Load(), int32(2), "40 sequential requests should share a connection")
}

// TestMaxConns: concurrent calls share a transport limited to WithMaxConns
// connections.
func TestMaxConns(t *testing.T) {
	var active, peak atomic.Int32
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		a := active.Add(1)
		for {
			p := peak.Load()
			if a <= p || peak.CompareAndSwap(p, a) {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
		active.Add(-1)
		writeData(w, 200, map[string]any{"status": "ok"})
	})
	c := newTestClient(t, srv.URL, WithMaxConns(3))
	var wg sync.WaitGroup
	for i := 0; i < 24; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Health(context.Background())
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, conns.Load(), int32(3))
	assert.LessOrEqual(t, peak.Load(), int32(3))
	assert.GreaterOrEqual(t, peak.Load(), int32(2), "calls should run concurrently")
	assert.Equal(t, int64(24), c.Stats().Succeeded)
}

func TestNilOptionIgnored(t *testing.T) {
	c, err := New(nil, WithEndpoint("https://api.ezop.ai"), WithAPIKey(testKey))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(c.String(), "ezop client https://api.ezop.ai"))
}

// A caller's HTTP client never takes the API key elsewhere on a redirect:
// not to another host, not from https to http on the same host. The
// caller's client itself is left as it was.
func TestCallerClientRedirectsKeepTheKey(t *testing.T) {
	var leaked atomic.Bool
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Store(true)
		}
		writeData(w, 200, map[string]any{"status": "ok"})
	}))
	defer elsewhere.Close()
	var target atomic.Value
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.Load().(string)+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer api.Close()
	for name, to := range map[string]string{
		"other host":    elsewhere.URL,
		"https to http": strings.Replace(api.URL, "https://", "http://", 1),
	} {
		t.Run(name, func(t *testing.T) {
			target.Store(to)
			hc := api.Client() // follows redirects by default
			c := newTestClient(t, api.URL, WithHTTPClient(hc))
			_, err := c.RegisterAgent(context.Background(), wire.RegisterAgentRequest{Name: "a", Owner: "o", Runtime: "go"})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "redirects are not followed")
			assert.False(t, leaked.Load(), "the API key followed the redirect")
			assert.Nil(t, hc.CheckRedirect, "the caller's client is not changed")
		})
	}
}
