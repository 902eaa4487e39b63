package ezopexporter

import (
	"fmt"
	"github.com/ezopotel/ezop-otel-go/exporter"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/ezopotel/ezop-otel-go/collector/ezopexporter/internal/metadata"
)

func TestFactory(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, "ezop", f.Type().String())
	assert.Equal(t, metadata.Type, f.Type())
	assert.Equal(t, component.StabilityLevelAlpha, f.TracesStability())
	assert.Equal(t, component.StabilityLevelAlpha, f.LogsStability())
	require.NoError(t, componenttest.CheckConfigStruct(f.CreateDefaultConfig()))
}

func TestDefaultConfig(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	assert.Equal(t, "https://api.ezop.ai", cfg.Endpoint)
	assert.Empty(t, string(cfg.APIKey))
	assert.Equal(t, 30*time.Second, cfg.TimeoutConfig.Timeout)
	assert.Equal(t, 10*time.Second, cfg.RequestTimeout)
	assert.True(t, cfg.QueueConfig.HasValue(), "sending queue on by default")
	assert.Equal(t, exporterhelper.NewDefaultQueueConfig(), *cfg.QueueConfig.Get())
	assert.True(t, cfg.RetryConfig.Enabled)
	assert.Equal(t, 500*time.Millisecond, cfg.RetryConfig.InitialInterval)
	assert.Equal(t, 5*time.Second, cfg.RetryConfig.MaxInterval)
	assert.Equal(t, time.Minute, cfg.RetryConfig.MaxElapsedTime)
	assert.Equal(t, "unknown", cfg.Runtime)
	assert.Empty(t, cfg.Owner)
	assert.False(t, cfg.CaptureContent)
	assert.False(t, cfg.LifecycleEvents)
	assert.Equal(t, 30*time.Second, cfg.RootWait)
	assert.Equal(t, 10000, cfg.MaxTraces)
	assert.Equal(t, 10000, cfg.MaxSpansPerTrace)
	assert.Equal(t, 100000, cfg.MaxBufferedSpans)
	assert.Equal(t, 16, cfg.Concurrency)
	assert.True(t, cfg.LinkRemoteParents, "remote parent linking on in the Collector")

	// An empty section keeps the defaults, and lacks the key.
	un := NewFactory().CreateDefaultConfig()
	require.NoError(t, confmap.New().Unmarshal(&un))
	assert.Equal(t, NewFactory().CreateDefaultConfig(), un)
	assert.ErrorContains(t, confmap.Validate(un), "api_key is required")
}

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	custom := createDefaultConfig().(*Config)
	custom.Endpoint = "http://localhost:13000/ezop"
	custom.APIKey = "k"
	custom.Owner = "platform"
	custom.Runtime = "python"
	custom.CaptureContent = true
	custom.LifecycleEvents = true
	custom.RequestTimeout = 3 * time.Second
	custom.RootWait = 10 * time.Second
	custom.MaxTraces, custom.MaxSpansPerTrace, custom.MaxBufferedSpans = 10, 20, 30
	custom.MaxValueBytes = 4096
	custom.LinkWait = 2 * time.Second
	custom.LateSpanWindow = time.Minute
	custom.MaxRememberedBytes = 1 << 20
	custom.MaxBufferedBytes = 2 << 20
	custom.Concurrency = 4
	custom.LinkRemoteParents = false
	custom.ForwardLogs = true
	custom.MaxBufferedRecords, custom.MaxBufferedRecordBytes = 40, 1<<20
	custom.TimeoutConfig.Timeout = 7 * time.Second
	q := exporterhelper.NewDefaultQueueConfig()
	q.NumConsumers, q.QueueSize = 2, 50
	custom.QueueConfig = configoptional.Some(q)
	custom.RetryConfig.InitialInterval = time.Second
	custom.RetryConfig.MaxInterval = 10 * time.Second
	custom.RetryConfig.MaxElapsedTime = 2 * time.Minute

	noQueue := createDefaultConfig().(*Config)
	noQueue.APIKey = "k"
	noQueue.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	noQueue.RetryConfig.Enabled = false

	simple := createDefaultConfig().(*Config)
	simple.APIKey = "secret-key"

	for id, want := range map[string]*Config{"ezop": simple, "ezop/custom": custom, "ezop/noqueue": noQueue} {
		t.Run(id, func(t *testing.T) {
			sub, err := cm.Sub(id)
			require.NoError(t, err)
			cfg := NewFactory().CreateDefaultConfig()
			require.NoError(t, sub.Unmarshal(&cfg))
			require.NoError(t, confmap.Validate(cfg))
			if id == "ezop/noqueue" {
				// Disabled sections keep their defaults inside; compare
				// what counts.
				got := cfg.(*Config)
				assert.False(t, got.QueueConfig.HasValue())
				assert.False(t, got.RetryConfig.Enabled)
				return
			}
			assert.Equal(t, want, cfg)
		})
	}
}

