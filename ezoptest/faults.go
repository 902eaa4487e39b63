package ezoptest

import (
	"net/http"
	"time"
)

// Fault is an injected failure: what a proxy, a network or an overloaded
// deployment in front of the real server can do to a request. Faults apply
// to requests that routing resolved to an endpoint, before anything else
// (body, authentication) is looked at.
type Fault struct {
	// Endpoint selects the requests; "" means every endpoint except
	// EndpointHealth unless IncludeHealth is set.
	Endpoint      Endpoint
	IncludeHealth bool

	// Status answers this status with the server's envelope: error code
	// UNAUTHORIZED (401), FORBIDDEN (403), NOT_FOUND (404),
	// METHOD_NOT_ALLOWED (405), VALIDATION_ERROR (422), INTERNAL_ERROR (500)
	// or HTTP_ERROR (any other), and Message (default: the server's own
	// message for 401, 403 and 500, else the status text). The request is
	// not processed.
	Status  int
	Message string
	// RetryAfter, if set, is sent as the Retry-After header of a Status
	// answer.
	RetryAfter string

	// Latency delays the request before it is handled. A request whose
	// client gives up (or a server that closes) during the delay is dropped
	// unprocessed.
	Latency time.Duration

	// DropAfterCommit processes and stores the request normally, then closes
	// the connection without answering: the client sees a transport error
	// for a write that was stored.
	DropAfterCommit bool
	// Drop closes the connection without processing the request.
	Drop bool

	// Times applies the fault to the next Times matching requests, then
	// removes it; 0 means until removed or cleared.
	Times int
	// EveryNth applies the fault only to every Nth matching request (the
	// Nth, 2Nth, …); 0 and 1 mean every one.
	EveryNth int
}

func (f Fault) isAction() bool { return f.Status != 0 || f.Drop || f.DropAfterCommit }

func (f Fault) matches(ep Endpoint) bool {
	if f.Endpoint != "" {
		return f.Endpoint == ep
	}
	return ep != EndpointHealth || f.IncludeHealth
}

type faultState struct {
	id      uint64
	f       Fault
	matched int
	applied int
}

// Inject adds a fault; it takes effect for the next request. The returned
// function removes it (and may be called more than once).
//
// When several faults match a request, the latencies of all that fire add
// up, and the first (in injection order) that fires with an action (Status,
// Drop, DropAfterCommit) decides what happens; later action faults are not
// counted for that request.
func (s *Server) Inject(f Fault) (remove func()) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.nextFault++
	fs := &faultState{id: s.nextFault, f: f}
	s.faults = append(s.faults, fs)
	return func() { s.removeFault(fs.id) }
}

func (s *Server) removeFault(id uint64) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	for i, fs := range s.faults {
		if fs.id == id {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			return
		}
	}
}

// ClearFaults removes every injected fault, the global latency and
// RejectKey.
func (s *Server) ClearFaults() {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.faults = nil
	s.latency = 0
	s.rejectKey = false
}

// SetLatency delays every request (health and unrouted ones included) by d
// before it is handled; 0 turns it off.
func (s *Server) SetLatency(d time.Duration) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.latency = d
}

// RejectKey makes authentication answer 403 FORBIDDEN "Invalid or revoked
// API key." even to the valid key (a revoked key), or stops doing so.
func (s *Server) RejectKey(reject bool) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.rejectKey = reject
}

// FailNext answers the next n requests to any endpoint except health with
// status (see Fault.Status).
func (s *Server) FailNext(n int, status int) {
	if n <= 0 {
		return
	}
	s.Inject(Fault{Status: status, Times: n})
}

// pickFault advances the faults matching a request to ep and returns the
// action fault that fires (if any) and the total latency.
func (s *Server) pickFault(ep Endpoint) (*Fault, time.Duration) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	var action *Fault
	var latency time.Duration
	kept := s.faults[:0:0]
	for _, fs := range s.faults {
		keep := true
		if fs.f.matches(ep) && !(fs.f.isAction() && action != nil) {
			fs.matched++
			if fs.f.EveryNth <= 1 || fs.matched%fs.f.EveryNth == 0 {
				fs.applied++
				if fs.f.Times > 0 && fs.applied >= fs.f.Times {
					keep = false
				}
				latency += fs.f.Latency
				if fs.f.isAction() {
					f := fs.f
					action = &f
				}
			}
		}
		if keep {
			kept = append(kept, fs)
		}
	}
	s.faults = kept
	return action, latency
}

func faultResponse(f *Fault) *response {
	msg := f.Message
	if msg == "" {
		switch f.Status {
		case 401:
			msg = msgMissingCredentials
		case 403:
			msg = msgInvalidKey
		case 500:
			msg = "An unexpected error occurred."
		default:
			msg = http.StatusText(f.Status)
		}
	}
	resp := envelopeError(f.Status, statusCode(f.Status), msg)
	if f.RetryAfter != "" {
		resp.header.Set("Retry-After", f.RetryAfter)
	}
	resp.injected = true
	return resp
}
