package sync

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// viewRef is a durable read view: a snapshot holding every durable group
// and nothing later, shared by the readers that acquired it. The store
// holds one reference to its current view; the snapshot closes when the
// last reference goes.
type viewRef struct {
	snap *pebble.Snapshot
	refs atomic.Int64
}

func (v *viewRef) release() {
	if v.refs.Add(-1) == 0 {
		v.snap.Close()
	}
}

// acquireView returns the current durable view; the caller must release it.
func (s *Store) acquireView() *viewRef {
	s.mu.RLock()
	v := s.view
	v.refs.Add(1)
	s.mu.RUnlock()
	return v
}

// markDurable records that the oldest group in flight is durable: view
// (nil if it wrote nothing) becomes what readers see, its heads are
// published and subscribers poked, and its replica position (if not 0)
// is the store's.
func (s *Store) markDurable(view *pebble.Snapshot, heads map[string]scopeHead, pos uint64) {
	var pokes map[string]uint64
	if len(heads) > 0 {
		pokes = make(map[string]uint64, len(heads))
	}
	s.mu.Lock()
	var old *viewRef
	if view != nil {
		old = s.view
		s.view = &viewRef{snap: view}
		s.view.refs.Store(1)
	}
	for sc, h := range heads {
		s.heads[sc] = h
		pokes[sc] = h.head
	}
	if pos > 0 {
		s.durablePos = pos
	}
	s.durableGroups++
	close(s.durableCh)
	s.durableCh = make(chan struct{})
	s.mu.Unlock()
	if old != nil {
		old.release()
	}
	if len(pokes) > 0 {
		s.broker.publish(pokes)
	}
}

// ErrFailed is returned by every write once a commit has failed: what was
// applied after it cannot be trusted to become durable. Reads keep serving
// the last durable state; the store must be reopened.
var ErrFailed = errors.New("sync: a commit failed; reopen the store")

// fail records the first commit failure.
func (s *Store) fail(err error) {
	s.failed.CompareAndSwap(nil, &failure{fmt.Errorf("%w: %w", ErrFailed, err)})
}

// failure returns the recorded commit failure, or nil.
func (s *Store) failure() error {
	if f := s.failed.Load(); f != nil {
		return f.err
	}
	return nil
}

type failure struct{ err error }
