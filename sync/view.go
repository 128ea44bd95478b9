package sync

import (
	"context"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Now is the store's clock (Options.Now), the one transactions see as
// Tx.Now.
func (s *Store) Now() time.Time { return s.opts.Now() }

// Scan visits, in id order, the committed live entities whose id starts
// with prefix, calling fn with each id and canonical value (fn must not keep
// value). It reads one consistent snapshot, outside the writer, so a long
// read (a report) never delays commits. It stops when fn returns an error or
// ctx ends, and returns that error.
func (s *Store) Scan(ctx context.Context, prefix string, fn func(id string, canonical []byte) error) error {
	if prefix == "" {
		return fmt.Errorf("scan: empty prefix: %w", ErrBadScope)
	}
	v := s.acquireView()
	defer v.release()
	snap := v.snap
	it, err := snap.NewIter(&pebble.IterOptions{
		LowerBound: entityKey(prefix), UpperBound: prefixEnd(entityKey(prefix)),
	})
	if err != nil {
		return fmt.Errorf("scan %s: %w", prefix, err)
	}
	defer it.Close()
	for valid, n := it.First(), 0; valid; valid, n = it.Next(), n+1 {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		rec, err := decodeEntity(it.Value())
		if err != nil {
			return fmt.Errorf("scan %s: %w", it.Key()[1:], err)
		}
		if rec.deleted {
			continue
		}
		if err := fn(string(it.Key()[1:]), rec.canonical); err != nil {
			return err
		}
	}
	return it.Error()
}
