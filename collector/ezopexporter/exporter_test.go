package ezopexporter

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ezopotel/ezop-otel-go/collector/ezopexporter/internal/metadata"
	"github.com/ezopotel/ezop-otel-go/ezoptest"
)

// statusHost records the status events a component reports.
type statusHost struct {
	component.Host
	mu     sync.Mutex
	events []*componentstatus.Event
}

func (h *statusHost) Report(ev *componentstatus.Event) {
	h.mu.Lock()
	h.events = append(h.events, ev)
	h.mu.Unlock()
}

func (h *statusHost) statuses() []componentstatus.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []componentstatus.Status
	for _, ev := range h.events {
		out = append(out, ev.Status())
	}
	return out
}

func testConfig(srv *ezoptest.Server, key string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = srv.URL
	cfg.APIKey = configopaque.String(key)
	cfg.RetryConfig.InitialInterval = 5 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 20 * time.Millisecond
	cfg.RetryConfig.MaxElapsedTime = 500 * time.Millisecond
	return cfg
}

// newTestExporter creates the component with a logger that records.
func newTestExporter(t *testing.T, cfg *Config) (*observer.ObservedLogs, func() (component.Component, func(context.Context, ptrace.Traces) error)) {
	t.Helper()
	require.NoError(t, confmap.Validate(cfg))
	core, logs := observer.New(zap.DebugLevel)
	set := exportertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	return logs, func() (component.Component, func(context.Context, ptrace.Traces) error) {
		exp, err := NewFactory().CreateTraces(context.Background(), set, cfg)
		require.NoError(t, err)
		return exp, exp.ConsumeTraces
	}
}

func TestLifecycle(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	for _, withQueue := range []bool{true, false} {
		cfg := testConfig(srv, srv.APIKey)
		if !withQueue {
			cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
		}
		_, create := newTestExporter(t, cfg)

		// Shut down without a start.
		exp, _ := create()
		require.NoError(t, exp.Shutdown(context.Background()))

		// Start, shut down, shut down again.
		exp, _ = create()
		require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
		require.NoError(t, exp.Shutdown(context.Background()))
		require.NoError(t, exp.Shutdown(context.Background()))
	}
	assert.Empty(t, srv.Runs())
}

// A Collector's two-service trace becomes two runs, B's a child run of
// A's, through the component as the Collector drives it.
func TestConsumeTwoServices(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	logs, create := newTestExporter(t, testConfig(srv, srv.APIKey))
	exp, consume := create()
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))

	// B's spans first, in their own batch, then A's: the exporter holds
	// B's root until A's run is known.
	td := twoServiceTraces(7)
	a, b := ptrace.NewTraces(), ptrace.NewTraces()
	td.ResourceSpans().At(0).CopyTo(a.ResourceSpans().AppendEmpty())
	td.ResourceSpans().At(1).CopyTo(b.ResourceSpans().AppendEmpty())
	require.NoError(t, consume(context.Background(), b))
	require.NoError(t, consume(context.Background(), a))
	require.NoError(t, exp.Shutdown(context.Background()))

	assert.Empty(t, srv.Rejected())
	checkTwoServiceRuns(t, srv)
	assert.Equal(t, 1, logs.FilterMessage("Ezop exporter stopped").Len())
}

