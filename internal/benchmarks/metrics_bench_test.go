package benchmarks

import (
	"context"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// hotMode is the exporter of a hot-path benchmark: a no-op one, ours, or
// ours with its metrics on.
type hotMode int

const (
	hotNoop hotMode = iota
	hotEzop
	hotEzopMetrics
)

// collectingMeterProvider is an SDK MeterProvider whose reader collects
// every 100ms until the benchmark ends: far more often than a periodic
// reader's default minute, so that the metrics' cost shows.
func collectingMeterProvider(b *testing.B) *sdkmetric.MeterProvider {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		var rm metricdata.ResourceMetrics
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				_ = reader.Collect(context.Background(), &rm)
			}
		}
	}()
	b.Cleanup(func() {
		close(stop)
		<-done
		_ = mp.Shutdown(context.Background())
	})
	return mp
}
