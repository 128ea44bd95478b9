package server_test

import (
	"testing"

	"connectrpc.com/connect"

	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/server"
)

// TestRequestByNeedAndAcceptSuggestion: over Connect with JSON, as a web
// app speaks it, a parent asks for "儿童退烧药" and takes the neighbour's
// 美林 with one accept_suggestion; the handoff is filled in by the server.
func TestRequestByNeedAndAcceptSuggestion(t *testing.T) {
	t.Parallel()
	h := linlitest.NewServer(t, server.Config{})
	ctx := t.Context()
	lucy := h.SyncClient(h.Token(t, "u-lucy", "yuqiao", mutualaid.RoleResident), connect.WithProtoJSON())
	wang := h.SyncClient(h.Token(t, "u-wang", "yuqiao", mutualaid.RoleResident), connect.WithProtoJSON())
	if _, err := push(ctx, lucy, "phone", offer(1, "meilin")); err != nil {
		t.Fatal(err)
	}
	req := &linliv1.Mutation{Id: 1, Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{
		PostId: "fever", Draft: &linliv1.PostDraft{
			Items:   []*linliv1.PostItem{{Need: "儿童退烧药", Quantity: 1}},
			Urgency: linliv1.Urgency_URGENCY_URGENT, BuildingId: "b3", Unit: "1502", Note: "孩子发烧39度", DisplayName: "王芳",
		}}}}
	take := &linliv1.Mutation{Id: 2, Kind: &linliv1.Mutation_AcceptSuggestion{AcceptSuggestion: &linliv1.AcceptSuggestionMutation{
		HandoffId: "h-1", RequestPostId: "fever", OfferPostId: "meilin"}}}
	res, err := push(ctx, wang, "phone", req, take)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.GetResults() {
		if r.GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_APPLIED {
			t.Fatalf("mutation %d: %v %s %s", r.GetId(), r.GetStatus(), r.GetReason(), r.GetMessage())
		}
	}
	changes, _ := linlitest.PullAll(t, wang, "")
	var got *linliv1.Handoff
	for _, c := range changes {
		if hd := c.GetEntity().GetHandoff(); hd != nil && hd.GetId() == "h-1" {
			got = hd
		}
	}
	if got.GetItemCode() != "ibuprofen-suspension-child" || got.GetQuantity() != 1 || got.GetNeedsCourier() ||
		got.GetDropPoint() != "15楼电梯口窗台" || got.GetState() != linliv1.HandoffState_HANDOFF_STATE_PROPOSED {
		t.Errorf("handoff h-1 as 王芳 pulls it: %v", got)
	}
}
