package bridge

import (
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/ezopotel/ezop-otel-go/internal/wire"
	"github.com/ezopotel/ezop-otel-go/semconv"
)

// Resource keys of other conventions the agent mapping falls back to.
const (
	genAIAgentNameKey    = attribute.Key("gen_ai.agent.name")
	serviceNameKey       = attribute.Key("service.name")
	serviceNamespaceKey  = attribute.Key("service.namespace")
	serviceVersionKey    = attribute.Key("service.version")
	unknownServicePrefix = "unknown_service"
	fallbackAgentName    = "unknown-agent"
)

// Agent returns the Ezop agent and version a resource describes, with the
// issues found: which fallbacks were used and which values had a wrong
// type. See the package documentation for the precedence of keys.
func (t *Translator) Agent(res *resource.Resource) (AgentSpec, []Issue) {
	var log issueLog
	a := t.agent(res, &log)
	return a, log.issues()
}

func (t *Translator) agent(res *resource.Resource, log *issueLog) AgentSpec {
	z := sanitizer{t: t, issues: log}
	get := func(k attribute.Key) (attribute.Value, bool) {
		if res == nil {
			return attribute.Value{}, false
		}
		return res.Set().Value(k)
	}
	str := func(k attribute.Key) string {
		v, ok := get(k)
		if !ok {
			return ""
		}
		if v.Type() != attribute.STRING {
			log.add(Altered, "attribute "+string(k)+" is not a string")
		}
		return strings.TrimSpace(z.str(v.Emit()))
	}
	first := func(keys ...attribute.Key) string {
		for _, k := range keys {
			if s := str(k); s != "" {
				return s
			}
		}
		return ""
	}

	name := first(semconv.AgentNameKey, genAIAgentNameKey)
	if name == "" {
		svc := str(serviceNameKey)
		switch {
		case svc != "" && svc != unknownServicePrefix && !strings.HasPrefix(svc, unknownServicePrefix+":"):
			name = svc
		case strings.HasPrefix(svc, unknownServicePrefix+":") && len(svc) > len(unknownServicePrefix)+1:
			// The SDK's default names the executable: better than nothing,
			// but the user should name the agent.
			name = svc[len(unknownServicePrefix)+1:]
			log.add(Altered, "agent name fallback: no ezop.agent.name, gen_ai.agent.name or service.name; used the executable name")
		default:
			name = fallbackAgentName
			log.add(Altered, "agent name fallback: no ezop.agent.name, gen_ai.agent.name or service.name")
		}
	}

	owner := first(semconv.AgentOwnerKey, serviceNamespaceKey)
	if owner == "" {
		owner = strings.TrimSpace(z.str(t.cfg.Owner))
		if t.cfg.Owner == DefaultOwner {
			log.add(Altered, "agent owner fallback: no ezop.agent.owner, service.namespace or configured owner; used \""+DefaultOwner+"\"")
		}
	}
	runtime := first(semconv.AgentRuntimeKey)
	if runtime == "" {
		runtime = strings.TrimSpace(z.str(t.cfg.Runtime))
	}
	// A configured value may sanitize to nothing: the API requires both.
	if owner == "" {
		owner = DefaultOwner
	}
	if runtime == "" {
		runtime = DefaultRuntime
	}

	spec := AgentSpec{Register: wire.RegisterAgentRequest{
		Name:               name,
		Owner:              owner,
		Runtime:            runtime,
		DefaultPermissions: t.strings(get, semconv.AgentDefaultPermissionsKey, log),
	}}
	if d := str(semconv.AgentDescriptionKey); d != "" {
		spec.Register.Description = &d
	}
	if v := first(semconv.AgentVersionKey, serviceVersionKey); v != "" {
		spec.Version = &wire.CreateVersionRequest{
			Version:     v,
			Permissions: t.strings(get, semconv.AgentPermissionsKey, log),
		}
		if c := str(semconv.AgentChangelogKey); c != "" {
			spec.Version.Changelog = &c
		}
	}
	return spec
}

// strings reads a string-slice attribute; a single string is accepted as a
// one-element list.
func (t *Translator) strings(get func(attribute.Key) (attribute.Value, bool), k attribute.Key, log *issueLog) []string {
	v, ok := get(k)
	if !ok {
		return nil
	}
	z := sanitizer{t: t, issues: log}
	switch v.Type() {
	case attribute.STRINGSLICE:
		ss := v.AsStringSlice()
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = z.str(s)
		}
		return out
	case attribute.STRING:
		return []string{z.str(v.AsString())}
	}
	log.add(Altered, "attribute "+string(k)+" is not a string slice")
	return []string{z.str(v.Emit())}
}
