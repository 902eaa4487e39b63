package main

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/ezopotel/ezop-otel-go/ezoptest"
	"github.com/ezopotel/ezop-otel-go/internal/fixtures"
	"github.com/ezopotel/ezop-otel-go/internal/fixtures/fixturecheck"
)

// The recordings of real instrumentation (internal/fixtures), each OTLP
// JSON body POSTed to the distribution's OTLP/HTTP receiver as the
// recorded SDK sent it, log bodies to /v1/logs and trace bodies to
// /v1/traces (the log records first, as the recorded process's log batches
// went out before its spans): what Ezop holds is checked against each
// recording's ground truth with the same checks as the library's
// end-to-end tests (internal/fixtures/fixturecheck), and with capture on
// the content of every log record must be on the llm_response of its span
// (the traces and logs pipelines share the exporter). One collector per
// content setting receives every recording; runs are told apart by their
// trace ids.
func TestRecordingsThroughCollector(t *testing.T) {
	recs, err := fixtures.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, capture := range []bool{true, false} {
		t.Run(map[bool]string{true: "capture", false: "nocapture"}[capture], func(t *testing.T) {
			srv := ezoptest.NewServer()
			defer srv.Close()
			extra := ""
			if capture {
				extra = "    capture_content: true\n"
			}
			c := startCollector(t, srv, extra)
			post := func(path, file string, i int, body []byte) {
				resp, err := http.Post("http://"+c.httpAddr+path, "application/json", bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s:%d: POST %s: %s", file, i+1, path, resp.Status)
				}
			}
			for _, rec := range recs {
				for i, body := range rec.LogBodies {
					post("/v1/logs", rec.LogsFile(), i, body)
				}
			}
			// Past the batch processor's timeout: the records reach the
			// exporter first and wait there for their spans.
			time.Sleep(300 * time.Millisecond)
			for _, rec := range recs {
				for i, body := range rec.TraceBodies {
					resp, err := http.Post("http://"+c.httpAddr+"/v1/traces", "application/json", bytes.NewReader(body))
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						t.Fatalf("%s:%d: POST /v1/traces: %s", rec.TracesFile(), i+1, resp.Status)
					}
				}
			}
			c.stop(t)
			for _, rj := range srv.Rejected() {
				t.Errorf("the real server would have refused: %s", rj)
			}
			all := fixturecheck.FromServer(srv)
			var rows []fixturecheck.Row
			for _, rec := range recs {
				t.Run(rec.Framework+"/"+rec.Scenario, func(t *testing.T) {
					runs, err := fixturecheck.RunsOf(all, rec)
					if err != nil {
						t.Fatal(err)
					}
					logs := len(rec.LogBodies) > 0
					fixturecheck.Check(t, rec, runs, fixturecheck.Options{CaptureContent: capture, Logs: logs, Joined: logs})
					rows = append(rows, fixturecheck.Row{Name: rec.Framework + "/" + rec.Scenario, Truth: fixturecheck.TruthCounts(rec),
						Expected: fixturecheck.Expected(rec).Counts(), Produced: fixturecheck.Observe(runs)})
				})
			}
			if capture {
				t.Log("expected vs produced on Ezop, through the Collector:\n" + fixturecheck.Table(rows))
			}
		})
	}
}
