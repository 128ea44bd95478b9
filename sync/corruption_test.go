package sync_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	linlisync "github.com/linli/linli/sync"
)

// TestPebbleCorruptionIsCorruption: a table whose bytes were damaged on
// disk makes reads fail with an error IsCorruption recognizes (the server
// answers DATA_LOSS for it), not an anonymous internal error.
func TestPebbleCorruptionIsCorruption(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := linlisync.Open(dir, linlisync.Options{DropInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	c := linlisync.ClientID{User: "u1", Client: "phone"}
	value := strings.Repeat("退烧药 fever reducer, 15楼电梯口窗台. ", 40)
	for i := range 200 {
		mustPush(t, s, c, put(uint64(i+1), fmt.Sprintf("post/c1/p%d", i), value, "community/c1"))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopening replays the WAL into a flushed table.
	s, err = linlisync.Open(dir, linlisync.Options{DropInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(tables) == 0 {
		t.Fatal("no table written")
	}
	for _, p := range tables {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		// Damage the data blocks at the front; the footer and index at the
		// end stay readable, so the store opens and the damage shows on read.
		for i := 64; i < len(b)/3; i += 97 {
			b[i] ^= 0x5a
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err = linlisync.Open(dir, linlisync.Options{DropInterval: -1})
	if err != nil {
		if !linlisync.IsCorruption(err) {
			t.Fatalf("open of a damaged store: %v, not recognized as corruption", err)
		}
		return
	}
	defer s.Close()
	_, err = s.Pull(context.Background(), []string{"community/c1"}, linlisync.Cursor{Epoch: s.Epoch(), Seqs: map[string]uint64{}}, bigLimits)
	if err == nil {
		t.Fatal("pull of a damaged table succeeded")
	}
	if !linlisync.IsCorruption(err) {
		t.Fatalf("pull error %v not recognized as corruption", err)
	}
}
