package sync_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	gosync "sync"
	"testing"
	"time"

	linlisync "github.com/linli/linli/sync"
)

// memLog is a replicated log in memory, fenced like the cluster's: only
// the copy it names as writer may append.
type memLog struct {
	mu      gosync.Mutex
	entries []linlisync.Replicated
	writer  *memReplica
	fail    error // if set, the next Commit fails with it
}

// memReplica is one store's view of a memLog. It believes it is the
// writer while the log names it, or while stale is set (a deposed writer
// that has not learnt it yet): the log's fence must then refuse it.
type memReplica struct {
	log   *memLog
	stale bool
}

func (r *memReplica) Writable() error {
	r.log.mu.Lock()
	defer r.log.mu.Unlock()
	if r.log.writer != r && !r.stale {
		return fmt.Errorf("test log: %w", linlisync.ErrNotWriter)
	}
	return nil
}

func (r *memReplica) Commit(repr []byte) (uint64, error) {
	r.log.mu.Lock()
	defer r.log.mu.Unlock()
	if err := r.log.fail; err != nil {
		r.log.fail = nil
		return 0, err
	}
	if r.log.writer != r {
		return 0, fmt.Errorf("test log: fenced: %w", linlisync.ErrNotWriter)
	}
	pos := uint64(len(r.log.entries) + 1)
	r.log.entries = append(r.log.entries, linlisync.Replicated{Pos: pos, Repr: bytes.Clone(repr)})
	return pos, nil
}

// from returns the entries after pos, copied.
func (l *memLog) from(pos uint64) []linlisync.Replicated {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []linlisync.Replicated
	for _, e := range l.entries[pos:] {
		out = append(out, linlisync.Replicated{Pos: e.Pos, Repr: bytes.Clone(e.Repr)})
	}
	return out
}

// mark appends an entry that writes nothing (a new writer's fence).
func (l *memLog) mark() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, linlisync.Replicated{Pos: uint64(len(l.entries) + 1)})
}

var testEpoch = [16]byte{'l', 'i', 'n', 'l', 'i'}

func openReplica(tb testing.TB, dir string, log *memLog) (*linlisync.Store, *memReplica) {
	tb.Helper()
	r := &memReplica{log: log}
	return mustOpen(tb, dir, linlisync.Options{Replica: r, Epoch: &testEpoch, AheadWait: 50 * time.Millisecond}), r
}

// catchUp applies to s every log entry after its position.
func catchUp(tb testing.TB, s *linlisync.Store, log *memLog) {
	tb.Helper()
	if err := s.ApplyReplicated(context.Background(), log.from(s.ReplicaPosition())); err != nil {
		tb.Fatalf("apply replicated: %v", err)
	}
}

