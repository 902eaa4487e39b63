package ezoptest

// What PostgreSQL (through psycopg2) does to the values the server stores:
// uuid and timestamptz input, text that cannot be sent, and the jsonb round
// trip of JSON objects. A failure here is a database error, which the real
// server answers with 500 INTERNAL_ERROR.

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// errDB is any database (or driver) error: the server answers 500.
var errDB = errors.New("database error")

// pgUUID parses s like PostgreSQL's uuid_in: 32 hex digits, optionally in
// braces, with an optional hyphen after any group of four digits. It
// returns the canonical lower-case hyphenated form.
func pgUUID(s string) (string, bool) {
	src := s
	braces := false
	if strings.HasPrefix(src, "{") {
		src = src[1:]
		braces = true
	}
	var b [16]byte
	for i := 0; i < 16; i++ {
		if len(src) < 2 {
			return "", false
		}
		if !isHex(src[0]) || !isHex(src[1]) {
			return "", false
		}
		v, _ := strconv.ParseUint(src[:2], 16, 8)
		b[i] = byte(v)
		src = src[2:]
		if len(src) > 0 && src[0] == '-' && i%2 == 1 && i < 15 {
			src = src[1:]
		}
	}
	if braces {
		if !strings.HasPrefix(src, "}") {
			return "", false
		}
		src = src[1:]
	}
	if src != "" {
		return "", false
	}
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// pgText checks a Python str before psycopg2 sends it: a NUL character is
// refused by the driver and a lone surrogate cannot be encoded to UTF-8.
func pgText(s string) error {
	if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
		return errDB
	}
	return nil
}

// ── timestamptz ────────────────────────────────────────────────────────────

// Times the API answers are Python datetimes rendered by pydantic: UTC with
// 'Z', six fractional digits, or none when the microseconds are zero.
func formatTime(t time.Time) string {
	t = t.UTC()
	s := t.Format("2006-01-02T15:04:05")
	if us := t.Nanosecond() / 1000; us != 0 {
		s += "." + pad6(us)
	}
	return s + "Z"
}

func pad6(v int) string {
	s := strconv.Itoa(v)
	return strings.Repeat("0", 6-len(s)) + s
}

// What psycopg2 makes of PostgreSQL's infinite timestamps.
const (
	infinityText      = "9999-12-31T23:59:59.999999Z"
	minusInfinityText = "0001-01-01T00:00:00Z"
)

// pgTimestamptz parses a time string the way PostgreSQL's timestamptz input
// does with TimeZone=UTC, for the ISO-8601 family of spellings (date, 'T' or
// spaces, time with any fraction, Z/UTC/GMT or a numeric offset) and the
// special words now, today, tomorrow, yesterday, epoch and [+-]infinity.
// Fractions are rounded (rint) to microseconds. It returns the text the API
// answers with, or errDB for input PostgreSQL (or psycopg2, for years
// outside 1..9999) would refuse.
func pgTimestamptz(s string, now time.Time) (string, error) {
	str := strings.Trim(s, " \t\n\r\f\v")
	low := strings.ToLower(str)
	day := func(t time.Time) time.Time {
		y, m, d := t.UTC().Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}
	switch low {
	case "now":
		return formatTime(now), nil
	case "today":
		return formatTime(day(now)), nil
	case "tomorrow":
		return formatTime(day(now).AddDate(0, 0, 1)), nil
	case "yesterday":
		return formatTime(day(now).AddDate(0, 0, -1)), nil
	case "epoch":
		return formatTime(time.Unix(0, 0)), nil
	case "infinity", "+infinity":
		return infinityText, nil
	case "-infinity":
		return minusInfinityText, nil
	}
	t, err := parseISOTime(str)
	if err != nil {
		return "", err
	}
	if y := t.Year(); y < 1 || y > 9999 {
		return "", errDB
	}
	return formatTime(t), nil
}

type timeScanner struct {
	s string
	i int
}

func (sc *timeScanner) digits() string {
	j := sc.i
	for sc.i < len(sc.s) && sc.s[sc.i] >= '0' && sc.s[sc.i] <= '9' {
		sc.i++
	}
	return sc.s[j:sc.i]
}

func (sc *timeScanner) peek() byte {
	if sc.i < len(sc.s) {
		return sc.s[sc.i]
	}
	return 0
}

func (sc *timeScanner) eat(c byte) bool {
	if sc.peek() == c {
		sc.i++
		return true
	}
	return false
}

func (sc *timeScanner) spaces() int {
	n := 0
	for sc.peek() == ' ' || sc.peek() == '\t' {
		sc.i++
		n++
	}
	return n
}

func atoi(s string) int {
	v, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return v
}

