package sync

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// SetRaw writes key k directly, bypassing the engine (to corrupt a record).
func SetRaw(s *Store, k, v []byte) error { return s.db.Set(k, v, pebble.Sync) }

// CountLog counts the entries (versions and tombstones) in a scope's log.
func CountLog(s *Store, scope string) (int, error) {
	prefix := logPrefix(scope)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return 0, err
	}
	n := 0
	for it.First(); it.Valid(); it.Next() {
		n++
	}
	return n, it.Close()
}

// Dump renders the whole keyspace, one record a line, for golden tests.
func Dump(s *Store) (string, error) {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for it.First(); it.Valid(); it.Next() {
		b.WriteString(dumpRecord(it.Key(), it.Value()))
		b.WriteByte('\n')
	}
	return b.String(), it.Close()
}

func dumpRecord(k, v []byte) string {
	name := func(b []byte) string { return strings.ReplaceAll(string(b), "\x00", "|") }
	switch k[0] {
	case prefixMeta:
		return "M " + string(k[1:]) + " (16 bytes)"
	case prefixClient:
		c, err := decodeClient(v)
		return fmt.Sprintf("C %s last=%d recent=%v kept=%d err=%v", name(k[1:]), c.last, c.recent, c.kept, err)
	case prefixResult:
		first := binary.BigEndian.Uint64(k[len(k)-8:])
		rs, err := decodeOutcomes(first, v)
		return fmt.Sprintf("R %s:%d %+v err=%v", name(k[1:len(k)-9]), first, rs, err)
	case prefixEntity:
		e, err := decodeEntity(v)
		return fmt.Sprintf("E %s deleted=%v canonical=%q placements=%+v err=%v", k[1:], e.deleted, e.canonical, e.placements, err)
	case prefixHead:
		h, err := decodeHead(v)
		return fmt.Sprintf("H %s head=%d lwm=%d err=%v", k[1:], h.head, h.lwm, err)
	case prefixLog:
		e, err := decodeLogEntry(v)
		if e.canonical {
			return fmt.Sprintf("L %s:%d %s deleted=%v at=%d canonical err=%v", k[1:len(k)-9], binary.BigEndian.Uint64(k[len(k)-8:]), e.entityID, e.deleted, e.atMilli, err)
		}
		return fmt.Sprintf("L %s:%d %s deleted=%v at=%d value=%q err=%v", k[1:len(k)-9], binary.BigEndian.Uint64(k[len(k)-8:]), e.entityID, e.deleted, e.atMilli, e.value, err)
	case prefixTombstone:
		at, sc, seq, ok := parseTombstoneKey(k)
		return fmt.Sprintf("T at=%d %s:%d ok=%v", at, sc, seq, ok)
	}
	return fmt.Sprintf("? %q", k)
}

// InFlight reports how many groups the writer has applied that are not
// durable yet.
func InFlight(s *Store) uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.appliedGroups - s.durableGroups
}

// StepsOverDeleted reports how many deleted entries a scan of scope's log
// met before reaching its live ones: what a catch-up steps over.
func StepsOverDeleted(s *Store, scope string) (int, error) {
	lo, hi := logKey(scope, 0), logKey(scope, math.MaxUint64)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, err
	}
	for it.First(); it.Valid(); it.Next() {
	}
	st := it.Stats()
	return st.ForwardStepCount[pebble.InternalIterCall] - st.ForwardStepCount[pebble.InterfaceCall], it.Close()
}
