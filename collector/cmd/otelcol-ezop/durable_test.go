package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/ezopotel/ezop-otel-go/ezoptest"
)

// childConfigEnv makes the test binary run as the distribution, with the
// configuration file it names: a Collector the test can SIGKILL.
const childConfigEnv = "OTELCOL_EZOP_TEST_CHILD_CONFIG"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(childConfigEnv); cfg != "" {
		col, err := otelcol.NewCollector(settings("file:" + cfg))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if err := col.Run(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// durableConfig is the distribution with a persistent sending queue, as
// collector/otelcol-ezop-durable.yaml sets it up: no batch processor, whose
// batches live in memory after the receiver has acknowledged them (the
// sending queue batches instead).
func durableConfig(httpAddr, dir string, srv *ezoptest.Server) string {
	return fmt.Sprintf(`
extensions:
  file_storage:
    directory: %s
receivers:
  otlp:
    protocols:
      http:
        endpoint: %s
exporters:
  ezop:
    endpoint: %s
    api_key: %s
    root_wait: 2s
    capture_content: true
    sending_queue:
      storage: file_storage
      num_consumers: 8
      queue_size: 10000
service:
  extensions: [file_storage]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [ezop]
    logs:
      receivers: [otlp]
      exporters: [ezop]
  telemetry:
    logs:
      level: warn
    metrics:
      level: none
`, dir, httpAddr, srv.URL, srv.APIKey)
}

// startChild starts the distribution in a child process and waits until
// it accepts OTLP.
func startChild(t *testing.T, cfgPath, httpAddr string, logs *syncBuffer) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childConfigEnv+"="+cfgPath)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Post("http://"+httpAddr+"/v1/traces", "application/x-protobuf", bytes.NewReader(nil))
		if err == nil {
			resp.Body.Close()
			return cmd
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("the collector did not start: %v\n%s", err, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// durableTrace is trace i: a root and two children, one OTLP request.
func durableTrace(i int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "durable-agent")
	rs.Resource().Attributes().PutStr("service.namespace", "tests")
	ss := rs.ScopeSpans().AppendEmpty()
	var tid pcommon.TraceID
	tid[0], tid[14], tid[15] = 7, byte(i>>8), byte(i)
	t0 := pcommon.NewTimestampFromTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(i) * time.Second))
	for n := byte(1); n <= 3; n++ {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(tid)
		s.SetSpanID(pcommon.SpanID{n, byte(i >> 8), byte(i)})
		if n > 1 {
			s.SetParentSpanID(pcommon.SpanID{1, byte(i >> 8), byte(i)})
			s.Attributes().PutStr("gen_ai.operation.name", "chat")
			s.Attributes().PutStr("gen_ai.request.model", "m")
			s.Attributes().PutInt("gen_ai.usage.input_tokens", int64(i))
		}
		s.SetName(fmt.Sprintf("span %d", n))
		s.SetStartTimestamp(t0)
		s.SetEndTimestamp(t0 + pcommon.Timestamp(n)*1e6)
	}
	return td
}

// durableLogs are trace i's log records: the prompt of each model call,
// as GenAI instrumentation records it, with a canary naming the call.
func durableLogs(i int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "durable-agent")
	rl.Resource().Attributes().PutStr("service.namespace", "tests")
	sl := rl.ScopeLogs().AppendEmpty()
	var tid pcommon.TraceID
	tid[0], tid[14], tid[15] = 7, byte(i>>8), byte(i)
	t0 := pcommon.NewTimestampFromTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(i) * time.Second))
	for n := byte(2); n <= 3; n++ {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTraceID(tid)
		lr.SetSpanID(pcommon.SpanID{n, byte(i >> 8), byte(i)})
		lr.SetTimestamp(t0)
		lr.SetEventName("gen_ai.user.message")
		lr.Body().SetEmptyMap().PutStr("content", durableCanary(i, n))
	}
	return ld
}

func durableCanary(i int, n byte) string { return fmt.Sprintf("prompt-%d-%d-canary", i, n) }

// A Collector with its sending queue on file_storage, killed with SIGKILL
// in the middle of a stream of traces and their log records and started
// again on the same storage, loses nothing it acknowledged to its sender:
// every trace it answered 200 to is on Ezop, each span once, one run per
// trace, every run ended, and every record's prompt once, on its span. (What the sender was not answered it sends again, as an SDK's
// OTLP exporter retries.)
func TestDurableAcrossKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills Collector processes")
	}
	durableAcrossKill(t, false)
}

// The same with the traces' log records through the logs pipeline of the
// same Collector, half of them sent before their spans and half after:
// every record's prompt is on Ezop once, on its span. Where a record went
// depends on when it came, so this holds only because the run store keeps
// where each record went (exporter.RecordStore).
func TestDurableLogsAcrossKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills Collector processes")
	}
	durableAcrossKill(t, true)
}

