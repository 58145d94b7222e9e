// Package pipeline runs work on items concurrently and hands the results
// to one consumer in the order the items were submitted. The format writers
// use it to compress clusters and grains on every core while writing them
// out strictly in disk order.
package pipeline

import (
	"runtime"
	"sync"
)

// Ordered is a running pipeline: Submit feeds it, workers run work on each
// item, and consume sees the items one at a time in submission order.
type Ordered[T any] struct {
	work    func(T) error
	consume func(T) error

	inOrder chan *slot[T] // every item, in submission order, for the consumer
	jobs    chan *slot[T] // the same items, for whichever worker is free
	wg      sync.WaitGroup

	mu  sync.Mutex
	err error
}

type slot[T any] struct {
	item T
	done chan struct{}
	err  error
}

// New starts a pipeline with the given number of workers (GOMAXPROCS when
// workers <= 0). At most about 2*workers+2 items are in flight, which bounds
// memory. work runs concurrently; consume runs on one goroutine, in order,
// and only for items whose work succeeded. After the first error no further
// item is consumed.
func New[T any](workers int, work, consume func(T) error) *Ordered[T] {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	depth := 2*workers + 2
	p := &Ordered[T]{
		work:    work,
		consume: consume,
		inOrder: make(chan *slot[T], depth),
		jobs:    make(chan *slot[T], depth),
	}
	p.wg.Add(workers + 1)
	for range workers {
		go p.runWorker()
	}
	go p.runConsumer()
	return p
}

// Submit queues an item, blocking while the pipeline is full. It returns the
// pipeline's first error, if any, so a producer can stop early.
func (p *Ordered[T]) Submit(item T) error {
	if err := p.Err(); err != nil {
		return err
	}
	s := &slot[T]{item: item, done: make(chan struct{})}
	// The consumer drains inOrder even after an error, so neither send can
	// block forever.
	p.inOrder <- s
	p.jobs <- s
	return nil
}

// Close waits for every submitted item to be worked on and consumed, and
// returns the first error. Submit must not be called afterwards.
func (p *Ordered[T]) Close() error {
	close(p.jobs)
	close(p.inOrder)
	p.wg.Wait()
	return p.Err()
}

// Err is the first error from work or consume, or nil.
func (p *Ordered[T]) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *Ordered[T]) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

func (p *Ordered[T]) runWorker() {
	defer p.wg.Done()
	for s := range p.jobs {
		if p.Err() == nil {
			s.err = p.work(s.item)
		}
		close(s.done)
	}
}

func (p *Ordered[T]) runConsumer() {
	defer p.wg.Done()
	for s := range p.inOrder {
		<-s.done
		if p.Err() != nil {
			continue
		}
		if s.err != nil {
			p.fail(s.err)
			continue
		}
		if err := p.consume(s.item); err != nil {
			p.fail(err)
		}
	}
}
