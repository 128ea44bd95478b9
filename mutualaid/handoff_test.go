package mutualaid_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

const (
	windowsill15 = "15楼电梯口窗台"
	boardBldg3   = "building/yuqiao/bldg-3"
)

// TestHandoffStory is the night of the 23:40 request: 王芳 asks for a
// children's fever reducer, Lucy has 美林, 王芳 proposes, Lucy accepts, 张伟
// (a volunteer of building 3) carries it up to the 15th-floor elevator
// windowsill, and 王芳 confirms.
func TestHandoffStory(t *testing.T) {
	t.Parallel()
	f := newHandoffFixture(t)
	wang, lucy, zhang := f.phone("u-wang"), f.phone("u-lucy"), f.phone("u-zhang")

	wang.mustApply(feverRequest("req-2340"))
	f.offer("u-lucy", "offer-lucy", meilinItem(1), tylenolItem(1), antigenItem(5))

	f.clk.Advance(3 * time.Minute)
	wang.mustApply(proposeH("h-2340", "req-2340", "offer-lucy", handoffItemMeilin, 1, true, windowsill15))
	h := f.handoff("h-2340")
	wantHandoffState(t, h, linliv1.HandoffState_HANDOFF_STATE_PROPOSED)
	if h.GetGiverId() != "u-lucy" || h.GetReceiverId() != "u-wang" || h.GetBuildingId() != "bldg-3" ||
		h.GetQuantity() != 1 || h.GetItemCode() != handoffItemMeilin || !h.GetNeedsCourier() || h.GetDropPoint() != windowsill15 {
		t.Errorf("proposed handoff: got %v", h)
	}
	if len(h.GetPickupCode()) != 6 || strings.Trim(h.GetPickupCode(), "0123456789") != "" {
		t.Errorf("pickup code %q, want 6 digits", h.GetPickupCode())
	}
	if h.GetGiverUnit() != "" || h.GetReceiverPhone() != "" {
		t.Errorf("proposed handoff already holds contact details: %v", h)
	}
	wantOfferItem(t, f.post("offer-lucy"), handoffItemMeilin, 1, 1)
	wantPostStatus(t, f.post("offer-lucy"), linliv1.PostStatus_POST_STATUS_MATCHED)
	wantPostStatus(t, f.post("req-2340"), linliv1.PostStatus_POST_STATUS_MATCHED)
	if f.scopeHandoff(boardBldg3, "h-2340") != nil {
		t.Errorf("a proposed handoff is on the volunteers' board")
	}

	f.clk.Advance(2 * time.Minute)
	lucy.mustApply(acceptH("h-2340"))
	h = f.handoff("h-2340")
	if h.GetGiverUnit() != "1103" || h.GetGiverPhone() != "139 1000 2000" ||
		h.GetReceiverUnit() != "1502" || h.GetReceiverPhone() != "+86 138-0013-8000" {
		t.Errorf("accepted handoff: got giver %q %q receiver %q %q", h.GetGiverUnit(), h.GetGiverPhone(), h.GetReceiverUnit(), h.GetReceiverPhone())
	}
	if b := f.scopeHandoff(boardBldg3, "h-2340"); b == nil || b.GetCourierId() != "" {
		t.Errorf("board after acceptance: got %v, want the handoff waiting for a courier", b)
	}

	f.clk.Advance(5 * time.Minute)
	zhang.mustApply(claimH("h-2340"))
	code := f.scopeHandoff(mutualaid.UserScope("u-zhang"), "h-2340").GetPickupCode()
	if code != h.GetPickupCode() {
		t.Fatalf("courier's view: pickup code %q, want %q", code, h.GetPickupCode())
	}
	f.clk.Advance(10 * time.Minute)
	zhang.mustApply(pickUpH("h-2340", code))
	f.clk.Advance(4 * time.Minute)
	zhang.mustApply(dropOffH("h-2340", ""))
	f.clk.Advance(time.Minute)
	wang.mustApply(confirmH("h-2340"))

	h = f.handoff("h-2340")
	wantHandoffState(t, h, linliv1.HandoffState_HANDOFF_STATE_RECEIVED)
	if h.GetCourierId() != "u-zhang" || h.GetDropPoint() != windowsill15 {
		t.Errorf("received handoff: courier %q drop point %q", h.GetCourierId(), h.GetDropPoint())
	}
	type step struct {
		state linliv1.HandoffState
		by    string
		at    time.Duration // after 23:40
	}
	want := []step{
		{linliv1.HandoffState_HANDOFF_STATE_PROPOSED, "u-wang", 3 * time.Minute},
		{linliv1.HandoffState_HANDOFF_STATE_ACCEPTED, "u-lucy", 5 * time.Minute},
		{linliv1.HandoffState_HANDOFF_STATE_ACCEPTED, "u-zhang", 10 * time.Minute}, // courier claimed
		{linliv1.HandoffState_HANDOFF_STATE_PICKED_UP, "u-zhang", 20 * time.Minute},
		{linliv1.HandoffState_HANDOFF_STATE_DROPPED_OFF, "u-zhang", 24 * time.Minute},
		{linliv1.HandoffState_HANDOFF_STATE_RECEIVED, "u-wang", 25 * time.Minute},
	}
	if len(h.GetHistory()) != len(want) {
		t.Fatalf("history: got %d events, want %d: %v", len(h.GetHistory()), len(want), h.GetHistory())
	}
	for i, w := range want {
		e := h.GetHistory()[i]
		if e.GetState() != w.state || e.GetByUserId() != w.by || !e.GetAt().AsTime().Equal(night.Add(w.at)) {
			t.Errorf("history[%d]: got %v by %s at %v, want %v by %s at %v",
				i, e.GetState(), e.GetByUserId(), e.GetAt().AsTime(), w.state, w.by, night.Add(w.at))
		}
	}

	off := f.post("offer-lucy")
	wantOfferItem(t, off, handoffItemMeilin, 0, 0)
	wantOfferItem(t, off, handoffItemAntigen, 5, 0)
	wantPostStatus(t, off, linliv1.PostStatus_POST_STATUS_OPEN) // 泰诺林 and antigen tests are still on offer
	wantPostStatus(t, f.post("req-2340"), linliv1.PostStatus_POST_STATUS_FULFILLED)
	if f.scopeHandoff(boardBldg3, "h-2340") != nil {
		t.Errorf("a received handoff is still on the volunteers' board")
	}
	if p := f.scopeHandoff(mutualaid.UserScope("u-wang"), "h-2340"); p.GetState() != linliv1.HandoffState_HANDOFF_STATE_RECEIVED {
		t.Errorf("王芳's view: got state %v, want received", p.GetState())
	}

	// The community sees the posts move, redacted.
	comm := f.entities(community)[community]
	if p := comm[mutualaid.PostEntityID("yuqiao", "offer-lucy")].GetPost(); offerItem(t, p, handoffItemMeilin).GetQuantity() != 0 || p.GetUnit() != "" {
		t.Errorf("community view of the offer: %v", p)
	}
}

