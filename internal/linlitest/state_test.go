package linlitest

import (
	"testing"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

func TestStateApply(t *testing.T) {
	post := func(id string) *linliv1.Entity {
		return &linliv1.Entity{Kind: &linliv1.Entity_Post{Post: &linliv1.Post{Id: id}}}
	}
	s := State{}
	s.Apply(&linliv1.PullResponse{Changes: []*linliv1.Change{
		{Scope: "community/c1", EntityId: "post/c1/p1", Entity: post("p1")},
		{Scope: "community/c1", EntityId: "post/c1/p2", Entity: post("p2")},
		{Scope: "user/u1", EntityId: "post/c1/p1", Entity: post("p1")},
		{Scope: "staff/c1", EntityId: "post/c1/p1", Entity: post("p1")},
	}})
	s.Apply(&linliv1.PullResponse{
		DroppedScopes: []string{"staff/c1"},
		Resets:        []*linliv1.ScopeReset{{Scope: "user/u1"}},
		Changes:       []*linliv1.Change{{Scope: "community/c1", EntityId: "post/c1/p2", Deleted: true}},
	})
	if len(s) != 1 || len(s["community/c1"]) != 1 || s["community/c1"]["post/c1/p1"].GetPost().GetId() != "p1" {
		t.Errorf("after a tombstone, a dropped and a reset scope: %v; want only p1 in community/c1", s)
	}
}
