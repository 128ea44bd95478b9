package sync_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	linlisync "github.com/linli/linli/sync"
)

func mustOpen(tb testing.TB, dir string, opts linlisync.Options) *linlisync.Store {
	tb.Helper()
	if opts.DropInterval == 0 {
		opts.DropInterval = -1
	}
	s, err := linlisync.Open(dir, opts)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// put is a mutation that publishes entity id with value in each scope.
func put(id uint64, entity, value string, scopes ...string) linlisync.Mutation {
	return linlisync.Mutation{ID: id, Name: "put", Apply: func(tx *linlisync.Tx) error {
		views := map[string][]byte{}
		for _, sc := range scopes {
			views[sc] = []byte(value)
		}
		return tx.Put(entity, []byte(value), views)
	}}
}

// del is a mutation that deletes entity id.
func del(id uint64, entity string) linlisync.Mutation {
	return linlisync.Mutation{ID: id, Name: "del", Apply: func(tx *linlisync.Tx) error { return tx.Delete(entity) }}
}

// reject is a mutation the domain refuses.
func reject(id uint64) linlisync.Mutation {
	return linlisync.Mutation{ID: id, Name: "reject", Apply: func(tx *linlisync.Tx) error {
		if err := tx.Put("post/should-not-exist", []byte("x"), map[string][]byte{"community/c1": []byte("x")}); err != nil {
			return err
		}
		return linlisync.Reject("post_not_found", "That post no longer exists.")
	}}
}

func mustPush(tb testing.TB, s *linlisync.Store, c linlisync.ClientID, muts ...linlisync.Mutation) []linlisync.Result {
	tb.Helper()
	res, _, err := s.Push(context.Background(), c, muts)
	if err != nil {
		tb.Fatalf("push: %v", err)
	}
	return res
}

var bigLimits = linlisync.Limits{MaxChanges: 1 << 20, MaxBytes: 1 << 30}

// pullAll pulls until has_more is false and returns all changes and the cursor.
func pullAll(tb testing.TB, s *linlisync.Store, scopes []string, cur linlisync.Cursor, lim linlisync.Limits) ([]linlisync.Change, linlisync.Cursor) {
	tb.Helper()
	var all []linlisync.Change
	for range 100000 {
		p, err := s.Pull(context.Background(), scopes, cur, lim)
		if err != nil {
			tb.Fatalf("pull: %v", err)
		}
		all = append(all, p.Changes...)
		cur = p.Cursor
		if !p.HasMore {
			return all, cur
		}
	}
	tb.Fatalf("pull did not finish")
	return nil, cur
}

// view folds changes into entity → value, as a client would.
func view(changes []linlisync.Change) map[string]string {
	v := map[string]string{}
	for _, c := range changes {
		k := c.Scope + "|" + c.EntityID
		if c.Deleted {
			delete(v, k)
		} else {
			v[k] = string(c.Value)
		}
	}
	return v
}

func client(n int) linlisync.ClientID {
	return linlisync.ClientID{User: fmt.Sprintf("u%d", n), Client: "phone"}
}

// fakeClock is a clock tests move by hand; safe for the writer to read.
type fakeClock struct{ ms atomic.Int64 }

func newClock() *fakeClock {
	c := &fakeClock{}
	c.ms.Store(time.Date(2022, 12, 15, 23, 40, 0, 0, time.UTC).UnixMilli())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }
