package ezoptest

// The endpoints' own logic, step by step in the order of the real server's
// handlers and of what PostgreSQL checks, so that a request with several
// problems gets the same answer.

import (
	"fmt"
	"math/big"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/ezopotel/ezop-otel-go/semconv"
)

type store struct {
	agents       []*Agent
	agentByID    map[string]*Agent
	agentByKey   map[[2]string]*Agent
	versions     []*Version
	versionByID  map[string]*Version
	versionByKey map[[2]string]*Version
	runs         []*Run
	runByID      map[string]*Run
	runIndex     map[string]int
	spans        []*Span
	spanByID     map[string]*Span
	events       []*Event
	eventByID    map[string]*Event
	seq          int64
}

func newStore() *store {
	return &store{
		agentByID:    map[string]*Agent{},
		agentByKey:   map[[2]string]*Agent{},
		versionByID:  map[string]*Version{},
		versionByKey: map[[2]string]*Version{},
		runByID:      map[string]*Run{},
		runIndex:     map[string]int{},
		spanByID:     map[string]*Span{},
		eventByID:    map[string]*Event{},
	}
}

func (st *store) addAgent(a *Agent) {
	st.agents = append(st.agents, a)
	st.agentByID[a.ID] = a
	st.agentByKey[[2]string{a.Name, a.Owner}] = a
}

func (st *store) addVersion(v *Version) {
	st.versions = append(st.versions, v)
	st.versionByID[v.ID] = v
	st.versionByKey[[2]string{v.AgentID, v.Version}] = v
}

func (st *store) addRun(r *Run) {
	st.runIndex[r.ID] = len(st.runs)
	st.runs = append(st.runs, r)
	st.runByID[r.ID] = r
}

func (st *store) addSpan(sp *Span) {
	st.spans = append(st.spans, sp)
	st.spanByID[sp.ID] = sp
}

func (st *store) addEvent(e *Event) {
	st.events = append(st.events, e)
	st.eventByID[e.ID] = e
}

// clone deep-copies the store (records keep their json.Number values).
func (st *store) clone() *store {
	c := newStore()
	for _, a := range st.agents {
		x := copyAgent(*a)
		c.addAgent(&x)
	}
	for _, v := range st.versions {
		x := copyVersion(*v)
		c.addVersion(&x)
	}
	for _, r := range st.runs {
		x := copyRun(*r, false)
		c.addRun(&x)
	}
	for _, sp := range st.spans {
		x := copySpan(*sp, false)
		c.addSpan(&x)
	}
	for _, e := range st.events {
		x := copyEvent(*e, false)
		c.addEvent(&x)
	}
	c.seq = st.seq
	return c
}

func strPtr(s string) *string { return &s }

// optStr returns a validated str | None field.
func optStr(vals map[string]any, k string) *string {
	if s, ok := vals[k].(string); ok {
		return &s
	}
	return nil
}

// checkTexts fails like psycopg2 for any str it cannot send.
func checkTexts(ss ...*string) error {
	for _, s := range ss {
		if s != nil && pgText(*s) != nil {
			return errDB
		}
	}
	return nil
}

func checkList(l []string) error {
	for _, s := range l {
		if pgText(s) != nil {
			return errDB
		}
	}
	return nil
}

func optList(vals map[string]any, k string) []string {
	if l, ok := vals[k].([]string); ok {
		return append([]string{}, l...)
	}
	return nil
}

