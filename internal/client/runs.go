package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	// Every call in progress may have stored a run not claimed yet (its
	// answer in flight, or lost): adoption counts them (see adopt).
	sig := requestSig(aid, req)
	c.runs.pending(sig, 1)
	defer c.runs.pending(sig, -1)
	check := false
	for {
		if check {
			var cands []candidate
			a := s.sendWith(ctx, http.MethodGet, path, nil, true, func(a *answer, r io.Reader) (*wire.Envelope, error) {
				var err error
				cands, err = c.candidates(aid, req, a, since, r)
				return &wire.Envelope{Success: true, Data: json.RawMessage("[]")}, err
			})
			if !a.ok() {
				if a.err != nil && a.status/100 == 2 {
					return wire.Run{}, s.fail(a, ErrServer, 0, "the run list could not be read: "+a.err.Error())
				}
				if err := s.retryOrFail(ctx, a); err != nil {
					return wire.Run{}, err
				}
				continue
			}
			if r, ok := c.adopt(cands, since, sig); ok {
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

// adoptScanLimit bounds the runs read from the head of the list: the
// list has no paging, and an agent with a long history would otherwise be
// downloaded whole. Runs are listed newest first, so the head is where an
// attempt of the last minutes is.
const adoptScanLimit = 1000

// candidate is a listed run an unanswered attempt may have created.
type candidate struct {
	run wire.Run
	at  time.Time
}

// candidates reads the head of the run list answer a (body r, newest
// first) and returns the runs that an unanswered attempt of this call may
// have created: same version_id, user_id, trigger_type, trigger_id and
// parent_run_id as the request, status running, created since the attempt
// began. The window is on the server's clock (the answer's Date header
// minus the local time elapsed since the attempt began, with adoptSlack),
// so that the clocks of client and server need not agree. It stops at the
// first run older than the window, or after adoptScanLimit runs.
func (c *Client) candidates(agentID string, req wire.StartRunRequest, a *answer, since time.Time, r io.Reader) ([]candidate, error) {
	now := c.now()
	serverNow, err := http.ParseTime(a.header.Get("Date"))
	if err != nil {
		serverNow = now // no Date header: trust the local clock
	}
	from := serverNow.Add(-now.Sub(since) - adoptSlack)
	to := serverNow.Add(adoptSlack)

	var cands []candidate
	err = streamList(r, func(dec *json.Decoder) (bool, error) {
		var lr wire.Run
		if err := dec.Decode(&lr); err != nil {
			return false, err
		}
		at, ok := parseServerTime(lr.CreatedAt)
		if !ok {
			at, ok = parseServerTime(lr.StartTime)
		}
		if ok && at.Before(from) {
			return false, nil // newest first: the rest is older
		}
		if ok && !at.After(to) && runMatches(agentID, req, lr) {
			cands = append(cands, candidate{lr, at})
		}
		return true, nil
	}, adoptScanLimit)
	return cands, err
}

// streamList reads a success envelope whose data is a list, calling item
// for each element (it decodes one from dec) until it returns false or
// limit elements were read. The rest of the body is not read.
func streamList(r io.Reader, item func(dec *json.Decoder) (bool, error), limit int) error {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if key != "data" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return err
			}
			continue
		}
		if err := expectDelim(dec, '['); err != nil {
			return fmt.Errorf("data is not a list: %w", err)
		}
		for n := 0; dec.More() && n < limit; n++ {
			more, err := item(dec)
			if err != nil || !more {
				return err
			}
		}
		return nil
	}
	return errors.New("no data in the answer")
}

func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if got, ok := tok.(json.Delim); !ok || got != d {
		return fmt.Errorf("want %q, got %v", d, tok)
	}
	return nil
}

// adopt picks the run an unanswered attempt of this call created, among
// the candidates not handed out by this client already. It adopts only
// when they can all be this client's own: no more of them than its calls
// with the same request in progress now (sig counts them; each may have
// stored a run whose answer is in flight or lost), and then the oldest.
// With more (another process of the same agent started a run with the
// same trigger in the same seconds) it adopts none, rather than merge two
// processes' runs: the caller creates its run again, and the one its
// unanswered attempt may have stored stays unended (counted in
// Stats.AdoptionsAmbiguous).
func (c *Client) adopt(cands []candidate, since time.Time, sig string) (wire.Run, bool) {
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
	i, left := c.runs.claimOwn(ids, sig, ledgerEntry{at: c.now(), window: since})
	if i < 0 {
		if left > 0 {
			c.stats.adoptionsAmbiguous.Add(1)
		}
		return wire.Run{}, false
	}
	return cands[i].run, true
}

