package sync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// StoreFormat is the version of the store's on-disk format (keys.go,
// records.go) that this build writes and reads. A backup records it; Restore
// refuses a backup of a newer format.
const StoreFormat = recordVersion

// BackupManifestName is the file Backup writes inside a backup directory.
// ON-DISK FORMAT: a JSON BackupManifest.
const BackupManifestName = "linli-backup.json"

// backupKind marks a manifest as a linli backup's.
const backupKind = "linli-store-backup"

// BackupManifest describes a backup. It is written last, after the
// checkpoint is complete and synced: a directory without one is not a usable
// backup.
type BackupManifest struct {
	Kind        string    `json:"kind"`        // "linli-store-backup"
	StoreFormat int       `json:"storeFormat"` // StoreFormat of the store backed up
	Epoch       string    `json:"epoch"`       // hex epoch of the store backed up (the restored store gets a new one)
	Time        time.Time `json:"time"`        // when the checkpoint was taken (the store's clock)
	Scopes      int       `json:"scopes"`      // scopes with a head at that moment
}

// Errors returned by Backup, Restore and MoveAside.
var (
	ErrBackupExists   = errors.New("sync: backup directory already exists")
	ErrNotBackup      = errors.New("sync: not a linli backup (no valid " + BackupManifestName + ")")
	ErrStoreNotEmpty  = errors.New("sync: store directory is not empty (move it aside first)")
	ErrStoreInUse     = errors.New("sync: store is in use by another process (stop the server first)")
	ErrBackupTooNew   = errors.New("sync: backup was made by a newer linli (store format unknown to this build)")
	errCheckpointFile = errors.New("sync: unexpected entry in backup directory")
)

// Backup writes an online, consistent copy of the store to dir while the
// store keeps serving, and returns once the copy and its manifest are
// fsync'd. dir must not exist; its parents are created.
//
// The copy is a Pebble checkpoint (tables hard-linked when dir is on the
// store's file system, copied otherwise; the WAL and MANIFEST copied) and a
// BackupManifest (BackupManifestName) written last.
//
// Why it is consistent: every change to the store is one Pebble batch
// committed by the single writer (a group of pushes, a DropTombstones job,
// the epoch written by Open), and Pebble applies and replays a batch whole:
// a checkpoint therefore holds a prefix of the committed batches, never part
// of one. Backup moreover takes the checkpoint as a job in the writer's
// order, so no batch commits while it is taken: the backup is the store as
// the last committed group left it. It holds every push acknowledged before
// Backup was called (a push is acknowledged after its group commits); a
// push in flight meanwhile is in it whole or not at all. Pushes queue while
// the checkpoint is taken and are applied when it is done. With hard links that takes milliseconds; if dir is on another file
// system Pebble copies every table and pushes wait for the copy, so back up
// to the store's file system and copy the result elsewhere.
//
// Errors: ErrBackupExists if dir exists; ErrClosed; ctx's error if it ends
// before the writer takes the job; file system errors (a failed checkpoint
// removes what it wrote).
func (s *Store) Backup(ctx context.Context, dir string) error {
	fs := s.fs()
	if _, err := fs.Stat(dir); err == nil {
		return fmt.Errorf("backup to %s: %w", dir, ErrBackupExists)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("backup to %s: %w", dir, err)
	}
	// The checkpoint is written inside a private staging folder (0700, so
	// nobody else can read the files even for the moment before they are
	// made 0600) beside dir, and renamed into place once complete.
	staging := fmt.Sprintf("%s.partial-%s", dir, rand.Text())
	if err := fs.MkdirAll(staging, 0o700); err != nil {
		return fmt.Errorf("backup to %s: %w", dir, err)
	}
	defer func() { _ = fs.RemoveAll(staging) }()
	if err := chmod(fs, staging, 0o700); err != nil {
		return fmt.Errorf("backup to %s: %w", dir, err)
	}
	ckpt := fs.PathJoin(staging, "store")
	var (
		m       BackupManifest
		ckptErr error
	)
	_, err := s.do(ctx, request{settled: true, reads: true, job: func(w *batchState) error {
		// The writer is here and every group before is durable, so no
		// batch commits during the checkpoint and the checkpoint holds no
		// group that is not durable; this group's own writes are still in
		// its unapplied batch.
		ckptErr = s.db.Checkpoint(ckpt, pebble.WithFlushedWAL())
		s.mu.RLock()
		scopes := len(s.heads)
		s.mu.RUnlock()
		m = BackupManifest{
			Kind: backupKind, StoreFormat: StoreFormat, Epoch: hex.EncodeToString(s.epoch[:]),
			Time: w.now.UTC(), Scopes: scopes,
		}
		return nil // a failed backup must not poison the pushes of its group
	}})
	if err != nil {
		return err
	}
	if ckptErr != nil {
		return fmt.Errorf("backup to %s: checkpoint: %w", dir, ckptErr)
	}
	if err := writeManifest(fs, ckpt, m); err != nil {
		return fmt.Errorf("backup to %s: %w", dir, err)
	}
	if err := makePrivate(fs, ckpt); err != nil {
		return fmt.Errorf("backup to %s: %w", dir, err)
	}
	if err := fs.Rename(ckpt, dir); err != nil {
		return fmt.Errorf("backup to %s: %w", dir, err)
	}
	if err := syncDir(fs, fs.PathDir(dir)); err != nil {
		return fmt.Errorf("backup to %s: %w", dir, err)
	}
	s.log.Info("backup written", "dir", dir, "epoch", m.Epoch, "scopes", m.Scopes)
	return nil
}

