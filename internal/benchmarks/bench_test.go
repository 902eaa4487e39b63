package benchmarks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ezopotel/ezop-otel-go/bridge"
	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/internal/reliability"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

// The workload of every benchmark: traces of 1 root and 9 descendants up
// to depth 3, 8 attributes and 2 span events per span.
var workload = reliability.Workload{Spans: 9, Depth: 3, Attrs: 8, Events: 2, Seed: 42}

const (
	spansPerTrace  = 10 // OTel spans, the root included
	eventsPerTrace = 20 // OTel span events
)

var agentResource = resource.NewSchemaless(
	attribute.String("service.name", "support-svc"),
	semconv.AgentName("support-agent"),
	semconv.AgentOwner("platform"),
	semconv.AgentVersion("2.1.0"),
)

// results keeps the metrics of the last run of each benchmark for the
// summary.
var (
	resultsMu sync.Mutex
	results   = map[string]map[string]float64{}
)

func record(b *testing.B, name, unit string, v float64) {
	b.ReportMetric(v, unit)
	resultsMu.Lock()
	defer resultsMu.Unlock()
	if results[name] == nil {
		results[name] = map[string]float64{}
	}
	results[name][unit] = v
}

func result(name, unit string) (float64, bool) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	v, ok := results[name][unit]
	return v, ok
}

// BenchmarkEzop runs every measurement in one run, then logs the summary
// with the ratios against the targets.
func BenchmarkEzop(b *testing.B) {
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { b.Logf("otel: %v", err) }))
	b.Run("Limit", benchLimit)
	b.Run("Ours", func(b *testing.B) { benchPipeline(b, "Ours") })
	b.Run("OursToSink", func(b *testing.B) { benchPipeline(b, "OursToSink") })
	b.Run("AnchorOTLP", func(b *testing.B) { benchPipeline(b, "AnchorOTLP") })
	b.Run("AnchorNoop", func(b *testing.B) { benchPipeline(b, "AnchorNoop") })
	b.Run("HotPath/noop", func(b *testing.B) { benchHotPath(b, hotNoop, 0) })
	b.Run("HotPath/ezop", func(b *testing.B) { benchHotPath(b, hotEzop, 0) })
	b.Run("HotPath/ezop-metrics", func(b *testing.B) { benchHotPath(b, hotEzopMetrics, 0) })
	b.Run("HotPath/noop-paced", func(b *testing.B) { benchHotPath(b, hotNoop, pacedRate) })
	b.Run("HotPath/ezop-paced", func(b *testing.B) { benchHotPath(b, hotEzop, pacedRate) })
	b.Run("HotPath/ezop-metrics-paced", func(b *testing.B) { benchHotPath(b, hotEzopMetrics, pacedRate) })
	b.Run("Latency/parallel", func(b *testing.B) { benchLatency(b, exporter.DefaultConcurrency) })
	b.Run("Latency/serial", func(b *testing.B) { benchLatency(b, 1) })
	summary(b)
}

// ── request bodies ─────────────────────────────────────────────────────────

// request is one Ezop request as the exporter sends it.
type request struct {
	method string
	body   []byte
}

var (
	bodiesOnce sync.Once
	bodies     []request
	reqPerSpan float64
)

// sampleBodies returns the requests the exporter makes for 20 traces of the
// workload (run start and end, span creates and closes, events), from the
// translation of real spans, and the requests per OTel span.
func sampleBodies() ([]request, float64) {
	bodiesOnce.Do(func() {
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithResource(agentResource), sdktrace.WithSpanProcessor(rec))
		w := workload
		w.Traces = 20
		w.Run(context.Background(), tp.Tracer("bench"))
		byTrace := map[[16]byte][]sdktrace.ReadOnlySpan{}
		for _, s := range rec.Ended() {
			byTrace[s.SpanContext().TraceID()] = append(byTrace[s.SpanContext().TraceID()], s)
		}
		tr := bridge.NewTranslator(bridge.Config{})
		add := func(method string, v any) {
			data, err := json.Marshal(v)
			if err != nil {
				panic(err)
			}
			bodies = append(bodies, request{method, data})
		}
		for _, spans := range byTrace {
			var st bridge.RunState
			p := tr.Translate(&st, spans)
			add(http.MethodPost, p.Start)
			for _, op := range p.Spans {
				add(http.MethodPost, op.Create)
				add(http.MethodPatch, op.Close)
			}
			for _, ev := range p.Events {
				add(http.MethodPost, ev)
			}
			add(http.MethodPatch, p.End)
		}
		reqPerSpan = float64(len(bodies)) / float64(w.Traces*spansPerTrace)
	})
	return bodies, reqPerSpan
}