func TestValidate(t *testing.T) {
	valid := func() *Config {
		c := createDefaultConfig().(*Config)
		c.APIKey = "k"
		return c
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		err    string // "" is valid
	}{
		{"valid", func(*Config) {}, ""},
		{"loopback http", func(c *Config) { c.Endpoint = "http://127.0.0.1:8000" }, ""},
		{"localhost http", func(c *Config) { c.Endpoint = "http://localhost:8000/api" }, ""},
		{"insecure http", func(c *Config) { c.Endpoint, c.Insecure = "http://ezop.internal", true }, ""},
		{"zero limits take defaults", func(c *Config) { c.RootWait, c.MaxTraces, c.Concurrency = 0, 0, 0 }, ""},
		{"no key", func(c *Config) { c.APIKey = "" }, "api_key is required"},
		{"blank key", func(c *Config) { c.APIKey = "  " }, "api_key is required"},
		{"no endpoint", func(c *Config) { c.Endpoint = "" }, "endpoint is required"},
		{"relative endpoint", func(c *Config) { c.Endpoint = "api.ezop.ai" }, "want an http:// or https:// URL"},
		{"other scheme", func(c *Config) { c.Endpoint = "ftp://api.ezop.ai" }, "want an http:// or https:// URL"},
		{"plain http remote", func(c *Config) { c.Endpoint = "http://ezop.internal" }, "clear text"},
		{"request timeout", func(c *Config) { c.RequestTimeout = 0 }, "request_timeout must be positive"},
		{"negative root wait", func(c *Config) { c.RootWait = -time.Second }, "root_wait must not be negative"},
		{"negative link wait", func(c *Config) { c.LinkWait = -time.Second }, "link_wait must not be negative"},
		{"negative late span window", func(c *Config) { c.LateSpanWindow = -time.Second }, "late_span_window must not be negative"},
		{"negative remembered bytes", func(c *Config) { c.MaxRememberedBytes = -1 }, "max_remembered_bytes must not be negative"},
		{"negative buffered bytes", func(c *Config) { c.MaxBufferedBytes = -1 }, "max_buffered_bytes must not be negative"},
		{"negative max traces", func(c *Config) { c.MaxTraces = -1 }, "max_traces must not be negative"},
		{"negative spans per trace", func(c *Config) { c.MaxSpansPerTrace = -1 }, "max_spans_per_trace must not be negative"},
		{"negative buffered spans", func(c *Config) { c.MaxBufferedSpans = -1 }, "max_buffered_spans must not be negative"},
		{"negative concurrency", func(c *Config) { c.Concurrency = -1 }, "concurrency must not be negative"},
		{"negative value bytes", func(c *Config) { c.MaxValueBytes = -1 }, "max_value_bytes must not be negative"},
		{"retry multiplier", func(c *Config) { c.RetryConfig.Multiplier = 2 }, "multiplier and randomization_factor are fixed"},
		{"retry off, any multiplier", func(c *Config) { c.RetryConfig = configretry.BackOffConfig{Enabled: false, Multiplier: 3} }, ""},
		{"negative timeout", func(c *Config) { c.TimeoutConfig.Timeout = -time.Second }, "timeout value must be greater than or equal to 0"},
		{"bad queue", func(c *Config) { c.QueueConfig.Get().QueueSize = 0 }, "queue_size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.change(c)
			err := confmap.Validate(c)
			if tc.err == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
}

// The API key never shows: not when the config is printed, not when it is
// marshaled (as `otelcol print-config` does).
func TestAPIKeyNotLeaked(t *testing.T) {
	c := createDefaultConfig().(*Config)
	c.APIKey = "ezop-secret-key-123"
	for _, s := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", *c), fmt.Sprint(c.APIKey)} {
		assert.NotContains(t, s, "ezop-secret-key-123")
	}
	conf := confmap.New()
	require.NoError(t, conf.Marshal(c))
	assert.Equal(t, "[REDACTED]", conf.Get("api_key"))
	assert.False(t, strings.Contains(fmt.Sprint(conf.ToStringMap()), "ezop-secret-key-123"))
}

// retry_on_failure.max_elapsed_time 0 means "no limit" in the Collector:
// the Ezop client gets NoElapsedLimit, not its 60s default.
func TestMaxElapsedTimeZeroIsNoLimit(t *testing.T) {
	assert.Equal(t, exporter.NoElapsedLimit, maxElapsed(0))
	assert.Equal(t, 90*time.Second, maxElapsed(90*time.Second))
}
