package sync

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// LogStats summarises the scope logs from the committed heads, for metrics.
// It costs one pass over the heads in memory and no read of the database.
type LogStats struct {
	// Scopes is the number of scopes that have had at least one change.
	Scopes int
	// HeadSum is the sum of every scope's head seq: how many log entries
	// have ever been published, counting those compacted away since.
	HeadSum uint64
	// LowWaterSum is the sum of every scope's low-water mark. It rises when
	// old tombstones are dropped.
	LowWaterSum uint64
}

// LogStats returns a summary of the committed scope logs. It is safe to call
// at any time, also after Close (it then reports the last committed heads).
func (s *Store) LogStats() LogStats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := LogStats{Scopes: len(s.heads)}
	for _, h := range s.heads {
		st.HeadSum += h.head
		st.LowWaterSum += h.lwm
	}
	return st
}

// Ping reports whether the store answers a trivial read (its epoch), for
// readiness probes.
//
// REQUIRES: like every read, it must not race the end of Close; once Close
// has begun it returns ErrClosed without touching the database.
//
// Errors: ErrClosed; ErrCorrupt if the epoch is missing; storage errors.
func (s *Store) Ping() error {
	if s.closing() {
		return ErrClosed
	}
	_, closer, err := s.db.Get(keyEpoch)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		return fmt.Errorf("ping: epoch missing: %w", ErrCorrupt)
	case err != nil:
		return fmt.Errorf("ping: %w", err)
	}
	return closer.Close()
}

// DBMetrics returns Pebble's metrics (compactions, levels, disk usage).
//
// REQUIRES: it must not race the end of Close; once Close has begun it
// returns ErrClosed without touching the database.
//
// Errors: ErrClosed.
func (s *Store) DBMetrics() (*pebble.Metrics, error) {
	if s.closing() {
		return nil, ErrClosed
	}
	return s.db.Metrics(), nil
}

// closing reports whether Close has begun.
func (s *Store) closing() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}
