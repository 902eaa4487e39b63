package exporter

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/bridge"
	"github.com/ezopotel/ezop-otel-go/ezoptest"
)

// spanParents maps span name → parent span name ("" at run level) of the
// spans stored for runID.
func spanParents(t *testing.T, srv *ezoptest.Server, runID string) map[string]string {
	t.Helper()
	spans := srv.Spans(runID)
	names := map[string]string{}
	for _, s := range spans {
		if s.Name != nil {
			names[s.ID] = *s.Name
		}
	}
	out := map[string]string{}
	for _, s := range spans {
		p := ""
		if s.ParentID != nil {
			p = names[*s.ParentID]
			if p == "" {
				p = "?" + *s.ParentID
			}
		}
		out[names[s.ID]] = p
	}
	return out
}

func oneRun(t *testing.T, srv *ezoptest.Server) ezoptest.Run {
	t.Helper()
	runs := srv.Runs()
	if len(runs) != 1 {
		t.Fatalf("runs: got %d, want 1: %+v", len(runs), runs)
	}
	return runs[0]
}

func TestCompleteTraceInOneBatch(t *testing.T) {
	e := newEnv(t, nil)
	tr := newTracer()
	ctx, root := tr.Start(context.Background(), "root")
	c1, child := tr.Start(ctx, "child")
	_, grand := tr.Start(c1, "grandchild")
	grand.End()
	child.End()
	root.End()

	e.export(tr.rec.Ended()...)
	// ExportSpans returned: the run is delivered.
	run := oneRun(t, e.srv)
	if run.Status != "success" {
		t.Errorf("run status %q, want success", run.Status)
	}
	// The root is the run's top-level span; the rest hangs under it.
	got := spanParents(t, e.srv, run.ID)
	want := map[string]string{"root": "", "child": "root", "grandchild": "child"}
	if len(got) != len(want) || got["root"] != "" || got["child"] != "root" || got["grandchild"] != "child" {
		t.Errorf("spans: got %v, want %v", got, want)
	}
	for _, s := range e.srv.Spans(run.ID) {
		if s.EndTime == nil {
			t.Errorf("span %s not closed", *s.Name)
		}
	}
	st := e.exp.Stats()
	if st.RunsStarted != 1 || st.RunsEnded != 1 || st.SpansSent != 3 {
		t.Errorf("stats: %+v", st)
	}
	if st.BufferedSpans != 0 || st.InFlightSpans != 0 {
		t.Errorf("stats after delivery: %+v", st)
	}
	if n := len(e.srv.Agents()); n != 1 {
		t.Errorf("agents: %d", n)
	}
	if n := len(e.srv.Versions()); n != 1 {
		t.Errorf("versions: %d", n)
	}
	e.noRejections()
}

func TestSpansWaitForTheirRoot(t *testing.T) {
	e := newEnv(t, nil)
	tr := newTracer()
	ctx, root := tr.Start(context.Background(), "root")
	c1, child := tr.Start(ctx, "child")
	_, grand := tr.Start(c1, "grandchild")
	grand.End()
	child.End()

	e.export(tr.pick(t, "grandchild")...)
	e.export(tr.pick(t, "child")...)
	if st := e.exp.Stats(); st.BufferedTraces != 1 || st.BufferedSpans != 2 {
		t.Errorf("buffered: %+v", st)
	}
	if n := e.tr.requests(); n != 0 {
		t.Errorf("%d requests before the root ended", n)
	}
	root.End()
	e.export(tr.pick(t, "root")...)
	run := oneRun(t, e.srv)
	got := spanParents(t, e.srv, run.ID)
	if len(got) != 3 || got["root"] != "" || got["child"] != "root" || got["grandchild"] != "child" {
		t.Errorf("spans: %v", got)
	}
	if run.Status != "success" {
		t.Errorf("status %q", run.Status)
	}
	if st := e.exp.Stats(); st.BufferedTraces != 0 || st.BufferedSpans != 0 {
		t.Errorf("buffered after root: %+v", st)
	}
	e.noRejections()
}

