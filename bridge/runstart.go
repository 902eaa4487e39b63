package bridge

import (
	"strings"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

// RunStart plans the start of the run of a local root span from the root
// as it is when it starts, for a sender that starts runs early (live
// runs): the agent, the run-creation body (trigger, user) and the creation
// of the root's Ezop span, which the run's other spans hang under. The
// plan has no close and no end: the plan of the finished root (Translate,
// with the same state) closes the root span, adds its events and ends the
// run. Attributes set on the root after it started cannot change the
// run's trigger or user, nor the root span's metadata; the run's status,
// message and metadata are still set when the root ends.
func (t *Translator) RunStart(state *RunState, root sdktrace.ReadOnlySpan) RunPlan {
	log := &issueLog{}
	b := &builder{t: t, z: sanitizer{t: t, issues: log}, log: log, traceID: root.SpanContext().TraceID()}
	state.init()
	id := root.SpanContext().SpanID()
	plan := RunPlan{TraceID: b.traceID, RootSpanID: id, Agent: t.agent(root.Resource(), log), Start: b.start(root)}
	if !state.run.rootSeen && !state.run.rootStarted {
		state.run.rootID, state.run.rootStarted = id, true
		class := classify(newAttrs(root.Attributes()), log)
		op := b.createOp(root, class, "", true)
		op.Root = true // not closed: the root has not ended
		plan.Spans = []SpanOp{op}
	}
	plan.Issues = log.issues()
	return plan
}

// EndIncomplete returns the end of a run whose root span never reached the
// translation (the batching processor dropped it, or the program stopped
// before it ended): status failed, since nothing says how the run went,
// with why as its message and the totals of what was translated.
func (t *Translator) EndIncomplete(state *RunState, why string) wire.EndRunRequest {
	log := &issueLog{}
	z := sanitizer{t: t, issues: log}
	msg := z.str(strings.TrimSpace(why))
	return wire.EndRunRequest{
		Status:  string(semconv.RunStatusFailed),
		Message: &msg,
		Metadata: wire.Object{
			"totals":    state.run.totals.object(),
			"ezop_otel": wire.Object{"incomplete": true, "reason": msg},
		},
	}
}