// TestHandoffValidation: bad input is refused before anything is queued,
// with the field relative to the Mutation.
func TestHandoffValidation(t *testing.T) {
	t.Parallel()
	ok := proposeH("h-1", "req-1", "off-1", handoffItemMeilin, 1, false, "")
	long := strings.Repeat("x", 65)
	for _, tc := range []struct {
		name          string
		m             *linliv1.Mutation
		field, reason string
	}{
		{"MissingHandoffID", proposeH("", "req-1", "off-1", handoffItemMeilin, 1, false, ""), "propose_handoff.handoff_id", "handoff_id_required"},
		{"LongHandoffID", proposeH(long, "req-1", "off-1", handoffItemMeilin, 1, false, ""), "propose_handoff.handoff_id", "handoff_id_too_long"},
		{"BadHandoffID", proposeH("h/1", "req-1", "off-1", handoffItemMeilin, 1, false, ""), "propose_handoff.handoff_id", "handoff_id_invalid"},
		{"MissingRequest", proposeH("h-1", "", "off-1", handoffItemMeilin, 1, false, ""), "propose_handoff.request_post_id", "request_post_id_required"},
		{"BadOffer", proposeH("h-1", "req-1", "off 1", handoffItemMeilin, 1, false, ""), "propose_handoff.offer_post_id", "offer_post_id_invalid"},
		{"UpperCaseItem", proposeH("h-1", "req-1", "off-1", "Meilin", 1, false, ""), "propose_handoff.item_code", "item_code_invalid"},
		{"MissingItem", proposeH("h-1", "req-1", "off-1", "", 1, false, ""), "propose_handoff.item_code", "item_code_required"},
		{"ZeroQuantity", proposeH("h-1", "req-1", "off-1", handoffItemMeilin, 0, false, ""), "propose_handoff.quantity", "quantity_out_of_range"},
		{"NegativeQuantity", proposeH("h-1", "req-1", "off-1", handoffItemMeilin, -3, false, ""), "propose_handoff.quantity", "quantity_out_of_range"},
		{"HugeQuantity", proposeH("h-1", "req-1", "off-1", handoffItemMeilin, 1001, false, ""), "propose_handoff.quantity", "quantity_out_of_range"},
		{"LongDropPoint", proposeH("h-1", "req-1", "off-1", handoffItemMeilin, 1, false, strings.Repeat("窗", 81)), "propose_handoff.drop_point", "drop_point_too_long"},
		{"ControlInDropPoint", proposeH("h-1", "req-1", "off-1", handoffItemMeilin, 1, false, "15楼\x00"), "propose_handoff.drop_point", "drop_point_invalid"},
		{"AcceptWithoutID", acceptH(""), "accept_handoff.handoff_id", "handoff_id_required"},
		{"ClaimBadID", claimH("../x"), "claim_courier.handoff_id", "handoff_id_invalid"},
		{"ShortPickupCode", pickUpH("h-1", "12345"), "pick_up.pickup_code", "pickup_code_invalid"},
		{"LetterPickupCode", pickUpH("h-1", "12345a"), "pick_up.pickup_code", "pickup_code_invalid"},
		{"WidePickupCode", pickUpH("h-1", "１２３４５６"), "pick_up.pickup_code", "pickup_code_invalid"},
		{"LongDropOffPoint", dropOffH("h-1", strings.Repeat("a", 81)), "drop_off.drop_point", "drop_point_too_long"},
		{"ConfirmWithoutID", confirmH(""), "confirm_received.handoff_id", "handoff_id_required"},
		{"LongCancelReason", cancelH("h-1", strings.Repeat("不", 201)), "cancel_handoff.reason", "cancel_reason_too_long"},
		{"BadUTF8CancelReason", cancelH("h-1", "\xff"), "cancel_handoff.reason", "cancel_reason_invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, handled, err := mutualaid.HandoffMutation(wang, tc.m)
			if !handled {
				t.Fatalf("HandoffMutation did not handle %s", mutationKind(tc.m))
			}
			wantError(t, err, mutualaid.Invalid, tc.reason)
			if e, _ := err.(*mutualaid.Error); e != nil && e.Field != tc.field {
				t.Errorf("field: got %q, want %q", e.Field, tc.field)
			}
		})
	}
	t.Run("Valid", func(t *testing.T) {
		for _, m := range []*linliv1.Mutation{
			ok, proposeH("h-1", "req-1", "off-1", "antigen-test", 1000, true, windowsill15),
			acceptH("h-1"), claimH("h-1"), pickUpH("h-1", ""), pickUpH("h-1", "012345"),
			dropOffH("h-1", ""), dropOffH("h-1", windowsill15), confirmH("h-1"), cancelH("h-1", ""), cancelH("h-1", "孩子退烧了，不需要了"),
		} {
			m.Id = 7
			mut, handled, err := mutualaid.HandoffMutation(wang, m)
			if !handled || err != nil || mut.Apply == nil || mut.ID != 7 || mut.Name != mutationKind(m) {
				t.Errorf("%s: got handled %v, err %v, id %d, name %q", mutationKind(m), handled, err, mut.ID, mut.Name)
			}
		}
	})
	t.Run("NotAHandoff", func(t *testing.T) {
		for _, m := range []*linliv1.Mutation{feverRequest("req-1"), cancelMutation("req-1", ""), {}} {
			if _, handled, err := mutualaid.HandoffMutation(wang, m); handled || err != nil {
				t.Errorf("%v: got handled %v, err %v; want not handled", m, handled, err)
			}
		}
	})
	t.Run("PickupCodesDiffer", func(t *testing.T) {
		f := newHandoffFixture(t)
		f.request("u-wang", "req-1", meilinItem(1))
		f.offer("u-lucy", "off-1", antigenItem(100))
		seen := map[string]bool{}
		for i := range 20 {
			hid := "h-" + string(rune('a'+i))
			f.phone("u-wang").mustApply(proposeH(hid, "req-1", "off-1", handoffItemAntigen, 1, false, ""))
			seen[f.handoff(hid).GetPickupCode()] = true
		}
		if len(seen) < 15 {
			t.Errorf("20 proposals drew only %d distinct pickup codes", len(seen))
		}
	})
}

