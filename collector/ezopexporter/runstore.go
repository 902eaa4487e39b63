package ezopexporter

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/ezopotel/ezop-otel-go/exporter"
)

// runStore keeps the runs the exporter started in the storage extension
// the sending queue persists to, so that after a crash the batches the
// queue replays go on with their runs instead of starting them twice
// (exporter.RunStore), and where each log record went, so that the logs
// batches it replays send nothing twice (exporter.RecordStore).
//
// Entries are kept for retention: long enough for a replay after a
// restart (the late-span window and the root wait, with a margin). To
// expire them without listing keys, each minute's keys are listed under
// an index key of that minute, written every flushEvery; index lists
// older than retention are deleted with their keys, at start and every
// minute. A crash loses at most the last flushEvery of index entries
// (their keys then stay in storage, a few bytes each).
type runStore struct {
	client    storage.Client
	retention time.Duration
	now       func() time.Time

	mu      sync.Mutex
	pending map[int64][]string // keys not yet in their minute's index
	// expired is the last minute whose index was expired.
	expired int64
	stop    chan struct{}
	done    chan struct{}
}

const (
	runKeyPrefix    = "run/"
	recordKeyPrefix = "rec/"
	indexKeyPrefix  = "index/"
	flushEvery      = 2 * time.Second
)

// storedRun is an entry, as JSON.
type storedRun struct {
	RunID    string `json:"r,omitempty"`
	AgentID  string `json:"a,omitempty"`
	Ended    bool   `json:"e,omitempty"`
	Starting int64  `json:"s,omitempty"` // Unix nanoseconds
}

// newRunStore opens the store on the storage extension id of host.
func newRunStore(ctx context.Context, host component.Host, id component.ID, self component.ID, retention time.Duration) (*runStore, error) {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return nil, fmt.Errorf("storage extension %s not found", id)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("extension %s is not a storage extension", id)
	}
	c, err := se.GetClient(ctx, component.KindExporter, self, "ezop-runs")
	if err != nil {
		return nil, fmt.Errorf("storage %s: %w", id, err)
	}
	s := &runStore{client: c, retention: retention, now: time.Now, pending: map[int64][]string{},
		stop: make(chan struct{}), done: make(chan struct{})}
	s.expire(ctx)
	go s.loop()
	return s, nil
}

func storeKey(k exporter.RunKey) string {
	return runKeyPrefix + hex.EncodeToString(k.TraceID[:]) + hex.EncodeToString(k.SpanID[:])
}

func (s *runStore) Load(ctx context.Context, k exporter.RunKey) (exporter.StoredRun, bool, error) {
	b, err := s.client.Get(ctx, storeKey(k))
	if err != nil || b == nil {
		return exporter.StoredRun{}, false, err
	}
	var r storedRun
	if err := json.Unmarshal(b, &r); err != nil {
		return exporter.StoredRun{}, false, fmt.Errorf("run store entry: %w", err)
	}
	sr := exporter.StoredRun{RunID: r.RunID, AgentID: r.AgentID, Ended: r.Ended}
	if r.Starting != 0 {
		sr.Starting = time.Unix(0, r.Starting)
	}
	return sr, true, nil
}

// storedRecord is a log record's entry (exporter.RecordStore), as JSON.
type storedRecord struct {
	Delivered bool   `json:"d,omitempty"`
	EventID   string `json:"e,omitempty"`
	RunID     string `json:"r,omitempty"`
	Event     []byte `json:"v,omitempty"`
}

func recordStoreKey(k exporter.RecordKey) string {
	return recordKeyPrefix + hex.EncodeToString(k.TraceID[:]) + hex.EncodeToString(k.SpanID[:]) + strconv.FormatUint(k.Hash, 16)
}

