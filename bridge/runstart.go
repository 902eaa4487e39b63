package bridge

import (
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
)

// RunStart returns what starting the run of a local root span needs, from
// the root as it is when it starts: its agent and the run-creation body
// (trigger, user). A sender that starts runs early, when their roots
// start, uses it; the plan of the finished run then only adds to that run.
// Attributes set on the root after it started cannot change the run's
// trigger or user any more; its status, message and metadata are still
// set when it ends.
func (t *Translator) RunStart(root sdktrace.ReadOnlySpan) (AgentSpec, wire.StartRunRequest, []Issue) {
	log := &issueLog{}
	b := &builder{t: t, z: sanitizer{t: t, issues: log}, log: log}
	agent := t.agent(root.Resource(), log)
	return agent, b.start(root), log.issues()
}
