package benchmarks

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/exporter"
)

// The soak benchmarks measure the exporter's memory over many traces,
// without a server's cost in the way: requests are answered in process by
// stubAPI, as the real server would answer them when all goes well.
//
//	go test -run='^$' -bench=Soak -benchtime=1000000x ./internal/benchmarks/
//	go test -run='^$' -bench=RememberedTrace -benchtime=2000x ./internal/benchmarks/

// stubAPI answers every Ezop request with success and the ids a client
// needs (agent, version, run).
type stubAPI struct{ runs atomic.Int64 }

func (s *stubAPI) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	id := "6f1c8f8e-2b7a-4c55-9d0e-6b1f0c3e7a21"
	status := http.StatusOK
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/runs"):
		n := s.runs.Add(1)
		id = fmt.Sprintf("00000000-0000-4000-8000-%012x", n)
		status = http.StatusCreated
	case r.Method == http.MethodPost && r.URL.Path != "/agents/register":
		status = http.StatusCreated
	}
	body := `{"success":true,"data":{"id":"` + id + `","status":"running"},"error":null}`
	return &http.Response{
		StatusCode: status, Status: strconv.Itoa(status), Request: r,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}, nil
}

// soakTrace returns trace number i: a root and two children (an LLM call
// and a tool call), as the SDK would hand them over, with a prompt of
// promptBytes on the root.
func soakTrace(i int, promptBytes int) []sdktrace.ReadOnlySpan {
	var tid trace.TraceID
	tid[0] = 1
	for k := 0; k < 8; k++ {
		tid[8+k] = byte(i >> (8 * k))
	}
	sc := func(n byte) trace.SpanContext {
		return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{n, 1}, TraceFlags: trace.FlagsSampled})
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(i) * time.Millisecond)
	root := tracetest.SpanStub{Name: "invoke_agent support", SpanContext: sc(1), StartTime: t0, EndTime: t0.Add(time.Second),
		Resource: agentResource, Attributes: []attribute.KeyValue{
			attribute.String("gen_ai.operation.name", "invoke_agent"),
			attribute.String("app.prompt", strings.Repeat("p", promptBytes)),
		}}
	llm := tracetest.SpanStub{Name: "chat gpt-4o", SpanContext: sc(2), Parent: sc(1), StartTime: t0, EndTime: t0.Add(500 * time.Millisecond),
		Resource: agentResource, Attributes: []attribute.KeyValue{
			attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", "gpt-4o"),
			attribute.Int("gen_ai.usage.input_tokens", 800), attribute.Int("gen_ai.usage.output_tokens", 60),
		}}
	tool := tracetest.SpanStub{Name: "execute_tool lookup", SpanContext: sc(3), Parent: sc(1), StartTime: t0, EndTime: t0.Add(600 * time.Millisecond),
		Resource: agentResource, Attributes: []attribute.KeyValue{
			attribute.String("gen_ai.operation.name", "execute_tool"), attribute.String("gen_ai.tool.name", "lookup"),
		}}
	return []sdktrace.ReadOnlySpan{llm.Snapshot(), tool.Snapshot(), root.Snapshot()}
}

func heapInUse() uint64 { // live heap objects after a full GC
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func newSoakExporter(b testing.TB) *exporter.Exporter {
	exp, err := exporter.New(context.Background(), exporter.WithEndpoint("https://api.ezop.test"), exporter.WithAPIKey("ezop_sk_soak"),
		exporter.WithHTTPClient(&http.Client{Transport: &stubAPI{}}), exporter.WithConcurrency(32),
		exporter.WithMaxValueBytes(32<<10), exporter.WithErrorHandler(otelDiscard{}))
	if err != nil {
		b.Fatal(err)
	}
	return exp
}

// BenchmarkSoak sends b.N traces through one exporter with its default
// bounds, in batches of 512 spans as the batching processor hands them
// over, and samples the live heap: it must stay flat once the remembered
// traces reach their bound.
func BenchmarkSoak(b *testing.B) {
	exp := newSoakExporter(b)
	ctx := context.Background()
	base := heapInUse()
	var maxHeap uint64
	samples := map[int]uint64{}
	marks := map[int]bool{b.N / 10: true, b.N / 2: true, b.N - 1: true}
	batch := make([]sdktrace.ReadOnlySpan, 0, 512)
	b.ResetTimer()
	for i := range b.N {
		batch = append(batch, soakTrace(i, 256)...)
		if len(batch) >= 510 || i == b.N-1 {
			if err := exp.ExportSpans(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
		if marks[i] {
			h := heapInUse()
			samples[i] = h
			maxHeap = max(maxHeap, h)
		}
	}
	b.StopTimer()
	st := exp.Stats()
	if err := exp.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
	mib := func(v uint64) float64 { return float64(int64(v)-int64(base)) / (1 << 20) }
	b.ReportMetric(mib(samples[b.N/10]), "heapMiB@10%")
	b.ReportMetric(mib(samples[b.N/2]), "heapMiB@50%")
	b.ReportMetric(mib(samples[b.N-1]), "heapMiB@100%")
	b.ReportMetric(float64(st.RememberedTraces), "remembered-traces")
	b.ReportMetric(float64(st.RememberedBytes)/(1<<20), "remembered-MiB")
	b.ReportMetric(float64(st.SpansDropped), "spans-dropped")
}

// BenchmarkRememberedTrace measures what one finished trace costs while it
// is remembered for its late spans: b.N traces, each with a 20 KiB prompt
// on its root, all delivered, then the live heap over the traces held.
func BenchmarkRememberedTrace(b *testing.B) {
	exp := newSoakExporter(b)
	ctx := context.Background()
	base := heapInUse() // before the spans exist: what stays is what the exporter keeps
	traces := make([][]sdktrace.ReadOnlySpan, b.N)
	for i := range traces {
		traces[i] = soakTrace(i, 20<<10)
	}
	b.ResetTimer()
	for i := range b.N {
		if err := exp.ExportSpans(ctx, traces[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	traces = nil // only the exporter holds them now
	held := heapInUse()
	b.ReportMetric(float64(int64(held)-int64(base))/float64(b.N), "heap-bytes/trace")
	runtime.KeepAlive(exp)
	if err := exp.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
}

type otelDiscard struct{}

func (otelDiscard) Handle(error) {}
