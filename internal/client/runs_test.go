package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
)

// What a runServer does with a POST (create run).
const (
	runOK             = "ok"
	runDropAfterStore = "drop-after-store"
	runDropBefore     = "drop-before-store"
	run502AfterStore  = "502-after-store"
	runStoreThenWait  = "store-then-wait" // store, answer when release is closed
)

// runServer keeps runs like the real server (no idempotency), with its own
// clock offset from the client's.
type runServer struct {
	t       *testing.T
	mu      sync.Mutex
	runs    []wire.Run // in creation order
	posts   int
	gets    int
	offset  time.Duration
	noDate  bool
	acts    []string // per POST; runOK beyond
	listErr []bool   // per GET: answer 503 instead of the list
	release chan struct{}
}

func newRunServer(t *testing.T, acts ...string) (*runServer, *httptest.Server) {
	s := &runServer{t: t, acts: acts, release: make(chan struct{})}
	return s, newServer(t, s.handle)
}

func (s *runServer) now() time.Time { return time.Now().Add(s.offset).UTC() }

const serverTimeFormat = "2006-01-02T15:04:05.000000Z"

// seed stores a run created age ago (server clock).
func (s *runServer) seed(req wire.StartRunRequest, status string, age time.Duration) wire.Run {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.newRun(req, s.now().Add(-age))
	r.Status = status
	s.runs = append(s.runs, r)
	return r
}

func (s *runServer) newRun(req wire.StartRunRequest, at time.Time) wire.Run {
	opt := func(v string) *string {
		if v == "" {
			return nil
		}
		return &v
	}
	trigger := req.TriggerType
	if trigger == "" {
		trigger = "unknown"
	}
	id := uuid.NewString()
	ts := at.Format(serverTimeFormat)
	return wire.Run{
		ID: id, AgentID: agentID, VersionID: opt(req.VersionID), UserID: opt(req.UserID), Status: "running",
		ParentRunID: opt(req.ParentRunID), RootRunID: id, TriggerType: trigger, TriggerID: opt(req.TriggerID),
		OrganizationID: "org", StartTime: ts, EndTime: &ts, CreatedAt: ts, UpdatedAt: ts,
	}
}

func (s *runServer) handle(w http.ResponseWriter, r *http.Request) {
	if !s.noDate {
		w.Header().Set("Date", s.now().Format(http.TimeFormat))
	} else {
		w.Header()["Date"] = nil // suppress the server's own
	}
	if r.URL.Path != "/agents/"+agentID+"/runs" {
		writeError(w, 404, wire.CodeNotFound, "Agent not found.")
		return
	}
	if r.Method == http.MethodGet {
		s.mu.Lock()
		n := s.gets
		s.gets++
		if n < len(s.listErr) && s.listErr[n] {
			s.mu.Unlock()
			writeError(w, 503, wire.CodeHTTPError, "Service Unavailable")
			return
		}
		list := make([]wire.Run, 0, len(s.runs))
		for i := len(s.runs) - 1; i >= 0; i-- { // newest first
			list = append(list, s.runs[i])
		}
		s.mu.Unlock()
		writeData(w, 200, list)
		return
	}
	var req wire.StartRunRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, 422, wire.CodeValidationError, err.Error())
		return
	}
	s.mu.Lock()
	n := s.posts
	s.posts++
	act := runOK
	if n < len(s.acts) {
		act = s.acts[n]
	}
	if act == runDropBefore {
		s.mu.Unlock()
		dropConnection(s.t, w)
		return
	}
	run := s.newRun(req, s.now())
	s.runs = append(s.runs, run)
	s.mu.Unlock()
	switch act {
	case runDropAfterStore:
		dropConnection(s.t, w)
	case run502AfterStore:
		writeRaw(w, 502, "text/html", "<html>Bad Gateway</html>")
	case runStoreThenWait:
		<-s.release
		writeData(w, 201, run)
	default:
		writeData(w, 201, run)
	}
}

