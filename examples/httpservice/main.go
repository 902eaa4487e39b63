// Command httpservice is an HTTP service whose requests are Ezop runs: it is
// instrumented with otelhttp (go.opentelemetry.io/contrib/instrumentation/
// net/http/otelhttp) and nothing Ezop-specific.
//
// Each request to GET /ask?city=… gets a SERVER span from otelhttp with
// http.route "/ask" (set because the route's handler, not the whole mux,
// is wrapped: the mux has matched the pattern when otelhttp starts the
// span). Such a span becomes a run with trigger type api and trigger id
// "/ask". The handler asks a (simulated) LLM, calls a downstream HTTP tool,
// a weather API on a second local listener, through a client instrumented
// with otelhttp.NewTransport, and asks the LLM again. The tool call is
// wrapped in a span with gen_ai.operation.name "execute_tool" and
// gen_ai.tool.name, which makes it an Ezop tool call; otelhttp's CLIENT
// span is its child. For the city the weather API does not know the tool
// call fails (tool_call_failed), the agent answers anyway and the run
// succeeds.
//
// The service listens on 127.0.0.1:0, sends itself three requests, shuts
// down and prints what arrived: on the Ezop that EZOP_API_URL and
// EZOP_API_KEY name, else on the in-process emulator.
//
//	go run ./examples/httpservice
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/ezoptest"
)

func main() {
	if err := run(context.Background(), os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "httpservice:", err)
		os.Exit(1)
	}
}

// cities are the requests the demo sends itself; the weather API does not
// know Atlantis.
var cities = []string{"Paris", "Oslo", "Atlantis"}

// run reports the demo to the Ezop that EZOP_API_URL and EZOP_API_KEY
// name, or, without a key, to an in-process emulator whose stored runs it
// prints.
func run(ctx context.Context, w io.Writer, getenv func(string) string) error {
	if key := getenv("EZOP_API_KEY"); key != "" {
		opts := []exporter.Option{exporter.WithAPIKey(key)}
		if url := getenv("EZOP_API_URL"); url != "" {
			opts = append(opts, exporter.WithEndpoint(url))
		}
		st, err := demo(ctx, w, opts...)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "sent: %d runs, %d spans, %d events (%d spans, %d events not delivered)\n",
			st.RunsEnded, st.SpansSent, st.EventsSent, st.SpansDropped, st.EventsDropped)
		return nil
	}
	srv := ezoptest.NewServer()
	defer srv.Close()
	fmt.Fprintln(w, "EZOP_API_KEY is not set: reporting to an in-process Ezop emulator (package ezoptest) instead")
	if _, err := demo(ctx, w, exporter.WithEndpoint(srv.URL), exporter.WithAPIKey(srv.APIKey)); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, r := range byStartTime(srv.Runs()) {
		fmt.Fprint(w, srv.Tree(r.ID))
	}
	return nil
}

// byStartTime orders runs by the true start time of their root span, which
// the exporter keeps in run metadata (runs are created in parallel).
func byStartTime(runs []ezoptest.Run) []ezoptest.Run {
	start := func(r ezoptest.Run) string {
		o, _ := r.Metadata["otel"].(map[string]any)
		s, _ := o["start_time"].(string)
		return s
	}
	sort.SliceStable(runs, func(i, j int) bool { return start(runs[i]) < start(runs[j]) })
	return runs
}