func TestRootWaitSendsOrphansThenRootCompletesTheSameRun(t *testing.T) {
	e := newEnv(t, nil, WithRootWait(50*time.Millisecond))
	tr := newTracer()
	ctx, root := tr.Start(context.Background(), "root")
	_, child := tr.Start(ctx, "child")
	child.End()
	e.export(tr.pick(t, "child")...)

	waitFor(t, 5*time.Second, "the orphan run", func() bool {
		runs := e.srv.Runs()
		return len(runs) == 1 && len(e.srv.Spans(runs[0].ID)) == 1
	})
	e.flush()
	run := oneRun(t, e.srv)
	if run.Status != "running" {
		t.Errorf("orphan run status %q, want running", run.Status)
	}

	// A late sibling, then the root: same run.
	_, late := tr.Start(ctx, "late")
	late.End()
	e.export(tr.pick(t, "late")...)
	root.End()
	e.export(tr.pick(t, "root")...)
	run = oneRun(t, e.srv)
	if run.Status != "success" {
		t.Errorf("run status after root %q, want success", run.Status)
	}
	// The child went before the root was known, at run level; so did the
	// late sibling, which joined the run at once (its parent is the
	// ancestor the run misses). The root then completes the run.
	if got := spanParents(t, e.srv, run.ID); len(got) != 3 || got["child"] != "" || got["root"] != "" || got["late"] != "" {
		t.Errorf("spans: %v", got)
	}
	e.noRejections()
}

func TestLateSpansJoinTheirRun(t *testing.T) {
	e := newEnv(t, nil)
	tr := newTracer()
	ctx, root := tr.Start(context.Background(), "root")
	c1, child := tr.Start(ctx, "child")
	_, async := tr.Start(c1, "async")
	child.End()
	root.End()
	e.export(tr.pick(t, "child", "root")...)
	if run := oneRun(t, e.srv); run.Status != "success" {
		t.Fatalf("status %q", run.Status)
	}
	// A span that outlives its root, long after.
	async.End()
	e.export(tr.pick(t, "async")...)
	run := oneRun(t, e.srv)
	got := spanParents(t, e.srv, run.ID)
	if len(got) != 3 || got["async"] != "child" || got["child"] != "root" {
		t.Errorf("spans: %v", got)
	}
	if st := e.exp.Stats(); st.RunsStarted != 1 {
		t.Errorf("runs started %d", st.RunsStarted)
	}
	e.noRejections()
}

func TestBufferLimits(t *testing.T) {
	t.Run("max traces", func(t *testing.T) {
		e := newEnv(t, nil, WithMaxTraces(1))
		tr := newTracer()
		ctx1, r1 := tr.Start(context.Background(), "r1")
		_, a := tr.Start(ctx1, "a")
		a.End()
		ctx2, r2 := tr.Start(context.Background(), "r2")
		_, b := tr.Start(ctx2, "b")
		b.End()
		e.export(tr.pick(t, "a", "b")...)
		// The oldest waiting trace is sent without its root to make room:
		// nothing is dropped.
		st := e.exp.Stats()
		if st.BufferedTraces != 1 || st.SpansDropped != 0 || st.Altered[reasonMadeRoom] != 1 {
			t.Errorf("stats: %+v", st)
		}
		// A complete trace is never buffered, so it is not limited; r1
		// completes the run its child was sent in.
		r2.End()
		r1.End()
		e.export(tr.pick(t, "r2", "r1")...)
		runs := e.srv.Runs()
		if len(runs) != 2 {
			t.Fatalf("runs %d", len(runs))
		}
		for _, r := range runs {
			if r.Status != "success" || len(e.srv.Spans(r.ID)) != 2 {
				t.Errorf("run %s: status %s, %d spans", r.ID, r.Status, len(e.srv.Spans(r.ID)))
			}
		}
		if drops := e.log.drops(); len(drops) != 0 {
			t.Errorf("reported drops: %v", drops)
		}
	})
	t.Run("max spans per trace", func(t *testing.T) {
		e := newEnv(t, nil, WithMaxSpansPerTrace(2))
		tr := newTracer()
		ctx, root := tr.Start(context.Background(), "root")
		for _, n := range []string{"a", "b", "c"} {
			_, s := tr.Start(ctx, n)
			s.End()
		}
		e.export(tr.pick(t, "a", "b", "c")...)
		st := e.exp.Stats()
		if st.BufferedSpans != 2 || st.Dropped["span: "+reasonMaxPerTrace] != 1 {
			t.Errorf("stats: %+v", st)
		}
		root.End()
		e.export(tr.pick(t, "root")...)
		if got := spanParents(t, e.srv, oneRun(t, e.srv).ID); len(got) != 3 {
			t.Errorf("spans %v", got)
		}
	})
	t.Run("max buffered spans", func(t *testing.T) {
		e := newEnv(t, nil, WithMaxBufferedSpans(3))
		tr := newTracer()
		for _, r := range []string{"x", "y"} {
			ctx, root := tr.Start(context.Background(), r)
			for _, n := range []string{"1", "2"} {
				_, s := tr.Start(ctx, r+n)
				s.End()
			}
			_ = root
		}
		e.export(tr.pick(t, "x1", "x2", "y1", "y2")...)
		st := e.exp.Stats()
		if st.BufferedSpans != 3 || st.Dropped["span: "+reasonMaxSpans] != 1 {
			t.Errorf("stats: %+v", st)
		}
	})
}

