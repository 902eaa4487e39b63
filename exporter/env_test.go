package exporter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ezopotel/ezop-otel-go/bridge"
	"github.com/ezopotel/ezop-otel-go/internal/client"
)

const envTestKey = "ezop_sk_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// setEnv clears every variable New reads, then sets vars, for the test.
func setEnv(t *testing.T, vars map[string]string) {
	t.Helper()
	for _, ev := range envVars {
		t.Setenv(ev.name, "")
	}
	t.Setenv(client.EnvAPIURL, "")
	t.Setenv(client.EnvAPIKey, envTestKey)
	t.Setenv(bridge.CaptureContentEnv, "")
	for k, v := range vars {
		t.Setenv(k, v)
	}
}

// newFromEnv builds an exporter from the environment vars (and opts); the
// test shuts it down.
func newFromEnv(t *testing.T, vars map[string]string, opts ...Option) (*Exporter, error) {
	t.Helper()
	setEnv(t, vars)
	e, err := New(context.Background(), opts...)
	if err == nil {
		t.Cleanup(func() { _ = e.Shutdown(context.Background()) })
	}
	return e, err
}

// clientConfig is the client's configuration as it prints itself (the key
// redacted): endpoint, timeout and retry policy.
func clientConfig(e *Exporter) string { return fmt.Sprintf("%#v", e.api) }

// Every variable, with a good value: it sets what its option sets.
func TestEnvGood(t *testing.T) {
	noLimit := fmt.Sprint(client.NoElapsedLimit)
	for _, tc := range []struct {
		name, value string
		check       func(e *Exporter) bool
	}{
		{envInsecure, "true", func(e *Exporter) bool { return e.api.Endpoint() == "http://192.0.2.1:13000" }},
		{envInsecure, "FALSE", func(e *Exporter) bool { return true }},
		{envTimeout, "3s", func(e *Exporter) bool { return strings.Contains(clientConfig(e), "Timeout:3s") }},
		{envRetryEnabled, "false", func(e *Exporter) bool { return strings.Contains(clientConfig(e), "Retry:{Enabled:false") }},
		{envRetryEnabled, "1", func(e *Exporter) bool { return strings.Contains(clientConfig(e), "Retry:{Enabled:true") }},
		{envRetryInitial, "100ms", func(e *Exporter) bool {
			return strings.Contains(clientConfig(e), "InitialInterval:100ms MaxInterval:5s")
		}},
		{envRetryInitial, "8s", func(e *Exporter) bool { // the maximum follows
			return strings.Contains(clientConfig(e), "InitialInterval:8s MaxInterval:8s")
		}},
		{envRetryMaxInterval, "20s", func(e *Exporter) bool { return strings.Contains(clientConfig(e), "MaxInterval:20s") }},
		{envRetryMaxElapsed, "2m", func(e *Exporter) bool { return strings.Contains(clientConfig(e), "MaxElapsedTime:2m0s") }},
		{envRetryMaxElapsed, "0", func(e *Exporter) bool { return strings.Contains(clientConfig(e), "MaxElapsedTime:"+noLimit) }},
		{envRetryServerErrors, "0", func(e *Exporter) bool { return strings.Contains(clientConfig(e), "MaxServerErrorRetries:0") }},
		{envRetryServerErrors, "7", func(e *Exporter) bool { return strings.Contains(clientConfig(e), "MaxServerErrorRetries:7") }},
		{envRetryQuota, "0", func(e *Exporter) bool { return strings.Contains(clientConfig(e), "MaxQuotaRetries:0") }},
		{envRetryQuota, "4", func(e *Exporter) bool { return strings.Contains(clientConfig(e), "MaxQuotaRetries:4") }},
		{envOwner, " platform ", func(e *Exporter) bool { return e.cfg.translate.Owner == "platform" }},
		{envRuntime, "python", func(e *Exporter) bool { return e.cfg.translate.Runtime == "python" }},
		{envCaptureContent, "True", func(e *Exporter) bool { return *e.cfg.translate.CaptureContent }},
		{envCaptureContent, "false", func(e *Exporter) bool { return !*e.cfg.translate.CaptureContent }},
		{envLifecycleEvents, "true", func(e *Exporter) bool { return e.cfg.translate.LifecycleEvents }},
		{envMaxValueBytes, "64KiB", func(e *Exporter) bool { return e.cfg.translate.MaxValueBytes == 64<<10 }},
		{envMaxValueBytes, "1000", func(e *Exporter) bool { return e.cfg.translate.MaxValueBytes == 1000 }},
		{envMaxTraces, "77", func(e *Exporter) bool { return e.cfg.maxTraces == 77 }},
		{envMaxSpansPerTrace, "500", func(e *Exporter) bool { return e.cfg.maxSpansPerTrace == 500 }},
		{envMaxBufferedSpans, "2000", func(e *Exporter) bool { return e.cfg.maxBufferedSpans == 2000 }},
		{envMaxBufferedBytes, "64 MiB", func(e *Exporter) bool { return e.cfg.maxBufferedBytes == 64<<20 }},
		{envMaxBufferedBytes, "1gib", func(e *Exporter) bool { return e.cfg.maxBufferedBytes == 1<<30 }},
		{envRootWait, "45s", func(e *Exporter) bool { return e.cfg.rootWait == 45*time.Second }},
		{envLateSpanWindow, "5m", func(e *Exporter) bool { return e.cfg.lateWindow == 5*time.Minute }},
		{envMaxRemembered, "8MiB", func(e *Exporter) bool { return e.cfg.maxRememberedBytes == 8<<20 }},
		{envConcurrency, "4", func(e *Exporter) bool { return e.cfg.concurrency == 4 }},
		{envMaxLiveRuns, "12", func(e *Exporter) bool { return e.cfg.maxLiveRuns == 12 }},
		{envRemoteLinking, "true", func(e *Exporter) bool { return e.cfg.remoteLinking }},
		{envRemoteWait, "1.5s", func(e *Exporter) bool { return e.cfg.linkWait == 1500*time.Millisecond }},
		{envMaxOutage, "1h", func(e *Exporter) bool { return e.cfg.maxOutage == time.Hour }},
		{envMaxRecords, "300", func(e *Exporter) bool { return e.cfg.logs.maxRecords == 300 }},
		{envMaxRecordBytes, "2MiB", func(e *Exporter) bool { return e.cfg.logs.maxBytes == 2<<20 }},
		{envForwardLogs, "true", func(e *Exporter) bool { return e.cfg.logs.forward }},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			vars := map[string]string{tc.name: tc.value}
			if tc.name == envInsecure {
				vars[client.EnvAPIURL] = "http://192.0.2.1:13000" // not loopback
			}
			e, err := newFromEnv(t, vars)
			if tc.name == envInsecure && tc.value == "FALSE" {
				if err == nil || !strings.Contains(err.Error(), "not loopback") {
					t.Fatalf("plain http to a remote host without EZOP_INSECURE: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(e) {
				t.Errorf("not applied: %s", clientConfig(e))
			}
		})
	}
}

