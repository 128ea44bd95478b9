package sync_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	linlisync "github.com/linli/linli/sync"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// TestKeyspaceGolden pins the on-disk format and the log's behaviour: a
// scripted history (posts, edits, a projection withdrawn, a delete, a
// rejection, tombstones dropped) and the exact keyspace it leaves.
// Rewrite with: go test ./sync -run TestKeyspaceGolden -update
func TestKeyspaceGolden(t *testing.T) {
	t.Parallel()
	clock := newClock()
	s := mustOpen(t, t.TempDir(), linlisync.Options{Now: clock.Now})
	u1, u2 := client(1), client(2)
	mustPush(t, s, u1,
		put(1, "post/c1/req-2340", "美林 needed, child 39°C", "community/c1", "user/u1"),
		put(2, "post/c1/req-2340", "美林 needed, child 39.5°C", "community/c1", "user/u1"))
	clock.Advance(time.Minute)
	mustPush(t, s, u2,
		put(1, "post/c1/offer-1", "泰诺林 on the 15th-floor windowsill", "community/c1", "user/u2"),
		reject(2))
	clock.Advance(time.Minute)
	mustPush(t, s, u1, put(3, "post/c1/req-2340", "withdrawn from community", "user/u1"))
	mustPush(t, s, u2, del(3, "post/c1/offer-1"))
	clock.Advance(time.Hour)
	if _, err := s.DropTombstones(context.Background(), clock.Now().Add(-30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, err := linlisync.Dump(s)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "keyspace.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if got != string(want) {
		t.Fatalf("keyspace differs from %s (run with -update if intended):\n--- got\n%s--- want\n%s", path, got, want)
	}
}
