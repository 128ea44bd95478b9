package sync_test

import (
	"context"
	"errors"
	"testing"

	linlisync "github.com/linli/linli/sync"
)

func TestStoreScan(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, t.TempDir(), linlisync.Options{})
	err := s.Update(ctx, func(tx *linlisync.Tx) error {
		for _, id := range []string{"a/1", "a/2", "a/3", "b/1"} {
			if err := tx.Put(id, []byte(id), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *linlisync.Tx) error { return tx.Delete("a/2") }); err != nil {
		t.Fatal(err)
	}
	var got []string
	err = s.Scan(ctx, "a/", func(id string, v []byte) error {
		if string(v) != id {
			t.Errorf("value of %s = %q", id, v)
		}
		got = append(got, id)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a/1", "a/3"}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("scan a/ = %v, want %v (deleted entity skipped, b/ not reached)", got, want)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.Scan(ctx, "a/", func(string, []byte) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("scan stopping early: err %v after %d calls, want stop after 1", err, n)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Scan(cctx, "a/", func(string, []byte) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("scan with a cancelled ctx: %v", err)
	}
}