// A deep, wide tree over a slow link: every request is accepted (parents
// before children, spans before their events), and the run takes about as
// many round trips as the tree is deep, not one per request.
func TestDependencyOrderAndLatency(t *testing.T) {
	const rtt = 25 * time.Millisecond
	e := newEnv(t, nil, WithConcurrency(64))
	e.srv.SetLatency(rtt)
	tr := newTracer()
	const depth, fanout = 4, 3
	n := tr.tree("", depth, fanout) // 1+3+9+27+81 = 121 spans, 120 events
	start := time.Now()
	e.export(tr.rec.Ended()...)
	took := time.Since(start)

	run := oneRun(t, e.srv)
	spans := e.srv.Spans(run.ID)
	if len(spans) != n {
		t.Fatalf("spans %d, want %d", len(spans), n)
	}
	if evs := e.srv.Events(run.ID); len(evs) != n-1 {
		t.Errorf("events %d, want %d", len(evs), n-1)
	}
	got := spanParents(t, e.srv, run.ID)
	for name, parent := range got {
		want := ""
		switch i := strings.LastIndex(name, "/"); {
		case name == "root":
		case i == 0:
			want = "root"
		default:
			want = name[:i]
		}
		if parent != want {
			t.Errorf("span %q has parent %q, want %q", name, parent, want)
		}
	}
	e.noRejections()
	// register + version + start + depth levels of creates + the last
	// level's closes and events + end: depth+5 round trips (the widest
	// level takes two rounds at 64 requests at once); allow generous slack
	// for -race on 2 cores.
	requests := e.tr.requests()
	if limit := time.Duration(depth+5)*rtt*3 + 500*time.Millisecond; took > limit {
		t.Errorf("delivery took %v for %d requests; want about %v (depth+5 round trips)", took, requests, time.Duration(depth+5)*rtt)
	}
	if serial := time.Duration(requests) * rtt; took > serial/3 {
		t.Errorf("delivery took %v, near the serial time %v", took, serial)
	}
	t.Logf("%d requests in %v (rtt %v)", requests, took, rtt)
}

func TestConcurrencyBound(t *testing.T) {
	tp := &transport{delay: 10 * time.Millisecond}
	e := newEnv(t, tp, WithConcurrency(3))
	tr := newTracer()
	for _, p := range []string{"a", "b", "c"} {
		tr.tree(p, 1, 8)
	}
	e.export(tr.rec.Ended()...)
	if runs := e.srv.Runs(); len(runs) != 3 {
		t.Fatalf("runs %d", len(runs))
	}
	if p := tp.peak(); p > 3 {
		t.Errorf("peak concurrent requests %d, want <= 3", p)
	}
	if p := tp.peak(); p < 2 {
		t.Errorf("peak concurrent requests %d: requests not parallel", p)
	}
	e.noRejections()
}

