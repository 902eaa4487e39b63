package exporter

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/log/global"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/bridge"
	"github.com/ezopotel/ezop-otel-go/internal/wire"
)

// genAIRecord emits a GenAI event record on the span in ctx.
func genAIRecord(ctx context.Context, l otellog.Logger, name string, body attribute.Value) {
	var r otellog.Record
	r.SetTimestamp(time.Now())
	r.SetSeverity(otellog.SeverityInfo)
	r.SetEventName(name)
	r.SetBody(body)
	r.AddAttributes(attribute.String("gen_ai.system", "openai"))
	l.Emit(ctx, r)
}

// chatCall makes a run "agent" with one model call "chat m" whose
// prompt and completion go to log records on the chat span. flushLogs
// runs between the call and the end of the root (nil: none).
func chatCall(tp trace.TracerProvider, l otellog.Logger, prompt, answer string) {
	ctx, root := tp.Tracer("t").Start(context.Background(), "agent")
	cctx, chat := tp.Tracer("t").Start(ctx, "chat m", trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", "m"),
		attribute.Int("gen_ai.usage.input_tokens", 11), attribute.Int("gen_ai.usage.output_tokens", 7)))
	genAIRecord(cctx, l, "gen_ai.system.message", attribute.MapValue(attribute.String("content", "be brief")))
	genAIRecord(cctx, l, "gen_ai.user.message", attribute.MapValue(attribute.String("content", prompt)))
	genAIRecord(cctx, l, "gen_ai.choice", attribute.MapValue(attribute.String("finish_reason", "stop"), attribute.Int("index", 0),
		attribute.KeyValue{Key: "message", Value: attribute.MapValue(attribute.String("content", answer))}))
	chat.End()
	root.End()
}

// eventsByType returns the run's events as stored.
func storedEvents(e *env) []wire.Event {
	var out []wire.Event
	for _, r := range e.srv.Runs() {
		out = append(out, e.srv.Events(r.ID)...)
	}
	return out
}

func typeOf(ev wire.Event) string {
	if ev.Type == nil {
		return ""
	}
	return *ev.Type
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// recordsBalance checks that every record received is accounted for.
func recordsBalance(t *testing.T, s Stats) {
	t.Helper()
	sum := s.RecordsJoined + s.RecordsEmitted + s.RecordsIgnored + s.RecordsNotCaptured + s.RecordsDropped + s.RecordsReplayed + int64(s.BufferedRecords)
	if sum != s.RecordsReceived {
		t.Errorf("records: received %d, accounted %d: %+v", s.RecordsReceived, sum, s)
	}
}

// A real LoggerProvider (BatchProcessor) and TracerProvider
// (BatchSpanProcessor) on one exporter: records flushed before their
// spans wait and join the call's one llm_response; records flushed after
// their spans were sent become events of their own on the stored chat
// span, with parent_span_id. Either way one llm_response, tokens once.
func TestLogRecordsEndToEnd(t *testing.T) {
	for _, before := range []bool{true, false} {
		t.Run(map[bool]string{true: "records before spans", false: "records after spans"}[before], func(t *testing.T) {
			e := newEnv(t, nil, WithCaptureContent(true))
			lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(e.exp.LogExporter(), sdklog.WithExportInterval(time.Hour))))
			tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(e.exp, sdktrace.WithBatchTimeout(time.Hour)), sdktrace.WithResource(testResource))
			ctx := context.Background()
			chatCall(tp, lp.Logger("openai"), "PROMPT-CANARY", "ANSWER-CANARY")
			if before {
				if err := lp.ForceFlush(ctx); err != nil {
					t.Fatal(err)
				}
				if s := e.exp.Stats(); s.BufferedRecords != 3 {
					t.Errorf("%d records waiting for their span, want 3", s.BufferedRecords)
				}
				if err := tp.ForceFlush(ctx); err != nil {
					t.Fatal(err)
				}
			} else {
				if err := tp.ForceFlush(ctx); err != nil {
					t.Fatal(err)
				}
				if err := lp.ForceFlush(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if err := lp.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			if err := tp.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			e.noRejections()
			evs := storedEvents(e)
			var responses, llm int
			chatID := ""
			for _, sp := range e.srv.AllSpans() {
				if sp.Name != nil && *sp.Name == "chat m" {
					chatID = sp.ID
				}
			}
			var in, out strings.Builder
			for _, ev := range evs {
				if ev.Category != "llm" {
					continue
				}
				llm++
				if ev.SpanID == nil || *ev.SpanID != chatID {
					t.Errorf("llm event %s not on the chat span", jsonOf(ev))
				}
				if ev.Metadata[bridge.ParentSpanIDKey] == nil {
					t.Errorf("llm event without parent_span_id: %s", jsonOf(ev))
				}
				if typeOf(ev) == "llm_response" {
					responses++
					if ev.Metadata["input_tokens"] != float64(11) || ev.Metadata["output_tokens"] != float64(7) {
						t.Errorf("tokens %v", ev.Metadata)
					}
				} else if ev.Metadata["input_tokens"] != nil {
					t.Errorf("tokens on a record's event: %s", jsonOf(ev))
				}
				in.WriteString(jsonOf(ev.Input))
				out.WriteString(jsonOf(ev.Output))
			}
			if responses != 1 {
				t.Errorf("%d llm_response events, want 1", responses)
			}
			if !strings.Contains(in.String(), "PROMPT-CANARY") || !strings.Contains(out.String(), "ANSWER-CANARY") {
				t.Errorf("content: input %s output %s", in.String(), out.String())
			}
			s := e.exp.Stats()
			recordsBalance(t, s)
			if before && (llm != 1 || s.RecordsJoined != 3) {
				t.Errorf("before: %d llm events, stats %+v; want the records joined to the one llm_response", llm, s)
			}
			if !before && (llm != 4 || s.RecordsEmitted != 3) {
				t.Errorf("after: %d llm events, stats %+v; want 3 events of their own beside the llm_response", llm, s)
			}
			if s.EventsDropped != 0 || s.RecordsDropped != 0 {
				t.Errorf("dropped: %v", s.Dropped)
			}
		})
	}
}

