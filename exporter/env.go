package exporter

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ezopotel/ezop-otel-go/internal/client"
)

// Configuration by environment.
//
// New reads one EZOP_* variable for every option that takes a value (see
// the table of README.md, or envVars below); an option given to New wins
// over its variable, and a variable wins over the default. An empty or
// unset variable is not read. A malformed value is an error of New that
// names the variable and the form it wants, never a silent default: bounds
// and durations must be positive, byte sizes are a number of bytes with an
// optional KiB, MiB or GiB suffix, durations need a unit (Go syntax: 500ms,
// 10s, 2m), booleans are true or false (or 1 or 0), in any case.
//
// EZOP_API_URL and EZOP_API_KEY are read by the client itself
// (internal/client), as before. WithoutEnvironment turns all of it off.

// Variables New reads besides EZOP_API_URL and EZOP_API_KEY.
const (
	envInsecure          = "EZOP_INSECURE"
	envTimeout           = "EZOP_TIMEOUT"
	envRetryEnabled      = "EZOP_RETRY_ENABLED"
	envRetryInitial      = "EZOP_RETRY_INITIAL_INTERVAL"
	envRetryMaxInterval  = "EZOP_RETRY_MAX_INTERVAL"
	envRetryMaxElapsed   = "EZOP_RETRY_MAX_ELAPSED_TIME"
	envRetryServerErrors = "EZOP_RETRY_MAX_SERVER_ERROR_RETRIES"
	envRetryQuota        = "EZOP_RETRY_MAX_QUOTA_RETRIES"
	envOwner             = "EZOP_OWNER"
	envRuntime           = "EZOP_RUNTIME"
	envCaptureContent    = "EZOP_CAPTURE_CONTENT"
	envLifecycleEvents   = "EZOP_LIFECYCLE_EVENTS"
	envMaxValueBytes     = "EZOP_MAX_VALUE_BYTES"
	envMaxTraces         = "EZOP_MAX_TRACES"
	envMaxSpansPerTrace  = "EZOP_MAX_SPANS_PER_TRACE"
	envMaxBufferedSpans  = "EZOP_MAX_BUFFERED_SPANS"
	envMaxBufferedBytes  = "EZOP_MAX_BUFFERED_BYTES"
	envRootWait          = "EZOP_ROOT_WAIT"
	envLateSpanWindow    = "EZOP_LATE_SPAN_WINDOW"
	envMaxRemembered     = "EZOP_MAX_REMEMBERED_BYTES"
	envConcurrency       = "EZOP_CONCURRENCY"
	envMaxLiveRuns       = "EZOP_MAX_LIVE_RUNS"
	envRemoteLinking     = "EZOP_REMOTE_PARENT_LINKING"
	envRemoteWait        = "EZOP_REMOTE_PARENT_WAIT"
	envMaxOutage         = "EZOP_MAX_OUTAGE"
	// Log records (logs.go).
	envMaxRecords     = "EZOP_MAX_BUFFERED_RECORDS"
	envMaxRecordBytes = "EZOP_MAX_BUFFERED_RECORD_BYTES"
	envForwardLogs    = "EZOP_FORWARD_LOGS"
)

// envKind is the form of a variable's value.
type envKind int

const (
	envBool     envKind = iota // true/false, 1/0
	envDuration                // a positive Go duration with a unit
	envElapsed                 // a positive duration, or 0 for no limit
	envPositive                // a positive whole number
	envCount                   // a whole number, 0 included
	envBytes                   // a positive number of bytes, optional KiB/MiB/GiB
	envString                  // any text but blank
)

// envValue is a parsed value; the field of its kind is set.
type envValue struct {
	b bool
	d time.Duration
	n int
	s string
}

// envVar is one variable: its name, form, and what it sets. Retry
// variables set fields of rc, applied as one WithRetry.
type envVar struct {
	name  string
	kind  envKind
	apply func(c *config, rc *client.RetryConfig, v envValue)
}

