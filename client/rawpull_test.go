package client

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// walkAll reads b with walkPage into plain values.
func walkAll(b []byte) (cursor string, more bool, cleared []string, changes []rawChange, err error) {
	err = walkPage(b, pageVisitor{
		cursor:  func(s string) { cursor = s },
		hasMore: func(m bool) { more = m },
		clear:   func(s []byte) { cleared = append(cleared, string(s)) },
		change: func(c rawChange) error {
			c.scope, c.entityID, c.entity = bytes.Clone(c.scope), bytes.Clone(c.entityID), bytes.Clone(c.entity)
			changes = append(changes, c)
			return nil
		},
	})
	return
}

// TestRawPage: a page read raw holds what the message holds, each entity
// as the bytes protobuf gives for it, the scopes to clear first wherever
// they are in the message.
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
	cursor, more, cleared, changes, err := walkAll(b)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := proto.Marshal(post)
	if cursor != "c1" || !more || len(cleared) != 2 || len(changes) != 2 {
		t.Fatalf("read %q %v %v %d changes", cursor, more, cleared, len(changes))
	}
	c0, c1 := changes[0], changes[1]
	if string(c0.scope) != "community/c1" || c0.seq != 7 || string(c0.entityID) != "post/c1/req-2340" || c0.deleted || !bytes.Equal(c0.entity, want) {
		t.Errorf("change 0: %+v", c0)
	}
	if c1.seq != 9 || !c1.deleted || c1.entity != nil {
		t.Errorf("change 1: %+v", c1)
	}
	for _, bad := range [][]byte{{0x12, 0x05, 0x0a}, {0xff}, {0x12}} {
		if _, _, _, _, err := walkAll(bad); err == nil {
			t.Errorf("% x: no error", bad)
		}
	}
}

// FuzzRawPage: no input makes the page reader panic, and whatever protobuf
// reads as a PullResponse the raw reader reads too, with as many changes.
func FuzzRawPage(f *testing.F) {
	b, _ := proto.Marshal(&linliv1.PullResponse{Cursor: "x", Changes: []*linliv1.Change{{Scope: "s", Seq: 1, EntityId: "e"}}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _, changes, err := walkAll(b)
		var m linliv1.PullResponse
		if proto.Unmarshal(b, &m) != nil {
			return
		}
		if err != nil {
			t.Fatalf("protobuf reads it, the raw reader says %v", err)
		}
		if len(changes) != len(m.GetChanges()) {
			t.Fatalf("%d changes, protobuf reads %d", len(changes), len(m.GetChanges()))
		}
	})
}
