package mutualaid

import (
	"bytes"
	"testing"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// TestEncodeClientStateIsProtobuf: the hand-written encoding is byte for
// byte what deterministic protobuf marshalling gives.
func TestEncodeClientStateIsProtobuf(t *testing.T) {
	for _, c := range []linlisync.ClientState{
		{},
		{Client: "phone-1", LastMutationID: 7},
		{Client: "phone-1", LastMutationID: 300, Recent: []linlisync.Result{
			{ID: 298, Status: linlisync.StatusApplied},
			{ID: 299, Status: linlisync.StatusRejected, Reason: "post_not_found", Message: "这条帖子已经不存在了。"},
			{ID: 300, Status: linlisync.StatusApplied, Reason: "emergency_call_120", Message: "请立即拨打120"},
			{ID: 0, Status: 0},
		}},
	} {
		got, err := encodeClientState(c)
		if err != nil {
			t.Fatal(err)
		}
		cs := &linliv1.ClientState{ClientId: c.Client, LastMutationId: c.LastMutationID}
		for _, r := range c.Recent {
			cs.RecentResults = append(cs.RecentResults, MutationResult(r))
		}
		want, err := deterministic.Marshal(&linliv1.Entity{Kind: &linliv1.Entity_ClientState{ClientState: cs}})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%+v:\n got % x\nwant % x", c, got, want)
		}
	}
	if _, err := encodeClientState(linlisync.ClientState{Recent: []linlisync.Result{{ID: 1, Message: "\xff"}}}); err == nil {
		t.Error("invalid UTF-8 encoded without error")
	}
}
