package exporter

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/ezopotel/ezop-otel-go/ezoptest"
	"github.com/ezopotel/ezop-otel-go/internal/client"
)

// collected is one collection of the exporter's metrics.
type collected struct {
	t       *testing.T
	metrics map[string]metricdata.Metrics
}

func collect(t *testing.T, r *sdkmetric.ManualReader) collected {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	c := collected{t: t, metrics: map[string]metricdata.Metrics{}}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != MeterName {
			continue
		}
		if sm.Scope.SchemaURL == "" || sm.Scope.Version == "" {
			t.Errorf("scope %+v: no schema URL or version", sm.Scope)
		}
		for _, m := range sm.Metrics {
			c.metrics[m.Name] = m
		}
	}
	return c
}

// points returns the data points of an int64 sum, checking its unit and
// monotonicity.
func (c collected) points(name, unit string, monotonic bool) []metricdata.DataPoint[int64] {
	c.t.Helper()
	m, ok := c.metrics[name]
	if !ok {
		c.t.Errorf("no metric %s", name)
		return nil
	}
	if m.Unit != unit || m.Description == "" {
		c.t.Errorf("%s: unit %q (want %q), description %q", name, m.Unit, unit, m.Description)
	}
	s, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		c.t.Errorf("%s: %T, want an int64 sum", name, m.Data)
		return nil
	}
	if s.IsMonotonic != monotonic || s.Temporality != metricdata.CumulativeTemporality {
		c.t.Errorf("%s: monotonic %v, temporality %v", name, s.IsMonotonic, s.Temporality)
	}
	return s.DataPoints
}

// sum adds the points of name whose attributes pass keep.
func (c collected) sum(name, unit string, monotonic bool, keep func(attribute.Set) bool) int64 {
	c.t.Helper()
	var n int64
	for _, p := range c.points(name, unit, monotonic) {
		if keep == nil || keep(p.Attributes) {
			n += p.Value
		}
	}
	return n
}

func (c collected) value(name, unit string, monotonic bool) int64 {
	return c.sum(name, unit, monotonic, nil)
}

func has(key string) func(attribute.Set) bool {
	return func(s attribute.Set) bool { return s.HasValue(attribute.Key(key)) }
}

func hasNot(key string) func(attribute.Set) bool {
	return func(s attribute.Set) bool { return !s.HasValue(attribute.Key(key)) }
}

func str(s attribute.Set, key string) string {
	v, _ := s.Value(attribute.Key(key))
	return v.AsString()
}

