package bridge

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
)

// maxJSONDepth bounds the nesting of values sent to Ezop. The server's JSON
// parser recurses per level; deeper documents are sent as their text.
const maxJSONDepth = 32

// truncMarker ends a string that was cut to fit MaxValueBytes.
const truncMarker = "…[truncated by ezop-otel-go]"

// issueLog counts issues of one translation by kind and reason.
type issueLog struct {
	counts map[issueKey]int
	order  []issueKey
}

type issueKey struct {
	kind   IssueKind
	reason string
}

func (l *issueLog) add(kind IssueKind, reason string) {
	if l.counts == nil {
		l.counts = make(map[issueKey]int)
	}
	k := issueKey{kind, reason}
	if _, ok := l.counts[k]; !ok {
		l.order = append(l.order, k)
	}
	l.counts[k]++
}

func (l *issueLog) issues() []Issue {
	if len(l.order) == 0 {
		return nil
	}
	out := make([]Issue, 0, len(l.order))
	for _, k := range l.order {
		out = append(out, Issue{Kind: k.kind, Reason: k.reason, Count: l.counts[k]})
	}
	return out
}

// sanitizer turns attribute values and decoded JSON into values the server
// accepts: valid UTF-8, finite numbers, bounded size and depth. It records
// every change in its issue log.
type sanitizer struct {
	t      *Translator
	issues *issueLog
}

// str returns s as valid UTF-8 of at most MaxValueBytes.
func (z sanitizer) str(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
		z.issues.add(Altered, "invalid UTF-8 replaced")
	}
	if strings.IndexByte(s, 0) >= 0 {
		// PostgreSQL stores no NUL character, in text or jsonb.
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
		z.issues.add(Altered, "NUL character replaced")
	}
	max := z.t.cfg.MaxValueBytes
	if len(s) <= max {
		return s
	}
	z.issues.add(Altered, "value truncated to MaxValueBytes")
	marker := truncMarker
	if max <= len(marker) {
		// No room for the marker: the cap wins.
		marker = ""
	}
	cut := max - len(marker)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + marker
}

// float returns f as a JSON number, or as its name when JSON cannot carry
// it (NaN, ±Inf).
func (z sanitizer) float(f float64) any {
	switch {
	case math.IsNaN(f):
		z.issues.add(Altered, "non-finite number sent as text")
		return "NaN"
	case math.IsInf(f, 1):
		z.issues.add(Altered, "non-finite number sent as text")
		return "Infinity"
	case math.IsInf(f, -1):
		z.issues.add(Altered, "non-finite number sent as text")
		return "-Infinity"
	}
	return f
}

// value converts an attribute value to a JSON-ready value.
func (z sanitizer) value(v attribute.Value) any {
	return z.valueDepth(v, 0)
}

func (z sanitizer) valueDepth(v attribute.Value, depth int) any {
	switch v.Type() {
	case attribute.BOOL:
		return v.AsBool()
	case attribute.INT64:
		return v.AsInt64()
	case attribute.FLOAT64:
		return z.float(v.AsFloat64())
	case attribute.STRING:
		return z.str(v.AsString())
	case attribute.BOOLSLICE:
		return v.AsBoolSlice()
	case attribute.INT64SLICE:
		return v.AsInt64Slice()
	case attribute.FLOAT64SLICE:
		fs := v.AsFloat64Slice()
		out := make([]any, len(fs))
		for i, f := range fs {
			out[i] = z.float(f)
		}
		return out
	case attribute.STRINGSLICE:
		ss := v.AsStringSlice()
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = z.str(s)
		}
		return out
	case attribute.BYTESLICE:
		return z.str(base64.StdEncoding.EncodeToString(v.AsByteSlice()))
	case attribute.SLICE:
		if depth >= maxJSONDepth {
			z.issues.add(Altered, "value nested too deeply sent as text")
			return z.str(v.String())
		}
		vs := v.AsSlice()
		out := make([]any, len(vs))
		for i, e := range vs {
			out[i] = z.valueDepth(e, depth+1)
		}
		return out
	case attribute.MAP:
		if depth >= maxJSONDepth {
			z.issues.add(Altered, "value nested too deeply sent as text")
			return z.str(v.String())
		}
		kvs := v.AsMap()
		out := make(map[string]any, len(kvs))
		for _, kv := range kvs {
			out[z.str(string(kv.Key))] = z.valueDepth(kv.Value, depth+1)
		}
		return out
	}
	return nil
}

