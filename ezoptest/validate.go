package ezoptest

// Request body validation as FastAPI + pydantic v2 (lax mode, Python input)
// do it for the server's request models. The 422 message is str() of the
// error list, so errors carry the same type, loc, msg, input and ctx.

import (
	"math"
	"strconv"
	"strings"

	"github.com/ezopotel/ezop-otel-go/semconv"
)

type pyErr struct {
	typ   string
	loc   pyTuple
	msg   string
	input any
	ctx   *pyDict
}

func (e pyErr) dict() *pyDict {
	d := newPyDict()
	d.set("type", e.typ)
	d.set("loc", e.loc)
	d.set("msg", e.msg)
	d.set("input", e.input)
	if e.ctx != nil {
		d.set("ctx", e.ctx)
	}
	return d
}

// pyErrorsMessage is str(exc.errors()).
func pyErrorsMessage(errs []pyErr) string {
	l := make([]any, len(errs))
	for i, e := range errs {
		l[i] = e.dict()
	}
	return pyRepr(l)
}

// jsonInvalidError is the error FastAPI builds for a JSONDecodeError.
func jsonInvalidError(e *jsonDecodeError) pyErr {
	ctx := newPyDict()
	ctx.set("error", e.msg)
	return pyErr{typ: "json_invalid", loc: pyTuple{"body", e.pos}, msg: "JSON decode error", input: newPyDict(), ctx: ctx}
}

type fieldKind int

const (
	kStr        fieldKind = iota // str
	kOptStr                      // str | None
	kOptDict                     // dict | None
	kOptStrList                  // list[str] | None
	kOptInt                      // int | None
	kEnum                        // a StrEnum
	kOptEnum                     // a StrEnum | None
)

type field struct {
	name     string
	kind     fieldKind
	required bool
	enum     []string
	def      any // value when absent and not required (nil = None)
}

type model struct {
	fields []field
	// after is a model_validator(mode="after"): it runs only when every
	// field is valid and returns a ValueError message or "".
	after func(vals map[string]any) string
}

// Values after validation: str → string, None → nil, dict → *pyDict,
// list[str] → []string (non-nil), int → pyInt, enum → string.

