package ezopexporter

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/ezopotel/ezop-otel-go/exporter"
)

// Config is the configuration of the ezop exporter. The defaults are those
// of the library's exporter (package exporter) unless said otherwise.
type Config struct {
	// TimeoutConfig (timeout) bounds how long one export (one batch from
	// the sending queue) waits for the runs it completed to be delivered.
	// When it passes, delivery goes on in the background, bounded by
	// MaxBufferedSpans, and the export counts as done: it is never
	// retried, since the exporter holds the spans already. 0 waits until
	// delivery ends. Default: 30s.
	TimeoutConfig exporterhelper.TimeoutConfig `mapstructure:",squash"`
	// QueueConfig (sending_queue) is the Collector's sending queue in
	// front of the exporter. Default: on, 10 consumers, 1000 batches.
	QueueConfig configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	// RetryConfig (retry_on_failure) is the retry policy of each Ezop API
	// request. It configures the exporter's own client, which retries a
	// failed request alone, in order within its run, and never creates
	// anything twice; the Collector's batch-level retry is not used (see
	// the package documentation). multiplier and randomization_factor are
	// fixed at 1.5 and 0.5. Default: on, 500ms initial interval, 5s
	// maximum interval, 60s per request.
	RetryConfig configretry.BackOffConfig `mapstructure:"retry_on_failure"`

	// Endpoint is the Ezop API base URL. Default: https://api.ezop.ai.
	Endpoint string `mapstructure:"endpoint"`
	// APIKey is the Ezop API key (required). It is never logged; use
	// ${env:EZOP_API_KEY} to keep it out of the file.
	APIKey configopaque.String `mapstructure:"api_key"`
	// Insecure allows a plain http:// endpoint on a host that is not
	// loopback (the key then crosses the network in clear text).
	Insecure bool `mapstructure:"insecure"`
	// RequestTimeout bounds each HTTP attempt. Default: 10s.
	RequestTimeout time.Duration `mapstructure:"request_timeout"`

	// Owner is the agent owner when a resource has neither
	// ezop.agent.owner nor service.namespace. Default: "unknown".
	Owner string `mapstructure:"owner"`
	// Runtime is the agent runtime when a resource has neither
	// ezop.agent.runtime nor telemetry.sdk.language. Default: "unknown".
	Runtime string `mapstructure:"runtime"`
	// CaptureContent forwards message content (prompts, completions, tool
	// arguments and results). Default: false. The Collector's environment
	// (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT) is not read.
	CaptureContent bool `mapstructure:"capture_content"`
	// LifecycleEvents adds span_started/span_completed and agent_run_*
	// events. Default: false.
	LifecycleEvents bool `mapstructure:"lifecycle_events"`
	// MaxValueBytes caps one string value. 0: 16 KiB.
	MaxValueBytes int `mapstructure:"max_value_bytes"`

	// RootWait is how long spans wait for their run's root span (and, with
	// LinkRemoteParents, a root whose remote parent was seen for that
	// parent's run). 0: 30s.
	RootWait time.Duration `mapstructure:"root_wait"`
	// LinkWait is how long, with LinkRemoteParents, a root waits for a
	// remote parent span not seen yet (exporter.WithRemoteParentWait).
	// 0: 10s.
	LinkWait time.Duration `mapstructure:"link_wait"`
	// LateSpanWindow is how long a finished trace is remembered for its
	// late spans (exporter.WithLateSpanWindow). 0: 2m.
	LateSpanWindow time.Duration `mapstructure:"late_span_window"`
	// MaxRememberedBytes bounds the memory of remembered traces
	// (exporter.WithMaxRememberedBytes). 0: 32 MiB.
	MaxRememberedBytes int `mapstructure:"max_remembered_bytes"`
	// MaxBufferedBytes bounds the estimated size of the spans waiting for
	// their root (exporter.WithMaxBufferedBytes). 0: 128 MiB.
	MaxBufferedBytes int `mapstructure:"max_buffered_bytes"`
	// MaxTraces caps the traces waiting for a root (or a root for its
	// remote parent) at once. Default: 10000, more than the library's
	// 1024: a Collector serves many services, and roots of called services
	// wait for their callers' spans; max_buffered_spans bounds the memory.
	// 0: the library's default.
	MaxTraces int `mapstructure:"max_traces"`
	// MaxSpansPerTrace caps the waiting spans of one trace. 0: 10000.
	MaxSpansPerTrace int `mapstructure:"max_spans_per_trace"`
	// MaxBufferedSpans caps the spans held, waiting or being sent.
	// 0: 100000.
	MaxBufferedSpans int `mapstructure:"max_buffered_spans"`
	// Concurrency is how many Ezop requests are in flight at once. 0: 16.
	Concurrency int `mapstructure:"concurrency"`
	// LinkRemoteParents makes the run of a service that another service
	// called a child run of the caller's run (exporter.
	// WithRemoteParentLinking). Default: true.
	LinkRemoteParents bool `mapstructure:"link_remote_parents"`

	// ForwardLogs forwards the log records of a logs pipeline that are
	// not GenAI events as system events (exporter.WithForwardLogs);
	// otherwise they are counted and ignored. Default: false.
	ForwardLogs bool `mapstructure:"forward_logs"`
	// MaxBufferedRecords caps the log records held, waiting for their
	// span or being sent (exporter.WithMaxBufferedRecords). 0: 10000.
	MaxBufferedRecords int `mapstructure:"max_buffered_records"`
	// MaxBufferedRecordBytes bounds their estimated size
	// (exporter.WithMaxBufferedRecordBytes). 0: 16 MiB.
	MaxBufferedRecordBytes int `mapstructure:"max_buffered_record_bytes"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ component.Config = (*Config)(nil)

// Defaults of the component that differ from the library's or that the
// library takes from the environment.
const (
	defaultEndpoint       = "https://api.ezop.ai"
	defaultRuntime        = "unknown"
	defaultTimeout        = 30 * time.Second
	defaultRequestTimeout = 10 * time.Second
	defaultMaxTraces      = 10000
	// The client's backoff, fixed.
	backoffMultiplier    = 1.5
	backoffRandomization = 0.5
)

func createDefaultConfig() component.Config {
	timeout := exporterhelper.NewDefaultTimeoutConfig()
	timeout.Timeout = defaultTimeout
	retry := configretry.NewDefaultBackOffConfig()
	retry.Enabled = true
	retry.InitialInterval = 500 * time.Millisecond
	retry.MaxInterval = 5 * time.Second
	retry.MaxElapsedTime = time.Minute
	retry.Multiplier = backoffMultiplier
	retry.RandomizationFactor = backoffRandomization
	return &Config{
		TimeoutConfig:     timeout,
		QueueConfig:       configoptional.Some(exporterhelper.NewDefaultQueueConfig()),
		RetryConfig:       retry,
		Endpoint:          defaultEndpoint,
		RequestTimeout:    defaultRequestTimeout,
		Runtime:           defaultRuntime,
		RootWait:          exporter.DefaultRootWait,
		MaxTraces:         defaultMaxTraces,
		MaxSpansPerTrace:  exporter.DefaultMaxSpansPerTrace,
		MaxBufferedSpans:  exporter.DefaultMaxBufferedSpans,
		Concurrency:       exporter.DefaultConcurrency,
		LinkRemoteParents: true,
	}
}

// Validate checks the configuration. The embedded Collector settings
// (timeout, sending_queue, retry_on_failure) validate themselves.
func (cfg *Config) Validate() error {
	var errs []error
	if err := validateEndpoint(cfg.Endpoint, cfg.Insecure); err != nil {
		errs = append(errs, err)
	}
	if strings.TrimSpace(string(cfg.APIKey)) == "" {
		errs = append(errs, errors.New("api_key is required (for example api_key: ${env:EZOP_API_KEY})"))
	}
	if cfg.RequestTimeout <= 0 {
		errs = append(errs, errors.New("request_timeout must be positive"))
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"root_wait", int64(cfg.RootWait)},
		{"link_wait", int64(cfg.LinkWait)},
		{"late_span_window", int64(cfg.LateSpanWindow)},
		{"max_remembered_bytes", int64(cfg.MaxRememberedBytes)},
		{"max_buffered_bytes", int64(cfg.MaxBufferedBytes)},
		{"max_traces", int64(cfg.MaxTraces)},
		{"max_spans_per_trace", int64(cfg.MaxSpansPerTrace)},
		{"max_buffered_spans", int64(cfg.MaxBufferedSpans)},
		{"concurrency", int64(cfg.Concurrency)},
		{"max_value_bytes", int64(cfg.MaxValueBytes)},
		{"max_buffered_records", int64(cfg.MaxBufferedRecords)},
		{"max_buffered_record_bytes", int64(cfg.MaxBufferedRecordBytes)},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative (0 takes the default)", f.name))
		}
	}
	if r := cfg.RetryConfig; r.Enabled && (r.Multiplier != backoffMultiplier || r.RandomizationFactor != backoffRandomization) {
		errs = append(errs, fmt.Errorf("retry_on_failure: multiplier and randomization_factor are fixed at %v and %v for the Ezop client", backoffMultiplier, backoffRandomization))
	}
	return errors.Join(errs...)
}

// validateEndpoint accepts an absolute http(s) URL; plain http only to a
// loopback host unless insecure, as the library does.
func validateEndpoint(endpoint string, insecure bool) error {
	if endpoint == "" {
		return errors.New("endpoint is required")
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("endpoint %q: want an http:// or https:// URL with a host", endpoint)
	}
	if u.Scheme == "http" && !insecure && !isLoopback(u.Hostname()) {
		return fmt.Errorf("endpoint %q: plain http:// to a host that is not loopback would send the API key in clear text; use https:// or set insecure: true", endpoint)
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// options are the library exporter's options for cfg.
func (cfg *Config) options() []exporter.Option {
	opts := []exporter.Option{
		// The Collector's configuration is its own: no EZOP_* variable
		// (use ${env:...} in the file for those).
		exporter.WithoutEnvironment(),
		exporter.WithEndpoint(cfg.Endpoint),
		exporter.WithAPIKey(string(cfg.APIKey)),
		exporter.WithTimeout(cfg.RequestTimeout),
		exporter.WithRetry(exporter.RetryConfig{
			Enabled:         cfg.RetryConfig.Enabled,
			InitialInterval: cfg.RetryConfig.InitialInterval,
			MaxInterval:     cfg.RetryConfig.MaxInterval,
			MaxElapsedTime:  maxElapsed(cfg.RetryConfig.MaxElapsedTime),
		}),
		exporter.WithCaptureContent(cfg.CaptureContent),
		exporter.WithLifecycleEvents(cfg.LifecycleEvents),
		exporter.WithMaxValueBytes(cfg.MaxValueBytes),
		exporter.WithRootWait(cfg.RootWait),
		exporter.WithRemoteParentWait(cfg.LinkWait),
		exporter.WithLateSpanWindow(cfg.LateSpanWindow),
		exporter.WithMaxRememberedBytes(cfg.MaxRememberedBytes),
		exporter.WithMaxBufferedBytes(cfg.MaxBufferedBytes),
		exporter.WithMaxTraces(cfg.MaxTraces),
		exporter.WithMaxSpansPerTrace(cfg.MaxSpansPerTrace),
		exporter.WithMaxBufferedSpans(cfg.MaxBufferedSpans),
		exporter.WithConcurrency(cfg.Concurrency),
		exporter.WithRemoteParentLinking(cfg.LinkRemoteParents),
		exporter.WithForwardLogs(cfg.ForwardLogs),
		exporter.WithMaxBufferedRecords(cfg.MaxBufferedRecords),
		exporter.WithMaxBufferedRecordBytes(cfg.MaxBufferedRecordBytes),
	}
	if cfg.Insecure {
		opts = append(opts, exporter.WithInsecure())
	}
	if cfg.Owner != "" {
		opts = append(opts, exporter.WithOwner(cfg.Owner))
	}
	if cfg.Runtime != "" {
		opts = append(opts, exporter.WithRuntime(cfg.Runtime))
	}
	return opts
}

// maxElapsed maps retry_on_failure.max_elapsed_time to the Ezop client's
// budget: 0 means "never stop" in the Collector, as in exporterhelper.
func maxElapsed(d time.Duration) time.Duration {
	if d == 0 {
		return exporter.NoElapsedLimit
	}
	return d
}

// runRetention is how long the run store keeps a run for a replay after a
// restart: the late-span window and the root wait, with a margin.
func (cfg *Config) runRetention() time.Duration {
	late, wait := cfg.LateSpanWindow, cfg.RootWait
	if late <= 0 {
		late = exporter.DefaultLateSpanWindow
	}
	if wait <= 0 {
		wait = exporter.DefaultRootWait
	}
	return late + wait + 5*time.Minute
}
