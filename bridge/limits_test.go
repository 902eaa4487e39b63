package bridge

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

func TestTruncation(t *testing.T) {
	cases := []struct {
		name string
		max  int
		in   string
	}{
		{"ascii", 64, strings.Repeat("a", 200)},
		{"two-byte runes", 51, strings.Repeat("é", 100)},
		{"four-byte runes", 50, strings.Repeat("🚀", 100)},
		{"mixed at every offset", 47, strings.Repeat("aé🚀日", 40)},
		{"limit below the marker", 10, strings.Repeat("日本", 20)},
		{"limit of one", 1, "日本語"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := translate(t, Config{MaxValueBytes: tc.max}, rootStub(), child(2, "s", str("app.text", tc.in)))
			got, _ := spanOp(t, p, 2).Create.Metadata["app.text"].(string)
			if len(got) > tc.max {
				t.Errorf("%d bytes kept, limit %d", len(got), tc.max)
			}
			if !utf8.ValidString(got) {
				t.Errorf("cut inside a rune: %q", got)
			}
			if tc.max > len(truncMarker) {
				if !strings.HasSuffix(got, truncMarker) {
					t.Errorf("no truncation marker: %q", got)
				}
				if kept := strings.TrimSuffix(got, truncMarker); !strings.HasPrefix(tc.in, kept) || len(kept) < tc.max-len(truncMarker)-3 {
					t.Errorf("kept %q, not the longest prefix", kept)
				}
			}
			wantIssue(t, p, Altered, "truncated")
		})
	}
	// At the limit nothing changes.
	exact := strings.Repeat("é", 32)
	p := translate(t, Config{MaxValueBytes: len(exact)}, rootStub(), child(2, "s", str("app.text", exact)))
	if spanOp(t, p, 2).Create.Metadata["app.text"] != exact {
		t.Error("value at the limit altered")
	}
	wantNoIssues(t, p)
}

func TestInvalidUTF8(t *testing.T) {
	bad := "ok\xff\xfe" + string([]byte{0xed, 0xa0, 0x80}) + "end" // incl. an encoded surrogate
	res := resource.NewSchemaless(attribute.String("ezop.agent.name", "bot\xc3"), attribute.String("ezop.agent.owner", "me"), attribute.String("ezop.agent.version", "1\xff"))
	s := withEvents(child(2, "span\xff", str("app.v", bad), str("key\xfe", "v"), attribute.StringSlice("app.list", []string{bad}),
		attribute.Map("app.map", attribute.String("k\xff", bad))),
		event("ev\xff", str("x", bad), str("ezop.event.category", "user"), str("ezop.event.input", bad)))
	s.Resource = res
	root := rootStub(str("app.v", bad), semconv.RunMessage(bad))
	root.Resource = res
	root = withStatus(root, codes.Error, bad)
	p := translate(t, Config{}, root, s) // the validator checks every string and key
	wantIssue(t, p, Altered, "invalid UTF-8 replaced")
	if !strings.HasPrefix(p.Agent.Register.Name, "bot") {
		t.Errorf("agent name = %q", p.Agent.Register.Name)
	}
	if got := spanOp(t, p, 2).Create.Metadata["app.v"]; got != strings.ToValidUTF8(bad, "\uFFFD") {
		t.Errorf("sanitized value = %q", got)
	}

	// NUL characters are valid UTF-8 but no PostgreSQL text or jsonb holds
	// them.
	nul := "a\x00b"
	s = withEvents(child(2, nul, str(nul, nul), attribute.StringSlice("app.l", []string{nul}), str("gen_ai.input.messages", `{"k\u0000":"v\u0000"}`), op("chat")),
		event(nul, str("ezop.event.category", "user"), str("ezop.event.input", `["\u0000"]`)))
	p = translate(t, Config{CaptureContent: capture(true)}, withStatus(rootStub(semconv.RunMessage(nul)), codes.Error, nul), s)
	wantIssue(t, p, Altered, "NUL character replaced")
	if got := spanOp(t, p, 2).Create.Name; got != "a\uFFFDb" {
		t.Errorf("span name = %q", got)
	}
}

func TestNonFiniteNumbers(t *testing.T) {
	attrs := []attribute.KeyValue{
		attribute.Float64("app.nan", math.NaN()),
		attribute.Float64("app.inf", math.Inf(1)),
		attribute.Float64("app.ninf", math.Inf(-1)),
		attribute.Float64Slice("app.fs", []float64{1, math.NaN(), math.Inf(-1)}),
		attribute.Slice("app.mixed", attribute.Float64Value(math.Inf(1))),
		attribute.Map("app.map", attribute.Float64("f", math.NaN())),
		attribute.Float64("gen_ai.usage.input_tokens", math.NaN()),
		attribute.Float64("gen_ai.usage.cost", math.Inf(1)),
	}
	p := translate(t, Config{}, rootStub(attrs...), withEvents(child(2, "chat", append(attrs, op("chat"))...), event("e", attrs...)))
	m := spanOp(t, p, 2).Create.Metadata
	wantJSON(t, "nan", m["app.nan"], "NaN")
	wantJSON(t, "inf", m["app.inf"], "Infinity")
	wantJSON(t, "-inf", m["app.ninf"], "-Infinity")
	wantJSON(t, "slice", m["app.fs"], []any{1, "NaN", "-Infinity"})
	wantIssue(t, p, Altered, "non-finite number sent as text")
	if _, has := llmEvent(t, p, 2).Metadata["input_tokens"]; has {
		t.Error("NaN token count reported")
	}
}