// POST /agents/register
func (s *Server) registerAgent(vals map[string]any) *response {
	name, owner, runtime := vals["name"].(string), vals["owner"].(string), vals["runtime"].(string)
	desc := optStr(vals, "description")
	perms := optList(vals, "default_permissions")
	now := s.now()

	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	existing := st.agentByKey[[2]string{name, owner}]
	if s.agentLimit >= 0 {
		if checkTexts(&name, &owner) != nil {
			return internalError()
		}
		if existing == nil && len(st.agents) >= s.agentLimit {
			return httpError(429, fmt.Sprintf("Agent limit reached (%d/%d). Upgrade your plan to register more agents.", len(st.agents), s.agentLimit))
		}
	}
	if checkTexts(&name, &owner, &runtime, desc) != nil || checkList(perms) != nil {
		return internalError()
	}
	if existing != nil {
		existing.Runtime = strPtr(runtime)
		existing.Description = desc
		existing.DefaultPermissions = perms
		existing.UpdatedAt = formatTime(now)
		return envelopeData(200, existing)
	}
	a := &Agent{
		ID: uuid.NewString(), Name: name, Owner: owner, Runtime: strPtr(runtime),
		Description: desc, DefaultPermissions: perms, OrganizationID: s.orgID,
		CreatedAt: formatTime(now), UpdatedAt: formatTime(now),
	}
	st.addAgent(a)
	return envelopeData(200, a)
}

// agentFor is _assert_agent_org: a non-UUID id is a database error.
func (s *Server) agentFor(pathID string) (*Agent, *response) {
	id, ok := pgUUID(pathID)
	if !ok {
		return nil, internalError()
	}
	a := s.st.agentByID[id]
	if a == nil {
		return nil, httpError(404, "Agent not found.")
	}
	return a, nil
}

// POST /agents/{agent_id}/versions
func (s *Server) createVersion(agentID string, vals map[string]any) *response {
	version := vals["version"].(string)
	perms := optList(vals, "permissions")
	changelog := optStr(vals, "changelog")
	now := s.now()

	s.mu.Lock()
	defer s.mu.Unlock()
	a, resp := s.agentFor(agentID)
	if resp != nil {
		return resp
	}
	if checkTexts(&version, changelog) != nil || checkList(perms) != nil {
		return internalError()
	}
	if v := s.st.versionByKey[[2]string{a.ID, version}]; v != nil {
		return envelopeData(200, v)
	}
	v := &Version{
		ID: uuid.NewString(), AgentID: a.ID, Version: version, Permissions: perms,
		Changelog: changelog, OrganizationID: s.orgID, CreatedAt: formatTime(now),
	}
	s.st.addVersion(v)
	return envelopeData(201, v)
}

// GET /agents/{agent_id}/runs
func (s *Server) listRuns(agentID string) *response {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, resp := s.agentFor(agentID)
	if resp != nil {
		return resp
	}
	runs := []*Run{}
	for _, r := range s.st.runs {
		if r.AgentID == a.ID {
			runs = append(runs, r)
		}
	}
	// ORDER BY start_time DESC; later-created first among equal times.
	sort.SliceStable(runs, func(i, j int) bool {
		ti, tj := parseStored(runs[i].StartTime), parseStored(runs[j].StartTime)
		if !ti.Equal(tj) {
			return ti.After(tj)
		}
		return s.st.runIndex[runs[i].ID] > s.st.runIndex[runs[j].ID]
	})
	return envelopeData(200, runs)
}

func parseStored(ts string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, ts)
	return t
}

// POST /agents/{agent_id}/runs
func (s *Server) startRun(agentID string, vals map[string]any) *response {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	a, resp := s.agentFor(agentID)
	if resp != nil {
		return resp
	}
	id := uuid.NewString()
	root := id
	var parentID *string
	if p := optStr(vals, "parent_run_id"); p != nil {
		pid, ok := pgUUID(*p)
		if !ok {
			return internalError()
		}
		parent := s.st.runByID[pid]
		if parent == nil {
			return httpError(404, "Parent run not found.")
		}
		root = parent.RootRunID
		parentID = &pid
	}
	// The INSERT: psycopg2 cannot adapt a dict, so any metadata object fails
	// (a bug of the real server); then uuid input and the version foreign key.
	if vals["metadata"] != nil {
		return internalError()
	}
	var versionID, userID *string
	if v := optStr(vals, "version_id"); v != nil {
		vid, ok := pgUUID(*v)
		if !ok || s.st.versionByID[vid] == nil {
			return internalError()
		}
		versionID = &vid
	}
	if u := optStr(vals, "user_id"); u != nil {
		uid, ok := pgUUID(*u)
		if !ok {
			return internalError()
		}
		userID = &uid
	}
	triggerID := optStr(vals, "trigger_id")
	if checkTexts(triggerID) != nil {
		return internalError()
	}
	ts := formatTime(now)
	r := &Run{
		ID: id, AgentID: a.ID, VersionID: versionID, UserID: userID,
		Status: string(semconv.RunStatusRunning), ParentRunID: parentID, RootRunID: root,
		TriggerType: vals["trigger_type"].(string), TriggerID: triggerID, OrganizationID: s.orgID,
		StartTime: ts, EndTime: strPtr(ts), CreatedAt: ts, UpdatedAt: ts,
	}
	s.st.addRun(r)
	return envelopeData(201, r)
}

