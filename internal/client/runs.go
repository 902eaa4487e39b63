package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
)

// adoptSlack widens the adoption window on both sides: the Date header has
// one-second resolution, and the database's clock (created_at) may differ a
// little from the web server's (Date).
const adoptSlack = 2 * time.Second

// StartRun creates a run of the agent. The server assigns the run's id and
// its start time (its clock now), so call StartRun when the work starts.
//
// Runs have no idempotency on the server: a create repeated after an
// attempt that was written but not answered could make a second run. So
// after such an attempt StartRun lists the agent's runs before trying again
// and adopts the run that attempt created, if it finds one (see the package
// docs for the rule and its limits). With retries disabled no look-up is
// made, and the error of an unanswered attempt says a run may exist.
func (c *Client) StartRun(ctx context.Context, agentID string, req wire.StartRunRequest) (wire.Run, error) {
	const op = "start run"
	aid, err := c.pathID(op, "agent id", agentID)
	if err != nil {
		return wire.Run{}, err
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"version_id", &req.VersionID}, {"user_id", &req.UserID}, {"parent_run_id", &req.ParentRunID}} {
		if *f.v != "" {
			if *f.v, err = c.bodyID(op, f.name, *f.v); err != nil {
				return wire.Run{}, err
			}
		}
	}
	body, err := c.marshal(op, req)
	if err != nil {
		return wire.Run{}, err
	}
	path := "/agents/" + aid + "/runs"
	s := c.newOp(op)
	r, err := c.startRun(ctx, s, aid, path, req, body)
	var e *APIError
	if err != nil && s.ambiguous && errors.As(err, &e) {
		if e.note != "" {
			e.note += "; "
		}
		e.note += "an unanswered attempt may have created a run"
	}
	return r, err
}

func (c *Client) startRun(ctx context.Context, s *opState, aid, path string, req wire.StartRunRequest, body []byte) (wire.Run, error) {
	// since is the local start of the earliest attempt that may have
	// created a run this call did not get; check asks for a look-up
	// before the next create.
	var since time.Time
	check := false
	for {
		if check {
			a := s.send(ctx, http.MethodGet, path, nil, true)
			if !a.ok() {
				if err := s.retryOrFail(ctx, a); err != nil {
					return wire.Run{}, err
				}
				continue
			}
			var runs []wire.Run
			if err := json.Unmarshal(a.env.Data, &runs); err != nil {
				return wire.Run{}, s.fail(a, ErrServer, 0, "the run list is not a list of runs: "+err.Error())
			}
			if r, ok := c.adopt(aid, req, runs, a, since); ok {
				c.stats.succeeded.Add(1)
				c.stats.runsAdopted.Add(1)
				return r, nil
			}
			check = false
		}

		a := s.send(ctx, http.MethodPost, path, body, true)
		if a.ok() {
			var r wire.Run
			if err := json.Unmarshal(a.env.Data, &r); err != nil || r.ID == "" {
				return wire.Run{}, s.fail(a, ErrServer, 0, "the answer's data is not a run")
			}
			prev, fresh := c.runs.claim(r.ID, ledgerEntry{at: c.now(), window: since})
			if fresh {
				c.stats.succeeded.Add(1)
				return r, nil
			}
			// A concurrent StartRun of this client, after an unanswered
			// attempt, adopted the run this attempt created before this
			// answer arrived. Its own run, if that attempt stored one, is
			// then unclaimed: look for it in that call's window, else create
			// again.
			w := prev.window
			if w.IsZero() { // cannot happen: only adoptions collide
				w = s.start
			}
			if since.IsZero() || w.Before(since) {
				since = w
			}
			if c.now().Sub(s.start) > c.retry.MaxElapsedTime {
				return wire.Run{}, s.fail(a, ErrServer, 0, "the created run was adopted by a concurrent call and the retry budget is spent")
			}
			check = true
			continue
		}
		if a.ambiguous && since.IsZero() {
			since = a.begun
		}
		ambiguous := a.ambiguous
		if err := s.retryOrFail(ctx, a); err != nil {
			return wire.Run{}, err
		}
		check = check || ambiguous
	}
}