// Numbers inside JSON documents that no float64 (and so no Python float
// stored as JSON by the server) can hold.
func TestHugeJSONNumbers(t *testing.T) {
	doc := `{"big":1e999,"neg":-1e400,"long":` + strings.Repeat("9", 5000) + `,"ok":1.5,"int":12345678901234567890}`
	s := withEvents(child(2, "s", op("chat"), str("gen_ai.input.messages", doc)),
		event("e", str("ezop.event.category", "user"), str("ezop.event.input", doc), str("ezop.event.output", "1e999")))
	p := translate(t, Config{CaptureContent: capture(true)}, rootStub(), s)
	in := oneEvent(t, eventsOn(p, uuidOf(2)), semconv.CategoryUser, "").Input
	if in["ok"] == nil || in["int"] == nil {
		t.Errorf("valid numbers lost: %s", dump(in))
	}
	wantIssue(t, p, Altered, "number")
}

func TestHugeValues(t *testing.T) {
	huge := strings.Repeat("x", 10<<20)
	hugeJSON := `{"a":"` + huge + `"}`
	s := withEvents(child(2, "s", op("chat"), str("app.huge", huge), str("gen_ai.input.messages", hugeJSON),
		attribute.StringSlice("app.many", []string{huge, huge})),
		event("e", str("ezop.event.category", "user"), str("ezop.event.input", huge), str("x", huge)))
	s.Name = huge
	cfg := Config{CaptureContent: capture(true)}
	p := translate(t, cfg, rootStub(str("app.huge", huge)), s)
	size := len(jsonOf(p))
	if size > 4<<20 {
		t.Errorf("plan of %d bytes from 10 MB values", size)
	}
	checkPayloadSizes(t, p, DefaultMaxPayloadBytes)
	if n := len(spanOp(t, p, 2).Create.Name); n > DefaultMaxValueBytes {
		t.Errorf("span name of %d bytes", n)
	}
	for _, e := range p.Events {
		if len(e.Name) > DefaultMaxValueBytes {
			t.Errorf("event %s/%s name of %d bytes", e.Category, e.Type, len(e.Name))
		}
	}
	wantIssue(t, p, Altered, "truncated")
}

// checkPayloadSizes checks that no metadata, input, output or error object
// of p encodes to more than limit bytes.
func checkPayloadSizes(t *testing.T, p RunPlan, limit int) {
	t.Helper()
	check := func(where string, o wire.Object) {
		if o == nil {
			return
		}
		if n := len(jsonOf(o)); n > limit {
			t.Errorf("%s: %d bytes, limit %d", where, n, limit)
		}
	}
	for _, s := range p.Spans {
		check("span "+s.Create.ID+" metadata", s.Create.Metadata)
	}
	for _, e := range p.Events {
		w := "event " + e.Category + "/" + e.Type
		check(w+" input", e.Input)
		check(w+" output", e.Output)
		check(w+" metadata", e.Metadata)
		check(w+" error", e.Error)
	}
	if p.End != nil {
		check("run metadata", p.End.Metadata)
	}
}

func TestMaxPayloadBytes(t *testing.T) {
	var attrs []attribute.KeyValue
	for i := range 40 {
		attrs = append(attrs, str("app.k"+strconv.Itoa(i), strings.Repeat("v", 100)))
	}
	attrs = append(attrs, op("chat"), str("gen_ai.output.messages", `["`+strings.Repeat("w", 3000)+`"]`))
	const limit = 2048
	cfg := Config{MaxPayloadBytes: limit, CaptureContent: capture(true)}
	s := withStatus(withEvents(child(2, "s", attrs...), event("exception", str("exception.stacktrace", strings.Repeat("s", 5000)))), codes.Error, strings.Repeat("d", 1000))
	p := translate(t, cfg, rootStub(attrs...), s)
	checkPayloadSizes(t, p, limit)
	wantIssue(t, p, Altered, "payload over MaxPayloadBytes")
	m := spanOp(t, p, 2).Create.Metadata
	if _, ok := m["otel"].(map[string]any); !ok {
		t.Errorf("span identity removed to fit: %v", m["otel"])
	}
	if _, ok := p.End.Metadata["totals"].(map[string]any); !ok {
		t.Errorf("run totals removed to fit: %v", p.End.Metadata["totals"])
	}
	// Smaller values are kept; the largest go first.
	kept := 0
	for k, v := range m {
		if strings.HasPrefix(k, "app.k") && v == strings.Repeat("v", 100) {
			kept++
		}
	}
	if kept == 0 {
		t.Errorf("every attribute removed: %s", dump(m))
	}

	// Far too many keys: the object is replaced and the drop reported.
	var many []attribute.KeyValue
	for i := range 500 {
		many = append(many, attribute.Int("k"+strconv.Itoa(i), i))
	}
	p = translate(t, Config{MaxPayloadBytes: 1024}, rootStub(), child(2, "s", many...))
	checkPayloadSizes(t, p, 1024)
	wantIssue(t, p, Dropped, "payload over MaxPayloadBytes")
}