func parseISOTime(str string) (time.Time, error) {
	sc := &timeScanner{s: str}
	ys := sc.digits()
	if len(ys) < 4 || !sc.eat('-') {
		return time.Time{}, errDB
	}
	ms := sc.digits()
	if len(ms) < 1 || len(ms) > 2 || !sc.eat('-') {
		return time.Time{}, errDB
	}
	ds := sc.digits()
	if len(ds) < 1 || len(ds) > 2 {
		return time.Time{}, errDB
	}
	year, month, dayN := atoi(ys), atoi(ms), atoi(ds)
	if year < 1 || month < 1 || month > 12 || dayN < 1 || dayN > daysIn(year, month) {
		return time.Time{}, errDB
	}
	var hour, minute, sec int
	var usec float64
	hasTime := false
	isT := sc.eat('T') || sc.eat('t')
	sep := isT || sc.spaces() > 0
	if isT && !(sc.peek() >= '0' && sc.peek() <= '9') {
		return time.Time{}, errDB
	}
	if sep && sc.peek() >= '0' && sc.peek() <= '9' {
		hs := sc.digits()
		if len(hs) < 1 || len(hs) > 2 || !sc.eat(':') {
			return time.Time{}, errDB
		}
		mins := sc.digits()
		if len(mins) != 2 {
			return time.Time{}, errDB
		}
		hour, minute = atoi(hs), atoi(mins)
		if sc.eat(':') {
			ss := sc.digits()
			if len(ss) != 2 {
				return time.Time{}, errDB
			}
			sec = atoi(ss)
			if sc.eat('.') {
				fs := sc.digits()
				if fs == "" {
					return time.Time{}, errDB
				}
				f, _ := strconv.ParseFloat("0."+fs, 64)
				usec = math.RoundToEven(f * 1e6)
			}
		}
		hasTime = true
	}
	if hasTime {
		if minute > 59 || sec > 60 || hour > 24 || hour == 24 && (minute != 0 || sec != 0 || usec != 0) {
			return time.Time{}, errDB
		}
	}
	offset, err := parseZone(sc)
	if err != nil {
		return time.Time{}, err
	}
	t := time.Date(year, time.Month(month), dayN, hour, minute, sec, 0, time.UTC)
	t = t.Add(time.Duration(usec) * time.Microsecond)
	return t.Add(-time.Duration(offset) * time.Second), nil
}

// parseZone reads an optional zone: Z, UTC, GMT, or ±HH[[:]MM[[:]SS]].
func parseZone(sc *timeScanner) (int, error) {
	sc.spaces()
	rest := strings.ToLower(sc.s[sc.i:])
	switch rest {
	case "":
		return 0, nil
	case "z", "utc", "gmt", "ut", "zulu":
		return 0, nil
	}
	sign := 1
	switch sc.peek() {
	case '+':
	case '-':
		sign = -1
	default:
		return 0, errDB
	}
	sc.i++
	hs := sc.digits()
	var h, m, s int
	switch len(hs) {
	case 1, 2:
		h = atoi(hs)
		if sc.eat(':') {
			ms := sc.digits()
			if len(ms) != 2 {
				return 0, errDB
			}
			m = atoi(ms)
			if sc.eat(':') {
				ss := sc.digits()
				if len(ss) != 2 {
					return 0, errDB
				}
				s = atoi(ss)
			}
		}
	case 4:
		h, m = atoi(hs[:2]), atoi(hs[2:])
	case 6:
		h, m, s = atoi(hs[:2]), atoi(hs[2:4]), atoi(hs[4:])
	default:
		return 0, errDB
	}
	sc.spaces()
	if sc.i != len(sc.s) || h > 15 || m > 59 || s > 59 {
		return 0, errDB
	}
	return sign * (h*3600 + m*60 + s), nil
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// ── jsonb ──────────────────────────────────────────────────────────────────

// toJSONB converts a decoded Python dict into what comes back after
// json.dumps, the jsonb column and psycopg2's json.loads: objects become
// map[string]any (the API renders keys in jsonb order), numbers become
// json.Number holding the text Python would answer with. It fails like the
// database does for NUL characters, lone surrogates, NaN and infinities.
func toJSONB(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool:
		return x, nil
	case string:
		if pgText(x) != nil {
			return nil, errDB
		}
		return x, nil
	case pyInt:
		return json.Number(string(x)), nil
	case float64:
		s, err := jsonbFloat(x)
		if err != nil {
			return nil, err
		}
		return json.Number(s), nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			c, err := toJSONB(e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case *pyDict:
		out := make(map[string]any, len(x.keys))
		for _, k := range x.keys {
			if pgText(k) != nil {
				return nil, errDB
			}
			c, err := toJSONB(x.vals[k])
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	}
	return nil, errDB
}

func toJSONBObject(d *pyDict) (map[string]any, error) {
	v, err := toJSONB(d)
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

// jsonbFloat follows a Python float through json.dumps (repr), jsonb
// numeric and json.loads: magnitudes of 1e16 and more come back as ints,
// zero loses its sign, everything else is repr() again.
func jsonbFloat(f float64) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", errDB // json.dumps writes NaN/Infinity: not JSON for PostgreSQL
	}
	if f == 0 {
		return "0.0", nil
	}
	if math.Abs(f) >= 1e16 {
		digits, exp := shortestDigits(f)
		s := digits + strings.Repeat("0", exp-(len(digits)-1))
		if f < 0 {
			s = "-" + s
		}
		return s, nil
	}
	return pyFloatRepr(f), nil
}
