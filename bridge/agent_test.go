package bridge

import (
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/ezopotel/ezop-otel-go/semconv"
)

func TestAgentMapping(t *testing.T) {
	str := attribute.String
	type want struct {
		name, owner, runtime string
		version              string // "" means no version request
		issue                string // substring of an expected issue ("" = no issues)
	}
	cases := []struct {
		name  string
		cfg   Config
		attrs []attribute.KeyValue
		want  want
	}{
		{"ezop keys win", Config{Owner: "cfg-owner", Runtime: "cfg-rt"}, []attribute.KeyValue{
			str("ezop.agent.name", "ezop-name"), str("gen_ai.agent.name", "genai-name"), str("service.name", "svc"),
			str("ezop.agent.owner", "ezop-owner"), str("service.namespace", "ns"),
			str("ezop.agent.version", "2.0"), str("service.version", "1.0"),
			str("ezop.agent.runtime", "langchain"),
		}, want{"ezop-name", "ezop-owner", "langchain", "2.0", ""}},
		{"gen_ai.agent.name over service.name", Config{Owner: "o"}, []attribute.KeyValue{
			str("gen_ai.agent.name", "genai-name"), str("service.name", "svc"),
		}, want{"genai-name", "o", "go", "", ""}},
		{"service.name and service.* fallbacks", Config{Owner: "cfg-owner"}, []attribute.KeyValue{
			str("service.name", "svc"), str("service.namespace", "ns"), str("service.version", "1.0"),
		}, want{"svc", "ns", "go", "1.0", ""}},
		{"blank ezop.agent.name falls back", Config{Owner: "o"}, []attribute.KeyValue{
			str("ezop.agent.name", "   "), str("service.name", "svc"),
		}, want{"svc", "o", "go", "", ""}},
		{"names are trimmed", Config{}, []attribute.KeyValue{
			str("ezop.agent.name", "  bot  "), str("ezop.agent.owner", " me "), str("ezop.agent.version", " 3 "),
		}, want{"bot", "me", "go", "3", ""}},
		{"SDK default service name is not a name", Config{Owner: "o"}, []attribute.KeyValue{
			str("service.name", "unknown_service:mybinary"),
		}, want{"mybinary", "o", "go", "", "agent name fallback"}},
		{"bare unknown_service", Config{Owner: "o"}, []attribute.KeyValue{
			str("service.name", "unknown_service"),
		}, want{fallbackAgentName, "o", "go", "", "agent name fallback"}},
		{"a service merely starting with unknown_service is a name", Config{Owner: "o"}, []attribute.KeyValue{
			str("service.name", "unknown_services-api"),
		}, want{"unknown_services-api", "o", "go", "", ""}},
		{"config owner and runtime", Config{Owner: "cfg-owner", Runtime: "cfg-rt"}, []attribute.KeyValue{
			str("ezop.agent.name", "n"),
		}, want{"n", "cfg-owner", "cfg-rt", "", ""}},
		{"owner default with issue", Config{}, []attribute.KeyValue{
			str("ezop.agent.name", "n"),
		}, want{"n", DefaultOwner, DefaultRuntime, "", "agent owner fallback"}},
		{"empty resource", Config{}, nil, want{fallbackAgentName, DefaultOwner, DefaultRuntime, "", "agent owner fallback"}},
		{"wrong-typed name is read as text", Config{Owner: "o"}, []attribute.KeyValue{
			attribute.Int("ezop.agent.name", 42),
		}, want{"42", "o", "go", "", "ezop.agent.name is not a string"}},
		{"wrong-typed version is read as text", Config{Owner: "o"}, []attribute.KeyValue{
			str("ezop.agent.name", "n"), attribute.Float64("ezop.agent.version", 1.5),
		}, want{"n", "o", "go", "1.5", "ezop.agent.version is not a string"}},
		{"wrong-typed owner", Config{}, []attribute.KeyValue{
			str("ezop.agent.name", "n"), attribute.Bool("ezop.agent.owner", true),
		}, want{"n", "true", "go", "", "ezop.agent.owner is not a string"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTranslator(tc.cfg)
			res := resource.NewSchemaless(tc.attrs...)
			spec, issues := tr.Agent(res)
			r := spec.Register
			if r.Name != tc.want.name || r.Owner != tc.want.owner || r.Runtime != tc.want.runtime {
				t.Errorf("agent = %q/%q/%q, want %q/%q/%q", r.Name, r.Owner, r.Runtime, tc.want.name, tc.want.owner, tc.want.runtime)
			}
			switch {
			case tc.want.version == "" && spec.Version != nil:
				t.Errorf("version = %q, want none", spec.Version.Version)
			case tc.want.version != "" && (spec.Version == nil || spec.Version.Version != tc.want.version):
				t.Errorf("version = %+v, want %q", spec.Version, tc.want.version)
			}
			p := RunPlan{Agent: spec, Issues: issues}
			if tc.want.issue == "" {
				wantNoIssues(t, p)
			} else {
				wantIssue(t, p, Altered, tc.want.issue)
			}

			// Translate takes the agent from the root span's resource.
			root := rootStub()
			root.Resource = res
			plan := translate(t, tc.cfg, root)
			wantJSON(t, "plan agent", plan.Agent, spec)
		})
	}
}

