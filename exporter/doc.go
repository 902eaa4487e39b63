// Package exporter is an OpenTelemetry trace exporter
// (sdktrace.SpanExporter) that reports AI-agent work to Ezop, the
// agent-observability platform.
//
// Each trace's local root span (a span without a parent, or whose parent is
// in another process) becomes an Ezop run of the agent the resource names;
// the root's descendants become Ezop spans with the same parent links, and
// span events plus GenAI attributes (model, token usage, tool calls,
// errors) become categorized Ezop events. Package bridge does the
// translation; this package buffers, schedules and sends.
//
// Use it with a batching span processor:
//
//	exp, err := exporter.New(ctx) // EZOP_API_URL, EZOP_API_KEY
//	if err != nil { ... }
//	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
//	defer tp.Shutdown(ctx)
//
// # Buffering
//
// Spans reach an exporter as they end, children before their parents, a
// trace often over several batches. A run is sent when its root span has
// ended (or, with the live processor, when it starts): the root as the
// run's top-level Ezop span and the descendants seen so far, then
// descendants that end later, to the same run. Spans whose root has not
// ended wait for it, at most the root wait (WithRootWait, 30s); then they
// are sent without it as a run that stays running, which the root
// completes if it comes later. Finished traces are remembered, as ids
// only, for the late-span window (WithLateSpanWindow, 2m) and within
// WithMaxRememberedBytes, so that late spans join their run instead of
// starting a new one.
//
// A run's end is sent exactly once: with its root, or when the root never
// came, when its trace is forgotten or at Shutdown (failed, marked
// incomplete). A late span never patches the run again: Ezop stamps a
// run's end time when it is patched.
//
// Waiting spans are bounded by WithMaxSpansPerTrace, WithMaxBufferedSpans
// (which also counts spans being sent) and WithMaxBufferedBytes; beyond a
// bound the new span is dropped and counted. At WithMaxTraces waiting
// traces the oldest is sent without its root to make room.
//
// # Sending
//
// Ezop assigns agent, version and run ids, and refuses a span whose parent
// is not stored yet or an event whose span is not. For each run the
// exporter therefore registers the agent and its version (once per agent
// and version, cached), starts the run, creates spans parents first, then
// closes spans and emits events, and ends the run last. Requests that do
// not depend on one another go in parallel, up to WithConcurrency over all
// runs, so a run takes about as many round trips as its span tree is deep,
// plus a few (agent and version registration, run start, the last closes
// and events, run end). The parts of one run are sent in order; different
// runs go in parallel.
//
// ExportSpans returns once the runs completed by its batch are delivered,
// so TracerProvider.ForceFlush means the finished work is on Ezop. The
// exporter's own ForceFlush (which the TracerProvider does not call) also
// sends the spans still waiting for their root. Shutdown sends everything,
// waiting spans included, within its context's deadline, then refuses new
// spans.
//
// # Live runs
//
// Ezop stamps a run's start and end with its own clock, and an exporter
// sees a root span only when it ends. Install (one line) or LiveProcessor
// (registered beside the batcher) starts each run when its root span
// starts, so that runs in progress show on Ezop and their times are true;
// see LiveProcessor.
//
// # Log records
//
// GenAI instrumentation that records message content as log records (the
// official OpenAI instrumentation puts prompts and completions only there)
// reports through LogExporter, an sdklog.Exporter sharing this exporter's
// state (Install sets up a global LoggerProvider with it): a record's
// content lands on the Ezop event of its span, the llm_response of a
// model call or the tool events of a tool call, or becomes an event of its
// own on the span when nothing matches or the span was sent before. Records
// wait for their span, bounded by WithMaxBufferedRecords and
// WithMaxBufferedRecordBytes and by the late-span window; see logs.go and
// ExportLogRecords.
//
// # Agents calling agents
//
// A span that invokes another agent (gen_ai.operation.name invoke_agent,
// or ezop.span.category agent, naming an agent other than its run's)
// becomes a child run of that agent under the invoking run, with trigger
// type agent; see bridge.ChildRun. Across processes, WithRemoteParentLinking
// links a root with a remote parent to the run holding that parent, for an
// exporter that sees every service of a trace (the Collector exporter in
// collector/ezopexporter).
//
// # Failures
//
// Transient failures are retried by the client (WithRetry). What is not
// delivered in the end (a request the server refuses, retries given up, a
// full buffer) is counted in Stats by reason, and reported through the
// error handler (WithErrorHandler, otel.Handle by default) as a *DropError,
// at most once a minute per reason. A refused API key pauses sending for a
// minute: what comes meanwhile is dropped and counted without a request
// (ErrAuth matches its report). Data sent changed (a fallback, a
// truncation) is reported once per reason as an *AlterNotice. The
// application is never blocked or failed by the exporter beyond the
// contexts it passes.
//
// # Configuration by environment
//
// Every option that takes a value has an EZOP_* environment variable that
// New reads when the option is not given (EZOP_TIMEOUT, EZOP_ROOT_WAIT,
// EZOP_MAX_TRACES, EZOP_RETRY_MAX_ELAPSED_TIME, …; README.md has the
// table). An option wins over its variable; a malformed value is an error
// of New that names it (matching ErrInvalidConfig), never a silent
// default. WithoutEnvironment reads none. The module
// github.com/ezopotel/ezop-otel-go/autoexport registers the exporter with
// contrib's autoexport as OTEL_TRACES_EXPORTER=ezop.
//
// # Metrics
//
// The exporter reports its health through the MeterProvider of
// WithMeterProvider, else the global one: the OpenTelemetry semantic
// conventions' SDK exporter metrics (otel.sdk.exporter.span.inflight,
// otel.sdk.exporter.span.exported with error.type on failures,
// otel.sdk.exporter.operation.duration, with otel.component.type
// ComponentType, otel.component.name, server.address and server.port) and
// its own under ezop.exporter (events, runs, requests and retries, drops
// and alterations by reason, the buffer, remembered traces). All but the
// duration are asynchronous, read from Stats when a reader collects; their
// values equal Stats'.
//
// # Check
//
// Check (and Exporter.Check) tells before the first run whether the
// endpoint is the Ezop API and accepts the key, storing nothing; each
// failure is a *CheckError matching ErrUnreachable, ErrNotEzopAPI, ErrAuth,
// ErrRateLimited or ErrServerError, whose message names the fix. It cannot
// tell whether the plan is over its limits: no request reports that
// without storing something.
package exporter
