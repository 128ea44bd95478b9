package sync_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	linlisync "github.com/linli/linli/sync"
)

// TestDiskFull: once the disk's free space falls below the reserve,
// pushes are refused with ErrDiskFull, consuming no id and changing
// nothing, while reads go on with every acknowledged change; the store's
// own jobs may use the second half of the reserve; writes resume by
// themselves once space is freed.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	fs := vfs.NewMem()
	free := func(n uint64) {
		fs.TestingSetDiskUsage(vfs.DiskUsage{AvailBytes: n, TotalBytes: 1 << 30, UsedBytes: 1<<30 - n})
	}
	free(1 << 30)
	s := mustOpen(t, "/store", linlisync.Options{FS: fs, DiskReserve: 64 << 20})
	c := linlisync.ClientID{User: "u1", Client: "phone"}
	mustPush(t, s, c, put(1, "post/c1/p1", "v1", "community/c1"))

	free(40 << 20) // under the reserve, over half of it
	s.DiskStatus() // a fresh reading (the writer trusts a roomy one for 250 ms)
	_, _, err := s.Push(context.Background(), c, []linlisync.Mutation{put(2, "post/c1/p2", "v2", "community/c1")})
	if !errors.Is(err, linlisync.ErrDiskFull) {
		t.Fatalf("push with the disk nearly full: %v, want ErrDiskFull", err)
	}
	if st := s.DiskStatus(); !st.Full || st.Available != 40<<20 || st.Reserve != 64<<20 {
		t.Fatalf("disk status = %+v, want full", st)
	}
	if last, err := s.LastMutationID(c); err != nil || last != 1 {
		t.Fatalf("last mutation id = %d, %v; want 1 (the refused push used none)", last, err)
	}
	changes, _ := pullAll(t, s, []string{"community/c1"}, linlisync.Cursor{Epoch: s.Epoch(), Seqs: map[string]uint64{}}, bigLimits)
	if len(changes) != 1 {
		t.Fatalf("pulled %d changes, want the 1 acknowledged", len(changes))
	}
	// The store's own jobs still run above half of the reserve …
	if err := s.Update(context.Background(), func(tx *linlisync.Tx) error { return tx.Put("session/u1", []byte("s"), nil) }); err != nil {
		t.Fatalf("a job above half the reserve: %v", err)
	}
	// … and stop below it.
	free(16 << 20)
	if err := s.Update(context.Background(), func(tx *linlisync.Tx) error { return tx.Put("session/u1", []byte("t"), nil) }); !errors.Is(err, linlisync.ErrDiskFull) {
		t.Fatalf("a job below half the reserve: %v, want ErrDiskFull", err)
	}
	// Space returns: writes resume by themselves, from id 2.
	free(1 << 30)
	s.DiskStatus()
	if _, _, err := s.Push(context.Background(), c, []linlisync.Mutation{put(2, "post/c1/p2", "v2", "community/c1")}); err != nil {
		t.Fatalf("push after space was freed: %v", err)
	}
	if s.DiskStatus().Full {
		t.Fatal("still full after space was freed")
	}
}