// TestHandoffProposeRules: who may propose, and what.
func TestHandoffProposeRules(t *testing.T) {
	t.Parallel()
	f := newHandoffFixture(t)
	f.request("u-wang", "req-wang", meilinItem(1))
	f.request("u-chen", "req-chen", antigenItem(1))
	f.offer("u-lucy", "off-lucy", meilinItem(2), antigenItem(3))
	f.offer("u-wang", "off-wang", antigenItem(1))
	f.request("u-li", "req-li", antigenItem(1))
	f.phone("u-li").mustApply(cancelMutation("req-li", "有了"))
	sun := &handset{t: t, store: f.store, member: mutualaid.Member{UserID: "u-sun", CommunityID: "beiyuan", Role: mutualaid.RoleResident}, client: "phone-1"}

	for _, tc := range []struct {
		name   string
		by     *handset
		m      *linliv1.Mutation
		reason string // "" for applied
	}{
		{"NoSuchRequest", f.phone("u-wang"), proposeH("h-1", "req-none", "off-lucy", handoffItemMeilin, 1, false, ""), mutualaid.ReasonPostNotFound},
		{"NoSuchOffer", f.phone("u-wang"), proposeH("h-1", "req-wang", "off-none", handoffItemMeilin, 1, false, ""), mutualaid.ReasonPostNotFound},
		{"OtherCommunity", sun, proposeH("h-1", "req-wang", "off-lucy", handoffItemMeilin, 1, false, ""), mutualaid.ReasonPostNotFound},
		{"RequestIsAnOffer", f.phone("u-wang"), proposeH("h-1", "off-wang", "off-lucy", handoffItemAntigen, 1, false, ""), mutualaid.ReasonNotARequest},
		{"OfferIsARequest", f.phone("u-wang"), proposeH("h-1", "req-wang", "req-chen", handoffItemAntigen, 1, false, ""), mutualaid.ReasonNotAnOffer},
		{"OwnOffer", f.phone("u-wang"), proposeH("h-1", "req-wang", "off-wang", handoffItemAntigen, 1, false, ""), mutualaid.ReasonOwnOffer},
		{"ItemNotOffered", f.phone("u-wang"), proposeH("h-1", "req-wang", "off-lucy", "thermometer-electronic", 1, false, ""), mutualaid.ReasonItemNotOffered},
		{"Stranger", f.phone("u-li"), proposeH("h-1", "req-wang", "off-lucy", handoffItemMeilin, 1, false, ""), mutualaid.ReasonNotAllowed},
		{"VolunteerOfAnotherBuilding", f.phone("u-liu"), proposeH("h-1", "req-wang", "off-lucy", handoffItemMeilin, 1, false, ""), mutualaid.ReasonNotAllowed},
		{"RequestCancelled", f.phone("u-li"), proposeH("h-1", "req-li", "off-lucy", handoffItemAntigen, 1, false, ""), mutualaid.ReasonPostNotOpen},
		{"TooMany", f.phone("u-wang"), proposeH("h-1", "req-wang", "off-lucy", handoffItemMeilin, 3, false, ""), mutualaid.ReasonNotEnoughLeft},
		{"UnknownDropPoint", f.phone("u-wang"), proposeH("h-1", "req-wang", "off-lucy", handoffItemMeilin, 1, false, "单元门口快递柜旁"), mutualaid.ReasonDropPointUnknown},
		{"ByReceiver", f.phone("u-wang"), proposeH("h-wang", "req-wang", "off-lucy", handoffItemMeilin, 1, false, windowsill15), ""},
		{"IDTaken", f.phone("u-chen"), proposeH("h-wang", "req-chen", "off-lucy", handoffItemAntigen, 1, false, ""), mutualaid.ReasonHandoffExists},
		{"ByGiver", f.phone("u-lucy"), proposeH("h-lucy", "req-chen", "off-lucy", handoffItemAntigen, 1, false, ""), ""},
		{"ByVolunteerOfTheBuilding", f.phone("u-zhang"), proposeH("h-zhang", "req-chen", "off-lucy", handoffItemAntigen, 1, true, ""), ""},
		{"ByStaff", f.phone("u-zhao"), proposeH("h-zhao", "req-wang", "off-lucy", handoffItemMeilin, 1, false, ""), ""},
		{"NoneLeft", f.phone("u-wang"), proposeH("h-more", "req-wang", "off-lucy", handoffItemMeilin, 1, false, ""), mutualaid.ReasonNotEnoughLeft},
	} {
		if tc.reason == "" {
			tc.by.mustApply(tc.m)
		} else {
			tc.by.mustReject(tc.m, tc.reason)
		}
	}
	off := f.post("off-lucy")
	wantOfferItem(t, off, handoffItemMeilin, 2, 2)
	wantOfferItem(t, off, handoffItemAntigen, 3, 2)
	if _, ok, _ := f.store.Get(mutualaid.HandoffEntityID("yuqiao", "h-1")); ok {
		t.Errorf("a rejected proposal left a handoff behind")
	}
	if h := f.handoff("h-zhang"); h.GetGiverId() != "u-lucy" || h.GetReceiverId() != "u-chen" || h.GetHistory()[0].GetByUserId() != "u-zhang" {
		t.Errorf("proposed by a volunteer: got giver %s receiver %s by %s", h.GetGiverId(), h.GetReceiverId(), h.GetHistory()[0].GetByUserId())
	}
}

