// Package version holds the library's version, reported in the client's
// User-Agent and in the agent runtime the exporter registers.
package version

// Version is the version of ezop-otel-go.
const Version = "0.1.0"
