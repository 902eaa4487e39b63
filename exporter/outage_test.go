package exporter

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/bridge"
	"github.com/ezopotel/ezop-otel-go/ezoptest"
)

// outageRetry is a per-request budget far shorter than the outages below:
// without outage handling every request would give up during them.
var outageRetry = RetryConfig{Enabled: true, InitialInterval: 5 * time.Millisecond, MaxInterval: 50 * time.Millisecond, MaxElapsedTime: time.Second}

// agentTrace makes trace i of an agent: an LLM call, a tool call (every
// fifth fails), an invocation of another agent (a child run with its own
// LLM call), and a span that ends after its root. It returns at once; the
// late span ends in the background (wg).
func agentTrace(tr trace.Tracer, i int, pad string, wg *sync.WaitGroup) {
	ctx, root := tr.Start(context.Background(), fmt.Sprintf("handle %d", i))
	_, llm := tr.Start(ctx, "chat gpt-4o", trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", "gpt-4o"),
		attribute.Int("gen_ai.usage.input_tokens", 100+i), attribute.Int("gen_ai.usage.output_tokens", 10), attribute.String("app.pad", pad)))
	llm.End()
	_, tool := tr.Start(ctx, "execute_tool lookup", trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "execute_tool"), attribute.String("gen_ai.tool.name", "lookup")))
	if i%5 == 0 {
		tool.SetStatus(codes.Error, "lookup failed")
	}
	tool.End()
	ictx, inv := tr.Start(ctx, "invoke_agent helper", trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "invoke_agent"), attribute.String("gen_ai.agent.name", "helper-agent")))
	_, sub := tr.Start(ictx, "chat small", trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", "small"),
		attribute.Int("gen_ai.usage.input_tokens", 7), attribute.Int("gen_ai.usage.output_tokens", 3)))
	sub.End()
	inv.End()
	_, late := tr.Start(ctx, "late")
	root.End()
	wg.Go(func() {
		time.Sleep(20 * time.Millisecond)
		late.End()
	})
}

// outageRig is an agent program (live runs, the batching processor, a
// recorder of what it produced) reporting to an emulator that can go down
// and come back on the same address with the same data.
type outageRig struct {
	t   *testing.T
	e   *env
	tp  *sdktrace.TracerProvider
	rec *tracetest.SpanRecorder
	wg  sync.WaitGroup
	srv atomic.Pointer[ezoptest.Server]
	old []*ezoptest.Server
}

func newOutageRig(t *testing.T, opts ...Option) *outageRig {
	r := &outageRig{t: t, rec: tracetest.NewSpanRecorder()}
	r.e = newEnv(t, nil, append([]Option{WithRetry(outageRetry), WithConcurrency(8)}, opts...)...)
	r.srv.Store(r.e.srv)
	r.tp = sdktrace.NewTracerProvider(
		sdktrace.WithResource(testResource),
		sdktrace.WithSpanProcessor(r.e.exp.LiveProcessor()),
		sdktrace.WithSpanProcessor(r.rec),
		sdktrace.WithBatcher(r.e.exp, sdktrace.WithBatchTimeout(20*time.Millisecond), sdktrace.WithMaxQueueSize(1<<15)),
	)
	return r
}

// down stops the emulator (connections refused) for d, then starts a new
// one on its address with its data.
func (r *outageRig) down(d time.Duration) {
	old := r.srv.Load()
	old.Close()
	r.old = append(r.old, old)
	time.Sleep(d)
	srv, err := ezoptest.Start(old.Addr(), ezoptest.WithAPIKey(old.APIKey), ezoptest.WithDataFrom(old))
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(srv.Close)
	r.srv.Store(srv)
}

// finish ends the workload and shuts the provider down within d.
func (r *outageRig) finish(d time.Duration) error {
	r.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return r.tp.Shutdown(ctx)
}

