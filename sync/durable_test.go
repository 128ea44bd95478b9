package sync_test

import (
	"context"
	"fmt"
	"math/rand"
	randv2 "math/rand/v2"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	linlisync "github.com/linli/linli/sync"
)

// TestDurableAck: every mutation acknowledged before a simulated power loss
// is present after it, with only synced data surviving.
func TestDurableAck(t *testing.T) {
	t.Parallel()
	for round := range 3 {
		t.Run(fmt.Sprint("Round", round), func(t *testing.T) {
			t.Parallel()
			fs := vfs.NewCrashableMem()
			s, err := linlisync.Open("db", linlisync.Options{FS: fs, DropInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			var acked gosync.Map // entity → true
			var ackCount atomic.Int64
			var wg gosync.WaitGroup
			stop := make(chan struct{})
			for w := range 8 {
				wg.Go(func() {
					for i := uint64(1); ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						id := fmt.Sprintf("post/w%d-%d", w, i)
						_, _, err := s.Push(context.Background(), client(w), []linlisync.Mutation{put(i, id, "v", "community/c1")})
						if err != nil {
							return
						}
						acked.Store(id, true)
						ackCount.Add(1)
					}
				})
			}
			// Crash at a random moment, once something was acknowledged
			// (on a loaded machine the first acks may take a while).
			time.Sleep(time.Duration(20+rand.Intn(60)) * time.Millisecond)
			for deadline := time.Now().Add(30 * time.Second); ackCount.Load() == 0 && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			// Snapshot what was acknowledged, then crash: only synced data survives.
			var before []string
			acked.Range(func(k, _ any) bool { before = append(before, k.(string)); return true })
			crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 30, RNG: randv2.New(randv2.NewPCG(uint64(round), 1))})
			close(stop)
			wg.Wait()
			s.Close()

			s2, err := linlisync.Open("db", linlisync.Options{FS: crashed, DropInterval: -1})
			if err != nil {
				t.Fatalf("reopen after crash: %v", err)
			}
			defer s2.Close()
			changes, _ := pullAll(t, s2, []string{"community/c1"}, linlisync.Cursor{}, bigLimits)
			got := view(changes)
			for _, id := range before {
				if _, ok := got["community/c1|"+id]; !ok {
					t.Fatalf("acknowledged %s lost in crash (%d acked before crash)", id, len(before))
				}
			}
			if len(before) == 0 {
				t.Fatal("nothing was acknowledged before the crash")
			}
		})
	}
}

// TestGroupCommit: concurrent pushes share fsyncs, and each push is still
// answered only after its commit.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	var commits, pushes atomic.Int64
	s := mustOpen(t, t.TempDir(), linlisync.Options{OnCommit: func(m, p int, _ time.Duration) {
		commits.Add(1)
		pushes.Add(int64(p))
	}})
	const clients, each = 32, 20
	var wg gosync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := uint64(1); i <= each; i++ {
				mustPush(t, s, client(c), put(i, fmt.Sprintf("post/%d-%d", c, i), "v", "community/c1"))
			}
		})
	}
	wg.Wait()
	if pushes.Load() != clients*each {
		t.Fatalf("writer saw %d pushes, want %d", pushes.Load(), clients*each)
	}
	if commits.Load() >= clients*each {
		t.Fatalf("%d commits for %d pushes: no grouping", commits.Load(), clients*each)
	}
	t.Logf("%d pushes in %d commits (%.1f per fsync)", pushes.Load(), commits.Load(), float64(pushes.Load())/float64(commits.Load()))
}

// TestReopenKeepsHeadsAndEpoch: state is rebuilt from disk on open.
func TestReopenKeepsHeadsAndEpoch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := linlisync.Open(dir, linlisync.Options{DropInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	mustPush(t, s, client(1), put(1, "post/p1", "v", "community/c1"), put(2, "post/p2", "v", "community/c1"))
	epoch := s.Epoch()
	_, cur := pullAll(t, s, []string{"community/c1"}, linlisync.Cursor{}, bigLimits)
	s.Close()
	s = mustOpen(t, dir, linlisync.Options{})
	if s.Epoch() != epoch {
		t.Fatal("epoch changed across reopen")
	}
	if h := s.Heads([]string{"community/c1"})["community/c1"]; h != 2 {
		t.Fatalf("head = %d, want 2", h)
	}
	res := mustPush(t, s, client(1), put(2, "post/p2", "v", "community/c1"), put(3, "post/p3", "v", "community/c1"))
	if res[1].Status != linlisync.StatusApplied {
		t.Fatalf("after reopen: %+v", res)
	}
	changes, _ := pullAll(t, s, []string{"community/c1"}, cur, bigLimits)
	if len(changes) != 1 || changes[0].EntityID != "post/p3" || changes[0].Seq != 3 {
		t.Fatalf("changes after reopen = %+v, want p3@3", changes)
	}
}
