// Package ezoptest is an in-process emulator of the Ezop platform API
// server, for tests, in the spirit of net/http/httptest: NewServer listens
// on a loopback port, Server.URL is the base URL to give the client, and
// Server.APIKey is the one valid key.
//
//	srv := ezoptest.NewServer()
//	defer srv.Close()
//	// point the exporter at srv.URL with srv.APIKey, run the code under test
//	if rj := srv.Rejected(); len(rj) > 0 {
//		t.Errorf("the real server would have refused: %v", rj)
//	}
//	t.Log("\n" + srv.Tree(srv.Runs()[0].ID))
//
// # Faithfulness
//
// The emulator answers as the real server (FastAPI, pydantic v2 and
// PostgreSQL through psycopg2; see testdata/CONTRACT.md) does, and it
// replays every case of testdata/conformance.json, the answers recorded
// from that server. In particular it reproduces:
//
//   - the order of checks: routing (404 {"detail":"Not Found"}, 405
//     {"detail":"Method Not Allowed"}, 307 to the path without its trailing
//     slash; none of them the envelope), then the body's JSON decoding (422
//     json_invalid even without a valid key), then authentication (401
//     "Missing credentials. …", 403 "Invalid or revoked API key."; /health
//     needs none), then body validation (422 VALIDATION_ERROR whose message
//     is the Python repr of pydantic's errors), then the endpoint's lookups
//     (404 "Agent not found.", "Run not found.", "Parent run not found.",
//     "Parent span not found.", "Span not found."; 422 "… belongs to a
//     different run.", "A span cannot be its own parent."), then what the
//     database refuses (500 INTERNAL_ERROR "An unexpected error occurred."):
//     ids that are not UUIDs, unknown version_id, unparsable times, duplicate
//     span or event ids, category/type pairs outside the table, iteration_id
//     beyond int4, NUL characters, and any run-create metadata object (a bug
//     of the server).
//   - the envelope {"success","data","error"} written the way the server
//     writes it (record fields in model order, jsonb key order in JSON
//     objects, numbers as Python answers them after the jsonb round trip).
//   - PostgreSQL's reading of UUIDs (any case, with or without hyphens or
//     braces; answered lower-case and hyphenated) and of times (ISO 8601
//     with any fraction rounded to microseconds, no zone meaning UTC,
//     offsets, date only, a space instead of T, now/today/epoch…), and the
//     server's text comparison of a run id in the path with the stored one.
//   - server-assigned run times (start = end while running, end = now at
//     every PATCH, updated_at never changed by a PATCH), upserted agents,
//     idempotent versions, root_run_id of child runs, and one global event
//     sequence that skips the values of rows refused by a constraint.
//   - the plan limits: WithEventQuota and WithAgentLimit answer 429
//     HTTP_ERROR with the server's message and no Retry-After.
//
// Rejected lists every non-2xx answer the emulator gave on its own, so a
// test can assert that a client sent nothing the real server refuses.
//
// # Inspection
//
// Agents, Versions, Runs, Run, Spans, Events, AllSpans and AllEvents return
// copies of the stored records (the types of internal/wire); JSON objects in
// them hold what encoding/json decodes from the answers (numbers are
// float64). RequestCount and Requests count the requests per endpoint. Tree
// renders a run with its spans and events for a terminal.
//
// # Fault injection
//
// Inject adds a Fault: an answer with a status and optional Retry-After,
// latency (which gives up when the client does or the server closes), a
// dropped connection, or a connection dropped after the request was stored
// (DropAfterCommit, for retry tests), on every or every Nth request to one
// or all endpoints, a number of times or until removed. SetLatency,
// RejectKey and FailNext are shorthands; ClearFaults removes them all.
// Close returns promptly even with requests held by latency.
//
// # Limits
//
// The emulator has one organization and one API key. It does not serve
// FastAPI's /docs, /redoc and /openapi.json, does not emulate expired or
// revoked keys except through RejectKey, and reads only the ISO-8601 family
// of time spellings (PostgreSQL accepts more, e.g. "January 2, 2026" or
// zone names such as "America/New_York"; the emulator answers 500 to them).
package ezoptest