// Install sets up the logs side: the global LoggerProvider sends to the
// exporter, and shutting the TracerProvider down delivers the records
// handed over before (joined to their spans).
func TestInstallLogs(t *testing.T) {
	e := newEnv(t, nil)
	tp, err := Install(context.Background(), testResource,
		WithEndpoint(e.srv.URL), WithAPIKey(e.srv.APIKey), WithRetry(fastRetry), WithCaptureContent(true))
	if err != nil {
		t.Fatal(err)
	}
	lp, ok := global.GetLoggerProvider().(*sdklog.LoggerProvider)
	if !ok {
		t.Fatalf("global LoggerProvider %T, want the SDK's", global.GetLoggerProvider())
	}
	chatCall(tp, lp.Logger("openai"), "INSTALL-PROMPT", "INSTALL-ANSWER")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	e.noRejections()
	var found int
	for _, ev := range storedEvents(e) {
		if typeOf(ev) == "llm_response" && strings.Contains(jsonOf(ev.Input), "INSTALL-PROMPT") && strings.Contains(jsonOf(ev.Output), "INSTALL-ANSWER") {
			found++
		}
	}
	if found != 1 {
		t.Errorf("llm_response with the records' content: %d, want 1: %s", found, jsonOf(storedEvents(e)))
	}
	if s := e.exp.Stats(); s.RecordsReceived != 0 {
		t.Errorf("the test's own exporter got records: %+v", s)
	}
}

// ids for hand-made records.
var (
	logTrace = trace.TraceID{0xab, 1}
	logRoot  = trace.SpanID{0xab, 1}
	logChat  = trace.SpanID{0xab, 2}
)

func handRecord(tid trace.TraceID, sid trace.SpanID, name, content string) bridge.LogRecord {
	return bridge.LogRecord{Time: time.Now(), SeverityNumber: 9, EventName: name, TraceID: tid, SpanID: sid,
		Body: attribute.MapValue(attribute.String("content", content))}
}

func (e *env) records(recs ...bridge.LogRecord) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.exp.ExportLogRecords(ctx, recs); err != nil {
		e.t.Fatalf("ExportLogRecords: %v", err)
	}
}