// check compares what the emulator holds with what the program produced:
// every span exactly once, every run ended, and the exporter's counts.
func (r *outageRig) check(traces int) Stats {
	t := r.t
	srv := r.srv.Load()
	produced := map[string]string{}
	for _, s := range r.rec.Ended() {
		produced[bridge.SpanUUID(s.SpanContext().TraceID(), s.SpanContext().SpanID())] = s.Name()
	}
	stored := map[string]bool{}
	for _, sp := range srv.AllSpans() {
		if stored[sp.ID] {
			t.Errorf("span %s stored twice", sp.ID)
		}
		stored[sp.ID] = true
		if _, ok := produced[sp.ID]; !ok {
			t.Errorf("span %s (%s) was never produced", sp.ID, deref(sp.Name))
		}
	}
	var missing []string
	for id, name := range produced {
		if !stored[id] {
			missing = append(missing, name)
		}
	}
	st := r.e.exp.Stats()
	if int64(len(missing)) != st.SpansDropped {
		t.Errorf("%d spans missing (%v…), %d counted as dropped (%v)", len(missing), first(missing, 5), st.SpansDropped, st.Dropped)
	}
	runs := srv.Runs()
	for _, run := range runs {
		if run.Status == "running" {
			t.Errorf("run %s left running", run.ID)
		}
	}
	if len(runs) != 2*traces || st.RunsStarted != int64(len(runs)) || st.RunsEnded != st.RunsStarted {
		t.Errorf("%d runs for %d traces (want a run and a child run each); started %d, ended %d", len(runs), traces, st.RunsStarted, st.RunsEnded)
	}
	// Only repeats of creates an earlier server stored before it went
	// down are refused (500, duplicate id); the exporter counts them as
	// stored, rightly.
	for _, s := range append(r.old, srv) {
		for _, rj := range s.Rejected() {
			if rj.Status != http.StatusInternalServerError || (rj.Endpoint != ezoptest.EndpointCreateSpan && rj.Endpoint != ezoptest.EndpointEmitEvent) {
				t.Errorf("unexpected rejection: %s", rj)
			}
		}
	}
	return st
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

// An outage far longer than the per-request budget, at random points of a
// workload with live runs, child runs and late spans: nothing is lost,
// every run ends once, nothing is reported dropped. EZOP_OUTAGE_SECONDS
// sets the outage's length (default 2.5s, over twice the budget; the
// closing measurement used 300).
func TestOutageLosesNothing(t *testing.T) {
	down, workers, pace := 2500*time.Millisecond, 3, 15*time.Millisecond
	if v, err := strconv.ParseFloat(os.Getenv("EZOP_OUTAGE_SECONDS"), 64); err == nil && v > 0 {
		// A long outage with an agent's pace (five traces a second): what
		// it holds stays within the default bounds.
		down, workers, pace = time.Duration(v*float64(time.Second)), 1, 200*time.Millisecond
	}
	for seed := range uint64(2) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 5))
			r := newOutageRig(t)
			tr := r.tp.Tracer("agent")
			stop := make(chan struct{})
			var traces atomic.Int64
			var group sync.WaitGroup
			for range workers {
				group.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						agentTrace(tr, int(traces.Add(1)), "", &r.wg)
						time.Sleep(pace)
					}
				})
			}
			// What the exporter holds through the outage, and the heap.
			var peakHeld, peakHeap atomic.Uint64
			sampled := make(chan struct{})
			go func() {
				defer close(sampled)
				var ms runtime.MemStats
				for {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
					}
					st := r.e.exp.Stats()
					peakHeld.Store(max(peakHeld.Load(), uint64(st.BufferedBytes+st.InFlightBytes)))
					runtime.ReadMemStats(&ms)
					peakHeap.Store(max(peakHeap.Load(), ms.HeapAlloc))
				}
			}()
			time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
			r.down(down)
			time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond)
			close(stop)
			group.Wait()
			<-sampled
			if err := r.finish(time.Minute); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			st := r.check(int(traces.Load()))
			if st.SpansDropped != 0 || st.EventsDropped != 0 {
				t.Errorf("dropped: %v", st.Dropped)
			}
			if n := r.e.exp.api.Stats().Outages; n < 1 {
				t.Errorf("%d outages noticed", n)
			}
			var notices []*OutageNotice
			for _, err := range r.e.log.all() {
				var n *OutageNotice
				if errors.As(err, &n) {
					notices = append(notices, n)
				}
				var d *DropError
				if errors.As(err, &d) {
					t.Errorf("drop reported: %v", d)
				}
			}
			if len(notices) != 2*int(r.e.exp.api.Stats().Outages) || !notices[0].Down || notices[len(notices)-1].Down {
				t.Errorf("outage notices %v: want one when it starts and one when it ends", notices)
			}
			t.Logf("%d traces; outage %v; %d requests, %d retried; %d probes; peak held %d KiB, peak heap %d MiB",
				traces.Load(), down, st.Requests, st.RequestsRetried, r.e.exp.api.Stats().Probes, peakHeld.Load()>>10, peakHeap.Load()>>20)
		})
	}
}

