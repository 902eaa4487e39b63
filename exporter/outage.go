package exporter

import (
	"fmt"
	"sync"
	"time"

	"github.com/ezopotel/ezop-otel-go/internal/client"
)

// Outages. When the Ezop API stops answering (connections refused or
// timing out, a gateway's 502/503/504, several in a row), the exporter
// stops sending as a whole rather than spend each request's retry budget:
// requests wait, one prober asks GET /health with a growing backoff, and
// when the API answers every waiting request goes on, each run's in its
// order (run start, spans parents first, closes and events, run end).
// Meanwhile spans keep arriving and are held, within WithMaxBufferedSpans
// and WithMaxBufferedBytes (which count spans waiting for their root and
// spans held for sending alike); beyond them new spans are dropped and
// counted. An outage longer than WithMaxOutage ends the waits: what they
// held is dropped and counted ("outage longer than …"). A server that
// answers, even with a refusal (4xx, a quota 429), keeps the per-request
// retry budget.

// DefaultMaxOutage is how long the exporter holds data through an outage
// of the Ezop API (WithMaxOutage).
const DefaultMaxOutage = client.DefaultMaxOutage

// WithMaxOutage sets how long the exporter waits through an outage of the
// Ezop API, holding what arrives meanwhile (within the buffer bounds),
// before it gives up on what it holds. Default: DefaultMaxOutage (15m).
func WithMaxOutage(d time.Duration) Option {
	return optionFunc(func(c config) config {
		c.maxOutage = d
		return c
	})
}

// OutageNotice is what the exporter reports through its error handler
// when the Ezop API becomes unreachable (Down) and when it answers again:
// once each, however many requests wait.
type OutageNotice struct {
	Down  bool
	Since time.Time // when the outage started
	// Cause is the failure that started it (Down only).
	Cause error
	// Held are the spans held when the notice was made.
	Held int
	// Lasted is how long it lasted (when it ends).
	Lasted time.Duration
	// Max is how long the exporter waits through one (WithMaxOutage).
	Max time.Duration
}

func (n *OutageNotice) Error() string {
	if n.Down {
		return fmt.Sprintf("ezop exporter: the Ezop API is unreachable since %s (%v); holding %d spans and sending them when it answers, for at most %s", n.Since.UTC().Format(time.RFC3339), n.Cause, n.Held, n.Max)
	}
	return fmt.Sprintf("ezop exporter: the Ezop API answers again after an outage of %s; sending the %d spans held", n.Lasted.Round(time.Millisecond), n.Held)
}

func (n *OutageNotice) Unwrap() error { return n.Cause }

// outageSignal returns a channel closed when an outage is on: ExportSpans
// stops waiting for delivery then, so that the batching processor keeps
// handing spans over (its queue would fill and drop them) while the
// exporter holds them.
func (e *Exporter) outageSignal() <-chan struct{} {
	e.outMu.Lock()
	defer e.outMu.Unlock()
	if e.outCh == nil {
		e.outCh = make(chan struct{})
	}
	return e.outCh
}

// outageChanged is the client's outage hook.
func (e *Exporter) outageChanged(down bool, since time.Time, cause error) {
	e.outMu.Lock()
	switch {
	case down && e.outCh == nil:
		e.outCh = closedChan
	case down:
		select {
		case <-e.outCh:
		default:
			close(e.outCh)
		}
	default:
		e.outCh = make(chan struct{})
	}
	e.outMu.Unlock()
	n := &OutageNotice{Down: down, Since: since, Cause: cause, Max: e.cfg.maxOutage}
	n.Held = int(e.st.inflightSpans.Load())
	e.mu.Lock()
	n.Held += e.buffered
	e.mu.Unlock()
	if !down {
		n.Lasted = e.cfg.now().Sub(since)
	}
	e.st.report(n)
}

// outageState is the exporter's side of outages.
type outageState struct {
	outMu sync.Mutex
	outCh chan struct{} // closed while an outage is on
}

// down reports whether an outage is on.
func (e *Exporter) down() bool {
	d, _ := e.api.Down()
	return d
}
