package ezoptest

// The real server is FastAPI on CPython: a request body goes through
// Python's json.loads, pydantic validates the resulting Python objects, and
// the 422 message is str() of the error list. This file reproduces the parts
// of that pipeline a client can observe: which bodies decode, the Python
// value types they decode to (int versus float, key order, lone surrogates),
// and the Python repr used in validation messages.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// pyDict is a JSON object as json.loads builds it: keys in first-seen
// order, the last value of a repeated key wins.
type pyDict struct {
	keys []string
	vals map[string]any
}

func newPyDict() *pyDict { return &pyDict{vals: map[string]any{}} }

func (d *pyDict) set(k string, v any) {
	if _, ok := d.vals[k]; !ok {
		d.keys = append(d.keys, k)
	}
	d.vals[k] = v
}

func (d *pyDict) get(k string) (any, bool) {
	v, ok := d.vals[k]
	return v, ok
}

// pyInt is a Python int (arbitrary precision) in canonical decimal form.
type pyInt string

// pyBytes is a body that was not decoded as JSON (a non-JSON content type):
// FastAPI hands the raw bytes to pydantic.
type pyBytes []byte

// pyValueError is the exception object pydantic keeps in a value_error's ctx.
type pyValueError string

// pyTuple is a Python tuple, used for error locations.
type pyTuple []any

// Python float values are float64, str values are Go strings holding
// WTF-8 (lone surrogates encoded like ordinary code points, which makes the
// string invalid UTF-8), bool is bool and None is nil.

// jsonDecodeError is Python's json.JSONDecodeError: FastAPI answers 422
// json_invalid.
type jsonDecodeError struct {
	msg string
	pos int // in code points, like Python
}

func (e *jsonDecodeError) Error() string { return e.msg }

// errBodyParse is any other exception while decoding the body (a body that
// is not valid in its detected encoding, nesting beyond the recursion limit,
// an integer literal beyond 4300 digits): FastAPI answers 400 "There was an
// error parsing the body".
var errBodyParse = errors.New("There was an error parsing the body")

// maxJSONDepth approximates CPython's recursion limit in the C json scanner.
const maxJSONDepth = 1000

// pyJSONLoads decodes body like Python's json.loads(bytes).
func pyJSONLoads(body []byte) (any, error) {
	text, err := pyDecodeBytes(body)
	if err != nil {
		return nil, err
	}
	p := &pyParser{s: text}
	idx := p.skipWS(0)
	v, end, err := p.scanOnce(idx, 0)
	if err != nil {
		return nil, err
	}
	end = p.skipWS(end)
	if end != len(p.s) {
		return nil, &jsonDecodeError{"Extra data", end}
	}
	return v, nil
}

// pyDecodeBytes decodes like json.loads does for bytes input:
// detect_encoding, then decode with errors='surrogatepass'.
func pyDecodeBytes(b []byte) ([]rune, error) {
	switch {
	case bytes.HasPrefix(b, []byte{0x00, 0x00, 0xFE, 0xFF}):
		return decodeUTF32(b[4:], binary.BigEndian)
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE, 0x00, 0x00}):
		return decodeUTF32(b[4:], binary.LittleEndian)
	case bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		return decodeUTF16(b[2:], binary.BigEndian)
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}):
		return decodeUTF16(b[2:], binary.LittleEndian)
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		return decodeUTF8Surrogatepass(b[3:])
	}
	if len(b) >= 4 {
		if b[0] == 0 {
			if b[1] != 0 {
				return decodeUTF16(b, binary.BigEndian)
			}
			return decodeUTF32(b, binary.BigEndian)
		}
		if b[1] == 0 {
			if b[2] != 0 || b[3] != 0 {
				return decodeUTF16(b, binary.LittleEndian)
			}
			return decodeUTF32(b, binary.LittleEndian)
		}
	} else if len(b) == 2 {
		if b[0] == 0 {
			return decodeUTF16(b, binary.BigEndian)
		}
		if b[1] == 0 {
			return decodeUTF16(b, binary.LittleEndian)
		}
	}
	return decodeUTF8Surrogatepass(b)
}

func decodeUTF32(b []byte, order binary.ByteOrder) ([]rune, error) {
	if len(b)%4 != 0 {
		return nil, errBodyParse
	}
	out := make([]rune, 0, len(b)/4)
	for i := 0; i < len(b); i += 4 {
		c := order.Uint32(b[i:])
		if c > unicode.MaxRune {
			return nil, errBodyParse
		}
		out = append(out, rune(c))
	}
	return out, nil
}