func (s *runServer) counts() (runs, posts, gets int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.runs), s.posts, s.gets
}

func (s *runServer) run(i int) wire.Run {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[i]
}

var runReq = wire.StartRunRequest{VersionID: verID, UserID: eventID, TriggerType: "api", TriggerID: "job-7"}

// TestStartRunAdoption: after an unanswered create, StartRun adopts the run
// it made instead of making a second one.
func TestStartRunAdoption(t *testing.T) {
	tests := []struct {
		name    string
		acts    []string
		req     wire.StartRunRequest
		setup   func(s *runServer, c *Client)
		runs    int // runs stored afterwards
		posts   int
		gets    int
		adopted bool
		want    int // index in the server's runs of the run StartRun returns
	}{
		{name: "stored, connection dropped: adopted", acts: []string{runDropAfterStore}, req: runReq, runs: 1, posts: 1, gets: 1, adopted: true, want: 0},
		{name: "stored, 502 from gateway: adopted", acts: []string{run502AfterStore}, req: runReq, runs: 1, posts: 1, gets: 1, adopted: true, want: 0},
		{name: "not stored: created again", acts: []string{runDropBefore}, req: runReq, runs: 1, posts: 2, gets: 1, want: 0},
		{name: "empty request, trigger type defaults to unknown", acts: []string{runDropAfterStore}, req: wire.StartRunRequest{}, runs: 1, posts: 1, gets: 1, adopted: true, want: 0},
		{name: "server clock an hour ahead", acts: []string{runDropAfterStore}, req: runReq,
			setup: func(s *runServer, c *Client) { s.offset = time.Hour }, runs: 1, posts: 1, gets: 1, adopted: true, want: 0},
		{name: "server clock an hour behind", acts: []string{runDropAfterStore}, req: runReq,
			setup: func(s *runServer, c *Client) { s.offset = -time.Hour }, runs: 1, posts: 1, gets: 1, adopted: true, want: 0},
		{name: "no Date header: local clock", acts: []string{runDropAfterStore}, req: runReq,
			setup: func(s *runServer, c *Client) { s.noDate = true }, runs: 1, posts: 1, gets: 1, adopted: true, want: 0},
		{name: "list fails once, then adopted", acts: []string{runDropAfterStore}, req: runReq,
			setup: func(s *runServer, c *Client) { s.listErr = []bool{true} }, runs: 1, posts: 1, gets: 2, adopted: true, want: 0},
		{name: "two unanswered attempts, one stored", acts: []string{runDropBefore, runDropAfterStore}, req: runReq, runs: 1, posts: 2, gets: 2, adopted: true, want: 0},
		{name: "old matching run is not adopted", acts: []string{runDropBefore}, req: runReq,
			setup: func(s *runServer, c *Client) { s.seed(runReq, "running", 10*time.Minute) }, runs: 2, posts: 2, gets: 1, want: 1},
		{name: "runs that differ are not adopted", acts: []string{runDropBefore}, req: runReq,
			setup: func(s *runServer, c *Client) {
				s.seed(runReq, "success", 0)
				for _, f := range []func(r *wire.StartRunRequest){
					func(r *wire.StartRunRequest) { r.VersionID = "" },
					func(r *wire.StartRunRequest) { r.VersionID = spanID },
					func(r *wire.StartRunRequest) { r.UserID = "" },
					func(r *wire.StartRunRequest) { r.TriggerType = "" },
					func(r *wire.StartRunRequest) { r.TriggerID = "job-8" },
					func(r *wire.StartRunRequest) { r.TriggerType, r.ParentRunID = "agent", runID },
				} {
					r := runReq
					f(&r)
					s.seed(r, "running", 0)
				}
			}, runs: 8, posts: 2, gets: 1, want: 7},
		{name: "run already handed out is not adopted", acts: []string{runOK, runDropBefore}, req: runReq,
			setup: func(s *runServer, c *Client) {
				r, err := c.StartRun(context.Background(), agentID, runReq)
				require.NoError(t, err)
				require.True(t, c.runs.handedOut(r.ID))
			}, runs: 2, posts: 3, gets: 1, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, hs := newRunServer(t, tt.acts...)
			c := newTestClient(t, hs.URL)
			if tt.setup != nil {
				tt.setup(srv, c)
			}
			got, err := c.StartRun(context.Background(), strings.ToUpper(agentID), tt.req)
			require.NoError(t, err)
			runs, posts, gets := srv.counts()
			assert.Equal(t, tt.runs, runs, "runs stored")
			assert.Equal(t, tt.posts, posts, "creates sent")
			assert.Equal(t, tt.gets, gets, "lists sent")
			assert.Equal(t, srv.run(tt.want).ID, got.ID)
			assert.Equal(t, srv.run(tt.want), got)
			assert.True(t, c.runs.handedOut(got.ID))
			adopted := int64(0)
			if tt.adopted {
				adopted = 1
			}
			assert.Equal(t, adopted, c.Stats().RunsAdopted)
		})
	}
}

