package exporter_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/ezopotel/ezop-otel-go/exporter"
)

// Check before the first run: is the endpoint the Ezop API, and does it
// accept the key? Each answer is an error to branch on; its message names
// the fix. (Compiled, not run: it needs an Ezop.)
func ExampleCheck() {
	ctx := context.Background()
	err := exporter.Check(ctx) // EZOP_API_URL, EZOP_API_KEY, as New reads them
	switch {
	case err == nil:
		fmt.Println("ezop: reachable, API key accepted")
	case errors.Is(err, exporter.ErrAuth):
		log.Fatalf("fix the API key: %v", err)
	case errors.Is(err, exporter.ErrUnreachable), errors.Is(err, exporter.ErrNotEzopAPI):
		log.Fatalf("fix the endpoint: %v", err)
	default: // exporter.ErrRateLimited, ErrServerError, ErrInvalidConfig
		log.Printf("ezop: %v", err)
	}
}

// Metrics: the exporter reports its health through the MeterProvider it
// is given (else the global one). (Compiled, not run.)
func ExampleWithMeterProvider() {
	ctx := context.Background()
	// An SDK MeterProvider with the reader of your choice (a periodic
	// reader and an OTLP metric exporter, Prometheus, …).
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	exp, err := exporter.New(ctx, exporter.WithMeterProvider(mp))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = exp.Shutdown(ctx) }()
}