// A workload with injected faults (refused span creates, a 5xx retried,
// the event quota spent, a trace over its span bound and one waiting for
// its root): every metric read back with the SDK's ManualReader equals
// Stats.
func TestMetricsEqualStats(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })

	srv := ezoptest.NewServer(ezoptest.WithEventQuota(6))
	t.Cleanup(srv.Close)
	srv.Inject(ezoptest.Fault{Endpoint: ezoptest.EndpointCreateSpan, Status: 422, Message: "injected refusal", EveryNth: 5})
	// Two 503s, not three: three unavailable answers in a row are an outage,
	// which pauses sending instead of retrying.
	srv.Inject(ezoptest.Fault{Endpoint: ezoptest.EndpointCloseSpan, Status: 503, Times: 2})
	srv.Inject(ezoptest.Fault{Endpoint: ezoptest.EndpointCloseSpan, Status: 500, Times: 3})
	e := newEnvWith(t, srv, srv.APIKey, nil, WithMeterProvider(mp), WithMaxSpansPerTrace(4))

	tr := newTracer()
	for _, p := range []string{"a", "b", "c"} {
		tr.tree(p, 2, 2) // 7 spans, 6 events each
	}
	e.export(tr.rec.Ended()...)
	// A trace whose root has not ended: 4 of its 6 spans wait, 2 are over
	// WithMaxSpansPerTrace.
	ctx, root := tr.Start(context.Background(), "open root")
	for range 6 {
		_, s := tr.Start(ctx, "waiting")
		s.End()
	}
	ended := tr.rec.Ended()
	e.export(ended[len(ended)-6:]...)

	before := e.exp.Stats()
	c := collect(t, reader)
	st := e.exp.Stats()
	if !maps.Equal(st.Dropped, before.Dropped) || st.SpansSent != before.SpansSent || st.Requests != before.Requests {
		t.Fatalf("Stats moved during the collection:\n%+v\n%+v", before, st)
	}
	// The workload did what it should.
	if st.SpansDropped == 0 || st.EventsDropped == 0 || st.RequestsRetried == 0 || st.BufferedSpans != 4 || st.RememberedTraces == 0 || len(st.Altered) == 0 {
		t.Fatalf("workload: %+v", st)
	}

	okOnly, failed := hasNot("error.type"), has("error.type")
	for _, m := range []struct {
		name, unit string
		monotonic  bool
		keep       func(attribute.Set) bool
		want       int64
	}{
		{"otel.sdk.exporter.span.inflight", "{span}", false, nil, int64(st.BufferedSpans + st.InFlightSpans)},
		{"otel.sdk.exporter.span.exported", "{span}", true, okOnly, st.SpansSent},
		{"otel.sdk.exporter.span.exported", "{span}", true, failed, st.SpansDropped},
		{metricEventExported, "{event}", true, okOnly, st.EventsSent},
		{metricEventExported, "{event}", true, failed, st.EventsDropped},
		{metricEventInflight, "{event}", false, nil, int64(st.InFlightEvents)},
		{metricRunStarted, "{run}", true, nil, st.RunsStarted},
		{metricRunEnded, "{run}", true, nil, st.RunsEnded},
		{metricRunLive, "{run}", false, nil, int64(st.LiveRuns)},
		{metricRequestSent, "{request}", true, nil, st.Requests},
		{metricRequestRetried, "{request}", true, nil, st.RequestsRetried},
		{metricRequestInflight, "{request}", false, nil, int64(st.InFlightRequests)},
		{metricBufferTraces, "{trace}", false, nil, int64(st.BufferedTraces)},
		{metricBufferSpans, "{span}", false, nil, int64(st.BufferedSpans)},
		{metricBufferSize, "By", false, nil, int64(st.BufferedBytes)},
		{metricRememberedTraces, "{trace}", false, nil, int64(st.RememberedTraces)},
		{metricRememberedSize, "By", false, nil, int64(st.RememberedBytes)},
	} {
		if got := c.sum(m.name, m.unit, m.monotonic, m.keep); got != m.want {
			t.Errorf("%s = %d, Stats says %d", m.name, got, m.want)
		}
	}

	// Drops and alterations by reason: exactly Stats' maps.
	dropped := map[string]int64{}
	for _, p := range c.points(metricDropped, "{item}", true) {
		reason := str(p.Attributes, "ezop.exporter.reason")
		dropped[reason] += p.Value
		if str(p.Attributes, "ezop.exporter.item") != dropItem(reason) || str(p.Attributes, "error.type") == "" {
			t.Errorf("drop %q: attributes %v", reason, p.Attributes.ToSlice())
		}
	}
	if !maps.Equal(dropped, st.Dropped) {
		t.Errorf("dropped by reason:\n%v\nStats:\n%v", dropped, st.Dropped)
	}
	altered := map[string]int64{}
	for _, p := range c.points(metricAltered, "{item}", true) {
		altered[str(p.Attributes, "ezop.exporter.reason")] += p.Value
	}
	if !maps.Equal(altered, st.Altered) {
		t.Errorf("altered by reason:\n%v\nStats:\n%v", altered, st.Altered)
	}

	// Failures carry their class: the injected refusals, the quota, the
	// span bound.
	classes := map[string]int64{}
	for _, p := range c.points("otel.sdk.exporter.span.exported", "{span}", true) {
		if p.Attributes.HasValue("error.type") {
			classes["span "+str(p.Attributes, "error.type")] += p.Value
		}
	}
	for _, p := range c.points(metricEventExported, "{event}", true) {
		if p.Attributes.HasValue("error.type") {
			classes["event "+str(p.Attributes, "error.type")] += p.Value
		}
	}
	for _, want := range []string{"span " + errTypeValidation, "span " + errTypeBufferFull, "event " + errTypeRateLimited} {
		if classes[want] == 0 {
			t.Errorf("no failures of class %q: %v", want, classes)
		}
	}

	// One duration per API operation; failures with error.type and the
	// answer's status.
	m, ok := c.metrics["otel.sdk.exporter.operation.duration"]
	if !ok {
		t.Fatal("no operation duration")
	}
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok || m.Unit != "s" {
		t.Fatalf("operation duration: %T, unit %q", m.Data, m.Unit)
	}
	var ops uint64
	statuses := map[string]bool{}
	for _, p := range h.DataPoints {
		ops += p.Count
		if et := str(p.Attributes, "error.type"); et != "" {
			v, _ := p.Attributes.Value("http.response.status_code")
			statuses[et+" "+v.Emit()] = true
		} else if p.Attributes.HasValue("http.response.status_code") {
			t.Errorf("a success with a status code: %v", p.Attributes.ToSlice())
		}
	}
	if ops != uint64(st.Requests) {
		t.Errorf("%d operation durations, %d requests", ops, st.Requests)
	}
	for _, want := range []string{errTypeValidation + " 422", errTypeRateLimited + " 429"} {
		if !statuses[want] {
			t.Errorf("no failed operation %q: %v", want, statuses)
		}
	}

	// Every point names the component and the server.
	for name, m := range c.metrics {
		var sets []attribute.Set
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, p := range d.DataPoints {
				sets = append(sets, p.Attributes)
			}
		case metricdata.Histogram[float64]:
			for _, p := range d.DataPoints {
				sets = append(sets, p.Attributes)
			}
		}
		for _, s := range sets {
			if str(s, "otel.component.type") != ComponentType || !strings.HasPrefix(str(s, "otel.component.name"), ComponentType+"/") ||
				str(s, "server.address") != "127.0.0.1" || !s.HasValue("server.port") {
				t.Errorf("%s: attributes %v", name, s.ToSlice())
			}
		}
	}
	root.End()
}

