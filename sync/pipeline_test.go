package sync_test

import (
	"context"
	randv2 "math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	linlisync "github.com/linli/linli/sync"
)

// TestPipelineShowsOnlyDurable: the writer applies a group and goes on
// while the group's fsync is pending; until that fsync completes, no read
// (Pull, Get, LastMutationID, Scan, heads) shows the group, and a power
// loss then keeps exactly what reads showed.
func TestPipelineShowsOnlyDurable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem := vfs.NewCrashableMem()
	fs := newGatedFS(mem)
	s, err := linlisync.Open("db", linlisync.Options{FS: fs, DropInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	defer fs.release() // before Close, which waits for the pipeline
	u1 := client(1)
	mustPush(t, s, u1, put(1, "post/c1/p1", "durable", "community/c1", "user/u1"))

	fs.shut()
	pushed := make(chan error, 1)
	go func() {
		_, _, err := s.Push(ctx, u1, []linlisync.Mutation{
			put(2, "post/c1/p1", "applied, not synced", "community/c1", "user/u1"),
			put(3, "post/c1/p2", "applied, not synced", "community/c1"),
		})
		pushed <- err
	}()
	waitFor(t, "the group applied and its fsync held", func() bool {
		return linlisync.InFlight(s) > 0 && fs.blocked.Load() > 0
	})
	// A second group is applied behind it: the pipeline goes on.
	second := make(chan error, 1)
	go func() {
		_, _, err := s.Push(ctx, client(2), []linlisync.Mutation{put(1, "post/c1/p3", "second group", "community/c1")})
		second <- err
	}()
	waitFor(t, "a second group applied", func() bool { return linlisync.InFlight(s) > 1 })

	changes, _ := pullAll(t, s, []string{"community/c1", "user/u1"}, linlisync.Cursor{}, bigLimits)
	got := view(changes)
	if got["community/c1|post/c1/p1"] != "durable" || got["community/c1|post/c1/p2"] != "" || got["community/c1|post/c1/p3"] != "" {
		t.Fatalf("Pull while the fsync is held shows %v, want only the durable version of p1", got)
	}
	if v, ok, err := s.Get("post/c1/p2"); err != nil || ok {
		t.Fatalf("Get(p2) = %q, %v, %v before its fsync", v, ok, err)
	}
	if last, err := s.LastMutationID(u1); err != nil || last != 1 {
		t.Fatalf("LastMutationID = %d, %v before the fsync, want 1", last, err)
	}
	if h := s.Heads([]string{"community/c1"})["community/c1"]; h != 1 {
		t.Fatalf("head of community/c1 = %d before the fsync, want 1", h)
	}
	n := 0
	if err := s.Scan(ctx, "post/", func(string, []byte) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("Scan saw %d posts (%v) before the fsync, want 1", n, err)
	}
	select {
	case err := <-pushed:
		t.Fatalf("push answered before its fsync: %v", err)
	default:
	}

	// Power is lost now: only synced data survives, and that is what the
	// reads above showed.
	crashed := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0, RNG: randv2.New(randv2.NewPCG(1, 2))})
	fs.release()
	for _, ch := range []chan error{pushed, second} {
		if err := <-ch; err != nil {
			t.Fatalf("push after the gate opened: %v", err)
		}
	}
	changes, _ = pullAll(t, s, []string{"community/c1"}, linlisync.Cursor{}, bigLimits)
	if got := view(changes); got["community/c1|post/c1/p2"] != "applied, not synced" || got["community/c1|post/c1/p3"] != "second group" {
		t.Fatalf("after the fsync, Pull shows %v", got)
	}

	r, err := linlisync.Open("db", linlisync.Options{FS: crashed, DropInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	changes, _ = pullAll(t, r, []string{"community/c1", "user/u1"}, linlisync.Cursor{}, bigLimits)
	if got := view(changes); got["community/c1|post/c1/p1"] != "durable" || len(got) != 3 {
		// p1 in community and user scope, and u1's client state.
		t.Fatalf("after power loss: %v, want p1's durable version and u1's state", got)
	}
	if last, err := r.LastMutationID(u1); err != nil || last != 1 {
		t.Fatalf("after power loss LastMutationID = %d, %v, want 1", last, err)
	}
}

// waitFor polls cond until it holds, failing after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
