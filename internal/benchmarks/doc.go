// Package benchmarks holds the exporter's benchmarks (issue 5), measured
// side by side in one run so that their ratios hold on a noisy machine:
//
//	go test -run='^$' -bench=Ezop -benchtime=3s -timeout=15m ./internal/benchmarks/
//
// BenchmarkEzop runs, in order:
//
//   - Limit: raw net/http loopback POSTs of Ezop-sized JSON bodies (the
//     exporter's own request bodies for the benchmark's traces) to a
//     minimal handler, at the exporter's concurrency (16): the most
//     requests per second this machine does.
//   - Ours: spans/s and events/s end to end through a TracerProvider, a
//     BatchSpanProcessor and the exporter into the ezoptest emulator, for
//     traces of 1 root and 9 descendants up to depth 3, 8 attributes and 2
//     span events per span; client CPU per request and per span and
//     allocations per span.
//   - AnchorOTLP and AnchorNoop: the same workload through the OTel OTLP/HTTP
//     exporter (otlptracehttp) into a loopback sink that reads and discards
//     bodies, and through a no-op exporter.
//   - HotPath/noop and HotPath/ezop: the cost of starting and ending spans
//     in the instrumented goroutine with a no-op exporter and with ours;
//     HotPath/ezop-metrics: ours with its metrics on (an SDK MeterProvider
//     collected every 100ms), side by side with HotPath/ezop (metrics off).
//   - Latency/parallel and Latency/serial: from ExportSpans to "fully
//     stored" for one trace when every request takes 20 ms, with the
//     exporter's concurrency and with one request at a time, against the
//     critical-path bound (depth+3)×20 ms.
//
// and then logs a summary with the ratios against the targets.
//
// Every server (the minimal handler, the emulator, the OTLP sink) runs in a
// child process (the test binary started again in a helper mode), so that
// the benchmark process's CPU time (getrusage) is the client's alone and
// the server's CPU is measured apart. BENCHMARKS.md at the repository root
// records the results.
package benchmarks
