package ezopotel_test

// The recordings of real instrumentation packages (internal/fixtures)
// through the whole exporter into the ezoptest emulator, as recorded: one
// ExportSpans per recorded OTLP body. What Ezop holds is checked against
// each recording's ground truth (internal/fixtures/fixturecheck): runs, LLM
// calls and their tokens, tool calls, one error per failure at its
// source, the run totals and the dashboard's sums, the span tree, and
// where content goes with capture on and off.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ezopotel/ezop-otel-go/bridge"
	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/ezoptest"
	"github.com/ezopotel/ezop-otel-go/internal/fixtures"
	"github.com/ezopotel/ezop-otel-go/internal/fixtures/fixturecheck"
)

// bodyRecorder keeps every request body the exporter sends.
type bodyRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	all  bytes.Buffer
}

func (r *bodyRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		r.mu.Lock()
		r.all.Write(b)
		r.all.WriteByte('\n')
		r.mu.Unlock()
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	return r.next.RoundTrip(req)
}

func (r *bodyRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.all.String()
}

// errorLog collects what the exporter reports.
type errorLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errorLog) Handle(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

// exportRecordings sends every span batch of recs through one exporter
// into a fresh emulator, as the batching processor delivered them, and
// shuts the exporter down.
func exportRecordings(t *testing.T, capture bool, recs ...*fixtures.Recording) (*ezoptest.Server, *bodyRecorder, *exporter.Exporter) {
	t.Helper()
	srv := ezoptest.NewServer()
	t.Cleanup(srv.Close)
	rec := &bodyRecorder{next: http.DefaultTransport}
	var errs errorLog
	exp, err := exporter.New(context.Background(),
		exporter.WithEndpoint(srv.URL),
		exporter.WithAPIKey(srv.APIKey),
		exporter.WithCaptureContent(capture),
		exporter.WithHTTPClient(&http.Client{Transport: rec, Timeout: 10 * time.Second}),
		exporter.WithErrorHandler(&errs),
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, r := range recs {
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
	if st.SpansDropped != 0 || st.EventsDropped != 0 {
		t.Errorf("dropped: %+v", st.Dropped)
	}
	return srv, rec, exp
}

func jsonText(v any) string {
	if v == nil {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Every framework's recordings end to end, with a table of expected and
// produced counts.
func TestInstrumentationEndToEnd(t *testing.T) {
	recs, err := fixtures.All()
	if err != nil {
		t.Fatal(err)
	}
	var rows []fixturecheck.Row
	for _, rec := range recs {
		for _, capture := range []bool{true, false} {
			name := rec.Framework + "/" + rec.Scenario
			t.Run(name+map[bool]string{true: "/capture", false: "/nocapture"}[capture], func(t *testing.T) {
				srv, _, _ := exportRecordings(t, capture, rec)
				runs := fixturecheck.FromServer(srv)
				fixturecheck.Check(t, rec, runs, fixturecheck.Options{CaptureContent: capture})
				for _, r := range runs {
					if r.Status == "running" {
						t.Errorf("run %s left running", r.ID)
					}
				}
				if capture {
					rows = append(rows, fixturecheck.Row{Name: name, Truth: fixturecheck.TruthCounts(rec),
						Expected: fixturecheck.Expected(rec).Counts(), Produced: fixturecheck.Observe(runs)})
				}
			})
		}
	}
	t.Log("expected vs produced on Ezop, through the exporter:\n" + fixturecheck.Table(rows))
	for _, rec := range recs {
		if gaps := fixturecheck.Expected(rec).Gaps; len(gaps) > 0 {
			t.Logf("%s/%s: gaps of the instrumentation: %s", rec.Framework, rec.Scenario, strings.Join(gaps, "; "))
		}
	}
}

// One canary test per convention: with content capture off, no canary of
// any capture-on recording of the framework is in any request body the
// exporter sends; with capture on, every canary the framework records on
// spans reaches some event's input or output.
func TestInstrumentationCanaries(t *testing.T) {
	recs, err := fixtures.All()
	if err != nil {
		t.Fatal(err)
	}
	byFramework := map[string][]*fixtures.Recording{}
	var frameworks []string
	for _, r := range recs {
		if !r.Truth.CaptureContent {
			continue
		}
		if byFramework[r.Framework] == nil {
			frameworks = append(frameworks, r.Framework)
		}
		byFramework[r.Framework] = append(byFramework[r.Framework], r)
	}
	for _, fw := range frameworks {
		t.Run(fw, func(t *testing.T) {
			srv, bodies, _ := exportRecordings(t, false, byFramework[fw]...)
			sent := bodies.String()
			if len(srv.Runs()) == 0 || sent == "" {
				t.Fatal("nothing sent")
			}
			n := 0
			for _, r := range byFramework[fw] {
				for _, c := range r.Truth.Canaries {
					n++
					if strings.Contains(sent, c) {
						t.Errorf("%s/%s: canary %s sent with content capture off", r.Framework, r.Scenario, c)
					}
				}
			}
			if n == 0 {
				t.Fatal("no canaries to look for")
			}

			srv, _, _ = exportRecordings(t, true, byFramework[fw]...)
			var io strings.Builder
			for _, run := range fixturecheck.FromServer(srv) {
				for _, e := range run.Events {
					io.WriteString(jsonText(e.Input))
					io.WriteString(jsonText(e.Output))
				}
			}
			for _, r := range byFramework[fw] {
				for _, c := range fixturecheck.Expected(r).Canaries {
					if !strings.Contains(io.String(), c) {
						t.Errorf("%s/%s: canary %s reaches no event's input or output with capture on", r.Framework, r.Scenario, c)
					}
				}
			}
		})
	}
}
