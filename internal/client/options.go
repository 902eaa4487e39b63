package client

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"
)

// Environment variables New reads when the corresponding option is not given.
const (
	// EnvAPIURL names the variable holding the API base URL.
	EnvAPIURL = "EZOP_API_URL"
	// EnvAPIKey names the variable holding the API key.
	EnvAPIKey = "EZOP_API_KEY"
)

// Defaults of the options.
const (
	// DefaultEndpoint is the base URL used when neither WithEndpoint nor
	// EZOP_API_URL gives one.
	DefaultEndpoint = "https://api.ezop.ai"
	// DefaultTimeout bounds each HTTP request (one attempt).
	DefaultTimeout = 10 * time.Second
	// DefaultMaxConns is the number of connections, idle and active, the
	// client's transport keeps to the API host.
	DefaultMaxConns = 64
)

// RetryConfig says whether and how an operation is retried.
//
// A zero duration takes its default (DefaultRetryConfig). A zero retry count
// also takes its default; a negative count means "never": for example
// MaxServerErrorRetries: -1 makes a 500 fail at once.
type RetryConfig struct {
	// Enabled turns retries on. When false every operation makes exactly one
	// attempt.
	Enabled bool
	// InitialInterval is the first backoff interval (randomised ±50%).
	InitialInterval time.Duration
	// MaxInterval caps the backoff interval (before randomisation).
	MaxInterval time.Duration
	// MaxElapsedTime bounds one operation from its start to its last
	// attempt's end, backoff sleeps and Retry-After waits included.
	// NoElapsedLimit retries for as long as the caller's context allows.
	MaxElapsedTime time.Duration
	// MaxServerErrorRetries is how many times a 500 is retried.
	MaxServerErrorRetries int
	// MaxQuotaRetries is how many times a 429 without Retry-After (the
	// plan's quota, which waiting does not clear) is retried.
	MaxQuotaRetries int
}

// DefaultRetryConfig is the retry policy of a client built without
// WithRetry.
var DefaultRetryConfig = RetryConfig{
	Enabled:               true,
	InitialInterval:       500 * time.Millisecond,
	MaxInterval:           5 * time.Second,
	MaxElapsedTime:        60 * time.Second,
	MaxServerErrorRetries: 2,
	MaxQuotaRetries:       2,
}

// NoElapsedLimit as RetryConfig.MaxElapsedTime retries an operation until
// it succeeds, fails for good, or the caller's context ends.
const NoElapsedLimit = time.Duration(math.MaxInt64)

// withDefaults fills zero fields from DefaultRetryConfig and turns negative
// counts into zero.
func (r RetryConfig) withDefaults() RetryConfig {
	d := DefaultRetryConfig
	if r.InitialInterval == 0 {
		r.InitialInterval = d.InitialInterval
	}
	if r.MaxInterval == 0 {
		r.MaxInterval = max(d.MaxInterval, r.InitialInterval)
	}
	if r.MaxElapsedTime == 0 {
		r.MaxElapsedTime = d.MaxElapsedTime
	}
	switch {
	case r.MaxServerErrorRetries == 0:
		r.MaxServerErrorRetries = d.MaxServerErrorRetries
	case r.MaxServerErrorRetries < 0:
		r.MaxServerErrorRetries = 0
	}
	switch {
	case r.MaxQuotaRetries == 0:
		r.MaxQuotaRetries = d.MaxQuotaRetries
	case r.MaxQuotaRetries < 0:
		r.MaxQuotaRetries = 0
	}
	return r
}

func (r RetryConfig) validate() error {
	switch {
	case r.InitialInterval < 0, r.MaxInterval < 0, r.MaxElapsedTime < 0:
		return errors.New("retry intervals must not be negative")
	case r.MaxInterval < r.InitialInterval:
		return fmt.Errorf("retry MaxInterval %s is below InitialInterval %s", r.MaxInterval, r.InitialInterval)
	}
	return nil
}

// config is what the options build. It holds the API key only until New
// moves it into the client's credentials; config is never printed.
type config struct {
	endpoint    string
	endpointSet bool
	apiKey      string
	apiKeySet   bool
	insecure    bool
	httpClient  *http.Client
	httpSet     bool
	timeout     time.Duration
	retry       RetryConfig
	userAgent   string
	maxConns    int
	maxOutage   time.Duration
	outageHook  func(down bool, since time.Time, cause error)
}

// Option configures a Client built by New.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithEndpoint sets the API base URL, for example "https://api.ezop.ai" or
// "http://localhost:13000". A path prefix is kept (for a server behind a
// reverse proxy); a trailing slash is dropped. Default: EZOP_API_URL, else
// DefaultEndpoint. Plain http:// is refused unless the host is loopback or
// WithInsecure is given.
func WithEndpoint(url string) Option {
	return optionFunc(func(c *config) { c.endpoint, c.endpointSet = url, true })
}

// WithAPIKey sets the API key sent as "Authorization: Bearer <key>".
// Surrounding white space is dropped. Default: EZOP_API_KEY. New fails
// without a key.
func WithAPIKey(key string) Option {
	return optionFunc(func(c *config) { c.apiKey, c.apiKeySet = strings.TrimSpace(key), true })
}

// WithInsecure allows a plain http:// endpoint on a host that is not
// loopback. The API key then crosses the network in clear text.
func WithInsecure() Option {
	return optionFunc(func(c *config) { c.insecure = true })
}

// WithHTTPClient makes the client send its requests with hc (its
// transport, timeout and redirect policy), except that a redirect to
// another scheme or host than the endpoint's is never followed: the
// request carries the API key. hc itself is not changed. WithMaxConns has
// no effect then. Default: a client of the package's own, whose transport is shared
// by all calls, keeps up to WithMaxConns connections to the host and does
// not follow redirects.
func WithHTTPClient(hc *http.Client) Option {
	return optionFunc(func(c *config) { c.httpClient, c.httpSet = hc, true })
}

// WithTimeout bounds each HTTP request (each attempt, the answer's body
// included). Default: DefaultTimeout (10s). The whole operation is bounded
// by RetryConfig.MaxElapsedTime and the caller's context.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.timeout = d })
}

// WithRetry sets the retry policy. Default: DefaultRetryConfig. See
// RetryConfig for how zero fields are read.
func WithRetry(rc RetryConfig) Option {
	return optionFunc(func(c *config) { c.retry = rc })
}

// WithUserAgent appends extra (for example "my-service/1.2") to the default
// User-Agent "ezop-otel-go/<version> (go<version>; <os>/<arch>)".
func WithUserAgent(extra string) Option {
	return optionFunc(func(c *config) { c.userAgent = extra })
}

// WithMaxConns sets how many connections, idle and active, the client's own
// transport keeps to the API host. Default: DefaultMaxConns (64). Ignored
// with WithHTTPClient.
func WithMaxConns(n int) Option {
	return optionFunc(func(c *config) { c.maxConns = n })
}
