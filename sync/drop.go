package sync

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// DropTombstones removes tombstones committed before horizon from every
// scope's log, raising each affected scope's low-water mark so that a cursor
// that may have missed one resets instead. It runs in the writer's order and
// returns how many it dropped. Errors: ErrClosed; ctx's error; storage errors.
func (s *Store) DropTombstones(ctx context.Context, horizon time.Time) (int, error) {
	dropped := 0
	_, err := s.do(ctx, request{job: func(w *batchState) error {
		n, err := w.dropTombstones(uint64(max(horizon.UnixMilli(), 0)))
		dropped = n
		return err
	}})
	return dropped, err
}

// maxDropPerBatch bounds one drop job so pushes are not held up.
const maxDropPerBatch = 10_000

func (w *batchState) dropTombstones(horizonMilli uint64) (int, error) {
	upper := binary.BigEndian.AppendUint64([]byte{prefixTombstone}, horizonMilli)
	// Committed tombstones only: those of this group are younger than any horizon.
	it, err := w.s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixTombstone}, UpperBound: upper})
	if err != nil {
		return 0, fmt.Errorf("scan tombstones: %w", err)
	}
	type victim struct {
		key   []byte
		scope string
		seq   uint64
	}
	var victims []victim
	for it.First(); it.Valid() && len(victims) < maxDropPerBatch; it.Next() {
		_, scope, seq, ok := parseTombstoneKey(it.Key())
		if !ok {
			it.Close()
			return 0, fmt.Errorf("tombstone key %x: %w", it.Key(), ErrCorrupt)
		}
		victims = append(victims, victim{key: slices.Clone(it.Key()), scope: scope, seq: seq})
	}
	if err := it.Close(); err != nil {
		return 0, fmt.Errorf("scan tombstones: %w", err)
	}
	for _, v := range victims {
		if err := w.dropTombstone(v.key, v.scope, v.seq); err != nil {
			return 0, err
		}
	}
	return len(victims), nil
}

// dropTombstone removes one tombstone, its index key and the entity's
// placement, and raises the scope's low-water mark past it.
func (w *batchState) dropTombstone(indexKey []byte, scope string, seq uint64) error {
	v, ok, err := w.get(logKey(scope, seq))
	if err != nil {
		return fmt.Errorf("read tombstone: %w", err)
	}
	if err := w.delOnce(indexKey); err != nil {
		return fmt.Errorf("drop tombstone: %w", err)
	}
	if !ok {
		return nil
	}
	e, err := decodeLogEntry(v)
	if err != nil {
		return err
	}
	if err := w.delOnce(logKey(scope, seq)); err != nil {
		return fmt.Errorf("drop tombstone: %w", err)
	}
	if err := w.forgetPlacement(e.entityID, scope, seq); err != nil {
		return err
	}
	h := w.head(scope)
	h.lwm = max(h.lwm, seq)
	return w.setHead(scope, h)
}

// forgetPlacement removes the entity's placement in scope; a deleted entity
// with no placements left is forgotten entirely.
func (w *batchState) forgetPlacement(id, scope string, seq uint64) error {
	rec, ok, err := w.loadEntity(id)
	if err != nil || !ok {
		return err
	}
	rec.placements = slices.DeleteFunc(rec.placements, func(p placement) bool {
		return p.scope == scope && p.seq == seq
	})
	if rec.deleted && len(rec.placements) == 0 {
		return w.del(entityKey(id))
	}
	return w.set(entityKey(id), encodeEntity(rec))
}

// dropLoop drops old tombstones every DropInterval until ctx ends.
func (s *Store) dropLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.DropInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if s.opts.Replica != nil && s.opts.Replica.Writable() != nil {
				continue // the log's writer drops them, for every copy
			}
			n, err := s.DropTombstones(ctx, s.opts.Now().Add(-s.opts.TombstoneRetention))
			if err != nil && ctx.Err() == nil {
				s.log.Error("drop tombstones", "err", err)
			} else if n > 0 {
				s.log.Info("dropped tombstones", "count", n)
			}
		}
	}
}
