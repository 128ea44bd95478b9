//go:build unix

package sync

import (
	"fmt"
	"io"
	"os"

	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"
)

// flockShared takes a read lock on the whole file fd, which a process
// holding Pebble's lock (a write lock, fcntl) refuses, and which keeps a
// server from taking the store while it is held. A file without a
// descriptor (in memory) takes none.
func flockShared(fd uintptr) error {
	if fd == vfs.InvalidFd {
		return nil
	}
	spec := unix.Flock_t{Type: unix.F_RDLCK, Whence: io.SeekStart, Pid: int32(os.Getpid())}
	if err := unix.FcntlFlock(fd, unix.F_SETLK, &spec); err != nil {
		return fmt.Errorf("lock held by another process: %w", err)
	}
	return nil
}
