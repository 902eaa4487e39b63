package client

import "sync/atomic"

// Stats are the client's counters since New. Operation outcomes add up to
// Operations once every call has returned.
type Stats struct {
	// Operations is the number of operation calls (Health, StartRun, ...).
	Operations int64
	// Requests is the number of HTTP requests sent, every attempt and every
	// run look-up of StartRun included.
	Requests int64
	// Retries is the number of requests that followed an earlier request of
	// the same operation.
	Retries int64

	// Outcomes of operations.
	Succeeded        int64 // returned without error
	AuthErrors       int64 // ErrAuth
	ValidationErrors int64 // ErrValidation
	NotFound         int64 // ErrNotFound
	RateLimited      int64 // ErrRateLimited
	ServerErrors     int64 // ErrServer
	TransportErrors  int64 // ErrTransport
	InvalidArguments int64 // ErrInvalidArgument (no request sent)
	Canceled         int64 // the caller's context ended
	OtherErrors      int64 // other statuses (3xx, 4xx without a kind)

	// AssumedStored counts CreateSpan/EmitEvent calls that succeeded with
	// AssumedStored (see the package docs); they are also in Succeeded.
	AssumedStored int64
	// RunsAdopted counts StartRun calls that returned a run created by one
	// of their unanswered attempts, found by listing the agent's runs; they
	// are also in Succeeded.
	RunsAdopted int64
	// AdoptionsAmbiguous counts look-ups after an unanswered attempt that
	// found several runs it may have created (another process's among
	// them) and adopted none; the attempt's run, if stored, stays open.
	AdoptionsAmbiguous int64
	// Unavailable counts operations that failed with ErrUnavailable: an
	// outage lasted longer than WithMaxOutage.
	Unavailable int64
	// Outages counts outages (see WithMaxOutage), Probes the health probes
	// made during them.
	Outages, Probes int64
}

type counters struct {
	operations, requests, retries                        atomic.Int64
	succeeded, auth, validation, notFound, rateLimited   atomic.Int64
	server, transport, invalidArg, canceled, otherErrors atomic.Int64
	assumedStored, runsAdopted, adoptionsAmbiguous       atomic.Int64
	probes, outages, unavailable                         atomic.Int64
}

// count records a failed operation of the given kind.
func (c *counters) count(kind error) {
	switch kind {
	case ErrAuth:
		c.auth.Add(1)
	case ErrValidation:
		c.validation.Add(1)
	case ErrNotFound:
		c.notFound.Add(1)
	case ErrRateLimited:
		c.rateLimited.Add(1)
	case ErrServer:
		c.server.Add(1)
	case ErrTransport:
		c.transport.Add(1)
	case ErrInvalidArgument:
		c.invalidArg.Add(1)
	case ErrUnavailable:
		c.unavailable.Add(1)
	default:
		c.otherErrors.Add(1)
	}
}

// Stats returns a snapshot of the counters.
func (c *Client) Stats() Stats {
	s := c.stats
	return Stats{
		Operations:         s.operations.Load(),
		Requests:           s.requests.Load(),
		Retries:            s.retries.Load(),
		Succeeded:          s.succeeded.Load(),
		AuthErrors:         s.auth.Load(),
		ValidationErrors:   s.validation.Load(),
		NotFound:           s.notFound.Load(),
		RateLimited:        s.rateLimited.Load(),
		ServerErrors:       s.server.Load(),
		TransportErrors:    s.transport.Load(),
		InvalidArguments:   s.invalidArg.Load(),
		Canceled:           s.canceled.Load(),
		OtherErrors:        s.otherErrors.Load(),
		AssumedStored:      s.assumedStored.Load(),
		RunsAdopted:        s.runsAdopted.Load(),
		AdoptionsAmbiguous: s.adoptionsAmbiguous.Load(),
		Unavailable:        s.unavailable.Load(),
		Outages:            s.outages.Load(),
		Probes:             s.probes.Load(),
	}
}
