package reliability_test

// The harness: an emulator, the exporter behind a real TracerProvider and
// BatchSpanProcessor, a recorder of every span the program ended, and the
// comparison of what the emulator stored with what the program produced.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/bridge"
	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/ezoptest"
	"github.com/ezopotel/ezop-otel-go/internal/reliability"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

var long = flag.Bool("reliability.long", false, "run the long variants of the reliability scenarios (the issue's 10 s outage)")

func TestMain(m *testing.M) {
	flag.Parse()
	// The BatchSpanProcessor reports its own export errors (an export
	// timeout while the server is down) through the global handler; the
	// scenarios check the exporter's reports, which go to the harness.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {}))
	os.Exit(m.Run())
}

var agentResource = resource.NewSchemaless(
	attribute.String("service.name", "support-svc"),
	semconv.AgentName("support-agent"),
	semconv.AgentOwner("platform"),
	semconv.AgentVersion("2.1.0"),
)

// fastRetry keeps retries quick where the scenario is not about the retry
// timing itself.
var fastRetry = exporter.RetryConfig{
	Enabled:         true,
	InitialInterval: 20 * time.Millisecond,
	MaxInterval:     200 * time.Millisecond,
	MaxElapsedTime:  30 * time.Second,
}

// setup configures a harness.
type setup struct {
	srv []ezoptest.Option
	exp []exporter.Option
	bsp []sdktrace.BatchSpanProcessorOption
	// transport, when set, is the exporter's HTTP transport.
	transport http.RoundTripper
}

type harness struct {
	t    *testing.T
	srv  *ezoptest.Server
	exp  *exporter.Exporter
	obs  *observed
	rec  *tracetest.SpanRecorder
	tp   *sdktrace.TracerProvider
	tr   trace.Tracer
	down atomic.Bool // the test shut the provider down itself

	mu      sync.Mutex
	reports []error
}

// Handle is the exporter's error handler.
func (h *harness) Handle(err error) {
	h.mu.Lock()
	h.reports = append(h.reports, err)
	h.mu.Unlock()
}

func (h *harness) reported() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), h.reports...)
}

func newHarness(t *testing.T, s setup) *harness {
	t.Helper()
	h := &harness{t: t, srv: ezoptest.NewServer(s.srv...)}
	t.Cleanup(func() { h.srv.Close() })
	opts := []exporter.Option{
		exporter.WithEndpoint(h.srv.URL),
		exporter.WithAPIKey(h.srv.APIKey),
		exporter.WithErrorHandler(h),
	}
	if s.transport != nil {
		opts = append(opts, exporter.WithHTTPClient(&http.Client{
			Transport: s.transport,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}))
	}
	exp, err := exporter.New(context.Background(), append(opts, s.exp...)...)
	if err != nil {
		t.Fatal(err)
	}
	h.exp = exp
	h.obs = &observed{SpanExporter: exp, shut: make(chan struct{})}
	h.rec = tracetest.NewSpanRecorder()
	bsp := append([]sdktrace.BatchSpanProcessorOption{
		// Short batches keep the suite quick; a queue large enough for
		// every scenario's workload means the SDK never drops a span, so
		// whatever is missing on Ezop is the exporter's doing.
		sdktrace.WithBatchTimeout(20 * time.Millisecond),
		sdktrace.WithMaxQueueSize(1 << 16),
	}, s.bsp...)
	h.tp = sdktrace.NewTracerProvider(
		sdktrace.WithResource(agentResource),
		sdktrace.WithSpanProcessor(h.rec),
		sdktrace.WithBatcher(h.obs, bsp...),
	)
	h.tr = h.tp.Tracer("reliability")
	t.Cleanup(func() {
		if h.down.Load() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.tp.Shutdown(ctx)
	})
	return h
}

// run produces a workload with the harness's tracer.
func (h *harness) run(w reliability.Workload) reliability.Result {
	return w.Run(context.Background(), h.tr)
}

