package exporter

import (
	"net/http"
	"os"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/ezopotel/ezop-otel-go/bridge"
	"github.com/ezopotel/ezop-otel-go/internal/client"
)

// Defaults of the options.
const (
	// DefaultMaxTraces is how many traces may wait for their root span at
	// once (WithMaxTraces).
	DefaultMaxTraces = 1024
	// DefaultMaxSpansPerTrace is how many spans of one trace may wait for
	// their root span (WithMaxSpansPerTrace).
	DefaultMaxSpansPerTrace = 10000
	// DefaultMaxBufferedSpans is how many spans the exporter holds at once,
	// waiting for their root or being sent (WithMaxBufferedSpans).
	DefaultMaxBufferedSpans = 100000
	// DefaultRootWait is how long spans wait for their trace's root span
	// before they are sent without it (WithRootWait).
	DefaultRootWait = 30 * time.Second
	// DefaultConcurrency is how many requests the exporter has in flight at
	// once, over all runs (WithConcurrency).
	DefaultConcurrency = 16
	// DefaultMaxBufferedBytes bounds the estimated size of the spans
	// waiting for their root (WithMaxBufferedBytes).
	DefaultMaxBufferedBytes = 128 << 20
	// DefaultLateSpanWindow is how long a finished trace is remembered
	// for its late spans (WithLateSpanWindow).
	DefaultLateSpanWindow = 2 * time.Minute
	// DefaultMaxRememberedBytes bounds the memory of remembered traces
	// (WithMaxRememberedBytes).
	DefaultMaxRememberedBytes = 32 << 20
)

// Internal tuning, not options: fixed for users, shortened by tests.
const (
	// defaultMaxAgents bounds the agent cache: registrations kept, least
	// recently used evicted (an evicted agent costs one registration
	// request when it is seen again).
	defaultMaxAgents = 4096
	// defaultReportInterval is the minimum time between two reports of
	// drops with the same reason through the error handler.
	defaultReportInterval = time.Minute
	// defaultAuthPause is how long the exporter stops sending after the
	// server refused the API key.
	defaultAuthPause = time.Minute
	// defaultAgentRetry is how long a failed agent registration is
	// remembered before it is tried again.
	defaultAgentRetry = 10 * time.Second
)

// config is what the options build. It is never printed: the client
// options it carries hold the API key.
type config struct {
	clientOpts []client.Option
	httpClient *http.Client

	translate      bridge.Config
	captureContent *bool

	maxTraces          int
	maxSpansPerTrace   int
	maxBufferedSpans   int
	maxBufferedBytes   int
	lateWindow         time.Duration
	maxRememberedBytes int
	rootWait           time.Duration
	concurrency        int
	maxLiveRuns        int
	handler            otel.ErrorHandler
	remoteLinking      bool                 // WithRemoteParentLinking (remote.go)
	linkWait           time.Duration        // WithRemoteParentWait
	maxOutage          time.Duration        // WithMaxOutage (outage.go)
	runStore           RunStore             // WithRunStore (durable.go)
	meterProvider      metric.MeterProvider // WithMeterProvider (metrics.go)
	logs               logsConfig           // log records (logs.go)

	// err is a malformed environment variable (env.go): New fails with it.
	err error

	// Not options (see the constants above); tests in this package set
	// them.
	maxAgents      int
	reportInterval time.Duration
	authPause      time.Duration
	agentRetry     time.Duration
	now            func() time.Time
}

func newConfig(opts []Option) config {
	c := config{
		maxTraces:        DefaultMaxTraces,
		maxSpansPerTrace: DefaultMaxSpansPerTrace,
		maxBufferedSpans: DefaultMaxBufferedSpans,
		rootWait:         DefaultRootWait,
		concurrency:      DefaultConcurrency,
		maxAgents:        defaultMaxAgents,
		reportInterval:   defaultReportInterval,
		authPause:        defaultAuthPause,
		agentRetry:       defaultAgentRetry,
		now:              time.Now,
	}
	// The environment first (env.go), so that options win over it.
	if readsEnvironment(opts) {
		c, c.err = c.fromEnv(os.Getenv)
	} else {
		c = c.withoutEnvironment()
	}
	for _, o := range opts {
		c = o.apply(c)
	}
	if c.captureContent != nil {
		v := *c.captureContent
		c.translate.CaptureContent = &v
	}
	if c.maxTraces <= 0 {
		c.maxTraces = DefaultMaxTraces
	}
	if c.maxSpansPerTrace <= 0 {
		c.maxSpansPerTrace = DefaultMaxSpansPerTrace
	}
	if c.maxBufferedSpans <= 0 {
		c.maxBufferedSpans = DefaultMaxBufferedSpans
	}
	if c.rootWait <= 0 {
		c.rootWait = DefaultRootWait
	}
	if c.maxBufferedBytes <= 0 {
		c.maxBufferedBytes = DefaultMaxBufferedBytes
	}
	if c.lateWindow <= 0 {
		c.lateWindow = DefaultLateSpanWindow
	}
	if c.maxRememberedBytes <= 0 {
		c.maxRememberedBytes = DefaultMaxRememberedBytes
	}
	if c.linkWait <= 0 {
		c.linkWait = DefaultRemoteParentWait
	}
	if c.concurrency <= 0 {
		c.concurrency = DefaultConcurrency
	}
	if c.maxLiveRuns <= 0 {
		c.maxLiveRuns = DefaultMaxLiveRuns
	}
	if c.handler == nil {
		c.handler = otel.ErrorHandlerFunc(otel.Handle)
	}
	if c.httpClient != nil {
		c.clientOpts = append(c.clientOpts, client.WithHTTPClient(c.httpClient))
	}
	c.logs = c.logs.withDefaults()
	if c.maxOutage <= 0 {
		c.maxOutage = DefaultMaxOutage
	}
	c.clientOpts = append(c.clientOpts, client.WithMaxOutage(c.maxOutage))
	return c
}