// TestStartRunConcurrentAmbiguous: two identical StartRuns whose creates
// are both stored and unanswered each adopt one of the two runs.
func TestStartRunConcurrentAmbiguous(t *testing.T) {
	for i := 0; i < 3; i++ {
		srv, hs := newRunServer(t, runDropAfterStore, runDropAfterStore)
		c := newTestClient(t, hs.URL)
		var wg sync.WaitGroup
		got := make([]wire.Run, 2)
		errs := make([]error, 2)
		start := make(chan struct{})
		for g := 0; g < 2; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got[g], errs[g] = c.StartRun(context.Background(), agentID, runReq)
			}()
		}
		close(start)
		wg.Wait()
		require.NoError(t, errs[0])
		require.NoError(t, errs[1])
		runs, posts, _ := srv.counts()
		assert.Equal(t, 2, runs, "exactly the two runs the first attempts created")
		assert.Equal(t, 2, posts)
		assert.NotEqual(t, got[0].ID, got[1].ID, "each run handed out once")
		ids := map[string]bool{srv.run(0).ID: true, srv.run(1).ID: true}
		assert.True(t, ids[got[0].ID] && ids[got[1].ID])
		assert.Equal(t, int64(2), c.Stats().RunsAdopted)
	}
}

// TestStartRunAdoptionTakesAnswerInFlight: an adoption may take the run a
// concurrent create made before its answer arrives; that create then looks
// for the adopter's own run and, finding none, creates again. No run is
// handed out twice.
func TestStartRunAdoptionTakesAnswerInFlight(t *testing.T) {
	srv, hs := newRunServer(t, runStoreThenWait, runDropBefore)
	c := newTestClient(t, hs.URL)
	var first wire.Run
	var firstErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		first, firstErr = c.StartRun(context.Background(), agentID, runReq)
	}()
	require.Eventually(t, func() bool { n, _, _ := srv.counts(); return n == 1 }, 5*time.Second, time.Millisecond)

	second, err := c.StartRun(context.Background(), agentID, runReq) // dropped before store: adopts run 0
	require.NoError(t, err)
	assert.Equal(t, srv.run(0).ID, second.ID)
	close(srv.release)
	<-done
	require.NoError(t, firstErr)
	runs, posts, gets := srv.counts()
	assert.Equal(t, 2, runs)
	assert.Equal(t, 3, posts)
	assert.Equal(t, 2, gets)
	assert.Equal(t, srv.run(1).ID, first.ID)
	assert.NotEqual(t, first.ID, second.ID)
}

