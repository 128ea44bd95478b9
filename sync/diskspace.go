package sync

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	gosync "sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrDiskFull is returned by writes while the store's disk has less free
// space than Options.DiskReserve: nothing was applied and no mutation id was
// consumed; retry later. Reads keep working. Writes resume by themselves
// once space is freed.
var ErrDiskFull = errors.New("sync: disk nearly full: writes refused")

// BallastName is the file a store keeps in its folder to be deleted when
// the disk fills up regardless (see Options.DiskBallast). ON-DISK FORMAT:
// never change it (a store would keep an old ballast forever).
const BallastName = "linli-ballast"

// diskRecheck is how long a free-space reading is trusted while there is
// plenty of room.
const diskRecheck = 250 * time.Millisecond

// A full disk, handled before it happens. Before applying each request the
// writer compares the free space (statfs, cached for diskRecheck while far
// from the reserve) with the reserve:
//
//   - a push is refused with ErrDiskFull while free space is below
//     DiskReserve;
//   - the server's own jobs (sign-ins, token refreshes, the hotline outbox,
//     dropping old tombstones) are refused only below half of it, so that
//     apps stay signed in and critical cases still reach the hotline;
//   - a backup (which writes outside the store, and only hard-links on its
//     file system) is never refused here.
//
// Refused requests consume nothing, so apps simply retry. The safety net,
// for writes that slip past the check (Pebble's flushes and compactions,
// another program filling the disk): Pebble's file system is wrapped with
// vfs.OnDiskFull, which on ENOSPC deletes the ballast file (DiskBallast
// bytes of zeros in the store's folder), marks the disk full and lets
// Pebble retry the write once, into the space the ballast gave back, so
// that a full disk never stops the process. The ballast is made again when
// there is room for it.
type diskMonitor struct {
	fs      vfs.FS
	dir     string
	reserve uint64
	ballast int64
	log     *slog.Logger

	mu       gosync.Mutex
	checked  time.Time
	avail    uint64
	known    bool // GetDiskUsage works on this file system
	full     bool
	enospc   bool // Pebble met ENOSPC since the last reading with room
	hasBall  bool
	noBallFS bool // ballast not supported here
}

// watchDisk returns the monitor of the store in dir and the file system
// Pebble is to use: opts.FS (or the OS's) wrapped with vfs.OnDiskFull.
func watchDisk(dir string, opts Options, log *slog.Logger) (*diskMonitor, vfs.FS) {
	fs := opts.FS
	if fs == nil {
		fs = vfs.Default
	}
	d := newDiskMonitor(fs, dir, opts, log)
	return d, vfs.OnDiskFull(fs, d.onENOSPC)
}

func newDiskMonitor(fs vfs.FS, dir string, opts Options, log *slog.Logger) *diskMonitor {
	d := &diskMonitor{fs: fs, dir: dir, log: log}
	if opts.DiskReserve > 0 {
		d.reserve = uint64(opts.DiskReserve)
	}
	if opts.DiskBallast > 0 {
		d.ballast = opts.DiskBallast
	}
	return d
}

// DiskStatus is the store's view of its disk, for health and metrics.
type DiskStatus struct {
	Known     bool   // the file system reports its free space
	Available uint64 // bytes free for the store
	Reserve   uint64 // Options.DiskReserve
	Full      bool   // pushes are refused (ErrDiskFull)
	// Failed is the commit failure (ErrFailed) that stopped every write
	// until the store is reopened, if one did: a write that met a full disk
	// with no ballast left to give back, for one.
	Failed error
}

// DiskStatus reads the free space again and returns it with whether
// writes are refused, and why.
func (s *Store) DiskStatus() DiskStatus {
	d := s.disk
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refresh(true)
	return DiskStatus{Known: d.known, Available: d.avail, Reserve: d.reserve, Full: d.full, Failed: s.failure()}
}