func mustDump(tb testing.TB, s *linlisync.Store) string {
	tb.Helper()
	d, err := linlisync.Dump(s)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func TestReplica(t *testing.T) {
	t.Parallel()
	alice := linlisync.ClientID{User: "alice", Client: "phone"}
	bob := linlisync.ClientID{User: "bob", Client: "phone"}
	ctx := context.Background()

	t.Run("FollowerBecomesTheWritersCopy", func(t *testing.T) {
		t.Parallel()
		log := &memLog{}
		w, wr := openReplica(t, t.TempDir(), log)
		f, _ := openReplica(t, t.TempDir(), log)
		log.writer = wr
		mustPush(t, w, alice, put(1, "post/1", "v1", "community/c1", "user/alice"), put(2, "post/2", "v2", "community/c1"))
		mustPush(t, w, bob, put(1, "post/1", "v1b", "community/c1", "user/bob"), del(2, "post/2"))
		mustPush(t, w, alice, del(3, "post/1"), reject(4))
		catchUp(t, f, log)
		if got, want := f.ReplicaPosition(), w.ReplicaPosition(); got != want || got == 0 {
			t.Fatalf("follower position %d, writer %d", got, want)
		}
		if got, want := mustDump(t, f), mustDump(t, w); got != want {
			t.Fatalf("follower's store differs from the writer's:\n--- follower\n%s--- writer\n%s", got, want)
		}
		// The same cursor means the same on both.
		scopes := []string{"community/c1", "user/alice"}
		pw, err := w.Pull(ctx, scopes, linlisync.Cursor{}, linlisync.Limits{MaxChanges: 100, MaxBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		pf, err := f.Pull(ctx, scopes, linlisync.Cursor{}, linlisync.Limits{MaxChanges: 100, MaxBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if pw.Cursor.Encode() != pf.Cursor.Encode() || fmt.Sprint(pw.Changes) != fmt.Sprint(pf.Changes) {
			t.Fatalf("pulls differ:\nwriter   %v %v\nfollower %v %v", pw.Cursor, pw.Changes, pf.Cursor, pf.Changes)
		}
		// Subscribers on the follower learn the new heads.
		sub, err := f.Subscribe([]string{"community/c1"})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		<-sub.Ready()
		before, _ := sub.Take()
		mustPush(t, w, bob, put(3, "post/3", "v3", "community/c1"))
		catchUp(t, f, log)
		<-sub.Ready()
		after, _ := sub.Take()
		if after["community/c1"] <= before["community/c1"] {
			t.Fatalf("subscriber saw head %d after %d", after["community/c1"], before["community/c1"])
		}
		// Applying what it holds again changes nothing.
		if err := f.ApplyReplicated(ctx, log.from(0)); err != nil {
			t.Fatal(err)
		}
		if got, want := mustDump(t, f), mustDump(t, w); got != want {
			t.Fatalf("re-applied log changed the follower")
		}
	})

	t.Run("FollowerRefusesWrites", func(t *testing.T) {
		t.Parallel()
		log := &memLog{}
		f, _ := openReplica(t, t.TempDir(), log)
		_, _, err := f.Push(ctx, alice, []linlisync.Mutation{put(1, "post/1", "v", "community/c1")})
		if !errors.Is(err, linlisync.ErrNotWriter) {
			t.Fatalf("push on a follower: %v, want ErrNotWriter", err)
		}
		if err := f.Update(ctx, func(tx *linlisync.Tx) error { return tx.Put("x", []byte("x"), nil) }); !errors.Is(err, linlisync.ErrNotWriter) {
			t.Fatalf("update on a follower: %v, want ErrNotWriter", err)
		}
		if err := f.Backup(ctx, t.TempDir()+"/backup"); err != nil {
			t.Fatalf("backup on a follower: %v", err)
		}
	})

	t.Run("RefusedCommitLeavesNoTrace", func(t *testing.T) {
		t.Parallel()
		log := &memLog{}
		w, wr := openReplica(t, t.TempDir(), log)
		log.writer = wr
		mustPush(t, w, alice, put(1, "post/1", "v1", "community/c1"))
		before := mustDump(t, w)
		log.fail = errors.New("log unreachable")
		if _, _, err := w.Push(ctx, alice, []linlisync.Mutation{put(2, "post/2", "v2", "community/c1")}); err == nil {
			t.Fatal("push whose commit failed: no error")
		}
		if got := mustDump(t, w); got != before {
			t.Fatalf("a group the log refused reached the store:\n%s", got)
		}
		// The client retries: applied once.
		res := mustPush(t, w, alice, put(2, "post/2", "v2", "community/c1"))
		if res[0].Status != linlisync.StatusApplied {
			t.Fatalf("retry: %+v", res)
		}
		if last, _ := w.LastMutationID(alice); last != 2 {
			t.Fatalf("last mutation id %d, want 2", last)
		}
	})

	t.Run("DeposedWriterIsFenced", func(t *testing.T) {
		t.Parallel()
		log := &memLog{}
		a, ar := openReplica(t, t.TempDir(), log)
		b, br := openReplica(t, t.TempDir(), log)
		log.writer = ar
		mustPush(t, a, alice, put(1, "post/1", "from-a", "community/c1"))
		// b takes over: it fences the log, then catches up.
		log.writer = br
		log.mark()
		catchUp(t, b, log)
		mustPush(t, b, bob, put(1, "post/2", "from-b", "community/c1"))
		// a, not knowing, applies a push: the log refuses it and a keeps
		// nothing of it.
		ar.stale = true
		if _, _, err := a.Push(ctx, alice, []linlisync.Mutation{put(2, "post/3", "stale", "community/c1")}); !errors.Is(err, linlisync.ErrNotWriter) {
			t.Fatalf("deposed writer's push: %v, want ErrNotWriter", err)
		}
		catchUp(t, a, log)
		if got, want := mustDump(t, a), mustDump(t, b); got != want {
			t.Fatalf("deposed writer diverged:\n--- a\n%s--- b\n%s", got, want)
		}
		if _, ok, _ := a.Get("post/3"); ok {
			t.Fatal("the fenced push's post is in the store")
		}
	})

	t.Run("PositionSurvivesReopen", func(t *testing.T) {
		t.Parallel()
		log := &memLog{}
		w, wr := openReplica(t, t.TempDir(), log)
		log.writer = wr
		dir := t.TempDir()
		f, _ := openReplica(t, dir, log)
		mustPush(t, w, alice, put(1, "post/1", "v1", "community/c1"))
		catchUp(t, f, log)
		pos := f.ReplicaPosition()
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		mustPush(t, w, alice, put(2, "post/2", "v2", "community/c1"))
		f, _ = openReplica(t, dir, log)
		if got := f.ReplicaPosition(); got != pos {
			t.Fatalf("position after reopen %d, want %d", got, pos)
		}
		catchUp(t, f, log)
		if got, want := mustDump(t, f), mustDump(t, w); got != want {
			t.Fatalf("reopened follower differs:\n--- follower\n%s--- writer\n%s", got, want)
		}
	})

	t.Run("CursorAheadOfALaggingCopyIsKept", func(t *testing.T) {
		t.Parallel()
		log := &memLog{}
		w, wr := openReplica(t, t.TempDir(), log)
		f, _ := openReplica(t, t.TempDir(), log)
		log.writer = wr
		mustPush(t, w, alice, put(1, "post/1", "v1", "community/c1"))
		catchUp(t, f, log)
		mustPush(t, w, alice, put(2, "post/2", "v2", "community/c1"))
		scopes := []string{"community/c1"}
		lim := linlisync.Limits{MaxChanges: 100, MaxBytes: 1 << 20}
		pw, err := w.Pull(ctx, scopes, linlisync.Cursor{}, lim)
		if err != nil {
			t.Fatal(err)
		}
		// The follower lags: the writer's cursor is ahead of it.
		pf, err := f.Pull(ctx, scopes, pw.Cursor, lim)
		if err != nil {
			t.Fatal(err)
		}
		if len(pf.Resets) != 0 || len(pf.Changes) != 0 || pf.Cursor.Encode() != pw.Cursor.Encode() {
			t.Fatalf("lagging copy: resets %v, changes %v, cursor %v; want none, none, %v", pf.Resets, pf.Changes, pf.Cursor, pw.Cursor)
		}
		// Once it catches up, the next change comes once, none missed.
		mustPush(t, w, alice, put(3, "post/3", "v3", "community/c1"))
		go func() {
			time.Sleep(10 * time.Millisecond)
			_ = f.ApplyReplicated(ctx, log.from(f.ReplicaPosition()))
		}()
		pf, err = f.Pull(ctx, scopes, pf.Cursor, lim)
		if err != nil {
			t.Fatal(err)
		}
		if len(pf.Changes) != 1 || pf.Changes[0].EntityID != "post/3" {
			t.Fatalf("after catching up: %v, want post/3 once", pf.Changes)
		}
	})

	t.Run("ReplicatedGroupsDropLocalState", func(t *testing.T) {
		t.Parallel()
		log := &memLog{}
		w, wr := openReplica(t, t.TempDir(), log)
		f, fr := openReplica(t, t.TempDir(), log)
		log.writer = fr
		built := 0
		local := func(tx *linlisync.Tx) *int {
			return tx.Local("k", func() any { built++; return new(int) }).(*int)
		}
		count := func(id uint64) linlisync.Mutation {
			return linlisync.Mutation{ID: id, Apply: func(tx *linlisync.Tx) error { *local(tx)++; return nil }}
		}
		mustPush(t, f, alice, count(1))
		mustPush(t, f, alice, count(2))
		// w takes over, writes, f follows: f's working state is stale.
		log.writer = wr
		log.mark()
		catchUp(t, w, log)
		mustPush(t, w, bob, count(1))
		catchUp(t, f, log)
		log.writer = fr
		log.mark()
		catchUp(t, f, log)
		mustPush(t, f, alice, count(3))
		if built != 3 {
			t.Fatalf("local state built %d times, want 3 (f, w, f again after following w)", built)
		}
	})

	t.Run("EpochMismatch", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		s, err := linlisync.Open(dir, linlisync.Options{DropInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		_, err = linlisync.Open(dir, linlisync.Options{DropInterval: -1, Epoch: &testEpoch})
		if !errors.Is(err, linlisync.ErrEpochMismatch) {
			t.Fatalf("open with another epoch: %v, want ErrEpochMismatch", err)
		}
	})

	t.Run("RestoredBackupIsASingleNode", func(t *testing.T) {
		t.Parallel()
		log := &memLog{}
		w, wr := openReplica(t, t.TempDir(), log)
		log.writer = wr
		mustPush(t, w, alice, put(1, "post/1", "v1", "community/c1"))
		if w.ReplicaPosition() == 0 {
			t.Fatal("the writer holds no log position")
		}
		b := filepath.Join(t.TempDir(), "backup")
		if err := w.Backup(ctx, b); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "store")
		if err := linlisync.Restore(b, dir); err != nil {
			t.Fatal(err)
		}
		// A cluster node does not take it (another epoch)…
		if s, err := linlisync.Open(dir, linlisync.Options{Replica: &memReplica{log: log}, Epoch: &testEpoch, DropInterval: -1}); !errors.Is(err, linlisync.ErrEpochMismatch) {
			if err == nil {
				s.Close()
			}
			t.Fatalf("open the restored store as a cluster node: %v, want ErrEpochMismatch", err)
		}
		// …a single node does, as a store of its own, and writes.
		s := mustOpen(t, dir, linlisync.Options{})
		if got := s.ReplicaPosition(); got != 0 {
			t.Errorf("restored store's log position %d, want 0", got)
		}
		mustPush(t, s, alice, put(2, "post/1", "v2", "community/c1"))
	})
}