// TestStartRunWithoutRetries: with retries off nothing is looked up, and the
// error says a run may exist.
func TestStartRunWithoutRetries(t *testing.T) {
	srv, hs := newRunServer(t, runDropAfterStore)
	c := newTestClient(t, hs.URL, WithRetry(RetryConfig{}))
	_, err := c.StartRun(context.Background(), agentID, runReq)
	e := asAPIError(t, err)
	assert.ErrorIs(t, err, ErrTransport)
	assert.Equal(t, 1, e.Attempts)
	assert.Contains(t, err.Error(), "an unanswered attempt may have created a run")
	runs, posts, gets := srv.counts()
	assert.Equal(t, []int{1, 1, 0}, []int{runs, posts, gets})
}

// TestStartRunListRefused: a list that fails for good ends the call.
func TestStartRunListRefused(t *testing.T) {
	srv, hs := newRunServer(t, runDropAfterStore)
	srv.listErr = []bool{true, true, true, true, true, true, true, true, true, true}
	c := newTestClient(t, hs.URL, WithRetry(RetryConfig{Enabled: true, InitialInterval: time.Second, MaxInterval: time.Second, MaxElapsedTime: 4 * time.Second}))
	installFakeClock(c)
	_, err := c.StartRun(context.Background(), agentID, runReq)
	e := asAPIError(t, err)
	assert.ErrorIs(t, err, ErrServer)
	assert.Equal(t, "GET", e.Method)
	assert.Contains(t, err.Error(), "an unanswered attempt may have created a run")
	runs, posts, _ := srv.counts()
	assert.Equal(t, 1, runs)
	assert.Equal(t, 1, posts, "no second create while the first may exist")
}

func TestRunLedger(t *testing.T) {
	l := newRunLedger(time.Minute)
	t0 := time.Now()
	_, fresh := l.claim("A", ledgerEntry{at: t0})
	assert.True(t, fresh)
	prev, fresh := l.claim("a", ledgerEntry{at: t0})
	assert.False(t, fresh, "ids compare case-insensitively")
	assert.True(t, t0.Equal(prev.at), "earlier entry %v, want %v", prev.at, t0)
	// Without an ambiguous call of that signature nothing is claimed.
	i, left := l.claimOwn([]string{"a", "b"}, "sig", ledgerEntry{at: t0, window: t0})
	assert.Equal(t, -1, i)
	assert.Equal(t, 1, left)
	// One ambiguous call, one candidate left: claimed.
	l.pending("sig", 1)
	i, left = l.claimOwn([]string{"a", "b"}, "sig", ledgerEntry{at: t0, window: t0})
	assert.Equal(t, 1, i)
	assert.Equal(t, 1, left)
	// None left, or more than the ambiguous calls: nothing claimed.
	i, left = l.claimOwn([]string{"a", "b"}, "sig", ledgerEntry{at: t0})
	assert.Equal(t, -1, i)
	assert.Equal(t, 0, left)
	i, left = l.claimOwn([]string{"a", "c", "e"}, "sig", ledgerEntry{at: t0})
	assert.Equal(t, -1, i)
	assert.Equal(t, 2, left)
	assert.False(t, l.handedOut("c"))
	// Two ambiguous calls: two candidates may both be theirs.
	l.pending("sig", 1)
	i, _ = l.claimOwn([]string{"a", "c", "e"}, "sig", ledgerEntry{at: t0})
	assert.Equal(t, 1, i)
	l.pending("sig", -1)
	l.pending("sig", -1)
	assert.Empty(t, l.ambiguous)
	// Entries older than keep are dropped.
	_, fresh = l.claim("d", ledgerEntry{at: t0.Add(2 * time.Minute)})
	assert.True(t, fresh)
	assert.False(t, l.handedOut("a"))
	assert.False(t, l.handedOut("b"))
	assert.True(t, l.handedOut("d"))
}

