// Package ezopexporter is an OpenTelemetry Collector traces and logs
// exporter (type "ezop") that reports AI-agent traces to Ezop: the traces
// of any language and any number of services, as OTLP reaches the
// Collector, and the GenAI log records (prompts and completions recorded
// as gen_ai.* events) that belong to their spans. The traces and logs
// pipelines of one component share one library exporter, so that a record
// lands on the Ezop event of its span whichever pipeline brings it first.
//
// It is a thin component around the library: each batch of ptrace.Traces
// is converted to the OpenTelemetry SDK's read-only spans (resource, scope,
// kind, status, events, links; a parent is remote as the OTLP span flags
// say) and handed to github.com/ezopotel/ezop-otel-go/exporter, which
// assembles runs, translates them with package bridge and sends them. The
// mapping to Ezop is the library's, unchanged; see the repository's
// README.md.
//
//	exporters:
//	  ezop:
//	    endpoint: https://api.ezop.ai
//	    api_key: ${env:EZOP_API_KEY}
//
// # Assembly across batches
//
// The exporter assembles traces itself, bounded: spans wait for their
// run's root span up to root_wait (30s), within max_traces,
// max_spans_per_trace and max_buffered_spans; a run is sent once its root
// span has ended, and spans that end later join it. The groupbytrace
// processor is therefore not needed in front (it would only add its own
// wait and memory). What the exporter cannot assemble is a trace split
// over several Collector instances: route by trace id to one instance (for
// example a first tier with the load-balancing exporter) when running more
// than one.
//
// # Runs across services
//
// A local root span whose parent is in another service (the trace
// continued there through W3C trace context) becomes a child run of the
// run that holds the parent span, when the parent's spans reach the same
// exporter (link_remote_parents, on by default): parent_run_id is the
// caller's run, trigger type agent, trigger id the calling agent. Such a
// root waits for its parent's run within root_wait, then goes as a run of
// its own. See exporter.WithRemoteParentLinking.
//
// # Queue, retry and timeout
//
// sending_queue is the Collector's queue in front of the exporter (on by
// default). There is one retry layer, the Ezop client's: it retries each
// failed request alone (in order within its run, with duplicate-safe ids),
// and retry_on_failure configures it. The Collector's batch-level retry is
// off: the library never returns a delivery failure from an export (it
// counts and reports drops itself), and re-sending a batch it holds would
// only duplicate work. timeout bounds how long an export waits for its
// runs to be delivered; past it, delivery goes on in the background.
//
// # Telemetry
//
// What the library reports goes to the component's logger: data not
// delivered (a warning per reason, at most once a minute), data sent
// altered (once per reason), other failures (errors). A refused API key
// sets the component's status to a recoverable error until data is
// delivered again.
package ezopexporter
