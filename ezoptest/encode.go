package ezoptest

// Response bodies are written the way the real server writes them:
// Starlette's JSONResponse (json.dumps with ensure_ascii=False and compact
// separators), record fields in the order of the server's pydantic models
// (the wire structs use the same order) and JSON objects read back from
// jsonb, whose keys PostgreSQL orders shortest first, then bytewise.

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

func pyJSON(v any) []byte {
	var b bytes.Buffer
	writeJSON(&b, reflect.ValueOf(v))
	return b.Bytes()
}

func writeJSON(b *bytes.Buffer, v reflect.Value) {
	if !v.IsValid() {
		b.WriteString("null")
		return
	}
	if v.Type() == reflect.TypeOf(json.Number("")) {
		b.WriteString(v.String())
		return
	}
	if v.Type() == reflect.TypeOf(json.RawMessage(nil)) {
		b.Write(v.Bytes())
		return
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			b.WriteString("null")
			return
		}
		writeJSON(b, v.Elem())
	case reflect.String:
		writePyString(b, v.String())
	case reflect.Bool:
		if v.Bool() {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		b.WriteString(strconv.FormatInt(v.Int(), 10))
	case reflect.Float32, reflect.Float64:
		s, err := jsonbFloat(v.Float())
		if err != nil {
			s = "null"
		}
		b.WriteString(s)
	case reflect.Slice:
		if v.IsNil() {
			b.WriteString("null")
			return
		}
		b.WriteByte('[')
		for i := 0; i < v.Len(); i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, v.Index(i))
		}
		b.WriteByte(']')
	case reflect.Map:
		if v.IsNil() {
			b.WriteString("null")
			return
		}
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		sortJSONBKeys(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writePyString(b, k)
			b.WriteByte(':')
			writeJSON(b, v.MapIndex(reflect.ValueOf(k)))
		}
		b.WriteByte('}')
	case reflect.Struct:
		t := v.Type()
		b.WriteByte('{')
		n := 0
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if n > 0 {
				b.WriteByte(',')
			}
			n++
			writePyString(b, name)
			b.WriteByte(':')
			writeJSON(b, v.Field(i))
		}
		b.WriteByte('}')
	default:
		b.WriteString("null")
	}
}

// sortJSONBKeys orders object keys as jsonb stores them.
func sortJSONBKeys(keys []string) {
	sort.Slice(keys, func(i, j int) bool {
		if len(keys[i]) != len(keys[j]) {
			return len(keys[i]) < len(keys[j])
		}
		return keys[i] < keys[j]
	})
}

// writePyString writes s as json.dumps(ensure_ascii=False) does.
func writePyString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		// Printable ASCII needs no escape: copy a run of it at once, since
		// answers can hold megabytes of it.
		j := i
		for j < len(s) && s[j] >= 0x20 && s[j] < utf8.RuneSelf && s[j] != '"' && s[j] != '\\' {
			j++
		}
		if j > i {
			b.WriteString(s[i:j])
			i = j
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if r < 0x20 {
				b.WriteString(`\u00` + hex2(int(r), 2))
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}
