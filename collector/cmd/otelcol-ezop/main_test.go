package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ezopotel/ezop-otel-go/ezoptest"
)

// OTLP span flags as current SDKs send them: sampled, and whether the
// parent is remote (bit 8: known, bit 9: remote).
const (
	flagsLocalParent  = 0x101
	flagsRemoteParent = 0x301
)

// serviceTraces builds what two services send for trace n, each as its
// own OTLP request: service A (Python) has its root "a root" and a client
// span "a call b" that calls service B (Node.js), whose root "b root" has
// the remote parent "a call b" and an LLM span "b chat" with 7 input and
// 3 output tokens.
func serviceTraces(n uint64) (a, b ptrace.Traces) {
	a, b = ptrace.NewTraces(), ptrace.NewTraces()
	appendTrace(n, newService(a, "agent-a", "python"), newService(b, "agent-b", "nodejs"))
	return a, b
}

// newService adds a resource (a service, an agent) to td and returns
// where its spans go.
func newService(td ptrace.Traces, name, lang string) ptrace.SpanSlice {
	rs := td.ResourceSpans().AppendEmpty()
	attrs := rs.Resource().Attributes()
	attrs.PutStr("service.name", name)
	attrs.PutStr("service.namespace", "platform")
	attrs.PutStr("service.version", "1.0.0")
	attrs.PutStr("telemetry.sdk.language", lang)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("opentelemetry.instrumentation." + lang)
	return ss.Spans()
}

// appendTrace appends trace n's spans of service A to as and of service B
// to bs.
func appendTrace(n uint64, as, bs ptrace.SpanSlice) {
	var tid pcommon.TraceID
	binary.BigEndian.PutUint64(tid[:8], 0x0a0a0a0a)
	binary.BigEndian.PutUint64(tid[8:], n+1)
	sid := func(k byte) pcommon.SpanID {
		var s pcommon.SpanID
		binary.BigEndian.PutUint64(s[:], (n+1)<<8|uint64(k))
		return s
	}
	t0 := time.Now().Add(-time.Second)
	ts := func(ms int) pcommon.Timestamp {
		return pcommon.NewTimestampFromTime(t0.Add(time.Duration(ms) * time.Millisecond))
	}
	span := func(spans ptrace.SpanSlice, id, parent byte, flags uint32, name string, kind ptrace.SpanKind, start, end int) ptrace.Span {
		s := spans.AppendEmpty()
		s.SetTraceID(tid)
		s.SetSpanID(sid(id))
		if parent != 0 {
			s.SetParentSpanID(sid(parent))
		}
		s.SetFlags(flags)
		s.SetName(name)
		s.SetKind(kind)
		s.SetStartTimestamp(ts(start))
		s.SetEndTimestamp(ts(end))
		return s
	}
	span(as, 1, 0, flagsLocalParent, "a root", ptrace.SpanKindServer, 0, 100)
	span(as, 2, 1, flagsLocalParent, "a call b", ptrace.SpanKindClient, 10, 90)
	span(bs, 3, 2, flagsRemoteParent, "b root", ptrace.SpanKindServer, 20, 80)
	llm := span(bs, 4, 3, flagsLocalParent, "b chat", ptrace.SpanKindInternal, 30, 70)
	llm.Attributes().PutStr("gen_ai.operation.name", "chat")
	llm.Attributes().PutStr("gen_ai.request.model", "gpt-test")
	llm.Attributes().PutInt("gen_ai.usage.input_tokens", 7)
	llm.Attributes().PutInt("gen_ai.usage.output_tokens", 3)
}

// freePort returns a loopback address with a free port.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// collector runs the distribution in-process with a configuration that
// receives OTLP on loopback ports and exports to srv.
type collector struct {
	col      *otelcol.Collector
	httpAddr string
	grpcAddr string
	done     chan error
}