// TestHandoffPartialQuantities: an offer of 3 antigen tests, two proposals
// of 2: the second is refused saying 1 is left, and 1 can still be had.
func TestHandoffPartialQuantities(t *testing.T) {
	t.Parallel()
	f := newHandoffFixture(t)
	f.offer("u-lucy", "off-3", antigenItem(3))
	f.request("u-chen", "req-chen", antigenItem(2))
	f.request("u-li", "req-li", antigenItem(2))

	f.phone("u-chen").mustApply(proposeH("h-chen", "req-chen", "off-3", handoffItemAntigen, 2, false, ""))
	r := f.phone("u-li").mustReject(proposeH("h-li", "req-li", "off-3", handoffItemAntigen, 2, false, ""), mutualaid.ReasonNotEnoughLeft)
	if !strings.Contains(r.Message, "1 left") {
		t.Errorf("rejection message %q does not say 1 left", r.Message)
	}
	wantOfferItem(t, f.post("off-3"), handoffItemAntigen, 3, 2)
	wantPostStatus(t, f.post("req-li"), linliv1.PostStatus_POST_STATUS_OPEN)

	f.phone("u-li").mustApply(proposeH("h-li-1", "req-li", "off-3", handoffItemAntigen, 1, false, ""))
	wantOfferItem(t, f.post("off-3"), handoffItemAntigen, 3, 3)
	f.phone("u-wang").mustReject(proposeH("h-wang", "req-li", "off-3", handoffItemAntigen, 1, false, ""), mutualaid.ReasonNotAllowed)

	// Both handoffs complete: the offer is used up and FULFILLED.
	for _, hid := range []string{"h-chen", "h-li-1"} {
		f.phone("u-lucy").mustApply(acceptH(hid))
	}
	f.phone("u-chen").mustApply(confirmH("h-chen"))
	off := f.post("off-3")
	wantOfferItem(t, off, handoffItemAntigen, 1, 1)
	wantPostStatus(t, off, linliv1.PostStatus_POST_STATUS_MATCHED)
	f.phone("u-li").mustApply(confirmH("h-li-1"))
	off = f.post("off-3")
	wantOfferItem(t, off, handoffItemAntigen, 0, 0)
	wantPostStatus(t, off, linliv1.PostStatus_POST_STATUS_FULFILLED)
	wantPostStatus(t, f.post("req-chen"), linliv1.PostStatus_POST_STATUS_FULFILLED)
	wantPostStatus(t, f.post("req-li"), linliv1.PostStatus_POST_STATUS_FULFILLED)

	// Too late: nothing is left.
	f.request("u-wang", "req-wang", antigenItem(1))
	r = f.phone("u-wang").mustReject(proposeH("h-late", "req-wang", "off-3", handoffItemAntigen, 1, false, ""), mutualaid.ReasonNotEnoughLeft)
	if !strings.Contains(r.Message, "None left") {
		t.Errorf("rejection message %q does not say none is left", r.Message)
	}
}

