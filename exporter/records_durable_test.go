package exporter

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/bridge"
)

// Log records across restarts (records_durable.go): two exporters on one
// emulator and one store stand for a Collector process and the one that
// replaces it after a crash, the second handed again what the first was
// handed (a persistent queue replaying the batches it had not finished).

// recStore is a RunStore and RecordStore in memory.
type recStore struct {
	mapStore
	mu   sync.Mutex
	recs map[RecordKey]StoredRecord
}

func (s *recStore) LoadRecord(_ context.Context, k RecordKey) (StoredRecord, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[k]
	return r, ok, nil
}

func (s *recStore) SaveRecord(_ context.Context, k RecordKey, r StoredRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recs == nil {
		s.recs = map[RecordKey]StoredRecord{}
	}
	s.recs[k] = r
	return nil
}

func (s *recStore) entries() map[RecordKey]StoredRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[RecordKey]StoredRecord, len(s.recs))
	for k, v := range s.recs {
		out[k] = v
	}
	return out
}

// durableCall is a run "agent" with a model call "chat" and the call's
// prompt as a log record carrying canary.
func durableCall(t *testing.T, canary string) (spans []sdktrace.ReadOnlySpan, recs []bridge.LogRecord) {
	tr := newTracer()
	ctx, root := tr.Start(context.Background(), "agent")
	_, chat := tr.Start(ctx, "chat", trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", "m"),
		attribute.Int("gen_ai.usage.input_tokens", 5)))
	sc := chat.SpanContext()
	chat.End()
	root.End()
	rec := bridge.LogRecord{
		Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), EventName: "gen_ai.user.message",
		Body:    attribute.MapValue(attribute.String("content", canary)),
		TraceID: sc.TraceID(), SpanID: sc.SpanID(),
	}
	return tr.rec.Ended(), []bridge.LogRecord{rec}
}

// canaryEvents returns the stored events that hold canary, with the span
// each is on.
func canaryEvents(e *env, canary string) (n int, onSpan []string) {
	for _, ev := range storedEvents(e) {
		if strings.Contains(jsonOf([]any{ev.Input, ev.Output, ev.Metadata}), canary) {
			n++
			span := ""
			if ev.SpanID != nil {
				span = *ev.SpanID
			}
			onSpan = append(onSpan, span)
		}
	}
	return n, onSpan
}

func deliverSpans(t *testing.T, e *env, spans []sdktrace.ReadOnlySpan) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.exp.ExportSpansDelivered(ctx, spans); err != nil {
		t.Fatal(err)
	}
}

func deliverRecords(t *testing.T, e *env, recs []bridge.LogRecord) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.exp.ExportLogRecordsDelivered(ctx, append([]bridge.LogRecord(nil), recs...)); err != nil {
		t.Fatal(err)
	}
}

// processOn is a process with content capture, logs and the record store
// on the emulator of before (a new one when nil), through tr.
func processOn(t *testing.T, store *recStore, before *env, tr *transport) *env {
	t.Helper()
	var e *env
	if before == nil {
		e = newEnv(t, tr, WithRunStore(store), WithCaptureContent(true))
	} else {
		e = newEnvWith(t, before.srv, before.srv.APIKey, tr, WithRunStore(store), WithCaptureContent(true))
	}
	e.exp.LogExporter()
	return e
}

func chatSpanID(recs []bridge.LogRecord) string {
	return bridge.SpanUUID(recs[0].TraceID, recs[0].SpanID)
}

// A record the first process delivered inside its span's llm_response is
// not sent again, whichever comes first when the batches are replayed.
func TestRecordStoreDeliveredNotSentTwice(t *testing.T) {
	for _, order := range []string{"records first", "spans first", "records only"} {
		t.Run(order, func(t *testing.T) {
			const canary = "canary-delivered-5521"
			spans, recs := durableCall(t, canary)
			store := &recStore{}
			first := processOn(t, store, nil, nil)
			done := make(chan struct{})
			go func() { defer close(done); deliverRecords(t, first, recs) }()
			waitFor(t, 5*time.Second, "the record held", func() bool { return first.exp.Stats().BufferedRecords == 1 })
			deliverSpans(t, first, spans)
			<-done
			first.shutdown()

			second := processOn(t, store, first, nil)
			switch order {
			case "records first":
				deliverRecords(t, second, recs)
				deliverSpans(t, second, spans)
			case "spans first":
				deliverSpans(t, second, spans)
				deliverRecords(t, second, recs)
			case "records only":
				deliverRecords(t, second, recs)
			}
			second.shutdown()
			n, on := canaryEvents(first, canary)
			if n != 1 || on[0] != chatSpanID(recs) {
				t.Errorf("the prompt is in %d events (on %v), want once on the chat span", n, on)
			}
			st := second.exp.Stats()
			if st.RecordsReplayed != 1 || st.RecordsDropped != 0 || st.EventsDropped != 0 {
				t.Errorf("second process: %+v", st)
			}
			recordsBalance(t, st)
		})
	}
}

