package client

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// TestRawPage: a page read raw holds what the message holds, each entity
// as the bytes protobuf gives for it.
func TestRawPage(t *testing.T) {
	post := &linliv1.Entity{Kind: &linliv1.Entity_Post{Post: &linliv1.Post{Id: "req-2340", Note: "孩子发烧39度"}}}
	res := &linliv1.PullResponse{
		Cursor: "c1", HasMore: true, DroppedScopes: []string{"building/b3"},
		Resets: []*linliv1.ScopeReset{{Scope: "user/u1", Reason: linliv1.ResetReason_RESET_REASON_EPOCH_CHANGED}},
		Changes: []*linliv1.Change{
			{Scope: "community/c1", Seq: 7, EntityId: "post/c1/req-2340", Entity: post},
			{Scope: "community/c1", Seq: 9, EntityId: "post/c1/gone", Deleted: true},
		},
	}
	b, err := proto.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var p rawPage
	if err := (rawPullCodec{}).Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	want, _ := proto.Marshal(post)
	if p.cursor != "c1" || !p.hasMore || len(p.dropped) != 1 || p.dropped[0] != "building/b3" || len(p.resets) != 1 || p.resets[0] != "user/u1" || len(p.changes) != 2 {
		t.Fatalf("page %+v", p)
	}
	c0, c1 := p.changes[0], p.changes[1]
	if c0.scope != "community/c1" || c0.seq != 7 || c0.entityID != "post/c1/req-2340" || c0.deleted || !bytes.Equal(c0.entity, want) {
		t.Errorf("change 0: %+v", c0)
	}
	if c1.seq != 9 || !c1.deleted || c1.entity != nil {
		t.Errorf("change 1: %+v", c1)
	}
	for _, bad := range [][]byte{{0x12, 0x05, 0x0a}, {0xff}, {0x12}} {
		if err := (rawPullCodec{}).Unmarshal(bad, &p); err == nil {
			t.Errorf("% x: no error", bad)
		}
	}
}

// FuzzRawPage: no input makes the page reader panic, and whatever protobuf
// reads as a PullResponse the raw reader reads too.
func FuzzRawPage(f *testing.F) {
	b, _ := proto.Marshal(&linliv1.PullResponse{Cursor: "x", Changes: []*linliv1.Change{{Scope: "s", Seq: 1, EntityId: "e"}}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseRawPage(b)
		var m linliv1.PullResponse
		if proto.Unmarshal(b, &m) == nil && err != nil {
			t.Fatalf("protobuf reads it, the raw reader says %v", err)
		}
		if err == nil && len(p.changes) != len(m.GetChanges()) && proto.Unmarshal(b, &m) == nil {
			t.Fatalf("%d changes, protobuf reads %d", len(p.changes), len(m.GetChanges()))
		}
	})
}