// Through a long outage the exporter holds at most WithMaxBufferedBytes;
// what goes over it is dropped and counted, the rest arrives, and only
// what was counted is missing.
func TestOutageMemoryBounded(t *testing.T) {
	const bound = 256 << 10
	r := newOutageRig(t, WithMaxBufferedBytes(bound))
	tr := r.tp.Tracer("agent")
	var peak atomic.Int64
	sample := make(chan struct{})
	go func() {
		defer close(sample)
		for range 200 {
			st := r.e.exp.Stats()
			peak.Store(max(peak.Load(), int64(st.BufferedBytes+st.InFlightBytes)))
			time.Sleep(5 * time.Millisecond)
		}
	}()
	pad := strings.Repeat("x", 4<<10)
	traces := 0
	go func() {
		time.Sleep(50 * time.Millisecond)
		r.down(800 * time.Millisecond)
	}()
	for range 150 { // about 3 MiB while the server is down
		traces++
		agentTrace(tr, traces, pad, &r.wg)
		time.Sleep(5 * time.Millisecond)
	}
	<-sample
	time.Sleep(time.Second) // the server is back
	if err := r.finish(time.Minute); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if p := peak.Load(); p > bound+16<<10 {
		t.Errorf("held %d bytes, bound %d", p, bound)
	}
	st := r.e.exp.Stats()
	if st.Dropped["span: "+reasonMaxBytes] == 0 {
		t.Errorf("nothing dropped for the bytes bound: %v (the test did not reach it)", st.Dropped)
	}
	// Runs whose root was dropped end without it, or never start: exact
	// span counts still hold.
	srv := r.srv.Load()
	produced := map[string]bool{}
	for _, s := range r.rec.Ended() {
		produced[bridge.SpanUUID(s.SpanContext().TraceID(), s.SpanContext().SpanID())] = true
	}
	stored := 0
	for _, sp := range srv.AllSpans() {
		if produced[sp.ID] {
			stored++
		}
	}
	// A live root dropped after its span was stored at its start counts
	// under "span: end time: …": stored, without its end.
	var endTimes int64
	for reason, n := range st.Dropped {
		if strings.HasPrefix(reason, "span: end time") {
			endTimes += n
		}
	}
	if int64(len(produced)-stored) != st.SpansDropped-endTimes {
		t.Errorf("%d of %d spans missing, %d counted as dropped (%v)", len(produced)-stored, len(produced), st.SpansDropped, st.Dropped)
	}
	for _, run := range srv.Runs() {
		if run.Status == "running" {
			t.Errorf("run %s left running", run.ID)
		}
	}
	t.Logf("peak held %d bytes (bound %d); dropped %v", peak.Load(), bound, st.Dropped)
}

// ForceFlush and Shutdown during an outage wait within their contexts,
// then say what is left: Shutdown counts it, by reason.
func TestOutageShutdownCountsWhatIsLeft(t *testing.T) {
	r := newOutageRig(t)
	tr := r.tp.Tracer("agent")
	for i := range 5 {
		agentTrace(tr, i, "", &r.wg)
	}
	r.wg.Wait()
	if err := r.tp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.srv.Load().Close()
	for i := 5; i < 10; i++ {
		agentTrace(tr, i, "", &r.wg)
	}
	r.wg.Wait()
	// The provider hands everything over at once: the exporter holds it.
	start := time.Now()
	if err := r.tp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("ForceFlush of the provider took %v through an outage", took)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	err := r.e.exp.ForceFlush(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("exporter ForceFlush during an outage: %v, want its deadline", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 500*time.Millisecond)
	start = time.Now()
	err = r.e.exp.Shutdown(ctx)
	cancel()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Shutdown took %v with a 500ms deadline", took)
	}
	if err == nil || !strings.Contains(err.Error(), "not delivered") {
		t.Errorf("Shutdown: %v, want what was not delivered", err)
	}
	st := r.e.exp.Stats()
	if st.InFlightSpans != 0 || st.BufferedSpans != 0 {
		t.Errorf("after Shutdown: %+v", st)
	}
	if st.SpansDropped == 0 || st.Dropped["span: shutdown deadline passed"] == 0 {
		t.Errorf("dropped %v: want the held spans counted as lost at the deadline", st.Dropped)
	}
	t.Logf("dropped %v", st.Dropped)
}