// Option configures an Exporter built by New.
type Option interface {
	apply(config) config
}

type optionFunc func(config) config

func (f optionFunc) apply(c config) config { return f(c) }

// WithEndpoint sets the Ezop API base URL, for example
// "https://api.ezop.ai" or "http://localhost:13000" (a self-hosted server).
// Default: the EZOP_API_URL environment variable, else
// "https://api.ezop.ai". Plain http:// is accepted only for a loopback host
// unless WithInsecure is given.
func WithEndpoint(url string) Option {
	return optionFunc(func(c config) config {
		c.clientOpts = append(c.clientOpts, client.WithEndpoint(url))
		return c
	})
}

// WithAPIKey sets the Ezop API key. Default: the EZOP_API_KEY environment
// variable; New fails when neither gives one. The key is never printed in
// errors or reports.
func WithAPIKey(key string) Option {
	return optionFunc(func(c config) config {
		c.clientOpts = append(c.clientOpts, client.WithAPIKey(key))
		return c
	})
}

// WithInsecure allows a plain http:// endpoint on a host that is not
// loopback. The API key then crosses the network in clear text.
func WithInsecure() Option {
	return optionFunc(func(c config) config {
		c.clientOpts = append(c.clientOpts, client.WithInsecure())
		return c
	})
}

// WithHTTPClient makes the exporter send its requests with hc (its
// transport, timeout and redirect policy), for tests or custom transports.
// A redirect to another scheme or host than the endpoint's (https to http
// included) is never followed, since requests carry the API key. Default:
// a client of the exporter's own, which follows no redirect.
func WithHTTPClient(hc *http.Client) Option {
	return optionFunc(func(c config) config {
		c.httpClient = hc
		return c
	})
}

// RetryConfig is the retry policy of the requests the exporter sends; see
// WithRetry.
type RetryConfig = client.RetryConfig

// NoElapsedLimit as RetryConfig.MaxElapsedTime retries each request until
// it succeeds, fails for good (a refusal), or the exporter shuts down.
const NoElapsedLimit = client.NoElapsedLimit

// WithRetry sets how requests that failed for a transient reason (a
// connection error, a 5xx answer, a 429) are retried. Default: retries on,
// 500ms initial backoff growing to 5s, at most 60s per request, a 500 or a
// quota 429 retried twice. Enabled must be true for any retry: the zero
// RetryConfig turns retries off, as in OpenTelemetry's OTLP exporters. The
// other zero fields take their defaults.
func WithRetry(rc RetryConfig) Option {
	return optionFunc(func(c config) config {
		c.clientOpts = append(c.clientOpts, client.WithRetry(rc))
		return c
	})
}

// WithTimeout bounds each HTTP request (each attempt). Default: 10s.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c config) config {
		c.clientOpts = append(c.clientOpts, client.WithTimeout(d))
		return c
	})
}

// WithOwner sets the agent owner used when the resource names none (with
// ezop.agent.owner or service.namespace). Default: "unknown", reported as
// an altered value.
func WithOwner(owner string) Option {
	return optionFunc(func(c config) config {
		c.translate.Owner = owner
		return c
	})
}

// WithRuntime sets the agent runtime used when the resource has no
// ezop.agent.runtime. Default: "go".
func WithRuntime(runtime string) Option {
	return optionFunc(func(c config) config {
		c.translate.Runtime = runtime
		return c
	})
}