// Every variable in the table is tested with a good value above, and
// every option taking a value has one.
func TestEnvEveryVariable(t *testing.T) {
	if len(envVars) != 28 {
		t.Errorf("%d variables: update TestEnvGood, TestEnvBad and README.md", len(envVars))
	}
	seen := map[string]bool{}
	for _, ev := range envVars {
		if seen[ev.name] || !strings.HasPrefix(ev.name, "EZOP_") {
			t.Errorf("variable %s: duplicate or not EZOP_*", ev.name)
		}
		seen[ev.name] = true
	}
}

// Malformed values: New fails, naming the variable, the value and the
// form it wants; never a silent default.
func TestEnvBad(t *testing.T) {
	for _, tc := range []struct {
		name, value, want string
	}{
		{envInsecure, "yes please", "want true or false"},
		{envTimeout, "10", "a number without a unit"},
		{envTimeout, "-1s", "want a positive duration"},
		{envTimeout, "0s", "want a positive duration"},
		{envTimeout, "soon", "want a positive duration"},
		{envRetryEnabled, "on?", "want true or false"},
		{envRetryInitial, "500", "a number without a unit"},
		{envRetryMaxInterval, "x", "want a positive duration"},
		{envRetryMaxElapsed, "-5m", "or 0 for no limit"},
		{envRetryServerErrors, "-1", "0 or more"},
		{envRetryServerErrors, "two", "0 or more"},
		{envRetryQuota, "1.5", "0 or more"},
		{envCaptureContent, "span_only", "want true or false"},
		{envLifecycleEvents, "2", "want true or false"},
		{envMaxValueBytes, "16KB", "units: B, KiB, MiB, GiB"},
		{envMaxValueBytes, "0", "want a positive number of bytes"},
		{envMaxTraces, "0", "want a positive whole number"},
		{envMaxTraces, "-3", "want a positive whole number"},
		{envMaxTraces, "1e3", "want a positive whole number"},
		{envMaxSpansPerTrace, "many", "want a positive whole number"},
		{envMaxBufferedSpans, "10 000", "want a positive whole number"},
		{envMaxBufferedBytes, "99999999999999GiB", "too large"},
		{envMaxBufferedBytes, "-1MiB", "want a positive number of bytes"},
		{envRootWait, "30", "a number without a unit"},
		{envLateSpanWindow, "2 minutes", "want a positive duration"},
		{envMaxRemembered, "MiB", "want a positive number of bytes"},
		{envConcurrency, "0", "want a positive whole number"},
		{envMaxLiveRuns, "lots", "want a positive whole number"},
		{envRemoteLinking, "enabled", "want true or false"},
		{envRemoteWait, "0", "a number without a unit"},
		{envMaxOutage, "forever", "want a positive duration"},
		{envMaxRecords, "0", "want a positive whole number"},
		{envMaxRecordBytes, "16MB", "units: B, KiB, MiB, GiB"},
		{envForwardLogs, "all", "want true or false"},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			_, err := newFromEnv(t, map[string]string{tc.name: tc.value})
			if err == nil {
				t.Fatal("New accepted it")
			}
			msg := err.Error()
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("not ErrInvalidConfig: %v", err)
			}
			for _, want := range []string{tc.name + "=" + fmt.Sprintf("%q", tc.value), tc.want} {
				if !strings.Contains(msg, want) {
					t.Errorf("error lacks %q: %s", want, msg)
				}
			}
			if strings.Contains(msg, envTestKey) {
				t.Errorf("the error shows the API key: %s", msg)
			}
		})
	}
}

