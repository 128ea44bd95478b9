package sync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// checkStore opens a store in a temp dir with a small history: a post
// edited out of a scope (a tombstone there), a post deleted (tombstones in
// two scopes) and a rejected mutation.
func checkStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, Options{DropInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	putM := func(id uint64, entity, value string, scopes ...string) Mutation {
		return Mutation{ID: id, Name: "put", Apply: func(tx *Tx) error {
			views := map[string][]byte{}
			for _, sc := range scopes {
				views[sc] = []byte(value)
			}
			return tx.Put(entity, []byte(value), views)
		}}
	}
	muts := []Mutation{
		putM(1, "post/p1", "v1", "community/c1", "user/u1"),
		putM(2, "post/p1", "v2", "community/c1"),
		putM(3, "post/p2", "w", "community/c1", "building/b1"),
		{ID: 4, Name: "del", Apply: func(tx *Tx) error { return tx.Delete("post/p2") }},
		{ID: 5, Name: "reject", Apply: func(*Tx) error { return Reject("nope", "no") }},
	}
	if _, _, err := s.Push(context.Background(), ClientID{User: "u1", Client: "phone"}, muts); err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func (s *Store) mustSet(t *testing.T, k, v []byte) {
	t.Helper()
	if err := s.db.Set(k, v, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	s.readRawWrites()
}

// readRawWrites makes what a test wrote around the writer visible to
// readers.
func (s *Store) readRawWrites() {
	s.mu.Lock()
	old := s.view
	s.view = &viewRef{snap: s.db.NewSnapshot()}
	s.view.refs.Store(1)
	s.mu.Unlock()
	old.release()
}

func (s *Store) mustEntity(t *testing.T, id string) entityRecord {
	t.Helper()
	v, closer, err := s.db.Get(entityKey(id))
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	e, err := decodeEntity(bytes.Clone(v))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// firstKey returns the first key with prefix p.
func (s *Store) firstKey(t *testing.T, p []byte) []byte {
	t.Helper()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if !it.First() {
		t.Fatalf("no key with prefix %q", p)
	}
	return bytes.Clone(it.Key())
}

// TestCheckFindsCorruption: records corrupted behind the engine's back are
// each reported, with a readable line.
func TestCheckFindsCorruption(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u1 := ClientID{User: "u1", Client: "phone"}

	t.Run("CleanStorePasses", func(t *testing.T) {
		t.Parallel()
		s, _ := checkStore(t)
		rep, err := s.Check(ctx, CheckOptions{})
		if err != nil || !rep.OK() {
			t.Fatalf("clean store: %v\n%s", err, rep)
		}
		// p1 in c1; p2's tombstones in c1 and b1; p1's tombstone in u1; u1's client state.
		if rep.Entities != 2 || rep.DeletedEntities != 1 || rep.LogEntries != 5 || rep.LogTombstones != 3 ||
			rep.TombstoneIndexes != 3 || rep.Clients != 1 || rep.Results != 5 || rep.Scopes != 3 || rep.Epoch == "" {
			t.Errorf("counts:\n%s", rep)
		}
	})

	cases := []struct {
		name    string
		corrupt func(t *testing.T, s *Store)
		want    []string // each must appear in some problem
	}{
		{"GarbageValue", func(t *testing.T, s *Store) {
			s.mustSet(t, entityKey("post/p1"), []byte("garbage"))
		}, []string{`entity "post/p1": decode entity`}},
		{"GarbageLogEntry", func(t *testing.T, s *Store) {
			s.mustSet(t, logKey("community/c1", 2), []byte{1, 0xff})
		}, []string{`log entry community/c1:2: decode log entry`}},
		{"DanglingPlacement", func(t *testing.T, s *Store) {
			e := s.mustEntity(t, "post/p1")
			e.placements = append(e.placements, placement{scope: "building/b9", seq: 7})
			s.mustSet(t, entityKey("post/p1"), encodeEntity(e))
		}, []string{`entity "post/p1": placement points at missing log entry building/b9:7`}},
		{"PlacementFlagMismatch", func(t *testing.T, s *Store) {
			e := s.mustEntity(t, "post/p1")
			for i, p := range e.placements {
				if p.scope == "community/c1" {
					e.placements[i].tombstoneAt = 1
				}
			}
			s.mustSet(t, entityKey("post/p1"), encodeEntity(e))
		}, []string{`placement at community/c1:2 says tombstone=true, the log entry says deleted=false`}},
		{"LogEntryWithoutPlacement", func(t *testing.T, s *Store) {
			// seq 1 held p1's first version until the edit compacted it.
			s.mustSet(t, logKey("community/c1", 1), encodeLogEntry(logEntry{entityID: "post/p1", atMilli: 1, value: []byte("v1")}))
			s.mustSet(t, logKey("user/u1", 1), encodeLogEntry(logEntry{entityID: "post/ghost", atMilli: 1, value: []byte("x")}))
		}, []string{`log entry community/c1:1: stale version of "post/p1"`, `log entry user/u1:1: entity "post/ghost" has no record`}},
		{"SeqAboveHead", func(t *testing.T, s *Store) {
			s.mustSet(t, logKey("community/c1", 50), encodeLogEntry(logEntry{entityID: "post/p1", atMilli: 1, value: []byte("v9")}))
		}, []string{`log entry community/c1:50: seq above the scope's head 4`}},
		{"ScopeWithoutHead", func(t *testing.T, s *Store) {
			s.mustSet(t, logKey("community/zz", 1), encodeLogEntry(logEntry{entityID: "post/p1", atMilli: 1, value: []byte("v")}))
		}, []string{`log entry community/zz:1: scope has no head`}},
		{"TombstoneWithoutIndex", func(t *testing.T, s *Store) {
			k := s.firstKey(t, []byte{prefixTombstone})
			if err := s.db.Delete(k, pebble.Sync); err != nil {
				t.Fatal(err)
			}
			s.readRawWrites()
		}, []string{`has no index key`}},
		{"IndexWithoutTombstone", func(t *testing.T, s *Store) {
			s.mustSet(t, tombstoneKey(123, "community/c1", 999), nil)
			s.mustSet(t, tombstoneKey(123, "community/c1", 2), nil) // p1's live version
		}, []string{`T 123 community/c1:999: points at missing log entry community/c1:999`, `T 123 community/c1:2: points at community/c1:2, a live version of "post/p1"`}},
		{"UnknownPrefix", func(t *testing.T, s *Store) {
			s.mustSet(t, []byte("Zfoo"), []byte("x"))
			s.mustSet(t, []byte("Mnope"), []byte("x"))
		}, []string{`unknown prefix 'Z'`, `M "nope": unknown meta key`}},
		{"LowWaterAboveHead", func(t *testing.T, s *Store) {
			s.mustSet(t, headKey("community/c1"), encodeHead(scopeHead{head: 4, lwm: 9}))
		}, []string{`head of community/c1: low-water mark 9 above head 4`}},
		{"ClientStateDangling", func(t *testing.T, s *Store) {
			v, closer, err := s.db.Get(clientKey(u1))
			if err != nil {
				t.Fatal(err)
			}
			c, err := decodeClient(bytes.Clone(v))
			closer.Close()
			if err != nil {
				t.Fatal(err)
			}
			c.stateSeq = 99
			s.mustSet(t, clientKey(u1), encodeClient(c))
		}, []string{`client u1/phone: stateSeq points at missing log entry user/u1:99`, `client state "client/u1/phone" not pointed at by its client record`}},
		{"ResultOutsideWindow", func(t *testing.T, s *Store) {
			s.mustSet(t, resultKey(u1, 50), encodeOutcomes([]Result{{ID: 50, Status: StatusApplied}}))
			s.mustSet(t, resultKey(ClientID{User: "u2", Client: "tab"}, 1), encodeOutcomes([]Result{{ID: 1, Status: StatusApplied}}))
			if err := s.db.Delete(resultKey(u1, 1), pebble.Sync); err != nil {
				t.Fatal(err)
			}
			s.readRawWrites()
		}, []string{`client u1/phone: outcomes 50..50 kept but last mutation id is 5`, `R u2/tab:1: outcome of a client with no record`,
			`client u1/phone: outcomes of ids 1..5 missing`}},
		{"NoEpoch", func(t *testing.T, s *Store) {
			if err := s.db.Delete(keyEpoch, pebble.Sync); err != nil {
				t.Fatal(err)
			}
			s.readRawWrites()
		}, []string{`store has no epoch`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, dir := checkStore(t)
			tc.corrupt(t, s)
			rep, err := s.Check(ctx, CheckOptions{})
			if err != nil {
				t.Fatal(err)
			}
			assertProblems(t, "open store", rep, tc.want)
			// The same from the folder, the store stopped.
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			rep, err = Check(ctx, dir, CheckOptions{})
			if err != nil {
				t.Fatal(err)
			}
			assertProblems(t, "folder", rep, tc.want)
		})
	}
}

func assertProblems(t *testing.T, what string, rep Report, want []string) {
	t.Helper()
	if rep.OK() {
		t.Fatalf("%s: no problem found, want %q", what, want)
	}
	for _, w := range want {
		found := false
		for _, p := range rep.Problems {
			found = found || strings.Contains(p, w)
		}
		if !found {
			t.Errorf("%s: no problem mentions %q; report:\n%s", what, w, rep)
		}
	}
}

func TestCheckReports(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("ProgressAndMaxProblems", func(t *testing.T) {
		t.Parallel()
		s, _ := checkStore(t)
		for i := range 3000 {
			s.mustSet(t, []byte(fmt.Sprintf("Zjunk%05d", i)), nil)
		}
		var progress bytes.Buffer
		rep, err := s.Check(ctx, CheckOptions{Progress: &progress, ProgressEvery: 1, MaxProblems: 10})
		if err != nil {
			t.Fatal(err)
		}
		if rep.ProblemCount != 3000 || len(rep.Problems) != 10 {
			t.Errorf("problems: %d counted, %d kept; want 3000 and 10", rep.ProblemCount, len(rep.Problems))
		}
		if !strings.Contains(rep.String(), "3000 problems (first 10 shown)") {
			t.Errorf("report:\n%s", rep)
		}
		if n := strings.Count(progress.String(), "check: "); n < 2 {
			t.Errorf("progress lines: %d, want one per 1024 keys:\n%s", n, progress.String())
		}
	})

	t.Run("Cancelled", func(t *testing.T) {
		t.Parallel()
		s, _ := checkStore(t)
		for i := range 2000 {
			s.mustSet(t, []byte(fmt.Sprintf("Zjunk%05d", i)), nil)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.Check(cctx, CheckOptions{}); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})

	t.Run("NoStore", func(t *testing.T) {
		t.Parallel()
		if _, err := Check(ctx, t.TempDir()+"/nothing", CheckOptions{}); err == nil {
			t.Error("check of a missing folder succeeded")
		}
		if _, err := Check(ctx, t.TempDir(), CheckOptions{}); err == nil {
			t.Error("check of an empty folder succeeded")
		}
	})
}
