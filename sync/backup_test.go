package sync_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	linlisync "github.com/linli/linli/sync"
)

// loadOp is one mutation of the write load, as the model sees it.
type loadOp struct {
	entity  string // "" for a rejected mutation
	deleted bool
	value   string
	scopes  []string
}

// loadWorker pushes edits of its own entities as one client; only it
// writes them, so its entities' state after mutation n is a function of
// its first n ops.
type loadWorker struct {
	n      int
	client linlisync.ClientID
	rng    *rand.Rand
	ops    []loadOp // ops[i] is mutation id i+1; read after the load stops
	alive  map[string]bool
	acked  atomic.Uint64 // last mutation id acknowledged
	scopes []string
}

func newLoadWorker(n int) *loadWorker {
	return &loadWorker{
		n: n, client: client(n), rng: rand.New(rand.NewPCG(uint64(n), 42)), alive: map[string]bool{},
		scopes: []string{"community/c1", fmt.Sprintf("building/b%d", n%3), fmt.Sprintf("user/u%d", n)},
	}
}

// next makes mutation id: a new entity, an edit (value and scopes change:
// a dropped scope gets a tombstone), a delete, or a rejected mutation.
func (w *loadWorker) next(id uint64) linlisync.Mutation {
	entity := fmt.Sprintf("post/w%d-%d", w.n, w.rng.IntN(12))
	r := w.rng.IntN(100)
	switch {
	case r < 8:
		w.ops = append(w.ops, loadOp{})
		return reject(id)
	case w.alive[entity] && r < 35:
		w.alive[entity] = false
		w.ops = append(w.ops, loadOp{entity: entity, deleted: true})
		return del(id, entity)
	}
	scopes := slices.Clone(w.scopes)
	w.rng.Shuffle(len(scopes), func(i, j int) { scopes[i], scopes[j] = scopes[j], scopes[i] })
	scopes = scopes[:2+w.rng.IntN(2)]
	value := fmt.Sprintf("%s@%d", entity, id)
	w.alive[entity] = true
	w.ops = append(w.ops, loadOp{entity: entity, value: value, scopes: scopes})
	return put(id, entity, value, scopes...)
}

func (w *loadWorker) run(ctx context.Context, s *linlisync.Store, stop <-chan struct{}) error {
	id := uint64(1)
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		var muts []linlisync.Mutation
		for range 1 + w.rng.IntN(3) {
			muts = append(muts, w.next(id))
			id++
		}
		if _, _, err := s.Push(ctx, w.client, muts); err != nil {
			return fmt.Errorf("worker %d: push: %w", w.n, err)
		}
		w.acked.Store(id - 1)
	}
}

// viewAt is what the worker's entities look like in each scope after its
// first last mutations: scope|entity → value.
func (w *loadWorker) viewAt(last uint64) map[string]string {
	type state struct {
		value  string
		scopes []string
	}
	alive := map[string]state{}
	for _, op := range w.ops[:last] {
		switch {
		case op.entity == "":
		case op.deleted:
			delete(alive, op.entity)
		default:
			alive[op.entity] = state{op.value, op.scopes}
		}
	}
	out := map[string]string{}
	for e, st := range alive {
		for _, sc := range st.scopes {
			out[sc+"|"+e] = st.value
		}
	}
	return out
}

// lastApplied asks the store for the client's last mutation id without
// applying anything: a push far ahead is refused with a gap.
func lastApplied(t *testing.T, s *linlisync.Store, c linlisync.ClientID) uint64 {
	t.Helper()
	probe := linlisync.Mutation{ID: 1 << 40, Name: "probe", Apply: func(*linlisync.Tx) error {
		t.Error("probe applied")
		return nil
	}}
	_, _, err := s.Push(context.Background(), c, []linlisync.Mutation{probe})
	var gap *linlisync.GapError
	if !errors.As(err, &gap) {
		t.Fatalf("probe %s: err = %v, want a gap", c.User, err)
	}
	return gap.LastMutationID
}