func TestRunMatches(t *testing.T) {
	base := wire.Run{AgentID: agentID, Status: "running", TriggerType: "unknown"}
	assert.True(t, runMatches(agentID, wire.StartRunRequest{}, base))
	withVersion := base
	withVersion.VersionID = sp(strings.ToUpper(verID))
	assert.True(t, runMatches(agentID, wire.StartRunRequest{VersionID: verID}, withVersion), "ids compare as UUIDs")
	assert.False(t, runMatches(agentID, wire.StartRunRequest{}, withVersion))
	emptyTrigger := base
	emptyTrigger.TriggerID = sp("")
	assert.True(t, runMatches(agentID, wire.StartRunRequest{}, emptyTrigger))
	otherAgent := base
	otherAgent.AgentID = runID
	assert.False(t, runMatches(agentID, wire.StartRunRequest{}, otherAgent))
}

func TestParseServerTime(t *testing.T) {
	for _, s := range []string{"2026-01-02T03:04:05.123456Z", "2026-01-02T03:04:05Z", "2026-01-02T03:04:05.123456+00:00", "2026-01-02T03:04:05.123456", "2026-01-02 03:04:05.123456+00:00"} {
		got, ok := parseServerTime(s)
		assert.True(t, ok, s)
		assert.Equal(t, 2026, got.Year(), s)
		assert.Equal(t, 5, got.Second(), s)
	}
	_, ok := parseServerTime("yesterday")
	assert.False(t, ok)
}

// TestStartRunAdoptionReadsOnlyTheHead: an agent with a long history (a
// run list far larger than the client reads in one answer): adoption reads
// the head of the list (newest first), finds the run, and stops.
func TestStartRunAdoptionReadsOnlyTheHead(t *testing.T) {
	srv, hs := newRunServer(t, runDropAfterStore)
	big := wire.Object{"notes": strings.Repeat("x", 16<<10)}
	for i := 0; i < (maxAnswer/(16<<10))+200; i++ {
		srv.seed(runReq, "success", time.Hour+time.Duration(i)*time.Second)
		srv.runs[len(srv.runs)-1].Metadata = big
	}
	// seed appends oldest last; the list is served newest first by
	// creation order, so put the history first.
	for i, j := 0, len(srv.runs)-1; i < j; i, j = i+1, j-1 {
		srv.runs[i], srv.runs[j] = srv.runs[j], srv.runs[i]
	}
	c := newTestClient(t, hs.URL)
	got, err := c.StartRun(context.Background(), agentID, runReq)
	require.NoError(t, err, "the list is over %d bytes: it must not be read whole", maxAnswer)
	runs, posts, gets := srv.counts()
	assert.Equal(t, len(srv.runs), runs)
	assert.Equal(t, 1, posts, "no second create")
	assert.Equal(t, 1, gets)
	assert.Equal(t, srv.run(runs-1).ID, got.ID, "the run the unanswered attempt stored")
	assert.Equal(t, int64(1), c.Stats().RunsAdopted)
}

// TestStartRunDoesNotAdoptAnotherProcesssRun: another process of the same
// agent started a run with the same request in the same seconds. Two
// candidates for one unanswered attempt: the client cannot tell its own,
// so it adopts neither and creates its run again.
func TestStartRunDoesNotAdoptAnotherProcesssRun(t *testing.T) {
	srv, hs := newRunServer(t, runDropAfterStore)
	other := srv.seed(runReq, "running", 0) // the other replica's, just now
	c := newTestClient(t, hs.URL)
	got, err := c.StartRun(context.Background(), agentID, runReq)
	require.NoError(t, err)
	runs, posts, gets := srv.counts()
	assert.Equal(t, 3, runs, "the other's, the unanswered attempt's, and the new one")
	assert.Equal(t, 2, posts)
	assert.Equal(t, 1, gets)
	assert.NotEqual(t, other.ID, got.ID, "never the other process's run")
	assert.Equal(t, srv.run(2).ID, got.ID)
	st := c.Stats()
	assert.Equal(t, int64(0), st.RunsAdopted)
	assert.Equal(t, int64(1), st.AdoptionsAmbiguous)
}
