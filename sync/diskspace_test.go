package sync_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/linli/linli/internal/quotafs"
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

// TestDiskFullSafetyNet: a write that meets a full disk although the
// reserve was kept (another program took the space between the check and
// the write) deletes the ballast and is retried into the space it gave
// back: the push is acknowledged, nothing panics, later pushes are refused
// until space returns, the ballast is made again, and every acknowledged
// change is there after a reopen.
func TestDiskFullSafetyNet(t *testing.T) {
	t.Parallel()
	fs := quotafs.New(vfs.NewMem(), 32<<20)
	opts := linlisync.Options{FS: fs, DiskReserve: 2 << 20, DiskBallast: 1 << 20}
	s := mustOpen(t, "/store", opts)
	c := linlisync.ClientID{User: "u1", Client: "phone"}
	mustPush(t, s, c, put(1, "post/c1/p1", "v1", "community/c1"))
	ballast := "/store/" + linlisync.BallastName
	if fi, err := fs.Stat(ballast); err != nil || fi.Size() != 1<<20 {
		t.Fatalf("ballast: %v, %v; want 1 MiB", fi, err)
	}

	// The disk fills up just before the WAL is written.
	fs.FillAt(func(name string) bool { return strings.HasSuffix(name, ".log") })
	mustPush(t, s, c, put(2, "post/c1/p2", "v2", "community/c1"))
	if fs.Refused() == 0 {
		t.Fatal("no write met the full disk")
	}
	if _, err := fs.Stat(ballast); err == nil {
		t.Fatal("the ballast is still there after a write met the full disk")
	}
	// The ballast's megabyte is less than the reserve: writes are refused.
	if st := s.DiskStatus(); !st.Full {
		t.Fatalf("disk status %+v, want full", st)
	}
	if _, _, err := s.Push(context.Background(), c, []linlisync.Mutation{put(3, "post/c1/p3", "v3", "community/c1")}); !errors.Is(err, linlisync.ErrDiskFull) {
		t.Fatalf("push after the safety net: %v, want ErrDiskFull", err)
	}

	// Space returns: writes resume and the ballast is made again.
	fs.Fill(24 << 20)
	mustPush(t, s, c, put(3, "post/c1/p3", "v3", "community/c1"))
	if fi, err := fs.Stat(ballast); err != nil || fi.Size() != 1<<20 {
		t.Fatalf("ballast after space returned: %v, %v; want 1 MiB", fi, err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	s = mustOpen(t, "/store", opts)
	changes, _ := pullAll(t, s, []string{"community/c1"}, linlisync.Cursor{Epoch: s.Epoch(), Seqs: map[string]uint64{}}, bigLimits)
	if len(changes) != 3 {
		t.Fatalf("after reopening: %d changes, want the 3 acknowledged", len(changes))
	}
}

// TestDiskFullWithoutBallast: with no ballast to give back, a write that
// meets a full disk fails the commit: nothing panics, the push is not
// acknowledged, reads go on, DiskStatus reports the failure, and writes
// stay refused until the store is reopened, with every acknowledged change.
func TestDiskFullWithoutBallast(t *testing.T) {
	t.Parallel()
	fs := quotafs.New(vfs.NewMem(), 32<<20)
	opts := linlisync.Options{FS: fs, DiskReserve: 2 << 20}
	s := mustOpen(t, "/store", opts)
	c := linlisync.ClientID{User: "u1", Client: "phone"}
	mustPush(t, s, c, put(1, "post/c1/p1", "v1", "community/c1"))
	fs.FillAt(func(name string) bool { return strings.HasSuffix(name, ".log") })
	if _, _, err := s.Push(context.Background(), c, []linlisync.Mutation{put(2, "post/c1/p2", "v2", "community/c1")}); err == nil {
		t.Fatal("a push whose WAL write met a full disk was acknowledged")
	}
	fs.Fill(24 << 20)
	if st := s.DiskStatus(); !errors.Is(st.Failed, linlisync.ErrFailed) || st.Full {
		t.Fatalf("disk status %+v, want Failed (and not Full: there is room again)", st)
	}
	if _, _, err := s.Push(context.Background(), c, []linlisync.Mutation{put(2, "post/c1/p2", "v2", "community/c1")}); !errors.Is(err, linlisync.ErrFailed) {
		t.Fatalf("push after the failure: %v, want ErrFailed", err)
	}
	if changes, _ := pullAll(t, s, []string{"community/c1"}, linlisync.Cursor{Epoch: s.Epoch(), Seqs: map[string]uint64{}}, bigLimits); len(changes) != 1 {
		t.Fatalf("pulled %d changes, want the 1 acknowledged", len(changes))
	}
	_ = s.Close() // reports the commit failure
	s = mustOpen(t, "/store", opts)
	mustPush(t, s, c, put(2, "post/c1/p2", "v2", "community/c1"))
	if changes, _ := pullAll(t, s, []string{"community/c1"}, linlisync.Cursor{Epoch: s.Epoch(), Seqs: map[string]uint64{}}, bigLimits); len(changes) != 2 {
		t.Fatalf("after reopening: %d changes, want 2", len(changes))
	}
}
