package sync_test

import (
	"context"
	"fmt"
	"slices"
	gosync "sync"
	"testing"
	"time"

	linlisync "github.com/linli/linli/sync"
)

func TestPull(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	community := []string{"community/c1"}

	t.Run("CompactsToOneEntryPerEntity", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, t.TempDir(), linlisync.Options{})
		var muts []linlisync.Mutation
		for i := uint64(1); i <= 100; i++ {
			muts = append(muts, put(i, "post/p1", fmt.Sprint("v", i), "community/c1"))
		}
		mustPush(t, s, client(1), muts...)
		mustPush(t, s, client(1), put(101, "post/p2", "other", "community/c1"))
		changes, _ := pullAll(t, s, community, linlisync.Cursor{}, bigLimits)
		if len(changes) != 2 || string(changes[0].Value) != "v100" || changes[0].Seq != 100 {
			t.Fatalf("changes = %+v, want p1@100=v100 and p2", changes)
		}
		if got := countLog(t, s, "community/c1"); got != 2 {
			t.Fatalf("log holds %d entries, want 2", got)
		}
	})

	t.Run("ProjectionRemovedBecomesTombstone", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, t.TempDir(), linlisync.Options{})
		mustPush(t, s, client(1), put(1, "post/p1", "v", "community/c1", "user/u1"))
		_, cur := pullAll(t, s, []string{"community/c1", "user/u1"}, linlisync.Cursor{}, bigLimits)
		mustPush(t, s, client(1), put(2, "post/p1", "v2", "user/u1")) // no longer in community
		changes, _ := pullAll(t, s, []string{"community/c1", "user/u1"}, cur, bigLimits)
		want := map[string]bool{"community/c1|post/p1|deleted": true, "user/u1|post/p1|v2": true}
		for _, c := range changes {
			if c.EntityID != "post/p1" {
				continue
			}
			key := c.Scope + "|" + c.EntityID + "|" + string(c.Value)
			if c.Deleted {
				key = c.Scope + "|" + c.EntityID + "|deleted"
			}
			if !want[key] {
				t.Errorf("unexpected change %s", key)
			}
			delete(want, key)
		}
		if len(want) > 0 {
			t.Errorf("missing changes %v", want)
		}
		// A fresh client gets no tombstone: it has nothing to delete.
		fresh, _ := pullAll(t, s, community, linlisync.Cursor{}, bigLimits)
		if len(fresh) != 0 {
			t.Errorf("fresh pull of community = %+v, want nothing", fresh)
		}
		if got := countLog(t, s, "community/c1"); got != 1 {
			t.Errorf("community log holds %d entries, want 1 tombstone", got)
		}
	})

	t.Run("DeleteTombstonesEveryScopeOnce", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, t.TempDir(), linlisync.Options{})
		mustPush(t, s, client(1), put(1, "post/p1", "v", "community/c1", "user/u1"))
		_, cur := pullAll(t, s, []string{"community/c1", "user/u1"}, linlisync.Cursor{}, bigLimits)
		mustPush(t, s, client(1), del(2, "post/p1"), del(3, "post/p1"))
		changes, _ := pullAll(t, s, []string{"community/c1"}, cur, bigLimits)
		if len(changes) != 1 || !changes[0].Deleted {
			t.Fatalf("changes = %+v, want one tombstone", changes)
		}
	})

	t.Run("PagesByCountAndBytesWithoutGaps", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, t.TempDir(), linlisync.Options{})
		var muts []linlisync.Mutation
		for i := uint64(1); i <= 250; i++ {
			muts = append(muts, put(i, fmt.Sprint("post/p", i), "0123456789", "community/c1"))
		}
		mustPush(t, s, client(1), muts...)
		for _, lim := range []linlisync.Limits{{MaxChanges: 7, MaxBytes: 1 << 20}, {MaxChanges: 1000, MaxBytes: 100}, {MaxChanges: 1, MaxBytes: 1}} {
			var pages int
			cur := linlisync.Cursor{}
			var seqs []uint64
			for {
				p, err := s.Pull(ctx, community, cur, lim)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if len(p.Changes) > lim.MaxChanges {
					t.Fatalf("%+v: page of %d changes", lim, len(p.Changes))
				}
				for _, c := range p.Changes {
					seqs = append(seqs, c.Seq)
				}
				cur = p.Cursor
				if !p.HasMore {
					break
				}
			}
			if len(seqs) != 250 || !slices.IsSorted(seqs) || seqs[0] != 1 || seqs[249] != 250 {
				t.Fatalf("%+v: got %d seqs (sorted %v), want 1..250", lim, len(seqs), slices.IsSorted(seqs))
			}
			if pages < 2 {
				t.Fatalf("%+v: %d pages, want paging", lim, pages)
			}
		}
	})

	t.Run("DroppedScopeReported", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, t.TempDir(), linlisync.Options{})
		mustPush(t, s, client(1), put(1, "handoff/h1", "v", "building/b1", "community/c1"))
		_, cur := pullAll(t, s, []string{"building/b1", "community/c1"}, linlisync.Cursor{}, bigLimits)
		p, err := s.Pull(ctx, community, cur, bigLimits) // demoted: no more building scope
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(p.Dropped, []string{"building/b1"}) {
			t.Fatalf("dropped = %v, want [building/b1]", p.Dropped)
		}
		if _, ok := p.Cursor.Seqs["building/b1"]; ok {
			t.Fatal("cursor still carries the dropped scope")
		}
	})

	t.Run("GainedScopeDeliversWholeState", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, t.TempDir(), linlisync.Options{})
		mustPush(t, s, client(1), put(1, "handoff/h1", "v", "building/b1"), put(2, "handoff/h2", "v", "building/b1"))
		_, cur := pullAll(t, s, community, linlisync.Cursor{}, bigLimits)
		changes, _ := pullAll(t, s, []string{"building/b1", "community/c1"}, cur, bigLimits)
		if len(view(changes)) != 2 {
			t.Fatalf("promoted pull got %v, want both handoffs", view(changes))
		}
	})

	t.Run("OtherEpochResetsEveryScope", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, t.TempDir(), linlisync.Options{})
		mustPush(t, s, client(1), put(1, "post/p1", "v", "community/c1"))
		_, cur := pullAll(t, s, community, linlisync.Cursor{}, bigLimits)
		cur.Epoch[0] ^= 0xff
		p, err := s.Pull(ctx, community, cur, bigLimits)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Resets) != 1 || p.Resets[0].Reason != linlisync.ResetEpochChanged || len(p.Changes) != 1 {
			t.Fatalf("page = %+v, want epoch reset and the whole state", p)
		}
	})

	t.Run("CursorAheadResets", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, t.TempDir(), linlisync.Options{})
		mustPush(t, s, client(1), put(1, "post/p1", "v", "community/c1"))
		cur := linlisync.Cursor{Epoch: s.Epoch(), Seqs: map[string]uint64{"community/c1": 99}}
		p, err := s.Pull(ctx, community, cur, bigLimits)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Resets) != 1 || p.Resets[0].Reason != linlisync.ResetCursorAhead || len(p.Changes) != 1 {
			t.Fatalf("page = %+v, want cursor-ahead reset", p)
		}
	})

	t.Run("BelowLowWaterMarkResets", func(t *testing.T) {
		t.Parallel()
		clock := newClock()
		s := mustOpen(t, t.TempDir(), linlisync.Options{Now: clock.Now})
		mustPush(t, s, client(1), put(1, "post/p1", "v", "community/c1"), put(2, "post/p2", "v", "community/c1"))
		_, old := pullAll(t, s, community, linlisync.Cursor{}, bigLimits)
		mustPush(t, s, client(1), del(3, "post/p1"))
		_, recent := pullAll(t, s, community, old, bigLimits)
		clock.Advance(time.Hour)
		n, err := s.DropTombstones(ctx, clock.Now())
		if err != nil || n != 1 {
			t.Fatalf("dropped %d, %v; want 1", n, err)
		}
		p, err := s.Pull(ctx, community, old, bigLimits)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Resets) != 1 || p.Resets[0].Reason != linlisync.ResetBelowLowWater {
			t.Fatalf("old cursor page = %+v, want low-water reset", p)
		}
		if got := view(p.Changes); len(got) != 1 || got["community/c1|post/p2"] != "v" {
			t.Fatalf("after reset state = %v, want only p2", got)
		}
		p, err = s.Pull(ctx, community, recent, bigLimits)
		if err != nil || len(p.Resets) != 0 {
			t.Fatalf("up-to-date cursor: resets %v, err %v; want none", p.Resets, err)
		}
		if got := countLog(t, s, "community/c1"); got != 1 {
			t.Fatalf("log holds %d entries after drop, want 1", got)
		}
	})

	t.Run("ConcurrentWritersNeverSkip", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, t.TempDir(), linlisync.Options{})
		const writers, perWriter = 8, 40
		var wg gosync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := uint64(1); i <= perWriter; i++ {
					mustPush(t, s, client(w), put(i, fmt.Sprintf("post/w%d-%d", w, i), "v", "community/c1"))
				}
			})
		}
		// A reader pulling small pages while writers run must end with every entity.
		seen := map[string]bool{}
		cur := linlisync.Cursor{}
		var last uint64
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		for finished := false; ; {
			select {
			case <-done:
				finished = true
			default:
			}
			for {
				p, err := s.Pull(ctx, community, cur, linlisync.Limits{MaxChanges: 5, MaxBytes: 1 << 20})
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range p.Changes {
					if c.Seq <= last {
						t.Fatalf("seq %d after %d", c.Seq, last)
					}
					last = c.Seq
					seen[c.EntityID] = true
				}
				cur = p.Cursor
				if !p.HasMore {
					break
				}
			}
			if finished {
				break
			}
		}
		if len(seen) != writers*perWriter {
			t.Fatalf("saw %d entities, want %d", len(seen), writers*perWriter)
		}
	})
}

// countLog counts the raw entries in a scope's log.
func countLog(t *testing.T, s *linlisync.Store, scope string) int {
	t.Helper()
	n, err := linlisync.CountLog(s, scope)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
