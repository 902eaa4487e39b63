package ezoptest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// This file replays testdata/conformance.json, the answers the real server
// gave, against the emulator. It implements the corpus's `format` spec.

type corpus struct {
	RecordedFrom string     `json:"recorded_from"`
	RecordedAt   string     `json:"recorded_at"`
	Format       string     `json:"format"`
	Cases        []confCase `json:"cases"`
}

type confCase struct {
	Name        string     `json:"name"`
	ContractRow string     `json:"contract_row"`
	Note        string     `json:"note"`
	Steps       []confStep `json:"steps"`
}

type confStep struct {
	Method      string                     `json:"method"`
	Path        string                     `json:"path"`
	Auth        string                     `json:"auth"`
	Body        json.RawMessage            `json:"body"`
	ContentType *string                    `json:"content_type"`
	Expect      map[string]json.RawMessage `json:"expect"`
	Save        map[string]string          `json:"save"`
	Note        string                     `json:"note"`
}

func loadCorpus(t testing.TB) *corpus {
	t.Helper()
	b, err := os.ReadFile("testdata/conformance.json")
	if err != nil {
		t.Fatal(err)
	}
	var c corpus
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

// decodeNum decodes JSON keeping numbers as json.Number.
func decodeNum(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("trailing data")
	}
	return v, nil
}

// replay is the state of one case replay.
type replay struct {
	srv    *Server
	client *http.Client
	tag    string // unique to this replay and case
	vars   map[string]any
	uuids  map[string]string
}

var placeholderRE = regexp.MustCompile(`\{\{([^{}]*)\}\}`)

func newReplay(srv *Server, client *http.Client, caseName string) *replay {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &replay{
		srv: srv, client: client,
		tag:   caseName + "-" + hex.EncodeToString(b[:]),
		vars:  map[string]any{},
		uuids: map[string]string{},
	}
}

// resolve evaluates one placeholder body ("name|filter|…"). saved reports
// whether the value is a saved variable used without filters.
func (rp *replay) resolve(expr string) (v any, saved bool, err error) {
	parts := strings.Split(expr, "|")
	name := strings.TrimSpace(parts[0])
	switch {
	case name == "uuid":
		v = uuid.NewString()
	case strings.HasPrefix(name, "uuid:"):
		k := strings.TrimPrefix(name, "uuid:")
		if rp.uuids[k] == "" {
			rp.uuids[k] = uuid.NewString()
		}
		v = rp.uuids[k]
	case strings.HasPrefix(name, "unique:"):
		v = rp.tag + "-" + strings.TrimPrefix(name, "unique:")
	case name == "now" || strings.HasPrefix(name, "now+") || strings.HasPrefix(name, "now-"):
		now := time.Now().UTC()
		if len(name) > 3 {
			secs, perr := strconv.ParseFloat(strings.TrimSuffix(name[4:], "s"), 64)
			if perr != nil || !strings.HasSuffix(name, "s") {
				return nil, false, fmt.Errorf("bad placeholder {{%s}}", expr)
			}
			if name[3] == '-' {
				secs = -secs
			}
			now = now.Add(time.Duration(secs * float64(time.Second)))
		}
		v = now.Format("2006-01-02T15:04:05.000000Z")
	default:
		sv, ok := rp.vars[name]
		if !ok {
			return nil, false, fmt.Errorf("placeholder {{%s}}: no saved value %q", expr, name)
		}
		v, saved = sv, true
	}
	if len(parts) == 1 {
		return v, saved, nil
	}
	s, ok := v.(string)
	if !ok {
		b, _ := json.Marshal(v)
		s = string(b)
	}
	for _, f := range parts[1:] {
		switch strings.TrimSpace(f) {
		case "upper":
			s = strings.ToUpper(s)
		case "lower":
			s = strings.ToLower(s)
		case "nohyphens":
			s = strings.ReplaceAll(s, "-", "")
		case "braces":
			s = "{" + s + "}"
		case "groups4":
			var hexd strings.Builder
			for _, c := range s {
				if strings.ContainsRune("0123456789abcdefABCDEF", c) {
					hexd.WriteRune(c)
				}
			}
			h := hexd.String()
			var groups []string
			for len(h) > 4 {
				groups = append(groups, h[:4])
				h = h[4:]
			}
			groups = append(groups, h)
			s = strings.Join(groups, "-")
		default:
			return nil, false, fmt.Errorf("unknown filter %q in {{%s}}", f, expr)
		}
	}
	return s, false, nil
}

