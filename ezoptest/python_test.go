package ezoptest

import (
	"errors"
	"math"
	"testing"
)

func TestPyFloatRepr(t *testing.T) {
	for _, tt := range []struct {
		f    float64
		want string
	}{
		{34, "34.0"}, {1.5, "1.5"}, {-0.0 * -1, "0.0"}, {math.Copysign(0, -1), "-0.0"},
		{0.1, "0.1"}, {1e16, "1e+16"}, {9999999999999998, "9999999999999998.0"},
		{0.0001, "0.0001"}, {0.00001, "1e-05"}, {1.5e-7, "1.5e-07"}, {1e300, "1e+300"},
		{123456.789, "123456.789"}, {math.Inf(1), "inf"}, {math.NaN(), "nan"},
	} {
		if got := pyFloatRepr(tt.f); got != tt.want {
			t.Errorf("repr(%v) = %s, want %s", tt.f, got, tt.want)
		}
	}
}

func TestJSONBNumbers(t *testing.T) {
	for _, tt := range []struct {
		f    float64
		want string
	}{
		{34, "34.0"}, {math.Copysign(0, -1), "0.0"}, {1e16, "10000000000000000"},
		{1.5e20, "150000000000000000000"}, {-2.5e17, "-250000000000000000"}, {1e-7, "1e-07"},
	} {
		if got, err := jsonbFloat(tt.f); err != nil || got != tt.want {
			t.Errorf("jsonb(%v) = %s %v, want %s", tt.f, got, err, tt.want)
		}
	}
	for _, f := range []float64{math.Inf(1), math.Inf(-1), math.NaN()} {
		if _, err := jsonbFloat(f); err == nil {
			t.Errorf("jsonb(%v) must fail", f)
		}
	}
}

func TestPyReprString(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"abc", "'abc'"}, {"it's", `"it's"`}, {`a'b"c`, `'a\'b"c'`}, {"tab\tnl\n", `'tab\tnl\n'`},
		{"\x00\x7f", `'\x00\x7f'`}, {"é日本🚀", "'é日本🚀'"}, {"\u200b", `'\u200b'`},
		{wtf8([]rune{0xD800}), `'\ud800'`}, {`back\slash`, `'back\\slash'`},
	} {
		if got := pyReprString(tt.in); got != tt.want {
			t.Errorf("repr(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	d := newPyDict()
	d.set("b", pyInt("1"))
	d.set("a", []any{true, nil, 1.5, pyTuple{"body"}})
	d.set("b", pyBytes("x'y"))
	if got := pyRepr(d); got != `{'b': b"x'y", 'a': [True, None, 1.5, ('body',)]}` {
		t.Errorf("repr(dict) = %s", got)
	}
}

func TestPyJSONLoads(t *testing.T) {
	for _, tt := range []struct {
		in   string
		msg  string
		pos  int
		fail error // errBodyParse
	}{
		{"", "Expecting value", 0, nil},
		{"  ", "Expecting value", 2, nil},
		{"this is not json", "Expecting value", 0, nil},
		{`{"a":1,}`, "Expecting property name enclosed in double quotes", 7, nil},
		{`{"a" 1}`, "Expecting ':' delimiter", 5, nil},
		{`[1 2]`, "Expecting ',' delimiter", 3, nil},
		{`{"a":1} x`, "Extra data", 8, nil},
		{`"abc`, "Unterminated string starting at", 0, nil},
		{"\"a\nb\"", "Invalid control character at", 2, nil},
		{`"\x"`, `Invalid \escape: 'x'`, 1, nil},
		{`"\u12"`, `Invalid \uXXXX escape`, 1, nil},
		{`01`, "Extra data", 1, nil},
		{`{"é":"日本", "x": }`, "Expecting value", 16, nil},
		{"\xff", "", 0, errBodyParse},
		{"[" + string(make([]byte, 0)) + "1", "Expecting ',' delimiter", 2, nil},
	} {
		_, err := pyJSONLoads([]byte(tt.in))
		var je *jsonDecodeError
		switch {
		case tt.fail != nil:
			if !errors.Is(err, tt.fail) {
				t.Errorf("%q: err %v, want %v", tt.in, err, tt.fail)
			}
		case !errors.As(err, &je) || je.msg != tt.msg || je.pos != tt.pos:
			t.Errorf("%q: err %v (%+v), want %q at %d", tt.in, err, je, tt.msg, tt.pos)
		}
	}
	v, err := pyJSONLoads([]byte(`{"i":12,"f":34.0,"e":1e2,"n":-0,"big":123456789012345678901234567890,"s":"\ud83d\ude00","k":NaN,"d":{"x":1,"x":2}}`))
	if err != nil {
		t.Fatal(err)
	}
	d := v.(*pyDict)
	if d.vals["i"] != pyInt("12") || d.vals["f"] != 34.0 || d.vals["e"] != 100.0 || d.vals["n"] != pyInt("0") ||
		d.vals["big"] != pyInt("123456789012345678901234567890") || d.vals["s"] != "😀" || !math.IsNaN(d.vals["k"].(float64)) {
		t.Errorf("decoded %#v", d.vals)
	}
	if inner := d.vals["d"].(*pyDict); len(inner.keys) != 1 || inner.vals["x"] != pyInt("2") {
		t.Errorf("duplicate keys: last wins: %#v", inner)
	}
	// UTF-16 with a BOM and UTF-8 with a BOM decode like Python's json.loads(bytes).
	for _, b := range [][]byte{{0xEF, 0xBB, 0xBF, '{', '}'}, {0xFF, 0xFE, '{', 0, '}', 0}, {'{', 0, '}', 0}} {
		if v, err := pyJSONLoads(b); err != nil || len(v.(*pyDict).keys) != 0 {
			t.Errorf("% x: %v %v", b, v, err)
		}
	}
	deep := make([]byte, 0, 2*maxJSONDepth+2)
	for i := 0; i <= maxJSONDepth; i++ {
		deep = append(deep, '[')
	}
	if _, err := pyJSONLoads(deep); !errors.Is(err, errBodyParse) {
		t.Errorf("deep nesting: %v, want the recursion error", err)
	}
}

func TestPgUUID(t *testing.T) {
	const want = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
	for _, in := range []string{
		"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
		"{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", "a0eebc999c0b4ef8bb6d6bb9bd380a11",
		"a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11", "{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}",
	} {
		if got, ok := pgUUID(in); !ok || got != want {
			t.Errorf("pgUUID(%q) = %q %v", in, got, ok)
		}
	}
	for _, in := range []string{
		"", "a0eebc99", "00f067aa0ba902b7", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-",
		"a0eebc9-99c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11", "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
		" a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
	} {
		if got, ok := pgUUID(in); ok {
			t.Errorf("pgUUID(%q) = %q, want a syntax error", in, got)
		}
	}
}
