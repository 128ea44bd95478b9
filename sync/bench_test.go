package sync_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	linlisync "github.com/linli/linli/sync"
)

// benchValue is the size of a typical post projection (~200 bytes).
var benchValue = strings.Repeat("v", 200)

// BenchmarkPush pushes one mutation per Push from 1, 8 and 64 clients at
// once (group commit turns concurrency into throughput), beside raw Pebble
// Sync commits of one value from as many goroutines.
func BenchmarkPush(b *testing.B) {
	for _, g := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("Parallel-%d", g), func(b *testing.B) {
			b.Run("Engine", func(b *testing.B) {
				s := mustOpen(b, b.TempDir(), linlisync.Options{})
				b.ResetTimer()
				fixedGoroutines(b, g, func(w int) func() {
					c := client(w)
					next := uint64(1)
					return func() {
						m := put(next, fmt.Sprintf("post/c1/%s-%d", c.User, next), benchValue, "community/c1")
						if _, _, err := s.Push(context.Background(), c, []linlisync.Mutation{m}); err != nil {
							b.Errorf("push: %v", err)
						}
						next++
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pushes/s")
			})
			b.Run("PebbleBaseline", func(b *testing.B) {
				db := openPebble(b)
				b.ResetTimer()
				fixedGoroutines(b, g, func(w int) func() {
					var i uint64
					return func() {
						key := binary.BigEndian.AppendUint64([]byte{'L', byte(w)}, i)
						i++
						if err := db.Set(key, []byte(benchValue), pebble.Sync); err != nil {
							b.Errorf("set: %v", err)
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
			})
		})
	}
}

// BenchmarkPull catches a new member up on a community of 10,000 posts from
// an empty cursor, in pages of 10,000, beside a raw Pebble scan of 10,000
// keys of the same value size.
func BenchmarkPull(b *testing.B) {
	const entities = 10_000
	s := mustOpen(b, b.TempDir(), linlisync.Options{})
	c := client(1)
	for from := 1; from <= entities; from += 500 {
		muts := make([]linlisync.Mutation, 0, 500)
		for id := from; id < from+500 && id <= entities; id++ {
			muts = append(muts, put(uint64(id), fmt.Sprintf("post/c1/p%d", id), benchValue, "community/c1"))
		}
		mustPush(b, s, c, muts...)
	}
	b.Run("Engine", func(b *testing.B) {
		benchCatchUp(b, s, entities)
	})
	b.Run("PebbleBaseline", func(b *testing.B) {
		db := openPebble(b)
		prefix := []byte("Lcommunity/c1\x00")
		batch := db.NewBatch()
		for i := range entities {
			if err := batch.Set(binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), uint64(i+1)), []byte(benchValue), nil); err != nil {
				b.Fatal(err)
			}
		}
		if err := batch.Commit(pebble.Sync); err != nil {
			b.Fatal(err)
		}
		if err := db.Flush(); err != nil {
			b.Fatal(err)
		}
		upper := append([]byte(nil), prefix...)
		upper[len(upper)-1]++
		for b.Loop() {
			it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for it.First(); it.Valid(); it.Next() {
				_ = append([]byte(nil), it.Value()...) // Pull copies each value
				n++
			}
			if err := it.Close(); err != nil {
				b.Fatal(err)
			}
			if n != entities {
				b.Fatalf("scanned %d keys, want %d", n, entities)
			}
		}
		b.ReportMetric(float64(b.N*entities)/b.Elapsed().Seconds(), "keys/s")
	})
}

// BenchmarkPullAfterEdits catches a new member up, as BenchmarkPull does,
// on a community whose 10,000 posts were each edited ten times first
// (100,000 edits): each edit moves its post to the end of the scope's log
// and deletes its older entry, so a catch-up that slowed down here would
// be stepping over the deleted entries. Compare with BenchmarkPull/Engine.
func BenchmarkPullAfterEdits(b *testing.B) {
	const entities, edits = 10_000, 10
	s := mustOpen(b, b.TempDir(), linlisync.Options{})
	c := client(1)
	id := uint64(0)
	for round := range edits + 1 {
		for from := 1; from <= entities; from += 500 {
			muts := make([]linlisync.Mutation, 0, 500)
			for e := from; e < from+500 && e <= entities; e++ {
				id++
				muts = append(muts, put(id, fmt.Sprintf("post/c1/p%d", e), fmt.Sprintf("%s%d", benchValue[:190], round), "community/c1"))
			}
			mustPush(b, s, c, muts...)
		}
	}
	benchCatchUp(b, s, entities)
}

// benchCatchUp pulls community c1 from an empty cursor in pages of 10,000 for
// each iteration of b, checking it holds entities changes.
func benchCatchUp(b *testing.B, s *linlisync.Store, entities int) {
	lim := linlisync.Limits{MaxChanges: 10_000, MaxBytes: 16 << 20}
	scopes := []string{"community/c1", "user/reader"}
	for b.Loop() {
		var cur linlisync.Cursor
		n := 0
		for {
			p, err := s.Pull(context.Background(), scopes, cur, lim)
			if err != nil {
				b.Fatalf("pull: %v", err)
			}
			n += len(p.Changes)
			cur = p.Cursor
			if !p.HasMore {
				break
			}
		}
		if n != entities {
			b.Fatalf("caught up on %d changes, want %d", n, entities)
		}
	}
	b.ReportMetric(float64(b.N*entities)/b.Elapsed().Seconds(), "changes/s")
}

// fixedGoroutines runs b.N calls spread over g goroutines; newWorker
// returns goroutine w's call (its state is its own).
func fixedGoroutines(b *testing.B, g int, newWorker func(w int) func()) {
	var (
		left atomic.Int64
		wg   gosync.WaitGroup
	)
	left.Store(int64(b.N))
	for w := range g {
		call := newWorker(w)
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				call()
			}
		})
	}
	wg.Wait()
}

// openPebble opens a bare Pebble database with the store's default cache,
// closed when the benchmark ends.
func openPebble(b *testing.B) *pebble.DB {
	b.Helper()
	cache := pebble.NewCache(64 << 20)
	defer cache.Unref()
	db, err := pebble.Open(b.TempDir(), &pebble.Options{Cache: cache, Logger: quietLogger{}})
	if err != nil {
		b.Fatalf("open pebble: %v", err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