// Concurrent first uses of an agent register it once.
func TestAgentRegisteredOnce(t *testing.T) {
	tp := &transport{delay: 10 * time.Millisecond}
	e := newEnv(t, tp)
	tr := newTracer()
	var batches [][]sdktrace.ReadOnlySpan
	for i := range 8 {
		before := len(tr.rec.Ended())
		tr.tree(string(rune('a'+i)), 1, 2)
		batches = append(batches, tr.rec.Ended()[before:])
	}
	var wg sync.WaitGroup
	for _, b := range batches {
		wg.Go(func() {
			if err := e.exp.ExportSpans(context.Background(), b); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := len(e.srv.Runs()); n != 8 {
		t.Errorf("runs %d", n)
	}
	if n := tp.count("POST /agents/register"); n != 1 {
		t.Errorf("registrations %d, want 1", n)
	}
	if n := tp.count("POST /agents/{id}/versions"); n != 1 {
		t.Errorf("version creations %d, want 1", n)
	}
	e.noRejections()
}

// A cached agent deleted on the server: the run start answers 404 "Agent
// not found."; the exporter registers again, once, and goes on.
func TestAgentNotFoundRegistersAgain(t *testing.T) {
	tp := &transport{}
	e := newEnv(t, tp)
	tr := newTracer()
	tr.tree("a", 1, 1)
	e.export(tr.rec.Ended()...)
	e.srv.Inject(ezoptest.Fault{Endpoint: ezoptest.EndpointStartRun, Status: 404, Message: "Agent not found.", Times: 1})
	before := len(tr.rec.Ended())
	tr.tree("b", 1, 1)
	e.export(tr.rec.Ended()[before:]...)
	if n := len(e.srv.Runs()); n != 2 {
		t.Errorf("runs %d, want 2", n)
	}
	if n := tp.count("POST /agents/register"); n != 2 {
		t.Errorf("registrations %d, want 2", n)
	}
	if st := e.exp.Stats(); len(st.Dropped) != 0 {
		t.Errorf("dropped: %v", st.Dropped)
	}
}

// A request the server refuses is dropped and counted with the server's
// message; the rest of the run goes on, and what hangs off the refused
// span is sent without it (at run level), so nothing else is lost.
func TestPermanentErrorOnOneSpan(t *testing.T) {
	tp := &transport{}
	var victim string
	tp.fault = func(r *http.Request, body []byte) *http.Response {
		if endpointOf(r) == "POST /runs/{id}/spans" && strings.Contains(string(body), `"name":"bad"`) {
			return envelopeResponse(r, 422, "VALIDATION_ERROR", "bad span")
		}
		return nil
	}
	e := newEnv(t, tp)
	tr := newTracer()
	ctx, root := tr.Start(context.Background(), "root")
	bc, bad := tr.Start(ctx, "bad")
	_, under := tr.Start(bc, "under")
	under.End()
	bad.RecordError(errors.New("boom")) // an event on the refused span
	bad.End()
	_, good := tr.Start(ctx, "good")
	good.End()
	root.End()
	victim = "bad"
	e.export(tr.rec.Ended()...)

	run := oneRun(t, e.srv)
	got := spanParents(t, e.srv, run.ID)
	if len(got) != 3 || got["good"] != "root" || got["under"] != "" {
		t.Errorf("spans %v, want root, good under it, under at run level", got)
	}
	if run.Status != "success" {
		t.Errorf("run not ended: %q", run.Status)
	}
	st := e.exp.Stats()
	if st.Dropped["span: create failed: validation: bad span"] != 1 || st.SpansDropped != 1 || st.EventsDropped != 0 {
		t.Errorf("dropped: %v", st.Dropped)
	}
	if st.Altered[reasonRehomedSpan] != 1 || st.Altered[reasonRehomedEvent] != 1 {
		t.Errorf("altered: %v", st.Altered)
	}
	var runLevel int
	for _, ev := range e.srv.Events(run.ID) {
		if ev.SpanID == nil && ev.Category == "error" {
			runLevel++
		}
	}
	if runLevel != 1 {
		t.Errorf("the refused span's exception event: %d at run level, want 1", runLevel)
	}
	if n := tp.count("POST /runs/{id}/spans"); n != 4 {
		t.Errorf("span creates %d, want 4 (root, good, under, %s)", n, victim)
	}
	reported := false
	for _, d := range e.log.drops() {
		if strings.Contains(d.Error(), "bad span") {
			reported = true
		}
	}
	if !reported {
		t.Errorf("not reported: %v", e.log.all())
	}
	e.noRejections()
}

// A refused API key: one clear report, no retry storm, everything counted,
// ExportSpans unaffected.
func TestAuthFailureStopsSending(t *testing.T) {
	srv := ezoptest.NewServer()
	t.Cleanup(srv.Close)
	tp := &transport{}
	e := newEnvWith(t, srv, "ezop_sk_"+strings.Repeat("0", 64), tp, WithConcurrency(4))
	tr := newTracer()
	for i := range 10 {
		before := len(tr.rec.Ended())
		tr.tree(string(rune('a'+i)), 1, 3)
		e.export(tr.rec.Ended()[before:]...)
	}
	// Counted at the emulator: the first registration, nothing after.
	var n int
	for _, c := range srv.Requests() {
		n += c
	}
	if n > 2 {
		t.Errorf("%d requests with a refused key, want at most 2: %v", n, srv.Requests())
	}
	st := e.exp.Stats()
	if st.Dropped["span: auth"] != 40 || st.RunsStarted != 0 {
		t.Errorf("stats: %+v", st)
	}
	var authReports int
	for _, err := range e.log.all() {
		if strings.Contains(err.Error(), "refused the API key") {
			authReports++
			if !errors.Is(err, ErrAuth) {
				t.Errorf("auth report %v does not match ErrAuth", err)
			}
		}
		if strings.Contains(err.Error(), strings.Repeat("0", 64)) {
			t.Errorf("API key in report: %v", err)
		}
	}
	if authReports != 1 {
		t.Errorf("auth reports %d, want 1: %v", authReports, e.log.all())
	}
}

// Sending resumes after the pause.
func TestAuthPauseEnds(t *testing.T) {
	tp := &transport{}
	e := newEnv(t, tp)
	e.exp.cfg.authPause = 50 * time.Millisecond
	e.srv.RejectKey(true)
	tr := newTracer()
	tr.tree("a", 1, 1)
	e.export(tr.rec.Ended()...)
	if n := len(e.srv.Runs()); n != 0 {
		t.Fatalf("runs %d", n)
	}
	e.srv.RejectKey(false)
	time.Sleep(60 * time.Millisecond)
	before := len(tr.rec.Ended())
	tr.tree("b", 1, 1)
	e.export(tr.rec.Ended()[before:]...)
	if n := len(e.srv.Runs()); n != 1 {
		t.Errorf("runs %d after the pause, want 1", n)
	}
}

func TestShutdownDeadline(t *testing.T) {
	t.Run("server down", func(t *testing.T) { testShutdownDeadline(t, false) })
	t.Run("server slow", func(t *testing.T) { testShutdownDeadline(t, true) })
}

func testShutdownDeadline(t *testing.T, slow bool) {
	before := runtime.NumGoroutine()
	srv := ezoptest.NewServer()
	defer srv.Close()
	tp := &transport{hang: !slow, base: http.DefaultTransport.(*http.Transport).Clone()}
	if slow {
		srv.SetLatency(time.Minute)
	}
	log := &handlerLog{}
	exp, err := New(context.Background(), WithEndpoint(srv.URL), WithAPIKey(srv.APIKey),
		WithHTTPClient(&http.Client{Transport: tp}), WithErrorHandler(log), WithRetry(fastRetry))
	if err != nil {
		t.Fatal(err)
	}
	tr := newTracer()
	tr.tree("", 1, 2)
	// ExportSpans returns at its context's end; the work goes on.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err = exp.ExportSpans(ctx, tr.rec.Ended())
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ExportSpans: %v, want deadline exceeded", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = exp.Shutdown(ctx)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "not delivered") {
		t.Errorf("Shutdown: %v, want an error naming what was not delivered", err)
	}
	if took > 1*time.Second {
		t.Errorf("Shutdown took %v with a 200ms deadline", took)
	}
	if err := exp.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	st := exp.Stats()
	if st.SpansDropped != 3 {
		t.Errorf("stats: %+v", st)
	}
	srv.Close()
	tp.CloseIdleConnections()
	checkGoroutines(t, before)
}

func TestExportAfterShutdown(t *testing.T) {
	e := newEnv(t, nil)
	e.shutdown()
	tr := newTracer()
	tr.tree("", 1, 2)
	err := e.exp.ExportSpans(context.Background(), tr.rec.Ended())
	if !errors.Is(err, ErrShutdown) {
		t.Errorf("ExportSpans after Shutdown: %v", err)
	}
	if st := e.exp.Stats(); st.Dropped["span: "+reasonShutdown] != 3 {
		t.Errorf("stats %+v", st)
	}
	if err := e.exp.ForceFlush(context.Background()); err != nil {
		t.Errorf("ForceFlush after Shutdown: %v", err)
	}
}

// Shutdown sends the traces still waiting for their root, and ends their
// runs: a run that started always ends.
func TestShutdownFlushesBufferedTraces(t *testing.T) {
	before := runtime.NumGoroutine()
	srv := ezoptest.NewServer()
	defer srv.Close()
	tp := &transport{base: http.DefaultTransport.(*http.Transport).Clone()}
	exp, err := New(context.Background(), WithEndpoint(srv.URL), WithAPIKey(srv.APIKey),
		WithHTTPClient(&http.Client{Transport: tp}), WithErrorHandler(&handlerLog{}))
	if err != nil {
		t.Fatal(err)
	}
	tr := newTracer()
	ctx, root := tr.Start(context.Background(), "root")
	_, a := tr.Start(ctx, "a")
	a.SetStatus(codes.Error, "failed")
	a.End()
	_ = root
	if err := exp.ExportSpans(context.Background(), tr.pick(t, "a")); err != nil {
		t.Fatal(err)
	}
	if err := exp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	runs := srv.Runs()
	if len(runs) != 1 || runs[0].Status != "failed" || len(srv.Spans(runs[0].ID)) != 1 {
		t.Fatalf("runs %+v", runs)
	}
	if m := runs[0].Message; m == nil || *m != reasonShutdownLost {
		t.Errorf("message %v, want %q", m, reasonShutdownLost)
	}
	if len(srv.Rejected()) != 0 {
		t.Errorf("rejected: %v", srv.Rejected())
	}
	st := exp.Stats()
	if st.EventsSent != 1 || st.SpansSent != 1 || st.RunsStarted != 1 || st.RunsEnded != 1 {
		t.Errorf("stats %+v", st)
	}
	srv.Close()
	checkGoroutines(t, before)
}

func TestStatsAndAlterations(t *testing.T) {
	e := newEnv(t, nil, WithMaxValueBytes(16))
	tr := newTracer()
	ctx, root := tr.Start(context.Background(), "root")
	_, llm := tr.Start(ctx, "chat")
	llm.SetAttributes(
		attribute.String("gen_ai.operation.name", "chat"),
		attribute.String("gen_ai.request.model", "gpt-4o"),
		attribute.Int("gen_ai.usage.input_tokens", 10),
		attribute.Int("gen_ai.usage.output_tokens", 5),
		attribute.String("note", strings.Repeat("x", 100)),
	)
	llm.End()
	root.End()
	e.export(tr.rec.Ended()...)
	st := e.exp.Stats()
	if st.RunsStarted != 1 || st.RunsEnded != 1 || st.SpansSent != 2 || st.EventsSent != 1 {
		t.Errorf("stats %+v", st)
	}
	if len(st.Altered) == 0 {
		t.Errorf("no alteration counted for a truncated value: %+v", st)
	}
	if st.Requests != int64(e.tr.requests()) {
		t.Errorf("requests %d, transport saw %d", st.Requests, e.tr.requests())
	}
	e.noRejections()
}

// Transient failures are retried by the client and counted.
func TestTransientErrorsRetried(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.Inject(ezoptest.Fault{Endpoint: ezoptest.EndpointCreateSpan, Status: 503, Times: 2})
	tr := newTracer()
	tr.tree("", 1, 3)
	e.export(tr.rec.Ended()...)
	st := e.exp.Stats()
	if st.SpansSent != 4 || st.RequestsRetried < 2 || len(st.Dropped) != 0 {
		t.Errorf("stats %+v", st)
	}
}

// A request that keeps failing while the server answers /health (a 503 of
// one endpoint) is given up when its budget is spent: it waits through at
// most two outages with its budget paused.
func TestGiveUpCountsDrop(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.Inject(ezoptest.Fault{Endpoint: ezoptest.EndpointEmitEvent, Status: 503})
	tr := newTracer()
	ctx, root := tr.Start(context.Background(), "root")
	_, s := tr.Start(ctx, "s")
	s.AddEvent("something")
	s.End()
	root.End()
	e.export(tr.rec.Ended()...)
	e.flush()
	st := e.exp.Stats()
	found := false
	for k, v := range st.Dropped {
		// The budget may run out during the last attempt (a timeout) or
		// after it (the 503 itself): both are a give-up.
		if (strings.HasPrefix(k, "event: emit failed: server error") ||
			strings.HasPrefix(k, "event: emit failed: transport error")) && v == 1 {
			found = true
		}
	}
	if !found || st.SpansSent != 2 || st.RunsEnded != 1 {
		t.Errorf("stats %+v", st)
	}
}

// Reports of one reason are rate-limited; counts are not.
func TestDropReportsRateLimited(t *testing.T) {
	e := newEnv(t, nil, WithMaxSpansPerTrace(1))
	tr := newTracer()
	ctx, _ := tr.Start(context.Background(), "root")
	for i := range 5 {
		_, s := tr.Start(ctx, "s"+string(rune('0'+i)))
		s.End()
		e.export(tr.pick(t, "s"+string(rune('0'+i)))...)
	}
	if st := e.exp.Stats(); st.Dropped["span: "+reasonMaxPerTrace] != 4 {
		t.Errorf("dropped %v", st.Dropped)
	}
	if n := len(e.log.drops()); n != 1 {
		t.Errorf("%d reports, want 1", n)
	}
	e.shutdown() // reports what was not reported yet
	var total int64
	for _, d := range e.log.drops() {
		if d.Reason == "span: "+reasonMaxPerTrace {
			total += d.Count
		}
	}
	if total != 4 {
		t.Errorf("reported %d drops in all, want 4", total)
	}
}

func TestExportDoesNotKeepTheBatchSlice(t *testing.T) {
	e := newEnv(t, nil)
	tr := newTracer()
	ctx, root := tr.Start(context.Background(), "root")
	_, a := tr.Start(ctx, "a")
	a.End()
	batch := tr.pick(t, "a")
	e.export(batch...)
	batch[0] = nil // the SDK reuses its slice
	root.End()
	e.export(tr.pick(t, "root")...)
	if got := spanParents(t, e.srv, oneRun(t, e.srv).ID); len(got) != 2 || got["a"] != "root" {
		t.Errorf("spans %v", got)
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	srv := ezoptest.NewServer()
	tp := &transport{base: http.DefaultTransport.(*http.Transport).Clone()}
	exp, err := New(context.Background(), WithEndpoint(srv.URL), WithAPIKey(srv.APIKey),
		WithHTTPClient(&http.Client{Transport: tp}), WithErrorHandler(&handlerLog{}), WithRootWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	tr := newTracer()
	tr.tree("", 2, 3)
	if err := exp.ExportSpans(context.Background(), tr.rec.Ended()); err != nil {
		t.Fatal(err)
	}
	if err := exp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	checkGoroutines(t, before)
}

// The translation's RunState is only touched under the exporter's lock,
// and the per-run queue keeps plans of one run in order, with -race.
func TestConcurrentExportsOfOneTrace(t *testing.T) {
	e := newEnv(t, nil)
	tr := newTracer()
	ctx, root := tr.Start(context.Background(), "root")
	var names []string
	for i := range 20 {
		n := "s" + string(rune('a'+i))
		_, s := tr.Start(ctx, n)
		s.End()
		names = append(names, n)
	}
	root.End()
	e.export(tr.pick(t, "root")...)
	spans := tr.pick(t, names...)
	var wg sync.WaitGroup
	for _, s := range spans {
		wg.Go(func() {
			if err := e.exp.ExportSpans(context.Background(), []sdktrace.ReadOnlySpan{s}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	run := oneRun(t, e.srv)
	if got := spanParents(t, e.srv, run.ID); len(got) != 21 {
		t.Errorf("spans %d, want the root and its 20 children", len(got))
	}
	e.noRejections()
}

// A span whose parent has not ended when the root does waits for that
// parent, and then goes to the root's run with its parent link.
func TestGrandchildWaitsForItsParentAfterTheRoot(t *testing.T) {
	e := newEnv(t, nil)
	tr := newTracer()
	ctx, root := tr.Start(context.Background(), "root")
	mctx, mid := tr.Start(ctx, "mid")
	_, leaf := tr.Start(mctx, "leaf")
	leaf.End()
	root.End()
	e.export(tr.pick(t, "leaf", "root")...)
	if st := e.exp.Stats(); st.BufferedSpans != 1 {
		t.Errorf("leaf not waiting for its parent: %+v", st)
	}
	mid.End()
	e.export(tr.pick(t, "mid")...)
	run := oneRun(t, e.srv)
	got := spanParents(t, e.srv, run.ID)
	if len(got) != 3 || got["mid"] != "root" || got["leaf"] != "mid" {
		t.Errorf("spans %v", got)
	}
	e.noRejections()
}

// Two local roots in one trace (two calls from a remote parent): two runs,
// each with its own children, whatever order spans come in.
func TestTwoLocalRootsInOneTrace(t *testing.T) {
	e := newEnv(t, nil, WithRootWait(time.Hour))
	tr := newTracer()
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, Remote: true, TraceFlags: trace.FlagsSampled})
	rctx := trace.ContextWithRemoteSpanContext(context.Background(), parent)
	c1ctx, r1 := tr.Start(rctx, "r1")
	c2ctx, r2 := tr.Start(rctx, "r2")
	_, c1 := tr.Start(c1ctx, "c1")
	_, c2 := tr.Start(c2ctx, "c2")
	c1.End()
	c2.End()
	r1.End()
	e.export(tr.pick(t, "c1", "c2", "r1")...)
	if st := e.exp.Stats(); st.BufferedSpans != 1 {
		t.Errorf("c2 should wait for r2: %+v", st)
	}
	r2.End()
	e.export(tr.pick(t, "r2")...)
	runs := e.srv.Runs()
	if len(runs) != 2 {
		t.Fatalf("runs %d", len(runs))
	}
	for _, run := range runs {
		got := spanParents(t, e.srv, run.ID)
		name := run.Metadata["otel"].(map[string]any)["name"].(string)
		want := "c" + name[1:]
		if len(got) != 2 || got[name] != "" || got[want] != name {
			t.Errorf("run %s spans %v, want %s under %s", name, got, want, name)
		}
	}
	e.noRejections()
}

// ExportSpans returns at its context's end; the delivery goes on.
func TestExportContextEndsDeliveryContinues(t *testing.T) {
	e := newEnv(t, &transport{delay: 30 * time.Millisecond})
	tr := newTracer()
	tr.tree("", 2, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := e.exp.ExportSpans(ctx, tr.rec.Ended()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ExportSpans: %v", err)
	}
	if st := e.exp.Stats(); st.InFlightSpans != 7 {
		t.Errorf("in flight: %+v", st)
	}
	e.flush()
	run := oneRun(t, e.srv)
	if run.Status != "success" || len(e.srv.Spans(run.ID)) != 7 {
		t.Errorf("run %+v", run)
	}
	e.noRejections()
}

// The error handler may call back into the exporter.
func TestErrorHandlerMayCallTheExporter(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	var exp *Exporter
	var mu sync.Mutex
	calls := 0
	h := otel.ErrorHandlerFunc(func(error) {
		mu.Lock()
		calls++
		mu.Unlock()
		_ = exp.Stats()
	})
	exp, err := New(context.Background(), WithEndpoint(srv.URL), WithAPIKey(srv.APIKey), WithErrorHandler(h), WithMaxTraces(1))
	if err != nil {
		t.Fatal(err)
	}
	tr := newTracer()
	for _, n := range []string{"a", "b"} {
		ctx, _ := tr.Start(context.Background(), "root")
		_, s := tr.Start(ctx, n)
		s.End()
	}
	batch := tr.pick(t, "a", "b")
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = exp.ExportSpans(context.Background(), batch)
		_ = exp.Shutdown(context.Background())
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("deadlock: the error handler called Stats")
	}
	mu.Lock()
	defer mu.Unlock()
	if calls == 0 {
		t.Error("nothing reported")
	}
}

// A fallback such as the default owner is reported once, however many runs
// use it, and counted every time.
func TestAlterationReportedOncePerReason(t *testing.T) {
	e := newEnv(t, nil)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "no-owner"))))
	for range 3 {
		_, root := tp.Tracer("t").Start(context.Background(), "root")
		root.End()
	}
	e.export(rec.Ended()...)

	var notices []*AlterNotice
	for _, err := range e.log.all() {
		var n *AlterNotice
		if errors.As(err, &n) {
			notices = append(notices, n)
		}
	}
	if len(notices) != 1 || !strings.Contains(notices[0].Reason, "owner fallback") {
		t.Fatalf("notices %v, want one owner fallback", notices)
	}
	var counted int64
	for reason, n := range e.exp.Stats().Altered {
		if strings.Contains(reason, "owner fallback") {
			counted += n
		}
	}
	if counted != 3 {
		t.Errorf("owner fallback counted %d times, want 3", counted)
	}
	if got := e.srv.Agents(); len(got) != 1 || got[0].Owner != "unknown" {
		t.Errorf("agents %+v, want one owned by \"unknown\"", got)
	}
}

// Content capture off is a setting, not a loss: message content left out
// is counted in Stats.Altered and said once, never reported as a drop,
// however many runs and flushes follow.
func TestContentNotCapturedSaidOnce(t *testing.T) {
	const canary = "canary-prompt-7f3a"
	tp := &transport{keepBodies: true}
	e := newEnv(t, tp, WithCaptureContent(false))
	tr := newTracer()
	for range 5 {
		for range 4 {
			ctx, root := tr.Start(context.Background(), "root")
			_, chat := tr.Start(ctx, "chat", trace.WithAttributes(
				attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", "m")))
			chat.AddEvent("gen_ai.user.message", trace.WithAttributes(attribute.String("content", canary)))
			chat.AddEvent("gen_ai.choice", trace.WithAttributes(attribute.String("message", canary)))
			chat.End()
			root.End()
		}
		e.export(tr.rec.Ended()[len(tr.rec.Ended())-8:]...)
		e.flush()
	}
	e.shutdown()
	var notices int
	for _, err := range e.log.all() {
		var n *AlterNotice
		if errors.As(err, &n) && n.Reason == bridge.ReasonContentNotCaptured {
			notices++
		}
		if strings.Contains(err.Error(), "not captured") && !errors.As(err, &n) {
			t.Errorf("reported as more than a notice: %v", err)
		}
	}
	if notices != 1 {
		t.Errorf("%d notices of content not captured, want 1", notices)
	}
	if d := e.log.drops(); len(d) != 0 {
		t.Errorf("drops reported: %v", d)
	}
	st := e.exp.Stats()
	if got := st.Altered[bridge.ReasonContentNotCaptured]; got != 40 {
		t.Errorf("counted %d messages not captured, want 40 (2 in each of 20 runs)", got)
	}
	if st.SpansDropped != 0 || st.EventsDropped != 0 || st.RunsEnded != 20 {
		t.Errorf("stats %+v", st)
	}
	for _, b := range tp.sent() {
		if strings.Contains(string(b), canary) {
			t.Fatalf("content sent with capture off: %s", b)
		}
	}
	e.noRejections()
}