// LoadRecord and SaveRecord make the store an exporter.RecordStore: the
// log records of the logs pipeline are exact across restarts too. Their
// entries expire with the runs'.
func (s *runStore) LoadRecord(ctx context.Context, k exporter.RecordKey) (exporter.StoredRecord, bool, error) {
	b, err := s.client.Get(ctx, recordStoreKey(k))
	if err != nil || b == nil {
		return exporter.StoredRecord{}, false, err
	}
	var r storedRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return exporter.StoredRecord{}, false, fmt.Errorf("record store entry: %w", err)
	}
	return exporter.StoredRecord{Delivered: r.Delivered, EventID: r.EventID, RunID: r.RunID, Event: r.Event}, true, nil
}

func (s *runStore) SaveRecord(ctx context.Context, k exporter.RecordKey, r exporter.StoredRecord) error {
	b, err := json.Marshal(storedRecord{Delivered: r.Delivered, EventID: r.EventID, RunID: r.RunID, Event: r.Event})
	if err != nil {
		return err
	}
	return s.set(ctx, recordStoreKey(k), b)
}

func (s *runStore) Save(ctx context.Context, k exporter.RunKey, r exporter.StoredRun) error {
	st := storedRun{RunID: r.RunID, AgentID: r.AgentID, Ended: r.Ended}
	if !r.Starting.IsZero() {
		st.Starting = r.Starting.UnixNano()
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return s.set(ctx, storeKey(k), b)
}

// set writes an entry and notes its key in the index of this minute, for
// expiry.
func (s *runStore) set(ctx context.Context, key string, b []byte) error {
	if err := s.client.Set(ctx, key, b); err != nil {
		return err
	}
	m := s.now().Unix() / 60
	s.mu.Lock()
	s.pending[m] = append(s.pending[m], key)
	s.mu.Unlock()
	return nil
}

func (s *runStore) loop() {
	defer close(s.done)
	flush := time.NewTicker(flushEvery)
	defer flush.Stop()
	expire := time.NewTicker(time.Minute)
	defer expire.Stop()
	for {
		select {
		case <-s.stop:
			s.flush(context.Background())
			return
		case <-flush.C:
			s.flush(context.Background())
		case <-expire.C:
			s.expire(context.Background())
		}
	}
}

// flush appends the keys saved since the last flush to their minutes'
// index lists.
func (s *runStore) flush(ctx context.Context) {
	s.mu.Lock()
	pending := s.pending
	s.pending = map[int64][]string{}
	s.mu.Unlock()
	for m, keys := range pending {
		ik := indexKeyPrefix + strconv.FormatInt(m, 10)
		var list []string
		if b, err := s.client.Get(ctx, ik); err == nil && b != nil {
			_ = json.Unmarshal(b, &list)
		}
		list = append(list, keys...)
		if b, err := json.Marshal(list); err == nil {
			_ = s.client.Set(ctx, ik, b)
		}
	}
}

// expire deletes the index lists older than retention and their keys. It
// looks back over a day of minutes at start, then over the last few.
func (s *runStore) expire(ctx context.Context) {
	last := (s.now().Add(-s.retention).Unix() / 60) - 1
	from := last - 24*60
	if s.expired > from {
		from = s.expired
	}
	s.expired = last
	for m := last; m > from; m-- {
		ik := indexKeyPrefix + strconv.FormatInt(m, 10)
		b, err := s.client.Get(ctx, ik)
		if err != nil || b == nil {
			continue
		}
		var list []string
		_ = json.Unmarshal(b, &list)
		ops := make([]*storage.Operation, 0, len(list)+1)
		for _, k := range list {
			ops = append(ops, storage.DeleteOperation(k))
		}
		ops = append(ops, storage.DeleteOperation(ik))
		_ = s.client.Batch(ctx, ops...)
	}
}

func (s *runStore) close(ctx context.Context) error {
	close(s.stop)
	<-s.done
	return s.client.Close(ctx)
}

var (
	_ exporter.RunStore    = (*runStore)(nil)
	_ exporter.RecordStore = (*runStore)(nil)
)
