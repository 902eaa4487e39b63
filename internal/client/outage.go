package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Outage handling. A server that does not answer (connection refused,
// timeouts) or whose gateway says it is unavailable (502, 503, 504) is
// down, not refusing: retrying each request on its own budget would spend
// every budget while it restarts, and lose what outlasts them. So after
// outageAfter such failures in a row, over all requests, the client is in
// an outage: no request is sent (each waits, its retry budget paused),
// and one prober asks GET /health with a growing backoff until the server
// answers. Then every waiting request goes on where it was, in its own
// order. A server that answers, even with a refusal (4xx, a quota 429),
// is up: its answers keep their per-request budget.
//
// An outage longer than the limit (WithMaxOutage) ends the waits with
// ErrUnavailable; requests made while it lasts fail at once, until the
// server answers again.

// DefaultMaxOutage is the exporter's default for how long requests wait
// through an outage (WithMaxOutage); a client on its own does not wait
// through outages unless WithMaxOutage is given.
const DefaultMaxOutage = 15 * time.Minute

// outageAfter is how many unavailable answers in a row start an outage.
const outageAfter = 3

// pausedOutages is how many outages one operation waits through with its
// retry budget paused; later waits are charged to it.
const pausedOutages = 2

// Backoff of the prober; flapWindow: see gate.lastUp.
const (
	probeInitial = 250 * time.Millisecond
	probeMax     = 10 * time.Second
	flapWindow   = 5 * time.Second
)

// ErrUnavailable: the server was unreachable or unavailable for longer
// than the client waits through an outage (WithMaxOutage).
var ErrUnavailable = errors.New("ezop: server unavailable")

// WithMaxOutage makes requests wait through an outage of the server (see
// the top of outage.go), at most d from its start, before they fail with
// ErrUnavailable. Default: no outage handling; each request retries on
// its own budget (RetryConfig).
func WithMaxOutage(d time.Duration) Option {
	return optionFunc(func(c *config) { c.maxOutage = d })
}

// WithOutageHook makes the client call fn when an outage starts (down
// true, with the failure that started it) and when it ends (down false).
// fn must not block.
func WithOutageHook(fn func(down bool, since time.Time, cause error)) Option {
	return optionFunc(func(c *config) { c.outageHook = fn })
}

// gate is the client's outage state.
type gate struct {
	c        *Client
	max      time.Duration
	hook     func(down bool, since time.Time, cause error)
	mu       sync.Mutex
	failures int       // unavailable answers in a row
	down     bool      // an outage is on
	since    time.Time // its start
	up       chan struct{}
	waiting  int
	// lastUp is when the last outage ended: within flapWindow of it no new
	// outage starts (a server that answers /health but fails the API is
	// answering, and the per-request budget applies).
	lastUp time.Time
}

// unavailable reports whether answer a says the server is down rather
// than refusing: no answer at all (not because the caller's context
// ended), or a gateway's 502/503/504.
func unavailable(a *answer) bool {
	if a.callerCanceled || a.outage {
		return false
	}
	if a.err != nil && a.status == 0 {
		return true
	}
	switch a.status {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// note records the outcome of an attempt: an answer ends an outage,
// outageAfter unavailable ones in a row start one.
func (g *gate) note(a *answer) {
	if g.max <= 0 || a.callerCanceled || a.outage {
		return // says nothing of the server
	}
	if !unavailable(a) {
		g.mu.Lock()
		g.failures = 0
		// An answer to a request sent before the outage began says nothing
		// of the server now.
		stale := g.down && a.begun.Before(g.since)
		g.mu.Unlock()
		if !stale {
			g.recovered()
		}
		return
	}
	g.mu.Lock()
	g.failures++
	// Soon after an outage ended (the server answered /health), failures
	// again are the server answering badly, not down: the per-request
	// budget handles them.
	flapping := !g.lastUp.IsZero() && g.c.now().Sub(g.lastUp) < flapWindow
	start := g.failures >= outageAfter && !g.down && !flapping
	if start {
		g.down, g.since, g.up = true, g.c.now(), make(chan struct{})
	}
	since := g.since
	g.mu.Unlock()
	if start {
		g.c.stats.outages.Add(1)
		if g.hook != nil {
			g.hook(true, since, answerErr(a))
		}
		go g.probe()
	}
}

func answerErr(a *answer) error {
	if a.err != nil {
		return a.err
	}
	return fmt.Errorf("HTTP %d %s", a.status, http.StatusText(a.status))
}

// recovered ends the outage, if one is on.
func (g *gate) recovered() {
	g.mu.Lock()
	if !g.down {
		g.mu.Unlock()
		return
	}
	since := g.since
	g.down = false
	g.lastUp = g.c.now()
	close(g.up)
	g.mu.Unlock()
	if g.hook != nil {
		g.hook(false, since, nil)
	}
}

// wait blocks while an outage is on, until it ends, ctx ends, or the
// outage has lasted longer than the limit. It returns how long it waited.
func (g *gate) wait(ctx context.Context) (time.Duration, error) {
	g.mu.Lock()
	if !g.down {
		g.mu.Unlock()
		return 0, nil
	}
	up, since := g.up, g.since
	g.waiting++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.waiting--
		g.mu.Unlock()
	}()
	begun := g.c.now()
	left := g.max - begun.Sub(since)
	if left <= 0 {
		return 0, fmt.Errorf("%w: unreachable since %s, longer than %s", ErrUnavailable, since.UTC().Format(time.RFC3339), g.max)
	}
	t := time.NewTimer(left)
	defer t.Stop()
	select {
	case <-up:
		return g.c.now().Sub(begun), nil
	case <-ctx.Done():
		return g.c.now().Sub(begun), ctx.Err()
	case <-t.C:
		return g.c.now().Sub(begun), fmt.Errorf("%w: unreachable since %s, longer than %s", ErrUnavailable, since.UTC().Format(time.RFC3339), g.max)
	}
}

// Down reports whether an outage is on, and since when.
func (c *Client) Down() (bool, time.Time) {
	c.gate.mu.Lock()
	defer c.gate.mu.Unlock()
	return c.gate.down, c.gate.since
}

// probe asks GET /health until the server answers, then ends the outage.
// One prober runs per outage; it stops when the client is closed.
func (g *gate) probe() {
	c := g.c
	delay := probeInitial
	for {
		g.mu.Lock()
		down := g.down
		g.mu.Unlock()
		if !down {
			return
		}
		// Jitter, so that many clients coming back do not probe in step.
		d := delay/2 + time.Duration(rand.Int64N(int64(delay)))
		if err := c.sleep(c.probeCtx, d); err != nil {
			return
		}
		delay = min(delay*2, probeMax)
		s := &opState{c: c, op: "health probe", start: c.now(), probe: true}
		a := s.sendWith(c.probeCtx, http.MethodGet, "/health", nil, false, nil)
		if c.probeCtx.Err() != nil {
			return
		}
		c.stats.probes.Add(1)
		if !unavailable(a) {
			g.mu.Lock()
			g.failures = 0
			g.mu.Unlock()
			g.recovered()
			return
		}
	}
}

// Close stops the client's background work (the outage prober); requests
// waiting through an outage end with their contexts. The client stays
// usable for requests that need no waiting.
func (c *Client) Close() {
	c.probeStop()
	c.CloseIdleConnections()
}
