package bridge_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/bridge"
)

// fuzzBytes reads the fuzz input.
type fuzzBytes struct {
	b []byte
	i int
}

func (f *fuzzBytes) next() byte {
	if f.i >= len(f.b) {
		return 0
	}
	c := f.b[f.i]
	f.i++
	return c
}

func (f *fuzzBytes) str() string {
	n := int(f.next() % 24)
	end := min(f.i+n, len(f.b))
	s := string(f.b[f.i:end])
	f.i = end
	return "S" + s // at least one byte, so that "sent" is checkable
}

// value builds a body value of the input's shape, nested up to depth.
func (f *fuzzBytes) value(depth int) attribute.Value {
	switch k := f.next() % 9; {
	case k == 0:
		return attribute.Value{}
	case k == 1:
		return attribute.StringValue(f.str())
	case k == 2:
		return attribute.Int64Value(int64(f.next()) - 128)
	case k == 3:
		return attribute.Float64Value(float64(f.next()) / 3)
	case k == 4:
		return attribute.ByteSliceValue([]byte(f.str()))
	case k == 5:
		return attribute.StringSliceValue([]string{f.str(), f.str()})
	case k == 6 && depth < 4:
		n := int(f.next() % 4)
		vs := make([]attribute.Value, n)
		for i := range vs {
			vs[i] = f.value(depth + 1)
		}
		return attribute.SliceValue(vs...)
	case depth < 4:
		keys := []string{"content", "role", "id", "message", "tool_calls", "finish_reason", "index", "x"}
		n := int(f.next() % 4)
		kvs := make([]attribute.KeyValue, 0, n)
		seen := map[string]bool{}
		for range n {
			k := keys[int(f.next())%len(keys)]
			if seen[k] {
				continue
			}
			seen[k] = true
			kvs = append(kvs, attribute.KeyValue{Key: attribute.Key(k), Value: f.value(depth + 1)})
		}
		return attribute.MapValue(kvs...)
	}
	return attribute.StringValue(f.str())
}

var fuzzRecordNames = []string{
	"gen_ai.system.message", "gen_ai.user.message", "gen_ai.assistant.message", "gen_ai.tool.message",
	"gen_ai.choice", "gen_ai.client.inference.operation.details", "gen_ai.content.prompt",
	"gen_ai.evaluation.result", "", "app.log",
}

// strs are the strings a value holds.
func strs(v attribute.Value) []string {
	switch v.Type() {
	case attribute.STRING:
		return []string{v.AsString()}
	case attribute.STRINGSLICE:
		return v.AsStringSlice()
	case attribute.SLICE:
		var out []string
		for _, e := range v.AsSlice() {
			out = append(out, strs(e)...)
		}
		return out
	case attribute.MAP:
		var out []string
		for _, kv := range v.AsMap() {
			out = append(out, strs(kv.Value)...)
		}
		return out
	}
	return nil
}

// FuzzRecords derives log records (names, bodies of every kind, spans:
// the model call, the tool call, the root, none, unknown) from the input
// and translates them with the spans or after them, capture on and off:
// no panic, every plan valid for the contract, every record counted once,
// one llm_response for the model call, and with capture off no body
// string of a record in the plan.
func FuzzRecords(f *testing.F) {
	f.Add([]byte("\x01\x02\x03\x04\x05\x06\x07\x08\x09"))
	f.Add([]byte(strings.Repeat("\x07\x01\x05hello\x04\x02", 12)))
	f.Add([]byte(strings.Repeat("\xff\x80\x41\x13\x37\x00", 30)))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &fuzzBytes{b: data}
		root, chat := spansOf("chat m", attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", "m"),
			attribute.Int("gen_ai.usage.input_tokens", 3))
		tid := chat.SpanContext().TraceID()
		ids := []trace.SpanID{chat.SpanContext().SpanID(), root.SpanContext().SpanID(), {}, {0x77}}
		n := int(in.next() % 12)
		var recs []bridge.LogRecord
		for range n {
			r := bridge.LogRecord{
				TraceID:        tid,
				SpanID:         ids[int(in.next())%len(ids)],
				EventName:      fuzzRecordNames[int(in.next())%len(fuzzRecordNames)],
				SeverityNumber: int(in.next() % 25),
				Body:           in.value(0),
			}
			if in.next()%2 == 0 {
				r.Attributes = []attribute.KeyValue{{Key: "gen_ai.input.messages", Value: in.value(1)}, attribute.Int("k", int(in.next()))}
			}
			recs = append(recs, r)
		}
		late := in.next()%2 == 0
		for _, capture := range []bool{true, false} {
			tr := bridge.NewTranslator(bridge.Config{CaptureContent: &capture, Owner: "o", MaxValueBytes: 64})
			tr.KeepSpanInfo()
			st := &bridge.RunState{}
			check := bridge.NewPlanValidator()
			var plans []bridge.RunPlan
			var c bridge.RecordCounts
			if late {
				first := tr.Translate(st, []sdktrace.ReadOnlySpan{root, chat})
				var p bridge.RunPlan
				p, c = tr.TranslateWithRecords(st, nil, recs)
				p.Agent, p.Start = first.Agent, first.Start
				plans = []bridge.RunPlan{first, p}
			} else {
				var p bridge.RunPlan
				p, c = tr.TranslateWithRecords(st, []sdktrace.ReadOnlySpan{root, chat}, recs)
				plans = []bridge.RunPlan{p}
			}
			if c.Joined+c.Events+c.NotCaptured != len(recs) {
				t.Fatalf("records counted %+v, want %d", c, len(recs))
			}
			responses := 0
			for _, p := range plans {
				if errs := check(p); len(errs) > 0 {
					t.Fatalf("contract: %v", errs)
				}
				for _, e := range p.Events {
					if e.Type == "llm_response" {
						responses++
					}
				}
				js, err := json.Marshal(p)
				if err != nil || !utf8.Valid(js) {
					t.Fatalf("plan does not encode: %v", err)
				}
				if capture {
					continue
				}
				for _, r := range recs {
					for _, s := range strs(r.Body) {
						if len(s) >= 6 && strings.Contains(string(js), s) {
							t.Fatalf("body text %q sent with capture off: records %+v\nplan %s", s, recs, js)
						}
					}
				}
			}
			if responses != 1 {
				t.Fatalf("%d llm_response events, want the call's one", responses)
			}
		}
	})
}