// admit returns why req must not be applied now: the sticky commit
// failure, or a disk too full for it. Called by the writer before it
// applies each request.
func (s *Store) admit(req request) error {
	if err := s.failure(); err != nil {
		return err
	}
	if req.settled || s.disk.reserve == 0 {
		return nil
	}
	d := s.disk
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refresh(false)
	if !d.known {
		return nil
	}
	need := d.reserve
	if req.job != nil {
		need /= 2
	}
	if d.avail < need {
		return fmt.Errorf("%w: %d MiB free, %d MiB kept in reserve", ErrDiskFull, d.avail>>20, need>>20)
	}
	return nil
}

// refresh reads the free space, unless force is false, the last reading
// is fresh (diskRecheck) and far from the reserve; it logs the changes of
// state.
// REQUIRES: d.mu held.
func (d *diskMonitor) refresh(force bool) {
	now := time.Now()
	plenty := d.known && d.avail > 2*d.reserve+(64<<20) && !d.enospc
	if !force && plenty && d.checked.After(now.Add(-diskRecheck)) {
		return
	}
	u, err := d.fs.GetDiskUsage(d.dir)
	d.checked = now
	if err != nil {
		if d.known {
			d.log.Warn("disk usage unknown", "err", err)
		}
		d.known = false
		return
	}
	d.known, d.avail = true, u.AvailBytes
	full := d.avail < d.reserve
	if full && !d.full {
		d.log.Error("disk nearly full: refusing writes", "dir", d.dir, "free_mib", d.avail>>20, "reserve_mib", d.reserve>>20)
	}
	if !full && d.full {
		d.log.Info("disk space available again: accepting writes", "dir", d.dir, "free_mib", d.avail>>20)
		d.enospc = false
	}
	d.full = full
	if !full && !d.hasBall && d.avail > d.reserve+uint64(d.ballast) {
		d.makeBallast()
	}
}

// makeBallast writes the ballast file, if the file system allows.
// REQUIRES: d.mu held.
func (d *diskMonitor) makeBallast() {
	if d.ballast == 0 || d.noBallFS {
		return
	}
	path := d.fs.PathJoin(d.dir, BallastName)
	if fi, err := d.fs.Stat(path); err == nil && fi.Size() >= d.ballast {
		d.hasBall = true
		return
	}
	f, err := d.fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		d.log.Warn("ballast file", "err", err)
		d.noBallFS = true
		return
	}
	// Written, not preallocated: Linux preallocates beyond the end of the
	// file (FALLOC_FL_KEEP_SIZE), so that the file would look empty, and a
	// file system may not preallocate at all.
	zeros := make([]byte, min(d.ballast, 1<<20))
	for left := d.ballast; left > 0 && err == nil; left -= int64(len(zeros)) {
		_, err = f.Write(zeros[:min(left, int64(len(zeros)))])
	}
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		d.log.Warn("ballast file", "err", err)
		_ = d.fs.Remove(path)
		return
	}
	d.hasBall = true
}

// onENOSPC is Pebble's vfs.OnDiskFull callback: a write hit ENOSPC. It
// gives the ballast's space back so that the write can be retried, and
// refuses writes from now on until the disk has room again.
func (d *diskMonitor) onENOSPC() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.enospc, d.full, d.checked = true, true, time.Time{}
	d.avail = 0
	err := d.fs.Remove(d.fs.PathJoin(d.dir, BallastName))
	switch {
	case err == nil:
		d.log.Error("disk full: a write failed with no space left; ballast deleted, refusing writes", "dir", d.dir, "ballast_mib", d.ballast>>20)
	case errors.Is(err, os.ErrNotExist):
		d.log.Error("disk full: a write failed with no space left and there is no ballast to delete; refusing writes", "dir", d.dir)
	default:
		d.log.Error("disk full: a write failed with no space left; could not delete the ballast", "dir", d.dir, "err", err)
	}
	d.hasBall = false
}