// requestSig identifies the runs a start request makes, for counting a
// client's concurrent ambiguous calls.
func requestSig(agentID string, req wire.StartRunRequest) string {
	return strings.ToLower(agentID) + "\x00" + req.VersionID + "\x00" + req.UserID + "\x00" + req.TriggerType + "\x00" + req.TriggerID + "\x00" + req.ParentRunID
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
// ledgerLimit. An entry is 40 bytes or so: ids are kept as 16 bytes, times
// as nanoseconds.
type runLedger struct {
	mu    sync.Mutex
	byID  map[ledgerKey]stored
	order []ledgerKey
	head  int // order[head:] are live
	keep  time.Duration
	// ambiguous counts, by request signature, the StartRun calls in
	// progress.
	ambiguous map[string]int
}

// ledgerKey is a run id: its UUID bytes, or for an id that is not a UUID a
// name-based UUID of its lower-case text.
type ledgerKey [16]byte

func keyOfRun(id string) ledgerKey {
	if u, err := uuid.Parse(id); err == nil {
		return ledgerKey(u)
	}
	return ledgerKey(uuid.NewSHA1(uuid.Nil, []byte(strings.ToLower(id))))
}

type ledgerEntry struct {
	at     time.Time // when the run was handed out (local clock)
	window time.Time // start of the adopting call's window, zero if created
}

// stored is a ledgerEntry as kept: Unix nanoseconds, 0 for the zero time.
type stored struct{ at, window int64 }

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func (s stored) entry() ledgerEntry {
	return ledgerEntry{at: fromNanos(s.at), window: fromNanos(s.window)}
}

func newRunLedger(keep time.Duration) *runLedger {
	return &runLedger{byID: make(map[ledgerKey]stored), keep: keep, ambiguous: map[string]int{}}
}

// claim records id as handed out. If it already was, it returns the earlier
// entry and false.
func (l *runLedger) claim(id string, e ledgerEntry) (ledgerEntry, bool) {
	k := keyOfRun(id)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evict(e.at)
	if prev, ok := l.byID[k]; ok {
		return prev.entry(), false
	}
	l.add(k, e)
	return e, true
}

// claimOwn claims the first of ids not handed out yet, if no more are
// left than the client's calls of signature sig in progress (see
// pending), and returns its index; else -1, claiming nothing. It also
// returns how many ids were left.
func (l *runLedger) claimOwn(ids []string, sig string, e ledgerEntry) (int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evict(e.at)
	first, left := -1, 0
	for i, id := range ids {
		if _, taken := l.byID[keyOfRun(id)]; !taken {
			if first < 0 {
				first = i
			}
			left++
		}
	}
	if left == 0 || left > l.ambiguous[sig] {
		return -1, left
	}
	l.add(keyOfRun(ids[first]), e)
	return first, left
}

// pending notes that a call of signature sig starts (d 1) or returns
// (d -1).
func (l *runLedger) pending(sig string, d int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ambiguous[sig] += d
	if l.ambiguous[sig] <= 0 {
		delete(l.ambiguous, sig)
	}
}

func (l *runLedger) add(k ledgerKey, e ledgerEntry) {
	l.byID[k] = stored{nanos(e.at), nanos(e.window)}
	l.order = append(l.order, k)
}

func (l *runLedger) evict(now time.Time) {
	for l.head < len(l.order) {
		k := l.order[l.head]
		if len(l.order)-l.head <= ledgerLimit && now.Sub(fromNanos(l.byID[k].at)) <= l.keep {
			break
		}
		delete(l.byID, k)
		l.head++
	}
	// Reuse the slice once most of it is gone.
	if l.head > 1024 && l.head*2 > len(l.order) {
		n := copy(l.order, l.order[l.head:])
		l.order, l.head = l.order[:n], 0
	}
}

// handedOut reports whether id is in the ledger (for tests).
func (l *runLedger) handedOut(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.byID[keyOfRun(id)]
	return ok
}

// FindRun looks, at the head of the agent's run list, for the one run
// made from req since since (an earlier process's start, whose answer it
// may not have kept): running, the same version, user, trigger and parent
// as req. It returns false when there is none, or more than one.
func (c *Client) FindRun(ctx context.Context, agentID string, req wire.StartRunRequest, since time.Time) (wire.Run, bool, error) {
	const op = "find run"
	aid, err := c.pathID(op, "agent id", agentID)
	if err != nil {
		return wire.Run{}, false, err
	}
	s := c.newOp(op)
	for {
		var cands []candidate
		a := s.sendWith(ctx, http.MethodGet, "/agents/"+aid+"/runs", nil, true, func(a *answer, r io.Reader) (*wire.Envelope, error) {
			var err error
			cands, err = c.candidates(aid, req, a, since, r)
			return &wire.Envelope{Success: true, Data: json.RawMessage("[]")}, err
		})
		if a.ok() {
			c.stats.succeeded.Add(1)
			if len(cands) != 1 {
				return wire.Run{}, false, nil
			}
			if _, fresh := c.runs.claim(cands[0].run.ID, ledgerEntry{at: c.now(), window: since}); !fresh {
				return wire.Run{}, false, nil
			}
			return cands[0].run, true, nil
		}
		if err := s.retryOrFail(ctx, a); err != nil {
			return wire.Run{}, false, err
		}
	}
}
