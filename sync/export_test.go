package sync

import "github.com/cockroachdb/pebble/v2"

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