// Records are sorted out as they arrive: without a trace id dropped and
// counted, not GenAI ignored (or forwarded as system events with
// WithForwardLogs), GenAI content with capture off counted as not
// captured; a record with only a trace id becomes an event of its run.
func TestLogRecordSorting(t *testing.T) {
	for _, forward := range []bool{false, true} {
		e := newEnv(t, nil, WithCaptureContent(true), WithForwardLogs(forward))
		tr := newTracer()
		ctx, root := tr.Start(context.Background(), "agent")
		sc := root.SpanContext()
		e.records(
			handRecord(trace.TraceID{}, trace.SpanID{}, "gen_ai.user.message", "x"),
			bridge.LogRecord{TraceID: sc.TraceID(), SpanID: sc.SpanID(), Body: attribute.StringValue("plain log line LINE-CANARY")},
			handRecord(sc.TraceID(), trace.SpanID{}, "gen_ai.user.message", "TRACE-ONLY"),
		)
		_ = ctx
		root.End()
		e.export(tr.rec.Ended()...)
		e.shutdown()
		e.noRejections()
		s := e.exp.Stats()
		recordsBalance(t, s)
		if s.RecordsReceived != 3 || s.RecordsDropped != 1 || s.Dropped["log record: "+reasonRecordNoTrace] != 1 {
			t.Errorf("stats %+v", s)
		}
		var runLevel, system int
		for _, ev := range storedEvents(e) {
			if ev.SpanID == nil && strings.Contains(jsonOf(ev.Input), "TRACE-ONLY") {
				runLevel++
			}
			if ev.Category == "system" && ev.Metadata["body"] == "plain log line LINE-CANARY" && ev.SpanID != nil {
				system++
			}
		}
		if runLevel != 1 {
			t.Errorf("trace-only record: %d run-level events, want 1", runLevel)
		}
		if forward && (system != 1 || s.RecordsIgnored != 0) {
			t.Errorf("forwarded: %d system events, stats %+v", system, s)
		}
		if !forward && (system != 0 || s.RecordsIgnored != 1) {
			t.Errorf("not forwarded: %d system events, stats %+v", system, s)
		}
	}
}

// With content capture off nothing of a record's body reaches Ezop, in
// any request; the records are counted as not captured.
func TestLogRecordsCaptureOff(t *testing.T) {
	tr := &transport{keepBodies: true}
	e := newEnv(t, tr, WithCaptureContent(false), WithForwardLogs(true))
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(e.exp.LogExporter())))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(e.exp), sdktrace.WithResource(testResource))
	chatCall(tp, lp.Logger("openai"), "OFF-PROMPT", "OFF-ANSWER")
	ctx, span := tp.Tracer("t").Start(context.Background(), "agent 2")
	var r otellog.Record
	r.SetBody(attribute.StringValue("OFF-LOG-LINE"))
	lp.Logger("app").Emit(ctx, r)
	span.End()
	ctx2, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = lp.Shutdown(ctx2)
	_ = tp.Shutdown(ctx2)
	e.noRejections()
	for _, b := range tr.sent() {
		if strings.Contains(string(b), "OFF-") {
			t.Errorf("content with capture off: %s", b)
		}
	}
	s := e.exp.Stats()
	recordsBalance(t, s)
	if s.RecordsNotCaptured != 3 || s.RecordsEmitted != 1 {
		t.Errorf("stats %+v, want 3 not captured, the log line an event", s)
	}
}

// Records wait for their span within the bounds: beyond
// WithMaxBufferedRecords new ones are dropped and counted. A record whose
// span never comes goes, after the late-span window, to its trace's run;
// one whose trace never comes is dropped and counted.
func TestLogRecordWaitsBounded(t *testing.T) {
	e := newEnv(t, nil, WithCaptureContent(true), WithMaxBufferedRecords(3), WithLateSpanWindow(100*time.Millisecond),
		WithRemoteParentWait(100*time.Millisecond)) // a janitor tick of 25ms
	e.records(
		handRecord(logTrace, logChat, "gen_ai.user.message", "A"),
		handRecord(logTrace, logChat, "gen_ai.user.message", "B"),
		handRecord(trace.TraceID{0xcd}, trace.SpanID{0xcd}, "gen_ai.user.message", "NO-TRACE"),
		handRecord(logTrace, logChat, "gen_ai.user.message", "OVER"),
	)
	s := e.exp.Stats()
	if s.BufferedRecords != 3 || s.Dropped["log record: "+reasonRecordMax] != 1 {
		t.Fatalf("stats %+v", s)
	}
	// The trace's root comes, the chat span never.
	root := sdktraceStub(logTrace, logRoot, trace.SpanID{}, "agent")
	e.export(root)
	waitFor(t, 5*time.Second, "the records' wait to end", func() bool { return e.exp.Stats().BufferedRecords == 0 })
	e.shutdown()
	e.noRejections()
	s = e.exp.Stats()
	recordsBalance(t, s)
	if s.Altered[reasonRecordToRun] != 2 || s.Dropped["log record: "+reasonRecordNoSpan] != 1 {
		t.Errorf("stats %+v", s)
	}
	var runLevel int
	for _, ev := range storedEvents(e) {
		if ev.SpanID == nil && ev.Name == "gen_ai.user.message" {
			runLevel++
		}
	}
	if runLevel != 2 {
		t.Errorf("%d run-level record events, want 2", runLevel)
	}
}

