package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/ezoptest"
)

// Throughput into ezoptest of the same workload through the two paths:
// b.N traces of 4 spans over two services (A's root and client span, B's
// root with the remote parent and its LLM call; 2 runs, B's a child run of
// A's). The clock runs from the first span handed over until Ezop has
// every run ended; spans/s counts OTel spans in.
//
//	go test -run XXX -bench . -benchtime 4000x   (in collector/cmd/otelcol-ezop)

// tracesPerRequest is how many traces an SDK's batch (512 spans) carries
// per service.
const tracesPerRequest = 256

// BenchmarkCollectorPath: services send OTLP/HTTP (protobuf) to the
// distribution running in-process; the batch processor, the sending queue
// and the ezop exporter take it to Ezop.
func BenchmarkCollectorPath(b *testing.B) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	c := startCollector(b, srv, "")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer client.CloseIdleConnections()

	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i += tracesPerRequest {
		a, bt := ptrace.NewTraces(), ptrace.NewTraces()
		as, bs := newService(a, "agent-a", "python"), newService(bt, "agent-b", "nodejs")
		for j := i; j < min(i+tracesPerRequest, b.N); j++ {
			appendTrace(uint64(j), as, bs)
		}
		c.post(b, client, bt, false)
		c.post(b, client, a, false)
	}
	waitRunsEnded(b, srv, 2*b.N, func() any { return "" })
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(4*b.N)/elapsed.Seconds(), "spans/s")
	c.stop(b)
	if rj := srv.Rejected(); len(rj) > 0 {
		b.Errorf("refused: %v", rj[0])
	}
}

// BenchmarkLibraryPath: the same traces made by the OpenTelemetry SDK in
// this process, one TracerProvider per service, through batching span
// processors into the library's exporter, set up as the Collector
// component is by default (remote parent linking on, 10000 waiting
// traces: B's batches, whose roots wait for A's spans, come first).
func BenchmarkLibraryPath(b *testing.B) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	exp, err := exporter.New(context.Background(),
		exporter.WithEndpoint(srv.URL), exporter.WithAPIKey(srv.APIKey),
		// The Collector component's defaults where they differ.
		exporter.WithRemoteParentLinking(true), exporter.WithMaxTraces(10000))
	if err != nil {
		b.Fatal(err)
	}
	provider := func(name, lang string) *sdktrace.TracerProvider {
		return sdktrace.NewTracerProvider(
			sdktrace.WithBatcher(exp, sdktrace.WithBlocking(), sdktrace.WithMaxExportBatchSize(512)),
			sdktrace.WithResource(resource.NewSchemaless(
				attribute.String("service.name", name), attribute.String("service.namespace", "platform"),
				attribute.String("service.version", "1.0.0"), attribute.String("telemetry.sdk.language", lang),
				attribute.String("ezop.agent.runtime", lang))))
	}
	tpA, tpB := provider("agent-a", "python"), provider("agent-b", "nodejs")
	trA, trB := tpA.Tracer("a"), tpB.Tracer("b")
	llmAttrs := trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", "gpt-test"),
		attribute.Int("gen_ai.usage.input_tokens", 7), attribute.Int("gen_ai.usage.output_tokens", 3))

	b.ResetTimer()
	start := time.Now()
	for range b.N {
		ctx, aRoot := trA.Start(context.Background(), "a root", trace.WithSpanKind(trace.SpanKindServer))
		cctx, call := trA.Start(ctx, "a call b", trace.WithSpanKind(trace.SpanKindClient))
		bctx := trace.ContextWithRemoteSpanContext(context.Background(), trace.SpanContextFromContext(cctx))
		bctx, bRoot := trB.Start(bctx, "b root", trace.WithSpanKind(trace.SpanKindServer))
		_, llm := trB.Start(bctx, "b chat", llmAttrs)
		llm.End()
		bRoot.End()
		call.End()
		aRoot.End()
	}
	ctx := context.Background()
	_ = tpB.ForceFlush(ctx)
	_ = tpA.ForceFlush(ctx)
	waitRunsEnded(b, srv, 2*b.N, func() any { return exp.Stats() })
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(4*b.N)/elapsed.Seconds(), "spans/s")
	_ = tpB.Shutdown(ctx)
	_ = tpA.Shutdown(ctx)
	if rj := srv.Rejected(); len(rj) > 0 {
		b.Errorf("refused: %v", rj[0])
	}
}

// waitRunsEnded waits until Ezop has ended n runs.
func waitRunsEnded(b *testing.B, srv *ezoptest.Server, n int, diag func() any) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for srv.RequestCount(ezoptest.EndpointEndRun) < n {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d runs ended; %v", srv.RequestCount(ezoptest.EndpointEndRun), n, diag())
		}
		time.Sleep(2 * time.Millisecond)
	}
}