// A record the first process never got to (its spans were delivered, the
// record's batch was not begun) is handed to a process that does not know
// its trace: it becomes an event of its own on its span, in the run the
// first process started.
func TestRecordStoreOrphanRecordOnItsSpan(t *testing.T) {
	const canary = "canary-orphan-0771"
	spans, recs := durableCall(t, canary)
	store := &recStore{}
	first := processOn(t, store, nil, nil)
	deliverSpans(t, first, spans)
	first.shutdown()

	second := processOn(t, store, first, nil)
	deliverRecords(t, second, recs)
	second.shutdown()
	n, on := canaryEvents(first, canary)
	if n != 1 || on[0] != chatSpanID(recs) {
		t.Errorf("the prompt is in %d events (on %v), want once on the chat span", n, on)
	}
	st := second.exp.Stats()
	if st.RecordsEmitted != 1 || st.Altered[reasonRecordOrphan] != 1 || st.RecordsDropped != 0 {
		t.Errorf("second process: %+v", st)
	}
	if len(first.srv.Runs()) != 1 {
		t.Errorf("%d runs, want 1", len(first.srv.Runs()))
	}
	first.noRejections()
	recordsBalance(t, st)
}

// The first process started the run and stored the root's span, not yet
// the chat span, when it died. The replayed record finds no chat span on
// the server, waits for it, and joins its llm_response when the replayed
// spans come.
func TestRecordStoreOrphanWaitsForItsSpan(t *testing.T) {
	const canary = "canary-wait-3190"
	spans, recs := durableCall(t, canary)
	var root []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == "agent" {
			root = append(root, s)
		}
	}
	store := &recStore{}
	first := processOn(t, store, nil, nil)
	deliverSpans(t, first, root)
	first.shutdown()
	for _, s := range first.srv.AllSpans() {
		if s.ID == chatSpanID(recs) {
			t.Fatal("the chat span is stored")
		}
	}

	second := processOn(t, store, first, nil)
	done := make(chan struct{})
	go func() { defer close(done); deliverRecords(t, second, recs) }()
	waitFor(t, 5*time.Second, "the record waiting for its span", func() bool { return second.exp.Stats().BufferedRecords == 1 })
	deliverSpans(t, second, spans)
	<-done
	second.shutdown()
	n, on := canaryEvents(first, canary)
	if n != 1 || on[0] != chatSpanID(recs) {
		t.Errorf("the prompt is in %d events (on %v), want once on the chat span", n, on)
	}
	st := second.exp.Stats()
	if st.RecordsJoined != 1 || st.RecordsDropped != 0 {
		t.Errorf("second process: %+v", st)
	}
	for _, rj := range first.srv.Rejected() {
		if rj.Status != http.StatusNotFound && rj.Status != http.StatusInternalServerError {
			t.Errorf("rejected: %s", rj)
		}
	}
	recordsBalance(t, st)
}