// ── Limit ──────────────────────────────────────────────────────────────────

// benchLimit: raw net/http POSTs (and PATCHes) of the exporter's bodies
// to the minimal handler, 16 at a time.
func benchLimit(b *testing.B) {
	reqs, _ := sampleBodies()
	srv := startHelper(b, "sink")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = 64, 64, 64
	hc := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	do := func(i int) {
		r := reqs[i%len(reqs)]
		req, err := http.NewRequest(r.method, srv.URL+"/runs/5f0d2c1b-3a4e-4f6d-8b7c-9a0e1d2c3b4a/spans", bytes.NewReader(r.body))
		if err != nil {
			panic(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Authorization", "Bearer ezop_sk_0123456789abcdef0123456789abcdef")
		req.Header.Set("User-Agent", "ezop-bench")
		resp, err := hc.Do(req)
		if err != nil {
			b.Error(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			b.Errorf("status %d", resp.StatusCode)
		}
	}
	for i := range 200 { // warm the connections
		do(i)
	}
	var size int
	for _, r := range reqs {
		size += len(r.body)
	}

	b.ResetTimer()
	c0, s0, t0 := cpuTime(syscall.RUSAGE_SELF), srv.cpu(b), time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range exporter.DefaultConcurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > b.N {
					return
				}
				do(i)
			}
		})
	}
	wg.Wait()
	elapsed, c1, s1 := time.Since(t0), cpuTime(syscall.RUSAGE_SELF), srv.cpu(b)
	b.StopTimer()

	n := float64(b.N)
	record(b, "Limit", "req/s", n/elapsed.Seconds())
	record(b, "Limit", "client-µs/req", float64((c1-c0).Microseconds())/n)
	record(b, "Limit", "server-µs/req", float64((s1-s0).Microseconds())/n)
	record(b, "Limit", "body-bytes", float64(size)/float64(len(reqs)))
}

// ── Ours and the anchors ───────────────────────────────────────────────────

