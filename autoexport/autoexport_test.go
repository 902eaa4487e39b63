package autoexport_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	otelautoexport "go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	_ "github.com/ezopotel/ezop-otel-go/autoexport"
	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/ezoptest"
)

// OTEL_TRACES_EXPORTER=ezop, with EZOP_API_URL and EZOP_API_KEY naming an
// emulator: autoexport builds the Ezop exporter, and a trace sent through
// it arrives as a run.
func TestSelectedByEnvironment(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	t.Setenv("OTEL_TRACES_EXPORTER", "ezop")
	t.Setenv("EZOP_API_URL", srv.URL)
	t.Setenv("EZOP_API_KEY", srv.APIKey)
	t.Setenv("EZOP_ROOT_WAIT", "5s") // read too

	ctx := context.Background()
	exp, err := otelautoexport.NewSpanExporter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := exp.(*exporter.Exporter); !ok {
		t.Fatalf("autoexport built a %T", exp)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(resource.NewSchemaless(
		attribute.String("service.name", "auto-agent"), attribute.String("service.namespace", "platform"))))
	tracer := tp.Tracer("autoexport-test")
	ctx2, root := tracer.Start(ctx, "invoke_agent auto-agent")
	_, child := tracer.Start(ctx2, "chat gpt-4o")
	child.End()
	root.End()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := tp.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}

	runs := srv.Runs()
	if len(runs) != 1 || runs[0].Status != "success" {
		t.Fatalf("runs: %+v", runs)
	}
	if spans := srv.Spans(runs[0].ID); len(spans) != 2 {
		t.Errorf("%d spans stored, want 2", len(spans))
	}
	if a := srv.Agents(); len(a) != 1 || a[0].Name != "auto-agent" || a[0].Owner != "platform" {
		t.Errorf("agents: %+v", a)
	}
	if rj := srv.Rejected(); len(rj) > 0 {
		t.Errorf("rejected: %v", rj)
	}
}

// A malformed variable fails NewSpanExporter with an error naming it.
func TestMalformedVariable(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "ezop")
	t.Setenv("EZOP_API_KEY", "ezop_sk_0123456789abcdef0123456789abcdef")
	t.Setenv("EZOP_CONCURRENCY", "many")
	_, err := otelautoexport.NewSpanExporter(context.Background())
	if err == nil || !strings.Contains(err.Error(), `EZOP_CONCURRENCY="many"`) {
		t.Fatalf("NewSpanExporter: %v", err)
	}
	if strings.Contains(err.Error(), "ezop_sk_0123456789abcdef") {
		t.Errorf("the error shows the API key: %v", err)
	}
}

// Without a key, the error says how to give one.
func TestNoKey(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "ezop")
	t.Setenv("EZOP_API_KEY", "")
	_, err := otelautoexport.NewSpanExporter(context.Background())
	if err == nil || !strings.Contains(err.Error(), "EZOP_API_KEY") {
		t.Fatalf("NewSpanExporter: %v", err)
	}
}