func (rp *replay) substString(s string) (any, error) {
	if m := placeholderRE.FindStringSubmatchIndex(s); m != nil && m[0] == 0 && m[1] == len(s) {
		v, saved, err := rp.resolve(s[m[2]:m[3]])
		if err != nil {
			return nil, err
		}
		if saved {
			return v, nil // keeps the saved JSON type
		}
		if str, ok := v.(string); ok {
			return str, nil
		}
		b, _ := json.Marshal(v)
		return string(b), nil
	}
	var err error
	out := placeholderRE.ReplaceAllStringFunc(s, func(ph string) string {
		v, _, rerr := rp.resolve(ph[2 : len(ph)-2])
		if rerr != nil {
			err = rerr
			return ph
		}
		if str, ok := v.(string); ok {
			return str
		}
		b, _ := json.Marshal(v)
		return string(b)
	})
	return out, err
}

func (rp *replay) subst(v any) (any, error) {
	switch x := v.(type) {
	case string:
		return rp.substString(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			s, err := rp.subst(e)
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			s, err := rp.subst(e)
			if err != nil {
				return nil, err
			}
			out[k] = s
		}
		return out, nil
	}
	return v, nil
}

func authHeader(mode, key string) (string, bool, error) {
	switch mode {
	case "valid":
		return "Bearer " + key, true, nil
	case "none":
		return "", false, nil
	case "invalid":
		return "Bearer ezop_sk_" + strings.Repeat("0", 64), true, nil
	case "basic":
		return "Basic Zm9vOmJhcg==", true, nil
	case "empty-bearer":
		return "Bearer", true, nil
	}
	return "", false, fmt.Errorf("unknown auth mode %q", mode)
}

type stepResult struct {
	status int
	header http.Header
	raw    []byte
	json   any // nil when the body is not JSON
	isJSON bool
}

