package sync_test

import (
	"fmt"
	"testing"
	"time"

	linlisync "github.com/linli/linli/sync"
)

// TestEditsDoNotSlowCatchUp: each edit deletes its entity's older log
// entry; the writer flushes the memtable once enough deletions gathered,
// so that a catch-up steps over at most about that many deleted entries
// however many edits were made. With early flushes off, it steps over
// every one (what made catch-ups four times slower after 100,000 edits).
func TestEditsDoNotSlowCatchUp(t *testing.T) {
	t.Parallel()
	const entities, rounds, every = 500, 8, 1000 // 3,500 edits
	// edit makes the edits and returns what a scan steps over once
	// settle says it has settled (a flush runs after its write returned).
	edit := func(t *testing.T, opts linlisync.Options, settled func(steps int) bool) int {
		s := mustOpen(t, t.TempDir(), opts)
		c := client(1)
		id := uint64(0)
		for round := range rounds {
			muts := make([]linlisync.Mutation, 0, entities)
			for e := range entities {
				id++
				muts = append(muts, put(id, fmt.Sprintf("post/c1/p%d", e), fmt.Sprintf("v%d", round), "community/c1"))
			}
			mustPush(t, s, c, muts...)
		}
		var steps int
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			var err error
			if steps, err = linlisync.StepsOverDeleted(s, "community/c1"); err != nil {
				t.Fatal(err)
			}
			if settled(steps) || time.Now().After(deadline) {
				break
			}
		}
		if n, err := linlisync.CountLog(s, "community/c1"); err != nil || n != entities {
			t.Fatalf("log holds %d entries (%v), want %d", n, err, entities)
		}
		return steps
	}
	edits := entities * (rounds - 1)
	now := func(int) bool { return true }
	if steps := edit(t, linlisync.Options{FlushAfterDeletes: -1}, now); steps < edits {
		t.Errorf("without early flushes a scan stepped over %d deleted entries, want at least %d (the test no longer sees them)", steps, edits)
	}
	flushed := func(steps int) bool { return steps <= 2*every }
	if steps := edit(t, linlisync.Options{FlushAfterDeletes: every}, flushed); steps > 2*every {
		t.Errorf("a scan stepped over %d deleted entries after %d edits, want at most %d", steps, edits, 2*every)
	}
}
