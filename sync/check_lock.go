package sync

import (
	"errors"
	"io"
	"os"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// lockForCheck takes the store's lock for a read-only check. A store on
// read-only media (a backup on a write-protected disk, a read-only mount)
// or in a folder the caller may not write cannot have its LOCK file created
// or opened for writing; there the lock is taken on the LOCK file opened
// read-only (a server holding it still refuses the check, with
// ErrStoreInUse), or, when there is no LOCK file, not at all: no server can
// have opened a store it could not create a LOCK file in.
func lockForCheck(storeDir string, fs vfs.FS) (*pebble.Lock, error) {
	lock, err := pebble.LockDirectory(storeDir, fs)
	if err == nil || !cannotWrite(err) {
		return lock, err
	}
	return pebble.LockDirectory(storeDir, readOnlyLockFS{fs})
}

// cannotWrite reports whether err says the file system refuses writes here.
func cannotWrite(err error) bool {
	return errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)
}

// readOnlyLockFS takes locks on files opened read-only.
type readOnlyLockFS struct{ vfs.FS }

func (fs readOnlyLockFS) Lock(name string) (io.Closer, error) {
	f, err := fs.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return io.NopCloser(nil), nil
	}
	if err != nil {
		return nil, err
	}
	if err := flockShared(f.Fd()); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return f, nil
}