// runFor is _get_run_agent.
func (s *Server) runFor(pathID string) (*Run, *response) {
	id, ok := pgUUID(pathID)
	if !ok {
		return nil, internalError()
	}
	r := s.st.runByID[id]
	if r == nil {
		return nil, httpError(404, "Run not found.")
	}
	return r, nil
}

// PATCH /runs/{run_id}
func (s *Server) endRun(runID string, vals map[string]any) *response {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	r, resp := s.runFor(runID)
	if resp != nil {
		return resp
	}
	msg := optStr(vals, "message")
	if checkTexts(msg) != nil {
		return internalError()
	}
	var meta map[string]any
	if d, ok := vals["metadata"].(*pyDict); ok {
		var err error
		if meta, err = toJSONBObject(d); err != nil {
			return internalError()
		}
	}
	r.Status = vals["status"].(string)
	r.EndTime = strPtr(formatTime(now))
	if msg != nil {
		r.Message = msg
	}
	if meta != nil {
		r.Metadata = meta
	}
	return envelopeData(200, r)
}

// POST /runs/{run_id}/spans
func (s *Server) createSpan(runID string, vals map[string]any) *response {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	run, resp := s.runFor(runID)
	if resp != nil {
		return resp
	}
	id, parent := optStr(vals, "id"), optStr(vals, "parent_id")
	if id != nil && parent != nil && *id != "" && *parent != "" && *id == *parent {
		return httpError(422, "A span cannot be its own parent.")
	}
	if parent != nil && *parent != "" {
		pid, ok := pgUUID(*parent)
		if !ok {
			return internalError()
		}
		ps := s.st.spanByID[pid]
		if ps == nil {
			return httpError(404, "Parent span not found.")
		}
		if ps.RunID != runID { // compared as text with the path
			return httpError(422, "Parent span belongs to a different run.")
		}
	}
	// The INSERT.
	sp := &Span{RunID: run.ID, AgentID: run.AgentID, OrganizationID: s.orgID}
	if id != nil {
		cid, ok := pgUUID(*id)
		if !ok {
			return internalError()
		}
		sp.ID = cid
	} else {
		sp.ID = uuid.NewString()
	}
	sp.Name = optStr(vals, "name")
	if checkTexts(sp.Name) != nil {
		return internalError()
	}
	sp.StartTime = formatTime(now)
	if st := optStr(vals, "start_time"); st != nil {
		t, err := pgTimestamptz(*st, now)
		if err != nil {
			return internalError()
		}
		sp.StartTime = t
	}
	if parent != nil {
		pid, ok := pgUUID(*parent)
		if !ok {
			return internalError()
		}
		sp.ParentID = &pid
	}
	if d, ok := vals["metadata"].(*pyDict); ok {
		m, err := toJSONBObject(d)
		if err != nil {
			return internalError()
		}
		sp.Metadata = m
	}
	if s.st.spanByID[sp.ID] != nil {
		return internalError() // duplicate primary key
	}
	sp.CreatedAt, sp.UpdatedAt = formatTime(now), formatTime(now)
	s.st.addSpan(sp)
	return envelopeData(201, sp)
}

