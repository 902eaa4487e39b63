package ezopexporter

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/bridge"
	"github.com/ezopotel/ezop-otel-go/collector/ezopexporter/internal/metadata"
	"github.com/ezopotel/ezop-otel-go/ezoptest"
	"github.com/ezopotel/ezop-otel-go/internal/fixtures"
)

// chatLogs are the log records service B's instrumentation sends for its
// span "b chat" of twoServiceTraces(seed): the prompt and the choice.
func chatLogs(seed byte) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "agent-b")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("@opentelemetry/instrumentation-openai")
	tid := pcommon.TraceID{0x0a, seed, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
	sid := pcommon.SpanID{0x0b, seed, 0, 0, 0, 0, 0, 4}
	add := func(name string) pcommon.Map {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetTraceID(tid)
		lr.SetSpanID(sid)
		lr.Attributes().PutStr("event.name", name)
		lr.Attributes().PutStr("gen_ai.system", "openai")
		return lr.Body().SetEmptyMap()
	}
	add("gen_ai.user.message").PutStr("content", "COLLECTOR-PROMPT")
	choice := add("gen_ai.choice")
	choice.PutStr("finish_reason", "stop")
	choice.PutInt("index", 0)
	choice.PutEmptyMap("message").PutStr("content", "COLLECTOR-ANSWER")
	return ld
}

func TestToRecords(t *testing.T) {
	ld := chatLogs(3)
	lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	lr.SetEventName("gen_ai.user.message")
	lr.SetSeverityText("INFO")
	lr.SetDroppedAttributesCount(2)
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Unix(5, 0)))
	recs := toRecords(ld)
	require.Len(t, recs, 2)
	r := recs[0]
	assert.Equal(t, "gen_ai.user.message", r.EventName)
	assert.Equal(t, "INFO", r.SeverityText)
	assert.Equal(t, 9, r.SeverityNumber)
	assert.Equal(t, 2, r.DroppedAttributes)
	assert.Equal(t, "@opentelemetry/instrumentation-openai", r.Scope)
	assert.Equal(t, trace.SpanID{0x0b, 3, 0, 0, 0, 0, 0, 4}, r.SpanID)
	assert.True(t, r.Time.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
	assert.True(t, r.ObservedTime.Equal(time.Unix(5, 0)))
	assert.Equal(t, attribute.MAP, r.Body.Type())
	assert.Equal(t, `{"content":"COLLECTOR-PROMPT"}`, r.Body.Emit())
	assert.Len(t, r.Attributes, 2)
	// No time: zero, not 1970.
	ld2 := plog.NewLogs()
	ld2.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	assert.True(t, toRecords(ld2)[0].Time.IsZero())
}

// One component in a traces and a logs pipeline: one library exporter,
// so that log records sent before their spans, over the other pipeline,
// join the call's llm_response; either pipeline may shut down first.
func TestTracesAndLogsShareTheExporter(t *testing.T) {
	for _, logsFirst := range []bool{true, false} {
		srv := ezoptest.NewServer()
		cfg := testConfig(srv, srv.APIKey)
		cfg.CaptureContent = true
		set := exportertest.NewNopSettings(metadata.Type)
		f := NewFactory()
		tx, err := f.CreateTraces(context.Background(), set, cfg)
		require.NoError(t, err)
		lx, err := f.CreateLogs(context.Background(), set, cfg)
		require.NoError(t, err)
		host := componenttest.NewNopHost()
		require.NoError(t, tx.Start(context.Background(), host))
		require.NoError(t, lx.Start(context.Background(), host))

		require.NoError(t, lx.ConsumeLogs(context.Background(), chatLogs(5)))
		time.Sleep(50 * time.Millisecond) // the logs queue hands them over first
		require.NoError(t, tx.ConsumeTraces(context.Background(), twoServiceTraces(5)))
		if logsFirst {
			require.NoError(t, lx.Shutdown(context.Background()))
			require.NoError(t, tx.Shutdown(context.Background()))
		} else {
			require.NoError(t, tx.Shutdown(context.Background()))
			require.NoError(t, lx.Shutdown(context.Background()))
		}
		assert.Empty(t, srv.Rejected())
		checkTwoServiceRuns(t, srv)
		var found int
		for _, ev := range srv.AllEvents() {
			in, _ := json.Marshal(ev.Input)
			out, _ := json.Marshal(ev.Output)
			if ev.Type != nil && *ev.Type == "llm_response" && strings.Contains(string(in), "COLLECTOR-PROMPT") && strings.Contains(string(out), "COLLECTOR-ANSWER") {
				found++
			}
		}
		assert.Equal(t, 1, found, "the records' content on the llm_response")
		shared.mu.Lock()
		assert.Empty(t, shared.m, "released")
		shared.mu.Unlock()
		srv.Close()
	}
}