// TestHandoffCancelReleases: cancelling releases the reservation and sends
// posts back to OPEN unless another handoff is under way.
func TestHandoffCancelReleases(t *testing.T) {
	t.Parallel()
	f := newHandoffFixture(t)
	f.offer("u-lucy", "off", antigenItem(3), meilinItem(1))
	f.request("u-chen", "req-chen", antigenItem(2))
	f.request("u-li", "req-li", antigenItem(1))

	f.phone("u-chen").mustApply(proposeH("h-1", "req-chen", "off", handoffItemAntigen, 2, false, ""))
	f.phone("u-li").mustApply(proposeH("h-2", "req-li", "off", handoffItemAntigen, 1, false, ""))
	wantOfferItem(t, f.post("off"), handoffItemAntigen, 3, 3)

	f.clk.Advance(time.Minute)
	f.phone("u-lucy").mustApply(cancelH("h-1", "家里孩子也发烧了，抱歉"))
	h := f.handoff("h-1")
	wantHandoffState(t, h, linliv1.HandoffState_HANDOFF_STATE_CANCELLED)
	last := h.GetHistory()[len(h.GetHistory())-1]
	if h.GetCancelReason() != "家里孩子也发烧了，抱歉" || last.GetByUserId() != "u-lucy" || last.GetNote() != h.GetCancelReason() ||
		!last.GetAt().AsTime().Equal(night.Add(time.Minute)) {
		t.Errorf("cancelled handoff: reason %q, last event %v", h.GetCancelReason(), last)
	}
	off := f.post("off")
	wantOfferItem(t, off, handoffItemAntigen, 3, 1)
	wantPostStatus(t, off, linliv1.PostStatus_POST_STATUS_MATCHED) // h-2 is still under way
	wantPostStatus(t, f.post("req-chen"), linliv1.PostStatus_POST_STATUS_OPEN)

	// The released tests can be had again.
	f.phone("u-chen").mustApply(proposeH("h-3", "req-chen", "off", handoffItemAntigen, 2, false, ""))
	f.phone("u-chen").mustApply(cancelH("h-3", ""))
	f.phone("u-zhao").mustApply(cancelH("h-2", "staff: duplicate"))
	off = f.post("off")
	wantOfferItem(t, off, handoffItemAntigen, 3, 0)
	wantPostStatus(t, off, linliv1.PostStatus_POST_STATUS_OPEN)
	wantPostStatus(t, f.post("req-li"), linliv1.PostStatus_POST_STATUS_OPEN)

	// An open offer can be edited again once nothing is reserved.
	f.phone("u-lucy").mustApply(editMutation("off", handoffDraft(f.members["u-lucy"], "还剩三份", antigenItem(3))))

	// A courier may cancel too; a request that already received one handoff
	// is FULFILLED once its other one is cancelled.
	f.request("u-wang", "req-wang", antigenItem(1), meilinItem(1))
	f.offer("u-chen", "off-chen", meilinItem(1))
	f.phone("u-wang").mustApply(proposeH("h-a", "req-wang", "off", handoffItemAntigen, 1, false, ""))
	f.phone("u-wang").mustApply(proposeH("h-b", "req-wang", "off-chen", handoffItemMeilin, 1, true, ""))
	f.phone("u-lucy").mustApply(acceptH("h-a"))
	f.phone("u-wang").mustApply(confirmH("h-a"))
	wantPostStatus(t, f.post("req-wang"), linliv1.PostStatus_POST_STATUS_MATCHED)
	f.phone("u-chen").mustApply(acceptH("h-b"))
	f.phone("u-zhang").mustApply(claimH("h-b"))
	f.phone("u-zhang").mustApply(cancelH("h-b", "没找到"))
	wantPostStatus(t, f.post("req-wang"), linliv1.PostStatus_POST_STATUS_FULFILLED)
	wantOfferItem(t, f.post("off-chen"), handoffItemMeilin, 1, 0)
	wantPostStatus(t, f.post("off-chen"), linliv1.PostStatus_POST_STATUS_OPEN)
	if f.scopeHandoff(boardBldg3, "h-b") != nil {
		t.Errorf("a cancelled handoff is still on the volunteers' board")
	}
}

