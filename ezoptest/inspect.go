package ezoptest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Inspection. Every method returns copies, is safe for concurrent use with
// requests and works after Close. JSON objects (metadata, input, …) hold
// what encoding/json would decode from the server's answer: numbers are
// float64.

// Agents returns the registered agents in registration order.
func (s *Server) Agents() []Agent {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Agent, len(s.st.agents))
	for i, a := range s.st.agents {
		out[i] = copyAgent(*a)
	}
	return out
}

// Versions returns the agent versions in creation order.
func (s *Server) Versions() []Version {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Version, len(s.st.versions))
	for i, v := range s.st.versions {
		out[i] = copyVersion(*v)
	}
	return out
}

// Runs returns every run in creation order.
func (s *Server) Runs() []Run {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Run, len(s.st.runs))
	for i, r := range s.st.runs {
		out[i] = copyRun(*r, true)
	}
	return out
}

// canonicalID returns the stored spelling of a UUID in any spelling
// PostgreSQL accepts, or id itself.
func canonicalID(id string) string {
	if c, ok := pgUUID(id); ok {
		return c
	}
	return id
}

// Run returns the run with the given id (any UUID spelling).
func (s *Server) Run(id string) (Run, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.st.runByID[canonicalID(id)]
	if r == nil {
		return Run{}, false
	}
	return copyRun(*r, true), true
}

// Spans returns the spans of a run in creation order.
func (s *Server) Spans(runID string) []Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := canonicalID(runID)
	out := []Span{}
	for _, sp := range s.st.spans {
		if sp.RunID == id {
			out = append(out, copySpan(*sp, true))
		}
	}
	return out
}

// Events returns the events of a run in sequence order.
func (s *Server) Events(runID string) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := canonicalID(runID)
	out := []Event{}
	for _, e := range s.st.events {
		if e.RunID == id {
			out = append(out, copyEvent(*e, true))
		}
	}
	return out
}

// AllSpans returns every span in creation order.
func (s *Server) AllSpans() []Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Span, len(s.st.spans))
	for i, sp := range s.st.spans {
		out[i] = copySpan(*sp, true)
	}
	return out
}

// AllEvents returns every event in sequence order.
func (s *Server) AllEvents() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Event, len(s.st.events))
	for i, e := range s.st.events {
		out[i] = copyEvent(*e, true)
	}
	return out
}

// RequestCount returns how many requests routing resolved to e, whatever
// their answer (errors, injected faults and dropped connections included).
// Requests with an unknown path or a wrong method count for no endpoint.
func (s *Server) RequestCount(e Endpoint) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[e]
}

// Requests returns RequestCount for every endpoint that was requested.
func (s *Server) Requests() map[Endpoint]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[Endpoint]int, len(s.requests))
	for k, v := range s.requests {
		out[k] = v
	}
	return out
}

// Rejected returns every non-2xx answer the emulator gave on its own, in
// order: what the real server would have refused. It is empty when a client
// sent nothing the real server rejects.
func (s *Server) Rejected() []Rejection {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Rejection, len(s.rejected))
	for i, r := range s.rejected {
		r.Body = append([]byte(nil), r.Body...)
		out[i] = r
	}
	return out
}

// Reset forgets all data (agents, versions, runs, spans, events, the event
// sequence), the request counts and the rejections. Faults, options, the
// organization and the API key stay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st = newStore()
	s.requests = map[Endpoint]int{}
	s.rejected = nil
}

// OrganizationID returns the organization every record belongs to.
func (s *Server) OrganizationID() string { return s.orgID }

// ── copies ─────────────────────────────────────────────────────────────────

func copyStr(p *string) *string {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func copyStrs(l []string) []string {
	if l == nil {
		return nil
	}
	return append([]string{}, l...)
}

// copyJSON deep-copies a stored JSON value; plain turns json.Number into
// float64 as encoding/json decoding would.
func copyJSON(v any, plain bool) any {
	switch x := v.(type) {
	case map[string]any:
		return copyObject(x, plain)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = copyJSON(e, plain)
		}
		return out
	case json.Number:
		if plain {
			f, _ := strconv.ParseFloat(string(x), 64)
			return f
		}
	}
	return v
}

func copyObject(m map[string]any, plain bool) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = copyJSON(v, plain)
	}
	return out
}

func copyAgent(a Agent) Agent {
	a.Runtime, a.Description = copyStr(a.Runtime), copyStr(a.Description)
	a.DefaultPermissions = copyStrs(a.DefaultPermissions)
	return a
}

func copyVersion(v Version) Version {
	v.Permissions, v.Changelog = copyStrs(v.Permissions), copyStr(v.Changelog)
	return v
}

func copyRun(r Run, plain bool) Run {
	r.VersionID, r.UserID, r.Message = copyStr(r.VersionID), copyStr(r.UserID), copyStr(r.Message)
	r.ParentRunID, r.TriggerID, r.EndTime = copyStr(r.ParentRunID), copyStr(r.TriggerID), copyStr(r.EndTime)
	r.Metadata = copyObject(r.Metadata, plain)
	return r
}

