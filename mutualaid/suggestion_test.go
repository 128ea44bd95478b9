package mutualaid_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// acceptS is an accept_suggestion of the Match of req and off, the rest
// left to the server.
func acceptS(hid, req, off string) *linliv1.AcceptSuggestionMutation {
	return &linliv1.AcceptSuggestionMutation{HandoffId: hid, RequestPostId: req, OfferPostId: off}
}

func acceptSM(a *linliv1.AcceptSuggestionMutation) *linliv1.Mutation {
	return &linliv1.Mutation{Kind: &linliv1.Mutation_AcceptSuggestion{AcceptSuggestion: a}}
}

// TestAcceptSuggestion: 王芳 asked for a children's fever reducer; the app
// shows Lucy's 美林 as a suggestion, and she takes it with one tap. The
// server fills in the offered item that fits, the quantity she asked for,
// no courier (they share building 3) and the building's first drop point;
// the bottle is reserved and the handoff waits for Lucy as a proposal
// does, without either side's unit or phone.
func TestAcceptSuggestion(t *testing.T) {
	t.Parallel()
	f := newHandoffFixture(t)
	f.offer("u-lucy", "off", antigenItem(3), meilinItem(2))
	f.request("u-wang", "req", needItem("儿童退烧药", 1))
	if m := f.suggestedOffers("req", "off")["off"]; m == nil || m.GetOfferItemCode() != handoffItemMeilin {
		t.Fatalf("the 美林 is not suggested: %v", m)
	}
	f.phone("u-wang").mustApply(acceptSM(acceptS("h-1", "req", "off")))

	h := f.handoff("h-1")
	want := &linliv1.Handoff{ItemCode: handoffItemMeilin, Quantity: 1, NeedsCourier: false, DropPoint: "15楼电梯口窗台",
		GiverId: "u-lucy", ReceiverId: "u-wang", State: linliv1.HandoffState_HANDOFF_STATE_PROPOSED}
	got := &linliv1.Handoff{ItemCode: h.GetItemCode(), Quantity: h.GetQuantity(), NeedsCourier: h.GetNeedsCourier(), DropPoint: h.GetDropPoint(),
		GiverId: h.GetGiverId(), ReceiverId: h.GetReceiverId(), State: h.GetState()}
	if !proto.Equal(got, want) {
		t.Errorf("handoff:\n got %v\nwant %v", got, want)
	}
	if h.GetGiverUnit() != "" || h.GetGiverPhone() != "" || h.GetReceiverUnit() != "" || h.GetReceiverPhone() != "" {
		t.Errorf("a proposed handoff shares contact details: %v", h)
	}
	for _, sc := range []string{mutualaid.UserScope("u-wang"), mutualaid.UserScope("u-lucy")} {
		if v := f.scopeHandoff(sc, "h-1"); v == nil || v.GetGiverPhone() != "" || v.GetReceiverPhone() != "" {
			t.Errorf("%s: handoff %v, want it without phones", sc, v)
		}
	}
	wantOfferItem(t, f.post("off"), handoffItemMeilin, 2, 1)
	wantOfferItem(t, f.post("off"), handoffItemAntigen, 3, 0)
	wantPostStatus(t, f.post("req"), linliv1.PostStatus_POST_STATUS_MATCHED)

	// Lucy accepts as for any proposal: now they see each other's unit.
	f.phone("u-lucy").mustApply(acceptH("h-1"))
	if h := f.handoff("h-1"); h.GetGiverUnit() != "1103" || h.GetReceiverUnit() != "1502" {
		t.Errorf("accepted: giver unit %q, receiver unit %q", h.GetGiverUnit(), h.GetReceiverUnit())
	}
}