// handoffAt creates handoff "h" (王芳 receives 1 美林 from Lucy, proposed by
// 王芳, courier wanted, drop point the 15th-floor windowsill) and moves it
// to state.
func handoffAt(f *handoffFixture, state linliv1.HandoffState) *linliv1.Handoff {
	f.t.Helper()
	f.request("u-wang", "req", meilinItem(1))
	f.offer("u-lucy", "off", meilinItem(1))
	f.phone("u-wang").mustApply(proposeH("h", "req", "off", handoffItemMeilin, 1, true, windowsill15))
	steps := []struct {
		to   linliv1.HandoffState
		user string
		m    func() *linliv1.Mutation
	}{
		{linliv1.HandoffState_HANDOFF_STATE_ACCEPTED, "u-lucy", func() *linliv1.Mutation { return acceptH("h") }},
		{linliv1.HandoffState_HANDOFF_STATE_PICKED_UP, "u-zhang", func() *linliv1.Mutation { return pickUpH("h", f.handoff("h").GetPickupCode()) }},
		{linliv1.HandoffState_HANDOFF_STATE_DROPPED_OFF, "u-zhang", func() *linliv1.Mutation { return dropOffH("h", "") }},
		{linliv1.HandoffState_HANDOFF_STATE_RECEIVED, "u-wang", func() *linliv1.Mutation { return confirmH("h") }},
	}
	if state == linliv1.HandoffState_HANDOFF_STATE_CANCELLED {
		f.phone("u-wang").mustApply(cancelH("h", ""))
		return f.handoff("h")
	}
	for _, s := range steps {
		if state < s.to {
			break
		}
		if s.to == linliv1.HandoffState_HANDOFF_STATE_PICKED_UP {
			f.phone("u-zhang").mustApply(claimH("h"))
		}
		f.phone(s.user).mustApply(s.m())
	}
	return f.handoff("h")
}

// TestHandoffIllegalTransitions: every move from the wrong state, or by the
// wrong person, is rejected and changes nothing.
func TestHandoffIllegalTransitions(t *testing.T) {
	t.Parallel()
	const (
		proposed   = linliv1.HandoffState_HANDOFF_STATE_PROPOSED
		accepted   = linliv1.HandoffState_HANDOFF_STATE_ACCEPTED
		pickedUp   = linliv1.HandoffState_HANDOFF_STATE_PICKED_UP
		droppedOff = linliv1.HandoffState_HANDOFF_STATE_DROPPED_OFF
		received   = linliv1.HandoffState_HANDOFF_STATE_RECEIVED
		cancelled  = linliv1.HandoffState_HANDOFF_STATE_CANCELLED
	)
	for _, tc := range []struct {
		name   string
		state  linliv1.HandoffState
		user   string
		m      *linliv1.Mutation
		reason string
	}{
		{"AcceptByProposer", proposed, "u-wang", acceptH("h"), mutualaid.ReasonNotAllowed},
		{"AcceptByStranger", proposed, "u-chen", acceptH("h"), mutualaid.ReasonNotAllowed},
		{"AcceptByVolunteer", proposed, "u-zhang", acceptH("h"), mutualaid.ReasonNotAllowed},
		{"AcceptTwice", accepted, "u-lucy", acceptH("h"), mutualaid.ReasonBadState},
		{"AcceptCancelled", cancelled, "u-lucy", acceptH("h"), mutualaid.ReasonBadState},
		{"ClaimProposed", proposed, "u-zhang", claimH("h"), mutualaid.ReasonBadState},
		{"ClaimByResident", accepted, "u-chen", claimH("h"), mutualaid.ReasonNotAVolunteerHere},
		{"ClaimByVolunteerOfAnotherBuilding", accepted, "u-liu", claimH("h"), mutualaid.ReasonNotAVolunteerHere},
		{"ClaimTaken", pickedUp, "u-wu", claimH("h"), mutualaid.ReasonCourierTaken},
		{"ClaimReceived", received, "u-wu", claimH("h"), mutualaid.ReasonCourierTaken},
		{"PickUpProposed", proposed, "u-lucy", pickUpH("h", ""), mutualaid.ReasonBadState},
		{"PickUpByReceiver", accepted, "u-wang", pickUpH("h", ""), mutualaid.ReasonNotAllowed},
		{"PickUpByUnclaimedVolunteer", accepted, "u-wu", pickUpH("h", "000000"), mutualaid.ReasonNotAllowed},
		{"PickUpTwice", pickedUp, "u-lucy", pickUpH("h", ""), mutualaid.ReasonBadState},
		{"DropOffProposed", proposed, "u-lucy", dropOffH("h", ""), mutualaid.ReasonBadState},
		{"DropOffByReceiver", pickedUp, "u-wang", dropOffH("h", ""), mutualaid.ReasonNotAllowed},
		{"DropOffUnknownPoint", pickedUp, "u-zhang", dropOffH("h", "单元门口快递柜旁"), mutualaid.ReasonDropPointUnknown},
		{"DropOffTwice", droppedOff, "u-zhang", dropOffH("h", ""), mutualaid.ReasonBadState},
		{"ConfirmByGiver", droppedOff, "u-lucy", confirmH("h"), mutualaid.ReasonNotAllowed},
		{"ConfirmByCourier", droppedOff, "u-zhang", confirmH("h"), mutualaid.ReasonNotAllowed},
		{"ConfirmProposed", proposed, "u-wang", confirmH("h"), mutualaid.ReasonBadState},
		{"ConfirmTwice", received, "u-wang", confirmH("h"), mutualaid.ReasonBadState},
		{"ConfirmCancelled", cancelled, "u-wang", confirmH("h"), mutualaid.ReasonBadState},
		{"CancelReceived", received, "u-lucy", cancelH("h", ""), mutualaid.ReasonBadState},
		{"CancelTwice", cancelled, "u-lucy", cancelH("h", ""), mutualaid.ReasonBadState},
		{"CancelByStranger", accepted, "u-chen", cancelH("h", ""), mutualaid.ReasonNotAllowed},
		{"CancelByUnclaimedVolunteer", accepted, "u-wu", cancelH("h", ""), mutualaid.ReasonNotAllowed},
		{"UnknownHandoff", accepted, "u-lucy", acceptH("h-none"), mutualaid.ReasonHandoffNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newHandoffFixture(t)
			before := handoffAt(f, tc.state)
			off := f.post("off")
			f.phone(tc.user).mustReject(tc.m, tc.reason)
			after := f.handoff("h")
			if after.GetState() != before.GetState() || len(after.GetHistory()) != len(before.GetHistory()) || after.GetCourierId() != before.GetCourierId() {
				t.Errorf("a rejected move changed the handoff: before %v, after %v", before, after)
			}
			if got := f.post("off"); offerItem(t, got, handoffItemMeilin).GetReserved() != offerItem(t, off, handoffItemMeilin).GetReserved() {
				t.Errorf("a rejected move changed the reservation")
			}
		})
	}
	t.Run("NoCourierNoDropPoint", func(t *testing.T) {
		t.Parallel()
		f := newHandoffFixture(t)
		f.request("u-wang", "req", meilinItem(1))
		f.offer("u-lucy", "off", meilinItem(1))
		f.phone("u-wang").mustApply(proposeH("h", "req", "off", handoffItemMeilin, 1, false, ""))
		f.phone("u-lucy").mustApply(acceptH("h"))
		f.phone("u-zhang").mustReject(claimH("h"), mutualaid.ReasonNoCourierNeeded)
		f.phone("u-lucy").mustReject(dropOffH("h", ""), mutualaid.ReasonDropPointRequired)
		f.phone("u-lucy").mustApply(dropOffH("h", "1楼大门把手"))
	})
	t.Run("OtherCommunityCannotReach", func(t *testing.T) {
		t.Parallel()
		f := newHandoffFixture(t)
		handoffAt(f, accepted)
		sun := &handset{t: t, store: f.store, member: mutualaid.Member{UserID: "u-sun", CommunityID: "beiyuan", Role: mutualaid.RoleResident}, client: "phone-1"}
		sun.mustReject(cancelH("h", ""), mutualaid.ReasonHandoffNotFound)
		admin := &handset{t: t, store: f.store, member: mutualaid.Member{UserID: "u-admin", CommunityID: "beiyuan", Role: mutualaid.RoleStaff}, client: "phone-1"}
		admin.mustReject(confirmH("h"), mutualaid.ReasonHandoffNotFound)
	})
}

