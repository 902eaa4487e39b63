package exporter_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sort"
	"strings"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/ezoptest"
)

// newTracerProvider is the snippet README.md quotes ("Add it to your
// TracerProvider"); readme_test.go checks that the quote matches.

// newTracerProvider returns a TracerProvider that reports to Ezop.
// Without options the exporter reads EZOP_API_URL and EZOP_API_KEY.
func newTracerProvider(ctx context.Context, opts ...exporter.Option) (*sdktrace.TracerProvider, error) {
	exp, err := exporter.New(ctx, opts...)
	if err != nil {
		return nil, err
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(
			attribute.String("service.name", "support-agent"), // the Ezop agent
			attribute.String("service.namespace", "platform"), // its owner
			attribute.String("service.version", "1.4.0"),      // its version
		)),
	), nil
}

// The TracerProvider of README.md, pointed at the in-process emulator: a
// trace with an LLM call becomes a run of the agent the resource names.
func Example_tracerProvider() {
	srv := ezoptest.NewServer()
	defer srv.Close()
	ctx := context.Background()

	// In production: newTracerProvider(ctx) with EZOP_API_URL and
	// EZOP_API_KEY set.
	tp, err := newTracerProvider(ctx, exporter.WithEndpoint(srv.URL), exporter.WithAPIKey(srv.APIKey))
	if err != nil {
		log.Fatal(err)
	}
	tracer := tp.Tracer("readme")

	ctx, run := tracer.Start(ctx, "answer question")
	_, llm := tracer.Start(ctx, "chat gpt-4o")
	llm.SetAttributes(
		attribute.String("gen_ai.operation.name", "chat"),
		attribute.String("gen_ai.request.model", "gpt-4o"),
		attribute.Int("gen_ai.usage.input_tokens", 120),
		attribute.Int("gen_ai.usage.output_tokens", 40),
	)
	llm.End()
	run.End()

	// Shutdown delivers what is buffered; call it before the program
	// exits.
	if err := tp.Shutdown(context.Background()); err != nil {
		log.Fatal(err)
	}

	agent, version, r := srv.Agents()[0], srv.Versions()[0], srv.Runs()[0]
	fmt.Println("agent:", agent.Name, "owner:", agent.Owner, "version:", version.Version)
	fmt.Println("run:", r.Status)
	for _, e := range srv.Events(r.ID) {
		fmt.Println("event:", e.Category, *e.Type, e.Metadata["model"], e.Metadata["input_tokens"], e.Metadata["output_tokens"])
	}
	fmt.Println("refused:", len(srv.Rejected()))
	// Output:
	// agent: support-agent owner: platform version: 1.4.0
	// run: success
	// event: llm llm_response gpt-4o 120 40
	// refused: 0
}

// ezopErrors is the error handler README.md quotes (Troubleshooting).

// ezopErrors logs what the exporter reports: data it could not deliver
// (*exporter.DropError, at most once a minute per reason), data it sent
// changed (*exporter.AlterNotice, once per reason) and other failures.
func ezopErrors(logf func(format string, args ...any)) otel.ErrorHandler {
	return otel.ErrorHandlerFunc(func(err error) {
		var drop *exporter.DropError
		var notice *exporter.AlterNotice
		switch {
		case errors.As(err, &drop):
			logf("ezop: %d not delivered: %s", drop.Count, drop.Reason)
		case errors.As(err, &notice):
			logf("ezop: sent changed: %s", notice.Reason)
		default:
			logf("ezop: %v", err)
		}
	})
}

// printDrops is the statistics snippet README.md quotes (Troubleshooting).
func printDrops(exp *exporter.Exporter) {
	st := exp.Stats()
	fmt.Printf("spans: %d sent, %d dropped; events: %d sent, %d dropped\n",
		st.SpansSent, st.SpansDropped, st.EventsSent, st.EventsDropped)
	for reason, n := range st.Dropped {
		fmt.Printf("  %d dropped: %s\n", n, reason)
	}
}

// A refused API key, as the error handler and the statistics show it.
func Example_errorHandler() {
	srv := ezoptest.NewServer()
	defer srv.Close()
	srv.RejectKey(true) // the key was revoked
	ctx := context.Background()

	var mu sync.Mutex
	var logged []string
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		line, _, _ := strings.Cut(fmt.Sprintf(format, args...), ";")
		logged = append(logged, line)
	}
	exp, err := exporter.New(ctx,
		exporter.WithEndpoint(srv.URL), exporter.WithAPIKey(srv.APIKey),
		exporter.WithErrorHandler(ezopErrors(logf)))
	if err != nil {
		log.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(resource.NewSchemaless(
		attribute.String("service.name", "support-agent"),
		attribute.String("service.namespace", "platform"),
	)))
	ctx, run := tp.Tracer("readme").Start(ctx, "answer question")
	_, step := tp.Tracer("readme").Start(ctx, "plan")
	step.End()
	run.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		log.Fatal(err)
	}

	sort.Strings(logged)
	for _, l := range logged {
		fmt.Println(l)
	}
	printDrops(exp)
	// Unordered output:
	// ezop: 1 not delivered: run: auth
	// ezop: 2 not delivered: span: auth
	// ezop: ezop exporter: the Ezop API refused the API key
	// spans: 0 sent, 2 dropped; events: 0 sent, 0 dropped
	//   2 dropped: span: auth
	//   1 dropped: run: auth
}
