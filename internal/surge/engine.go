package surge

import (
	"container/heap"
	"sync/atomic"
	"time"

	"github.com/linli/linli/mutualaid/catalog"
)

// Clock is the simulated clock: the server, the domain, the hotline
// simulator and the people all read it, and only the event loop moves it.
// Its Now is safe for concurrent use.
type Clock struct {
	start time.Time
	at    atomic.Int64 // nanoseconds since start
}

// Now reads the clock.
func (c *Clock) Now() time.Time { return c.start.Add(time.Duration(c.at.Load())) }

// since is the clock as an offset from the start.
func (c *Clock) since() time.Duration { return time.Duration(c.at.Load()) }

// event is something that happens at a simulated time. Events at the same
// time run in the order they were scheduled.
type event struct {
	at  time.Duration
	seq uint64
	fn  func()
}

type eventHeap []event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// loop runs events in time order on one goroutine, moving the clock to
// each event's time: the simulation is deterministic because nothing else
// moves the clock or acts.
type loop struct {
	clock *Clock
	q     eventHeap
	seq   uint64
	err   error // the first failure; the loop stops
}

// at schedules fn at time t (not before now).
func (l *loop) at(t time.Duration, fn func()) {
	t = max(t, l.clock.since())
	l.seq++
	heap.Push(&l.q, event{at: t, seq: l.seq, fn: fn})
}

// fail records the first failure; the loop stops after the current event.
func (l *loop) fail(err error) {
	if l.err == nil && err != nil {
		l.err = err
	}
}

// run runs events until end (exclusive), a failure, or stop returning
// true (checked between events).
func (l *loop) run(end time.Duration, stop func() bool) error {
	for l.q.Len() > 0 && l.err == nil {
		if l.q[0].at >= end {
			break
		}
		if stop != nil && stop() {
			break
		}
		e := heap.Pop(&l.q).(event)
		l.clock.at.Store(int64(e.at))
		e.fn()
	}
	if l.err == nil {
		l.clock.at.Store(int64(end))
	}
	return l.err
}

// isMedicine reports whether a catalog item is a medicine (and so needs
// an expiry date when offered).
func isMedicine(code string) bool {
	it, ok := catalog.Default().Item(code)
	return ok && it.Medicine
}

// category is an item's catalog category ("" if unknown).
func category(code string) catalog.Category {
	it, _ := catalog.Default().Item(code)
	return it.Category
}