// TestHandoffOtherPaths: the legal shortcuts.
func TestHandoffOtherPaths(t *testing.T) {
	t.Parallel()
	t.Run("GiverDropsOffThemselves", func(t *testing.T) {
		t.Parallel()
		f := newHandoffFixture(t)
		handoffAt(f, linliv1.HandoffState_HANDOFF_STATE_ACCEPTED)
		f.phone("u-lucy").mustApply(dropOffH("h", "11楼窗台"))
		h := f.handoff("h")
		wantHandoffState(t, h, linliv1.HandoffState_HANDOFF_STATE_DROPPED_OFF)
		if h.GetDropPoint() != "11楼窗台" {
			t.Errorf("drop point: got %q, want 11楼窗台", h.GetDropPoint())
		}
		if f.scopeHandoff(boardBldg3, "h") != nil {
			t.Errorf("a handoff the giver delivered is on the volunteers' board")
		}
		f.phone("u-wang").mustApply(confirmH("h"))
	})
	t.Run("GiverPicksUpWithoutCode", func(t *testing.T) {
		t.Parallel()
		f := newHandoffFixture(t)
		handoffAt(f, linliv1.HandoffState_HANDOFF_STATE_ACCEPTED)
		f.phone("u-lucy").mustApply(pickUpH("h", ""))
		f.phone("u-lucy").mustApply(dropOffH("h", ""))
		f.phone("u-zhao").mustApply(confirmH("h")) // staff confirm for a resident
		wantPostStatus(t, f.post("req"), linliv1.PostStatus_POST_STATUS_FULFILLED)
		wantPostStatus(t, f.post("off"), linliv1.PostStatus_POST_STATUS_FULFILLED)
	})
	t.Run("ReceiverConfirmsOnAcceptance", func(t *testing.T) {
		t.Parallel()
		f := newHandoffFixture(t)
		handoffAt(f, linliv1.HandoffState_HANDOFF_STATE_ACCEPTED)
		f.phone("u-wang").mustApply(confirmH("h")) // Lucy knocked on the door
		wantOfferItem(t, f.post("off"), handoffItemMeilin, 0, 0)
	})
	t.Run("StaffAcceptsForAResident", func(t *testing.T) {
		t.Parallel()
		f := newHandoffFixture(t)
		handoffAt(f, linliv1.HandoffState_HANDOFF_STATE_PROPOSED)
		f.phone("u-zhao").mustApply(acceptH("h"))
	})
	t.Run("GiverProposesReceiverAccepts", func(t *testing.T) {
		t.Parallel()
		f := newHandoffFixture(t)
		f.request("u-wang", "req", meilinItem(1))
		f.offer("u-lucy", "off", meilinItem(1))
		f.phone("u-lucy").mustApply(proposeH("h", "req", "off", handoffItemMeilin, 1, false, ""))
		f.phone("u-lucy").mustReject(acceptH("h"), mutualaid.ReasonNotAllowed)
		f.phone("u-wang").mustApply(acceptH("h"))
	})
	t.Run("VolunteerProposesEitherSideAccepts", func(t *testing.T) {
		t.Parallel()
		f := newHandoffFixture(t)
		f.request("u-wang", "req", meilinItem(1))
		f.offer("u-lucy", "off", meilinItem(1))
		f.phone("u-zhang").mustApply(proposeH("h", "req", "off", handoffItemMeilin, 1, true, ""))
		f.phone("u-zhang").mustReject(acceptH("h"), mutualaid.ReasonNotAllowed)
		f.phone("u-wang").mustApply(acceptH("h"))
		if v := f.scopeHandoff(mutualaid.UserScope("u-zhang"), "h"); v == nil || v.GetPickupCode() != "" || v.GetReceiverUnit() != "" {
			t.Errorf("the proposing volunteer's view: got %v, want the handoff without code or contact", v)
		}
	})
}