// benchPipeline runs b.N traces of the workload end to end through a
// TracerProvider with a BatchSpanProcessor (blocking when its queue is
// full, so that nothing is dropped and the rate is the pipeline's) and the
// exporter under test, until the last span is delivered.
func benchPipeline(b *testing.B, name string) {
	var (
		exp   sdktrace.SpanExporter
		ours  *exporter.Exporter
		srv   *helper
		drops atomic.Int64
	)
	switch name {
	case "Ours", "OursToSink":
		if name == "Ours" {
			srv = startHelper(b, "ezoptest")
		} else {
			srv = startHelper(b, "sink")
			srv.Key = "ezop_sk_bench"
		}
		e, err := exporter.New(context.Background(),
			exporter.WithEndpoint(srv.URL), exporter.WithAPIKey(srv.Key),
			exporter.WithErrorHandler(otel.ErrorHandlerFunc(func(err error) {
				var de *exporter.DropError
				if errors.As(err, &de) {
					drops.Add(de.Count)
					b.Errorf("dropped: %v", err)
				}
			})))
		if err != nil {
			b.Fatal(err)
		}
		exp, ours = e, e
	case "AnchorOTLP":
		srv = startHelper(b, "otlp")
		e, err := otlptracehttp.New(context.Background(),
			otlptracehttp.WithEndpointURL(srv.URL+"/v1/traces"), otlptracehttp.WithInsecure())
		if err != nil {
			b.Fatal(err)
		}
		exp = e
	case "AnchorNoop":
		exp = tracetest.NewNoopExporter()
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(agentResource),
		sdktrace.WithBatcher(exp, sdktrace.WithBlocking()))
	tracer := tp.Tracer("bench")
	ctx := context.Background()
	defer func() { _ = tp.Shutdown(ctx) }()

	// Warm up (the agent's registration, connections), then start clean.
	w := workload
	w.Traces, w.First = 20, 1<<30
	w.Run(ctx, tracer)
	if err := tp.ForceFlush(ctx); err != nil {
		b.Fatal(err)
	}
	var base exporter.Stats
	var baseStored stored
	if ours != nil {
		base = ours.Stats()
		if name == "Ours" {
			baseStored = srv.stats(b)
		}
	}
	runtime.GC()

	w = workload
	w.Traces, w.Workers = b.N, 2
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	c0, t0 := cpuTime(syscall.RUSAGE_SELF), time.Now()
	var s0 time.Duration
	if srv != nil {
		s0 = srv.cpu(b)
	}
	w.Run(ctx, tracer)
	if err := tp.ForceFlush(ctx); err != nil {
		b.Fatal(err)
	}
	elapsed, c1 := time.Since(t0), cpuTime(syscall.RUSAGE_SELF)
	var s1 time.Duration
	if srv != nil {
		s1 = srv.cpu(b)
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)

	spans := float64(b.N * spansPerTrace)
	secs := elapsed.Seconds()
	client := float64((c1 - c0).Microseconds())
	record(b, name, "spans/s", spans/secs)
	record(b, name, "otel-events/s", float64(b.N*eventsPerTrace)/secs)
	record(b, name, "client-µs/span", client/spans)
	record(b, name, "allocs/span", float64(ms1.Mallocs-ms0.Mallocs)/spans)
	record(b, name, "client-cpu-cores", client/1e6/secs)
	if srv != nil {
		record(b, name, "server-cpu-cores", float64((s1-s0).Microseconds())/1e6/secs)
	}
	if ours != nil {
		st := ours.Stats()
		reqs := float64(st.Requests - base.Requests)
		record(b, name, "ezop-events/s", float64(st.EventsSent-base.EventsSent)/secs)
		record(b, name, "req/s", reqs/secs)
		record(b, name, "req/span", reqs/spans)
		record(b, name, "client-µs/req", client/reqs)
		record(b, name, "server-µs/req", float64((s1-s0).Microseconds())/reqs)
		// Everything arrived: what the exporter counts is what the
		// emulator stored, and nothing was refused or dropped.
		if st.SpansDropped != 0 || st.EventsDropped != 0 || drops.Load() != 0 {
			b.Errorf("dropped: %v", st.Dropped)
		}
		if name == "OursToSink" {
			return
		}
		got := srv.stats(b)
		runs, spansStored := got.runs-baseStored.runs, got.spans-baseStored.spans
		if runs != b.N || int64(spansStored) != st.SpansSent-base.SpansSent || spansStored != b.N*spansPerTrace ||
			int64(got.events-baseStored.events) != st.EventsSent-base.EventsSent || got.rejected != 0 {
			b.Errorf("emulator holds %d runs, %d spans, %d events (%d rejected); want %d runs, %d spans, %d events",
				runs, spansStored, got.events-baseStored.events, got.rejected, b.N, b.N*spansPerTrace, st.EventsSent-base.EventsSent)
		}
		if b.N > 100 { // keep the emulator's memory small between runs
			srv.call(b, "reset")
		}
	}
}

// ── Hot path ───────────────────────────────────────────────────────────────

// counting counts the spans a BatchSpanProcessor hands over.
type counting struct {
	sdktrace.SpanExporter
	n atomic.Int64
}

func (c *counting) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	c.n.Add(int64(len(spans)))
	return c.SpanExporter.ExportSpans(ctx, spans)
}

// pacedRate is the trace rate of the paced hot-path variants: 150 traces
// (1500 spans) a second, about half of what the exporter delivers into the
// emulator on 2 cores, so that it keeps up and exports every span.
const pacedRate = 150