func TestAgentNilResource(t *testing.T) {
	spec, issues := NewTranslator(Config{}).Agent(nil)
	if spec.Register.Name != fallbackAgentName || spec.Register.Owner != DefaultOwner || spec.Register.Runtime != DefaultRuntime || spec.Version != nil {
		t.Errorf("agent of nil resource = %+v", spec)
	}
	if len(issues) == 0 {
		t.Error("fallbacks of a nil resource not reported")
	}
	// A span without resource still translates to a valid plan.
	root := rootStub()
	root.Resource = nil
	translate(t, Config{}, root)
}

func TestAgentDescriptionPermissionsChangelog(t *testing.T) {
	tr := NewTranslator(Config{})
	spec, issues := tr.Agent(resource.NewSchemaless(
		semconv.AgentName("bot"), semconv.AgentOwner("me"), semconv.AgentVersion("1"),
		semconv.AgentDescription("answers tickets"),
		semconv.AgentDefaultPermissions("read", "write"),
		semconv.AgentPermissions("read"),
		semconv.AgentChangelog("first"),
	))
	if len(issues) != 0 {
		t.Errorf("issues: %+v", issues)
	}
	r := spec.Register
	if r.Description == nil || *r.Description != "answers tickets" {
		t.Errorf("description = %v", r.Description)
	}
	wantJSON(t, "default_permissions", r.DefaultPermissions, []string{"read", "write"})
	if spec.Version == nil {
		t.Fatal("no version")
	}
	wantJSON(t, "permissions", spec.Version.Permissions, []string{"read"})
	if spec.Version.Changelog == nil || *spec.Version.Changelog != "first" {
		t.Errorf("changelog = %v", spec.Version.Changelog)
	}

	// Absent optional keys stay absent (omitted from the request).
	spec, _ = tr.Agent(resource.NewSchemaless(semconv.AgentName("bot"), semconv.AgentOwner("me"), semconv.AgentVersion("1")))
	if spec.Register.Description != nil || spec.Register.DefaultPermissions != nil || spec.Version.Permissions != nil || spec.Version.Changelog != nil {
		t.Errorf("absent optional fields were set: %s", dump(spec))
	}

	// A changelog without a version has nowhere to go.
	spec, _ = tr.Agent(resource.NewSchemaless(semconv.AgentName("bot"), semconv.AgentOwner("me"), semconv.AgentChangelog("x")))
	if spec.Version != nil {
		t.Errorf("version without a version key: %+v", spec.Version)
	}

	// A single string is a one-element list; another type is read as text
	// and reported.
	spec, issues = tr.Agent(resource.NewSchemaless(semconv.AgentName("bot"), semconv.AgentOwner("me"),
		attribute.String("ezop.agent.default_permissions", "admin")))
	wantJSON(t, "single permission", spec.Register.DefaultPermissions, []string{"admin"})
	if len(issues) != 0 {
		t.Errorf("issues for a single-string permission: %+v", issues)
	}
	spec, issues = tr.Agent(resource.NewSchemaless(semconv.AgentName("bot"), semconv.AgentOwner("me"),
		attribute.Int("ezop.agent.default_permissions", 7)))
	wantJSON(t, "int permission", spec.Register.DefaultPermissions, []string{"7"})
	wantIssue(t, RunPlan{Issues: issues}, Altered, "ezop.agent.default_permissions is not a string slice")
}

func TestAgentKey(t *testing.T) {
	tr := NewTranslator(Config{})
	key := func(kvs ...attribute.KeyValue) string {
		s, _ := tr.Agent(resource.NewSchemaless(kvs...))
		return s.Key()
	}
	a := key(semconv.AgentName("a"), semconv.AgentOwner("o"), semconv.AgentVersion("1"))
	if a != key(semconv.AgentName("a"), semconv.AgentOwner("o"), semconv.AgentVersion("1"), semconv.AgentDescription("d")) {
		t.Error("key depends on more than name, owner and version")
	}
	distinct := []string{
		a,
		key(semconv.AgentName("a"), semconv.AgentOwner("o"), semconv.AgentVersion("2")),
		key(semconv.AgentName("a"), semconv.AgentOwner("o")),
		key(semconv.AgentName("a"), semconv.AgentOwner("o2"), semconv.AgentVersion("1")),
		key(semconv.AgentName("a2"), semconv.AgentOwner("o"), semconv.AgentVersion("1")),
		// Separators cannot be forged by the values.
		key(semconv.AgentName("a"), semconv.AgentOwner("o\x00x")),
		key(semconv.AgentName("a"), semconv.AgentOwner("o"), semconv.AgentVersion("x\x00")),
	}
	seen := map[string]int{}
	for i, k := range distinct {
		if j, dup := seen[k]; dup {
			t.Errorf("agents %d and %d share key %q", j, i, k)
		}
		seen[k] = i
	}
}

// The agent comes from the root's resource, else from any span's.
func TestAgentFromChildrenWhenRootMissing(t *testing.T) {
	c := child(2, "step")
	c.Resource = resource.NewSchemaless(semconv.AgentName("child-agent"), semconv.AgentOwner("x"))
	p := translate(t, Config{}, c)
	if p.Agent.Register.Name != "child-agent" {
		t.Errorf("agent from child resource = %q", p.Agent.Register.Name)
	}
}
