package bridge

import (
	"encoding/json"
	"math"
	"testing"
)

// jsonLen must agree with json.Marshal, which the client uses: the payload
// limit is enforced on its count.
func TestJSONLenMatchesMarshal(t *testing.T) {
	values := []any{
		nil, true, false, "", "plain", `quote " and \ backslash`, "\b\f\n\r\t", "\x00\x01\x1f", "<a href='x'>&amp;</a>",
		"日本語🚀", "a\u2028b\u2029c", "\xff\xfe bad utf8", "\uFFFD",
		int64(0), int64(-1), int64(math.MaxInt64), int64(math.MinInt64), 7,
		0.0, -0.0, 1.5, 1e-7, 1e-6, 123456789.125, 1e20, 1e21, 1.7976931348623157e308, 5e-324, -2.5e-10,
		json.Number("12"), json.Number("1e999"), json.Number(""),
		[]string{}, []string{"a", "<b>"}, []int64{}, []int64{1, -22}, []bool{}, []bool{true, false},
		[]any{}, []any{1.0, "x", nil, []any{map[string]any{}}},
		map[string]any{}, map[string]any{"k": "v", "<k>": []any{int64(1), 2.5}, "n": map[string]any{"m": nil}},
		struct{ A int }{3},
	}
	for _, v := range values {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("marshal %#v: %v", v, err)
		}
		if got := jsonLen(v); got != len(b) {
			t.Errorf("jsonLen(%#v) = %d, json.Marshal gives %d bytes: %s", v, got, len(b), b)
		}
	}
	for _, v := range []any{math.NaN(), math.Inf(1), []any{math.Inf(-1)}, map[string]any{"x": math.NaN()}} {
		if got := jsonLen(v); got != 0 {
			t.Errorf("jsonLen(%v) = %d, want 0 (does not encode)", v, got)
		}
	}
}

func FuzzJSONLen(f *testing.F) {
	for _, s := range []string{"", "a<b>&c", "\xff", "\u2028", `"\`} {
		f.Add(s, 1.5)
	}
	f.Fuzz(func(t *testing.T, s string, x float64) {
		v := map[string]any{s: []any{s, x}}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Skip()
		}
		if got := jsonLen(v); got != len(b) {
			t.Errorf("jsonLen = %d, json.Marshal %d: %s", got, len(b), b)
		}
	})
}