func TestPushLogsNotStarted(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	e := newEzopExporter(testConfig(srv, srv.APIKey), exportertest.NewNopSettings(metadata.Type))
	err := e.pushLogs(context.Background(), chatLogs(1))
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err))
}

// FuzzToRecords decodes the input as an OTLP/JSON logs body (seeded with
// the recorded bodies of the official OpenAI instrumentation) and checks
// the conversion: no panic, one record per OTLP record with its ids, and
// the records through the translation with content capture off send none
// of their body's strings (with it on, every plan is valid JSON and UTF-8).
func FuzzToRecords(f *testing.F) {
	recs, err := fixtures.All()
	if err != nil {
		f.Fatal(err)
	}
	for _, r := range recs {
		for _, b := range r.LogBodies {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","body":{"arrayValue":{"values":[{"kvlistValue":{"values":[{"key":"a","value":{"bytesValue":"AAE="}}]}},{"doubleValue":1e308}]}}}]}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(body)
		if err != nil {
			return
		}
		out := toRecords(ld)
		if len(out) != ld.LogRecordCount() {
			t.Fatalf("%d records, want %d", len(out), ld.LogRecordCount())
		}
		n := 0
		rls := ld.ResourceLogs()
		for i := 0; i < rls.Len(); i++ {
			sls := rls.At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					lr := lrs.At(k)
					if out[n].TraceID != trace.TraceID(lr.TraceID()) || out[n].SpanID != trace.SpanID(lr.SpanID()) {
						t.Fatalf("record %d: ids changed", n)
					}
					n++
				}
			}
		}
		// The records, some as GenAI events, on a span of their trace.
		for i := range out {
			if i%2 == 0 {
				out[i].EventName = "gen_ai.user.message"
			}
		}
		for _, capture := range []bool{false, true} {
			tr := bridge.NewTranslator(bridge.Config{CaptureContent: &capture, Owner: "o", MaxValueBytes: 256})
			var spans []sdktrace.ReadOnlySpan
			p, c := tr.TranslateWithRecords(&bridge.RunState{}, spans, out)
			if c.Joined+c.Events+c.NotCaptured != len(out) {
				t.Fatalf("records counted %+v, want %d", c, len(out))
			}
			js, err := json.Marshal(p)
			if err != nil {
				t.Fatalf("plan does not encode: %v", err)
			}
			if !utf8.Valid(js) {
				t.Fatal("plan is not UTF-8")
			}
			for _, e := range p.Events {
				if e.Category == "" || e.Name == "" {
					t.Fatalf("event without name or category: %+v", e)
				}
			}
			if !capture {
				for _, r := range out {
					for _, s := range bodyStrings(r.Body) {
						if len(s) >= 8 && strings.Contains(string(js), s) {
							t.Fatalf("body text %q sent with capture off", s)
						}
					}
				}
			}
		}
	})
}

// bodyStrings are the strings of a body value.
func bodyStrings(v attribute.Value) []string {
	switch v.Type() {
	case attribute.STRING:
		return []string{v.AsString()}
	case attribute.STRINGSLICE:
		return v.AsStringSlice()
	case attribute.SLICE:
		var out []string
		for _, e := range v.AsSlice() {
			out = append(out, bodyStrings(e)...)
		}
		return out
	case attribute.MAP:
		var out []string
		for _, kv := range v.AsMap() {
			out = append(out, bodyStrings(kv.Value)...)
		}
		return out
	}
	return nil
}
