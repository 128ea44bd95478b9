package sync

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/batchrepr"
)

// Replica is the seam through which a store becomes one copy of a
// replicated log instead of the log of record (linli's cluster mode, see
// package cluster). Without one, the default, nothing here applies and the
// store is what a single node has always been.
//
// With a Replica the writer still applies pushes and jobs into one batch
// per group, in order, but before the batch reaches Pebble it hands the
// batch's bytes to Commit, which appends them to the log and returns their
// position there. Only then is the group applied to this store (with its
// position, in the same batch) and, once the local fsync is done as ever,
// made visible to readers and answered. A group Commit refuses is
// abandoned: answered with Commit's error and never applied here, so the
// store never holds a write the log does not. Groups that the log's writer
// committed reach the other copies through ApplyReplicated, in log order,
// and become there byte for byte what they were on the writer: the same
// entities, the same scope sequence numbers, the same client records.
//
// Durable, with a Replica, therefore means: in the log (a quorum of the
// cluster, as the Replica defines it) and in this store's Pebble. A store
// that loses its disk is rebuilt from the log; one that crashed catches up
// from its position.
type Replica interface {
	// Writable returns nil while this store may apply local writes (it is
	// the log's writer and has caught up with the log), or the error to
	// answer them with, wrapping ErrNotWriter. The writer calls it for
	// every push and job before applying it (backups excepted: they write
	// nothing).
	Writable() error
	// Commit appends one group's writes, a Pebble batch representation, to
	// the log and returns the position the log gave them, which must be
	// above every position this store holds. The writer calls it one group
	// at a time, in order, and waits; repr is valid only during the call.
	// An error abandons the group: wrap ErrNotWriter when it is certain
	// the log did not take it (another node writes now); any other error
	// leaves the outcome unknown, and the Replica must not report the
	// store Writable again before it has caught up with the log.
	Commit(repr []byte) (pos uint64, err error)
}

// Errors of replicated stores.
var (
	// ErrNotWriter answers a write on a copy that may not write now: the
	// write was not applied and may be retried on the log's writer.
	ErrNotWriter = errors.New("sync: not the log's writer")
	// ErrEpochMismatch is returned by Open when the store belongs to
	// another history than Options.Epoch.
	ErrEpochMismatch = errors.New("sync: store belongs to another epoch")
)

// Replicated is one group of writes as the log holds it: its position and
// the Pebble batch representation Commit was given. Repr is empty for a
// log entry that writes nothing (a new writer's fencing mark).
type Replicated struct {
	Pos  uint64
	Repr []byte
}

// ApplyReplicated applies groups from the log, in log order, as one group
// of the writer's: each group above the store's position is applied whole
// (its entities, log entries, heads and client records as the writer wrote
// them), and the store's position moves to the last one; groups at or
// below the position (this store's own, or applied before) are skipped. It
// returns once they are durable here and visible to readers, subscribers
// poked. The domain's working state kept with Tx.Local is dropped, to be
// rebuilt from the store when it is next used. The store takes ownership of
// the Reprs.
//
// REQUIRES: a Replica (Options.Replica); groups in increasing Pos order.
//
// Errors: ErrCorrupt for a repr that does not decode (nothing of the call
// is applied); ErrClosed; ctx's error if it ends before the writer takes
// the call; ErrFailed and storage errors.
func (s *Store) ApplyReplicated(ctx context.Context, groups []Replicated) error {
	if s.opts.Replica == nil {
		return errors.New("sync: ApplyReplicated without a Replica")
	}
	for i := 1; i < len(groups); i++ {
		if groups[i].Pos <= groups[i-1].Pos {
			return fmt.Errorf("sync: replicated groups out of order (%d after %d)", groups[i].Pos, groups[i-1].Pos)
		}
	}
	if len(groups) == 0 {
		return nil
	}
	_, err := s.do(ctx, request{solo: true, replicated: true, job: func(w *batchState) error {
		w.replicated = true
		for _, g := range groups {
			if g.Pos <= max(s.replicaPos, w.pos) {
				continue
			}
			if err := w.applyReplicated(g); err != nil {
				return err
			}
		}
		if w.pos > 0 {
			// Matching's index and the like were built from what this store
			// held; it changed under them.
			clear(s.locals)
			return w.setReplicaPos()
		}
		return nil
	}})
	return err
}

// applyReplicated adds one replicated group to the batch, learning from it
// what the writer's caches and the heads must now say.
func (w *batchState) applyReplicated(g Replicated) error {
	if len(g.Repr) > 0 {
		rd := batchrepr.Read(g.Repr)
		for {
			kind, k, v, ok, err := rd.Next()
			if err != nil {
				return fmt.Errorf("replicated group %d: %w: %v", g.Pos, ErrCorrupt, err)
			}
			if !ok {
				break
			}
			if err := w.learn(kind, k, v); err != nil {
				return fmt.Errorf("replicated group %d: %w", g.Pos, err)
			}
		}
		b := w.s.db.NewBatch()
		if err := b.SetRepr(g.Repr); err != nil {
			return fmt.Errorf("replicated group %d: %w: %v", g.Pos, ErrCorrupt, err)
		}
		err := w.batch.Apply(b, nil)
		b.Close()
		if err != nil {
			return w.poison(fmt.Errorf("replicated group %d: %w", g.Pos, err))
		}
	}
	w.pos = g.Pos
	return nil
}

