package bridge

import (
	"strconv"

	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
)

// AgentSpec is what the Ezop API needs to register an agent and, when the
// resource names one, its version.
type AgentSpec struct {
	Register wire.RegisterAgentRequest
	// Version is nil when the resource names no version; runs are then
	// created without a version.
	Version *wire.CreateVersionRequest
}

// Key identifies the agent and version for caching registrations: Ezop
// identifies an agent by (name, owner) and a version by (agent, version).
func (a AgentSpec) Key() string {
	// Quoted, so that no value can forge the separators of another.
	v := "-"
	if a.Version != nil {
		v = strconv.Quote(a.Version.Version)
	}
	return strconv.Quote(a.Register.Name) + strconv.Quote(a.Register.Owner) + v
}

// RunPlan is the ordered set of Ezop operations for one run, or for the
// part of it that one translation covers. A sender executes it in this
// order of dependencies:
//
//  1. register Agent (and its version), unless cached;
//  2. start the run with Start (first translation of a run only);
//  3. create each of Spans, each after its ParentID (if any) is stored;
//  4. close each span and emit each of Events, each after the span it
//     names (if any) is stored;
//  5. end the run with End, if not nil, after everything else is accepted.
type RunPlan struct {
	TraceID trace.TraceID
	// RootSpanID is the OTel span id of the run's local root span, zero
	// while the root has not been seen.
	RootSpanID trace.SpanID
	Agent      AgentSpec
	// Start is the run-creation body; the sender fills VersionID. It is
	// meaningful on the first plan of a run (see RunState.Started).
	Start wire.StartRunRequest
	// Spans are ordered parents first.
	Spans []SpanOp
	// Events carry client-chosen ids; SpanID is empty for run-level events.
	Events []wire.EmitEventRequest
	// End is the run's final PATCH, nil while the root span has not ended.
	// Its metadata is complete: the server replaces stored metadata.
	End *wire.EndRunRequest
	// ChildRuns are the runs of other agents that this run's agent
	// invoked, parents first (see ChildRun).
	ChildRuns []ChildRun
	// Issues counts what the translation dropped or altered, by reason.
	Issues []Issue
}

// SpanOp creates and closes one Ezop span.
type SpanOp struct {
	Create wire.CreateSpanRequest
	Close  wire.CloseSpanRequest
	// OTelSpanID is the span's OTel id, for diagnostics.
	OTelSpanID trace.SpanID
	// Root marks the run's local root span. With live runs its Ezop span
	// may have been created already (RunStart): a sender that knows it is
	// stored only closes it.
	Root bool
}

// Empty reports whether the plan has nothing to send.
func (p *RunPlan) Empty() bool {
	return len(p.Spans) == 0 && len(p.Events) == 0 && p.End == nil && len(p.ChildRuns) == 0
}

// IssueKind says whether data was lost or changed.
type IssueKind int

const (
	// Dropped means a span, an event or a value was not sent at all.
	Dropped IssueKind = iota + 1
	// Altered means something was sent changed: truncated, sanitized,
	// reclassified or re-parented.
	Altered
)

func (k IssueKind) String() string {
	switch k {
	case Dropped:
		return "dropped"
	case Altered:
		return "altered"
	}
	return "unknown"
}

// Issue is one reason data was dropped or altered, with how often it
// happened in one translation.
type Issue struct {
	Kind   IssueKind
	Reason string
	Count  int
}
