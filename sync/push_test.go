package sync_test

import (
	"context"
	"errors"
	"testing"

	linlisync "github.com/linli/linli/sync"
)

func TestPush(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("AppliesInOrderAndPublishes", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, t.TempDir(), linlisync.Options{})
		res := mustPush(t, s, client(1),
			put(1, "post/p1", "v1", "community/c1"),
			put(2, "post/p1", "v2", "community/c1"))
		for i, r := range res {
			if r.Status != linlisync.StatusApplied || r.ID != uint64(i+1) {
				t.Fatalf("result %d = %+v, want applied id %d", i, r, i+1)
			}
		}
		changes, _ := pullAll(t, s, []string{"community/c1"}, linlisync.Cursor{}, bigLimits)
		if got := view(changes)["community/c1|post/p1"]; got != "v2" {
			t.Fatalf("post/p1 = %q, want v2", got)
		}
	})

	t.Run("RetriedBatchAppliesExactlyOnce", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, t.TempDir(), linlisync.Options{})
		applied := 0
		counting := func(id uint64) linlisync.Mutation {
			m := put(id, "post/p1", "v", "community/c1")
			inner := m.Apply
			m.Apply = func(tx *linlisync.Tx) error { applied++; return inner(tx) }
			return m
		}
		batch := []linlisync.Mutation{counting(1), counting(2), reject(3)}
		var first []linlisync.Result
		for try := range 3 { // the first two responses are "lost"
			res := mustPush(t, s, client(1), batch...)
			if try == 0 {
				first = res
				continue
			}
			for i := range res {
				if res[i] != first[i] {
					t.Fatalf("try %d result %d = %+v, want stored %+v", try, i, res[i], first[i])
				}
			}
		}
		if applied != 2 {
			t.Fatalf("applied %d times, want 2 (once per mutation)", applied)
		}
		if first[2].Status != linlisync.StatusRejected || first[2].Reason != "post_not_found" {
			t.Fatalf("rejected result = %+v", first[2])
		}
	})

	t.Run("GapRefusedWithLastID", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, t.TempDir(), linlisync.Options{})
		mustPush(t, s, client(1), put(1, "post/p1", "v", "community/c1"))
		_, _, err := s.Push(ctx, client(1), []linlisync.Mutation{put(3, "post/p3", "v", "community/c1")})
		var gap *linlisync.GapError
		if !errors.As(err, &gap) || gap.LastMutationID != 1 || gap.Got != 3 {
			t.Fatalf("err = %v, want GapError{last 1, got 3}", err)
		}
		changes, _ := pullAll(t, s, []string{"community/c1"}, linlisync.Cursor{}, bigLimits)
		if _, ok := view(changes)["community/c1|post/p3"]; ok {
			t.Fatal("gapped mutation was applied")
		}
	})

	t.Run("RejectionConsumesIDAndLeavesNoTrace", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, t.TempDir(), linlisync.Options{})
		res := mustPush(t, s, client(1), reject(1), put(2, "post/p2", "v", "community/c1"))
		if res[0].Status != linlisync.StatusRejected || res[1].Status != linlisync.StatusApplied {
			t.Fatalf("results = %+v, want rejected then applied", res)
		}
		changes, _ := pullAll(t, s, []string{"community/c1"}, linlisync.Cursor{}, bigLimits)
		v := view(changes)
		if _, ok := v["community/c1|post/should-not-exist"]; ok {
			t.Fatal("rejected mutation's write is visible")
		}
		if _, ok := v["community/c1|post/p2"]; !ok {
			t.Fatal("mutation after a rejection was not applied")
		}
	})

	t.Run("InternalFailureConsumesNothing", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, t.TempDir(), linlisync.Options{})
		boom := linlisync.Mutation{ID: 2, Name: "boom", Apply: func(*linlisync.Tx) error { return errors.New("disk on fire") }}
		res, last, err := s.Push(ctx, client(1), []linlisync.Mutation{put(1, "post/p1", "v", "community/c1"), boom})
		if err == nil || last != 1 || len(res) != 1 {
			t.Fatalf("push = %v, last %d, %d results; want error after 1 applied", err, last, len(res))
		}
		// The client retries the whole batch: 1 is a duplicate, 2 applies now.
		res = mustPush(t, s, client(1), put(1, "post/p1", "v", "community/c1"), put(2, "post/p2", "v", "community/c1"))
		if res[1].Status != linlisync.StatusApplied {
			t.Fatalf("retried id 2 = %+v, want applied", res[1])
		}
	})

	t.Run("FailureWhileWritingCommitsNothing", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, t.TempDir(), linlisync.Options{})
		// A corrupt entity record makes publishing it fail after p1's
		// effects are already in the group's batch.
		if err := linlisync.SetRaw(s, []byte("Epost/corrupt"), []byte{0xff}); err != nil {
			t.Fatal(err)
		}
		_, _, err := s.Push(ctx, client(1), []linlisync.Mutation{
			put(1, "post/p1", "v", "community/c1"),
			put(2, "post/corrupt", "v", "community/c1"),
		})
		if !errors.Is(err, linlisync.ErrCorrupt) {
			t.Fatalf("err = %v, want ErrCorrupt", err)
		}
		changes, _ := pullAll(t, s, []string{"community/c1", "user/u1"}, linlisync.Cursor{}, bigLimits)
		if len(changes) != 0 {
			t.Fatalf("half-applied push left %d changes", len(changes))
		}
		res := mustPush(t, s, client(1), put(1, "post/p1", "v", "community/c1"))
		if res[0].Status != linlisync.StatusApplied {
			t.Fatalf("retry = %+v, want applied (id 1 not consumed)", res)
		}
	})

	t.Run("OutcomesReachPullInUserScope", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, t.TempDir(), linlisync.Options{})
		mustPush(t, s, client(1), put(1, "post/p1", "v", "community/c1"), reject(2))
		changes, _ := pullAll(t, s, []string{"user/u1"}, linlisync.Cursor{}, bigLimits)
		if len(changes) != 1 || changes[0].EntityID != "client/u1/phone" {
			t.Fatalf("user scope changes = %+v, want the client's state", changes)
		}
		// The default encoding is the engine's client record; the domain
		// supplies its own. Check it carries both outcomes.
		if len(changes[0].Value) == 0 {
			t.Fatal("empty client state")
		}
		other, _ := pullAll(t, s, []string{"user/u2"}, linlisync.Cursor{}, bigLimits)
		if len(other) != 0 {
			t.Fatalf("another user's scope got %d changes", len(other))
		}
	})

	t.Run("OutcomeExpiresAfterWindow", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, t.TempDir(), linlisync.Options{})
		var muts []linlisync.Mutation
		last := uint64(3*linlisync.KeptOutcomes + 5)
		for i := uint64(1); i <= last; i++ {
			m := put(i, "post/p1", "v", "community/c1")
			if i%7 == 0 {
				m = reject(i)
			}
			muts = append(muts, m)
		}
		for i := 0; i < len(muts); i += 10 { // pushes of 10, and one of 1 in between
			mustPush(t, s, client(1), muts[i:min(i+10, len(muts))]...)
		}
		if old := mustPush(t, s, client(1), muts[0]); old[0].Status != linlisync.StatusOutcomeExpired {
			t.Errorf("outcome of 1 = %+v after %d more, want expired", old[0], last)
		}
		// Every one of the last KeptOutcomes is answered as it was.
		window := muts[last-linlisync.KeptOutcomes:]
		for i, r := range mustPush(t, s, client(1), window...) {
			id := window[i].ID
			want := linlisync.StatusApplied
			if id%7 == 0 {
				want = linlisync.StatusRejected
			}
			if r.ID != id || r.Status != want {
				t.Fatalf("outcome of %d = %+v, want status %d", id, r, want)
			}
		}
	})

	t.Run("BadArguments", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, t.TempDir(), linlisync.Options{})
		for name, muts := range map[string][]linlisync.Mutation{
			"empty":          nil,
			"id zero":        {put(0, "post/p", "v", "community/c1")},
			"not sequential": {put(1, "post/p", "v", "community/c1"), put(3, "post/p", "v", "community/c1")},
		} {
			if _, _, err := s.Push(ctx, client(1), muts); !errors.Is(err, linlisync.ErrBadMutationIDs) {
				t.Errorf("%s: err = %v, want ErrBadMutationIDs", name, err)
			}
		}
		bad := linlisync.ClientID{User: "u\x00", Client: "c"}
		if _, _, err := s.Push(ctx, bad, []linlisync.Mutation{put(1, "p", "v", "s")}); !errors.Is(err, linlisync.ErrBadScope) {
			t.Errorf("NUL in user: err = %v", err)
		}
		badScope := put(1, "post/p", "v", "community/\x00")
		if _, _, err := s.Push(ctx, client(1), []linlisync.Mutation{badScope}); err == nil {
			t.Error("NUL in scope accepted")
		}
	})
}
