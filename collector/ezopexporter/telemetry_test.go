package ezopexporter

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/ezopotel/ezop-otel-go/collector/ezopexporter/internal/metadata"
	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/ezoptest"
)

// The component reports the library's metrics through the Collector's own
// telemetry (TelemetrySettings.MeterProvider).
func TestTelemetryMetrics(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()

	set := exportertest.NewNopSettings(metadata.Type)
	set.MeterProvider = mp
	cfg := testConfig(srv, srv.APIKey)
	cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]() // consumed when delivered
	exp, err := NewFactory().CreateTraces(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, exp.ConsumeTraces(context.Background(), twoServiceTraces(3)))

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	sums := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != exporter.MeterName {
			continue
		}
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, p := range s.DataPoints {
					if !p.Attributes.HasValue("error.type") {
						sums[m.Name] += p.Value
					}
				}
			}
		}
	}
	require.NoError(t, exp.Shutdown(context.Background()))
	assert.Equal(t, int64(4), sums["otel.sdk.exporter.span.exported"], "spans exported: %v", sums)
	assert.Equal(t, int64(2), sums["ezop.exporter.run.started"], "runs started: %v", sums)
	assert.Positive(t, sums["ezop.exporter.request.sent"])
}

// The component reads no EZOP_* variable: its configuration is the
// Collector's (a malformed one in its environment does not stop it).
func TestNoEnvironment(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	t.Setenv("EZOP_CONCURRENCY", "not a number")
	t.Setenv("EZOP_API_URL", "http://127.0.0.1:1")
	set := exportertest.NewNopSettings(metadata.Type)
	exp, err := NewFactory().CreateTraces(context.Background(), set, testConfig(srv, srv.APIKey))
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, exp.ConsumeTraces(context.Background(), twoServiceTraces(4)))
	require.NoError(t, exp.Shutdown(context.Background()))
	assert.Len(t, srv.Runs(), 2)
}

// Check: the component's configuration against the emulator.
func TestCheck(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	require.NoError(t, Check(context.Background(), testConfig(srv, srv.APIKey)))

	err := Check(context.Background(), testConfig(srv, "ezop_sk_wrong0123456789"))
	assert.ErrorIs(t, err, exporter.ErrAuth)
	var ce *exporter.CheckError
	require.True(t, errors.As(err, &ce))
	assert.NotContains(t, err.Error(), "ezop_sk_wrong0123456789")
	assert.Contains(t, ce.Fix, "set the exporter's api_key")
	assert.NotContains(t, err.Error(), "EZOP_API_KEY")
	closed := testConfig(srv, srv.APIKey)
	closed.Endpoint = "http://127.0.0.1:9"
	err = Check(context.Background(), closed)
	assert.ErrorIs(t, err, exporter.ErrUnreachable)
	assert.Contains(t, err.Error(), "check the exporter's endpoint")
	assert.Contains(t, err.Error(), "raise request_timeout")

	bad := testConfig(srv, srv.APIKey)
	bad.APIKey = configopaque.String("")
	assert.ErrorContains(t, Check(context.Background(), bad), "api_key is required")
	assert.Error(t, Check(context.Background(), nil))
}