// envVars are the variables New reads, in the order of README.md's table.
var envVars = []envVar{
	{envInsecure, envBool, func(c *config, _ *client.RetryConfig, v envValue) {
		if v.b {
			c.clientOpts = append(c.clientOpts, client.WithInsecure())
		}
	}},
	{envTimeout, envDuration, func(c *config, _ *client.RetryConfig, v envValue) {
		c.clientOpts = append(c.clientOpts, client.WithTimeout(v.d))
	}},
	{envRetryEnabled, envBool, func(_ *config, rc *client.RetryConfig, v envValue) { rc.Enabled = v.b }},
	{envRetryInitial, envDuration, func(_ *config, rc *client.RetryConfig, v envValue) { rc.InitialInterval = v.d }},
	{envRetryMaxInterval, envDuration, func(_ *config, rc *client.RetryConfig, v envValue) { rc.MaxInterval = v.d }},
	{envRetryMaxElapsed, envElapsed, func(_ *config, rc *client.RetryConfig, v envValue) { rc.MaxElapsedTime = v.d }},
	{envRetryServerErrors, envCount, func(_ *config, rc *client.RetryConfig, v envValue) { rc.MaxServerErrorRetries = never(v.n) }},
	{envRetryQuota, envCount, func(_ *config, rc *client.RetryConfig, v envValue) { rc.MaxQuotaRetries = never(v.n) }},
	{envOwner, envString, func(c *config, _ *client.RetryConfig, v envValue) { c.translate.Owner = v.s }},
	{envRuntime, envString, func(c *config, _ *client.RetryConfig, v envValue) { c.translate.Runtime = v.s }},
	{envCaptureContent, envBool, func(c *config, _ *client.RetryConfig, v envValue) {
		b := v.b
		c.captureContent = &b
	}},
	{envLifecycleEvents, envBool, func(c *config, _ *client.RetryConfig, v envValue) { c.translate.LifecycleEvents = v.b }},
	{envMaxValueBytes, envBytes, func(c *config, _ *client.RetryConfig, v envValue) { c.translate.MaxValueBytes = v.n }},
	{envMaxTraces, envPositive, func(c *config, _ *client.RetryConfig, v envValue) { c.maxTraces = v.n }},
	{envMaxSpansPerTrace, envPositive, func(c *config, _ *client.RetryConfig, v envValue) { c.maxSpansPerTrace = v.n }},
	{envMaxBufferedSpans, envPositive, func(c *config, _ *client.RetryConfig, v envValue) { c.maxBufferedSpans = v.n }},
	{envMaxBufferedBytes, envBytes, func(c *config, _ *client.RetryConfig, v envValue) { c.maxBufferedBytes = v.n }},
	{envRootWait, envDuration, func(c *config, _ *client.RetryConfig, v envValue) { c.rootWait = v.d }},
	{envLateSpanWindow, envDuration, func(c *config, _ *client.RetryConfig, v envValue) { c.lateWindow = v.d }},
	{envMaxRemembered, envBytes, func(c *config, _ *client.RetryConfig, v envValue) { c.maxRememberedBytes = v.n }},
	{envConcurrency, envPositive, func(c *config, _ *client.RetryConfig, v envValue) { c.concurrency = v.n }},
	{envMaxLiveRuns, envPositive, func(c *config, _ *client.RetryConfig, v envValue) { c.maxLiveRuns = v.n }},
	{envRemoteLinking, envBool, func(c *config, _ *client.RetryConfig, v envValue) { c.remoteLinking = v.b }},
	{envRemoteWait, envDuration, func(c *config, _ *client.RetryConfig, v envValue) { c.linkWait = v.d }},
	{envMaxOutage, envDuration, func(c *config, _ *client.RetryConfig, v envValue) { c.maxOutage = v.d }},
	{envMaxRecords, envPositive, func(c *config, _ *client.RetryConfig, v envValue) { c.logs.maxRecords = v.n }},
	{envMaxRecordBytes, envBytes, func(c *config, _ *client.RetryConfig, v envValue) { c.logs.maxBytes = v.n }},
	{envForwardLogs, envBool, func(c *config, _ *client.RetryConfig, v envValue) { c.logs.forward = v.b }},
}