func decodeUTF16(b []byte, order binary.ByteOrder) ([]rune, error) {
	if len(b)%2 != 0 {
		return nil, errBodyParse
	}
	out := make([]rune, 0, len(b)/2)
	for i := 0; i < len(b); i += 2 {
		c := rune(order.Uint16(b[i:]))
		if utf16.IsSurrogate(c) && c < 0xDC00 && i+3 < len(b) {
			c2 := rune(order.Uint16(b[i+2:]))
			if c2 >= 0xDC00 && c2 <= 0xDFFF {
				out = append(out, utf16.DecodeRune(c, c2))
				i += 2
				continue
			}
		}
		out = append(out, c) // surrogatepass keeps lone surrogates
	}
	return out, nil
}

// decodeUTF8Surrogatepass is strict UTF-8 that also accepts encoded
// surrogates (ED A0..BF xx), as Python's 'surrogatepass' handler does.
func decodeUTF8Surrogatepass(b []byte) ([]rune, error) {
	out := make([]rune, 0, len(b))
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0x80 {
			out = append(out, rune(c))
			i++
			continue
		}
		if c == 0xED && i+2 < len(b) && b[i+1] >= 0xA0 && b[i+1] <= 0xBF && b[i+2]&0xC0 == 0x80 {
			out = append(out, rune(c&0x0F)<<12|rune(b[i+1]&0x3F)<<6|rune(b[i+2]&0x3F))
			i += 3
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return nil, errBodyParse
		}
		out = append(out, r)
		i += n
	}
	return out, nil
}

