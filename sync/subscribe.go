package sync

import (
	"fmt"
	gosync "sync"
)

// Subscription receives the new heads of a set of scopes. Heads that move
// while the subscriber is not reading are coalesced: it sees the latest head
// of each scope, never a backlog, and the writer never waits for it.
type Subscription struct {
	b      *broker
	scopes []string
	notify chan struct{} // capacity 1: "something is pending"

	mu      gosync.Mutex
	pending map[string]uint64
	closed  bool
}

// Ready is signalled when new heads are pending, and closed when the
// subscription is closed (by Close or by the store closing).
func (sub *Subscription) Ready() <-chan struct{} { return sub.notify }

// Take returns the heads that moved since the last Take (nil if none) and
// whether the subscription is still open.
func (sub *Subscription) Take() (map[string]uint64, bool) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	p := sub.pending
	sub.pending = nil
	return p, !sub.closed
}

// Close ends the subscription. It is safe to call more than once.
func (sub *Subscription) Close() { sub.b.remove(sub) }

// Subscribe returns a subscription to scopes, first loaded with their
// current heads so the caller learns where they stand.
// Errors: ErrBadScope, ErrClosed.
func (s *Store) Subscribe(scopes []string) (*Subscription, error) {
	for _, sc := range scopes {
		if !validName(sc) {
			return nil, fmt.Errorf("subscribe %q: %w", sc, ErrBadScope)
		}
	}
	select {
	case <-s.done:
		return nil, ErrClosed
	default:
	}
	sub := &Subscription{b: s.broker, scopes: scopes, notify: make(chan struct{}, 1)}
	s.broker.add(sub)
	// Loaded after registering, so no head can fall between the two.
	sub.offer(s.Heads(scopes))
	return sub, nil
}

// offer merges heads into pending and signals without blocking.
func (sub *Subscription) offer(heads map[string]uint64) {
	sub.mu.Lock()
	if sub.closed {
		sub.mu.Unlock()
		return
	}
	if sub.pending == nil {
		sub.pending = make(map[string]uint64, len(heads))
	}
	for sc, h := range heads {
		if cur, ok := sub.pending[sc]; !ok || h > cur {
			sub.pending[sc] = h
		}
	}
	select { // under mu, so close cannot race the send
	case sub.notify <- struct{}{}:
	default:
	}
	sub.mu.Unlock()
}

func (sub *Subscription) close() {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if !sub.closed {
		sub.closed = true
		close(sub.notify)
	}
}

// broker routes head changes to the subscriptions of each scope.
type broker struct {
	mu     gosync.RWMutex
	scopes map[string]map[*Subscription]struct{}
}

func newBroker() *broker {
	return &broker{scopes: make(map[string]map[*Subscription]struct{})}
}

func (b *broker) add(sub *Subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, sc := range sub.scopes {
		set := b.scopes[sc]
		if set == nil {
			set = make(map[*Subscription]struct{})
			b.scopes[sc] = set
		}
		set[sub] = struct{}{}
	}
}

func (b *broker) remove(sub *Subscription) {
	b.mu.Lock()
	for _, sc := range sub.scopes {
		delete(b.scopes[sc], sub)
		if len(b.scopes[sc]) == 0 {
			delete(b.scopes, sc)
		}
	}
	b.mu.Unlock()
	sub.close()
}

// publish offers new heads to every subscriber of the scopes; it never blocks
// on a subscriber.
func (b *broker) publish(heads map[string]uint64) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for sc, h := range heads {
		one := map[string]uint64{sc: h}
		for sub := range b.scopes[sc] {
			sub.offer(one)
		}
	}
}

// Subscribers returns the number of open subscriptions (for metrics).
func (s *Store) Subscribers() int {
	s.broker.mu.RLock()
	defer s.broker.mu.RUnlock()
	seen := make(map[*Subscription]struct{})
	for _, set := range s.broker.scopes {
		for sub := range set {
			seen[sub] = struct{}{}
		}
	}
	return len(seen)
}

func (b *broker) closeAll() {
	b.mu.Lock()
	var all []*Subscription
	for _, set := range b.scopes {
		for sub := range set {
			all = append(all, sub)
		}
	}
	b.scopes = make(map[string]map[*Subscription]struct{})
	b.mu.Unlock()
	for _, sub := range all {
		sub.close()
	}
}