func startCollector(t testing.TB, srv *ezoptest.Server, exporterExtra string) *collector {
	t.Helper()
	httpAddr, grpcAddr := freePort(t), freePort(t)
	cfg := fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
      http:
        endpoint: %s
processors:
  batch:
    timeout: 50ms
exporters:
  ezop:
    endpoint: %s
    api_key: %s
%s
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [ezop]
    logs:
      receivers: [otlp]
      processors: [batch]
      exporters: [ezop]
  telemetry:
    logs:
      level: warn
    metrics:
      level: none
`, grpcAddr, httpAddr, srv.URL, srv.APIKey, exporterExtra)
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	set := settings("file:" + path)
	set.DisableGracefulShutdown = true
	col, err := otelcol.NewCollector(set)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{col: col, httpAddr: httpAddr, grpcAddr: grpcAddr, done: make(chan error, 1)}
	go func() { c.done <- col.Run(context.Background()) }()
	deadline := time.Now().Add(30 * time.Second)
	for col.GetState() != otelcol.StateRunning {
		select {
		case err := <-c.done:
			t.Fatalf("collector stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("collector did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c
}

// stop shuts the collector down: the receiver stops, the batch processor
// and the sending queue flush, the exporter delivers what it holds.
func (c *collector) stop(t testing.TB) {
	t.Helper()
	c.col.Shutdown()
	select {
	case err := <-c.done:
		if err != nil {
			t.Fatalf("collector: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("collector did not stop")
	}
}

// post sends td as an OTLP/HTTP request, protobuf or JSON, as an SDK's
// OTLP/HTTP exporter does.
func (c *collector) post(t testing.TB, client *http.Client, td ptrace.Traces, json bool) {
	t.Helper()
	req := ptraceotlp.NewExportRequestFromTraces(td)
	var body []byte
	var err error
	ctype := "application/x-protobuf"
	if json {
		body, err = req.MarshalJSON()
		ctype = "application/json"
	} else {
		body, err = req.MarshalProto()
	}
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Post("http://"+c.httpAddr+"/v1/traces", ctype, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/traces: %s", resp.Status)
	}
}

// Two services send OTLP/HTTP to the running distribution, B (Node.js,
// JSON) before A (Python, protobuf): Ezop holds two agents, A's run, and
// B's run as a child run of A's with B's LLM call and its tokens.
func TestEndToEnd(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	c := startCollector(t, srv, "")
	a, b := serviceTraces(1)
	c.post(t, http.DefaultClient, b, true)
	// Past the batch processor's timeout: B's spans reach the exporter in
	// a batch of their own, and wait there for A's.
	time.Sleep(200 * time.Millisecond)
	c.post(t, http.DefaultClient, a, false)
	c.stop(t)

	if rj := srv.Rejected(); len(rj) > 0 {
		t.Errorf("the real server would have refused: %v", rj)
	}
	agents := map[string]ezoptest.Agent{}
	names := map[string]string{}
	for _, ag := range srv.Agents() {
		agents[ag.Name] = ag
		names[ag.ID] = ag.Name
	}
	if len(agents) != 2 || agents["agent-a"].ID == "" || agents["agent-b"].ID == "" {
		t.Fatalf("agents %v, want agent-a and agent-b", agents)
	}
	if rt := agents["agent-b"].Runtime; rt == nil || *rt != "nodejs" {
		t.Errorf("agent-b runtime %v, want nodejs (telemetry.sdk.language)", rt)
	}
	runs := map[string]ezoptest.Run{}
	for _, r := range srv.Runs() {
		runs[names[r.AgentID]] = r
	}
	ra, rb := runs["agent-a"], runs["agent-b"]
	if len(runs) != 2 || ra.ID == "" || rb.ID == "" {
		t.Fatalf("runs %+v, want one per agent", runs)
	}
	if ra.ParentRunID != nil || ra.Status != "success" {
		t.Errorf("A's run: parent %v, status %s; want a top run, success", ra.ParentRunID, ra.Status)
	}
	if rb.ParentRunID == nil || *rb.ParentRunID != ra.ID {
		t.Errorf("B's run parent_run_id %v, want A's run %s", rb.ParentRunID, ra.ID)
	}
	if rb.TriggerType != "agent" || rb.TriggerID == nil || *rb.TriggerID != agents["agent-a"].ID {
		t.Errorf("B's run trigger %s/%v, want agent/%s", rb.TriggerType, rb.TriggerID, agents["agent-a"].ID)
	}
	if rb.Status != "success" {
		t.Errorf("B's run status %s, want success", rb.Status)
	}
	var llm int
	for _, ev := range srv.Events(rb.ID) {
		if ev.Category == "llm" && ev.Type != nil && *ev.Type == "llm_response" {
			llm++
			if ev.Metadata["input_tokens"] != float64(7) || ev.Metadata["output_tokens"] != float64(3) {
				t.Errorf("LLM event tokens %v/%v, want 7/3", ev.Metadata["input_tokens"], ev.Metadata["output_tokens"])
			}
		}
	}
	if llm != 1 {
		t.Errorf("%d LLM events on B's run, want 1", llm)
	}
	// Each run's root is its top-level span, its other span under it.
	for run, want := range map[string][2]string{rb.ID: {"b root", "b chat"}, ra.ID: {"a root", "a call b"}} {
		sp := srv.Spans(run)
		if len(sp) != 2 || sp[0].Name == nil || *sp[0].Name != want[0] || sp[0].ParentID != nil ||
			sp[1].Name == nil || *sp[1].Name != want[1] || sp[1].ParentID == nil || *sp[1].ParentID != sp[0].ID {
			t.Errorf("spans %+v, want %s with %s under it", sp, want[0], want[1])
		}
	}
	t.Log("\n" + srv.Tree(ra.ID) + srv.Tree(rb.ID))
}

// The same over OTLP/gRPC, in one request, as a Go or Java service's
// exporter would send it.
func TestEndToEndGRPC(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	c := startCollector(t, srv, "")
	conn, err := grpc.NewClient(c.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	a, b := serviceTraces(2)
	b.ResourceSpans().MoveAndAppendTo(a.ResourceSpans())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(a)); err != nil {
		t.Fatal(err)
	}
	c.stop(t)
	if rj := srv.Rejected(); len(rj) > 0 {
		t.Errorf("the real server would have refused: %v", rj)
	}
	runs := srv.Runs()
	if len(runs) != 2 {
		t.Fatalf("%d runs, want 2", len(runs))
	}
	var linked int
	for _, r := range runs {
		if r.ParentRunID != nil && r.TriggerType == "agent" {
			linked++
		}
	}
	if linked != 1 {
		t.Errorf("%d child runs, want B's", linked)
	}
}

// The example configuration of the repository is valid for this
// distribution.
func TestExampleConfig(t *testing.T) {
	t.Setenv("EZOP_API_KEY", "test-key")
	t.Setenv("EZOP_STORAGE_DIR", t.TempDir())
	for _, name := range []string{"otelcol-ezop.yaml", "otelcol-ezop-durable.yaml"} {
		set := settings(filepath.Join("..", "..", name))
		col, err := otelcol.NewCollector(set)
		if err != nil {
			t.Fatal(err)
		}
		if err := col.DryRun(context.Background()); err != nil {
			t.Fatalf("collector/%s: %v", name, err)
		}
	}
}
