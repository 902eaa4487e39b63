package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ezopotel/ezop-otel-go/ezoptest"
	"github.com/ezopotel/ezop-otel-go/internal/fixtures"
	"github.com/ezopotel/ezop-otel-go/internal/fixtures/fixturecheck"
)

// The recordings with log records through the distribution, their spans
// first and their log records after (a process whose span batches went
// out first, or a logs pipeline slower than the traces pipeline): the
// records that came after their span was sent are events of their own
// on the stored span, and every canary is still in an llm event of its
// record's span (input for the prompt, output for the choice), with one
// llm_response per model call.
func TestLogRecordsAfterSpansThroughCollector(t *testing.T) {
	all, err := fixtures.All()
	if err != nil {
		t.Fatal(err)
	}
	var recs []*fixtures.Recording
	for _, r := range all {
		if len(r.LogBodies) > 0 {
			recs = append(recs, r)
		}
	}
	if len(recs) == 0 {
		t.Fatal("no recording with log records")
	}
	srv := ezoptest.NewServer()
	defer srv.Close()
	c := startCollector(t, srv, "    capture_content: true\n")
	post := func(path string, body []byte) {
		resp, err := http.Post("http://"+c.httpAddr+path, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %s", path, resp.Status)
		}
	}
	for _, rec := range recs {
		for _, b := range rec.TraceBodies {
			post("/v1/traces", b)
		}
	}
	// The runs are delivered before the records come.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ended := 0
		for _, r := range srv.Runs() {
			if r.Status != "running" {
				ended++
			}
		}
		if ended >= len(recs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d runs ended, want %d", ended, len(recs))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, rec := range recs {
		for _, b := range rec.LogBodies {
			post("/v1/logs", b)
		}
	}
	c.stop(t)
	for _, rj := range srv.Rejected() {
		t.Errorf("the real server would have refused: %s", rj)
	}
	runs := fixturecheck.FromServer(srv)
	own := 0
	for _, r := range runs {
		for _, e := range r.Events {
			if strings.HasPrefix(e.Name, "gen_ai.") {
				own++
			}
		}
	}
	if own == 0 {
		t.Error("no record became an event of its own: did they come before their spans?")
	}
	for _, rec := range recs {
		t.Run(rec.Framework+"/"+rec.Scenario, func(t *testing.T) {
			mine, err := fixturecheck.RunsOf(runs, rec)
			if err != nil {
				t.Fatal(err)
			}
			fixturecheck.Check(t, rec, mine, fixturecheck.Options{CaptureContent: true, Logs: true})
		})
	}
}
