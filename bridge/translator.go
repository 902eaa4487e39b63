package bridge

import (
	"os"
	"strings"
	"sync/atomic"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of Config's zero fields.
const (
	DefaultOwner            = "unknown"
	DefaultRuntime          = "go"
	DefaultMaxValueBytes    = 16 << 10
	DefaultMaxPayloadBytes  = 256 << 10
	DefaultMaxEventsPerSpan = 1000
)

// CaptureContentEnv is the variable GenAI instrumentation reads to decide
// whether prompts and completions are recorded; the translation follows it
// for whether recorded content is forwarded to Ezop.
const CaptureContentEnv = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

// Config tunes the translation. The zero value is usable: every zero field
// takes the documented default.
type Config struct {
	// Owner is the agent owner used when the resource has neither
	// ezop.agent.owner nor service.namespace. Default: DefaultOwner, and
	// the translation reports an "owner fallback" issue.
	Owner string
	// Runtime is the agent runtime used when the resource has no
	// ezop.agent.runtime. Default: DefaultRuntime.
	Runtime string
	// CaptureContent says whether message content (prompts, completions,
	// tool arguments and results) is forwarded. nil follows
	// OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: true when it is
	// "true", or one of the GenAI utilities' modes that record content
	// (SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT), case-insensitive.
	CaptureContent *bool
	// LifecycleEvents adds span_started/span_completed events for every
	// span and agent_run_* events for every run. Off by default: Ezop
	// plans count events.
	LifecycleEvents bool
	// MaxValueBytes caps one string value; longer ones are cut at a UTF-8
	// boundary and end with a truncation marker. Default:
	// DefaultMaxValueBytes.
	MaxValueBytes int
	// MaxPayloadBytes caps the JSON size of one metadata, input, output or
	// error object. Default: DefaultMaxPayloadBytes.
	MaxPayloadBytes int
	// MaxEventsPerSpan caps the events sent for one OTel span; the rest
	// are dropped and counted. Default: DefaultMaxEventsPerSpan.
	MaxEventsPerSpan int
	// Redact, when set, sees every attribute value and payload before it
	// is sent, keyed by attribute key (or "input", "output", "error" for
	// event payloads). It returns the value to send, and false to drop it.
	Redact func(key string, value any) (any, bool)
}

// Translator turns finished OTel spans into Ezop operations. It holds only
// its configuration and is safe for concurrent use.
type Translator struct {
	cfg            Config
	captureContent bool
	// keepSpans: remember what late log records need of each translated
	// span (KeepSpanInfo, logs.go).
	keepSpans atomic.Bool
}

// NewTranslator returns a Translator for cfg.
func NewTranslator(cfg Config) *Translator {
	if cfg.Owner == "" {
		cfg.Owner = DefaultOwner
	}
	if cfg.Runtime == "" {
		cfg.Runtime = DefaultRuntime
	}
	if cfg.MaxValueBytes <= 0 {
		cfg.MaxValueBytes = DefaultMaxValueBytes
	}
	if cfg.MaxPayloadBytes <= 0 {
		cfg.MaxPayloadBytes = DefaultMaxPayloadBytes
	}
	if cfg.MaxEventsPerSpan <= 0 {
		cfg.MaxEventsPerSpan = DefaultMaxEventsPerSpan
	}
	capture := false
	switch strings.ToLower(strings.TrimSpace(os.Getenv(CaptureContentEnv))) {
	case "true", "span_only", "event_only", "span_and_event":
		capture = true
	}
	if cfg.CaptureContent != nil {
		capture = *cfg.CaptureContent
	}
	return &Translator{cfg: cfg, captureContent: capture}
}

// IsLocalRoot reports whether s starts a run: it has no parent, or its
// parent lives in another process.
func IsLocalRoot(s sdktrace.ReadOnlySpan) bool {
	p := s.Parent()
	return !p.IsValid() || p.IsRemote()
}

// RunState is what the translation remembers about one run between the
// translations of its parts (spans of one trace may arrive in many
// batches, some after the root), including the child runs of agents it
// invoked. It keeps span ids and totals, never spans: a run whose root was
// translated holds a few dozen bytes per span, plus, for spans whose
// parent has not been translated yet, what their subtree says (an LLM
// call, failure fingerprints and token sums; bounded, see analyze). The zero value is a run not
// yet seen. A RunState is not safe for concurrent use.
type RunState struct {
	run runState
	// owner maps every span translated so far to the run it went to: the
	// zero id for this run, else the key of a child run.
	owner map[trace.SpanID]trace.SpanID
	// children are the child runs by key (the invoking span's id).
	children map[trace.SpanID]*childState
	// pending holds what translated spans tell their parents not
	// translated yet: an LLM call or a failure below them (see analyze).
	// Bounded by maxPendingFacts; an entry goes when its span comes.
	pending map[trace.SpanID]*subtreeFacts
	// scoped are the spans that are agent invocations or below one, for
	// telling an agent framework's own calls from delegations (see
	// invokedAgent).
	scoped map[trace.SpanID]struct{}
	// info keeps, for the log records that arrive after their span, the
	// parent and kind of translated spans that have either (logs.go).
	info map[trace.SpanID]spanInfo
	// join holds the log records of the translation under way
	// (TranslateWithRecords), nil otherwise.
	join *recordJoin
}

// runState is what the translation remembers about one run, top or child.
type runState struct {
	// rootID is the run's local root span (for a child run, the span that
	// invoked its agent); zero until known.
	rootID trace.SpanID
	// rootSeen says the root was translated: the run's end was planned.
	rootSeen bool
	// rootStarted says RunStart planned the root span's Ezop span.
	rootStarted bool
	known       map[trace.SpanID]struct{}
	totals      Totals
}

// childState is a child run: its own state, the run that invoked it and
// its agent.
type childState struct {
	run    runState
	parent trace.SpanID
	agent  AgentSpec
}

func (s *RunState) init() {
	if s.owner == nil {
		s.owner = make(map[trace.SpanID]trace.SpanID)
		s.children = make(map[trace.SpanID]*childState)
		s.run.known = make(map[trace.SpanID]struct{})
		s.pending = make(map[trace.SpanID]*subtreeFacts)
		s.scoped = make(map[trace.SpanID]struct{})
	}
}

// RootSeen reports whether the run's root span has been translated.
func (s *RunState) RootSeen() bool { return s.run.rootSeen }

// Spans returns how many spans the state remembers, child runs included:
// what its memory grows with.
func (s *RunState) Spans() int { return len(s.owner) }

// Totals returns the run's totals over everything translated so far (its
// own spans, not those of its child runs).
func (s *RunState) Totals() Totals { return s.run.totals }

// Totals sums what a run did, for the run's metadata. Counts of things
// never reported are absent in the metadata, not zero.
type Totals struct {
	LLMCalls     int
	InputTokens  int64
	OutputTokens int64
	// TokensReported says whether any LLM call reported token usage.
	TokensReported bool
	// inputReported and outputReported say which of the two counts any
	// call reported: a count no call reported stays absent.
	inputReported, outputReported bool
	ToolCalls                     int
	Errors                        int
	Cost                          float64
	CostReported                  bool
}
