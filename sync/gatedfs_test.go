package sync_test

import (
	"strings"
	gosync "sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// gatedFS is a file system whose WAL syncs wait while its gate is shut:
// a commit group can be applied (written to the WAL and the memtable) and
// held there, not yet durable, for as long as a test needs.
type gatedFS struct {
	vfs.FS
	mu      gosync.Mutex
	open    chan struct{} // closed while the gate is open
	blocked atomic.Int64  // syncs waiting at the gate now
}

func newGatedFS(fs vfs.FS) *gatedFS {
	g := &gatedFS{FS: fs, open: make(chan struct{})}
	close(g.open)
	return g
}

// shut makes WAL syncs wait from now on.
func (g *gatedFS) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		g.open = make(chan struct{})
	default:
	}
}

// release lets waiting and later WAL syncs through.
func (g *gatedFS) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

func (g *gatedFS) wait() {
	g.mu.Lock()
	ch := g.open
	g.mu.Unlock()
	g.blocked.Add(1)
	<-ch
	g.blocked.Add(-1)
}

func (g *gatedFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return &gatedFile{File: f, g: g}, nil
}

func (g *gatedFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := g.FS.Create(name, c)
	return g.wrap(name, f, err)
}

func (g *gatedFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := g.FS.ReuseForWrite(oldname, newname, c)
	return g.wrap(newname, f, err)
}

func (g *gatedFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := g.FS.OpenReadWrite(name, c, opts...)
	return g.wrap(name, f, err)
}

// gatedFile is a WAL file whose syncs pass the gate.
type gatedFile struct {
	vfs.File
	g *gatedFS
}

func (f *gatedFile) Sync() error {
	f.g.wait()
	return f.File.Sync()
}

func (f *gatedFile) SyncData() error {
	f.g.wait()
	return f.File.SyncData()
}

func (f *gatedFile) SyncTo(length int64) (bool, error) {
	f.g.wait()
	return f.File.SyncTo(length)
}