// jsonish converts an attribute value that may hold a JSON document (as
// GenAI instrumentation often records messages) to a structured value:
// strings that parse as a JSON object or array are decoded, everything
// else converts as usual.
func (z sanitizer) jsonish(v attribute.Value) any {
	if v.Type() == attribute.STRING {
		if d, ok := z.decodeJSON(v.AsString()); ok {
			return d
		}
	}
	return z.value(v)
}

// decodeJSON decodes s when it is a JSON object or array, sanitizing what
// it finds. Any JSON value is accepted when anyValue is set.
func (z sanitizer) decodeJSON(s string) (any, bool) {
	t := strings.TrimSpace(s)
	if t == "" || (t[0] != '{' && t[0] != '[') {
		return nil, false
	}
	return z.decodeAnyJSON(t)
}

func (z sanitizer) decodeAnyJSON(s string) (any, bool) {
	if len(s) > z.t.cfg.MaxPayloadBytes || !json.Valid([]byte(s)) {
		return nil, false
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	return z.clean(v, 0), true
}

// clean sanitizes a decoded JSON value.
func (z sanitizer) clean(v any, depth int) any {
	switch t := v.(type) {
	case string:
		return z.str(t)
	case map[string]any:
		if depth >= maxJSONDepth {
			return z.tooDeep(t)
		}
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[z.str(k)] = z.clean(e, depth+1)
		}
		return out
	case []any:
		if depth >= maxJSONDepth {
			return z.tooDeep(t)
		}
		for i, e := range t {
			t[i] = z.clean(e, depth+1)
		}
		return t
	case float64:
		return z.float(t)
	case json.Number:
		// JSON allows numbers no float64 holds (1e999, 400-digit
		// integers); the server reads them as infinite or refuses them.
		if f, err := t.Float64(); err != nil || math.IsInf(f, 0) {
			z.issues.add(Altered, "number out of range sent as text")
			return z.str(t.String())
		}
	}
	return v
}

func (z sanitizer) tooDeep(v any) string {
	z.issues.add(Altered, "value nested too deeply sent as text")
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return z.str(string(b))
}

// redact applies the configured redaction hook.
func (z sanitizer) redact(key string, v any) (any, bool) {
	if z.t.cfg.Redact == nil {
		return v, true
	}
	out, keep := z.t.cfg.Redact(key, v)
	if !keep {
		z.issues.add(Dropped, "value removed by redaction")
		return nil, false
	}
	return z.hookValue(out), true
}

// redactText passes a text that is not an attribute value (a status
// description, a run message) through the redaction hook under key, and
// returns what may be sent: empty when the hook drops it or turns it into
// something that is not text.
func (z sanitizer) redactText(key, text string) string {
	if text == "" {
		return ""
	}
	v, keep := z.redact(key, text)
	if !keep {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return z.str(string(b))
}

// hookValue makes what the redaction hook returned sendable whatever its
// type: it goes through JSON and is then sanitized like decoded content.
func (z sanitizer) hookValue(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		z.issues.add(Altered, "redaction hook returned a value JSON cannot encode: sent as text")
		return z.str(fmt.Sprint(v))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var d any
	if err := dec.Decode(&d); err != nil {
		z.issues.add(Altered, "value nested too deeply sent as text")
		return z.str(string(b))
	}
	return z.clean(d, 0)
}

// object wraps v as the JSON object the server requires for input, output
// and error: objects pass, anything else becomes {"value": v}.
func object(v any) wire.Object {
	switch t := v.(type) {
	case nil:
		return nil
	case map[string]any:
		return t
	}
	return wire.Object{"value": v}
}

// fit bounds the JSON size of o to MaxPayloadBytes (see fitTo).
func (z sanitizer) fit(o wire.Object) wire.Object {
	return z.fitTo(o, z.t.cfg.MaxPayloadBytes)
}

// removedKeysKey counts the top-level keys fitTo removed from an object.
const removedKeysKey = "ezop_otel_removed_keys"

// fitTo bounds the JSON size of o to limit by replacing its largest
// top-level values with a marker, or removing them (counted under
// removedKeysKey) where a marker would save little, until it fits.
func (z sanitizer) fitTo(o wire.Object, limit int) wire.Object {
	if o == nil {
		return nil
	}
	size, sizes := jsonSizes(o)
	if size <= limit {
		return o
	}
	keys := make([]string, 0, len(sizes))
	for k := range sizes {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if sizes[keys[i]] != sizes[keys[j]] {
			return sizes[keys[i]] > sizes[keys[j]]
		}
		return keys[i] < keys[j]
	})
	removed := 0
	for _, k := range keys {
		if size <= limit {
			break
		}
		marker := "[removed by ezop-otel-go: " + strconv.Itoa(sizes[k]) + " bytes over the payload limit]"
		if 2*(len(marker)+2) <= sizes[k] {
			size += len(marker) + 2 - sizes[k]
			o[k] = marker
			z.issues.add(Altered, "payload over MaxPayloadBytes: value removed")
			continue
		}
		if removed == 0 {
			// Room for the count of removed keys.
			size += len(removedKeysKey) + 4 + len(strconv.Itoa(len(o)))
		}
		size -= jsonLen(k) + 2 + sizes[k]
		delete(o, k)
		removed++
		z.issues.add(Dropped, "payload over MaxPayloadBytes: key removed")
	}
	if removed > 0 {
		o[removedKeysKey] = removed
	}
	if size > limit {
		// Only keys remain: too many of them. Keep a count instead.
		z.issues.add(Dropped, "payload over MaxPayloadBytes: object dropped")
		return wire.Object{"ezop_otel_dropped": "payload over limit: " + strconv.Itoa(len(o)) + " keys"}
	}
	return o
}

