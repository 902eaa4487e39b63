package exporter

import "sync"

// pool runs tasks on a fixed number of workers: the exporter's bound on
// concurrent requests, shared by all runs. It has two FIFO queues: urgent
// tasks (span creates, run starts, registrations: the critical path of a
// run) go before the others (closes, events, run ends). The queues are
// unbounded so that a task may submit follow-up tasks without ever
// blocking; what bounds them is the exporter's span limits.
type pool struct {
	mu     sync.Mutex
	cond   *sync.Cond
	urgent queue
	normal queue
	closed bool
	wg     sync.WaitGroup
}

type queue struct {
	items []func()
	head  int
}

func (q *queue) push(f func()) { q.items = append(q.items, f) }

func (q *queue) pop() (func(), bool) {
	if q.head == len(q.items) {
		return nil, false
	}
	f := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > 1024 && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	return f, true
}

func newPool(workers int) *pool {
	p := &pool{}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(workers)
	for range workers {
		go p.work()
	}
	return p
}

// submit queues f. After close, f runs at once on the caller's goroutine:
// nothing is lost, and by then requests fail fast.
func (p *pool) submit(urgent bool, f func()) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		f()
		return
	}
	if urgent {
		p.urgent.push(f)
	} else {
		p.normal.push(f)
	}
	p.mu.Unlock()
	p.cond.Signal()
}

// do runs f on the pool and waits for it.
func (p *pool) do(f func()) {
	done := make(chan struct{})
	p.submit(true, func() {
		defer close(done)
		f()
	})
	<-done
}

func (p *pool) work() {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		var f func()
		for {
			var ok bool
			if f, ok = p.urgent.pop(); ok {
				break
			}
			if f, ok = p.normal.pop(); ok {
				break
			}
			if p.closed {
				p.mu.Unlock()
				return
			}
			p.cond.Wait()
		}
		p.mu.Unlock()
		f()
	}
}

// close makes the workers exit once the queues are empty; it does not
// wait for them (see wait).
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cond.Broadcast()
}

// wait returns a channel closed when every worker has exited.
func (p *pool) wait() <-chan struct{} {
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	return done
}
