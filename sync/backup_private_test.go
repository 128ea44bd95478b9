package sync_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	linlisync "github.com/linli/linli/sync"
)

// TestBackupAndRestoreArePrivate: a backup, and a store restored from it,
// hold units and phones: their folders are 0700 and their files 0600,
// whatever the umask, and nothing of the staging folder stays behind.
func TestBackupAndRestoreArePrivate(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, t.TempDir(), linlisync.Options{})
	mustPush(t, s, client(1), put(1, "post/p1", "1502, 138 0000 1234", "community/c1"))
	parent := t.TempDir()
	backup := filepath.Join(parent, "2026-11-26")
	if err := s.Backup(context.Background(), backup); err != nil {
		t.Fatal(err)
	}
	wantPrivate(t, backup)
	if entries, _ := os.ReadDir(parent); len(entries) != 1 {
		t.Errorf("beside the backup: %v, want only the backup", entries)
	}
	store := filepath.Join(t.TempDir(), "store")
	if err := linlisync.Restore(backup, store); err != nil {
		t.Fatal(err)
	}
	wantPrivate(t, store)
}

func wantPrivate(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCheckOnReadOnlyMedia: a backup on media that refuses every write
// (its LOCK file cannot even be created) is checked, not mistaken for a
// store a running server holds.
func TestCheckOnReadOnlyMedia(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, t.TempDir(), linlisync.Options{})
	mustPush(t, s, client(1), put(1, "post/p1", "v", "community/c1"))
	backup := filepath.Join(t.TempDir(), "b")
	if err := s.Backup(context.Background(), backup); err != nil {
		t.Fatal(err)
	}
	rep, err := linlisync.Check(context.Background(), backup, linlisync.CheckOptions{Store: linlisync.Options{FS: readOnlyFS{vfs.Default}}})
	if err != nil {
		t.Fatalf("check on read-only media: %v", err)
	}
	if !rep.OK() || rep.LogEntries == 0 {
		t.Fatalf("report = %v", rep)
	}
	if _, err := os.Stat(filepath.Join(backup, "LOCK")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the check left a LOCK file: %v", err)
	}
}

// readOnlyFS refuses every write like a read-only mount (EROFS).
type readOnlyFS struct{ vfs.FS }

func erofs(name string) error { return &os.PathError{Op: "open", Path: name, Err: syscall.EROFS} }

func (readOnlyFS) Create(name string, _ vfs.DiskWriteCategory) (vfs.File, error) {
	return nil, erofs(name)
}
func (fs readOnlyFS) OpenReadWrite(name string, _ vfs.DiskWriteCategory, _ ...vfs.OpenOption) (vfs.File, error) {
	return nil, erofs(name)
}
func (readOnlyFS) ReuseForWrite(_, name string, _ vfs.DiskWriteCategory) (vfs.File, error) {
	return nil, erofs(name)
}
func (readOnlyFS) Lock(name string) (io.Closer, error)       { return nil, erofs(name) }
func (readOnlyFS) Remove(name string) error                  { return erofs(name) }
func (readOnlyFS) RemoveAll(name string) error               { return erofs(name) }
func (readOnlyFS) Rename(_, name string) error               { return erofs(name) }
func (readOnlyFS) Link(_, name string) error                 { return erofs(name) }
func (readOnlyFS) MkdirAll(name string, _ os.FileMode) error { return erofs(name) }