func mustCheckOK(t *testing.T, what string, rep linlisync.Report, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("check %s: %v", what, err)
	}
	if !rep.OK() {
		t.Fatalf("check %s found problems:\n%s", what, rep)
	}
	if rep.LogEntries == 0 || rep.Entities == 0 || rep.Clients == 0 {
		t.Fatalf("check %s saw an empty store:\n%s", what, rep)
	}
}

// TestBackupUnderWriteLoad: backups taken while 8 clients push edits and
// deletes in three scopes each restore to stores that pass the integrity
// check, hold every mutation acknowledged before the backup began (and
// exactly the effects of each client's applied prefix), and have a new
// epoch, so that cursors of the original store reset in every scope.
func TestBackupUnderWriteLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustOpen(t, t.TempDir(), linlisync.Options{Logger: slog.New(slog.DiscardHandler)})
	workers := make([]*loadWorker, 8)
	for i := range workers {
		workers[i] = newLoadWorker(i)
	}
	stop := make(chan struct{})
	var wg gosync.WaitGroup
	errs := make(chan error, len(workers))
	for _, w := range workers {
		wg.Go(func() {
			if err := w.run(ctx, s, stop); err != nil {
				errs <- err
			}
		})
	}
	total := func() (n uint64) {
		for _, w := range workers {
			n += w.acked.Load()
		}
		return n
	}
	waitFor := func(n uint64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for total() < n {
			if time.Now().After(deadline) {
				close(stop)
				t.Fatalf("load stalled at %d acknowledged mutations", total())
			}
			time.Sleep(time.Millisecond)
		}
	}

	backupRoot := t.TempDir()
	type backup struct {
		dir    string
		before []uint64 // per worker: acknowledged before Backup was called
	}
	var backups []backup
	for i := range 3 {
		waitFor(uint64(150 * (i + 1)))
		if i == 1 {
			// Drop every tombstone so far: low-water marks rise, deleted
			// entities are forgotten, and the backups must still check.
			if _, err := s.DropTombstones(ctx, time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		b := backup{dir: filepath.Join(backupRoot, fmt.Sprint("b", i))}
		for _, w := range workers {
			b.before = append(b.before, w.acked.Load())
		}
		if err := s.Backup(ctx, b.dir); err != nil {
			close(stop)
			t.Fatalf("backup %d: %v", i, err)
		}
		backups = append(backups, b)
	}
	waitFor(total() + 50) // the load goes on after the last backup
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	var allScopes []string
	for _, w := range workers {
		allScopes = append(allScopes, w.scopes...)
	}
	slices.Sort(allScopes)
	allScopes = slices.Compact(allScopes)
	_, origCursor := pullAll(t, s, allScopes, linlisync.Cursor{}, bigLimits)
	rep, err := s.Check(ctx, linlisync.CheckOptions{})
	mustCheckOK(t, "original store", rep, err)
	t.Logf("original store after %d mutations:\n%s", total(), rep)

	restoreRoot := t.TempDir()
	epochs := map[[16]byte]bool{s.Epoch(): true}
	for i, b := range backups {
		m, err := linlisync.ReadBackupManifest(b.dir)
		if err != nil {
			t.Fatal(err)
		}
		if want := s.Epoch(); m.Epoch != hex.EncodeToString(want[:]) || m.StoreFormat != linlisync.StoreFormat {
			t.Errorf("backup %d manifest = %+v, want epoch %x and format %d", i, m, want, linlisync.StoreFormat)
		}
		dir := filepath.Join(restoreRoot, fmt.Sprint("store", i))
		if err := linlisync.Restore(b.dir, dir); err != nil {
			t.Fatalf("restore %d: %v", i, err)
		}
		rep, err := linlisync.Check(ctx, dir, linlisync.CheckOptions{})
		mustCheckOK(t, fmt.Sprint("restored backup ", i), rep, err)

		r := mustOpen(t, dir, linlisync.Options{})
		if epochs[r.Epoch()] {
			t.Errorf("restored store %d kept an epoch already in use: %x", i, r.Epoch())
		}
		epochs[r.Epoch()] = true

		want := map[string]string{}
		var before, after uint64
		for wi, w := range workers {
			last := lastApplied(t, r, w.client)
			before, after = before+b.before[wi], after+last
			if last < b.before[wi] {
				t.Errorf("backup %d: client %s at mutation %d, but %d was acknowledged before the backup", i, w.client.User, last, b.before[wi])
			}
			if last > uint64(len(w.ops)) {
				t.Fatalf("backup %d: client %s at mutation %d, beyond the %d pushed", i, w.client.User, last, len(w.ops))
			}
			maps.Copy(want, w.viewAt(last))
		}
		t.Logf("backup %d: %d mutations acknowledged before it began, %d in it, %d entries in view", i, before, after, len(want))
		changes, _ := pullAll(t, r, allScopes, linlisync.Cursor{}, bigLimits)
		got := view(changes)
		maps.DeleteFunc(got, func(k, _ string) bool { return strings.Contains(k, "|client/") })
		if !maps.Equal(got, want) {
			t.Errorf("backup %d: restored view differs from the clients' applied prefixes:\n got %d entries\nwant %d entries", i, len(got), len(want))
			for k, v := range want {
				if got[k] != v {
					t.Errorf("  %s: got %q, want %q", k, got[k], v)
				}
			}
		}

		page, err := r.Pull(ctx, allScopes, origCursor, bigLimits)
		if err != nil {
			t.Fatal(err)
		}
		resets := map[string]linlisync.ResetReason{}
		for _, rs := range page.Resets {
			resets[rs.Scope] = rs.Reason
		}
		for _, sc := range allScopes {
			if resets[sc] != linlisync.ResetEpochChanged {
				t.Errorf("backup %d: pull with the original cursor: scope %s reset = %v, want epoch changed", i, sc, resets[sc])
			}
		}
	}
}

func TestBackup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("RefusesExistingDir", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, t.TempDir(), linlisync.Options{})
		mustPush(t, s, client(1), put(1, "post/p1", "v", "community/c1"))
		dir := t.TempDir() // exists, empty
		if err := s.Backup(ctx, dir); !errors.Is(err, linlisync.ErrBackupExists) {
			t.Errorf("backup into an existing dir: err = %v, want ErrBackupExists", err)
		}
		// The store still serves after a refused backup.
		mustPush(t, s, client(1), put(2, "post/p1", "v2", "community/c1"))
	})

	t.Run("ClosedStore", func(t *testing.T) {
		t.Parallel()
		s, err := linlisync.Open(t.TempDir(), linlisync.Options{DropInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if err := s.Backup(ctx, filepath.Join(t.TempDir(), "b")); !errors.Is(err, linlisync.ErrClosed) {
			t.Errorf("backup of a closed store: err = %v, want ErrClosed", err)
		}
	})
}

func TestRestore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// backupOf makes a small store, backs it up and closes it; it returns
	// the backup and store dirs and the store's epoch.
	backupOf := func(t *testing.T) (string, string, [16]byte) {
		t.Helper()
		storeDir := filepath.Join(t.TempDir(), "store")
		s, err := linlisync.Open(storeDir, linlisync.Options{DropInterval: -1, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		mustPush(t, s, client(1), put(1, "post/p1", "v", "community/c1", "user/u1"), del(2, "post/p1"), put(3, "post/p2", "w", "community/c1"))
		b := filepath.Join(t.TempDir(), "backup")
		if err := s.Backup(ctx, b); err != nil {
			t.Fatal(err)
		}
		epoch := s.Epoch()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return b, storeDir, epoch
	}

	t.Run("RefusesNonEmptyStore", func(t *testing.T) {
		t.Parallel()
		b, storeDir, epoch := backupOf(t)
		if err := linlisync.Restore(b, storeDir); !errors.Is(err, linlisync.ErrStoreNotEmpty) {
			t.Fatalf("restore over a store: err = %v, want ErrStoreNotEmpty", err)
		}
		s := mustOpen(t, storeDir, linlisync.Options{})
		if s.Epoch() != epoch {
			t.Error("refused restore changed the store")
		}
	})

	t.Run("MoveAsideThenRestore", func(t *testing.T) {
		t.Parallel()
		b, storeDir, epoch := backupOf(t)
		at := time.Date(2022, 12, 16, 1, 2, 3, 0, time.UTC)
		moved, err := linlisync.MoveAside(storeDir, at)
		if err != nil {
			t.Fatal(err)
		}
		if want := storeDir + ".before-restore-20221216T010203Z"; moved != want {
			t.Errorf("moved to %s, want %s", moved, want)
		}
		if err := linlisync.Restore(b, storeDir); err != nil {
			t.Fatal(err)
		}
		if err := linlisync.Restore(b, storeDir+"2"); err != nil {
			t.Fatalf("restoring the same backup twice: %v", err)
		}
		old := mustOpen(t, moved, linlisync.Options{})
		s := mustOpen(t, storeDir, linlisync.Options{})
		s2 := mustOpen(t, storeDir+"2", linlisync.Options{})
		if old.Epoch() != epoch || s.Epoch() == epoch || s2.Epoch() == epoch || s.Epoch() == s2.Epoch() {
			t.Errorf("epochs: moved %x (was %x), restored %x and %x: want the old kept and two new ones", old.Epoch(), epoch, s.Epoch(), s2.Epoch())
		}
		changes, _ := pullAll(t, s, []string{"community/c1", "user/u1"}, linlisync.Cursor{}, bigLimits)
		if got := view(changes); got["community/c1|post/p2"] != "w" || got["community/c1|post/p1"] != "" {
			t.Errorf("restored view = %v", got)
		}
		if _, err := os.Stat(filepath.Join(storeDir, linlisync.BackupManifestName)); !os.IsNotExist(err) {
			t.Errorf("backup manifest copied into the store: %v", err)
		}
	})

	t.Run("RefusesStoreInUse", func(t *testing.T) {
		t.Parallel()
		b, storeDir, _ := backupOf(t)
		mustOpen(t, storeDir, linlisync.Options{})
		if err := linlisync.Restore(b, storeDir); !errors.Is(err, linlisync.ErrStoreInUse) {
			t.Errorf("restore over an open store: err = %v, want ErrStoreInUse", err)
		}
		if _, err := linlisync.MoveAside(storeDir, time.Now()); !errors.Is(err, linlisync.ErrStoreInUse) {
			t.Errorf("move aside an open store: err = %v, want ErrStoreInUse", err)
		}
		if _, err := linlisync.Check(ctx, storeDir, linlisync.CheckOptions{}); !errors.Is(err, linlisync.ErrStoreInUse) {
			t.Errorf("check an open store by folder: err = %v, want ErrStoreInUse", err)
		}
	})

	t.Run("RefusesNonBackup", func(t *testing.T) {
		t.Parallel()
		_, storeDir, _ := backupOf(t)
		target := filepath.Join(t.TempDir(), "store")
		if err := linlisync.Restore(storeDir, target); !errors.Is(err, linlisync.ErrNotBackup) {
			t.Errorf("restore from a store folder: err = %v, want ErrNotBackup", err)
		}
		if _, err := os.Stat(target); !os.IsNotExist(err) {
			t.Errorf("refused restore left %s behind: %v", target, err)
		}
	})

	t.Run("EmptyTargetDir", func(t *testing.T) {
		t.Parallel()
		b, _, _ := backupOf(t)
		target := t.TempDir() // exists, empty: fine
		if err := linlisync.Restore(b, target); err != nil {
			t.Fatal(err)
		}
		rep, err := linlisync.Check(ctx, target, linlisync.CheckOptions{})
		if err != nil || !rep.OK() {
			t.Fatalf("check restored: %v\n%s", err, rep)
		}
		entries, _ := os.ReadDir(filepath.Dir(target))
		for _, e := range entries {
			if strings.Contains(e.Name(), ".restoring-") {
				t.Errorf("staging dir %s left behind", e.Name())
			}
		}
	})
}
