package bridge

import (
	"sort"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

// ChildRun is the run of an agent that another run's agent invoked. Ezop
// models agent-to-agent calls as child runs: trigger type agent and the
// invoking run as parent.
//
// A span invokes another agent when it is an agent invocation
// (gen_ai.operation.name invoke_agent, or ezop.span.category agent) and
// names, with ezop.agent.name or gen_ai.agent.name, an agent other than
// the one of the run it belongs to. Its descendants belong to the child
// run; the span itself stays a span of the invoking run, so that run's
// tree still shows the call. The child agent is registered under its own
// name; its owner, version and runtime come from the span's ezop.agent.*
// keys (and gen_ai.agent.version, gen_ai.agent.description), else from the
// invoking agent.
//
// An agent framework's own invocation spans are no delegation: the AI
// SDK's generateText/streamText spans (invoke_agent naming the call's
// functionId) and Google ADK's root agent (see frameworkAgentScopes) stay
// in the run of the agent whose code made the call; such a span starts a
// child run only when it is nested under another agent invocation of its
// run (an ADK sub-agent, an agent called from another agent's tool).
type ChildRun struct {
	// Key identifies the child run across plans: the OTel id of the span
	// that invoked it.
	Key trace.SpanID
	// Parent is the Key of the run that invoked this one; zero when it is
	// the plan's own run.
	Parent trace.SpanID
	// Plan is the child run's plan. Its Start has trigger type agent; the
	// sender fills ParentRunID (the invoking run's id) and TriggerID (the
	// invoking agent's id). Its own ChildRuns are empty: nested child runs
	// are listed in the top plan, parents first.
	Plan RunPlan
	// Delegation is the event that shows the delegation in the invoking
	// run, whose pages read no parent_run_id: an event of the parent run
	// (Parent), on the invoking span (SpanID is its Ezop id, which the
	// parent run holds), category agent, type agent_run_completed or
	// agent_run_failed by the invoking span's status, named like the span,
	// with metadata agent_name (and parent_span_id when the invoking span
	// has a parent). It is set only in the plan of the part that
	// translates the invoking span (once per child run), nil otherwise.
	// The sender emits it after the child run has started, adding to its
	// metadata child_run_id (the child run's id) and child_agent_id (the
	// child agent's id); the event's id is derived, so a retry never
	// stores it twice.
	Delegation *wire.EmitEventRequest
}

// assignRuns places every span of rest in a run: the zero key for the run
// of the state's root, else the key of a child run. It returns the spans by
// run and the keys of child runs with spans or a new root in this part,
// parents first.
func (b *builder) assignRuns(state *RunState, top AgentSpec, batch map[trace.SpanID]sdktrace.ReadOnlySpan, rest []sdktrace.ReadOnlySpan) (map[trace.SpanID][]sdktrace.ReadOnlySpan, []trace.SpanID) {
	rootID := state.run.rootID
	agentOf := func(key trace.SpanID) AgentSpec {
		if ch, ok := state.children[key]; ok && key.IsValid() {
			return ch.agent
		}
		return top
	}
	// scopedOf says whether s is an agent invocation or below one
	// (parentOnly: whether its parent is), remembering the spans that are
	// in state.scoped.
	scopedMemo := map[trace.SpanID]bool{}
	var scopedOf func(s sdktrace.ReadOnlySpan, parentOnly bool) bool
	scopedOf = func(s sdktrace.ReadOnlySpan, parentOnly bool) bool {
		id := s.SpanContext().SpanID()
		under := false
		if pid, ok := localParent(s); ok && pid != id {
			_, remembered := state.scoped[pid]
			_, invoking := state.children[pid]
			switch k, owned := state.owner[pid]; {
			case remembered || invoking || (owned && k.IsValid()):
				under = true
			default:
				if v, done := scopedMemo[pid]; done {
					under = v
				} else if ps, ok := batch[pid]; ok {
					scopedMemo[pid] = false // a parent cycle ends here
					under = scopedOf(ps, false)
				}
			}
		}
		if parentOnly {
			return under
		}
		v := under || isAgentInvocation(b.classOf(s))
		scopedMemo[id] = v
		if v {
			state.scoped[id] = struct{}{}
		}
		return v
	}
	const visiting = -1
	mark := map[trace.SpanID]int{}
	var keyOf func(s sdktrace.ReadOnlySpan) trace.SpanID
	keyOf = func(s sdktrace.ReadOnlySpan) trace.SpanID {
		id := s.SpanContext().SpanID()
		if k, ok := state.owner[id]; ok {
			return k
		}
		if mark[id] == visiting {
			return trace.SpanID{} // a parent cycle: the translation reports it
		}
		mark[id] = visiting
		var key trace.SpanID
		p := s.Parent()
		pid := p.SpanID()
		switch {
		case !p.IsValid() || p.IsRemote() || pid == id || pid == rootID:
		case state.children[pid] != nil:
			key = pid
		default:
			if k, ok := state.owner[pid]; ok {
				key = k
			} else if ps, ok := batch[pid]; ok && !IsLocalRoot(ps) {
				key = keyOf(ps)
				if _, invokes := state.children[pid]; invokes {
					key = pid
				}
			}
		}
		// A span that invokes another agent opens that agent's run for
		// its descendants.
		// (The zero id stands for the top run: a span without a valid id
		// cannot key a child run.)
		if _, known := state.children[id]; !known && id.IsValid() {
			if agent, ok := b.invokedAgent(s, agentOf(key), scopedOf(s, true)); ok {
				state.children[id] = &childState{parent: key, agent: agent, run: runState{rootID: id, known: map[trace.SpanID]struct{}{}}}
			}
		}
		state.owner[id] = key
		delete(mark, id)
		return key
	}

	for _, s := range batch {
		scopedOf(s, false)
	}
	groups := map[trace.SpanID][]sdktrace.ReadOnlySpan{}
	touched := map[trace.SpanID]bool{}
	for _, s := range rest {
		k := keyOf(s)
		groups[k] = append(groups[k], s)
		if k.IsValid() {
			touched[k] = true
		}
		if _, invokes := state.children[s.SpanContext().SpanID()]; invokes {
			touched[s.SpanContext().SpanID()] = true
		}
	}
	// Parents first: a child run's parent run must exist before it.
	depth := func(k trace.SpanID) int {
		d := 0
		for k.IsValid() && d <= len(state.children) {
			k = state.children[k].parent
			d++
		}
		return d
	}
	order := make([]trace.SpanID, 0, len(touched))
	for k := range touched {
		order = append(order, k)
	}
	sort.Slice(order, func(i, j int) bool {
		di, dj := depth(order[i]), depth(order[j])
		if di != dj {
			return di < dj
		}
		return order[i].String() < order[j].String()
	})
	return groups, order
}

// invokedAgent returns the agent span s invokes, if s is the invocation of
// an agent other than caller. underAgent says an agent invocation of the
// run is above s: an agent framework's own invocation spans (see
// frameworkAgentScopes) delegate only then.
func (b *builder) invokedAgent(s sdktrace.ReadOnlySpan, caller AgentSpec, underAgent bool) (AgentSpec, bool) {
	a := newAttrs(s.Attributes())
	op, _ := a.str(keyOperationName)
	cat, _ := a.str(string(semconv.SpanCategoryKey))
	if norm(op) != "invoke_agent" && norm(cat) != string(semconv.CategoryAgent) {
		return AgentSpec{}, false
	}
	if frameworkAgent(s) && !underAgent {
		return AgentSpec{}, false
	}
	name, ok := a.firstStr(string(semconv.AgentNameKey), string(genAIAgentNameKey))
	name = strings.TrimSpace(b.z.str(name))
	if !ok || name == "" || name == caller.Register.Name {
		return AgentSpec{}, false
	}
	spec := AgentSpec{Register: caller.Register}
	spec.Register.Name = name
	spec.Register.Description = nil
	spec.Register.DefaultPermissions = nil
	str := func(keys ...attribute.Key) (string, bool) {
		for _, k := range keys {
			if v, ok := a.str(string(k)); ok {
				if v = strings.TrimSpace(b.z.str(v)); v != "" {
					return v, true
				}
			}
		}
		return "", false
	}
	if v, ok := str(semconv.AgentOwnerKey); ok {
		spec.Register.Owner = v
	}
	if v, ok := str(semconv.AgentRuntimeKey); ok {
		spec.Register.Runtime = v
	}
	if v, ok := str(semconv.AgentDescriptionKey, "gen_ai.agent.description"); ok {
		spec.Register.Description = &v
	}
	if v, ok := str(semconv.AgentVersionKey, "gen_ai.agent.version"); ok {
		spec.Version = &wire.CreateVersionRequest{Version: v}
	} else if caller.Version != nil {
		spec.Version = &wire.CreateVersionRequest{Version: caller.Version.Version}
	}
	return spec, true
}
