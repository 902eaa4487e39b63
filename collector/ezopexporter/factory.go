package ezopexporter

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/ezopotel/ezop-otel-go/collector/ezopexporter/internal/metadata"
)

// NewFactory returns the factory of the ezop exporter (type "ezop"), a
// traces and logs exporter: the traces and logs pipelines of one
// component share one library exporter (logs.go).
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		exporter.WithTraces(createTraces, metadata.TracesStability),
		exporter.WithLogs(createLogs, metadata.LogsStability),
	)
}

func createTraces(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	c := cfg.(*Config)
	h := acquire(c, set, false) // shared with the logs pipeline (logs.go)
	exp, err := exporterhelper.NewTraces(ctx, set, cfg, h.s.e.pushTraces,
		exporterhelper.WithStart(h.start),
		exporterhelper.WithShutdown(h.shutdown),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithTimeout(c.TimeoutConfig),
		exporterhelper.WithQueue(c.QueueConfig),
		// One retry layer: the Ezop client retries each request
		// (retry_on_failure configures it); a batch is never sent twice.
		exporterhelper.WithRetry(configretry.BackOffConfig{Enabled: false}),
	)
	if err != nil {
		_ = h.shutdown(ctx) // release the shared exporter
	}
	return exp, err
}

func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	c := cfg.(*Config)
	h := acquire(c, set, true) // shared with the traces pipeline (logs.go)
	exp, err := exporterhelper.NewLogs(ctx, set, cfg, h.s.e.pushLogs,
		exporterhelper.WithStart(h.start),
		exporterhelper.WithShutdown(h.shutdown),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithTimeout(c.TimeoutConfig),
		exporterhelper.WithQueue(c.QueueConfig),
		exporterhelper.WithRetry(configretry.BackOffConfig{Enabled: false}),
	)
	if err != nil {
		_ = h.shutdown(ctx) // release the shared exporter
	}
	return exp, err
}