func validateModel(m *model, body any) (map[string]any, []pyErr) {
	if body == nil {
		return nil, []pyErr{{typ: "missing", loc: pyTuple{"body"}, msg: "Field required", input: nil}}
	}
	d, ok := body.(*pyDict)
	if !ok {
		return nil, []pyErr{{typ: "model_attributes_type", loc: pyTuple{"body"},
			msg: "Input should be a valid dictionary or object to extract fields from", input: body}}
	}
	vals := make(map[string]any, len(m.fields))
	var errs []pyErr
	for _, f := range m.fields {
		v, present := d.get(f.name)
		loc := pyTuple{"body", f.name}
		if !present {
			if f.required {
				errs = append(errs, pyErr{typ: "missing", loc: loc, msg: "Field required", input: d})
			} else {
				vals[f.name] = f.def
			}
			continue
		}
		out, ferrs := validateField(f, v, loc)
		errs = append(errs, ferrs...)
		if len(ferrs) == 0 {
			vals[f.name] = out
		}
	}
	if len(errs) == 0 && m.after != nil {
		if msg := m.after(vals); msg != "" {
			ctx := newPyDict()
			ctx.set("error", pyValueError(msg))
			errs = append(errs, pyErr{typ: "value_error", loc: pyTuple{"body"}, msg: "Value error, " + msg, input: d, ctx: ctx})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return vals, nil
}

func validateField(f field, v any, loc pyTuple) (any, []pyErr) {
	nullable := f.kind != kStr && f.kind != kEnum
	if v == nil && nullable {
		return nil, nil
	}
	switch f.kind {
	case kStr, kOptStr:
		if s, ok := v.(string); ok {
			return s, nil
		}
		return nil, []pyErr{{typ: "string_type", loc: loc, msg: "Input should be a valid string", input: v}}
	case kOptDict:
		if d, ok := v.(*pyDict); ok {
			return d, nil
		}
		return nil, []pyErr{{typ: "dict_type", loc: loc, msg: "Input should be a valid dictionary", input: v}}
	case kOptStrList:
		l, ok := v.([]any)
		if !ok {
			return nil, []pyErr{{typ: "list_type", loc: loc, msg: "Input should be a valid list", input: v}}
		}
		out := make([]string, 0, len(l))
		var errs []pyErr
		for i, e := range l {
			s, ok := e.(string)
			if !ok {
				errs = append(errs, pyErr{typ: "string_type", loc: append(append(pyTuple{}, loc...), i),
					msg: "Input should be a valid string", input: e})
				continue
			}
			out = append(out, s)
		}
		if len(errs) > 0 {
			return nil, errs
		}
		return out, nil
	case kOptInt:
		n, e := validateInt(v, loc)
		if e != nil {
			return nil, []pyErr{*e}
		}
		return n, nil
	case kEnum, kOptEnum:
		if s, ok := v.(string); ok {
			for _, ev := range f.enum {
				if s == ev {
					return s, nil
				}
			}
		}
		exp := enumExpected(f.enum)
		ctx := newPyDict()
		ctx.set("expected", exp)
		return nil, []pyErr{{typ: "enum", loc: loc, msg: "Input should be " + exp, input: v, ctx: ctx}}
	}
	return nil, nil
}

func enumExpected(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = "'" + v + "'"
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// validateInt is pydantic's lax int validation of a Python object.
func validateInt(v any, loc pyTuple) (pyInt, *pyErr) {
	switch x := v.(type) {
	case bool:
		if x {
			return "1", nil
		}
		return "0", nil
	case pyInt:
		return x, nil
	case float64:
		switch {
		case math.IsInf(x, 0) || math.IsNaN(x):
			return "", &pyErr{typ: "finite_number", loc: loc, msg: "Input should be a finite number", input: v}
		case math.Mod(x, 1) != 0:
			return "", &pyErr{typ: "int_from_float", loc: loc, msg: "Input should be a valid integer, got a number with a fractional part", input: v}
		case x <= math.MinInt64 || x >= math.MaxInt64:
			return "", &pyErr{typ: "int_parsing_size", loc: loc, msg: "Unable to parse input string as an integer, exceeded maximum size", input: v}
		}
		return pyInt(strconv.FormatInt(int64(x), 10)), nil
	case string:
		s := strings.TrimSpace(x)
		if len(s) > 4300 {
			return "", &pyErr{typ: "int_parsing_size", loc: loc, msg: "Unable to parse input string as an integer, exceeded maximum size", input: v}
		}
		if n, ok := parseIntText(s); ok {
			return n, nil
		}
		if i := strings.IndexByte(s, '.'); i >= 0 && strings.Trim(s[i+1:], "0") == "" {
			if n, ok := parseIntText(s[:i]); ok {
				return n, nil
			}
		}
		return "", &pyErr{typ: "int_parsing", loc: loc, msg: "Input should be a valid integer, unable to parse string as an integer", input: v}
	}
	return "", &pyErr{typ: "int_type", loc: loc, msg: "Input should be a valid integer", input: v}
}

// parseIntText parses an optionally signed run of decimal digits into
// canonical form.
func parseIntText(s string) (pyInt, bool) {
	neg := false
	switch {
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	case strings.HasPrefix(s, "-"):
		s = s[1:]
		neg = true
	}
	if s == "" {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", false
		}
	}
	s = strings.TrimLeft(s, "0")
	if s == "" {
		return "0", true
	}
	if neg {
		s = "-" + s
	}
	return pyInt(s), true
}

// ── the server's request models ────────────────────────────────────────────

var (
	runStatusValues = func() []string {
		vs := []string{string(semconv.RunStatusRunning), string(semconv.RunStatusSuccess), string(semconv.RunStatusFailed)}
		for _, v := range vs {
			if !semconv.RunStatus(v).Valid() {
				panic("ezoptest: semconv run status set changed")
			}
		}
		return vs
	}()
	triggerTypeValues = func() []string {
		var vs []string
		for _, t := range semconv.TriggerTypes {
			vs = append(vs, string(t))
		}
		return vs
	}()
	categoryValues = func() []string {
		var vs []string
		for _, c := range semconv.EventCategories {
			vs = append(vs, string(c))
		}
		return vs
	}()
	// eventTypeValues is in the order of the server's EventType enum, which
	// groups types by category in this order.
	eventTypeValues = func() []string {
		var vs []string
		for _, c := range []semconv.EventCategory{
			semconv.CategoryAgent, semconv.CategoryLLM, semconv.CategoryReasoning, semconv.CategoryTool,
			semconv.CategoryMemory, semconv.CategorySystem, semconv.CategoryUser, semconv.CategoryCost,
			semconv.CategoryError,
		} {
			for _, t := range semconv.TypesOf(c) {
				vs = append(vs, string(t))
			}
		}
		return vs
	}()
	subtypeValues = func() []string {
		var vs []string
		for _, s := range semconv.EventSubtypes {
			vs = append(vs, string(s))
		}
		return vs
	}()
)

var registerAgentModel = &model{fields: []field{
	{name: "name", kind: kStr, required: true},
	{name: "owner", kind: kStr, required: true},
	{name: "runtime", kind: kStr, required: true},
	{name: "description", kind: kOptStr},
	{name: "default_permissions", kind: kOptStrList},
}}

var createVersionModel = &model{fields: []field{
	{name: "version", kind: kStr, required: true},
	{name: "permissions", kind: kOptStrList},
	{name: "changelog", kind: kOptStr},
}}

var startRunModel = &model{
	fields: []field{
		{name: "version_id", kind: kOptStr},
		{name: "user_id", kind: kOptStr},
		{name: "metadata", kind: kOptDict},
		{name: "parent_run_id", kind: kOptStr},
		{name: "trigger_type", kind: kEnum, enum: triggerTypeValues, def: string(semconv.TriggerUnknown)},
		{name: "trigger_id", kind: kOptStr},
	},
	after: func(vals map[string]any) string {
		isAgent := vals["trigger_type"] == string(semconv.TriggerAgent)
		hasParent := vals["parent_run_id"] != nil
		switch {
		case isAgent && !hasParent:
			return "parent_run_id required when trigger_type is 'agent'"
		case !isAgent && hasParent:
			return "parent_run_id only valid when trigger_type is 'agent'"
		}
		return ""
	},
}

var endRunModel = &model{fields: []field{
	{name: "status", kind: kEnum, required: true, enum: runStatusValues},
	{name: "message", kind: kOptStr},
	{name: "metadata", kind: kOptDict},
}}

var createSpanModel = &model{fields: []field{
	{name: "id", kind: kOptStr},
	{name: "name", kind: kOptStr},
	{name: "start_time", kind: kOptStr},
	{name: "parent_id", kind: kOptStr},
	{name: "metadata", kind: kOptDict},
}}

var closeSpanModel = &model{fields: []field{
	{name: "end_time", kind: kStr, required: true},
}}

var emitEventModel = &model{fields: []field{
	{name: "id", kind: kOptStr},
	{name: "span_id", kind: kOptStr},
	{name: "name", kind: kStr, required: true},
	{name: "category", kind: kEnum, required: true, enum: categoryValues},
	{name: "type", kind: kOptEnum, enum: eventTypeValues},
	{name: "subtype", kind: kOptEnum, enum: subtypeValues},
	{name: "iteration_id", kind: kOptInt},
	{name: "timestamp", kind: kOptStr},
	{name: "input", kind: kOptDict},
	{name: "output", kind: kOptDict},
	{name: "metadata", kind: kOptDict},
	{name: "error", kind: kOptDict},
}}
