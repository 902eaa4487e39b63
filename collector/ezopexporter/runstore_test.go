package ezopexporter

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/otel/trace"

	"github.com/ezopotel/ezop-otel-go/exporter"
)

// memClient is a storage.Client in memory.
type memClient struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (c *memClient) Get(_ context.Context, k string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k], nil
}

func (c *memClient) Set(_ context.Context, k string, v []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = append([]byte(nil), v...)
	return nil
}

func (c *memClient) Delete(_ context.Context, k string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
	return nil
}

func (c *memClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			op.Value, _ = c.Get(ctx, op.Key)
		case storage.Set:
			_ = c.Set(ctx, op.Key, op.Value)
		case storage.Delete:
			_ = c.Delete(ctx, op.Key)
		}
	}
	return nil
}

func (c *memClient) Close(context.Context) error { return nil }

func (c *memClient) keys(prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k := range c.m {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

// Records round-trip through the store, one entry per record, and expire
// with the runs.
func TestRunStoreRecords(t *testing.T) {
	c := &memClient{m: map[string][]byte{}}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := &runStore{client: c, retention: 10 * time.Minute, now: func() time.Time { return now }, pending: map[int64][]string{}}
	ctx := context.Background()
	k := exporter.RecordKey{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, Hash: 0xabc}
	if _, ok, err := s.LoadRecord(ctx, k); ok || err != nil {
		t.Fatalf("empty store: %v %v", ok, err)
	}
	want := exporter.StoredRecord{EventID: "e", RunID: "r", Event: []byte(`{"id":"e"}`)}
	if err := s.SaveRecord(ctx, k, want); err != nil {
		t.Fatal(err)
	}
	other := k
	other.Hash++
	if err := s.SaveRecord(ctx, other, exporter.StoredRecord{Delivered: true}); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.LoadRecord(ctx, k)
	if !ok || err != nil || got.EventID != "e" || got.RunID != "r" || string(got.Event) != `{"id":"e"}` || got.Delivered {
		t.Fatalf("loaded %+v %v %v", got, ok, err)
	}
	if got, _, _ := s.LoadRecord(ctx, other); !got.Delivered {
		t.Errorf("the other record: %+v", got)
	}
	if n := c.keys(recordKeyPrefix); n != 2 {
		t.Errorf("%d record entries, want 2", n)
	}
	s.flush(ctx)
	now = now.Add(12 * time.Minute)
	s.expire(ctx)
	if n := c.keys(recordKeyPrefix); n != 0 {
		t.Errorf("%d record entries after retention, want 0", n)
	}
}