func durableAcrossKill(t *testing.T, withLogs bool) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	srv.SetLatency(5 * time.Millisecond) // deliveries are in flight when the kill comes
	dir := t.TempDir()
	httpAddr := freePort(t)
	cfgPath := filepath.Join(dir, "config.yaml")
	storage := filepath.Join(dir, "storage")
	if err := os.MkdirAll(storage, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(durableConfig(httpAddr, storage, srv)), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	child := startChild(t, cfgPath, httpAddr, &logs)

	const traces = 400
	acked := make([]bool, traces)
	client := &http.Client{Timeout: 5 * time.Second}
	send := func(i int) bool {
		body, err := ptraceotlp.NewExportRequestFromTraces(durableTrace(i)).MarshalProto()
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Post("http://"+httpAddr+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	logsAcked := make([]bool, traces)
	sendLogs := func(i int) bool {
		body, err := plogotlp.NewExportRequestFromLogs(durableLogs(i)).MarshalProto()
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Post("http://"+httpAddr+"/v1/logs", "application/x-protobuf", bytes.NewReader(body))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	killed := false
	for i := 0; i < traces; i++ {
		// The records of a trace come before or after its spans, as two
		// pipelines of one process deliver them.
		if withLogs && i%2 == 0 {
			logsAcked[i] = sendLogs(i)
		}
		acked[i] = send(i)
		if withLogs && i%2 == 1 {
			logsAcked[i] = sendLogs(i)
		}
		if i == traces/2 {
			// Mid-stream: deliveries of acknowledged batches are under
			// way, some not yet started.
			if err := child.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = child.Wait()
			killed = true
			child = startChild(t, cfgPath, httpAddr, &logs)
		}
	}
	if !killed {
		t.Fatal("no kill")
	}
	// The sender retries what was not acknowledged.
	for i := range acked {
		for try := 0; !acked[i] && try < 50; try++ {
			acked[i] = send(i)
		}
		if !acked[i] {
			t.Fatalf("trace %d never acknowledged", i)
		}
		for try := 0; withLogs && !logsAcked[i] && try < 50; try++ {
			logsAcked[i] = sendLogs(i)
		}
		if withLogs && !logsAcked[i] {
			t.Fatalf("the log records of trace %d never acknowledged", i)
		}
	}
	// Let the queue drain, then stop gracefully.
	deadline := time.Now().Add(90 * time.Second)
	for len(srv.AllSpans()) < 3*traces && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	_ = child.Process.Signal(syscall.SIGTERM)
	_ = child.Wait()

	runsByTrace := map[string]int{}
	for _, r := range srv.Runs() {
		m, _ := r.Metadata["otel"].(map[string]any)
		tid, _ := m["trace_id"].(string)
		runsByTrace[tid]++
		if r.Status == "running" {
			t.Errorf("run %s of trace %s left running", r.ID, tid)
		}
	}
	for i := range traces {
		var tid pcommon.TraceID
		tid[0], tid[14], tid[15] = 7, byte(i>>8), byte(i)
		if n := runsByTrace[fmt.Sprintf("%x", tid[:])]; n != 1 {
			t.Errorf("trace %d: %d runs, want 1", i, n)
		}
	}
	if n := len(srv.Runs()); n != traces {
		t.Errorf("%d runs, want %d: a run started twice", n, traces)
	}
	if n := len(srv.AllSpans()); n != 3*traces {
		t.Errorf("%d spans stored, want %d", n, 3*traces)
	}
	if withLogs {
		durablePromptsOnce(t, srv, traces)
	}
	for _, rj := range srv.Rejected() {
		switch {
		case rj.Status == http.StatusInternalServerError && (rj.Endpoint == ezoptest.EndpointCreateSpan || rj.Endpoint == ezoptest.EndpointEmitEvent):
			// A copy refused as already stored.
		case withLogs && rj.Status == http.StatusNotFound && rj.Endpoint == ezoptest.EndpointEmitEvent:
			// A record handed over again whose trace this process does
			// not know is tried on its span, which is not stored yet
			// when its spans come again: it then waits for them.
		default:
			t.Errorf("unexpected rejection: %s", rj)
		}
	}
	if out := logs.String(); bytes.Contains([]byte(out), []byte("data not delivered")) {
		t.Errorf("the collector reported data not delivered:\n%s", lastLines(out, 20))
	}
	t.Logf("%d traces, killed once mid-stream; %d repeats refused as duplicates after the restart; collector logs:\n%s",
		traces, len(srv.Rejected()), lastLines(logs.String(), 20))
}

// durablePromptsOnce checks that every prompt of durableLogs is on Ezop
// once, in an event of its own model call's span.
func durablePromptsOnce(t *testing.T, srv *ezoptest.Server, traces int) {
	t.Helper()
	spanName := map[string]string{}
	for _, sp := range srv.AllSpans() {
		if sp.Name != nil {
			spanName[sp.ID] = *sp.Name
		}
	}
	found := map[string]int{}
	wrongSpan := 0
	for _, ev := range srv.AllEvents() {
		b, err := json.Marshal([]any{ev.Input, ev.Output, ev.Metadata})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range canaryPattern.FindAllString(string(b), -1) {
			found[m]++
			var i, n int
			fmt.Sscanf(m, "prompt-%d-%d-canary", &i, &n)
			if ev.SpanID == nil || spanName[*ev.SpanID] != fmt.Sprintf("span %d", n) {
				wrongSpan++
			}
		}
	}
	for i := range traces {
		for n := byte(2); n <= 3; n++ {
			if got := found[durableCanary(i, n)]; got != 1 {
				t.Errorf("prompt %s stored %d times, want once", durableCanary(i, n), got)
			}
		}
	}
	if wrongSpan != 0 {
		t.Errorf("%d prompts on another span's event", wrongSpan)
	}
}

var canaryPattern = regexp.MustCompile(`prompt-[0-9]+-[0-9]-canary`)

// syncBuffer collects the children's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func lastLines(s string, n int) string {
	lines := bytes.Split([]byte(s), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
