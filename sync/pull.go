package sync

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// Change is one entry of a scope's log: the entity's latest version in that
// scope, or its tombstone (Deleted, Value nil).
type Change struct {
	Scope    string
	Seq      uint64
	EntityID string
	Deleted  bool
	Value    []byte
}

// ResetReason says why a scope restarts from zero.
type ResetReason uint8

// Reset reasons.
const (
	ResetBelowLowWater ResetReason = 1 // cursor older than dropped tombstones
	ResetEpochChanged  ResetReason = 2 // store restored from a backup
	ResetCursorAhead   ResetReason = 3 // cursor past the scope's head
)

// Reset tells the client to clear a scope before applying the page.
type Reset struct {
	Scope  string
	Reason ResetReason
}

// Page is one Pull's answer.
type Page struct {
	Changes []Change
	Cursor  Cursor // to send next time
	HasMore bool   // more changes wait: pull again at once
	Resets  []Reset
	Dropped []string // scopes in the cursor the caller may no longer see
}

// Limits bound one page. A page always holds at least one change if any is
// waiting, even one larger than MaxBytes.
type Limits struct {
	MaxChanges int
	MaxBytes   int
}

// Pull returns the changes of scopes after cur, in (scope, seq) order, from
// one consistent snapshot: it never skips a committed change. A scope
// missing from cur starts from zero and gets its whole current state
// (without tombstones). Scopes in cur but not in scopes are reported in
// Dropped. A cursor from another epoch resets every scope; one below a
// scope's low-water mark, or ahead of its head, resets that scope.
// Errors: ErrBadScope; ctx's error; storage errors.
func (s *Store) Pull(ctx context.Context, scopes []string, cur Cursor, lim Limits) (Page, error) {
	var changes []Change
	page, err := s.PullEach(ctx, scopes, cur, lim, func(c Change) error {
		c.Value = slices.Clone(c.Value)
		changes = append(changes, c)
		return nil
	})
	page.Changes = changes
	return page, err
}

// PullEach is Pull that hands each change to fn, in order, instead of
// collecting them: the returned Page has no Changes. Change.Value is only
// valid during fn (it may point into the store's memory). An error from fn
// stops the pull and is returned.
func (s *Store) PullEach(ctx context.Context, scopes []string, cur Cursor, lim Limits, fn func(Change) error) (Page, error) {
	for _, sc := range scopes {
		if !validName(sc) {
			return Page{}, fmt.Errorf("pull %q: %w", sc, ErrBadScope)
		}
	}
	scopes = slices.Sorted(slices.Values(scopes))
	scopes = slices.Compact(scopes)
	page := Page{Cursor: Cursor{Epoch: s.epoch, Seqs: make(map[string]uint64, len(scopes))}}
	epochChanged := cur.Epoch != s.epoch && len(cur.Seqs) > 0
	for sc := range cur.Seqs {
		if !slices.Contains(scopes, sc) {
			page.Dropped = append(page.Dropped, sc)
		}
	}
	slices.Sort(page.Dropped)

	if s.opts.Replica != nil && !epochChanged {
		s.waitHeads(ctx, scopes, cur)
	}
	v := s.acquireView()
	defer v.release()
	snap := v.snap
	budget := pageBudget{changes: lim.MaxChanges, bytes: lim.MaxBytes}
	for _, sc := range scopes {
		if err := ctx.Err(); err != nil {
			return Page{}, err
		}
		from, known := cur.Seqs[sc]
		if epochChanged {
			from, known = 0, false
			page.Resets = append(page.Resets, Reset{Scope: sc, Reason: ResetEpochChanged})
		}
		h, err := readHead(snap, sc)
		if err != nil {
			return Page{}, err
		}
		if known && from > 0 {
			if reason, reset := needsReset(from, h); reset && reason == ResetCursorAhead && s.opts.Replica != nil {
				// The cursor came from a copy further along the log, and
				// this one has not caught up yet: keep the client's place.
				page.Cursor.Seqs[sc] = from
				continue
			} else if reset {
				page.Resets = append(page.Resets, Reset{Scope: sc, Reason: reason})
				from = 0
			}
		}
		if budget.full() {
			page.Cursor.Seqs[sc] = from
			page.HasMore = page.HasMore || from < h.head
			continue
		}
		next, more, err := scanScope(ctx, snap, sc, from, h.head, &budget, fn)
		if err != nil {
			return Page{}, err
		}
		page.Cursor.Seqs[sc] = next
		page.HasMore = page.HasMore || more
	}
	return page, nil
}