// jsonSizes returns the size of o and of each of its values encoded as
// the client encodes them (json.Marshal).
func jsonSizes(o wire.Object) (int, map[string]int) {
	sizes := make(map[string]int, len(o))
	total := 2
	for k, v := range o {
		sizes[k] = jsonLen(v)
		total += jsonLen(k) + 2 + sizes[k]
	}
	return total, sizes
}

// jsonLen is the size of v as json.Marshal encodes it, 0 if it does not
// encode. It counts without encoding for the values the translation builds
// (measuring every metadata object by marshalling it cost more than the
// rest of the translation); other values are marshalled.
func jsonLen(v any) int {
	switch t := v.(type) {
	case nil:
		return 4
	case bool:
		if t {
			return 4
		}
		return 5
	case string:
		return jsonStringLen(t)
	case int64:
		return intLen(t)
	case int:
		return intLen(int64(t))
	case float64:
		return floatLen(t)
	case json.Number:
		if t == "" {
			return 1 // encoded as 0
		}
		return len(t)
	case map[string]any:
		n := 2
		for k, e := range t {
			el := jsonLen(e)
			if el == 0 {
				return 0
			}
			n += jsonStringLen(k) + 1 + el + 1
		}
		if len(t) > 0 {
			n-- // no comma after the last entry
		}
		return n
	case []any:
		n := 2
		for _, e := range t {
			el := jsonLen(e)
			if el == 0 {
				return 0
			}
			n += el + 1
		}
		if len(t) > 0 {
			n--
		}
		return n
	case []string:
		n := 2 + max(len(t)-1, 0)
		for _, e := range t {
			n += jsonStringLen(e)
		}
		return n
	case []int64:
		n := 2 + max(len(t)-1, 0)
		for _, e := range t {
			n += intLen(e)
		}
		return n
	case []bool:
		n := 2 + max(len(t)-1, 0)
		for _, e := range t {
			n += 5
			if e {
				n--
			}
		}
		return n
	}
	b, err := json.Marshal(v)
	if err != nil {
		return 0
	}
	return len(b)
}

func intLen(i int64) int {
	var buf [24]byte
	return len(strconv.AppendInt(buf[:0], i, 10))
}

// floatLen is the length of f as encoding/json writes it; 0 for the
// values it refuses (NaN, ±Inf).
func floatLen(f float64) int {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	var buf [32]byte
	b := strconv.AppendFloat(buf[:0], f, format, -1, 64)
	if n := len(b); format == 'e' && n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		return n - 1 // e-07 is written e-7
	}
	return len(b)
}

// jsonStringLen is the length of s as a JSON string from json.Marshal,
// which escapes <, > and & and replaces invalid UTF-8.
func jsonStringLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t':
				n += 2
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6 // \ufffd
		case r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}
