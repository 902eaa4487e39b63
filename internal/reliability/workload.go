// Package reliability holds the exporter's reliability suite (issue 5): a
// realistic agent workload runs through a real TracerProvider with a
// BatchSpanProcessor and the exporter into the ezoptest emulator while a
// fault is injected, and the suite then compares what the emulator stored
// with what the program produced, span by span and event by event.
//
// The package itself is only the workload generator ([Workload]); the
// scenarios are its tests:
//
//	go test -race ./internal/reliability/                      # CI: short outages
//	go test -race ./internal/reliability/ -reliability.long    # the 10 s outage
//
// The benchmarks in internal/benchmarks use the same generator for their
// trace shape.
package reliability

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Kinds of span the workload makes. KindKey carries the kind on every span
// so that a test can check the category the exporter gave it.
const (
	KindLLM       = "llm"       // a chat call: model, provider, token usage
	KindTool      = "tool"      // a tool execution, failing now and then
	KindRetrieval = "retrieval" // a memory look-up
	KindStep      = "step"      // a plain span of the agent's own code
	KindRoot      = "root"      // the trace's root: invoke_agent
)

// KindKey is the span attribute naming the workload kind of a span.
const KindKey = attribute.Key("workload.kind")

// Route is the http.route of every root span (runs get trigger type api).
// It is the same for all traces on purpose: identical run-creation
// requests are the hardest case for the client's duplicate-safe StartRun.
const Route = "/v1/agent/respond"

// Workload produces agent-like traces: a root span (an invoke_agent server
// span) with Spans descendants nested up to Depth below it, each of them an
// LLM call, a tool call, a memory retrieval or a plain step with GenAI
// attributes, Attrs attributes and Events span events per span. The first
// three descendants always form a chain, so every trace reaches depth 3
// when Spans ≥ 3 and Depth ≥ 3. Trace i is the same for a given Seed.
type Workload struct {
	// Traces is how many traces to produce, Workers how many goroutines
	// produce them at once (default 1).
	Traces, Workers int
	// Spans per trace besides the root (default 9); Depth the deepest level
	// below the root (default 3).
	Spans, Depth int
	// Attrs is the number of attributes per span (at least the GenAI ones;
	// default 8), Events the number of span events per span (default 2).
	Attrs, Events int
	// Pace pauses each trace after every span's end, so that the traces
	// of the workers interleave in time; 0 does not pause.
	Pace time.Duration
	// Seed selects the shapes; First is the index of the first trace
	// (different phases of one test use different ranges).
	Seed  uint64
	First int
	// OpenRoots leaves every root span running (never ended).
	OpenRoots bool
	// FailEvery makes every FailEvery-th root end with an Error status and
	// every FailEvery-th tool call fail (0: none).
	FailEvery int
	// Stop, when set, ends the workload early once it is closed.
	Stop <-chan struct{}
}

// Result is what a workload did.
type Result struct {
	// Traces started, Spans ended (roots included), Events added to ended
	// spans.
	Traces, Spans, Events int
	// Elapsed is the wall time of Run.
	Elapsed time.Duration
	// MaxOp and MeanOp are the longest and the mean time one Start or End
	// call took in the instrumented goroutine.
	MaxOp, MeanOp time.Duration
}

func (w Workload) withDefaults() Workload {
	if w.Workers <= 0 {
		w.Workers = 1
	}
	if w.Spans <= 0 {
		w.Spans = 9
	}
	if w.Depth <= 0 {
		w.Depth = 3
	}
	if w.Attrs <= 0 {
		w.Attrs = 8
	}
	if w.Events < 0 {
		w.Events = 0
	} else if w.Events == 0 {
		w.Events = 2
	}
	return w
}

// Run produces the workload's traces with tr and returns once every worker
// is done.
func (w Workload) Run(ctx context.Context, tr trace.Tracer) Result {
	w = w.withDefaults()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	results := make([]Result, w.Workers)
	for k := range w.Workers {
		wg.Go(func() {
			r := &results[k]
			var ops time.Duration
			var nops int
			for {
				if w.Stop != nil {
					select {
					case <-w.Stop:
						return
					default:
					}
				}
				i := int(next.Add(1)) - 1
				if i >= w.Traces {
					break
				}
				t := w.Trace(ctx, tr, w.First+i)
				r.Traces++
				r.Spans += t.Spans
				r.Events += t.Events
				r.MaxOp = max(r.MaxOp, t.MaxOp)
				ops += t.opTotal
				nops += t.ops
			}
			if nops > 0 {
				r.MeanOp = ops / time.Duration(nops)
			}
		})
	}
	wg.Wait()
	var out Result
	var meanSum time.Duration
	for _, r := range results {
		out.Traces += r.Traces
		out.Spans += r.Spans
		out.Events += r.Events
		out.MaxOp = max(out.MaxOp, r.MaxOp)
		meanSum += r.MeanOp
	}
	out.MeanOp = meanSum / time.Duration(len(results))
	out.Elapsed = time.Since(start)
	return out
}

// TraceResult is what one trace did.
type TraceResult struct {
	Spans, Events int // ended spans and their events
	MaxOp         time.Duration
	ops           int
	opTotal       time.Duration
}

// node is one span of a planned trace.
type node struct {
	kind     string
	depth    int
	children []int
}