// adopt picks, among the listed runs, the oldest one that an unanswered
// attempt of this call may have created: same version_id, user_id,
// trigger_type, trigger_id and parent_run_id as the request, status running,
// created since the attempt began, and not handed out by this client. The
// window is computed on the server's clock (the list answer's Date header
// minus the local time elapsed since the attempt began, with adoptSlack),
// so that the clocks of client and server need not agree.
func (c *Client) adopt(agentID string, req wire.StartRunRequest, runs []wire.Run, a *answer, since time.Time) (wire.Run, bool) {
	serverNow, err := http.ParseTime(a.header.Get("Date"))
	if err != nil {
		serverNow = c.now() // no Date header: trust the local clock
	}
	from := serverNow.Add(-a.ended.Sub(since) - adoptSlack)
	to := serverNow.Add(adoptSlack)

	type candidate struct {
		run wire.Run
		at  time.Time
	}
	var cands []candidate
	for _, r := range runs {
		if !runMatches(agentID, req, r) {
			continue
		}
		at, ok := parseServerTime(r.CreatedAt)
		if !ok {
			if at, ok = parseServerTime(r.StartTime); !ok {
				continue
			}
		}
		if at.Before(from) || at.After(to) {
			continue
		}
		cands = append(cands, candidate{r, at})
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if !cands[i].at.Equal(cands[j].at) {
			return cands[i].at.Before(cands[j].at)
		}
		return cands[i].run.ID < cands[j].run.ID
	})
	ids := make([]string, len(cands))
	for i, cd := range cands {
		ids[i] = cd.run.ID
	}
	i, ok := c.runs.claimFirst(ids, ledgerEntry{at: c.now(), window: since})
	if !ok {
		return wire.Run{}, false
	}
	return cands[i].run, true
}

// runMatches reports whether r is a running run of the agent made from a
// request equal to req.
func runMatches(agentID string, req wire.StartRunRequest, r wire.Run) bool {
	trigger := req.TriggerType
	if trigger == "" {
		trigger = "unknown"
	}
	return r.Status == "running" &&
		(r.AgentID == "" || sameID(r.AgentID, agentID)) &&
		r.TriggerType == trigger &&
		sameOptional(req.VersionID, r.VersionID, sameID) &&
		sameOptional(req.UserID, r.UserID, sameID) &&
		sameOptional(req.ParentRunID, r.ParentRunID, sameID) &&
		sameOptional(req.TriggerID, r.TriggerID, func(a, b string) bool { return a == b })
}

// sameOptional compares a request field (empty: not sent) with a record
// field (nil or empty: not set).
func sameOptional(want string, got *string, eq func(a, b string) bool) bool {
	if want == "" {
		return got == nil || *got == ""
	}
	return got != nil && eq(*got, want)
}

// sameID compares two ids as UUIDs, else as case-insensitive text.
func sameID(a, b string) bool {
	ua, errA := uuid.Parse(a)
	ub, errB := uuid.Parse(b)
	if errA == nil && errB == nil {
		return ua == ub
	}
	return strings.EqualFold(a, b)
}

// parseServerTime reads a time of a record: RFC 3339, or without zone
// (read as UTC, as the server does).
func parseServerTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// ledgerLimit bounds the runs remembered as handed out.
const ledgerLimit = 100_000

// runLedger remembers the run ids this client handed out, so that no run is
// adopted by a second call. Entries older than keep cannot fall in an
// adoption window any more and are dropped; so are the oldest beyond
// ledgerLimit.
type runLedger struct {
	mu    sync.Mutex
	byID  map[string]ledgerEntry
	order []string
	keep  time.Duration
}

type ledgerEntry struct {
	at     time.Time // when the run was handed out (local clock)
	window time.Time // start of the adopting call's window, zero if created
}

func newRunLedger(keep time.Duration) *runLedger {
	return &runLedger{byID: make(map[string]ledgerEntry), keep: keep}
}

// claim records id as handed out. If it already was, it returns the earlier
// entry and false.
func (l *runLedger) claim(id string, e ledgerEntry) (ledgerEntry, bool) {
	id = strings.ToLower(id)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evict(e.at)
	if prev, ok := l.byID[id]; ok {
		return prev, false
	}
	l.add(id, e)
	return e, true
}

// claimFirst claims the first of ids not handed out yet and returns its
// index.
func (l *runLedger) claimFirst(ids []string, e ledgerEntry) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evict(e.at)
	for i, id := range ids {
		id = strings.ToLower(id)
		if _, taken := l.byID[id]; !taken {
			l.add(id, e)
			return i, true
		}
	}
	return 0, false
}

func (l *runLedger) add(id string, e ledgerEntry) {
	l.byID[id] = e
	l.order = append(l.order, id)
}

func (l *runLedger) evict(now time.Time) {
	for len(l.order) > 0 {
		id := l.order[0]
		if len(l.order) <= ledgerLimit && now.Sub(l.byID[id].at) <= l.keep {
			return
		}
		delete(l.byID, id)
		l.order = l.order[1:]
	}
}

// handedOut reports whether id is in the ledger (for tests).
func (l *runLedger) handedOut(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.byID[strings.ToLower(id)]
	return ok
}