// demo starts the weather API and the agent service, sends the service one
// request per city, shuts everything down (which delivers the runs to
// Ezop) and returns the exporter's statistics.
func demo(ctx context.Context, w io.Writer, opts ...exporter.Option) (exporter.Stats, error) {
	exp, err := exporter.New(ctx, opts...)
	if err != nil {
		return exporter.Stats{}, err
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(
			attribute.String("service.name", "weather-agent"),
			attribute.String("service.namespace", "examples"),
			attribute.String("service.version", "2.0.1"),
		)),
	)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = tp.Shutdown(sctx) // a no-op after the Shutdown below
	}()

	// The downstream tool: a weather API (not instrumented; it stands for
	// a third-party service).
	weather, err := listen(http.HandlerFunc(weatherAPI))
	if err != nil {
		return exporter.Stats{}, err
	}
	defer weather.close()

	// The agent service. Each route's handler is wrapped by otelhttp, so
	// its SERVER span carries http.route. An application would call
	// otel.SetTracerProvider(tp) instead of passing WithTracerProvider.
	svc := &service{
		tracer:     tp.Tracer("github.com/ezopotel/ezop-otel-go/examples/httpservice"),
		weatherURL: weather.url,
		client: &http.Client{
			Transport: otelhttp.NewTransport(http.DefaultTransport, otelhttp.WithTracerProvider(tp)),
			Timeout:   5 * time.Second,
		},
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ask", otelhttp.NewHandler(http.HandlerFunc(svc.ask), "ask", otelhttp.WithTracerProvider(tp)))
	agent, err := listen(mux)
	if err != nil {
		return exporter.Stats{}, err
	}

	// The callers: plain HTTP requests, as from another system.
	for _, city := range cities {
		status, body, err := get(ctx, agent.url+"/ask?city="+url.QueryEscape(city))
		if err != nil {
			agent.close()
			return exporter.Stats{}, err
		}
		fmt.Fprintf(w, "GET /ask?city=%s -> %d %s\n", city, status, body)
	}
	agent.close()

	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = tp.Shutdown(sctx)
	return exp.Stats(), err
}

// service is the agent behind GET /ask.
type service struct {
	tracer     trace.Tracer
	client     *http.Client
	weatherURL string
}

// ask answers "what is the weather in city?": one run.
func (s *service) ask(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	city := r.URL.Query().Get("city")
	// An application attribute on otelhttp's span: it lands in the run's
	// metadata.
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("weather.city", city))

	s.chat(ctx, 230, 18, "tool_calls")
	var answer string
	if forecast, err := s.getWeather(ctx, city); err != nil {
		answer = fmt.Sprintf("Sorry, I could not get the weather for %s.", city)
	} else {
		answer = fmt.Sprintf("%s: %s, %d°C.", city, forecast.Sky, forecast.TempC)
	}
	s.chat(ctx, 290, 24, "stop")
	fmt.Fprint(w, answer)
}

// chat records a (simulated) LLM call with the GenAI conventions.
func (s *service) chat(ctx context.Context, in, out int, finish string) {
	_, span := s.tracer.Start(ctx, "chat gpt-4o-mini",
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("gen_ai.operation.name", "chat"),
			attribute.String("gen_ai.provider.name", "openai"),
			attribute.String("gen_ai.request.model", "gpt-4o-mini"),
			attribute.Int("gen_ai.usage.input_tokens", in),
			attribute.Int("gen_ai.usage.output_tokens", out),
			attribute.StringSlice("gen_ai.response.finish_reasons", []string{finish}),
		))
	time.Sleep(time.Millisecond)
	span.End()
}

type forecast struct {
	Sky   string `json:"sky"`
	TempC int    `json:"temp_c"`
}

// getWeather is the tool call: a span marked as a tool by the GenAI keys,
// around the HTTP request that otelhttp's transport records.
func (s *service) getWeather(ctx context.Context, city string) (f forecast, err error) {
	ctx, span := s.tracer.Start(ctx, "execute_tool get_weather", trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "execute_tool"),
		attribute.String("gen_ai.tool.name", "get_weather"),
	))
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.weatherURL+"/weather?city="+url.QueryEscape(city), nil)
	if err != nil {
		return f, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return f, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return f, fmt.Errorf("weather API: %s", resp.Status)
	}
	err = json.NewDecoder(resp.Body).Decode(&f)
	return f, err
}

// weatherAPI is the downstream service: GET /weather?city=….
func weatherAPI(w http.ResponseWriter, r *http.Request) {
	known := map[string]forecast{"Paris": {"cloudy", 14}, "Oslo": {"snow", -3}}
	f, ok := known[r.URL.Query().Get("city")]
	if !ok {
		http.Error(w, "unknown city", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(f)
}

// server is an HTTP server on a loopback port.
type server struct {
	url  string
	srv  *http.Server
	done chan struct{}
}

func listen(h http.Handler) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{url: "http://" + ln.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "httpservice: serve:", err)
		}
	}()
	return s, nil
}

// close stops the server once its requests are done.
func (s *server) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	<-s.done
}

// get sends a plain (uninstrumented) GET and returns the status and body.
func get(ctx context.Context, u string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
