package sync_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	linlisync "github.com/linli/linli/sync"
)

func TestUpdate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustOpen(t, t.TempDir(), linlisync.Options{})

	err := s.Update(ctx, func(tx *linlisync.Tx) error {
		return tx.Put("member/c1/u1", []byte("staff"), map[string][]byte{"staff/c1": []byte("staff")})
	})
	if err != nil {
		t.Fatal(err)
	}
	v, ok, err := s.Get("member/c1/u1")
	if err != nil || !ok || string(v) != "staff" {
		t.Fatalf("Get = %q %v %v, want staff", v, ok, err)
	}
	changes, _ := pullAll(t, s, []string{"staff/c1"}, linlisync.Cursor{}, bigLimits)
	if len(changes) != 1 {
		t.Fatalf("staff scope = %+v, want the member", changes)
	}

	refused := linlisync.Reject("code_used", "This join code has been used.")
	err = s.Update(ctx, func(tx *linlisync.Tx) error {
		if err := tx.Put("member/c1/u2", []byte("x"), nil); err != nil {
			return err
		}
		return refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("err = %v, want the rejection", err)
	}
	if _, ok, _ := s.Get("member/c1/u2"); ok {
		t.Fatal("a refused update left its write")
	}
	if _, ok, _ := s.Get("nobody"); ok {
		t.Fatal("Get of a missing entity found something")
	}
}

// TestDeletePrivateEntityLeavesNothing: an entity no scope ever saw is
// forgotten entirely when deleted.
func TestDeletePrivateEntityLeavesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustOpen(t, t.TempDir(), linlisync.Options{})
	if err := s.Update(ctx, func(tx *linlisync.Tx) error { return tx.Put("refresh/abc", []byte("secret"), nil) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *linlisync.Tx) error { return tx.Delete("refresh/abc") }); err != nil {
		t.Fatal(err)
	}
	dump, err := linlisync.Dump(s)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(dump, "refresh/abc") {
		t.Fatalf("deleted private entity still stored:\n%s", dump)
	}
}
