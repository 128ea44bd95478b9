package client

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"google.golang.org/protobuf/proto"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// get returns a copy of the value at key.
func (c *Client) get(key string) ([]byte, bool, error) {
	v, closer, err := c.db.Get([]byte(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("client: read %q: %w", key, err)
	}
	out := slices.Clone(v)
	return out, true, closer.Close()
}

func (c *Client) getUint(key string) (uint64, error) {
	v, ok, err := c.get(key)
	if err != nil || !ok {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("client: %q holds %d bytes, want 8", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// scan calls fn with a copy-free view of every key and value in [lo, hi);
// fn must copy what it keeps.
func (c *Client) scan(lo, hi []byte, fn func(k, v []byte) (more bool, err error)) error {
	it, err := c.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("client: iterate: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return errors.Join(fmt.Errorf("client: iterate: %w", err), it.Close())
		}
		more, err := fn(it.Key(), v)
		if err != nil {
			return errors.Join(err, it.Close())
		}
		if !more {
			break
		}
	}
	if err := it.Error(); err != nil {
		return errors.Join(fmt.Errorf("client: iterate: %w", err), it.Close())
	}
	return it.Close()
}

// pending returns up to n queued mutations (all if n is 0) in id order.
func (c *Client) pending(n int) ([]*linliv1.Mutation, error) {
	var out []*linliv1.Mutation
	err := c.scan([]byte(prefixQueue), prefixEnd(prefixQueue), func(k, v []byte) (bool, error) {
		m := &linliv1.Mutation{}
		if err := proto.Unmarshal(v, m); err != nil {
			return false, fmt.Errorf("client: queued mutation %d: %w", keyID(prefixQueue, k), err)
		}
		out = append(out, m)
		return n == 0 || len(out) < n, nil
	})
	return out, err
}

// Scope returns the synced entities of one scope (entity id → entity), as
// the server last sent them.
//
// Errors: ErrClosed; storage errors.
func (c *Client) Scope(scope string) (map[string]*linliv1.Entity, error) {
	_, done, err := c.enter(context.Background())
	if err != nil {
		return nil, err
	}
	defer done()
	all, err := c.synced(scope)
	return all[scope], err
}

// Synced returns every synced scope: scope → entity id → entity.
//
// Errors: ErrClosed; storage errors.
func (c *Client) Synced() (map[string]map[string]*linliv1.Entity, error) {
	_, done, err := c.enter(context.Background())
	if err != nil {
		return nil, err
	}
	defer done()
	return c.synced("")
}

// synced reads the entities of one scope, or of all if scope is "".
func (c *Client) synced(scope string) (map[string]map[string]*linliv1.Entity, error) {
	lo, hi := []byte(prefixEntity), prefixEnd(prefixEntity)
	if scope != "" {
		lo, hi = scopeBounds(scope)
	}
	out := map[string]map[string]*linliv1.Entity{}
	if scope != "" {
		out[scope] = map[string]*linliv1.Entity{}
	}
	err := c.scan(lo, hi, func(k, v []byte) (bool, error) {
		sc, id, ok := strings.Cut(string(k[len(prefixEntity):]), "\x00")
		if !ok {
			return false, fmt.Errorf("client: malformed entity key %q", k)
		}
		e := &linliv1.Entity{}
		if err := proto.Unmarshal(v, e); err != nil {
			return false, fmt.Errorf("client: entity %s in %s: %w", id, sc, err)
		}
		if out[sc] == nil {
			out[sc] = map[string]*linliv1.Entity{}
		}
		out[sc][id] = e
		return true, nil
	})
	return out, err
}

// scopeRank orders projections of the same entity: a user's own scope
// shows the most, then staff, the building board, the community.
func scopeRank(scope string) int {
	for i, p := range []string{"user/", "staff/", "building/", "community/"} {
		if strings.HasPrefix(scope, p) {
			return i
		}
	}
	return 4
}

// ServerState returns the synced entities of every scope merged by entity
// id; where scopes hold different projections of one entity, the most
// revealing one wins (user, staff, building, community).
//
// Errors: ErrClosed; storage errors.
func (c *Client) ServerState() (map[string]*linliv1.Entity, error) {
	all, err := c.Synced()
	if err != nil {
		return nil, err
	}
	return MergeScopes(all), nil
}

// MergeScopes merges scopes (scope → entity id → entity) by entity id as
// ServerState does: where scopes hold different projections of one entity,
// the most revealing one wins (user, staff, building, community).
func MergeScopes(all map[string]map[string]*linliv1.Entity) map[string]*linliv1.Entity {
	out := map[string]*linliv1.Entity{}
	rank := map[string]int{}
	for _, sc := range slices.Sorted(maps.Keys(all)) {
		r := scopeRank(sc)
		for id, e := range all[sc] {
			if prev, ok := rank[id]; !ok || r < prev {
				out[id], rank[id] = e, r
			}
		}
	}
	return out
}

// View returns what the app shows: ServerState with the pending mutations
// applied by Config.Rebase (unchanged without one).
//
// Errors: ErrClosed; storage errors.
func (c *Client) View() (map[string]*linliv1.Entity, error) {
	_, done, err := c.enter(context.Background())
	if err != nil {
		return nil, err
	}
	defer done()
	all, err := c.synced("")
	if err != nil {
		return nil, err
	}
	state := MergeScopes(all)
	if c.cfg.Rebase == nil {
		return state, nil
	}
	pend, err := c.pending(0)
	if err != nil {
		return nil, err
	}
	if len(pend) == 0 {
		return state, nil
	}
	return c.cfg.Rebase(state, pend), nil
}

// clearAll deletes everything in the store (a removed member's data).
func (c *Client) clearAll(ctx context.Context) error {
	_, done, err := c.enter(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	defer done()
	c.enqMu.Lock()
	defer c.enqMu.Unlock()
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	b := c.db.NewBatch()
	defer b.Close()
	_ = b.DeleteRange([]byte{0}, []byte{0xff}, nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("client: clear store: %w", err)
	}
	c.tokens = nil
	c.log.WarnContext(ctx, "member removed: local data cleared")
	return nil
}
