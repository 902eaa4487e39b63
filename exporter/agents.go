package exporter

import (
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
// refused agent does not cost a request per run.
type agentCache struct {
	mu sync.Mutex
	m  map[string]*agentEntry
}

type agentEntry struct {
	done      chan struct{}
	agentID   string
	versionID string
	err       error
	retryAt   time.Time // when to try again after err
}

// ensureAgent returns the ids of spec's agent and version, registering
// them if needed.
func (e *Exporter) ensureAgent(spec bridge.AgentSpec) (*agentEntry, error) {
	key := spec.Key()
	for {
		e.agents.mu.Lock()
		ent := e.agents.m[key]
		if ent == nil {
			ent = &agentEntry{done: make(chan struct{})}
			e.agents.m[key] = ent
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
	}
	c.mu.Unlock()
}