// WithCaptureContent says whether message content (prompts, completions,
// tool arguments and results) recorded on spans is forwarded to Ezop.
// Default: the EZOP_CAPTURE_CONTENT environment variable, else
// OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT ("true" forwards
// content), else false.
func WithCaptureContent(capture bool) Option {
	return optionFunc(func(c config) config {
		c.captureContent = &capture
		return c
	})
}

// WithoutMessageContent never forwards message content, whatever the
// environment says. It is WithCaptureContent(false).
func WithoutMessageContent() Option {
	return WithCaptureContent(false)
}

// WithLifecycleEvents adds span_started/span_completed events for every
// span and agent_run_* events for every run. Default: off, since Ezop plans
// count events.
func WithLifecycleEvents(on bool) Option {
	return optionFunc(func(c config) config {
		c.translate.LifecycleEvents = on
		return c
	})
}

// WithRedaction makes redact see every attribute value and payload before
// it is sent, keyed by attribute key (or "input", "output", "error" for
// event payloads). It returns the value to send, and false to drop the
// value. redact must be safe for concurrent use. Default: none.
func WithRedaction(redact func(key string, v any) (any, bool)) Option {
	return optionFunc(func(c config) config {
		c.translate.Redact = redact
		return c
	})
}

// WithMaxValueBytes caps one string value; longer values are cut and
// marked as truncated. Default: 16 KiB.
func WithMaxValueBytes(n int) Option {
	return optionFunc(func(c config) config {
		c.translate.MaxValueBytes = n
		return c
	})
}

// WithMaxTraces caps how many traces may wait for their root span at once.
// A span that would start one more waiting trace beyond it is dropped and
// counted. Default: DefaultMaxTraces (1024).
func WithMaxTraces(n int) Option {
	return optionFunc(func(c config) config {
		c.maxTraces = n
		return c
	})
}

// WithMaxSpansPerTrace caps how many spans of one trace may wait for the
// trace's root span; beyond it new spans of the trace are dropped and
// counted. Default: DefaultMaxSpansPerTrace (10000).
func WithMaxSpansPerTrace(n int) Option {
	return optionFunc(func(c config) config {
		c.maxSpansPerTrace = n
		return c
	})
}

// WithMaxBufferedSpans caps how many spans the exporter holds at once,
// waiting for their root span or being sent; beyond it new spans are
// dropped and counted. Default: DefaultMaxBufferedSpans (100000).
func WithMaxBufferedSpans(n int) Option {
	return optionFunc(func(c config) config {
		c.maxBufferedSpans = n
		return c
	})
}

// WithMaxBufferedBytes caps the estimated size (attributes, events and
// names) of the spans waiting for their root span; beyond it new spans are
// dropped and counted. Default: DefaultMaxBufferedBytes (128 MiB).
func WithMaxBufferedBytes(n int) Option {
	return optionFunc(func(c config) config {
		c.maxBufferedBytes = n
		return c
	})
}

// WithLateSpanWindow sets how long a finished trace is remembered, from
// its last span, so that spans ending after their root join the root's
// run. A remembered trace keeps span ids and run ids only (about a hundred
// bytes a span), never span data. A run of spans whose root never came is
// ended when its trace is forgotten. Default: DefaultLateSpanWindow (2m).
func WithLateSpanWindow(d time.Duration) Option {
	return optionFunc(func(c config) config {
		c.lateWindow = d
		return c
	})
}

// WithMaxRememberedBytes caps the memory of remembered traces (see
// WithLateSpanWindow); beyond it the least recently used are forgotten
// early. Default: DefaultMaxRememberedBytes (32 MiB).
func WithMaxRememberedBytes(n int) Option {
	return optionFunc(func(c config) config {
		c.maxRememberedBytes = n
		return c
	})
}

// WithRootWait sets how long spans wait for their trace's root span. When
// it passes, they are sent as a run of their own that stays running; the
// root, if it comes later, completes that same run. Default:
// DefaultRootWait (30s).
func WithRootWait(d time.Duration) Option {
	return optionFunc(func(c config) config {
		c.rootWait = d
		return c
	})
}

// WithConcurrency sets how many requests the exporter sends at once, over
// all runs. Default: DefaultConcurrency (16).
func WithConcurrency(n int) Option {
	return optionFunc(func(c config) config {
		c.concurrency = n
		return c
	})
}

// WithErrorHandler sets where the exporter reports what it could not
// deliver (a *DropError for dropped data) and other failures. Reports of
// the same reason are rate-limited to one a minute; Stats counts every
// drop. Default: otel.Handle, the global OpenTelemetry error handler.
func WithErrorHandler(h otel.ErrorHandler) Option {
	return optionFunc(func(c config) config {
		c.handler = h
		return c
	})
}