// Shutdown delivers the records waiting for spans it sends; the
// redaction hook runs outside the exporter's lock (it may call Stats).
func TestLogRecordsShutdownAndHook(t *testing.T) {
	var e *env
	var mu sync.Mutex
	calls := 0
	e = newEnv(t, nil, WithCaptureContent(true), WithRedaction(func(k string, v any) (any, bool) {
		_ = e.exp.Stats() // would deadlock under the exporter's lock
		mu.Lock()
		calls++
		mu.Unlock()
		return v, true
	}))
	e.records(handRecord(logTrace, logChat, "gen_ai.user.message", "SHUTDOWN-PROMPT"))
	// The chat span waits for its root, which never comes: Shutdown sends
	// it without its root, the record with it.
	chat := sdktraceStub(logTrace, logChat, logRoot, "chat m", attribute.String("gen_ai.operation.name", "chat"))
	e.export(chat)
	e.shutdown()
	e.noRejections()
	var ok bool
	for _, ev := range storedEvents(e) {
		if typeOf(ev) == "llm_response" && strings.Contains(jsonOf(ev.Input), "SHUTDOWN-PROMPT") {
			ok = true
		}
	}
	if !ok {
		t.Errorf("record not on the llm_response: %s", jsonOf(storedEvents(e)))
	}
	mu.Lock()
	defer mu.Unlock()
	if calls == 0 {
		t.Error("the redaction hook saw nothing")
	}
	recordsBalance(t, e.exp.Stats())
}

// ExportLogRecordsDelivered returns once the records are delivered: here
// after their span came in another call.
func TestExportLogRecordsDelivered(t *testing.T) {
	e := newEnv(t, nil, WithCaptureContent(true))
	done := make(chan error, 1)
	go func() {
		done <- e.exp.ExportLogRecordsDelivered(context.Background(), []bridge.LogRecord{handRecord(logTrace, logChat, "gen_ai.user.message", "DELIVERED")})
	}()
	waitFor(t, 5*time.Second, "the record to wait", func() bool { return e.exp.Stats().BufferedRecords == 1 })
	select {
	case err := <-done:
		t.Fatalf("returned before delivery: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	e.export(sdktraceStub(logTrace, logRoot, trace.SpanID{}, "agent"),
		sdktraceStub(logTrace, logChat, logRoot, "chat m", attribute.String("gen_ai.operation.name", "chat")))
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not returned after delivery")
	}
	if s := e.exp.Stats(); s.RecordsJoined != 1 || s.BufferedRecords != 0 {
		t.Errorf("stats %+v", s)
	}
	// After Shutdown: refused.
	e.shutdown()
	if err := e.exp.ExportLogRecords(context.Background(), []bridge.LogRecord{handRecord(logTrace, logChat, "gen_ai.user.message", "late")}); err != ErrShutdown {
		t.Errorf("after Shutdown: %v", err)
	}
	if err := e.exp.LogExporter().Export(context.Background(), make([]sdklog.Record, 1)); err != sdklog.ErrExporterShutdown {
		t.Errorf("LogExporter after Shutdown: %v", err)
	}
}

// sdktraceStub makes an ended span of trace tid (parent zero: a root).
func sdktraceStub(tid trace.TraceID, id, parent trace.SpanID, name string, attrs ...attribute.KeyValue) sdktrace.ReadOnlySpan {
	st := tracetest.SpanStub{
		Name:        name,
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: id, TraceFlags: trace.FlagsSampled}),
		StartTime:   time.Now().Add(-time.Second), EndTime: time.Now(),
		Attributes: attrs, Resource: testResource,
	}
	if parent.IsValid() {
		st.Parent = trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: parent, TraceFlags: trace.FlagsSampled})
	}
	return st.Snapshot()
}
