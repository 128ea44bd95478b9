package mutualaid_test

import (
	"context"
	"slices"
	"testing"

	"github.com/linli/linli/mutualaid"
)

// TestCommunitiesIndex: every community created is listed, in order, and
// the daily refresh of suggestions runs over all of them.
func TestCommunitiesIndex(t *testing.T) {
	t.Parallel()
	f := newDirFixture(t)
	ids, err := f.svc.Communities()
	if err != nil || !slices.Equal(ids, []string{"yuqiao", "beiyuan"}) {
		t.Fatalf("Communities = %v, %v; want [yuqiao beiyuan]", ids, err)
	}
	if _, err := f.svc.CreateCommunity(context.Background(), mutualaid.Operator, yuqiao); err == nil {
		t.Fatal("duplicate community created")
	}
	if ids, _ := f.svc.Communities(); len(ids) != 2 {
		t.Fatalf("a refused duplicate was indexed: %v", ids)
	}
	if _, err := f.svc.RefreshMatches(context.Background()); err != nil {
		t.Fatalf("RefreshMatches: %v", err)
	}
}
