package ezopotel_test

// The recordings whose instrumentation records content as log records
// (the official @opentelemetry/instrumentation-openai: prompts and
// completions only in gen_ai.* log records) through the whole exporter,
// spans and log records as recorded: what Ezop holds is checked against
// the recording's ground truth, and every canary must be in the right llm
// event of the right span with content capture on, none anywhere with it
// off.

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ezopotel/ezop-otel-go/bridge"
	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/ezoptest"
	"github.com/ezopotel/ezop-otel-go/internal/fixtures"
	"github.com/ezopotel/ezop-otel-go/internal/fixtures/fixturecheck"
)

// exportWithLogs sends the log bodies and span batches of recs through
// one exporter into a fresh emulator, one ExportLogRecords per recorded
// log body and one ExportSpans per traces body: the records first (as the
// recorded process delivered them: its log batches every second, its
// spans every five), or with spansFirst after the spans were delivered.
func exportWithLogs(t *testing.T, capture, spansFirst bool, recs ...*fixtures.Recording) (*ezoptest.Server, *bodyRecorder, *exporter.Exporter) {
	t.Helper()
	srv := ezoptest.NewServer()
	t.Cleanup(srv.Close)
	bodies := &bodyRecorder{next: http.DefaultTransport}
	var errs errorLog
	exp, err := exporter.New(context.Background(),
		exporter.WithEndpoint(srv.URL),
		exporter.WithAPIKey(srv.APIKey),
		exporter.WithCaptureContent(capture),
		exporter.WithHTTPClient(&http.Client{Transport: bodies, Timeout: 10 * time.Second}),
		exporter.WithErrorHandler(&errs),
	)
	if err != nil {
		t.Fatal(err)
	}
	exp.LogExporter() // the logs side is set up before spans flow, as with a LoggerProvider
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logs := func(r *fixtures.Recording) {
		for i, b := range r.LogBodies {
			lrs, err := fixtures.DecodeLogs(b)
			if err != nil {
				t.Fatalf("%s:%d: %v", r.LogsFile(), i+1, err)
			}
			if err := exp.ExportLogRecords(ctx, fixturecheck.RecordsOf(lrs)); err != nil {
				t.Fatalf("%s/%s: ExportLogRecords: %v", r.Framework, r.Scenario, err)
			}
		}
	}
	spans := func(r *fixtures.Recording) {
		batches, err := r.SpanBatches()
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range batches {
			if err := exp.ExportSpans(ctx, b); err != nil {
				t.Fatalf("%s/%s: ExportSpans: %v", r.Framework, r.Scenario, err)
			}
		}
	}
	for _, r := range recs {
		if spansFirst {
			spans(r)
			logs(r)
		} else {
			logs(r)
			spans(r)
		}
	}
	if err := exp.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, rj := range srv.Rejected() {
		t.Errorf("the emulator refused (the real server would too): %s", rj)
	}
	for _, e := range errs.errs {
		if !strings.Contains(e.Error(), bridge.ReasonContentNotCaptured) {
			t.Logf("reported: %v", e)
		}
	}
	st := exp.Stats()
	if st.SpansDropped != 0 || st.EventsDropped != 0 || st.RecordsDropped != 0 {
		t.Errorf("dropped: %+v", st.Dropped)
	}
	if got := st.RecordsJoined + st.RecordsEmitted + st.RecordsIgnored + st.RecordsNotCaptured + st.RecordsDropped; got != st.RecordsReceived || st.BufferedRecords != 0 {
		t.Errorf("records: %d received, %d accounted, %d still held", st.RecordsReceived, got, st.BufferedRecords)
	}
	return srv, bodies, exp
}

// withLogs are the recordings that have log records.
func withLogs(t *testing.T) []*fixtures.Recording {
	t.Helper()
	recs, err := fixtures.All()
	if err != nil {
		t.Fatal(err)
	}
	var out []*fixtures.Recording
	for _, r := range recs {
		if len(r.LogBodies) > 0 {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		t.Fatal("no recording with log records")
	}
	return out
}

// Each recording with log records, its records before or after its
// spans, content capture on and off: the truth's calls, tokens and errors
// (one llm_response per model call), and every canary in the llm event
// of its record's span (input for the prompt's messages, output for the
// choice); records before their spans are joined to the call's
// llm_response itself.
func TestInstrumentationLogRecords(t *testing.T) {
	for _, rec := range withLogs(t) {
		for _, spansFirst := range []bool{false, true} {
			for _, capture := range []bool{true, false} {
				name := rec.Framework + "/" + rec.Scenario + map[bool]string{false: "/records-first", true: "/spans-first"}[spansFirst] + map[bool]string{true: "/capture", false: "/nocapture"}[capture]
				t.Run(name, func(t *testing.T) {
					srv, bodies, exp := exportWithLogs(t, capture, spansFirst, rec)
					runs := fixturecheck.FromServer(srv)
					fixturecheck.Check(t, rec, runs, fixturecheck.Options{CaptureContent: capture, Logs: true, Joined: !spansFirst})
					for _, r := range runs {
						if r.Status == "running" {
							t.Errorf("run %s left running", r.ID)
						}
					}
					st := exp.Stats()
					switch {
					case !capture:
						if st.RecordsNotCaptured != st.RecordsReceived {
							t.Errorf("capture off: %+v", st)
						}
						for _, c := range rec.Truth.Canaries {
							if strings.Contains(bodies.String(), c) {
								t.Errorf("canary %s sent with content capture off", c)
							}
						}
					case !spansFirst && st.RecordsJoined != st.RecordsReceived:
						t.Errorf("records first: %d of %d joined", st.RecordsJoined, st.RecordsReceived)
					}
				})
			}
		}
	}
}

// The recordings made with the instrumentation's capture off, sent with
// the exporter's capture on: no canary of their truth (the content the
// program used) in any request body.
func TestInstrumentationLogRecordsNoCapture(t *testing.T) {
	var nocap []*fixtures.Recording
	for _, r := range withLogs(t) {
		if !r.Truth.CaptureContent {
			nocap = append(nocap, r)
		}
	}
	if len(nocap) == 0 {
		t.Fatal("no capture-off recording with log records")
	}
	_, bodies, _ := exportWithLogs(t, true, false, nocap...)
	n := 0
	for _, r := range nocap {
		for _, c := range r.Truth.Canaries {
			n++
			if strings.Contains(bodies.String(), c) {
				t.Errorf("%s/%s: canary %s sent", r.Framework, r.Scenario, c)
			}
		}
	}
	if n == 0 {
		t.Fatal("no canaries")
	}
}