func (rp *replay) do(st confStep) (*stepResult, error) {
	pathV, err := rp.substString(st.Path)
	if err != nil {
		return nil, err
	}
	path, ok := pathV.(string)
	if !ok {
		return nil, fmt.Errorf("path is not a string")
	}
	var body io.Reader
	hasBody := st.Body != nil
	if hasBody {
		bv, err := decodeNum(st.Body)
		if err != nil {
			return nil, fmt.Errorf("step body: %v", err)
		}
		if m, ok := bv.(map[string]any); ok && len(m) == 1 {
			if raw, ok := m["raw"].(string); ok {
				// Placeholders inside a raw body are always text.
				var err error
				raw = placeholderRE.ReplaceAllStringFunc(raw, func(ph string) string {
					v, _, rerr := rp.resolve(ph[2 : len(ph)-2])
					if rerr != nil {
						err = rerr
						return ph
					}
					if s, ok := v.(string); ok {
						return s
					}
					b, _ := json.Marshal(v)
					return string(b)
				})
				if err != nil {
					return nil, err
				}
				body = strings.NewReader(raw)
			}
		}
		if body == nil {
			sv, err := rp.subst(bv)
			if err != nil {
				return nil, err
			}
			b, err := json.Marshal(sv)
			if err != nil {
				return nil, err
			}
			body = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequest(st.Method, rp.srv.URL+path, body)
	if err != nil {
		return nil, err
	}
	switch {
	case st.ContentType == nil:
		if hasBody {
			req.Header.Set("Content-Type", "application/json")
		}
	case *st.ContentType == "none":
	default:
		req.Header.Set("Content-Type", *st.ContentType)
	}
	h, set, err := authHeader(st.Auth, rp.srv.APIKey)
	if err != nil {
		return nil, err
	}
	if set {
		req.Header.Set("Authorization", h)
	}
	resp, err := rp.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	res := &stepResult{status: resp.StatusCode, header: resp.Header, raw: raw}
	if v, err := decodeNum(raw); err == nil {
		res.json, res.isJSON = v, true
	}
	return res, nil
}

// lookupPath finds PATH in v: an exact key first, else a dotted path whose
// parts are object keys or list indexes.
func lookupPath(v any, path string) (any, bool) {
	if m, ok := v.(map[string]any); ok {
		if x, ok := m[path]; ok {
			return x, true
		}
	}
	cur := v
	for _, p := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			x, ok := c[p]
			if !ok {
				return nil, false
			}
			cur = x
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// jsonEqual compares JSON values: objects regardless of key order, numbers
// by value, booleans never equal to numbers.
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		rx, okx := new(big.Rat).SetString(string(x))
		ry, oky := new(big.Rat).SetString(string(y))
		return okx && oky && rx.Cmp(ry) == 0
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !jsonEqual(xv, yv) {
				return false
			}
		}
		return true
	}
	return false
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// isEnvelope reports whether v is exactly the envelope object.
func isEnvelope(v any) bool {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 3 {
		return false
	}
	for _, k := range []string{"success", "data", "error"} {
		if _, ok := m[k]; !ok {
			return false
		}
	}
	return true
}

var knownChecks = map[string]bool{
	"status": true, "success": true, "envelope": true, "body": true, "body_raw": true,
	"error_code": true, "message": true, "message_contains": true, "data_subset": true,
	"data_keys": true, "data_not": true, "data_same": true, "data_match": true,
	"data_length": true, "location_path": true,
}

// check verifies every expectation of a step; it returns the mismatches.
func (rp *replay) check(st confStep, res *stepResult) ([]string, error) {
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	exp := map[string]any{}
	for k, raw := range st.Expect {
		if !knownChecks[k] {
			return nil, fmt.Errorf("unknown expect check %q", k)
		}
		v, err := decodeNum(raw)
		if err != nil {
			return nil, err
		}
		if k != "data_match" {
			if v, err = rp.subst(v); err != nil {
				return nil, err
			}
		} else if m, ok := v.(map[string]any); ok {
			// Substitute the paths, never the regexes.
			out := map[string]any{}
			for p, re := range m {
				ps, err := rp.substString(p)
				if err != nil {
					return nil, err
				}
				out[fmt.Sprint(ps)] = re
			}
			v = out
		}
		exp[k] = v
	}

	if v, ok := exp["status"]; ok {
		want, _ := v.(json.Number).Int64()
		if int64(res.status) != want {
			fail("status = %d, want %d", res.status, want)
		}
	}

	env, _ := res.json.(map[string]any)
	envOK := res.isJSON && isEnvelope(res.json)
	if v, ok := exp["envelope"]; ok && v == false && envOK {
		fail("body is the envelope, want a non-envelope body: %s", res.raw)
	}
	if v, ok := exp["body"]; ok && (!res.isJSON || !jsonEqual(v, res.json)) {
		fail("body = %s, want %s", res.raw, show(v))
	}
	if v, ok := exp["body_raw"]; ok && string(res.raw) != v.(string) {
		fail("body = %q, want %q", res.raw, v)
	}
	if v, ok := exp["location_path"]; ok {
		loc := res.header.Get("Location")
		u, err := url.Parse(loc)
		got := ""
		if err == nil {
			got = u.EscapedPath()
			if u.RawQuery != "" {
				got += "?" + u.RawQuery
			}
		}
		if got != v.(string) {
			fail("Location %q: path %q, want %q", loc, got, v)
		}
	}

	_, needEnv := exp["success"]
	for k := range exp {
		if strings.HasPrefix(k, "data_") || k == "error_code" || strings.HasPrefix(k, "message") {
			needEnv = true
		}
	}
	if !needEnv {
		return bad, nil
	}
	if !envOK {
		fail("body is not the envelope: %s", res.raw)
		return bad, nil
	}
	success, isBool := env["success"].(bool)
	if !isBool {
		fail("envelope success is not a bool: %s", res.raw)
		return bad, nil
	}
	data := env["data"]
	if success {
		if env["error"] != nil || data == nil {
			fail("success envelope needs error null and data not null: %s", res.raw)
		}
	} else {
		e, ok := env["error"].(map[string]any)
		_, codeOK := e["code"].(string)
		_, msgOK := e["message"].(string)
		if data != nil || !ok || len(e) != 2 || !codeOK || !msgOK {
			fail("error envelope needs data null and error {code, message}: %s", res.raw)
		}
	}
	if v, ok := exp["success"]; ok && v != success {
		fail("success = %v, want %v", success, v)
	}
	errObj, _ := env["error"].(map[string]any)
	code, _ := errObj["code"].(string)
	msg, _ := errObj["message"].(string)
	if v, ok := exp["error_code"]; ok && code != v {
		fail("error.code = %q, want %q", code, v)
	}
	if v, ok := exp["message"]; ok && msg != v {
		fail("error.message = %q, want %q", msg, v)
	}
	if v, ok := exp["message_contains"]; ok {
		var want []any
		switch x := v.(type) {
		case string:
			want = []any{x}
		case []any:
			want = x
		}
		for _, w := range want {
			if !strings.Contains(msg, fmt.Sprint(w)) {
				fail("error.message %q does not contain %q", msg, w)
			}
		}
	}
	if v, ok := exp["data_subset"]; ok {
		for p, want := range v.(map[string]any) {
			got, ok := lookupPath(data, p)
			if !ok {
				fail("data.%s missing, want %s", p, show(want))
			} else if !jsonEqual(want, got) {
				fail("data.%s = %s, want %s", p, show(got), show(want))
			}
		}
	}
	if v, ok := exp["data_keys"]; ok {
		for _, p := range v.([]any) {
			if _, ok := lookupPath(data, p.(string)); !ok {
				fail("data.%s missing", p)
			}
		}
	}
	if v, ok := exp["data_not"]; ok {
		for p, notWant := range v.(map[string]any) {
			got, ok := lookupPath(data, p)
			if !ok {
				fail("data.%s missing", p)
			} else if jsonEqual(notWant, got) {
				fail("data.%s = %s, want anything else", p, show(got))
			}
		}
	}
	if v, ok := exp["data_same"]; ok {
		for _, pair := range v.([]any) {
			pp := pair.([]any)
			a, okA := lookupPath(data, pp[0].(string))
			b, okB := lookupPath(data, pp[1].(string))
			if !okA || !okB || !jsonEqual(a, b) {
				fail("data.%s = %s and data.%s = %s, want equal", pp[0], show(a), pp[1], show(b))
			}
		}
	}
	if v, ok := exp["data_match"]; ok {
		for p, re := range v.(map[string]any) {
			rx, err := regexp.Compile(`^(?:` + re.(string) + `)$`)
			if err != nil {
				return nil, err
			}
			got, ok := lookupPath(data, p)
			s, isStr := got.(string)
			if !ok || !isStr || !rx.MatchString(s) {
				fail("data.%s = %s, want a string matching %s", p, show(got), re)
			}
		}
	}
	if v, ok := exp["data_length"]; ok {
		n, _ := v.(json.Number).Int64()
		l, isList := data.([]any)
		if !isList || int64(len(l)) != n {
			fail("data = %s, want a list of %d", show(data), n)
		}
	}
	return bad, nil
}

func (rp *replay) save(st confStep, res *stepResult) []string {
	var bad []string
	for name, p := range st.Save {
		v, ok := lookupPath(res.json, p)
		if !ok {
			bad = append(bad, fmt.Sprintf("save %s: path %s missing in %s", name, p, res.raw))
			continue
		}
		rp.vars[name] = v
	}
	return bad
}

// runCase replays one case and stops at its first mismatching step.
func runCase(t *testing.T, srv *Server, client *http.Client, c confCase) {
	t.Helper()
	rp := newReplay(srv, client, c.Name)
	for i, st := range c.Steps {
		res, err := rp.do(st)
		if err != nil {
			t.Fatalf("step %d (%s %s): %v", i+1, st.Method, st.Path, err)
		}
		bad, err := rp.check(st, res)
		if err != nil {
			t.Fatalf("step %d (%s %s): %v", i+1, st.Method, st.Path, err)
		}
		bad = append(bad, rp.save(st, res)...)
		if len(bad) > 0 {
			sort.Strings(bad)
			t.Fatalf("case %s, step %d (%s %s)%s:\n  %s\nresponse %d: %s",
				c.Name, i+1, st.Method, st.Path, noteOf(c), strings.Join(bad, "\n  "), res.status, res.raw)
		}
	}
}

func noteOf(c confCase) string {
	if c.ContractRow != "" {
		return " [" + c.ContractRow + "]"
	}
	return ""
}

func testClient() *http.Client {
	return &http.Client{
		Transport:     &http.Transport{},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
}

func TestConformanceCorpusShape(t *testing.T) {
	c := loadCorpus(t)
	steps := 0
	names := map[string]bool{}
	for _, cs := range c.Cases {
		if names[cs.Name] {
			t.Errorf("duplicate case name %q", cs.Name)
		}
		names[cs.Name] = true
		steps += len(cs.Steps)
		for _, st := range cs.Steps {
			for k := range st.Expect {
				if !knownChecks[k] {
					t.Errorf("case %s: unknown check %q", cs.Name, k)
				}
			}
		}
	}
	if len(c.Cases) != 154 || steps != 482 {
		t.Errorf("corpus has %d cases and %d requests, want 154 and 482", len(c.Cases), steps)
	}
	if !strings.Contains(c.Format, "PLACEHOLDERS") {
		t.Errorf("corpus format text changed")
	}
}

// TestConformance replays every recorded case against a fresh emulator.
func TestConformance(t *testing.T) {
	c := loadCorpus(t)
	srv := NewServer()
	defer srv.Close()
	client := testClient()
	defer client.CloseIdleConnections()
	wantRejected := 0
	for _, cs := range c.Cases {
		for _, st := range cs.Steps {
			var status int
			_ = json.Unmarshal(st.Expect["status"], &status)
			if status >= 300 {
				wantRejected++
			}
		}
	}
	for _, cs := range c.Cases {
		t.Run(cs.Name, func(t *testing.T) { runCase(t, srv, client, cs) })
	}
	// Every non-2xx answer of the corpus is one the emulator records.
	if !t.Failed() {
		if got := len(srv.Rejected()); got != wantRejected {
			t.Errorf("Rejected() has %d entries, want %d (one per non-2xx answer)", got, wantRejected)
		}
	}
}

// TestConformanceTwiceSameServer replays the whole corpus twice against one
// server: the cases must also pass on a used database.
func TestConformanceTwiceSameServer(t *testing.T) {
	c := loadCorpus(t)
	srv := NewServer()
	defer srv.Close()
	client := testClient()
	defer client.CloseIdleConnections()
	for pass := 1; pass <= 2; pass++ {
		t.Run(fmt.Sprintf("pass%d", pass), func(t *testing.T) {
			for _, cs := range c.Cases {
				t.Run(cs.Name, func(t *testing.T) { runCase(t, srv, client, cs) })
			}
		})
	}
}

// ── the replayer's own tests ───────────────────────────────────────────────

func TestReplayerPlaceholders(t *testing.T) {
	rp := newReplay(nil, nil, "case")
	rp.vars["n"] = json.Number("42")
	rp.vars["id"] = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	rp.vars["null"] = nil
	for _, tt := range []struct {
		in   string
		want any
	}{
		{"{{n}}", json.Number("42")},
		{"{{null}}", nil},
		{"x{{n}}y", "x42y"},
		{"{{id|upper}}", "0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D"},
		{"{{id|nohyphens}}", "0a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d"},
		{"{{id|braces}}", "{0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d}"},
		{"{{id|groups4}}", "0a1b-2c3d-4e5f-4a6b-8c7d-9e0f-1a2b-3c4d"},
		{"{{id|upper|nohyphens|lower}}", "0a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d"},
		{"/runs/{{id}}/spans", "/runs/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d/spans"},
	} {
		got, err := rp.substString(tt.in)
		if err != nil || !jsonEqual(got, tt.want) && got != tt.want {
			t.Errorf("%s → %#v (%v), want %#v", tt.in, got, err, tt.want)
		}
	}
	a1, _ := rp.substString("{{uuid:a}}")
	a2, _ := rp.substString("{{uuid:a|upper}}")
	if strings.ToUpper(a1.(string)) != a2 {
		t.Errorf("{{uuid:a}} is not fixed within a case: %v %v", a1, a2)
	}
	u, _ := rp.substString("{{uuid}} {{uuid}}")
	if parts := strings.Fields(u.(string)); parts[0] == parts[1] {
		t.Errorf("{{uuid}} must be fresh at each occurrence")
	}
	q1, _ := rp.substString("{{unique:x}}")
	q2, _ := rp.substString("{{unique:x}}")
	q3, _ := newReplay(nil, nil, "case").substString("{{unique:x}}")
	if q1 != q2 || q1 == q3 {
		t.Errorf("{{unique:x}}: %v %v %v", q1, q2, q3)
	}
	now, _ := rp.substString("{{now}}")
	later, _ := rp.substString("{{now+5s}}")
	earlier, _ := rp.substString("{{now-5s}}")
	re := regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$`)
	tn, _ := time.Parse(time.RFC3339Nano, now.(string))
	tl, _ := time.Parse(time.RFC3339Nano, later.(string))
	te, _ := time.Parse(time.RFC3339Nano, earlier.(string))
	if !re.MatchString(now.(string)) || tl.Sub(tn) < 4*time.Second || tn.Sub(te) < 4*time.Second {
		t.Errorf("now placeholders: %v %v %v", now, later, earlier)
	}
	if _, err := rp.substString("{{missing}}"); err == nil {
		t.Errorf("an unknown variable must be an error")
	}
	if _, err := rp.substString("{{id|reverse}}"); err == nil {
		t.Errorf("an unknown filter must be an error")
	}
}

func TestReplayerChecks(t *testing.T) {
	rp := newReplay(nil, nil, "case")
	rp.vars["id"] = "abc"
	okBody := `{"success":true,"data":{"id":"abc","n":34.0,"flag":true,"gen_ai.system":"x","list":[{"id":"l0"}],"t":"2026-01-02T03:04:05Z","a":1,"b":1},"error":null}`
	res := func(status int, body string, hdr ...string) *stepResult {
		r := &stepResult{status: status, raw: []byte(body), header: http.Header{}}
		if v, err := decodeNum([]byte(body)); err == nil {
			r.json, r.isJSON = v, true
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			r.header.Set(hdr[i], hdr[i+1])
		}
		return r
	}
	errBody := `{"success":false,"data":null,"error":{"code":"NOT_FOUND","message":"Run not found."}}`
	for _, tt := range []struct {
		name   string
		expect string
		res    *stepResult
		ok     bool
	}{
		{"all good", `{"status":200,"success":true,"data_subset":{"id":"{{id}}","n":34,"gen_ai.system":"x","list.0.id":"l0"},"data_keys":["t"],"data_not":{"id":"zzz"},"data_same":[["a","b"]],"data_match":{"t":"[0-9-]+T[0-9:]+Z"}}`, res(200, okBody), true},
		{"status", `{"status":201}`, res(200, okBody), false},
		{"success", `{"success":false}`, res(200, okBody), false},
		{"number by value", `{"data_subset":{"n":34.00}}`, res(200, okBody), true},
		{"bool is not a number", `{"data_subset":{"flag":1}}`, res(200, okBody), false},
		{"missing path", `{"data_subset":{"nope":null}}`, res(200, okBody), false},
		{"data_keys", `{"data_keys":["nope"]}`, res(200, okBody), false},
		{"data_not", `{"data_not":{"id":"abc"}}`, res(200, okBody), false},
		{"data_same", `{"data_same":[["a","n"]]}`, res(200, okBody), false},
		{"data_match is a full match", `{"data_match":{"t":"2026"}}`, res(200, okBody), false},
		{"data_match needs a string", `{"data_match":{"n":"34"}}`, res(200, okBody), false},
		{"data_length", `{"data_length":2}`, res(200, `{"success":true,"data":[1,2],"error":null}`), true},
		{"data_length wrong", `{"data_length":3}`, res(200, `{"success":true,"data":[1,2],"error":null}`), false},
		{"error fields", `{"status":404,"success":false,"error_code":"NOT_FOUND","message":"Run not found.","message_contains":["Run","found"]}`, res(404, errBody), true},
		{"error code", `{"error_code":"FORBIDDEN"}`, res(404, errBody), false},
		{"message", `{"message":"Run not found"}`, res(404, errBody), false},
		{"message_contains", `{"message_contains":"missing"}`, res(404, errBody), false},
		{"envelope invariants", `{"success":true}`, res(200, `{"success":true,"data":null,"error":null}`), false},
		{"envelope invariants for errors", `{"success":false}`, res(500, `{"success":false,"data":{},"error":{"code":"X","message":"y"}}`), false},
		{"not an envelope", `{"success":true}`, res(200, `{"detail":"x"}`), false},
		{"envelope false", `{"status":404,"envelope":false,"body":{"detail":"Not Found"}}`, res(404, `{"detail":"Not Found"}`), true},
		{"envelope false but envelope", `{"envelope":false}`, res(404, errBody), false},
		{"body", `{"body":{"detail":"Not Found"}}`, res(404, `{"detail":"Method Not Allowed"}`), false},
		{"body_raw", `{"body_raw":""}`, res(307, ""), true},
		{"body_raw wrong", `{"body_raw":""}`, res(307, "x"), false},
		{"location_path", `{"location_path":"/health"}`, res(307, "", "Location", "http://h:1/health"), true},
		{"location_path with query", `{"location_path":"/a?x=1"}`, res(307, "", "Location", "http://h:1/a?x=1"), true},
		{"location_path wrong", `{"location_path":"/health"}`, res(307, "", "Location", "http://h:1/health/"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var exp map[string]json.RawMessage
			if err := json.Unmarshal([]byte(tt.expect), &exp); err != nil {
				t.Fatal(err)
			}
			bad, err := rp.check(confStep{Expect: exp}, tt.res)
			if err != nil {
				t.Fatal(err)
			}
			if (len(bad) == 0) != tt.ok {
				t.Errorf("mismatches %v, want ok=%v", bad, tt.ok)
			}
		})
	}
	if _, err := rp.check(confStep{Expect: map[string]json.RawMessage{"data_magic": []byte(`1`)}}, res(200, okBody)); err == nil {
		t.Errorf("an unknown check must be an error")
	}
	// save: a missing path is a mismatch.
	if bad := rp.save(confStep{Save: map[string]string{"x": "data.nope"}}, res(200, okBody)); len(bad) != 1 {
		t.Errorf("save of a missing path: %v", bad)
	}
	if bad := rp.save(confStep{Save: map[string]string{"x": "data.list.0.id"}}, res(200, okBody)); len(bad) != 0 || rp.vars["x"] != "l0" {
		t.Errorf("save: %v %v", bad, rp.vars["x"])
	}
}