// TestAcceptSuggestionDefaults: what the server fills in when the request's
// author gives nothing, and that each can be overridden.
func TestAcceptSuggestionDefaults(t *testing.T) {
	t.Parallel()
	f := newHandoffFixture(t)
	// 刘洋 lives in building 5; 王芳 in building 3 asks for 3 bottles.
	f.offer("u-liu", "off-5", meilinItem(2))
	f.request("u-wang", "req", needItem("child-fever-reducer", 3))

	t.Run("QuantityUpToWhatIsFreeCourierAcrossBuildings", func(t *testing.T) {
		f.phone("u-wang").mustApply(acceptSM(acceptS("h-1", "req", "off-5")))
		h := f.handoff("h-1")
		if h.GetQuantity() != 2 || !h.GetNeedsCourier() || h.GetDropPoint() != "15楼电梯口窗台" || h.GetBuildingId() != "bldg-3" {
			t.Errorf("got quantity %d, courier %v, drop point %q, building %q; want 2, true, 15楼电梯口窗台, bldg-3",
				h.GetQuantity(), h.GetNeedsCourier(), h.GetDropPoint(), h.GetBuildingId())
		}
		f.phone("u-wang").mustApply(cancelH("h-1", "换一个"))
	})
	t.Run("Overrides", func(t *testing.T) {
		a := acceptS("h-2", "req", "off-5")
		a.Quantity, a.NeedsCourier, a.DropPoint, a.ItemCode = 1, proto.Bool(false), "1楼大门把手", handoffItemMeilin
		f.phone("u-wang").mustApply(acceptSM(a))
		h := f.handoff("h-2")
		if h.GetQuantity() != 1 || h.GetNeedsCourier() || h.GetDropPoint() != "1楼大门把手" {
			t.Errorf("got quantity %d, courier %v, drop point %q; want 1, false, 1楼大门把手", h.GetQuantity(), h.GetNeedsCourier(), h.GetDropPoint())
		}
		wantOfferItem(t, f.post("off-5"), handoffItemMeilin, 2, 1)
	})
	t.Run("SameRulesAsProposeHandoff", func(t *testing.T) {
		a := acceptS("h-3", "req", "off-5")
		a.Quantity = 2
		f.phone("u-wang").mustReject(acceptSM(a), mutualaid.ReasonNotEnoughLeft)
		a = acceptS("h-3", "req", "off-5")
		a.DropPoint = "单元门口快递柜旁" // building 5's, not the request's
		f.phone("u-wang").mustReject(acceptSM(a), mutualaid.ReasonDropPointUnknown)
		f.phone("u-chen").mustReject(acceptSM(acceptS("h-3", "req", "off-5")), mutualaid.ReasonNotAllowed)
		f.phone("u-wang").mustReject(acceptSM(acceptS("h-2", "req", "off-5")), mutualaid.ReasonHandoffExists)
	})
}

// TestAcceptSuggestionItemMustFit: an item named by the request's author
// must be on the offer and fit the request; an offer with nothing fitting
// left is refused.
func TestAcceptSuggestionItemMustFit(t *testing.T) {
	t.Parallel()
	f := newHandoffFixture(t)
	f.offer("u-lucy", "off", antigenItem(3), adultIbuprofenItem(1))
	f.request("u-wang", "req", needItem("儿童退烧药", 1), antigenItem(1))

	a := acceptS("h-1", "req", "off")
	a.ItemCode = "ibuprofen-tablet"
	f.phone("u-wang").mustReject(acceptSM(a), mutualaid.ReasonItemDoesNotFit)
	a.ItemCode = handoffItemMeilin
	f.phone("u-wang").mustReject(acceptSM(a), mutualaid.ReasonItemNotOffered)
	// The antigen test is what fits: taken by default.
	f.phone("u-wang").mustApply(acceptSM(acceptS("h-2", "req", "off")))
	if h := f.handoff("h-2"); h.GetItemCode() != handoffItemAntigen || h.GetQuantity() != 1 {
		t.Errorf("default item: got %s ×%d, want %s ×1", h.GetItemCode(), h.GetQuantity(), handoffItemAntigen)
	}

	// Only adult tablets are on offer for a children's need: nothing fits.
	f.offer("u-chen", "off-adult", adultIbuprofenItem(2))
	f.request("u-li", "req-child", needItem("儿童退烧药", 1))
	f.phone("u-li").mustReject(acceptSM(acceptS("h-3", "req-child", "off-adult")), mutualaid.ReasonItemDoesNotFit)
}