// benchHotPath measures the instrumented goroutine: b.N traces made in the
// benchmark's goroutine, locked to its OS thread so that the thread's CPU
// time is the cost of span start/end (attributes, events) in it, whatever
// the exporter does in the background. The processor is the default
// BatchSpanProcessor (it drops what does not fit its queue). With rate 0
// the traces come as fast as the goroutine makes them (the exporter cannot
// keep up, and the processor drops most spans); otherwise at rate traces a
// second, which the exporter keeps up with.
func benchHotPath(b *testing.B, mode hotMode, rate float64) {
	name := "HotPath/noop"
	var inner sdktrace.SpanExporter = tracetest.NewNoopExporter()
	if mode != hotNoop {
		name = "HotPath/ezop"
		srv := startHelper(b, "ezoptest")
		opts := []exporter.Option{exporter.WithEndpoint(srv.URL), exporter.WithAPIKey(srv.Key),
			exporter.WithErrorHandler(otel.ErrorHandlerFunc(func(error) {}))}
		if mode == hotEzopMetrics {
			name = "HotPath/ezop-metrics"
			opts = append(opts, exporter.WithMeterProvider(collectingMeterProvider(b)))
		}
		e, err := exporter.New(context.Background(), opts...)
		if err != nil {
			b.Fatal(err)
		}
		inner = e
	}
	exp := &counting{SpanExporter: inner}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(agentResource), sdktrace.WithBatcher(exp))
	tracer := tp.Tracer("bench")
	ctx := context.Background()
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_ = tp.Shutdown(sctx)
	}()
	w := workload
	for i := range 20 { // warm up
		w.Trace(ctx, tracer, 1<<30+i)
	}
	_ = tp.ForceFlush(ctx)
	handed0 := exp.n.Load()

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	c0, t0 := cpuTime(rusageThread), time.Now()
	for i := range b.N {
		if rate > 0 {
			// Sleep until this trace's time (not counted as CPU).
			time.Sleep(time.Until(t0.Add(time.Duration(float64(i) / rate * float64(time.Second)))))
		}
		w.Trace(ctx, tracer, i)
	}
	elapsed, c1 := time.Since(t0), cpuTime(rusageThread)
	b.StopTimer()
	spans := float64(b.N * spansPerTrace)
	_ = tp.ForceFlush(ctx)
	if rate > 0 {
		name += "-paced"
	} else {
		record(b, name, "ns/span", float64(elapsed.Nanoseconds())/spans)
	}
	record(b, name, "thread-cpu-ns/span", float64((c1-c0).Nanoseconds())/spans)
	record(b, name, "exported-%", 100*float64(exp.n.Load()-handed0)/spans)
}

// ── Latency ────────────────────────────────────────────────────────────────

const requestLatency = 20 * time.Millisecond

// benchLatency measures, for one trace at a time with every request taking
// 20 ms, the time from ExportSpans to the run being fully stored
// (ExportSpans returns then), with the given concurrency.
func benchLatency(b *testing.B, concurrency int) {
	name := "Latency/parallel"
	if concurrency == 1 {
		name = "Latency/serial"
	}
	srv := startHelper(b, "ezoptest")
	exp, err := exporter.New(context.Background(), exporter.WithEndpoint(srv.URL), exporter.WithAPIKey(srv.Key),
		exporter.WithConcurrency(concurrency),
		exporter.WithErrorHandler(otel.ErrorHandlerFunc(func(err error) { b.Errorf("exporter: %v", err) })))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	defer func() { _ = exp.Shutdown(ctx) }()

	// The traces, recorded beforehand; the first registers the agent.
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(agentResource), sdktrace.WithSpanProcessor(rec))
	w := workload
	w.Traces = b.N + 1
	w.Run(ctx, tp.Tracer("bench"))
	byTrace := map[[16]byte][]sdktrace.ReadOnlySpan{}
	var order [][16]byte
	for _, s := range rec.Ended() {
		id := s.SpanContext().TraceID()
		if byTrace[id] == nil {
			order = append(order, id)
		}
		byTrace[id] = append(byTrace[id], s)
	}
	if err := exp.ExportSpans(ctx, byTrace[order[0]]); err != nil {
		b.Fatal(err)
	}
	srv.call(b, "latency "+requestLatency.String())
	req0 := exp.Stats().Requests

	var total, worst time.Duration
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for _, id := range order[1:] {
		t0 := time.Now()
		if err := exp.ExportSpans(ctx, byTrace[id]); err != nil {
			b.Fatal(err)
		}
		d := time.Since(t0)
		total += d
		worst = max(worst, d)
		lat = append(lat, d)
	}
	b.StopTimer()
	srv.call(b, "latency 0s")
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	reqs := float64(exp.Stats().Requests-req0) / float64(b.N)
	got := srv.stats(b)
	if got.runs != b.N+1 || got.spans != (b.N+1)*spansPerTrace || got.rejected != 0 {
		b.Errorf("emulator holds %d runs, %d spans (%d rejected)", got.runs, got.spans, got.rejected)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	record(b, name, "ms/trace", ms(total)/float64(b.N))
	record(b, name, "p50-ms", ms(lat[len(lat)/2]))
	record(b, name, "max-ms", ms(worst))
	record(b, name, "req/trace", reqs)
	record(b, name, "bound-ms", ms(time.Duration(workload.Depth+3)*requestLatency))
	record(b, name, "serial-bound-ms", reqs*ms(requestLatency))
}

