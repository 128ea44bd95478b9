// Package quotafs is a file system of a fixed size, for tests of a full
// disk.
package quotafs

import (
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// FS is a file system of a fixed size over another (usually
// vfs.NewMem()), for tests of a full disk: a write that would take more
// than the space left fails with syscall.ENOSPC, as on a full disk (nothing
// of it written), and GetDiskUsage reports the space left. Preallocated
// space counts as taken. A test takes space as another program would with
// Fill, or makes the disk fill up at one chosen write with FillAt.
//
// Hard links count their file's size again (a store under test makes none
// unless it takes a backup).
type FS struct {
	vfs.FS

	mu     sync.Mutex
	quota  int64
	used   int64            // by files, hog included
	hog    int64            // taken by "another program" (Fill)
	sizes  map[string]int64 // bytes each file takes
	fillAt func(name string) bool
	full   int // writes refused with ENOSPC so far
}

// New returns a file system of quota bytes over inner (which must
// start empty).
func New(inner vfs.FS, quota int64) *FS {
	return &FS{FS: inner, quota: quota, sizes: map[string]int64{}}
}

// Free is the space left.
func (q *FS) Free() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return max(0, q.quota-q.used)
}

// Fill takes space as another program would, or gives it back, so that
// free bytes are left (as far as giving back what Fill took allows).
func (q *FS) Fill(free int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.fill(free)
}

// REQUIRES: q.mu held.
func (q *FS) fill(free int64) {
	files := q.used - q.hog
	q.hog = max(0, q.quota-free-files)
	q.used = files + q.hog
}

// FillAt makes the disk full (Fill(0)) just before the next write to a
// file for which match is true, once.
func (q *FS) FillAt(match func(name string) bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.fillAt = match
}

// Refused is how many writes failed with ENOSPC so far.
func (q *FS) Refused() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.full
}

// take accounts for a write making name's file end bytes long.
func (q *FS) take(name string, end int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fillAt != nil && q.fillAt(name) {
		q.fillAt = nil
		q.fill(0)
	}
	grow := end - q.sizes[name]
	if grow <= 0 {
		return nil
	}
	if q.used+grow > q.quota {
		q.full++
		return &os.PathError{Op: "write", Path: name, Err: syscall.ENOSPC}
	}
	q.used += grow
	q.sizes[name] = end
	return nil
}

// forget drops name's space (removed, or truncated when created anew).
func (q *FS) forget(name string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.used -= q.sizes[name]
	delete(q.sizes, name)
}

func (q *FS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return f, err
	}
	return &file{File: f, fs: q, name: name}, nil
}

func (q *FS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := q.FS.Create(name, category)
	if err == nil {
		q.forget(name)
	}
	return q.wrap(name, f, err)
}

func (q *FS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := q.FS.OpenReadWrite(name, category, opts...)
	return q.wrap(name, f, err)
}

func (q *FS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := q.FS.ReuseForWrite(oldname, newname, category)
	if err == nil {
		q.moved(oldname, newname)
	}
	return q.wrap(newname, f, err)
}

func (q *FS) Link(oldname, newname string) error {
	if err := q.FS.Link(oldname, newname); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sizes[newname] = q.sizes[oldname]
	q.used += q.sizes[oldname]
	return nil
}

func (q *FS) Remove(name string) error {
	if err := q.FS.Remove(name); err != nil {
		return err
	}
	q.forget(name)
	return nil
}

func (q *FS) RemoveAll(dir string) error {
	if err := q.FS.RemoveAll(dir); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for name, n := range q.sizes {
		if name == dir || strings.HasPrefix(name, strings.TrimSuffix(dir, "/")+"/") {
			q.used -= n
			delete(q.sizes, name)
		}
	}
	return nil
}

func (q *FS) Rename(oldname, newname string) error {
	if err := q.FS.Rename(oldname, newname); err != nil {
		return err
	}
	q.moved(oldname, newname)
	return nil
}

func (q *FS) moved(oldname, newname string) {
	if oldname == newname {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.used -= q.sizes[newname]
	q.sizes[newname] = q.sizes[oldname]
	delete(q.sizes, oldname)
}

// GetDiskUsage reports the quota as the disk's size.
func (q *FS) GetDiskUsage(string) (vfs.DiskUsage, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	free := uint64(max(0, q.quota-q.used))
	return vfs.DiskUsage{AvailBytes: free, TotalBytes: uint64(q.quota), UsedBytes: uint64(q.quota) - free}, nil
}

// Unwrap returns the file system under the quota.
func (q *FS) Unwrap() vfs.FS { return q.FS }

// file is a file of a FS: writes take space first.
type file struct {
	vfs.File
	fs   *FS
	name string

	mu  sync.Mutex
	off int64 // where the next Write goes
}

func (f *file) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fs.take(f.name, f.off+int64(len(p))); err != nil {
		return 0, err
	}
	n, err := f.File.Write(p)
	f.off += int64(n)
	return n, err
}

func (f *file) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.take(f.name, off+int64(len(p))); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *file) Preallocate(off, length int64) error {
	if err := f.fs.take(f.name, off+length); err != nil {
		return err
	}
	return f.File.Preallocate(off, length)
}
