package exporter

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ezopotel/ezop-otel-go/bridge"
	"github.com/ezopotel/ezop-otel-go/internal/client"
	"github.com/ezopotel/ezop-otel-go/internal/wire"
)

// agentCache holds the ids of registered agents and versions by
// AgentSpec.Key. The first user of a key registers; concurrent users wait
// for its answer (one registration per key, like singleflight). A failed
// registration is remembered for a while (config.agentRetry) so that a
// refused agent does not cost a request per run. At most max entries are
// kept, the least recently used evicted first: in a Collector any sender
// names agents, and an evicted agent costs one idempotent registration
// when it comes back.
type agentCache struct {
	mu  sync.Mutex
	m   map[string]*agentEntry
	lru *list.List // of *agentEntry, least recently used first
	max int
}

type agentEntry struct {
	key       string
	elem      *list.Element
	done      chan struct{}
	agentID   string
	versionID string
	err       error
	retryAt   time.Time // when to try again after err
}

func (c *agentCache) init(max int) {
	c.m = map[string]*agentEntry{}
	c.lru = list.New()
	c.max = max
}

// getLocked returns the entry of key, made if needed, and marks it used.
func (c *agentCache) getLocked(key string) (ent *agentEntry, made bool) {
	if ent = c.m[key]; ent != nil {
		c.lru.MoveToBack(ent.elem)
		return ent, false
	}
	ent = &agentEntry{key: key, done: make(chan struct{})}
	ent.elem = c.lru.PushBack(ent)
	c.m[key] = ent
	for c.lru.Len() > c.max {
		old := c.lru.Front().Value.(*agentEntry)
		c.lru.Remove(old.elem)
		delete(c.m, old.key) // a registration in flight finishes for its waiters
	}
	return ent, true
}

// ensureAgent returns the ids of spec's agent and version, registering
// them if needed.
func (e *Exporter) ensureAgent(spec bridge.AgentSpec) (*agentEntry, error) {
	key := spec.Key()
	for {
		e.agents.mu.Lock()
		ent, made := e.agents.getLocked(key)
		if made {
			e.agents.mu.Unlock()
			e.register(spec, ent)
			close(ent.done)
			if ent.err != nil {
				return nil, ent.err
			}
			return ent, nil
		}
		e.agents.mu.Unlock()
		wasDone := false
		select {
		case <-ent.done:
			wasDone = true
		default:
			<-ent.done
		}
		if ent.err == nil {
			return ent, nil
		}
		// A caller that waited for the failed attempt shares its error; a
		// later one tries again once the retry time has come.
		if !wasDone || e.cfg.now().Before(ent.retryAt) {
			return nil, ent.err
		}
		e.agents.forget(key, ent)
	}
}

func (e *Exporter) register(spec bridge.AgentSpec, ent *agentEntry) {
	var agent wire.Agent
	ent.err = e.call(func(ctx context.Context) (err error) {
		agent, err = e.api.RegisterAgent(ctx, spec.Register)
		return err
	})
	if ent.err == nil && spec.Version != nil {
		var v wire.Version
		ent.err = e.call(func(ctx context.Context) (err error) {
			v, err = e.api.CreateVersion(ctx, agent.ID, *spec.Version)
			return err
		})
		ent.versionID = v.ID
	}
	ent.agentID = agent.ID
	// A refused key pauses all sending (see authFailed); other failures
	// are not tried again for a while.
	if ent.err != nil && !errors.Is(ent.err, client.ErrAuth) {
		ent.retryAt = e.cfg.now().Add(e.cfg.agentRetry)
	}
}

// forget drops ent from the cache if it is still the entry of key.
func (c *agentCache) forget(key string, ent *agentEntry) {
	c.mu.Lock()
	if c.m[key] == ent {
		delete(c.m, key)
		c.lru.Remove(ent.elem)
	}
	c.mu.Unlock()
}
