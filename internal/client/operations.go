package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

// Record is a record the server answered with, decoded only when Get is
// called: the server echoes whole metadata, input and output objects back,
// and most callers (the exporter among them) only need to know that the
// call succeeded. Decoding what nobody reads was a sixth of the client's
// CPU.
type Record[T any] struct {
	raw json.RawMessage
	val *T
}

// Get decodes the record. It fails only if the server's answer does not
// have the record's shape.
func (r Record[T]) Get() (T, error) {
	var v T
	if r.val != nil {
		return *r.val, nil
	}
	if err := json.Unmarshal(r.raw, &v); err != nil {
		return v, fmt.Errorf("ezop: the answer's data is not the expected record: %w", err)
	}
	return v, nil
}

// lazyData keeps an answer's data undecoded (see Record).
type lazyData struct{ raw json.RawMessage }

func (l *lazyData) UnmarshalJSON(b []byte) error {
	l.raw = b
	return nil
}

// SpanResult is the outcome of CreateSpan.
type SpanResult struct {
	// Span is the stored span. When AssumedStored is true it is built from
	// the request (id, run_id, parent_id, name, start_time, metadata); the
	// server-filled fields (agent_id, organization_id, created_at, ...) are
	// empty.
	Span Record[wire.Span]
	// AssumedStored is true when the server did not return the span but an
	// earlier, unanswered attempt of this call evidently stored it (see the
	// package docs).
	AssumedStored bool
}

// EventResult is the outcome of EmitEvent.
type EventResult struct {
	// Event is the stored event; built from the request when AssumedStored
	// (sequence, agent_id, organization_id, created_at are then zero).
	Event Record[wire.Event]
	// AssumedStored: see SpanResult.AssumedStored.
	AssumedStored bool
}

// Health asks GET /health (no API key is sent).
func (c *Client) Health(ctx context.Context) (wire.Health, error) {
	var h wire.Health
	err := c.call(ctx, "health", http.MethodGet, "/health", nil, false, &h)
	return h, err
}

// RegisterAgent registers the agent (name, owner) or updates its runtime,
// description and default permissions; the server keeps one agent per
// (name, owner), so the call is safe to retry.
func (c *Client) RegisterAgent(ctx context.Context, req wire.RegisterAgentRequest) (wire.Agent, error) {
	const op = "register agent"
	var a wire.Agent
	body, err := c.marshal(op, req)
	if err != nil {
		return a, err
	}
	err = c.call(ctx, op, http.MethodPost, "/agents/register", body, true, &a)
	return a, err
}

// CreateVersion creates the agent's version, or returns it if it exists
// (the server answers 200 then), so the call is safe to retry.
func (c *Client) CreateVersion(ctx context.Context, agentID string, req wire.CreateVersionRequest) (wire.Version, error) {
	const op = "create version"
	var v wire.Version
	aid, err := c.pathID(op, "agent id", agentID)
	if err != nil {
		return v, err
	}
	body, err := c.marshal(op, req)
	if err != nil {
		return v, err
	}
	err = c.call(ctx, op, http.MethodPost, "/agents/"+aid+"/versions", body, true, &v)
	return v, err
}

// ListRuns returns the agent's runs, newest first.
func (c *Client) ListRuns(ctx context.Context, agentID string) ([]wire.Run, error) {
	const op = "list runs"
	aid, err := c.pathID(op, "agent id", agentID)
	if err != nil {
		return nil, err
	}
	var runs []wire.Run
	err = c.call(ctx, op, http.MethodGet, "/agents/"+aid+"/runs", nil, true, &runs)
	return runs, err
}

// EndRun sets the run's status, message and metadata (metadata replaces
// what was stored); the server sets its end time to now. The values are
// absolute, so the call is safe to retry.
func (c *Client) EndRun(ctx context.Context, runID string, req wire.EndRunRequest) (Record[wire.Run], error) {
	const op = "end run"
	rid, err := c.pathID(op, "run id", runID)
	if err != nil {
		return Record[wire.Run]{}, err
	}
	body, err := c.marshal(op, req)
	if err != nil {
		return Record[wire.Run]{}, err
	}
	var d lazyData
	err = c.call(ctx, op, http.MethodPatch, "/runs/"+rid, body, true, &d)
	return Record[wire.Run]{raw: d.raw}, err
}

