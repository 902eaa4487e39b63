package bridge_test

import (
	"sort"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/bridge"
	"github.com/ezopotel/ezop-otel-go/internal/fixtures"
	"github.com/ezopotel/ezop-otel-go/internal/fixtures/fixturecheck"
)

// The recordings of real instrumentation (internal/fixtures), translated
// as the exporter would (one RunState per local root, the whole trace in
// the part that brings its root), against their ground truth less the
// instrumentation's own gaps (fixturecheck.Gaps).
func TestRecordings(t *testing.T) {
	recs, err := fixtures.All()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 {
		t.Fatal("no recordings")
	}
	for _, rec := range recs {
		for _, capture := range []bool{true, false} {
			name := rec.Framework + "/" + rec.Scenario + map[bool]string{true: "/capture", false: "/nocapture"}[capture]
			t.Run(name, func(t *testing.T) {
				spans, err := rec.Spans()
				if err != nil {
					t.Fatal(err)
				}
				runs := translateRecording(t, capture, [][]sdktrace.ReadOnlySpan{spans}, false)
				fixturecheck.Check(t, rec, runs, fixturecheck.Options{CaptureContent: capture})
			})
		}
	}
}

// The same recordings delivered in parts as spans ended, the run started
// early from its root (live runs, a run longer than the root wait): a part
// holds the spans that ended within a millisecond of its first, as a
// batching processor delivers spans ending together. What the translation
// remembers across parts (wrappers, propagated errors, agent scopes)
// gives the same calls, tokens, tools and errors. (The tree may differ: a
// span that ends before its parent is translated without it. A parent
// that ends before its child, as the AI SDK's outer embeddings span does
// by half a millisecond, must come in the child's part to be told apart.)
func TestRecordingsInParts(t *testing.T) {
	recs, err := fixtures.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		t.Run(rec.Framework+"/"+rec.Scenario, func(t *testing.T) {
			spans, err := rec.Spans()
			if err != nil {
				t.Fatal(err)
			}
			sort.SliceStable(spans, func(i, j int) bool { return spans[i].EndTime().Before(spans[j].EndTime()) })
			var parts [][]sdktrace.ReadOnlySpan
			for i, s := range spans {
				if i == 0 || s.EndTime().Sub(parts[len(parts)-1][0].EndTime()) > time.Millisecond {
					parts = append(parts, nil)
				}
				parts[len(parts)-1] = append(parts[len(parts)-1], s)
			}
			runs := translateRecording(t, true, parts, true)
			exp := fixturecheck.Expected(rec)
			got := fixturecheck.Observe(runs)
			want := exp.Counts()
			if got != want {
				t.Errorf("in %d parts: %+v\nwant %+v", len(parts), got, want)
			}
		})
	}
}

// translateRecording translates parts of recorded spans in order, one
// RunState per local root, checking every plan against the contract, and
// returns the runs Ezop would store. live starts each run from its root
// first (RunStart).
func translateRecording(t *testing.T, capture bool, parts [][]sdktrace.ReadOnlySpan, live bool) []fixturecheck.Run {
	t.Helper()
	tr := bridge.NewTranslator(bridge.Config{CaptureContent: &capture, Owner: "fixtures"})
	var all []sdktrace.ReadOnlySpan
	for _, p := range parts {
		all = append(all, p...)
	}
	rootOf := localRoots(all)
	states := map[trace.SpanID]*bridge.RunState{}
	checks := map[trace.SpanID]func(bridge.RunPlan) []string{}
	var order []trace.SpanID
	state := func(root trace.SpanID) *bridge.RunState {
		if st := states[root]; st != nil {
			return st
		}
		states[root] = &bridge.RunState{}
		checks[root] = bridge.NewPlanValidator()
		order = append(order, root)
		return states[root]
	}
	var ps fixturecheck.Plans
	apply := func(root trace.SpanID, p bridge.RunPlan, start bool) {
		// With live runs the root span is created by the run start and
		// closed by the plan of the finished root, which the validator
		// (of whole plans) does not follow: it checks the other case.
		if live {
		} else if errs := checks[root](p); len(errs) > 0 {
			t.Fatalf("plan breaks the contract:\n  %s", strings.Join(errs, "\n  "))
		}
		for _, is := range p.Issues {
			if is.Kind == bridge.Dropped && is.Reason != bridge.ReasonContentNotCaptured && is.Reason != "duplicate span id" {
				t.Errorf("dropped: %+v", is)
			}
		}
		ps.Add(root.String(), p)
	}
	if live {
		for _, s := range all {
			if bridge.IsLocalRoot(s) {
				id := s.SpanContext().SpanID()
				apply(id, tr.RunStart(state(id), s), true)
			}
		}
	}
	for _, part := range parts {
		groups := map[trace.SpanID][]sdktrace.ReadOnlySpan{}
		var keys []trace.SpanID
		for _, s := range part {
			r := rootOf[s.SpanContext().SpanID()]
			if groups[r] == nil {
				keys = append(keys, r)
			}
			groups[r] = append(groups[r], s)
		}
		for _, r := range keys {
			apply(r, tr.Translate(state(r), groups[r]), false)
		}
	}
	for _, r := range order {
		if !states[r].RootSeen() {
			t.Errorf("run of root %s never ended", r)
		}
	}
	return ps.Runs()
}

// localRoots maps every span to its local root.
func localRoots(spans []sdktrace.ReadOnlySpan) map[trace.SpanID]trace.SpanID {
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byID[s.SpanContext().SpanID()] = s
	}
	out := map[trace.SpanID]trace.SpanID{}
	for _, s := range spans {
		cur := s
		for i := 0; i < len(spans) && !bridge.IsLocalRoot(cur); i++ {
			p, ok := byID[cur.Parent().SpanID()]
			if !ok {
				break
			}
			cur = p
		}
		out[s.SpanContext().SpanID()] = cur.SpanContext().SpanID()
	}
	return out
}
