package reliability_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/bridge"
	"github.com/ezopotel/ezop-otel-go/exporter"
	"github.com/ezopotel/ezop-otel-go/ezoptest"
)

// FuzzExportBatches hands the exporter arbitrary span batches: spans of a
// few traces with arbitrary parent links (missing parents, a span its own
// parent, remote parents, cycles), duplicate ids within and across
// batches, zero times and ends before starts, split over batches in any
// order. Properties: no panic; every request the exporter sends is one
// the server accepts (no rejection); what is stored is what the exporter
// counts as sent, all of it produced by the program, each span's parent
// stored in the same run; nothing is left in flight after Shutdown.
//
//	go test ./internal/reliability/ -run='^$' -fuzz=FuzzExportBatches -fuzztime=1m
func FuzzExportBatches(f *testing.F) {
	f.Add([]byte{2, 0, 1, 0, 0, 0, 0, 2, 1, 0, 0, 1, 3, 2, 0, 1})
	f.Add([]byte{1, 0, 1, 1, 0, 0, 0, 1, 0, 4, 1, 0, 2, 1, 8, 0})  // self parent, duplicate
	f.Add([]byte{3, 1, 2, 13, 0, 2, 1, 3, 2, 2, 0, 5, 6, 5, 1, 3}) // remote parent, cycle
	f.Add([]byte{1, 0, 3, 2, 16, 0, 2, 3, 32, 1, 0, 1, 0, 0, 2})   // children first, odd times
	f.Fuzz(func(t *testing.T, data []byte) {
		batches, produced := fuzzBatches(data)
		srv := ezoptest.NewServer()
		defer srv.Close()
		exp, err := exporter.New(context.Background(),
			exporter.WithEndpoint(srv.URL), exporter.WithAPIKey(srv.APIKey),
			exporter.WithRetry(exporter.RetryConfig{Enabled: false}),
			exporter.WithRootWait(time.Hour),
			exporter.WithErrorHandler(otelHandlerFunc(func(error) {})))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for _, b := range batches {
			if err := exp.ExportSpans(ctx, b); err != nil {
				t.Fatalf("ExportSpans: %v", err)
			}
		}
		if err := exp.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		for _, r := range srv.Rejected() {
			t.Errorf("the server refused: %s", r)
		}
		st := exp.Stats()
		if st.InFlightSpans != 0 || st.InFlightEvents != 0 || st.BufferedSpans != 0 {
			t.Errorf("after Shutdown: %s", statsLine(st))
		}
		spans := srv.AllSpans()
		if int64(len(spans)) != st.SpansSent {
			t.Errorf("stored %d spans, the exporter counts %d sent", len(spans), st.SpansSent)
		}
		runOf := map[string]string{}
		for _, sp := range spans {
			runOf[sp.ID] = sp.RunID
			if !produced[sp.ID] {
				t.Errorf("span %s was never produced", sp.ID)
			}
		}
		for _, sp := range spans {
			if sp.ParentID != nil && runOf[*sp.ParentID] != sp.RunID {
				t.Errorf("span %s: parent %s not in its run", sp.ID, *sp.ParentID)
			}
		}
		if n := len(srv.AllEvents()); int64(n) != st.EventsSent {
			t.Errorf("stored %d events, the exporter counts %d sent", n, st.EventsSent)
		}
	})
}

type otelHandlerFunc func(error)

func (f otelHandlerFunc) Handle(err error) { f(err) }

// fuzzBatches builds span batches from data: a trace count, then 4 bytes
// per span (trace, span id, parent, flags) and the batch it goes to. It
// returns the batches and the Ezop ids of every span produced.
func fuzzBatches(data []byte) ([][]sdktrace.ReadOnlySpan, map[string]bool) {
	if len(data) == 0 {
		return nil, nil
	}
	traces := int(data[0]%3) + 1
	data = data[1:]
	base := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	var batches [][]sdktrace.ReadOnlySpan
	produced := map[string]bool{}
	for i := 0; i+4 <= len(data) && i < 4*64; i += 4 {
		tb, sb, pb, flags := data[i], data[i+1], data[i+2], data[i+3]
		var tid trace.TraceID
		tid[0], tid[15] = 1, byte(int(tb)%traces)+1
		var sid trace.SpanID
		sid[7] = sb%12 + 1
		stub := tracetest.SpanStub{
			Name: "op", SpanKind: trace.SpanKindInternal,
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}),
			StartTime:   base.Add(time.Duration(i) * time.Millisecond),
			EndTime:     base.Add(time.Duration(i+int(flags%8)) * time.Millisecond),
			Attributes:  []attribute.KeyValue{attribute.Int("i", i)},
			Resource:    agentResource,
		}
		switch p := pb % 16; {
		case p == 0 || p > 13:
			// a root
		case p == 13:
			var psid trace.SpanID
			psid[0] = 9
			stub.Parent = trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: psid, Remote: true})
		default:
			var psid trace.SpanID
			psid[7] = p
			stub.Parent = trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: psid})
		}
		if flags&8 != 0 {
			stub.EndTime = stub.StartTime.Add(-time.Second) // ends before it starts
		}
		if flags&16 != 0 {
			stub.StartTime = time.Time{}
		}
		if flags&32 != 0 {
			stub.Status = sdktrace.Status{Code: codes.Error, Description: "failed"}
		}
		if flags&64 != 0 {
			stub.Attributes = append(stub.Attributes,
				attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", "m"),
				attribute.Int("gen_ai.usage.input_tokens", int(flags)))
		}
		for e := range int(flags>>7) + int(flags%3) {
			stub.Events = append(stub.Events, sdktrace.Event{Name: "progress", Time: stub.StartTime.Add(time.Duration(e) * time.Microsecond)})
		}
		produced[bridge.SpanUUID(tid, sid)] = true // roots are spans too
		k := int(flags>>4) % 4
		for len(batches) <= k {
			batches = append(batches, nil)
		}
		batches[k] = append(batches[k], stub.Snapshot())
	}
	return batches, produced
}