// CloseSpan sets the span's end time (RFC 3339). The value is absolute, so
// the call is safe to retry.
func (c *Client) CloseSpan(ctx context.Context, spanID string, req wire.CloseSpanRequest) (Record[wire.Span], error) {
	const op = "close span"
	sid, err := c.pathID(op, "span id", spanID)
	if err != nil {
		return Record[wire.Span]{}, err
	}
	if err := c.checkTime(op, "end_time", req.EndTime); err != nil {
		return Record[wire.Span]{}, err
	}
	body, err := c.marshal(op, req)
	if err != nil {
		return Record[wire.Span]{}, err
	}
	var d lazyData
	err = c.call(ctx, op, http.MethodPatch, "/spans/"+sid, body, true, &d)
	return Record[wire.Span]{raw: d.raw}, err
}

// CreateSpan stores a span in the run. req.ID is the span's id: when empty
// the client chooses one (uuid.New), so that every attempt carries the same
// id. Ids are sent lower-case and hyphenated. See the package docs for
// AssumedStored.
func (c *Client) CreateSpan(ctx context.Context, runID string, req wire.CreateSpanRequest) (SpanResult, error) {
	const op = "create span"
	rid, err := c.pathID(op, "run id", runID)
	if err != nil {
		return SpanResult{}, err
	}
	if req.ID == "" {
		req.ID = uuid.NewString()
	} else if req.ID, err = c.bodyID(op, "id", req.ID); err != nil {
		return SpanResult{}, err
	}
	if req.ParentID != "" {
		if req.ParentID, err = c.bodyID(op, "parent_id", req.ParentID); err != nil {
			return SpanResult{}, err
		}
		if req.ParentID == req.ID {
			return SpanResult{}, c.invalidArg(op, "span %s cannot be its own parent", req.ID)
		}
	}
	if req.StartTime != "" {
		if err := c.checkTime(op, "start_time", req.StartTime); err != nil {
			return SpanResult{}, err
		}
	}
	body, err := c.marshal(op, req)
	if err != nil {
		return SpanResult{}, err
	}
	data, assumed, err := c.create(ctx, op, "/runs/"+rid+"/spans", body)
	if err != nil {
		return SpanResult{}, err
	}
	if !assumed {
		return SpanResult{Span: Record[wire.Span]{raw: data}}, nil
	}
	sp := wire.Span{ID: req.ID, RunID: rid, StartTime: req.StartTime, Metadata: req.Metadata}
	if req.ParentID != "" {
		sp.ParentID = ptr(req.ParentID)
	}
	if req.Name != "" {
		sp.Name = ptr(req.Name)
	}
	return SpanResult{Span: Record[wire.Span]{val: &sp}, AssumedStored: true}, nil
}

// EmitEvent stores an event in the run. req.ID works as in CreateSpan. The
// category/type/subtype are checked against the server's rules before
// sending (semconv.ValidateEvent): a pair the server refuses would answer
// 500, which the client must never provoke.
func (c *Client) EmitEvent(ctx context.Context, runID string, req wire.EmitEventRequest) (EventResult, error) {
	const op = "emit event"
	rid, err := c.pathID(op, "run id", runID)
	if err != nil {
		return EventResult{}, err
	}
	if req.ID == "" {
		req.ID = uuid.NewString()
	} else if req.ID, err = c.bodyID(op, "id", req.ID); err != nil {
		return EventResult{}, err
	}
	if req.SpanID != "" {
		if req.SpanID, err = c.bodyID(op, "span_id", req.SpanID); err != nil {
			return EventResult{}, err
		}
	}
	if err := semconv.ValidateEvent(semconv.EventCategory(req.Category), semconv.EventType(req.Type), semconv.EventSubtype(req.Subtype)); err != nil {
		// Wrap a scrubbed copy: the fields are the caller's values.
		var ce *semconv.ClassificationError
		if errors.As(err, &ce) {
			cp := *ce
			cp.Category = semconv.EventCategory(c.creds.clean(string(cp.Category)))
			cp.Type = semconv.EventType(c.creds.clean(string(cp.Type)))
			cp.Subtype = semconv.EventSubtype(c.creds.clean(string(cp.Subtype)))
			err = &cp
		}
		return EventResult{}, c.invalidArgCause(op, err, "%v", err)
	}
	if it := req.IterationID; it != nil && (*it > math.MaxInt32 || *it < math.MinInt32) {
		return EventResult{}, c.invalidArg(op, "iteration_id %d does not fit in 32 bits", *it)
	}
	if req.Timestamp != "" {
		if err := c.checkTime(op, "timestamp", req.Timestamp); err != nil {
			return EventResult{}, err
		}
	}
	body, err := c.marshal(op, req)
	if err != nil {
		return EventResult{}, err
	}
	data, assumed, err := c.create(ctx, op, "/runs/"+rid+"/events", body)
	if err != nil {
		return EventResult{}, err
	}
	if !assumed {
		return EventResult{Event: Record[wire.Event]{raw: data}}, nil
	}
	ev := wire.Event{
		ID: req.ID, RunID: rid, Name: req.Name, Category: req.Category,
		IterationID: req.IterationID, Timestamp: req.Timestamp,
		Input: req.Input, Output: req.Output, Metadata: req.Metadata, Error: req.Error,
	}
	if req.SpanID != "" {
		ev.SpanID = ptr(req.SpanID)
	}
	if req.Type != "" {
		ev.Type = ptr(req.Type)
	}
	if req.Subtype != "" {
		ev.Subtype = ptr(req.Subtype)
	}
	return EventResult{Event: Record[wire.Event]{val: &ev}, AssumedStored: true}, nil
}