// learn records one key a replicated group writes: the group's view of it
// (so the keys read later in the group, and the writer's caches after it,
// see it), the scope head it sets, the client record it changes.
func (w *batchState) learn(kind pebble.InternalKeyKind, k, v []byte) error {
	if len(k) == 0 {
		return ErrCorrupt
	}
	key := string(k)
	switch kind {
	case pebble.InternalKeyKindSet:
		w.cache[key] = cached{value: bytes.Clone(v), present: true}
	case pebble.InternalKeyKindDelete, pebble.InternalKeyKindSingleDelete:
		w.cache[key] = cached{}
	default:
		return fmt.Errorf("key kind %v: %w", kind, ErrCorrupt)
	}
	w.noteEntity(k)
	switch k[0] {
	case prefixHead:
		if kind != pebble.InternalKeyKindSet {
			return fmt.Errorf("head of %q deleted: %w", k[1:], ErrCorrupt)
		}
		h, err := decodeHead(v)
		if err != nil {
			return err
		}
		// Written again by writeHeads, with the same value.
		return w.setHead(key[1:], h)
	case prefixClient:
		if c, ok := parseClientKey(k); ok {
			delete(w.s.clientRecs, c)
			delete(w.clients, c)
		}
	case prefixMeta:
		return fmt.Errorf("replicated group writes %q: %w", k, ErrCorrupt)
	}
	return nil
}

// replicate commits the group's batch to the log through the Replica, if
// there is one and the group is the store's own, and records the position
// the log gave it in the batch.
func (s *Store) replicate(w *batchState) error {
	if s.opts.Replica == nil || w.replicated {
		return nil
	}
	pos, err := s.opts.Replica.Commit(w.batch.Repr())
	if err != nil {
		return err
	}
	if pos <= s.replicaPos {
		// The log went back: nothing of this group can be trusted.
		return fmt.Errorf("sync: the log placed a group at %d, at or below this store's %d", pos, s.replicaPos)
	}
	w.pos = pos
	return w.setReplicaPos()
}

// setReplicaPos writes the group's log position into its batch.
func (w *batchState) setReplicaPos() error {
	if err := w.batch.Set(keyReplica, binary.BigEndian.AppendUint64(nil, w.pos), nil); err != nil {
		return w.poison(fmt.Errorf("write replica position: %w", err))
	}
	return nil
}

// loadReplicaPos reads the store's log position (0 if it has none).
func (s *Store) loadReplicaPos() error {
	v, closer, err := s.db.Get(keyReplica)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read replica position: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return fmt.Errorf("read replica position: %w", ErrCorrupt)
	}
	s.replicaPos = binary.BigEndian.Uint64(v)
	s.durablePos = s.replicaPos
	return nil
}

// ReplicaPosition returns the log position of what readers see: every
// group of the log up to it is applied and durable here (0 for a store
// that holds none, or has no Replica).
func (s *Store) ReplicaPosition() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.durablePos
}

// WaitReplicaPosition returns once the store's ReplicaPosition is at least
// pos. Errors: ctx's error; ErrClosed.
func (s *Store) WaitReplicaPosition(ctx context.Context, pos uint64) error {
	for {
		s.mu.RLock()
		reached, ch := s.durablePos >= pos, s.durableCh
		s.mu.RUnlock()
		if reached {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return ErrClosed
		}
	}
}

// waitHeads waits, up to AheadWait or until ctx ends, until the durable
// head of every scope in cur is at least the cursor's seq there: a cursor
// from a node further along the log finds this copy caught up.
func (s *Store) waitHeads(ctx context.Context, scopes []string, cur Cursor) {
	ahead := func() bool {
		for _, sc := range scopes {
			if seq, ok := cur.Seqs[sc]; ok && seq > s.heads[sc].head {
				return true
			}
		}
		return false
	}
	var timeout <-chan struct{}
	for {
		s.mu.RLock()
		behind, ch := ahead(), s.durableCh
		s.mu.RUnlock()
		if !behind {
			return
		}
		if timeout == nil {
			tctx, cancel := context.WithTimeout(ctx, s.opts.AheadWait)
			defer cancel()
			timeout = tctx.Done()
		}
		select {
		case <-ch:
		case <-timeout:
			return
		case <-s.done:
			return
		}
	}
}

// Digest returns a SHA-256 of the store's durable view, every key and
// value in key order, and the replica position it is as of: two copies of
// one log at the same position have the same digest, as a single node has
// the same digest before and after a restart. It reads one snapshot,
// outside the writer. Errors: ctx's error; storage errors.
func (s *Store) Digest(ctx context.Context) (sum [32]byte, pos uint64, err error) {
	s.mu.RLock()
	v := s.view
	v.refs.Add(1)
	pos = s.durablePos
	s.mu.RUnlock()
	defer v.release()
	it, err := v.snap.NewIter(nil)
	if err != nil {
		return sum, 0, fmt.Errorf("digest: %w", err)
	}
	defer it.Close()
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for valid, i := it.First(), 0; valid; valid, i = it.Next(), i+1 {
		if i%4096 == 0 && ctx.Err() != nil {
			return sum, 0, ctx.Err()
		}
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(it.Key())))])
		h.Write(it.Key())
		val := it.Value()
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(val)))])
		h.Write(val)
	}
	if err := it.Error(); err != nil {
		return sum, 0, fmt.Errorf("digest: %w", err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, pos, nil
}