// Several malformed variables are all named, and a maximum below the
// initial interval is refused.
func TestEnvBadSeveral(t *testing.T) {
	_, err := newFromEnv(t, map[string]string{envMaxTraces: "x", envRootWait: "1", envRetryInitial: "10s", envRetryMaxInterval: "1s"})
	if err == nil {
		t.Fatal("New accepted it")
	}
	for _, want := range []string{envMaxTraces, envRootWait, envRetryMaxInterval + " (1s) is below " + envRetryInitial + " (10s)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if err := Check(context.Background()); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Check with the same environment: %v", err)
	}
}

// An option wins over its variable; an empty variable is unset.
func TestEnvOptionWins(t *testing.T) {
	e, err := newFromEnv(t, map[string]string{
		envMaxTraces: "5", envTimeout: "3s", envRetryQuota: "9", envCaptureContent: "true",
		envOwner: "from-env", envRootWait: "", envConcurrency: " ",
		client.EnvAPIURL: "http://127.0.0.1:1",
	},
		WithMaxTraces(7), WithTimeout(4*time.Second), WithRetry(RetryConfig{Enabled: true, MaxQuotaRetries: 1}),
		WithoutMessageContent(), WithOwner("from-option"), WithEndpoint("http://127.0.0.1:2"))
	if err != nil {
		t.Fatal(err)
	}
	cc := clientConfig(e)
	switch {
	case e.cfg.maxTraces != 7:
		t.Errorf("max traces %d", e.cfg.maxTraces)
	case !strings.Contains(cc, "Timeout:4s") || !strings.Contains(cc, "MaxQuotaRetries:1"):
		t.Errorf("client: %s", cc)
	case *e.cfg.translate.CaptureContent:
		t.Error("content capture on")
	case e.cfg.translate.Owner != "from-option":
		t.Errorf("owner %q", e.cfg.translate.Owner)
	case e.api.Endpoint() != "http://127.0.0.1:2":
		t.Errorf("endpoint %s", e.api.Endpoint())
	case e.cfg.rootWait != DefaultRootWait || e.cfg.concurrency != DefaultConcurrency:
		t.Errorf("empty variables were read: %v %v", e.cfg.rootWait, e.cfg.concurrency)
	}
}

// EZOP_CAPTURE_CONTENT wins over OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT.
func TestEnvCaptureOverGenAI(t *testing.T) {
	e, err := newFromEnv(t, map[string]string{bridge.CaptureContentEnv: "true", envCaptureContent: "false"})
	if err != nil {
		t.Fatal(err)
	}
	if *e.cfg.translate.CaptureContent {
		t.Error("content capture on")
	}
}

// WithoutEnvironment reads nothing: not the bounds, not a malformed value,
// not the key.
func TestWithoutEnvironment(t *testing.T) {
	vars := map[string]string{envMaxTraces: "5", envConcurrency: "nope", bridge.CaptureContentEnv: "true"}
	_, err := newFromEnv(t, vars, WithoutEnvironment())
	if err == nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "no API key") {
		t.Fatalf("without the environment's key: %v", err)
	}
	e, err := newFromEnv(t, vars, WithoutEnvironment(), WithAPIKey(envTestKey))
	if err != nil {
		t.Fatal(err)
	}
	if e.cfg.maxTraces != DefaultMaxTraces || e.api.Endpoint() != client.DefaultEndpoint || *e.cfg.translate.CaptureContent {
		t.Errorf("the environment was read: %d %s", e.cfg.maxTraces, e.api.Endpoint())
	}
	e, err = newFromEnv(t, vars, WithoutEnvironment(), WithAPIKey(envTestKey), WithCaptureContent(true))
	if err != nil || !*e.cfg.translate.CaptureContent {
		t.Errorf("WithCaptureContent after WithoutEnvironment: %v", err)
	}
}