func copySpan(sp Span, plain bool) Span {
	sp.ParentID, sp.Name, sp.EndTime = copyStr(sp.ParentID), copyStr(sp.Name), copyStr(sp.EndTime)
	sp.Metadata = copyObject(sp.Metadata, plain)
	return sp
}

func copyEvent(e Event, plain bool) Event {
	e.SpanID, e.Type, e.Subtype = copyStr(e.SpanID), copyStr(e.Type), copyStr(e.Subtype)
	if e.IterationID != nil {
		v := *e.IterationID
		e.IterationID = &v
	}
	e.Input, e.Output = copyObject(e.Input, plain), copyObject(e.Output, plain)
	e.Metadata, e.Error = copyObject(e.Metadata, plain), copyObject(e.Error, plain)
	return e
}

// ── Tree ───────────────────────────────────────────────────────────────────

// Tree renders one run as an indented tree for a terminal: the run (agent,
// status, trigger, duration, message), its run-level events, then its spans
// nested by parent, each with its events (category/type/subtype, name, and
// for llm events the model and the input/output tokens from metadata).
// Events come before child spans; events are ordered by timestamp then
// sequence, spans by start time then id. The output is deterministic and
// ends with a newline.
func (s *Server) Tree(runID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := canonicalID(runID)
	r := s.st.runByID[id]
	if r == nil {
		return fmt.Sprintf("run %s: not found\n", runID)
	}
	var b strings.Builder
	agent := r.AgentID
	if a := s.st.agentByID[r.AgentID]; a != nil {
		agent = a.Name
	}
	fmt.Fprintf(&b, "run agent=%q status=%s trigger=%s", agent, r.Status, r.TriggerType)
	if r.Status != "running" && r.EndTime != nil {
		fmt.Fprintf(&b, " duration=%s", durationBetween(r.StartTime, *r.EndTime))
	}
	if r.Message != nil {
		fmt.Fprintf(&b, " message=%q", *r.Message)
	}
	b.WriteString("\n")

	spans := map[string]*Span{}
	children := map[string][]*Span{} // "" = run level
	for _, sp := range s.st.spans {
		if sp.RunID == id {
			spans[sp.ID] = sp
		}
	}
	for _, sp := range spans {
		parent := ""
		if sp.ParentID != nil && spans[*sp.ParentID] != nil {
			parent = *sp.ParentID
		}
		children[parent] = append(children[parent], sp)
	}
	events := map[string][]*Event{}
	for _, e := range s.st.events {
		if e.RunID != id {
			continue
		}
		k := ""
		if e.SpanID != nil && spans[*e.SpanID] != nil {
			k = *e.SpanID
		}
		events[k] = append(events[k], e)
	}
	var walk func(parent, indent string)
	walk = func(parent, indent string) {
		evs := events[parent]
		sort.SliceStable(evs, func(i, j int) bool {
			ti, tj := parseStored(evs[i].Timestamp), parseStored(evs[j].Timestamp)
			if !ti.Equal(tj) {
				return ti.Before(tj)
			}
			return evs[i].Sequence < evs[j].Sequence
		})
		kids := children[parent]
		sort.Slice(kids, func(i, j int) bool {
			ti, tj := parseStored(kids[i].StartTime), parseStored(kids[j].StartTime)
			if !ti.Equal(tj) {
				return ti.Before(tj)
			}
			return kids[i].ID < kids[j].ID
		})
		n := len(evs) + len(kids)
		k := 0
		branch := func() (string, string) {
			k++
			if k == n {
				return indent + "└── ", indent + "    "
			}
			return indent + "├── ", indent + "│   "
		}
		for _, e := range evs {
			head, _ := branch()
			b.WriteString(head + eventLine(e) + "\n")
		}
		for _, sp := range kids {
			head, next := branch()
			b.WriteString(head + spanLine(sp) + "\n")
			walk(sp.ID, next)
		}
	}
	walk("", "")
	return b.String()
}

func durationBetween(start, end string) time.Duration {
	return parseStored(end).Sub(parseStored(start))
}

func spanLine(sp *Span) string {
	name := "(unnamed)"
	if sp.Name != nil {
		name = strconv.Quote(*sp.Name)
	}
	if sp.EndTime == nil {
		return "span " + name + " (open)"
	}
	return "span " + name + " " + durationBetween(sp.StartTime, *sp.EndTime).String()
}

func eventLine(e *Event) string {
	kind := e.Category
	if e.Type != nil {
		kind += "/" + *e.Type
	}
	if e.Subtype != nil {
		kind += "/" + *e.Subtype
	}
	line := "event " + kind + " " + strconv.Quote(e.Name)
	if e.Category == "llm" {
		if v, ok := e.Metadata["model"]; ok {
			line += " model=" + jsonText(v)
		}
		if v, ok := e.Metadata["input_tokens"]; ok {
			line += " in=" + jsonText(v)
		}
		if v, ok := e.Metadata["output_tokens"]; ok {
			line += " out=" + jsonText(v)
		}
	}
	if msg, ok := e.Error["message"].(string); ok {
		line += " error=" + strconv.Quote(msg)
	}
	return line
}

func jsonText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return string(x)
	case nil:
		return "null"
	}
	return string(pyJSON(v))
}
