package benchmarks

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/ezopotel/ezop-otel-go/exporter"
)

// TestSmoke checks the benchmarks' plumbing in a moment: the sample
// bodies, the helper process and one small end-to-end run. It runs with
// go test ./...; the benchmarks themselves run only with -bench.
func TestSmoke(t *testing.T) {
	reqs, perSpan := sampleBodies()
	if len(reqs) == 0 || perSpan < 3 || perSpan > 7 {
		t.Fatalf("%d sample bodies, %.2f requests per span", len(reqs), perSpan)
	}
	for _, r := range reqs {
		if !json.Valid(r.body) {
			t.Fatalf("invalid body %s", r.body)
		}
	}

	srv := startHelper(t, "ezoptest")
	exp, err := exporter.New(context.Background(), exporter.WithEndpoint(srv.URL), exporter.WithAPIKey(srv.Key))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(agentResource), sdktrace.WithBatcher(exp))
	w := workload
	w.Traces = 3
	w.Run(context.Background(), tp.Tracer("smoke"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	got := srv.stats(t)
	if got.runs != 3 || got.spans != 3*spansPerTrace || got.rejected != 0 {
		t.Errorf("emulator holds %+v", got)
	}
	if srv.cpu(t) <= 0 {
		t.Error("no CPU time from the helper")
	}
}
