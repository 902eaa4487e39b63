package main

import (
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/batchprocessor"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"

	"github.com/ezopotel/ezop-otel-go/collector/ezopexporter"
)

// components are the distribution's components, as the Collector's
// builder (ocb) would list them: the OTLP receiver (gRPC and HTTP), the
// batch processor and the ezop exporter.
func components() (otelcol.Factories, error) {
	var err error
	factories := otelcol.Factories{Telemetry: otelconftelemetry.NewFactory()}
	factories.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory())
	if err != nil {
		return otelcol.Factories{}, err
	}
	factories.Processors, err = otelcol.MakeFactoryMap[processor.Factory](batchprocessor.NewFactory())
	if err != nil {
		return otelcol.Factories{}, err
	}
	factories.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](ezopexporter.NewFactory())
	if err != nil {
		return otelcol.Factories{}, err
	}
	// What `otelcol-ezop components` prints.
	factories.ReceiverModules = map[component.Type]string{
		otlpreceiver.NewFactory().Type(): "go.opentelemetry.io/collector/receiver/otlpreceiver " + collectorVersion,
	}
	factories.ProcessorModules = map[component.Type]string{
		batchprocessor.NewFactory().Type(): "go.opentelemetry.io/collector/processor/batchprocessor " + collectorVersion,
	}
	factories.ExporterModules = map[component.Type]string{
		ezopexporter.NewFactory().Type(): "github.com/ezopotel/ezop-otel-go/collector/ezopexporter (this repository)",
	}
	return factories, nil
}