// never turns a retry count of the environment, where 0 means no retry,
// into RetryConfig's, where 0 takes the default and a negative count
// means none.
func never(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// WithoutEnvironment makes New read no environment variable: neither the
// EZOP_* variables (EZOP_API_URL and EZOP_API_KEY included) nor
// OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT. What the options do
// not set takes its default (no API key: New fails without WithAPIKey).
// For programs whose configuration is their own, such as the Collector
// component.
func WithoutEnvironment() Option { return noEnvOption{} }

type noEnvOption struct{}

func (noEnvOption) apply(c config) config { return c }

// readsEnvironment reports whether New reads the environment with opts.
func readsEnvironment(opts []Option) bool {
	for _, o := range opts {
		if _, ok := o.(noEnvOption); ok {
			return false
		}
	}
	return true
}

// withoutEnvironment makes c read nothing from the environment: the
// client's endpoint and key are set (options given later replace them),
// and content capture is off unless an option turns it on.
func (c config) withoutEnvironment() config {
	c.clientOpts = append(c.clientOpts, client.WithEndpoint(client.DefaultEndpoint), client.WithAPIKey(""))
	off := false
	c.captureContent = &off
	return c
}

// fromEnv applies the variables getenv returns to c, before the options.
// Every malformed value is reported, all at once.
func (c config) fromEnv(getenv func(string) string) (config, error) {
	var errs []error
	rc := client.DefaultRetryConfig
	retrySet, maxIntervalSet := false, false
	for _, ev := range envVars {
		raw := getenv(ev.name)
		if strings.TrimSpace(raw) == "" {
			continue
		}
		v, err := parseEnv(ev.kind, raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", ev.name, raw, err))
			continue
		}
		if strings.HasPrefix(ev.name, "EZOP_RETRY_") {
			retrySet = true
			maxIntervalSet = maxIntervalSet || ev.name == envRetryMaxInterval
		}
		ev.apply(&c, &rc, v)
	}
	if retrySet {
		if !maxIntervalSet && rc.MaxInterval < rc.InitialInterval {
			rc.MaxInterval = rc.InitialInterval
		}
		if rc.MaxInterval < rc.InitialInterval {
			errs = append(errs, fmt.Errorf("%s (%s) is below %s (%s)", envRetryMaxInterval, rc.MaxInterval, envRetryInitial, rc.InitialInterval))
		}
		c.clientOpts = append(c.clientOpts, client.WithRetry(rc))
	}
	if len(errs) > 0 {
		return c, &envError{errs: errs}
	}
	return c, nil
}

// envError lists the malformed variables. It matches ErrInvalidConfig.
type envError struct{ errs []error }

func (e *envError) Error() string {
	var b strings.Builder
	b.WriteString("ezop exporter: invalid configuration in the environment (fix or unset the variable; an option given to New wins over it): ")
	for i, err := range e.errs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

func (e *envError) Is(target error) bool { return target == client.ErrInvalidConfig }

func (e *envError) Unwrap() []error { return e.errs }

// parseEnv reads raw as a value of kind.
func parseEnv(kind envKind, raw string) (envValue, error) {
	s := strings.TrimSpace(raw)
	switch kind {
	case envBool:
		switch strings.ToLower(s) {
		case "true", "1":
			return envValue{b: true}, nil
		case "false", "0":
			return envValue{b: false}, nil
		}
		return envValue{}, errors.New("want true or false")
	case envDuration, envElapsed:
		if kind == envElapsed && s == "0" {
			return envValue{d: client.NoElapsedLimit}, nil
		}
		want := "want a positive duration with a unit, such as 500ms, 10s or 2m"
		if kind == envElapsed {
			want += ", or 0 for no limit"
		}
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return envValue{}, errors.New("a number without a unit; " + want)
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return envValue{}, errors.New(want)
		}
		return envValue{d: d}, nil
	case envPositive, envCount:
		n, err := strconv.Atoi(s)
		switch {
		case err != nil:
			if kind == envCount {
				return envValue{}, errors.New("want a whole number, 0 or more")
			}
			return envValue{}, errors.New("want a positive whole number")
		case kind == envPositive && n <= 0:
			return envValue{}, errors.New("want a positive whole number (unset the variable for the default)")
		case n < 0:
			return envValue{}, errors.New("want a whole number, 0 or more")
		}
		return envValue{n: n}, nil
	case envBytes:
		n, err := parseBytes(s)
		if err != nil {
			return envValue{}, err
		}
		return envValue{n: n}, nil
	default: // envString
		return envValue{s: s}, nil
	}
}

// parseBytes reads a positive byte size: a whole number, optionally
// followed by B, KiB, MiB or GiB (any case, space allowed).
func parseBytes(s string) (int, error) {
	const want = "want a positive number of bytes, such as 65536, 64KiB, 128MiB or 1GiB"
	num := strings.TrimRight(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ")
	unit := strings.ToLower(strings.TrimSpace(s[len(num):]))
	mult := int64(1)
	switch unit {
	case "", "b":
	case "kib":
		mult = 1 << 10
	case "mib":
		mult = 1 << 20
	case "gib":
		mult = 1 << 30
	default:
		return 0, errors.New(want + " (units: B, KiB, MiB, GiB)")
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New(want)
	}
	if n > math.MaxInt/mult {
		return 0, errors.New("too large; " + want)
	}
	return int(n * mult), nil
}
