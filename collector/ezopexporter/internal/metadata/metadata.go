// Package metadata holds the identity of the ezop exporter component, as
// the Collector's mdatagen would generate it.
package metadata

import "go.opentelemetry.io/collector/component"

var (
	// Type is the exporter's type in the Collector configuration.
	Type = component.MustNewType("ezop")
	// ScopeName is the instrumentation scope of the exporter's own
	// telemetry.
	ScopeName = "github.com/ezopotel/ezop-otel-go/collector/ezopexporter"
)

// TracesStability is the stability of the traces exporter.
const TracesStability = component.StabilityLevelAlpha

// LogsStability is the stability of the logs exporter.
const LogsStability = component.StabilityLevelAlpha
