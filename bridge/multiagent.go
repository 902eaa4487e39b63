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
			if agent, ok := b.invokedAgent(s, agentOf(key)); ok {
				state.children[id] = &childState{parent: key, agent: agent, run: runState{rootID: id, known: map[trace.SpanID]struct{}{}}}
			}
		}
		state.owner[id] = key
		delete(mark, id)
		return key
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
// an agent other than caller.
func (b *builder) invokedAgent(s sdktrace.ReadOnlySpan, caller AgentSpec) (AgentSpec, bool) {
	a := newAttrs(s.Attributes())
	op, _ := a.str(keyOperationName)
	cat, _ := a.str(string(semconv.SpanCategoryKey))
	if norm(op) != "invoke_agent" && norm(cat) != string(semconv.CategoryAgent) {
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