// plan draws the shape of trace i.
func (w Workload) plan(i int) []node {
	rng := rand.New(rand.NewPCG(w.Seed, uint64(i)))
	nodes := make([]node, 1, w.Spans+1)
	nodes[0] = node{kind: KindRoot}
	kinds := []string{KindLLM, KindLLM, KindTool, KindTool, KindRetrieval, KindStep}
	for c := range w.Spans {
		var parent int
		switch {
		case c < 3 && c < w.Depth:
			parent = c // the chain root → 1 → 2 → 3
		default:
			var eligible []int
			for p := range nodes {
				if nodes[p].depth < w.Depth {
					eligible = append(eligible, p)
				}
			}
			parent = eligible[rng.IntN(len(eligible))]
		}
		kind := kinds[rng.IntN(len(kinds))]
		if c < 2 {
			kind = KindStep // the chain's inner spans are the agent's steps
		}
		nodes = append(nodes, node{kind: kind, depth: nodes[parent].depth + 1})
		nodes[parent].children = append(nodes[parent].children, len(nodes)-1)
	}
	return nodes
}

// Trace produces trace i of the workload and returns once its spans ended
// (all but the root with OpenRoots).
func (w Workload) Trace(ctx context.Context, tr trace.Tracer, i int) TraceResult {
	w = w.withDefaults()
	nodes := w.plan(i)
	var res TraceResult
	timed := func(f func()) {
		t0 := time.Now()
		f()
		d := time.Since(t0)
		res.ops++
		res.opTotal += d
		res.MaxOp = max(res.MaxOp, d)
	}
	var do func(ctx context.Context, n int, seq int)
	do = func(ctx context.Context, n int, seq int) {
		nd := nodes[n]
		name, kind, attrs := w.attributes(nd.kind, i, n)
		var span trace.Span
		timed(func() {
			ctx, span = tr.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
		})
		failTool := nd.kind == KindTool && w.FailEvery > 0 && (i+n)%w.FailEvery == 0
		for e := range w.Events {
			if failTool && e == w.Events-1 {
				span.RecordError(errors.New("tool timed out after 30s"), trace.WithAttributes(attribute.Int("attempt", 1)))
				continue
			}
			span.AddEvent(eventName(nd.kind, e), trace.WithAttributes(
				attribute.Int("step", e),
				attribute.String("note", fmt.Sprintf("trace %d span %d event %d", i, n, e)),
			))
		}
		for k, c := range nd.children {
			do(ctx, c, k)
		}
		if failTool {
			span.SetStatus(codes.Error, "tool timed out")
		}
		if n == 0 {
			if w.FailEvery > 0 && i%w.FailEvery == 0 {
				span.SetStatus(codes.Error, "could not answer the request")
			}
			if w.OpenRoots {
				return // never ends
			}
		}
		timed(func() { span.End() })
		res.Spans++
		res.Events += w.Events
		if w.Pace > 0 {
			time.Sleep(w.Pace)
		}
	}
	do(ctx, 0, 0)
	return res
}

func eventName(kind string, e int) string {
	switch {
	case kind == KindLLM && e == 0:
		return "gen_ai.user.message"
	case kind == KindRetrieval && e == 0:
		return "cache.lookup"
	}
	return "progress"
}

// attributes returns the name, kind and attributes of span n of trace i.
func (w Workload) attributes(kind string, i, n int) (string, trace.SpanKind, []attribute.KeyValue) {
	var name string
	sk := trace.SpanKindInternal
	var a []attribute.KeyValue
	switch kind {
	case KindRoot:
		name, sk = "invoke_agent support-agent", trace.SpanKindServer
		a = []attribute.KeyValue{
			attribute.String("gen_ai.operation.name", "invoke_agent"),
			attribute.String("gen_ai.agent.name", "support-agent"),
			attribute.String("http.route", Route),
			attribute.String("http.request.method", "POST"),
		}
	case KindLLM:
		name, sk = "chat gpt-4o-mini", trace.SpanKindClient
		a = []attribute.KeyValue{
			attribute.String("gen_ai.operation.name", "chat"),
			attribute.String("gen_ai.provider.name", "openai"),
			attribute.String("gen_ai.request.model", "gpt-4o-mini"),
			attribute.Int("gen_ai.usage.input_tokens", 100+n),
			attribute.Int("gen_ai.usage.output_tokens", 20+i%50),
			attribute.StringSlice("gen_ai.response.finish_reasons", []string{"stop"}),
		}
	case KindTool:
		name = "execute_tool search_docs"
		a = []attribute.KeyValue{
			attribute.String("gen_ai.operation.name", "execute_tool"),
			attribute.String("gen_ai.tool.name", "search_docs"),
			attribute.String("gen_ai.tool.call.id", fmt.Sprintf("call_%d_%d", i, n)),
		}
	case KindRetrieval:
		name = "retrieval knowledge-base"
		a = []attribute.KeyValue{
			attribute.String("gen_ai.operation.name", "retrieval"),
			attribute.String("gen_ai.data_source.id", "kb-main"),
		}
	default:
		name = fmt.Sprintf("step %d", n)
		a = []attribute.KeyValue{attribute.Int("app.step", n)}
	}
	a = append(a, KindKey.String(kind))
	for k := 0; len(a) < w.Attrs; k++ {
		a = append(a, attribute.String(fmt.Sprintf("app.attr_%d", k), fmt.Sprintf("value-%d-%d", i, n)))
	}
	return name, sk, a
}