// makePrivate gives dir mode 0700 and each file in it 0600: backups and
// restored stores hold units, phone numbers and token hashes. (Files of a
// backup hard-linked from the store share their inode with the store's:
// those become 0600 in the store too.)
func makePrivate(fs vfs.FS, dir string) error {
	if err := chmod(fs, dir, 0o700); err != nil {
		return err
	}
	names, err := fs.List(dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		p := fs.PathJoin(dir, n)
		if fi, err := fs.Stat(p); err != nil {
			return err
		} else if fi.IsDir() {
			continue
		}
		if err := chmod(fs, p, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// chmod sets path's mode on the OS file system; other file systems (in
// memory, in tests) have no modes.
func chmod(fs vfs.FS, path string, mode os.FileMode) error {
	if fs != vfs.Default {
		return nil
	}
	return os.Chmod(path, mode)
}

func (s *Store) fs() vfs.FS {
	if s.opts.FS != nil {
		return s.opts.FS
	}
	return vfs.Default
}

// writeManifest writes m into dir and syncs the file and dir.
func writeManifest(fs vfs.FS, dir string, m BackupManifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	f, err := fs.Create(fs.PathJoin(dir, BackupManifestName), vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if err := errors.Join(err, f.Close()); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return syncDir(fs, dir)
}

func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	if err := errors.Join(d.Sync(), d.Close()); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// ReadBackupManifest reads and validates the manifest of the backup in dir
// (on the OS file system). Errors: ErrNotBackup; ErrBackupTooNew.
func ReadBackupManifest(dir string) (BackupManifest, error) {
	var m BackupManifest
	b, err := os.ReadFile(filepath.Join(dir, BackupManifestName))
	if err != nil {
		return m, fmt.Errorf("%s: %w: %v", dir, ErrNotBackup, err)
	}
	if err := json.Unmarshal(b, &m); err != nil || m.Kind != backupKind {
		return m, fmt.Errorf("%s: %w", dir, ErrNotBackup)
	}
	if m.StoreFormat > StoreFormat || m.StoreFormat < 1 {
		return m, fmt.Errorf("%s: format %d: %w", dir, m.StoreFormat, ErrBackupTooNew)
	}
	return m, nil
}

// Restore puts the backup in backupDir in place of the store in storeDir,
// with a new random epoch, so that every cursor handed out before (by the
// store backed up or by the one replaced) resets (ResetEpochChanged) instead
// of silently missing changes. It returns once the restored store is
// fsync'd in place. backupDir is only read: it can be restored again.
//
// Restore is OFFLINE: the server must be stopped. It takes the store's lock
// to make sure. storeDir must not exist or be empty: move an existing store
// aside first (MoveAside). The store is assembled in a sibling directory and
// renamed into place, so a failed restore leaves no half-restored store.
//
// Errors: ErrNotBackup, ErrBackupTooNew (backupDir); ErrStoreInUse;
// ErrStoreNotEmpty; file system and Pebble errors.
func Restore(backupDir, storeDir string) (err error) {
	if _, err := ReadBackupManifest(backupDir); err != nil {
		return err
	}
	storeDir = filepath.Clean(storeDir)
	empty, err := dirEmpty(storeDir)
	if err != nil {
		return err
	}
	if !empty {
		if err := checkUnlocked(storeDir); err != nil {
			return err
		}
		return fmt.Errorf("restore into %s: %w", storeDir, ErrStoreNotEmpty)
	}
	parent := filepath.Dir(storeDir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, filepath.Base(storeDir)+".restoring-")
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, os.RemoveAll(tmp))
		}
	}()
	if err := copyCheckpoint(backupDir, tmp); err != nil {
		return fmt.Errorf("restore: copy %s: %w", backupDir, err)
	}
	if _, err := newEpoch(tmp); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	// Opening the store to give it its epoch wrote files with the umask.
	if err := makePrivate(vfs.Default, tmp); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := os.Remove(storeDir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("restore: %w", err)
	}
	if err := os.Rename(tmp, storeDir); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return syncDir(vfs.Default, parent)
}

// MoveAside renames a stopped store's directory to
// storeDir.before-restore-<UTC time> and returns the new name. A missing
// or empty storeDir is left alone ("" returned).
// Errors: ErrStoreInUse; the target exists; file system errors.
func MoveAside(storeDir string, now time.Time) (string, error) {
	storeDir = filepath.Clean(storeDir)
	empty, err := dirEmpty(storeDir)
	if err != nil || empty {
		return "", err
	}
	_, unlock, err := lockStore(vfs.Default, storeDir)
	if err != nil {
		return "", err
	}
	to := storeDir + ".before-restore-" + now.UTC().Format("20060102T150405Z")
	if _, err := os.Lstat(to); err == nil {
		return "", errors.Join(fmt.Errorf("move aside %s: %s already exists", storeDir, to), unlock())
	}
	// The lock is held across the rename: no server can open the store meanwhile.
	if err := os.Rename(storeDir, to); err != nil {
		return "", errors.Join(fmt.Errorf("move aside: %w", err), unlock())
	}
	if err := unlock(); err != nil {
		return "", err
	}
	return to, syncDir(vfs.Default, filepath.Dir(storeDir))
}

// dirEmpty reports whether dir is missing or an empty directory.
func dirEmpty(dir string) (bool, error) {
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.IsDir() {
		return false, fmt.Errorf("%s: not a directory", dir)
	}
	_, err = f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return false, err
}

// checkUnlocked fails with ErrStoreInUse if a process holds the store's
// lock. The lock is released again at once.
func checkUnlocked(storeDir string) error {
	_, unlock, err := lockStore(vfs.Default, storeDir)
	if err != nil {
		return err
	}
	return unlock()
}

// lockStore takes the Pebble lock of the store in dir (which must exist),
// failing with ErrStoreInUse if another process (or this one) holds it. A
// directory without a LOCK file was never opened as a store: nothing to take.
func lockStore(fs vfs.FS, dir string) (*pebble.Lock, func() error, error) {
	if _, err := fs.Stat(fs.PathJoin(dir, "LOCK")); errors.Is(err, os.ErrNotExist) {
		return nil, func() error { return nil }, nil
	}
	l, err := pebble.LockDirectory(dir, fs)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w: %v", dir, ErrStoreInUse, err)
	}
	return l, l.Close, nil
}

