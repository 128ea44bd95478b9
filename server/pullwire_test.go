package server

import (
	"testing"

	"google.golang.org/protobuf/proto"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// TestPageWire: a page written in wire form reads back as the changes it
// holds, through either codec, and its buffer goes back to the pool once
// marshalled.
func TestPageWire(t *testing.T) {
	entity, err := proto.Marshal(&linliv1.Entity{Kind: &linliv1.Entity_Post{Post: &linliv1.Post{Id: "req-2340", Note: "孩子发烧39度"}}})
	if err != nil {
		t.Fatal(err)
	}
	changes := []linlisync.Change{
		{Scope: "community/c1", Seq: 7, EntityID: "post/c1/req-2340", Value: entity},
		{Scope: "community/c1", Seq: 9, EntityID: "post/c1/gone", Deleted: true},
	}
	page := linlisync.Page{HasMore: true, Dropped: []string{"building/b3"}, Resets: []linlisync.Reset{{Scope: "user/u1", Reason: linlisync.ResetEpochChanged}}}
	for _, codec := range []interface {
		Marshal(any) ([]byte, error)
		Unmarshal([]byte, any) error
	}{protoCodec{}, jsonCodec{name: "json"}} {
		buf := borrowPage()
		for _, c := range changes {
			*buf = appendChange(*buf, c)
		}
		res := pageResponse(page, *buf)
		lendPage(buf)
		lent := lentCount.Load()
		b, err := codec.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		if lentCount.Load() != lent-1 {
			t.Errorf("%T: the page's buffer was not given back", codec)
		}
		var got linliv1.PullResponse
		if err := codec.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if len(got.GetChanges()) != 2 || got.GetChanges()[0].GetEntity().GetPost().GetNote() != "孩子发烧39度" ||
			got.GetChanges()[0].GetSeq() != 7 || !got.GetChanges()[1].GetDeleted() || got.GetChanges()[1].GetEntity() != nil ||
			!got.GetHasMore() || got.GetDroppedScopes()[0] != "building/b3" || got.GetResets()[0].GetScope() != "user/u1" {
			t.Errorf("%T: read back %v", codec, &got)
		}
	}
}
