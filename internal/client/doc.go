// Package client is the HTTP/JSON client of the Ezop platform API: one
// method per endpoint, typed requests and records (package wire), errors
// callers can branch on, retries that never duplicate data.
//
// # Configuration
//
// New takes functional options; an option given overrides the environment,
// which overrides the default:
//
//	endpoint   WithEndpoint      EZOP_API_URL   https://api.ezop.ai
//	API key    WithAPIKey        EZOP_API_KEY   (required)
//	timeout    WithTimeout                      10s per request
//	retries    WithRetry                        DefaultRetryConfig
//	conns      WithMaxConns                     64 per host
//
// Plain http:// is refused unless the host is loopback (localhost,
// 127.0.0.0/8, ::1) or WithInsecure is given. The client's transport is
// shared by all calls and does not follow redirects. Requests carry
// Content-Type and Accept application/json, the User-Agent
// "ezop-otel-go/<version> (go<version>; <os>/<arch>)" (plus WithUserAgent)
// and "Authorization: Bearer <key>" (not on /health).
//
// The API key never appears in an error, in a URL, or in the output of
// fmt for a Client (%v, %+v, %#v, %s all redact it); text that comes back
// from the network (server messages, unknown bodies, transport errors) is
// scrubbed of it too.
//
// # Errors
//
// Every error of an operation is an *APIError (status, the envelope's code
// and message, Retry-After, attempts). It matches with errors.Is one kind:
// ErrAuth (401/403), ErrValidation (422, 400), ErrNotFound (404),
// ErrRateLimited (429), ErrServer (5xx, or an unreadable success),
// ErrTransport (no answer; wraps the net error), ErrInvalidArgument (refused
// before sending: an id that is not a UUID, a time that is not RFC 3339, an
// event category/type pair the server refuses). Other statuses (3xx, other
// 4xx) match no kind. When the caller's context ends the error matches no
// kind and wraps ctx.Err(). Answers that are not the API's envelope
// (routing 404/405, a proxy's HTML page) are errors with an empty Code and a
// Message describing the body.
//
// Ids in paths and bodies are checked and sent lower-case and hyphenated:
// the server answers 500 to an id that is not a UUID and compares some ids
// as text.
//
// # Retries
//
// An operation is retried with exponential backoff and jitter
// (InitialInterval 500ms, ×1.5, MaxInterval 5s, ±50%) within
// MaxElapsedTime (60s) on: transport errors, 502, 503, 504 (as long as the
// budget lasts), 429 with Retry-After (as long as the budget lasts), 429
// without Retry-After (MaxQuotaRetries times: that is the plan's quota,
// which waiting does not clear) and 500 (MaxServerErrorRetries times). It is
// never retried on 401, 403, 404, 422 or other 4xx. Retry-After (seconds or
// HTTP date) is honoured on 429 and 503; if it asks for more than the budget
// has left, the operation fails at once with the wait in
// APIError.RetryAfter. The caller's context stops everything at once: the
// request in flight and the wait between attempts.
//
// # Retried creates must not duplicate data
//
// An attempt is ambiguous when the server may have committed it although
// the client read no answer: the request was written and then the
// connection failed or the per-request timeout struck, or a gateway answered
// 502 or 504 (or a 500 that is not the server's envelope).
//
// Spans and events carry ids the client chooses (the caller's, or one New
// generates with uuid.New when empty), identical in every attempt. The
// server answers a create whose id is already stored with 500
// INTERNAL_ERROR, not 409, and cannot tell us more. The rule: if an attempt
// of CreateSpan or EmitEvent answers 500 INTERNAL_ERROR and an earlier
// attempt of the same call was ambiguous, the earlier attempt stored the
// record; the call succeeds with AssumedStored set and the record built from
// the request. This is sound because the client never sends a create that
// could answer 500 for another reason (ids, parent ids, times and the event
// classification are checked before sending). Its limit: a 500 from a real
// server fault right after an ambiguous attempt that did not store would be
// taken for a duplicate. A span reported AssumedStored can be confirmed with
// CloseSpan (404 means it is not stored). Without an earlier ambiguous
// attempt a 500 is an ordinary server error, retried at most
// MaxServerErrorRetries times, then returned as ErrServer. A 201 whose body
// cannot be read to the end also counts as stored.
//
// Runs have no client-chosen id and no idempotency: a retried create after
// an ambiguous attempt may make a second run. So after an ambiguous StartRun
// attempt, before creating again, the client lists the agent's runs and
// adopts the oldest one that matches the request (version_id, user_id,
// trigger_type — unknown when empty —, trigger_id, parent_run_id), is
// running, was created since the ambiguous attempt began, and was not handed
// out to any caller of this Client yet (a bounded, mutex-protected ledger).
// The window is measured on the server's clock: the list answer's Date
// header minus the local time elapsed since the attempt began, two seconds
// of slack on each side; client and server clocks need not agree. If no run
// qualifies the create is retried. Two concurrent identical StartRuns that
// both go unanswered thus each adopt one of the two runs.
// Limits: a run committed after the list (a slow server still working on a
// timed-out attempt) is not seen, and a second run may be created; a
// matching run that another process (not this Client) started in the same
// few seconds can be adopted instead of ours, leaving ours running and
// unused. When StartRun fails after an ambiguous attempt its error says
// that a run may have been created.
//
// RegisterAgent and CreateVersion are idempotent on the server; EndRun and
// CloseSpan set absolute values. All four are simply retried.
//
// Stats returns counters: operations, requests, retries, outcomes by kind,
// assumed-stored creates and adopted runs.
package client
