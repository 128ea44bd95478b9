package sync

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// Update runs fn in the writer's order as a server-side transaction (one
// that no client mutation id stands for: a sign-in, a scheduled job) and
// returns after its effects are committed with fsync. fn sees and writes the
// store through tx exactly as a mutation does; tx.Client() is the zero
// ClientID. If fn returns an error (a *Rejection or any other), nothing it
// wrote takes effect and that error is returned.
func (s *Store) Update(ctx context.Context, fn func(tx *Tx) error) error {
	var result error
	_, err := s.do(ctx, request{job: func(w *batchState) error {
		tx := &Tx{w: w, pending: make(map[string]*pendingEntity)}
		if result = fn(tx); result != nil {
			tx.abort()
			return nil // nothing staged reached the batch
		}
		w.aborts = append(w.aborts, tx.aborts...)
		if err := tx.flush(); err != nil {
			return w.poison(err)
		}
		return nil
	}})
	if err != nil {
		return err
	}
	return result
}

// Get returns the durable canonical value of an entity; ok is false if it
// does not exist or was deleted. The slice is the caller's.
func (s *Store) Get(entityID string) (value []byte, ok bool, err error) {
	view := s.acquireView()
	defer view.release()
	v, closer, err := view.snap.Get(entityKey(entityID))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read entity %s: %w", entityID, err)
	}
	defer closer.Close() // v and what decodes from it live until then
	rec, err := decodeEntity(v)
	if err != nil || rec.deleted {
		return nil, false, err
	}
	return slices.Clone(rec.canonical), true, nil
}

// LastMutationID returns the highest mutation id processed for client (0
// if none), as durable. It only grows.
func (s *Store) LastMutationID(client ClientID) (uint64, error) {
	if !validName(client.User) || !validName(client.Client) {
		return 0, fmt.Errorf("client %q/%q: %w", client.User, client.Client, ErrBadScope)
	}
	view := s.acquireView()
	defer view.release()
	v, closer, err := view.snap.Get(clientKey(client))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read client: %w", err)
	}
	defer closer.Close()
	return decodeClientLast(v)
}