// ── summary ────────────────────────────────────────────────────────────────

func summary(b *testing.B) {
	var sb strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&sb, format+"\n", args...) }
	get := func(name, unit string) float64 { v, _ := result(name, unit); return v }
	line("summary (%s, GOMAXPROCS %d):", runtime.Version(), runtime.GOMAXPROCS(0))
	limit, reqSpan := get("Limit", "req/s"), get("Ours", "req/span")
	if limit > 0 && reqSpan > 0 {
		want := 0.85 * limit / reqSpan
		got := get("Ours", "spans/s")
		line("  throughput: %.0f spans/s; limit %.0f req/s ÷ %.2f req/span = %.0f spans/s; target ≥ 85%% = %.0f: %.0f%% of the limit → %s",
			got, limit, reqSpan, limit/reqSpan, want, 100*got/(limit/reqSpan), verdict(got >= want))
	}
	raw, ours := get("Limit", "client-µs/req"), get("Ours", "client-µs/req")
	if raw > 0 && ours > 0 {
		noop := get("AnchorNoop", "client-µs/span") * spansPerTrace / (reqSpan * spansPerTrace)
		line("  client CPU: %.1f µs/req (%.1f µs/req without the SDK's own span work) vs raw %.1f µs/req: %.2f× (%.2f×); target ≤ 1.3× → %s",
			ours, ours-noop, raw, ours/raw, (ours-noop)/raw, verdict(ours <= 1.3*raw))
	}
	hn, he := get("HotPath/noop", "thread-cpu-ns/span"), get("HotPath/ezop", "thread-cpu-ns/span")
	if hn > 0 && he > 0 {
		line("  hot path, flood: %.0f vs %.0f ns/span of thread CPU (wall %.0f vs %.0f): %+.1f%%; target within 5%% → %s",
			he, hn, get("HotPath/ezop", "ns/span"), get("HotPath/noop", "ns/span"), 100*(he/hn-1), verdict(he <= 1.05*hn))
	}
	pn, pe := get("HotPath/noop-paced", "thread-cpu-ns/span"), get("HotPath/ezop-paced", "thread-cpu-ns/span")
	if pn > 0 && pe > 0 {
		line("  hot path, paced (%d spans/s, all exported): %.0f vs %.0f ns/span of thread CPU: %+.1f%%; target within 5%% → %s",
			pacedRate*spansPerTrace, pe, pn, 100*(pe/pn-1), verdict(pe <= 1.05*pn))
	}
	// Metrics on (an SDK MeterProvider collected every 100ms) against off.
	for _, v := range []string{"", "-paced"} {
		off, on := get("HotPath/ezop"+v, "thread-cpu-ns/span"), get("HotPath/ezop-metrics"+v, "thread-cpu-ns/span")
		if off > 0 && on > 0 {
			line("  hot path%s, metrics on vs off: %.0f vs %.0f ns/span of thread CPU: %+.1f%%; target within 5%% → %s",
				v, on, off, 100*(on/off-1), verdict(on <= 1.05*off))
		}
	}
	lp, bound := get("Latency/parallel", "ms/trace"), get("Latency/parallel", "bound-ms")
	if lp > 0 && bound > 0 {
		line("  latency: %.0f ms/trace vs the critical path %.0f ms: %.2f×; one request at a time %.0f ms; target ≤ 1.5× → %s",
			lp, bound, lp/bound, get("Latency/serial", "ms/trace"), verdict(lp <= 1.5*bound))
	}
	sc, cc := get("Ours", "server-cpu-cores"), get("Ours", "client-cpu-cores")
	if sc > 0 {
		line("  CPU while Ours ran: client %.2f cores, emulator %.2f cores (of %d)", cc, sc, runtime.NumCPU())
	}
	// Printed, not logged: a parent benchmark's log is not shown.
	fmt.Print(sb.String())
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
