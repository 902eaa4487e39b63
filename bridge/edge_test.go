package bridge

import (
	"testing"

	"go.opentelemetry.io/otel/attribute"

	"github.com/ezopotel/ezop-otel-go/semconv"
)

// ezop.event.type alone names its category.
func TestEventTypeImpliesCategory(t *testing.T) {
	p := translate(t, Config{}, rootStub(), withEvents(child(2, "step"),
		event("chose", semconv.EventTypeAttr(semconv.TypeReasoningDecision))))
	ev := oneEvent(t, eventsOn(p, uuidOf(2)), semconv.CategoryReasoning, semconv.TypeReasoningDecision)
	if _, leaked := ev.Metadata[string(semconv.EventTypeKey)]; leaked {
		t.Errorf("classification key left in metadata: %v", ev.Metadata)
	}
	wantNoIssues(t, p)

	// An unknown type alone still falls back, reported.
	p = translate(t, Config{}, rootStub(), withEvents(child(2, "step"),
		event("odd", semconv.EventTypeAttr("no_such_type"))))
	oneEvent(t, eventsOn(p, uuidOf(2)), semconv.CategorySystem, "")
}

// A negative token count is no count: left out of the event and the
// totals, and reported.
func TestNegativeTokenCount(t *testing.T) {
	p := translate(t, Config{}, rootStub(), child(2, "chat",
		attribute.String("gen_ai.operation.name", "chat"),
		attribute.Int("gen_ai.usage.input_tokens", -5),
		attribute.Int("gen_ai.usage.output_tokens", 9)))
	ev := oneEvent(t, eventsOn(p, uuidOf(2)), semconv.CategoryLLM, semconv.TypeLLMResponse)
	if _, ok := ev.Metadata["input_tokens"]; ok || ev.Metadata["output_tokens"] != int64(9) {
		t.Errorf("metadata %v: want output_tokens 9 and no input_tokens", ev.Metadata)
	}
	tot := p.End.Metadata["totals"].(map[string]any)
	if _, ok := tot["input_tokens"]; ok || tot["output_tokens"] != int64(9) {
		t.Errorf("totals %v", tot)
	}
	wantIssue(t, p, Dropped, "negative token count")
}

// Configured owner and runtime are sanitized like resource values, and an
// owner that sanitizes to nothing falls back.
func TestConfiguredOwnerAndRuntimeSanitized(t *testing.T) {
	tr := NewTranslator(Config{Owner: "team\xff", Runtime: "  "})
	a, _ := tr.Agent(nil)
	if a.Register.Owner != "team\uFFFD" || a.Register.Runtime != DefaultRuntime {
		t.Errorf("owner %q runtime %q", a.Register.Owner, a.Register.Runtime)
	}
	tr = NewTranslator(Config{Owner: " ", MaxValueBytes: 1})
	if a, _ := tr.Agent(nil); a.Register.Owner != DefaultOwner {
		t.Errorf("owner %q, want the default", a.Register.Owner)
	}
}