// The first process died while sending a record's own event (its span
// was sent before the record came): the next one sends that event again
// as it was.
func TestRecordStoreOwnEventSentAgain(t *testing.T) {
	const canary = "canary-own-8812"
	spans, recs := durableCall(t, canary)
	store := &recStore{}
	release := make(chan struct{})
	defer close(release)
	held := &transport{fault: func(r *http.Request, body []byte) *http.Response {
		if strings.Contains(string(body), canary) {
			<-release // the process dies here
			return envelopeResponse(r, http.StatusServiceUnavailable, "HTTP_ERROR", "gone")
		}
		return nil
	}}
	first := processOn(t, store, nil, held)
	deliverSpans(t, first, spans)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = first.exp.ExportLogRecordsDelivered(ctx, append([]bridge.LogRecord(nil), recs...))
	}()
	waitFor(t, 5*time.Second, "the record's event being sent", func() bool {
		for _, sr := range store.entries() {
			if sr.RunID != "" && len(sr.Event) > 0 && !sr.Delivered {
				return true
			}
		}
		return false
	})

	second := processOn(t, store, first, nil)
	deliverRecords(t, second, recs)
	second.shutdown()
	n, on := canaryEvents(first, canary)
	if n != 1 || on[0] != chatSpanID(recs) {
		t.Errorf("the prompt is in %d events (on %v), want once on the chat span", n, on)
	}
	if st := second.exp.Stats(); st.RecordsReplayed != 1 || st.EventsSent != 1 || st.RecordsDropped != 0 {
		t.Errorf("second process: %+v", st)
	}
}

// The first process had sent the record inside its span's llm_response
// and died before noting it delivered. In the next one the spans come
// first: the llm_response is refused as stored, and the record, coming
// after, is not sent as an event of its own.
func TestRecordStoreJoinedEventFoundStored(t *testing.T) {
	const canary = "canary-joined-4406"
	spans, recs := durableCall(t, canary)
	store := &recStore{}
	first := processOn(t, store, nil, nil)
	done := make(chan struct{})
	go func() { defer close(done); deliverRecords(t, first, recs) }()
	waitFor(t, 5*time.Second, "the record held", func() bool { return first.exp.Stats().BufferedRecords == 1 })
	deliverSpans(t, first, spans)
	<-done
	first.shutdown()
	// As the store is when the process dies between the events and the
	// note that they were delivered.
	k := recordKeyOf(&recs[0])
	sr, ok, _ := store.LoadRecord(context.Background(), k)
	if !ok || !sr.Delivered {
		t.Fatalf("the record is not noted delivered: %+v", sr)
	}
	var llm string
	for _, ev := range storedEvents(first) {
		if strings.Contains(jsonOf(ev.Input), canary) || strings.Contains(jsonOf(ev.Output), canary) {
			llm = ev.ID
		}
	}
	_ = store.SaveRecord(context.Background(), k, StoredRecord{EventID: llm})

	second := processOn(t, store, first, nil)
	deliverSpans(t, second, spans)
	deliverRecords(t, second, recs)
	second.shutdown()
	if n, on := canaryEvents(first, canary); n != 1 {
		t.Errorf("the prompt is in %d events (on %v), want once", n, on)
	}
	if st := second.exp.Stats(); st.RecordsReplayed != 1 || st.RecordsEmitted != 0 {
		t.Errorf("second process: %+v", st)
	}
}

// The first process delivered the spans, not the record (it never got to
// it), and died before its spans' batch was finished. In the next one the
// record comes while the replayed spans wait for their root, and joins
// the chat span's llm_response; that event is refused as stored (without
// the record): the record is sent as an event of its own.
func TestRecordStoreJoinedIntoAnEventStoredWithoutIt(t *testing.T) {
	const canary = "canary-late-6620"
	spans, recs := durableCall(t, canary)
	var root, chat []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == "agent" {
			root = append(root, s)
		} else {
			chat = append(chat, s)
		}
	}
	store := &recStore{}
	first := processOn(t, store, nil, nil)
	deliverSpans(t, first, spans)
	first.shutdown()

	second := processOn(t, store, first, nil)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); deliverSpans(t, second, chat) }()
	waitFor(t, 5*time.Second, "the chat span waiting for its root", func() bool { return second.exp.Stats().BufferedSpans == 1 })
	go func() { defer wg.Done(); deliverRecords(t, second, recs) }()
	waitFor(t, 5*time.Second, "the record waiting for its span", func() bool { return second.exp.Stats().BufferedRecords == 1 })
	deliverSpans(t, second, root)
	wg.Wait()
	second.shutdown()
	n, on := canaryEvents(first, canary)
	if n != 1 || on[0] != chatSpanID(recs) {
		t.Errorf("the prompt is in %d events (on %v), want once on the chat span", n, on)
	}
	st := second.exp.Stats()
	if st.RecordsEmitted != 1 || st.RecordsJoined != 0 || st.RecordsDropped != 0 {
		t.Errorf("second process: %+v", st)
	}
	recordsBalance(t, st)
}