// flush makes the provider export everything ended and waits until it is
// delivered (ExportSpans returns once the completed runs are on Ezop).
func (h *harness) flush(timeout time.Duration) time.Duration {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	if err := h.tp.ForceFlush(ctx); err != nil {
		h.t.Fatalf("TracerProvider.ForceFlush: %v (stats %s)", err, statsLine(h.exp.Stats()))
	}
	// Through a (brief) outage ExportSpans holds spans rather than wait:
	// the exporter's own ForceFlush waits for everything it holds.
	if err := h.exp.ForceFlush(ctx); err != nil {
		h.t.Fatalf("Exporter.ForceFlush: %v (stats %s)", err, statsLine(h.exp.Stats()))
	}
	return time.Since(start)
}

// deliver is flush for a provider whose export timeout is shorter than the
// delivery: its ForceFlush may give up waiting, so deliver then waits for
// the exporter to have nothing in flight.
func (h *harness) deliver(timeout time.Duration) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := h.tp.ForceFlush(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		h.t.Fatalf("TracerProvider.ForceFlush: %v", err)
	}
	h.waitHandedOver(timeout)
	for st := h.exp.Stats(); st.InFlightSpans+st.InFlightEvents+st.InFlightRequests > 0; st = h.exp.Stats() {
		if ctx.Err() != nil {
			h.t.Fatalf("not delivered in %s: %s", timeout, statsLine(st))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitHandedOver waits until the exporter has been handed every span the
// program ended.
func (h *harness) waitHandedOver(timeout time.Duration) {
	h.t.Helper()
	want := int64(len(h.rec.Ended()))
	deadline := time.Now().Add(timeout)
	for h.obs.spans.Load() < want {
		if time.Now().After(deadline) {
			h.t.Fatalf("the exporter was handed %d of %d spans", h.obs.spans.Load(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) noRejections(srv *ezoptest.Server) {
	h.t.Helper()
	rj := srv.Rejected()
	for i, r := range rj {
		if i == 10 {
			h.t.Errorf("… %d rejections in all", len(rj))
			break
		}
		h.t.Errorf("emulator rejected: %s", r)
	}
}

// totalRequests sums the emulator's request counts over all endpoints.
func totalRequests(srv *ezoptest.Server) int {
	n := 0
	for _, c := range srv.Requests() {
		n += c
	}
	return n
}

func statsLine(s exporter.Stats) string {
	return fmt.Sprintf("runs %d/%d spans sent %d dropped %d events sent %d dropped %d requests %d retried %d buffered %d/%d inflight %d/%d/%d dropped %v",
		s.RunsStarted, s.RunsEnded, s.SpansSent, s.SpansDropped, s.EventsSent, s.EventsDropped,
		s.Requests, s.RequestsRetried, s.BufferedTraces, s.BufferedSpans,
		s.InFlightSpans, s.InFlightEvents, s.InFlightRequests, s.Dropped)
}

// observed wraps the exporter as the BatchSpanProcessor sees it: it counts
// the spans handed over and notes when Shutdown returned.
type observed struct {
	sdktrace.SpanExporter
	spans atomic.Int64

	shut      chan struct{}
	shutAt    time.Time
	shutErr   error
	shutCalls atomic.Int64
}

func (o *observed) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	// Counted once the exporter has taken them (it counts its drops then),
	// whether it returns on delivery or on the context's end.
	n := int64(len(spans))
	err := o.SpanExporter.ExportSpans(ctx, spans)
	o.spans.Add(n)
	return err
}

func (o *observed) Shutdown(ctx context.Context) error {
	err := o.SpanExporter.Shutdown(ctx)
	if o.shutCalls.Add(1) == 1 {
		o.shutAt, o.shutErr = time.Now(), err
		close(o.shut)
	}
	return err
}

// ── comparison ─────────────────────────────────────────────────────────────

// expTrace is what one trace of the program should become on Ezop.
type expTrace struct {
	id    trace.TraceID
	root  sdktrace.ReadOnlySpan // nil while the root has not ended
	plan  bridge.RunPlan
	runs  []string // stored runs of the trace
	spans int
}

type expSpan struct {
	tr   *expTrace
	otel sdktrace.ReadOnlySpan
	op   bridge.SpanOp
	seen int
}

type expEvent struct {
	tr   *expTrace
	req  semconvEvent
	seen int
}

// semconvEvent is the part of an event request the comparison checks.
type semconvEvent struct {
	ID, SpanID, Name, Category, Type, Subtype, Timestamp string
}

// report is the outcome of a comparison.
type report struct {
	Traces                                int
	WantRuns, Runs, MissingRuns, OpenRuns int
	WantSpans, Spans, MissingSpans        int
	WantEvents, Events, MissingEvents     int
	// EmptyRuns are runs holding nothing (created, then everything of them
	// failed; or a duplicate); Unclosed are spans stored without their
	// end time.
	EmptyRuns, Unclosed int
	// Reparented are spans stored at run level because their parent span
	// was dropped (as the translation does for a parent it never saw).
	Reparented int
	// Problems are duplicates, data in the wrong place, wrong values and
	// data nobody produced: never acceptable.
	Problems []string
}

func (r report) String() string {
	return fmt.Sprintf("traces %d; runs %d/%d (missing %d, left running %d, empty %d); spans %d/%d (missing %d, unclosed %d, re-parented %d); events %d/%d (missing %d); %d problems",
		r.Traces, r.Runs, r.WantRuns, r.MissingRuns, r.OpenRuns, r.EmptyRuns, r.Spans, r.WantSpans, r.MissingSpans, r.Unclosed, r.Reparented,
		r.Events, r.WantEvents, r.MissingEvents, len(r.Problems))
}

// complete fails the test unless everything the program produced is stored
// exactly once, where it belongs, with the right values.
func (r report) complete(t *testing.T) {
	t.Helper()
	r.clean(t)
	if r.MissingRuns != 0 || r.MissingSpans != 0 || r.MissingEvents != 0 || r.OpenRuns != 0 || r.EmptyRuns != 0 || r.Unclosed != 0 || r.Reparented != 0 {
		t.Errorf("not everything arrived: %s", r)
	}
	if r.Runs != r.WantRuns || r.Spans != r.WantSpans || r.Events != r.WantEvents {
		t.Errorf("counts differ: %s", r)
	}
}

// clean fails the test if anything stored is duplicated, misplaced, wrong
// or unknown.
func (r report) clean(t *testing.T) {
	t.Helper()
	for i, p := range r.Problems {
		if i == 15 {
			t.Errorf("… %d problems in all", len(r.Problems))
			break
		}
		t.Error(p)
	}
}

// categories are the span categories the exporter should give each kind of
// workload span (in the span's metadata otel.category).
var categories = map[string]string{
	reliability.KindRoot:      "agent", // the root is an invoke_agent span, stored as the run's top span
	reliability.KindLLM:       "llm",
	reliability.KindTool:      "tool",
	reliability.KindRetrieval: "memory",
	reliability.KindStep:      "",
}

// compare checks what srv stored against the spans the program ended
// (h.rec). Traces outside only (when not nil) are expected nowhere and
// ignored if found. Runs whose root never ended are expected as runs
// holding the root's descendants, running, or ended by the exporter
// (failed, marked incomplete) once it forgot the trace or shut down.
func (h *harness) compare(srv *ezoptest.Server, only map[trace.TraceID]bool) report {
	var r report
	problem := func(format string, args ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, args...)) }

	// What the program produced, and what the translation makes of it.
	byTrace := map[trace.TraceID][]sdktrace.ReadOnlySpan{}
	for _, s := range h.rec.Ended() {
		id := s.SpanContext().TraceID()
		byTrace[id] = append(byTrace[id], s)
	}
	tr := bridge.NewTranslator(bridge.Config{})
	traces := map[string]*expTrace{} // by trace id text
	spans := map[string]*expSpan{}
	events := map[string]*expEvent{}
	for id, ss := range byTrace {
		et := &expTrace{id: id}
		for _, s := range ss {
			if bridge.IsLocalRoot(s) {
				et.root = s
			}
		}
		var st bridge.RunState
		et.plan = tr.Translate(&st, ss)
		traces[id.String()] = et
		if only != nil && !only[id] {
			continue
		}
		r.Traces++
		if !et.plan.Empty() {
			r.WantRuns++
		}
		for _, op := range et.plan.Spans {
			var otelSpan sdktrace.ReadOnlySpan
			for _, s := range ss {
				if s.SpanContext().SpanID() == op.OTelSpanID {
					otelSpan = s
				}
			}
			spans[op.Create.ID] = &expSpan{tr: et, otel: otelSpan, op: op}
			et.spans++
		}
		for _, ev := range et.plan.Events {
			events[ev.ID] = &expEvent{tr: et, req: semconvEvent{
				ID: ev.ID, SpanID: ev.SpanID, Name: ev.Name, Category: ev.Category,
				Type: ev.Type, Subtype: ev.Subtype, Timestamp: ev.Timestamp,
			}}
		}
		r.WantSpans += len(et.plan.Spans)
		r.WantEvents += len(et.plan.Events)
	}
	// Ezop ids of traces not checked, to ignore their records.
	ignored := map[string]bool{}
	for id := range byTrace {
		if only == nil || only[id] {
			continue
		}
		et := traces[id.String()]
		for _, op := range et.plan.Spans {
			ignored[op.Create.ID] = true
		}
		for _, ev := range et.plan.Events {
			ignored[ev.ID] = true
		}
	}

	storedSpans := srv.AllSpans()
	storedIDs := map[string]bool{}
	for _, sp := range storedSpans {
		storedIDs[sp.ID] = true
	}
	storedEvents := srv.AllEvents()
	spanRun := map[string]string{} // stored span id → run id

	// Runs: find each run's trace.
	runTrace := map[string]*expTrace{}
	for _, sp := range storedSpans {
		spanRun[sp.ID] = sp.RunID
		if es := spans[sp.ID]; es != nil {
			runTrace[sp.RunID] = es.tr
		} else if ignored[sp.ID] {
			runTrace[sp.RunID] = nil
		}
	}
	for _, ev := range storedEvents {
		if ee := events[ev.ID]; ee != nil {
			if _, known := runTrace[ev.RunID]; !known {
				runTrace[ev.RunID] = ee.tr
			}
		} else if ignored[ev.ID] {
			runTrace[ev.RunID] = nil
		}
	}
	for _, run := range srv.Runs() {
		otelInfo, _ := run.Metadata["otel"].(map[string]any)
		tid, _ := otelInfo["trace_id"].(string)
		et, byData := runTrace[run.ID]
		if tid != "" {
			meta := traces[tid]
			if meta == nil {
				problem("run %s names trace %s, which the program never produced", run.ID, tid)
				continue
			}
			if byData && et != nil && et != meta {
				problem("run %s holds data of trace %s but names trace %s", run.ID, et.id, tid)
			}
			et, byData = meta, true
		}
		if !byData {
			r.EmptyRuns++
			continue
		}
		if et == nil || (only != nil && !only[et.id]) {
			continue
		}
		et.runs = append(et.runs, run.ID)
		r.Runs++
		// Status, outcome and times of the run.
		switch {
		case et.root == nil:
			inc, _ := run.Metadata["ezop_otel"].(map[string]any)
			if run.Status != "running" && (run.Status != "failed" || inc["incomplete"] != true) {
				problem("run %s of trace %s (root never ended) has status %s (%v), want running, or failed and incomplete", run.ID, et.id, run.Status, run.Metadata)
			}
		case run.Status == "running":
			r.OpenRuns++
		default:
			want := et.plan.End
			if run.Status != want.Status {
				problem("run %s of trace %s: status %s, want %s", run.ID, et.id, run.Status, want.Status)
			}
			wantOtel, _ := want.Metadata["otel"].(map[string]any)
			if otelInfo["start_time"] != wantOtel["start_time"] || otelInfo["end_time"] != wantOtel["end_time"] || otelInfo["span_id"] != et.root.SpanContext().SpanID().String() {
				problem("run %s of trace %s: otel metadata %v, want start %v end %v span %s", run.ID, et.id, otelInfo, wantOtel["start_time"], wantOtel["end_time"], et.root.SpanContext().SpanID())
			}
			if deref(run.Message) != deref(want.Message) {
				problem("run %s: message %q, want %q", run.ID, deref(run.Message), deref(want.Message))
			}
		}
	}
	for _, et := range traces {
		if only != nil && !only[et.id] {
			continue
		}
		switch {
		case len(et.runs) > 1:
			problem("trace %s has %d runs: %v", et.id, len(et.runs), et.runs)
		case len(et.runs) == 0 && !et.plan.Empty():
			r.MissingRuns++
		}
	}
	runOf := func(et *expTrace) string {
		if len(et.runs) == 1 {
			return et.runs[0]
		}
		return ""
	}

	// Spans.
	for _, sp := range storedSpans {
		es := spans[sp.ID]
		if es == nil {
			if !ignored[sp.ID] {
				problem("span %s (%q) was never produced", sp.ID, deref(sp.Name))
			}
			continue
		}
		es.seen++
		if es.seen > 1 {
			problem("span %s stored %d times", sp.ID, es.seen)
			continue
		}
		r.Spans++
		if run := runOf(es.tr); sp.RunID != run {
			problem("span %s in run %s, want the run of trace %s (%s)", sp.ID, sp.RunID, es.tr.id, run)
		}
		if want := es.op.Create.ParentID; deref(sp.ParentID) != want {
			if sp.ParentID == nil && !storedIDs[want] {
				r.Reparented++
			} else {
				problem("span %s: parent %q, want %q", sp.ID, deref(sp.ParentID), want)
			}
		}
		if deref(sp.Name) != es.otel.Name() {
			problem("span %s: name %q, want %q", sp.ID, deref(sp.Name), es.otel.Name())
		}
		if !sameTime(sp.StartTime, es.otel.StartTime()) {
			problem("span %s: start %s, want %s", sp.ID, sp.StartTime, es.otel.StartTime().Format(time.RFC3339Nano))
		}
		if sp.EndTime == nil {
			r.Unclosed++
		} else if !sameTime(*sp.EndTime, es.otel.EndTime()) {
			problem("span %s: end %s, want %s", sp.ID, *sp.EndTime, es.otel.EndTime().Format(time.RFC3339Nano))
		}
		kind := attrOf(es.otel, reliability.KindKey)
		otelInfo, _ := sp.Metadata["otel"].(map[string]any)
		cat, _ := otelInfo["category"].(string)
		if want, ok := categories[kind]; !ok || cat != want {
			problem("span %s of kind %q: category %q, want %q", sp.ID, kind, cat, want)
		}
	}
	for _, es := range spans {
		if es.seen == 0 {
			r.MissingSpans++
		}
	}

	// Events.
	onSpan := map[string]map[string]int{} // span id → "category/type" → count
	for _, ev := range storedEvents {
		ee := events[ev.ID]
		if ee == nil {
			if !ignored[ev.ID] {
				problem("event %s (%s/%s %q) was never produced", ev.ID, ev.Category, deref(ev.Type), ev.Name)
			}
			continue
		}
		ee.seen++
		if ee.seen > 1 {
			problem("event %s stored %d times", ev.ID, ee.seen)
			continue
		}
		r.Events++
		want := ee.req
		if run := runOf(ee.tr); ev.RunID != run {
			problem("event %s in run %s, want the run of trace %s (%s)", ev.ID, ev.RunID, ee.tr.id, run)
		}
		if deref(ev.SpanID) != want.SpanID {
			problem("event %s: span %q, want %q", ev.ID, deref(ev.SpanID), want.SpanID)
		}
		if ev.Category != want.Category || deref(ev.Type) != want.Type || deref(ev.Subtype) != want.Subtype || ev.Name != want.Name {
			problem("event %s: %s/%s/%s %q, want %s/%s/%s %q", ev.ID, ev.Category, deref(ev.Type), deref(ev.Subtype), ev.Name,
				want.Category, want.Type, want.Subtype, want.Name)
		}
		if wt, err := time.Parse(time.RFC3339Nano, want.Timestamp); err != nil || !sameTime(ev.Timestamp, wt) {
			problem("event %s: timestamp %s, want %s", ev.ID, ev.Timestamp, want.Timestamp)
		}
		if ev.SpanID != nil {
			if onSpan[*ev.SpanID] == nil {
				onSpan[*ev.SpanID] = map[string]int{}
			}
			onSpan[*ev.SpanID][ev.Category+"/"+deref(ev.Type)]++
		}
	}
	for _, ee := range events {
		if ee.seen == 0 {
			r.MissingEvents++
		}
	}

	// Independent of the translation: every OTel span event arrived, and
	// LLM and tool spans carry the events Ezop charts.
	if r.MissingEvents == 0 {
		for id, es := range spans {
			if es.seen == 0 {
				continue
			}
			got := onSpan[id]
			n := 0
			for _, c := range got {
				n += c
			}
			if n < len(es.otel.Events()) {
				problem("span %s has %d events, the program added %d", id, n, len(es.otel.Events()))
			}
			switch attrOf(es.otel, reliability.KindKey) {
			case reliability.KindLLM:
				if got["llm/llm_response"] != 1 {
					problem("LLM span %s: %d llm_response events", id, got["llm/llm_response"])
				}
			case reliability.KindTool:
				if got["tool/tool_call_started"] != 1 || got["tool/tool_call_completed"]+got["tool/tool_call_failed"] != 1 {
					problem("tool span %s: events %v", id, got)
				}
			}
		}
	}
	sort.Strings(r.Problems)
	return r
}

// sameTime reports whether a stored time is t rounded to the microsecond,
// as PostgreSQL stores it.
func sameTime(stored string, t time.Time) bool {
	st, err := time.Parse(time.RFC3339Nano, stored)
	if err != nil {
		return false
	}
	if st.Nanosecond()%1000 != 0 {
		return false
	}
	return math.Abs(float64(st.Sub(t))) <= 500
}

func attrOf(s sdktrace.ReadOnlySpan, k attribute.Key) string {
	for _, kv := range s.Attributes() {
		if kv.Key == k {
			return kv.Value.Emit()
		}
	}
	return ""
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// traceIDs returns the ids of the traces the program produced so far.
func (h *harness) traceIDs() map[trace.TraceID]bool {
	out := map[trace.TraceID]bool{}
	for _, s := range h.rec.Ended() {
		out[s.SpanContext().TraceID()] = true
	}
	return out
}

// ── memory ─────────────────────────────────────────────────────────────────

// sampler watches the exporter's buffers and the heap while a scenario
// runs.
type sampler struct {
	stop, done chan struct{}

	mu                       sync.Mutex
	samples                  int
	maxBufTraces, maxBufSpan int
	maxHeld                  int // buffered + in flight
	maxHeap, baseHeap        uint64
}

func startSampler(exp *exporter.Exporter, every time.Duration) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.baseHeap = ms.HeapInuse
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		n := 0
		for {
			st := exp.Stats()
			s.mu.Lock()
			s.samples++
			s.maxBufTraces = max(s.maxBufTraces, st.BufferedTraces)
			s.maxBufSpan = max(s.maxBufSpan, st.BufferedSpans)
			s.maxHeld = max(s.maxHeld, st.BufferedSpans+st.InFlightSpans)
			s.mu.Unlock()
			if n%5 == 0 { // ReadMemStats stops the world: not every tick
				runtime.ReadMemStats(&ms)
				s.mu.Lock()
				s.maxHeap = max(s.maxHeap, ms.HeapInuse)
				s.mu.Unlock()
			}
			n++
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) finish() *sampler {
	close(s.stop)
	<-s.done
	return s
}

func (s *sampler) String() string {
	return fmt.Sprintf("%d samples: max buffered %d traces / %d spans, max held (buffered+in flight) %d spans, heap in use %.1f MiB → max %.1f MiB",
		s.samples, s.maxBufTraces, s.maxBufSpan, s.maxHeld, float64(s.baseHeap)/(1<<20), float64(s.maxHeap)/(1<<20))
}

// ── HTTP observation ───────────────────────────────────────────────────────

// attempt is one HTTP request the exporter made, as its transport saw it.
type attempt struct {
	method, path string
	body         string
	status       int // 0: no answer
	start, end   time.Time
}

// recorder is an HTTP transport that notes every attempt.
type recorder struct {
	base http.RoundTripper

	mu       sync.Mutex
	attempts []attempt
}

func newRecorder() *recorder {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = 64, 64, 64
	return &recorder{base: tr}
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		_ = req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	a := attempt{method: req.Method, path: req.URL.Path, body: string(body), start: time.Now()}
	resp, err := r.base.RoundTrip(req)
	a.end = time.Now()
	if err == nil {
		a.status = resp.StatusCode
	}
	r.mu.Lock()
	r.attempts = append(r.attempts, a)
	r.mu.Unlock()
	return resp, err
}

func (r *recorder) all() []attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]attempt(nil), r.attempts...)
	sort.Slice(out, func(i, j int) bool { return out[i].start.Before(out[j].start) })
	return out
}

// key identifies the operation an attempt belongs to: creates carry their
// ids in the body, closes and ends in the path.
func (a attempt) key() string { return a.method + " " + a.path + " " + a.body }