// checkTwoServiceRuns checks what ezoptest holds after twoServiceTraces.
func checkTwoServiceRuns(t *testing.T, srv *ezoptest.Server) {
	t.Helper()
	agents := map[string]ezoptest.Agent{}
	for _, a := range srv.Agents() {
		agents[a.Name] = a
	}
	require.Len(t, agents, 2)
	assert.Equal(t, "python", deref(agents["agent-a"].Runtime))
	assert.Equal(t, "nodejs", deref(agents["agent-b"].Runtime))
	runs := map[string]ezoptest.Run{}
	for _, r := range srv.Runs() {
		for name, a := range agents {
			if a.ID == r.AgentID {
				runs[name] = r
			}
		}
	}
	require.Len(t, runs, 2)
	ra, rb := runs["agent-a"], runs["agent-b"]
	assert.Nil(t, ra.ParentRunID)
	require.NotNil(t, rb.ParentRunID, "B's run is a child run")
	assert.Equal(t, ra.ID, *rb.ParentRunID)
	assert.Equal(t, "agent", rb.TriggerType)
	require.NotNil(t, rb.TriggerID)
	assert.Equal(t, agents["agent-a"].ID, *rb.TriggerID)
	assert.Equal(t, "success", ra.Status)
	assert.Equal(t, "success", rb.Status)

	// Each run's root is its top-level span, the rest under it.
	for run, want := range map[string][]string{ra.ID: {"a root", "a call b"}, rb.ID: {"b root", "b chat"}} {
		spans := srv.Spans(run)
		require.Len(t, spans, 2)
		byName := map[string]ezoptest.Span{}
		for _, sp := range spans {
			byName[*sp.Name] = sp
		}
		root, child := byName[want[0]], byName[want[1]]
		require.NotEmpty(t, root.ID, "root span %s", want[0])
		assert.Nil(t, root.ParentID)
		require.NotNil(t, child.ParentID, "span %s", want[1])
		assert.Equal(t, root.ID, *child.ParentID)
	}
	var llm int
	for _, ev := range srv.Events(rb.ID) {
		if ev.Category == "llm" && ev.Type != nil && *ev.Type == "llm_response" {
			llm++
			assert.Equal(t, float64(7), ev.Metadata["input_tokens"])
			assert.Equal(t, float64(3), ev.Metadata["output_tokens"])
			assert.Equal(t, "gpt-test", ev.Metadata["model"])
		}
	}
	assert.Equal(t, 1, llm, "one LLM event on B's run")
}

// A refused API key: warnings in the log, and a recoverable error status.
func TestAuthFailureReported(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	logs, create := newTestExporter(t, testConfig(srv, "wrong-key"))
	exp, consume := create()
	host := &statusHost{Host: componenttest.NewNopHost()}
	require.NoError(t, exp.Start(context.Background(), host))
	require.NoError(t, consume(context.Background(), twoServiceTraces(1)))
	require.NoError(t, exp.Shutdown(context.Background()))

	assert.Contains(t, host.statuses(), componentstatus.StatusRecoverableError)
	assert.Positive(t, logs.FilterMessage("Ezop exporter").Len(), "the refusal is logged as an error")
	drops := logs.FilterMessage("Ezop: data not delivered")
	require.Positive(t, drops.Len())
	for _, e := range logs.All() {
		for _, f := range e.Context {
			assert.NotContains(t, f.String, "wrong-key", "the key never shows in the log")
		}
		assert.NotContains(t, e.Message, "wrong-key")
	}
}

func TestInvalidSpansLogged(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	logs, create := newTestExporter(t, testConfig(srv, srv.APIKey))
	exp, consume := create()
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	td := ptrace.NewTraces()
	s := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetSpanID(pcommon.SpanID{1}) // no trace id
	require.NoError(t, consume(context.Background(), td))
	require.NoError(t, exp.Shutdown(context.Background()))
	got := logs.FilterMessage("Spans without a trace id or span id left out")
	require.Equal(t, 1, got.Len())
	assert.Equal(t, int64(1), got.All()[0].ContextMap()["count"])
	assert.Empty(t, srv.Runs())
}

// Pushing to a component that was not started, or after Shutdown, fails
// for good: the Collector must not retry it.
func TestPushNotStarted(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	cfg := testConfig(srv, srv.APIKey)
	e := newEzopExporter(cfg, exportertest.NewNopSettings(metadata.Type))
	err := e.pushTraces(context.Background(), twoServiceTraces(1))
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err))

	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, e.shutdown(context.Background()))
	err = e.pushTraces(context.Background(), twoServiceTraces(2))
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err))
}

// When the export's timeout passes, the push succeeds: the exporter holds
// the spans and delivers them in the background.
func TestPushTimeoutIsNotAFailure(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	srv.SetLatency(100 * time.Millisecond)
	cfg := testConfig(srv, srv.APIKey)
	cfg.RetryConfig.MaxElapsedTime = 10 * time.Second
	e := newEzopExporter(cfg, exportertest.NewNopSettings(metadata.Type))
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.NoError(t, e.pushTraces(ctx, twoServiceTraces(1)))
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	require.NoError(t, e.shutdown(sctx))
	checkTwoServiceRuns(t, srv)
}

func deref[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}
