// Package wire holds the JSON shapes of the Ezop platform API: the request
// bodies the client sends, the records the server answers with, and the
// envelope around every answer. It has no behaviour; the client, the
// translation in bridge and the ezoptest emulator all speak through it so
// that a field is spelled in exactly one place.
package wire

import "encoding/json"

// Envelope is the body of every answer of the API, success or error.
type Envelope struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Error   *ErrorDetail    `json:"error"`
}

// ErrorDetail is the error half of the envelope.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error codes the server puts in ErrorDetail.Code.
const (
	CodeUnauthorized    = "UNAUTHORIZED"
	CodeForbidden       = "FORBIDDEN"
	CodeNotFound        = "NOT_FOUND"
	CodeValidationError = "VALIDATION_ERROR"
	CodeHTTPError       = "HTTP_ERROR"
	CodeInternalError   = "INTERNAL_ERROR"
)

// Object is a JSON object. The server refuses strings, numbers and arrays
// where it expects input, output, metadata or error, so every such field is
// typed as an object.
type Object = map[string]any

// RegisterAgentRequest is the body of POST /agents/register.
type RegisterAgentRequest struct {
	Name               string   `json:"name"`
	Owner              string   `json:"owner"`
	Runtime            string   `json:"runtime"`
	Description        *string  `json:"description,omitempty"`
	DefaultPermissions []string `json:"default_permissions,omitempty"`
}

// Agent is the agent record.
type Agent struct {
	ID                 string   `json:"id"`
	Name               string   `json:"name"`
	Owner              string   `json:"owner"`
	Runtime            *string  `json:"runtime"`
	Description        *string  `json:"description"`
	DefaultPermissions []string `json:"default_permissions"`
	OrganizationID     string   `json:"organization_id"`
	CreatedAt          string   `json:"created_at"`
	UpdatedAt          string   `json:"updated_at"`
}

// CreateVersionRequest is the body of POST /agents/{agent_id}/versions.
type CreateVersionRequest struct {
	Version     string   `json:"version"`
	Permissions []string `json:"permissions,omitempty"`
	Changelog   *string  `json:"changelog,omitempty"`
}

// Version is the agent version record.
type Version struct {
	ID             string   `json:"id"`
	AgentID        string   `json:"agent_id"`
	Version        string   `json:"version"`
	Permissions    []string `json:"permissions"`
	Changelog      *string  `json:"changelog"`
	OrganizationID string   `json:"organization_id"`
	CreatedAt      string   `json:"created_at"`
}

// StartRunRequest is the body of POST /agents/{agent_id}/runs. It has no
// metadata field on purpose: the server answers 500 to any metadata at run
// creation, so metadata travels only with EndRunRequest.
type StartRunRequest struct {
	VersionID   string `json:"version_id,omitempty"`
	UserID      string `json:"user_id,omitempty"`
	ParentRunID string `json:"parent_run_id,omitempty"`
	TriggerType string `json:"trigger_type,omitempty"`
	TriggerID   string `json:"trigger_id,omitempty"`
}

// EndRunRequest is the body of PATCH /runs/{run_id}. Metadata replaces what
// the server stored.
type EndRunRequest struct {
	Status   string  `json:"status"`
	Message  *string `json:"message,omitempty"`
	Metadata Object  `json:"metadata,omitempty"`
}

// Run is the run record.
type Run struct {
	ID             string  `json:"id"`
	AgentID        string  `json:"agent_id"`
	VersionID      *string `json:"version_id"`
	UserID         *string `json:"user_id"`
	Status         string  `json:"status"`
	Metadata       Object  `json:"metadata"`
	Message        *string `json:"message"`
	ParentRunID    *string `json:"parent_run_id"`
	RootRunID      string  `json:"root_run_id"`
	TriggerType    string  `json:"trigger_type"`
	TriggerID      *string `json:"trigger_id"`
	OrganizationID string  `json:"organization_id"`
	StartTime      string  `json:"start_time"`
	EndTime        *string `json:"end_time"`
	CreatedAt      string  `json:"created_at"`
	UpdatedAt      string  `json:"updated_at"`
}

// CreateSpanRequest is the body of POST /runs/{run_id}/spans.
type CreateSpanRequest struct {
	ID        string `json:"id,omitempty"`
	Name      string `json:"name,omitempty"`
	StartTime string `json:"start_time,omitempty"`
	ParentID  string `json:"parent_id,omitempty"`
	Metadata  Object `json:"metadata,omitempty"`
}

// CloseSpanRequest is the body of PATCH /spans/{span_id}.
type CloseSpanRequest struct {
	EndTime string `json:"end_time"`
}

// Span is the span record.
type Span struct {
	ID             string  `json:"id"`
	RunID          string  `json:"run_id"`
	AgentID        string  `json:"agent_id"`
	ParentID       *string `json:"parent_id"`
	Name           *string `json:"name"`
	StartTime      string  `json:"start_time"`
	EndTime        *string `json:"end_time"`
	Metadata       Object  `json:"metadata"`
	OrganizationID string  `json:"organization_id"`
	CreatedAt      string  `json:"created_at"`
	UpdatedAt      string  `json:"updated_at"`
}

// EmitEventRequest is the body of POST /runs/{run_id}/events.
type EmitEventRequest struct {
	ID          string `json:"id,omitempty"`
	SpanID      string `json:"span_id,omitempty"`
	Name        string `json:"name"`
	Category    string `json:"category"`
	Type        string `json:"type,omitempty"`
	Subtype     string `json:"subtype,omitempty"`
	IterationID *int64 `json:"iteration_id,omitempty"`
	Timestamp   string `json:"timestamp,omitempty"`
	Input       Object `json:"input,omitempty"`
	Output      Object `json:"output,omitempty"`
	Metadata    Object `json:"metadata,omitempty"`
	Error       Object `json:"error,omitempty"`
}

// Event is the event record.
type Event struct {
	ID             string  `json:"id"`
	RunID          string  `json:"run_id"`
	AgentID        string  `json:"agent_id"`
	SpanID         *string `json:"span_id"`
	Name           string  `json:"name"`
	Category       string  `json:"category"`
	Type           *string `json:"type"`
	Subtype        *string `json:"subtype"`
	IterationID    *int64  `json:"iteration_id"`
	Timestamp      string  `json:"timestamp"`
	Input          Object  `json:"input"`
	Output         Object  `json:"output"`
	Metadata       Object  `json:"metadata"`
	Error          Object  `json:"error"`
	Sequence       int64   `json:"sequence"`
	OrganizationID string  `json:"organization_id"`
	CreatedAt      string  `json:"created_at"`
}

// Health is the data of GET /health.
type Health struct {
	Status string `json:"status"`
}

// TimeFormat is how the client spells times: RFC 3339 in UTC with
// nanoseconds; the server rounds to microseconds.
const TimeFormat = "2006-01-02T15:04:05.999999999Z07:00"