func needsReset(from uint64, h scopeHead) (ResetReason, bool) {
	switch {
	case from > h.head:
		return ResetCursorAhead, true
	case from < h.lwm:
		return ResetBelowLowWater, true
	}
	return 0, false
}

type pageBudget struct {
	changes, bytes int
	used, size     int
}

func (b *pageBudget) full() bool {
	return b.used > 0 && (b.used >= b.changes || b.size >= b.bytes)
}

func readHead(r pebble.Reader, scope string) (scopeHead, error) {
	v, closer, err := r.Get(headKey(scope))
	if errors.Is(err, pebble.ErrNotFound) {
		return scopeHead{}, nil
	}
	if err != nil {
		return scopeHead{}, fmt.Errorf("read head of %s: %w", scope, err)
	}
	defer closer.Close()
	return decodeHead(v)
}

// scanScope hands fn the scope's changes after from, up to head, within
// the budget. It returns the seq the cursor reaches and whether changes
// remain. Starting from zero, tombstones are skipped: the client has
// nothing to delete.
func scanScope(ctx context.Context, r pebble.Reader, scope string, from, head uint64, b *pageBudget, fn func(Change) error) (uint64, bool, error) {
	if from >= head {
		return head, false, nil
	}
	prefix := logPrefix(scope)
	it, err := r.NewIter(&pebble.IterOptions{
		LowerBound: binary.BigEndian.AppendUint64(slices.Clone(prefix), from+1),
		UpperBound: prefixEnd(prefix),
	})
	if err != nil {
		return 0, false, fmt.Errorf("scan %s: %w", scope, err)
	}
	fail := func(err error) (uint64, bool, error) {
		it.Close()
		return 0, false, err
	}
	reached := from
	for valid := it.First(); valid; valid = it.Next() {
		if b.full() {
			return reached, true, closeIter(it, scope)
		}
		if b.used%1024 == 1023 && ctx.Err() != nil {
			return fail(ctx.Err())
		}
		seq := binary.BigEndian.Uint64(it.Key()[len(prefix):])
		e, err := decodeLogEntry(it.Value())
		if err != nil {
			return fail(fmt.Errorf("scan %s at %d: %w", scope, seq, err))
		}
		reached = seq
		if e.deleted && from == 0 {
			continue
		}
		c := Change{Scope: scope, Seq: seq, EntityID: e.entityID, Deleted: e.deleted, Value: e.value}
		var closer io.Closer
		if e.canonical {
			if c.Value, closer, err = canonicalValue(r, e.entityID); err != nil {
				return fail(fmt.Errorf("scan %s at %d: %w", scope, seq, err))
			}
		}
		err = fn(c)
		if closer != nil {
			closer.Close()
		}
		if err != nil {
			return fail(err)
		}
		b.used++
		b.size += len(c.Value) + len(e.entityID)
	}
	return head, false, closeIter(it, scope)
}

func closeIter(it *pebble.Iterator, scope string) error {
	if err := it.Close(); err != nil {
		return fmt.Errorf("scan %s: %w", scope, err)
	}
	return nil
}

// canonicalValue reads the canonical value a canonical log entry stands
// for. In one consistent view, such an entry is always its entity's latest
// version in its scope, so the entity record holds the very value. The
// value lives until closer is closed.
func canonicalValue(r pebble.Reader, id string) (value []byte, closer io.Closer, err error) {
	v, closer, err := r.Get(entityKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil, fmt.Errorf("canonical entry of %s without its entity: %w", id, ErrCorrupt)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read entity %s: %w", id, err)
	}
	rec, err := decodeEntity(v)
	if err == nil && rec.deleted {
		err = fmt.Errorf("canonical entry of deleted %s: %w", id, ErrCorrupt)
	}
	if err != nil {
		closer.Close()
		return nil, nil, err
	}
	return rec.canonical, closer, nil
}