// After Shutdown the exporter reports nothing (its callback is
// unregistered, so the provider does not keep it); two exporters have two
// component names.
func TestMetricsLifecycle(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	a := newEnv(t, nil, WithMeterProvider(mp))
	b := newEnv(t, nil, WithMeterProvider(mp))
	names := map[string]bool{}
	for _, p := range collect(t, reader).points(metricRunStarted, "{run}", true) {
		names[str(p.Attributes, "otel.component.name")] = true
	}
	if len(names) != 2 {
		t.Errorf("component names: %v", names)
	}
	a.shutdown()
	b.shutdown()
	c := collect(t, reader)
	for name, m := range c.metrics {
		if s, ok := m.Data.(metricdata.Sum[int64]); ok && len(s.DataPoints) > 0 {
			t.Errorf("%s reported after Shutdown: %v", name, s.DataPoints)
		}
	}
}

// Off: a no-op provider (and the global one, a no-op until set) records
// no duration and costs the request path one check.
func TestMetricsOff(t *testing.T) {
	e := newEnv(t, nil, WithMeterProvider(noop.NewMeterProvider()))
	if !e.exp.met.opStart().IsZero() {
		t.Error("durations recorded with a no-op provider")
	}
	tr := newTracer()
	tr.tree("x", 1, 2)
	e.export(tr.rec.Ended()...)
	if st := e.exp.Stats(); st.SpansSent != 3 {
		t.Errorf("stats: %+v", st)
	}
	d := newEnv(t, nil)
	if !d.exp.met.opStart().IsZero() {
		t.Error("durations recorded through the global provider, which is a no-op")
	}
	start := time.Now()
	for range 1000 {
		d.exp.met.opEnd(d.exp.met.opStart(), nil)
	}
	if el := time.Since(start); el > 50*time.Millisecond {
		t.Errorf("1000 checks took %s", el)
	}
}

// The classes of the drop reasons the exporter counts (send.go,
// lifecycle.go, exporter.go): a reason renamed there shows here.
func TestDropErrorType(t *testing.T) {
	for reason, want := range map[string]string{
		"span: " + reasonMaxTraces:        errTypeBufferFull,
		"span: " + reasonMaxBytes:         errTypeBufferFull,
		"run: end: " + reasonMaxSpans:     errTypeBufferFull,
		"span: " + reasonShutdown:         errTypeShutdown,
		"span: auth":                      errTypeAuth,
		"run: end: auth":                  errTypeAuth,
		"span: end time: auth":            errTypeAuth,
		"event: shutdown deadline passed": errTypeShutdown,
		"span: create failed: validation: Parent span not found.": errTypeValidation,
		"event: emit failed: rate limited: Monthly event limit":   errTypeRateLimited,
		"span: end time: close failed: server error":              errTypeServer,
		"run: run start failed: transport error":                  errTypeTransport,
		"span: agent registration failed: not found: Agent":       errTypeNotFound,
		"event: emit failed: invalid argument":                    errTypeInvalidArg,
		"span: " + failReason("create", client.ErrUnavailable):    errTypeUnavailable,
		"span: child run: invoking run not started":               errTypeParentNotRun,
		"duplicate span id":                                       errTypeOther,
		"message content not captured (content capture is off)":   errTypeOther,
		"other": errTypeOther,
		"span: " + failReason("create", errShutdownAbort):             errTypeShutdown,
		"event: " + failReason("emit", context.Canceled):              errTypeShutdown,
		"run: " + partReason("end", errAuthPaused{until: time.Now()}): errTypeAuth,
	} {
		if got := dropErrorType(reason); got != want {
			t.Errorf("dropErrorType(%q) = %q, want %q", reason, got, want)
		}
	}
}

// The request path's cost of the operation duration, off and on, and the
// cost of one collection (the callback reads Stats once):
//
//	go test -run '^$' -bench Metrics ./exporter
func BenchmarkMetricsRequestPath(b *testing.B) {
	for _, on := range []bool{false, true} {
		name, opts := "off", []Option{WithMeterProvider(noop.NewMeterProvider())}
		if on {
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
			b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
			name, opts = "on", []Option{WithMeterProvider(mp)}
		}
		b.Run(name, func(b *testing.B) {
			e, err := New(context.Background(), append(opts, WithoutEnvironment(), WithAPIKey(envTestKey), WithEndpoint("http://127.0.0.1:1"))...)
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = e.Shutdown(context.Background()) }()
			b.ReportAllocs()
			for b.Loop() {
				e.met.opEnd(e.met.opStart(), nil)
			}
		})
	}
}

func BenchmarkMetricsCollect(b *testing.B) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	e, err := New(context.Background(), WithMeterProvider(mp), WithoutEnvironment(), WithAPIKey(envTestKey), WithEndpoint("http://127.0.0.1:1"))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = e.Shutdown(context.Background()) }()
	var rm metricdata.ResourceMetrics
	b.ReportAllocs()
	for b.Loop() {
		if err := reader.Collect(context.Background(), &rm); err != nil {
			b.Fatal(err)
		}
	}
}