func nestJSON(depth int) string {
	return strings.Repeat(`{"a":[`, depth) + `1` + strings.Repeat(`]}`, depth)
}

func nestMap(depth int) attribute.Value {
	v := attribute.StringValue("leaf")
	for i := range depth {
		if i%2 == 0 {
			v = attribute.MapValue(attribute.KeyValue{Key: "k", Value: v})
		} else {
			v = attribute.SliceValue(v)
		}
	}
	return v
}

func TestDeepNesting(t *testing.T) {
	for _, depth := range []int{10, 40, 200, 20000} {
		t.Run(strconv.Itoa(depth), func(t *testing.T) {
			doc := nestJSON(depth)
			s := withEvents(child(2, "s", op("chat"), str("gen_ai.input.messages", doc), attribute.KeyValue{Key: "app.deep", Value: nestMap(depth)}),
				event("e", str("ezop.event.category", "user"), str("ezop.event.input", doc)))
			p := translate(t, Config{CaptureContent: capture(true), MaxPayloadBytes: 1 << 20}, rootStub(), s)
			// The validator bounds the depth of everything sent.
			if depth > maxJSONDepth/2 {
				wantIssue(t, p, Altered, "")
			} else {
				wantNoIssues(t, p)
				wantJSON(t, "shallow document", llmEvent(t, p, 2).Input["messages"], json.RawMessage(doc))
			}
		})
	}
}

func TestZeroConfigDefaults(t *testing.T) {
	tr := NewTranslator(Config{MaxValueBytes: -1, MaxPayloadBytes: -5, MaxEventsPerSpan: -1})
	if tr.cfg.MaxValueBytes != DefaultMaxValueBytes || tr.cfg.MaxPayloadBytes != DefaultMaxPayloadBytes || tr.cfg.MaxEventsPerSpan != DefaultMaxEventsPerSpan {
		t.Errorf("defaults not applied: %+v", tr.cfg)
	}
	if tr.cfg.Owner != DefaultOwner || tr.cfg.Runtime != DefaultRuntime {
		t.Errorf("owner/runtime defaults: %+v", tr.cfg)
	}
}

func TestFit(t *testing.T) {
	tr := NewTranslator(Config{MaxPayloadBytes: 300})
	big := strings.Repeat("b", 1000)
	cases := []struct {
		name         string
		in           wire.Object
		markers      []string // keys replaced by a marker
		removed      int      // keys removed
		kept         []string // keys kept as they were
		wholeDropped bool
	}{
		{"fits", wire.Object{"a": 1, "b": "x"}, nil, 0, []string{"a", "b"}, false},
		{"one big value", wire.Object{"big": big, "small": "s"}, []string{"big"}, 0, []string{"small"}, false},
		{"two big values", wire.Object{"big": big, "big2": big + "b", "small": "s"}, []string{"big", "big2"}, 0, []string{"small"}, false},
		{"many small values", func() wire.Object {
			o := wire.Object{}
			for i := range 30 {
				o["key"+strconv.Itoa(i)] = strings.Repeat("v", 20)
			}
			return o
		}(), nil, -1, nil, false},
		{"keys alone too big", func() wire.Object {
			o := wire.Object{}
			for i := range 30 {
				o[strings.Repeat("k", 20)+strconv.Itoa(i)] = 1
			}
			return o
		}(), nil, -1, nil, false},
		{"escaped text counts as sent", wire.Object{"html": strings.Repeat("<", 100)}, []string{"html"}, 0, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var log issueLog
			z := sanitizer{t: tr, issues: &log}
			orig := cloneObject(tc.in)
			got := z.fit(tc.in)
			if n := len(jsonOf(got)); n > 300 {
				t.Errorf("%d bytes after fit, limit 300", n)
			}
			for _, k := range tc.markers {
				if s, _ := got[k].(string); !strings.HasPrefix(s, "[removed by ezop-otel-go") {
					t.Errorf("%s = %.40v, want a marker", k, got[k])
				}
			}
			for _, k := range tc.kept {
				if !sameJSON(got[k], orig[k]) {
					t.Errorf("%s changed to %v", k, got[k])
				}
			}
			p := RunPlan{Issues: log.issues()}
			switch {
			case tc.removed == 0 && len(tc.markers) == 0:
				wantNoIssues(t, p)
			case tc.removed < 0:
				n, _ := got[removedKeysKey].(int)
				if n == 0 || issueCount(p, Dropped, "key removed") != n {
					t.Errorf("removed keys: count %v, issues %+v", got[removedKeysKey], p.Issues)
				}
				if len(got) < 3 {
					t.Errorf("kept only %d keys though room remained: %s", len(got), dump(got))
				}
			}
		})
	}
}
