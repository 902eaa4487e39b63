// Command otelcol-ezop is a small OpenTelemetry Collector distribution
// that reports the traces of any language and any number of services to
// Ezop: the OTLP receiver (gRPC on 4317, HTTP on 4318), the batch
// processor, and the ezop exporter of this repository.
//
// Run it with a configuration, for example the repository's
// collector/otelcol-ezop.yaml:
//
//	EZOP_API_KEY=... go run . --config ../../otelcol-ezop.yaml
//
// It has the Collector's usual command line (validate, components,
// print-config, --feature-gates, …), and `check --config …`, which asks
// each ezop exporter's endpoint whether it is the Ezop API and accepts
// the API key, storing nothing (check.go).
package main

import (
	"log"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"
)

// collectorVersion is the release of the Collector modules it is built
// with (go.mod keeps them all at one release).
const collectorVersion = "v0.165.0"

// version is the distribution's version.
const version = "0.1.0"

func main() {
	cmd := otelcol.NewCommand(settings())
	cmd.AddCommand(newCheckCommand(settings())) // check.go
	if err := cmd.Execute(); err != nil {
		log.Fatalf("otelcol-ezop: %v", err)
	}
}

// settings are the collector's settings; configs are the configuration
// URIs (files, env:, yaml:) when given here rather than with --config.
func settings(configs ...string) otelcol.CollectorSettings {
	return otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{
			Command:     "otelcol-ezop",
			Description: "OpenTelemetry Collector with the Ezop exporter",
			Version:     version,
		},
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				URIs: configs,
				ProviderFactories: []confmap.ProviderFactory{
					envprovider.NewFactory(),
					fileprovider.NewFactory(),
					yamlprovider.NewFactory(),
				},
				DefaultScheme: "env",
			},
		},
		ProviderModules: map[string]string{
			"env":  "go.opentelemetry.io/collector/confmap/provider/envprovider v1.71.0",
			"file": "go.opentelemetry.io/collector/confmap/provider/fileprovider v1.71.0",
			"yaml": "go.opentelemetry.io/collector/confmap/provider/yamlprovider v1.71.0",
		},
	}
}