// TestHandoffWrongPickupCode: the courier must give the right code.
func TestHandoffWrongPickupCode(t *testing.T) {
	t.Parallel()
	f := newHandoffFixture(t)
	h := handoffAt(f, linliv1.HandoffState_HANDOFF_STATE_ACCEPTED)
	zhang := f.phone("u-zhang")
	zhang.mustApply(claimH("h"))
	wrong := "000000"
	if h.GetPickupCode() == wrong {
		wrong = "111111"
	}
	r := zhang.mustReject(pickUpH("h", wrong), mutualaid.ReasonWrongPickupCode)
	if strings.Contains(r.Message, h.GetPickupCode()) {
		t.Errorf("the rejection gives the code away: %q", r.Message)
	}
	zhang.mustReject(pickUpH("h", ""), mutualaid.ReasonWrongPickupCode)
	wantHandoffState(t, f.handoff("h"), linliv1.HandoffState_HANDOFF_STATE_ACCEPTED)
	zhang.mustApply(pickUpH("h", h.GetPickupCode()))
	wantHandoffState(t, f.handoff("h"), linliv1.HandoffState_HANDOFF_STATE_PICKED_UP)
}

// FuzzHandoffMutation: no input panics; a handoff mutation is either
// refused with an Invalid *Error or built.
func FuzzHandoffMutation(f *testing.F) {
	f.Add("h-2340", "req-2340", "offer-lucy", handoffItemMeilin, int32(1), windowsill15, "123456", "")
	f.Add("", "", "", "", int32(0), "", "", "")
	f.Add("h/1", "r", "o", "X", int32(-1), "\x00", "12a456", "\xff")
	f.Fuzz(func(t *testing.T, hid, req, off, code string, q int32, point, pickup, reason string) {
		for _, m := range []*linliv1.Mutation{
			proposeH(hid, req, off, code, q, true, point), acceptH(hid), claimH(hid), pickUpH(hid, pickup),
			dropOffH(hid, point), confirmH(hid), cancelH(hid, reason),
			acceptSM(&linliv1.AcceptSuggestionMutation{HandoffId: hid, RequestPostId: req, OfferPostId: off, ItemCode: code, Quantity: q, DropPoint: point}),
		} {
			m.Id = 1
			mut, handled, err := mutualaid.HandoffMutation(wang, m)
			if !handled {
				t.Fatalf("%s not handled", mutationKind(m))
			}
			if err != nil {
				if mutualaid.ErrorCode(err) != mutualaid.Invalid {
					t.Fatalf("%s: got %v, want an Invalid *Error", mutationKind(m), err)
				}
				continue
			}
			if mut.Apply == nil || mut.ID != 1 {
				t.Fatalf("%s: built %+v", mutationKind(m), mut)
			}
		}
	})
}

// TestHandoffTooMany: a post takes at most 50 handoffs under way.
func TestHandoffTooMany(t *testing.T) {
	t.Parallel()
	f := newHandoffFixture(t)
	f.request("u-wang", "req", antigenItem(1))
	f.offer("u-lucy", "off", antigenItem(1000))
	for i := range 50 {
		f.phone("u-wang").mustApply(proposeH(fmt.Sprintf("h-%d", i), "req", "off", handoffItemAntigen, 1, false, ""))
	}
	f.phone("u-wang").mustReject(proposeH("h-50", "req", "off", handoffItemAntigen, 1, false, ""), mutualaid.ReasonTooManyHandoffs)
	f.phone("u-wang").mustApply(cancelH("h-0", ""))
	f.phone("u-wang").mustApply(proposeH("h-50", "req", "off", handoffItemAntigen, 1, false, ""))
	wantOfferItem(t, f.post("off"), handoffItemAntigen, 1000, 50)
}