// copyCheckpoint copies the checkpoint's files (not its manifest) into the
// empty directory to, syncing each, then the directory.
func copyCheckpoint(from, to string) error {
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == BackupManifestName {
			continue
		}
		if !e.Type().IsRegular() {
			return fmt.Errorf("%s: %w", e.Name(), errCheckpointFile)
		}
		if err := copyFile(filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
			return err
		}
	}
	return syncDir(vfs.Default, to)
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, src)
	if err == nil {
		err = dst.Sync()
	}
	return errors.Join(err, dst.Close())
}

// newEpoch opens the Pebble database in dir (which must exist and hold a
// linli store) and replaces its epoch with a new random one, durably.
func newEpoch(dir string) (epoch [16]byte, err error) {
	db, err := pebble.Open(dir, &pebble.Options{
		ErrorIfNotExists: true,
		Logger:           pebbleLogger{slog.New(slog.DiscardHandler)},
	})
	if err != nil {
		return epoch, fmt.Errorf("open restored store: %w", err)
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	old, closer, err := db.Get(keyEpoch)
	if err != nil {
		return epoch, fmt.Errorf("read epoch of restored store: %w", err)
	}
	n := len(old)
	closer.Close()
	if n != len(epoch) {
		return epoch, fmt.Errorf("epoch of restored store: %w", ErrCorrupt)
	}
	if _, err := rand.Read(epoch[:]); err != nil {
		return epoch, fmt.Errorf("new epoch: %w", err)
	}
	// A backup of a cluster node's store holds the log position it was
	// copied at; restored, it is a single node's store, the log of record
	// itself, and the position means nothing any more.
	b := db.NewBatch()
	defer b.Close()
	if err := b.Set(keyEpoch, epoch[:], nil); err != nil {
		return epoch, fmt.Errorf("write new epoch: %w", err)
	}
	if err := b.Delete(keyReplica, nil); err != nil {
		return epoch, fmt.Errorf("drop the log position: %w", err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return epoch, fmt.Errorf("write new epoch: %w", err)
	}
	return epoch, nil
}