// wtf8 encodes code points, lone surrogates included, into a Go string.
func wtf8(rs []rune) string {
	var sb strings.Builder
	for _, r := range rs {
		if r >= 0xD800 && r <= 0xDFFF {
			sb.WriteByte(byte(0xE0 | (r >> 12)))
			sb.WriteByte(byte(0x80 | ((r >> 6) & 0x3F)))
			sb.WriteByte(byte(0x80 | (r & 0x3F)))
			continue
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// pyRunes decodes a WTF-8 Go string back to code points.
func pyRunes(s string) []rune {
	rs, err := decodeUTF8Surrogatepass([]byte(s))
	if err != nil {
		return []rune(s)
	}
	return rs
}

type pyParser struct {
	s []rune
}

func (p *pyParser) skipWS(i int) int {
	for i < len(p.s) {
		switch p.s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func (p *pyParser) has(i int, lit string) bool {
	if i+len(lit) > len(p.s) {
		return false
	}
	for k := 0; k < len(lit); k++ {
		if p.s[i+k] != rune(lit[k]) {
			return false
		}
	}
	return true
}

func (p *pyParser) scanOnce(i, depth int) (any, int, error) {
	if i >= len(p.s) {
		return nil, i, &jsonDecodeError{"Expecting value", i}
	}
	switch c := p.s[i]; {
	case c == '"':
		s, end, err := p.scanString(i + 1)
		return s, end, err
	case c == '{':
		if depth >= maxJSONDepth {
			return nil, i, errBodyParse
		}
		return p.parseObject(i+1, depth+1)
	case c == '[':
		if depth >= maxJSONDepth {
			return nil, i, errBodyParse
		}
		return p.parseArray(i+1, depth+1)
	case c == 'n' && p.has(i, "null"):
		return nil, i + 4, nil
	case c == 't' && p.has(i, "true"):
		return true, i + 4, nil
	case c == 'f' && p.has(i, "false"):
		return false, i + 5, nil
	case c == 'N' && p.has(i, "NaN"):
		return math.NaN(), i + 3, nil
	case c == 'I' && p.has(i, "Infinity"):
		return math.Inf(1), i + 8, nil
	case c == '-' && p.has(i, "-Infinity"):
		return math.Inf(-1), i + 9, nil
	}
	return p.matchNumber(i)
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

func (p *pyParser) matchNumber(start int) (any, int, error) {
	i := start
	n := len(p.s)
	if i < n && p.s[i] == '-' {
		i++
	}
	switch {
	case i < n && p.s[i] >= '1' && p.s[i] <= '9':
		for i < n && isDigit(p.s[i]) {
			i++
		}
	case i < n && p.s[i] == '0':
		i++
	default:
		return nil, start, &jsonDecodeError{"Expecting value", start}
	}
	isFloat := false
	if i+1 < n && p.s[i] == '.' && isDigit(p.s[i+1]) {
		i += 2
		for i < n && isDigit(p.s[i]) {
			i++
		}
		isFloat = true
	}
	if i < n && (p.s[i] == 'e' || p.s[i] == 'E') {
		e := i
		i++
		if i < n && (p.s[i] == '+' || p.s[i] == '-') {
			i++
		}
		d := i
		for i < n && isDigit(p.s[i]) {
			i++
		}
		if i > d {
			isFloat = true
		} else {
			i = e
		}
	}
	lit := string(p.s[start:i])
	if isFloat {
		f, err := strconv.ParseFloat(lit, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, start, errBodyParse
		}
		return f, i, nil
	}
	digits := strings.TrimPrefix(lit, "-")
	if len(digits) > 4300 {
		return nil, start, errBodyParse // int() digit limit: ValueError
	}
	if digits == "0" {
		return pyInt("0"), i, nil
	}
	return pyInt(lit), i, nil
}

func (p *pyParser) parseObject(i, depth int) (any, int, error) {
	d := newPyDict()
	n := len(p.s)
	i = p.skipWS(i)
	if i < n && p.s[i] == '}' {
		return d, i + 1, nil
	}
	for {
		if i >= n || p.s[i] != '"' {
			return nil, i, &jsonDecodeError{"Expecting property name enclosed in double quotes", i}
		}
		key, end, err := p.scanString(i + 1)
		if err != nil {
			return nil, end, err
		}
		i = p.skipWS(end)
		if i >= n || p.s[i] != ':' {
			return nil, i, &jsonDecodeError{"Expecting ':' delimiter", i}
		}
		i = p.skipWS(i + 1)
		v, end, err := p.scanOnce(i, depth)
		if err != nil {
			return nil, end, err
		}
		d.set(key, v)
		i = p.skipWS(end)
		if i < n && p.s[i] == '}' {
			return d, i + 1, nil
		}
		if i >= n || p.s[i] != ',' {
			return nil, i, &jsonDecodeError{"Expecting ',' delimiter", i}
		}
		i = p.skipWS(i + 1)
	}
}

func (p *pyParser) parseArray(i, depth int) (any, int, error) {
	out := []any{}
	n := len(p.s)
	i = p.skipWS(i)
	if i < n && p.s[i] == ']' {
		return out, i + 1, nil
	}
	for {
		v, end, err := p.scanOnce(i, depth)
		if err != nil {
			return nil, end, err
		}
		out = append(out, v)
		i = p.skipWS(end)
		if i < n && p.s[i] == ']' {
			return out, i + 1, nil
		}
		if i >= n || p.s[i] != ',' {
			return nil, i, &jsonDecodeError{"Expecting ',' delimiter", i}
		}
		i = p.skipWS(i + 1)
	}
}

func hexVal(rs []rune) (rune, bool) {
	var v rune
	for _, r := range rs {
		v <<= 4
		switch {
		case r >= '0' && r <= '9':
			v |= r - '0'
		case r >= 'a' && r <= 'f':
			v |= r - 'a' + 10
		case r >= 'A' && r <= 'F':
			v |= r - 'A' + 10
		default:
			return 0, false
		}
	}
	return v, true
}

// scanString is the strict scanner of Python's json: i is just after the
// opening quote.
func (p *pyParser) scanString(i int) (string, int, error) {
	begin := i - 1
	n := len(p.s)
	var out []rune
	for {
		if i >= n {
			return "", i, &jsonDecodeError{"Unterminated string starting at", begin}
		}
		c := p.s[i]
		if c == '"' {
			return wtf8(out), i + 1, nil
		}
		if c < 0x20 {
			return "", i, &jsonDecodeError{"Invalid control character at", i}
		}
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		i++
		if i >= n {
			return "", i, &jsonDecodeError{"Unterminated string starting at", begin}
		}
		c = p.s[i]
		if c != 'u' {
			var r rune
			switch c {
			case '"', '\\', '/':
				r = c
			case 'b':
				r = '\b'
			case 'f':
				r = '\f'
			case 'n':
				r = '\n'
			case 'r':
				r = '\r'
			case 't':
				r = '\t'
			default:
				return "", i, &jsonDecodeError{"Invalid \\escape: " + pyReprString(string(c)), i - 1}
			}
			out = append(out, r)
			i++
			continue
		}
		if i+5 > n {
			return "", i, &jsonDecodeError{"Invalid \\uXXXX escape", i - 1}
		}
		u, ok := hexVal(p.s[i+1 : i+5])
		if !ok {
			return "", i, &jsonDecodeError{"Invalid \\uXXXX escape", i - 1}
		}
		i += 5
		if u >= 0xD800 && u <= 0xDBFF && i+6 <= n && p.s[i] == '\\' && p.s[i+1] == 'u' {
			if u2, ok := hexVal(p.s[i+2 : i+6]); ok && u2 >= 0xDC00 && u2 <= 0xDFFF {
				out = append(out, utf16.DecodeRune(u, u2))
				i += 6
				continue
			}
		}
		out = append(out, u)
	}
}

// ── Python repr ────────────────────────────────────────────────────────────

// pyRepr renders v as Python's repr() would.
func pyRepr(v any) string {
	var sb strings.Builder
	writePyRepr(&sb, v)
	return sb.String()
}

func writePyRepr(sb *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		sb.WriteString("None")
	case bool:
		if x {
			sb.WriteString("True")
		} else {
			sb.WriteString("False")
		}
	case string:
		sb.WriteString(pyReprString(x))
	case pyInt:
		sb.WriteString(string(x))
	case float64:
		sb.WriteString(pyFloatRepr(x))
	case []any:
		sb.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				sb.WriteString(", ")
			}
			writePyRepr(sb, e)
		}
		sb.WriteByte(']')
	case pyTuple:
		sb.WriteByte('(')
		for i, e := range x {
			if i > 0 {
				sb.WriteString(", ")
			}
			writePyRepr(sb, e)
		}
		if len(x) == 1 {
			sb.WriteByte(',')
		}
		sb.WriteByte(')')
	case *pyDict:
		sb.WriteByte('{')
		for i, k := range x.keys {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(pyReprString(k))
			sb.WriteString(": ")
			writePyRepr(sb, x.vals[k])
		}
		sb.WriteByte('}')
	case pyBytes:
		sb.WriteString(pyReprBytes(x))
	case pyValueError:
		sb.WriteString("ValueError(")
		sb.WriteString(pyReprString(string(x)))
		sb.WriteByte(')')
	case int:
		sb.WriteString(strconv.Itoa(x))
	default:
		sb.WriteString("<?>")
	}
}

// pyReprString is repr() of a Python str held as WTF-8.
func pyReprString(s string) string {
	quote := byte('\'')
	if strings.Contains(s, "'") && !strings.Contains(s, "\"") {
		quote = '"'
	}
	var sb strings.Builder
	sb.WriteByte(quote)
	for _, r := range pyRunes(s) {
		switch {
		case r == rune(quote) || r == '\\':
			sb.WriteByte('\\')
			sb.WriteRune(r)
		case r == '\t':
			sb.WriteString(`\t`)
		case r == '\n':
			sb.WriteString(`\n`)
		case r == '\r':
			sb.WriteString(`\r`)
		case r < 0x20 || r == 0x7F:
			sb.WriteString(`\x`)
			sb.WriteString(hex2(int(r), 2))
		case r < 0x7F:
			sb.WriteRune(r)
		case r >= 0xD800 && r <= 0xDFFF || !unicode.IsPrint(r):
			switch {
			case r < 0x100:
				sb.WriteString(`\x` + hex2(int(r), 2))
			case r < 0x10000:
				sb.WriteString(`\u` + hex2(int(r), 4))
			default:
				sb.WriteString(`\U` + hex2(int(r), 8))
			}
		default:
			sb.WriteRune(r)
		}
	}
	sb.WriteByte(quote)
	return sb.String()
}

func pyReprBytes(b []byte) string {
	quote := byte('\'')
	if bytes.IndexByte(b, '\'') >= 0 && bytes.IndexByte(b, '"') < 0 {
		quote = '"'
	}
	var sb strings.Builder
	sb.WriteString("b")
	sb.WriteByte(quote)
	for _, c := range b {
		switch {
		case c == quote || c == '\\':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case c == '\t':
			sb.WriteString(`\t`)
		case c == '\n':
			sb.WriteString(`\n`)
		case c == '\r':
			sb.WriteString(`\r`)
		case c < 0x20 || c >= 0x7F:
			sb.WriteString(`\x` + hex2(int(c), 2))
		default:
			sb.WriteByte(c)
		}
	}
	sb.WriteByte(quote)
	return sb.String()
}

func hex2(v, width int) string {
	s := strconv.FormatInt(int64(v), 16)
	for len(s) < width {
		s = "0" + s
	}
	return s
}

// shortestDigits returns the shortest round-tripping decimal digits of |f|
// and the exponent E such that |f| = d.ddd × 10^E.
func shortestDigits(f float64) (digits string, exp int) {
	s := strconv.FormatFloat(math.Abs(f), 'e', -1, 64)
	mant, e, _ := strings.Cut(s, "e")
	exp, _ = strconv.Atoi(e)
	return strings.Replace(mant, ".", "", 1), exp
}

// pyFloatRepr is repr() of a Python float.
func pyFloatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	sign := ""
	if f < 0 {
		sign = "-"
	}
	digits, exp := shortestDigits(f)
	if exp < -4 || exp >= 16 {
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		es := "+"
		if exp < 0 {
			es = "-"
			exp = -exp
		}
		e := strconv.Itoa(exp)
		if len(e) < 2 {
			e = "0" + e
		}
		return sign + m + "e" + es + e
	}
	if exp < 0 {
		return sign + "0." + strings.Repeat("0", -exp-1) + digits
	}
	if len(digits) <= exp+1 {
		return sign + digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
	}
	return sign + digits[:exp+1] + "." + digits[exp+1:]
}
