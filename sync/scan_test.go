package sync_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	linlisync "github.com/linli/linli/sync"
)

// TestScan: a scan sees committed entities, those written earlier in the
// same group and those staged by the Tx itself, in id order, without the
// deleted, up to the limit.
func TestScan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustOpen(t, t.TempDir(), linlisync.Options{})
	put := func(ids ...string) func(tx *linlisync.Tx) error {
		return func(tx *linlisync.Tx) error {
			for _, id := range ids {
				if err := tx.Put(id, []byte("v:"+id), nil); err != nil {
					return err
				}
			}
			return nil
		}
	}
	if err := s.Update(ctx, put("idx/a/1", "idx/a/3", "idx/a/5", "idx/b/1")); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := s.Update(ctx, func(tx *linlisync.Tx) error {
		if err := put("idx/a/2", "idx/a/4")(tx); err != nil {
			return err
		}
		if err := tx.Delete("idx/a/3"); err != nil {
			return err
		}
		return tx.Scan("idx/a/", 10, func(id string, v []byte) error {
			if string(v) != "v:"+id {
				return fmt.Errorf("%s = %q", id, v)
			}
			got = append(got, id)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"idx/a/1", "idx/a/2", "idx/a/4", "idx/a/5"}; !slices.Equal(got, want) {
		t.Fatalf("scan = %v, want %v", got, want)
	}
	got = nil
	_ = s.Update(ctx, func(tx *linlisync.Tx) error {
		return tx.Scan("idx/a/", 2, func(id string, _ []byte) error { got = append(got, id); return nil })
	})
	if want := []string{"idx/a/1", "idx/a/2"}; !slices.Equal(got, want) {
		t.Fatalf("limited scan = %v, want %v", got, want)
	}
}
