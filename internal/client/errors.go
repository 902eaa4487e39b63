package client

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Error kinds. Every error an operation returns is an *APIError that
// matches (errors.Is) at most one of these, except a cancelled context,
// which matches none of them and wraps ctx.Err() instead.
var (
	// ErrInvalidConfig is wrapped by the errors of New.
	ErrInvalidConfig = errors.New("ezop: invalid client configuration")
	// ErrInvalidArgument: the call's arguments would be refused by the
	// server (an id that is not a UUID, a time that is not RFC 3339, an
	// event category/type pair the server refuses); no request was sent.
	ErrInvalidArgument = errors.New("ezop: invalid argument")
	// ErrAuth: the server refused the API key (401 or 403).
	ErrAuth = errors.New("ezop: authentication refused")
	// ErrValidation: the server refused the request as invalid (422, or a
	// 400 from something in front of it). APIError.Message carries the
	// server's explanation.
	ErrValidation = errors.New("ezop: request refused as invalid")
	// ErrNotFound: 404, a record the request names does not exist (or, with
	// an empty APIError.Code, the endpoint itself was not found).
	ErrNotFound = errors.New("ezop: not found")
	// ErrRateLimited: 429 that retrying did not clear. APIError.RetryAfter
	// is set when the answer had a Retry-After header; without one the 429
	// is the plan's quota, which waiting does not clear.
	ErrRateLimited = errors.New("ezop: rate limited")
	// ErrServer: a 5xx answer, or a success status whose body could not be
	// read as the API's envelope.
	ErrServer = errors.New("ezop: server error")
	// ErrTransport: no answer (connection refused or dropped, TLS failure,
	// the per-request timeout). The underlying error is wrapped.
	ErrTransport = errors.New("ezop: transport error")
)

// APIError describes a failed operation. It never contains the API key.
type APIError struct {
	// Op is the operation, e.g. "create span".
	Op string
	// Method and Path are those of the last request (Path without the base
	// URL, e.g. "/runs/<id>/spans").
	Method, Path string
	// StatusCode is the HTTP status of the last answer; 0 when there was
	// none.
	StatusCode int
	// Code and Message are the envelope's error code and message. For an
	// answer that is not the envelope Code is empty and Message describes
	// the body.
	Code, Message string
	// RetryAfter is the wait the last answer asked for (Retry-After).
	RetryAfter time.Duration
	// Attempts is the number of requests made (0 when the call was refused
	// before any request).
	Attempts int

	kind error // one of the Err* kinds, nil for a cancelled context
	// cause returns the underlying error (transport, context, argument).
	// It is a func so that printing an APIError value with fmt, which
	// walks struct fields by reflection, shows an address and never the
	// text of the underlying error (which may quote caller data).
	cause  func() error
	detail string // redacted text of cause
	note   string // extra explanation appended to the message
}

// Error returns e.g.
// "ezop: create span: 404 NOT_FOUND: Parent span not found. (after 1 attempt)".
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("ezop: ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	switch {
	case e.StatusCode != 0 && e.detail == "":
		b.WriteString(strconv.Itoa(e.StatusCode))
		b.WriteByte(' ')
		if e.Code != "" {
			b.WriteString(e.Code)
		} else {
			b.WriteString(http.StatusText(e.StatusCode))
		}
		if e.Message != "" {
			b.WriteString(": ")
			b.WriteString(e.Message)
		}
	default:
		if e.Method != "" {
			b.WriteString(e.Method)
			b.WriteByte(' ')
			b.WriteString(e.Path)
			b.WriteString(": ")
		}
		b.WriteString(e.detail)
	}
	b.WriteString(" (")
	if e.Attempts == 0 {
		b.WriteString("no request sent")
	} else {
		fmt.Fprintf(&b, "after %d attempt", e.Attempts)
		if e.Attempts != 1 {
			b.WriteByte('s')
		}
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, "; Retry-After %s", e.RetryAfter)
	}
	if e.note != "" {
		b.WriteString("; ")
		b.WriteString(e.note)
	}
	b.WriteByte(')')
	return b.String()
}

// Unwrap returns the error's kind (ErrAuth, ErrTransport, ...) and the
// underlying error (a *url.Error, ctx.Err(), ...), whichever exist.
func (e *APIError) Unwrap() []error {
	var errs []error
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.cause != nil {
		if err := e.cause(); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// kindOf maps an HTTP status to an error kind.
func kindOf(status int) error {
	switch {
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return ErrAuth
	case status == http.StatusUnprocessableEntity, status == http.StatusBadRequest:
		return ErrValidation
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusTooManyRequests:
		return ErrRateLimited
	case status >= 500, status >= 200 && status < 300:
		return ErrServer
	}
	return nil
}

const redacted = "[REDACTED]"

// keyPattern matches Ezop API keys even when they are not this client's.
var keyPattern = regexp.MustCompile(`ezop_sk_[A-Za-z0-9]+`)

// credentials holds the API key inside a closure: fmt, which prints
// unexported struct fields by reflection (even behind pointers, for a bad
// verb), shows a func's address, never the key. The type also prints itself
// as [REDACTED] wherever fmt can call its methods. Its methods remove the
// key from text that may echo it: the server's messages, bodies of unknown
// answers, transport errors, caller arguments.
type credentials struct{ key func() string }

func newCredentials(key string) *credentials {
	return &credentials{key: func() string { return key }}
}

func (r *credentials) String() string                { return redacted }
func (r *credentials) GoString() string              { return redacted }
func (r *credentials) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(redacted)) }

// minScrubbed is the shortest key clean scrubs from text: a shorter one
// cannot be told from ordinary words, and replacing it would garble every
// message. (Real keys are 72 characters.)
const minScrubbed = 8

func (r *credentials) clean(s string) string {
	if key := r.key(); len(key) >= minScrubbed {
		s = strings.ReplaceAll(s, key, redacted)
	}
	return keyPattern.ReplaceAllString(s, "ezop_sk_"+redacted)
}

// snippet returns the start of a body as printable, redacted text.
func (r *credentials) snippet(body []byte) string {
	const limit = 200
	// Redact before cutting, so that a key straddling the cut leaves no
	// prefix behind.
	s := r.clean(strings.TrimSpace(string(body)))
	cut := len(s) > limit
	if cut {
		s = s[:limit]
	}
	s = strings.Map(func(c rune) rune {
		if c < ' ' || c == 0x7f {
			return ' '
		}
		return c
	}, strings.ToValidUTF8(s, "?"))
	if cut {
		s += "…"
	}
	if s == "" {
		return "empty body"
	}
	return strconv.Quote(s)
}