// call runs an operation that is safe to repeat.
func (c *Client) call(ctx context.Context, op, method, path string, body []byte, auth bool, out any) error {
	s := c.newOp(op)
	for {
		a := s.send(ctx, method, path, body, auth)
		if a.ok() {
			return s.decode(a, out)
		}
		if err := s.retryOrFail(ctx, a); err != nil {
			return err
		}
	}
}

// create runs the create of a record whose id the client chose (span,
// event). It reports assumed=true when the record is known to be stored but
// was not returned:
//
//   - a 500 INTERNAL_ERROR envelope after an EARLIER attempt of this call was
//     ambiguous (written but unanswered, or a 502/504): the server answers
//     500, not 409, to an id it already stores, and the client never sends
//     a request that could 500 for another reason (ids, times and event
//     classifications are checked before sending), so the 500 means the
//     earlier attempt stored the record;
//   - a 201 whose body could not be read (connection lost mid-body): the
//     server said it stored the record. (A 2xx that is not the envelope,
//     say a captive portal's page, is an error: it did not come from the
//     API.) The record itself is decoded only on demand (Record.Get).
//
// Without an earlier ambiguous attempt a 500 is an ordinary server error,
// retried at most MaxServerErrorRetries times.
func (c *Client) create(ctx context.Context, op, path string, body []byte) (data json.RawMessage, assumed bool, err error) {
	s := c.newOp(op)
	for {
		a := s.send(ctx, http.MethodPost, path, body, true)
		if a.ok() {
			c.stats.succeeded.Add(1)
			return a.env.Data, false, nil
		}
		if (a.status == http.StatusCreated && a.err != nil) || (s.ambiguous && isDuplicateAnswer(a)) {
			return nil, true, s.assumeStored()
		}
		if err := s.retryOrFail(ctx, a); err != nil {
			return nil, false, err
		}
	}
}

func (s *opState) assumeStored() error {
	s.c.stats.succeeded.Add(1)
	s.c.stats.assumedStored.Add(1)
	return nil
}

// isDuplicateAnswer reports the server's own answer to a create whose id is
// already stored: a 500 INTERNAL_ERROR envelope (a gateway's 500 without the
// envelope does not count).
func isDuplicateAnswer(a *answer) bool {
	return a.err == nil && a.status == http.StatusInternalServerError &&
		a.env != nil && a.env.Error != nil && a.env.Error.Code == wire.CodeInternalError
}

// marshal encodes a request body.
func (c *Client) marshal(op string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, c.invalidArg(op, "cannot encode the request: %v", err)
	}
	return b, nil
}

// pathID checks that a path id is a UUID and returns it lower-case and
// hyphenated (the server compares some ids as text, and answers 500 to an
// id that is not a UUID).
func (c *Client) pathID(op, what, v string) (string, error) {
	u, err := uuid.Parse(v)
	if err != nil {
		return "", c.invalidArg(op, "%s %s is not a UUID", what, quoteArg(v))
	}
	return u.String(), nil
}

// bodyID is pathID for an id in the request body.
func (c *Client) bodyID(op, field, v string) (string, error) {
	return c.pathID(op, field, v)
}

// checkTime checks that v is an RFC 3339 time (the server answers 500 to a
// time PostgreSQL cannot parse).
func (c *Client) checkTime(op, field, v string) error {
	if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
		return c.invalidArg(op, "%s %s is not an RFC 3339 time", field, quoteArg(v))
	}
	return nil
}

// invalidArgCause is invalidArg wrapping cause.
func (c *Client) invalidArgCause(op string, cause error, format string, args ...any) error {
	err := c.invalidArg(op, format, args...)
	err.(*APIError).cause = errFunc(cause)
	return err
}

// quoteArg quotes a caller's value for an error message, shortened.
func quoteArg(v string) string {
	const most = 64
	if len(v) > most {
		return strconv.Quote(v[:most]) + "…"
	}
	return strconv.Quote(v)
}

func ptr[T any](v T) *T { return &v }
