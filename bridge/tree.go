package bridge

import (
	"sort"
	"strings"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

// What the span tree says about a span, beyond its own attributes. Two
// rules read a span's descendants:
//
// Wrapper: one model call is one llm_response. An LLM span with an LLM
// span below it (not below a tool or an agent invocation in between,
// whose model calls are their own) only aggregates its children: the AI
// SDK's ai.generateText over ai.generateText.doGenerate, ai.embed over
// ai.embed.doEmbed, the @ai-sdk/otel outer embeddings span over the inner
// one, ADK Python's call_llm over generate_content, an instrumented
// client under a framework's model span. It gets no llm_response and adds
// nothing to the run's totals; its span and metadata stay.
//
// Propagation: one failure is one error, at its source. A span fails when
// its status is Error or it recorded an exception event; its message is
// its status description, else its first exception's message. A failing
// span with a failing descendant propagates that failure, rather than
// failing for its own reason, when
//
//   - it has no message of its own, or
//   - its message contains the message of a failing descendant (Genkit's
//     "tool \"lookup_order\" failed: … order service unavailable"), or
//   - it is a Genkit span in state error not marked
//     genkit:isFailureSource (Genkit JS marks only the source).
//
// A propagating span gets no error_raised: its exception events become
// system events (metadata propagated_error true) and its Error status adds
// none. It still fails: a propagating tool's tool_call_failed, an LLM
// span's llm_error subtype and a root's failed run stay. A span that
// fails with a message of its own after a handled failure below it is a
// source too.
//
// Spans reach the translation children before parents, often over several
// parts: what a translated span tells its parent waits in RunState
// (bounded, see maxPendingFacts) until the parent comes. A parent
// translated before its children cannot be told; it is judged by what was
// seen.

// verdict is what the tree says about one span of a translation.
type verdict struct {
	wrapper    bool
	propagated bool
}

// subtreeFacts is what the translated descendants of a span (not yet
// translated) tell it.
type subtreeFacts struct {
	llmBelow bool
	// inputTokens and outputTokens sum the usage of the nearest LLM calls
	// below; hasInput and hasOutput say whether any reported it.
	inputTokens, outputTokens int64
	hasInput, hasOutput       bool
	failedBelow               bool
	// failures fingerprint the messages of failing descendants, at most
	// maxFailurePrints, so that containment can be checked without
	// keeping the text.
	failures []msgPrint
}

const (
	// maxPendingFacts bounds the spans whose descendants' facts wait for
	// them in a RunState.
	maxPendingFacts = 10000
	// maxFailurePrints bounds the failure fingerprints per pending span.
	maxFailurePrints = 4
)

// msgPrint is a fingerprint of a message: its length and a polynomial
// hash, which a rolling hash finds inside a longer message.
type msgPrint struct {
	n int
	h uint64
}

const printBase = 1099511628211

func printOf(s string) msgPrint {
	var h uint64
	for i := 0; i < len(s); i++ {
		h = h*printBase + uint64(s[i])
	}
	return msgPrint{len(s), h}
}

// containsPrint reports whether s has a substring with fingerprint p.
func containsPrint(s string, p msgPrint) bool {
	if p.n == 0 || p.n > len(s) {
		return false
	}
	var h, pow uint64 = 0, 1
	for i := 0; i < p.n; i++ {
		h = h*printBase + uint64(s[i])
		pow *= printBase
	}
	if h == p.h {
		return true
	}
	for i := p.n; i < len(s); i++ {
		h = h*printBase + uint64(s[i]) - uint64(s[i-p.n])*pow
		if h == p.h {
			return true
		}
	}
	return false
}

// failureOf says whether s failed and with which message.
func failureOf(s sdktrace.ReadOnlySpan) (bool, string) {
	failed := s.Status().Code == codes.Error
	msg := ""
	if failed {
		msg = strings.TrimSpace(s.Status().Description)
	}
	for _, e := range s.Events() {
		if e.Name != exceptionEventName {
			continue
		}
		failed = true
		if msg == "" {
			if m, ok := newAttrs(e.Attributes).str(keyExceptionMessage); ok {
				msg = strings.TrimSpace(m)
			}
		}
		break
	}
	return failed, msg
}

// analyze returns the verdicts of the spans of one translation, children
// before parents, and leaves what they tell parents not in it in state.
// rootDone says the run's root was translated by an earlier part.
func (b *builder) analyze(state *RunState, spans []sdktrace.ReadOnlySpan, rootDone bool) map[trace.SpanID]verdict {
	byID := make(map[trace.SpanID]sdktrace.ReadOnlySpan, len(spans))
	for _, s := range spans {
		byID[s.SpanContext().SpanID()] = s
	}
	depth := make(map[trace.SpanID]int, len(spans))
	var depthOf func(s sdktrace.ReadOnlySpan, guard int) int
	depthOf = func(s sdktrace.ReadOnlySpan, guard int) int {
		id := s.SpanContext().SpanID()
		if d, ok := depth[id]; ok {
			return d
		}
		d := 0
		if p, ok := localParent(s); ok && guard < len(byID) {
			if ps, in := byID[p]; in {
				d = depthOf(ps, guard+1) + 1
			}
		}
		depth[id] = d
		return d
	}
	order := make([]sdktrace.ReadOnlySpan, len(spans))
	copy(order, spans)
	for _, s := range order {
		depthOf(s, 0)
	}
	sort.SliceStable(order, func(i, j int) bool {
		return depth[order[i].SpanContext().SpanID()] > depth[order[j].SpanContext().SpanID()]
	})

	out := make(map[trace.SpanID]verdict, len(spans))
	for _, s := range order {
		id := s.SpanContext().SpanID()
		f := state.pending[id]
		delete(state.pending, id)
		class := b.classOf(s)
		failed, msg := failureOf(s)
		var v verdict
		if f != nil {
			v.wrapper = class.category == semconv.CategoryLLM && f.llmBelow && b.aggregates(s, f)
			if failed && f.failedBelow {
				v.propagated = msg == "" || genkitPropagated(s)
				for _, p := range f.failures {
					v.propagated = v.propagated || containsPrint(msg, p)
				}
			}
		}
		out[id] = v

		// What s tells its parent.
		var up subtreeFacts
		if f != nil {
			up = *f
		}
		switch {
		case class.category == semconv.CategoryTool || isAgentInvocation(class):
			up.llmBelow, up.inputTokens, up.outputTokens, up.hasInput, up.hasOutput = false, 0, 0, false, false
		case class.category == semconv.CategoryLLM:
			// The nearest LLM call for the spans above: its own usage (a
			// wrapper's is its children's).
			up.llmBelow = true
			up.inputTokens, up.outputTokens, up.hasInput, up.hasOutput = b.usage(s)
		}
		if failed {
			up.failedBelow = true
			if msg != "" {
				up.failures = append([]msgPrint{printOf(msg)}, up.failures...)
				if len(up.failures) > maxFailurePrints {
					up.failures = up.failures[:maxFailurePrints]
				}
			}
		}
		if !up.llmBelow && !up.failedBelow {
			continue
		}
		pid, ok := localParent(s)
		if !ok || pid == id {
			continue
		}
		if _, inPart := byID[pid]; !inPart {
			if _, done := state.owner[pid]; done || (rootDone && pid == state.run.rootID) {
				continue // the parent was translated already
			}
		}
		pf := state.pending[pid]
		if pf == nil {
			if len(state.pending) >= maxPendingFacts {
				b.log.add(Altered, "span tree too large to remember for wrappers and propagated errors: spans judged alone")
				continue
			}
			pf = &subtreeFacts{}
			state.pending[pid] = pf
		}
		pf.llmBelow = pf.llmBelow || up.llmBelow
		pf.inputTokens += up.inputTokens
		pf.outputTokens += up.outputTokens
		pf.hasInput = pf.hasInput || up.hasInput
		pf.hasOutput = pf.hasOutput || up.hasOutput
		pf.failedBelow = pf.failedBelow || up.failedBelow
		for _, p := range up.failures {
			if len(pf.failures) < maxFailurePrints {
				pf.failures = append(pf.failures, p)
			}
		}
	}
	return out
}

// aggregates reports whether LLM span s, with LLM calls below it, only
// aggregates them: it reports no usage of its own, or exactly the sum of
// theirs (the usage it reports).
func (b *builder) aggregates(s sdktrace.ReadOnlySpan, f *subtreeFacts) bool {
	in, out, hasIn, hasOut := b.usage(s)
	switch {
	case !hasIn && !hasOut:
		return true
	case hasIn && (!f.hasInput || in != f.inputTokens):
		return false
	case hasOut && (!f.hasOutput || out != f.outputTokens):
		return false
	}
	return true
}

// usage reads the token counts of an LLM span as llmFacts does, without
// reporting anything (llmFacts reports).
func (b *builder) usage(s sdktrace.ReadOnlySpan) (in, out int64, hasIn, hasOut bool) {
	a := newAttrs(s.Attributes())
	in, hasIn = a.firstInt(inputTokenKeys...)
	out, hasOut = a.firstInt(outputTokenKeys...)
	if !hasIn || !hasOut {
		meta := wire.Object{}
		quiet := &builder{t: b.t, z: sanitizer{t: b.t, issues: &issueLog{}}, log: &issueLog{}}
		quiet.jsonFacts(a, meta)
		if n, ok := meta[metaInputTokens].(int64); ok && !hasIn {
			in, hasIn = n, true
		}
		if n, ok := meta[metaOutputTokens].(int64); ok && !hasOut {
			out, hasOut = n, true
		}
	}
	hasIn = hasIn && in >= 0
	hasOut = hasOut && out >= 0
	return in, out, hasIn, hasOut
}

// genkitPropagated reports a Genkit span in state error that does not say
// it is the failure's source.
func genkitPropagated(s sdktrace.ReadOnlySpan) bool {
	a := newAttrs(s.Attributes())
	if st, ok := a.str(keyGenkitState); !ok || st != "error" {
		return false
	}
	v, ok := a[keyGenkitFailureSource]
	return !ok || v.Emit() != "true"
}

// localParent returns the id of s's parent when it is in this process.
func localParent(s sdktrace.ReadOnlySpan) (trace.SpanID, bool) {
	p := s.Parent()
	if !p.IsValid() || p.IsRemote() {
		return trace.SpanID{}, false
	}
	return p.SpanID(), true
}
