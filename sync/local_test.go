package sync_test

import (
	"context"
	"errors"
	"testing"

	linlisync "github.com/linli/linli/sync"
)

// counter is writer-local state that counts the posts applied.
type counter struct{ n, rebuilt int }

type counterKey struct{}

// counted is a mutation that counts itself in the writer's state, then
// fails with err if it is not nil.
func counted(id uint64, err error) linlisync.Mutation {
	return linlisync.Mutation{ID: id, Name: "counted", Apply: func(tx *linlisync.Tx) error {
		c := tx.Local(counterKey{}, func() any { return &counter{} }).(*counter)
		c.n++
		tx.OnAbort(func() { c.n--; c.rebuilt++ })
		if err := tx.Put("post/c1/counted", []byte("x"), map[string][]byte{"community/c1": []byte("x")}); err != nil {
			return err
		}
		return err
	}}
}

// TestLocalState: writer-local state lives as long as the store, and a
// mutation that does not take effect (rejected, or failed) runs its abort
// functions so the state can be brought back in step.
func TestLocalState(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, t.TempDir(), linlisync.Options{})
	u := client(1)
	mustPush(t, s, u, counted(1, nil), counted(2, linlisync.Reject("no", "no")), counted(3, nil))
	if _, _, err := s.Push(context.Background(), u, []linlisync.Mutation{counted(4, errors.New("disk on fire"))}); err == nil {
		t.Fatal("an internal failure was acknowledged")
	}
	var got counter
	err := s.Update(context.Background(), func(tx *linlisync.Tx) error {
		got = *tx.Local(counterKey{}, func() any { return &counter{} }).(*counter)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != (counter{n: 2, rebuilt: 2}) {
		t.Errorf("state %+v, want 2 applied and 2 aborted", got)
	}
}

// TestCreate: an entity created without looking for an earlier record is
// published like any other, and later writes find its record.
func TestCreate(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, t.TempDir(), linlisync.Options{})
	ctx := context.Background()
	err := s.Update(ctx, func(tx *linlisync.Tx) error {
		return tx.Create("idx/fresh", []byte("v1"), map[string][]byte{"community/c1": []byte("v1")})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx *linlisync.Tx) error {
		return tx.Put("idx/fresh", []byte("v2"), map[string][]byte{"community/c1": []byte("v2")})
	})
	if err != nil {
		t.Fatal(err)
	}
	changes, _ := pullAll(t, s, []string{"community/c1"}, linlisync.Cursor{}, bigLimits)
	if got := view(changes); len(got) != 1 || got["community/c1|idx/fresh"] != "v2" {
		t.Fatalf("community/c1 holds %v, want v2 alone", got)
	}
	if rep, err := s.Check(ctx, linlisync.CheckOptions{}); err != nil || !rep.OK() {
		t.Fatalf("check: %v\n%s", err, rep)
	}
}