// PATCH /spans/{span_id}
func (s *Server) closeSpan(spanID string, vals map[string]any) *response {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	end, err := pgTimestamptz(vals["end_time"].(string), now)
	if err != nil {
		return internalError()
	}
	id, ok := pgUUID(spanID)
	if !ok {
		return internalError()
	}
	sp := s.st.spanByID[id]
	if sp == nil {
		return httpError(404, "Span not found.")
	}
	sp.EndTime = &end
	sp.UpdatedAt = formatTime(now) // trigger update_spans_updated_at
	return envelopeData(200, sp)
}

var (
	minInt4 = big.NewInt(-1 << 31)
	maxInt4 = big.NewInt(1<<31 - 1)
)

// POST /runs/{run_id}/events
func (s *Server) emitEvent(runID string, vals map[string]any) *response {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	run, resp := s.runFor(runID)
	if resp != nil {
		return resp
	}
	if s.eventQuota >= 0 {
		y, m, _ := now.Date()
		monthStart := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
		n := 0
		for _, e := range s.st.events {
			if !parseStored(e.CreatedAt).Before(monthStart) {
				n++
			}
		}
		if n >= s.eventQuota {
			return httpError(429, fmt.Sprintf("Monthly event limit reached (%d/%d). Upgrade your plan to emit more events.", n, s.eventQuota))
		}
	}
	spanID := optStr(vals, "span_id")
	if spanID != nil && *spanID != "" {
		sid, ok := pgUUID(*spanID)
		if !ok {
			return internalError()
		}
		sp := s.st.spanByID[sid]
		if sp == nil {
			return httpError(404, "Span not found.")
		}
		if sp.RunID != runID { // compared as text with the path
			return httpError(422, "Span belongs to a different run.")
		}
	}
	// The INSERT. Input errors come before the row is built; the identity
	// sequence is consumed by rows that then fail a constraint.
	e := &Event{RunID: run.ID, AgentID: run.AgentID, OrganizationID: s.orgID}
	e.Name = vals["name"].(string)
	if pgText(e.Name) != nil {
		return internalError()
	}
	e.Category = vals["category"].(string)
	if id := optStr(vals, "id"); id != nil {
		cid, ok := pgUUID(*id)
		if !ok {
			return internalError()
		}
		e.ID = cid
	} else {
		e.ID = uuid.NewString()
	}
	if spanID != nil {
		sid, ok := pgUUID(*spanID)
		if !ok {
			return internalError()
		}
		e.SpanID = &sid
	}
	e.Type, e.Subtype = optStr(vals, "type"), optStr(vals, "subtype")
	if it, ok := vals["iteration_id"].(pyInt); ok {
		n, _ := new(big.Int).SetString(string(it), 10)
		if n == nil || n.Cmp(minInt4) < 0 || n.Cmp(maxInt4) > 0 {
			return internalError() // integer out of range
		}
		v := n.Int64()
		e.IterationID = &v
	}
	e.Timestamp = formatTime(now)
	if ts := optStr(vals, "timestamp"); ts != nil {
		t, err := pgTimestamptz(*ts, now)
		if err != nil {
			return internalError()
		}
		e.Timestamp = t
	}
	for _, f := range []struct {
		key string
		dst *map[string]any
	}{{"input", &e.Input}, {"output", &e.Output}, {"metadata", &e.Metadata}, {"error", &e.Error}} {
		if d, ok := vals[f.key].(*pyDict); ok {
			m, err := toJSONBObject(d)
			if err != nil {
				return internalError()
			}
			*f.dst = m
		}
	}
	s.st.seq++
	typ := ""
	if e.Type != nil {
		typ = *e.Type
	}
	if !semconv.TypeAllowed(semconv.EventCategory(e.Category), semconv.EventType(typ)) {
		return internalError() // events_type_requires_category
	}
	if s.st.eventByID[e.ID] != nil {
		return internalError() // duplicate primary key
	}
	e.Sequence = s.st.seq
	e.CreatedAt = formatTime(now)
	s.st.addEvent(e)
	return envelopeData(201, e)
}