// OTEL_LOGS_EXPORTER=ezop: the log exporter built after the span exporter
// shares its state, so the prompt and the completion recorded as log
// records land in the model call's one llm_response.
func TestLogsSelectedByEnvironment(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	t.Setenv("OTEL_TRACES_EXPORTER", "ezop")
	t.Setenv("OTEL_LOGS_EXPORTER", "ezop")
	t.Setenv("EZOP_API_URL", srv.URL)
	t.Setenv("EZOP_API_KEY", srv.APIKey)
	t.Setenv("EZOP_CAPTURE_CONTENT", "true")

	ctx := context.Background()
	sexp, err := otelautoexport.NewSpanExporter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lexp, err := otelautoexport.NewLogExporter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(lexp)))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(sexp), sdktrace.WithResource(resource.NewSchemaless(
		attribute.String("service.name", "auto-agent"))))
	tracer := tp.Tracer("autoexport-test")
	logger := lp.Logger("openai")
	rctx, root := tracer.Start(ctx, "invoke_agent auto-agent")
	cctx, chat := tracer.Start(rctx, "chat gpt-4o", trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", "gpt-4o"),
		attribute.Int("gen_ai.usage.input_tokens", 12), attribute.Int("gen_ai.usage.output_tokens", 5)))
	emit(cctx, logger, "gen_ai.user.message", attribute.MapValue(attribute.String("content", "PROMPT-CANARY")))
	emit(cctx, logger, "gen_ai.choice", attribute.MapValue(attribute.Int("index", 0), attribute.String("finish_reason", "stop"),
		attribute.KeyValue{Key: "message", Value: attribute.MapValue(attribute.String("content", "ANSWER-CANARY"))}))
	chat.End()
	root.End()

	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := lp.Shutdown(sctx); err != nil { // records first: they wait for their span
		t.Fatal(err)
	}
	if err := tp.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}

	runs := srv.Runs()
	if len(runs) != 1 {
		t.Fatalf("runs: %+v", runs)
	}
	var responses int
	for _, ev := range srv.Events(runs[0].ID) {
		if ev.Category != "llm" {
			continue
		}
		if ev.Type == nil || *ev.Type != "llm_response" {
			t.Errorf("an llm event besides the call's llm_response: %+v", ev)
			continue
		}
		responses++
		in, _ := json.Marshal(ev.Input)
		out, _ := json.Marshal(ev.Output)
		if !strings.Contains(string(in), "PROMPT-CANARY") || !strings.Contains(string(out), "ANSWER-CANARY") {
			t.Errorf("llm_response without the records' content: input %s, output %s", in, out)
		}
		if ev.Metadata["input_tokens"] != float64(12) {
			t.Errorf("tokens: %v", ev.Metadata)
		}
	}
	if responses != 1 {
		t.Errorf("%d llm_response events, want 1", responses)
	}
	if rj := srv.Rejected(); len(rj) > 0 {
		t.Errorf("rejected: %v", rj)
	}
}

// Each span exporter pairs with one log exporter: a second pair is a
// second exporter, and a log exporter left alone shuts its exporter down.
func TestPairs(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	t.Setenv("OTEL_TRACES_EXPORTER", "ezop")
	t.Setenv("OTEL_LOGS_EXPORTER", "ezop")
	t.Setenv("EZOP_API_URL", srv.URL)
	t.Setenv("EZOP_API_KEY", srv.APIKey)
	ctx := context.Background()

	s1, err := otelautoexport.NewSpanExporter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := otelautoexport.NewSpanExporter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s1 == s2 {
		t.Fatal("two span exporters built are one")
	}
	l, err := otelautoexport.NewLogExporter(ctx) // pairs with s2, the one waiting
	if err != nil {
		t.Fatal(err)
	}
	rec := func() sdklog.Record {
		var r sdklog.Record
		r.SetEventName("gen_ai.user.message")
		r.SetTraceID(trace.TraceID{1})
		return r
	}()
	if err := l.Export(ctx, []sdklog.Record{rec}); err != nil {
		t.Fatal(err)
	}
	if got := s2.(*exporter.Exporter).Stats().RecordsReceived; got != 1 {
		t.Errorf("the second span exporter received %d records, want the log exporter's 1", got)
	}
	if got := s1.(*exporter.Exporter).Stats().RecordsReceived; got != 0 {
		t.Errorf("the first span exporter received %d records", got)
	}
	for _, s := range []sdktrace.SpanExporter{s1, s2} {
		if err := s.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	alone, err := otelautoexport.NewLogExporter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := alone.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := alone.Export(ctx, []sdklog.Record{rec}); !errors.Is(err, sdklog.ErrExporterShutdown) {
		t.Errorf("Export after Shutdown: %v", err)
	}
	s3, err := otelautoexport.NewSpanExporter(ctx) // builds its own: the lone one is shut down
	if err != nil {
		t.Fatal(err)
	}
	if err := s3.ExportSpans(ctx, nil); err != nil {
		t.Errorf("the span exporter built after a lone log exporter: %v", err)
	}
	if err := s3.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func emit(ctx context.Context, l otellog.Logger, name string, body attribute.Value) {
	var r otellog.Record
	r.SetTimestamp(time.Now())
	r.SetEventName(name)
	r.SetBody(body)
	l.Emit(ctx, r)
}
