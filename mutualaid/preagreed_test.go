package mutualaid_test

import (
	"fmt"
	gosync "sync"
	"testing"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// preAgreedOffer posts an offer by user that pre wants taken without asking.
func (f *handoffFixture) preAgreedOffer(user, postID string, pre linliv1.PreAgreement, items ...*linliv1.PostItem) {
	f.t.Helper()
	d := handoffDraft(f.members[user], "放在电梯口窗台，需要的邻居直接拿", items...)
	d.Urgency, d.PreAgreed = linliv1.Urgency_URGENCY_ROUTINE, pre
	f.phone(user).mustApply(&linliv1.Mutation{Kind: &linliv1.Mutation_PostOffer{PostOffer: &linliv1.PostOfferMutation{PostId: postID, Draft: d}}})
}

// TestPreAgreedLastBoxRace: Lucy leaves her last box of antigen tests on
// the windowsill for anyone in building 3 to take without asking. 陈静 and
// 李娜 take it at the same moment, one with accept_suggestion, the other
// with propose_handoff. Exactly one gets it, and her handoff is ACCEPTED at
// once (both sides see each other's unit, as after an acceptance); the
// other is rejected not_enough_left and leaves no trace.
func TestPreAgreedLastBoxRace(t *testing.T) {
	t.Parallel()
	f := newHandoffFixture(t)
	chen, li := f.phone("u-chen"), f.phone("u-li")
	const rounds = 8
	for round := range rounds {
		off, reqChen, reqLi := fmt.Sprintf("off-%d", round), fmt.Sprintf("req-chen-%d", round), fmt.Sprintf("req-li-%d", round)
		f.preAgreedOffer("u-lucy", off, linliv1.PreAgreement_PRE_AGREEMENT_BUILDING, antigenItem(1))
		f.request("u-chen", reqChen, antigenItem(1))
		f.request("u-li", reqLi, antigenItem(1))
		contenders := []struct {
			p        *handset
			hid, req string
			m        *linliv1.Mutation
		}{
			{chen, "h-chen-" + off, reqChen, acceptSM(acceptS("h-chen-"+off, reqChen, off))},
			{li, "h-li-" + off, reqLi, proposeH("h-li-"+off, reqLi, off, handoffItemAntigen, 1, false, windowsill15)},
		}
		if round%2 == 1 {
			contenders[0].m = proposeH(contenders[0].hid, reqChen, off, handoffItemAntigen, 1, false, "")
			contenders[1].m = acceptSM(acceptS(contenders[1].hid, reqLi, off))
		}
		results := make([]linlisync.Result, len(contenders))
		errs := make([]error, len(contenders))
		start := make(chan struct{})
		var wg gosync.WaitGroup
		for i, c := range contenders {
			wg.Go(func() {
				<-start
				results[i], errs[i] = c.p.send(c.m)
			})
		}
		close(start)
		wg.Wait()

		winner, loser := -1, -1
		for i, r := range results {
			switch {
			case errs[i] != nil:
				t.Fatalf("round %d, %s: %v", round, contenders[i].p.member.UserID, errs[i])
			case r.Status == linlisync.StatusApplied && winner < 0:
				winner = i
			case r.Status == linlisync.StatusApplied:
				t.Fatalf("round %d: both took the last box", round)
			case r.Status == linlisync.StatusRejected && r.Reason == mutualaid.ReasonNotEnoughLeft:
				loser = i
			default:
				t.Fatalf("round %d, %s: got status %d (%s: %s)", round, contenders[i].p.member.UserID, r.Status, r.Reason, r.Message)
			}
		}
		if winner < 0 || loser < 0 {
			t.Fatalf("round %d: got %+v, want one applied and one rejected", round, results)
		}
		h := f.handoff(contenders[winner].hid)
		wantHandoffState(t, h, linliv1.HandoffState_HANDOFF_STATE_ACCEPTED)
		if h.GetGiverUnit() != "1103" || h.GetReceiverUnit() != f.members[contenders[winner].p.member.UserID].GetUnit() {
			t.Errorf("round %d: accepted without asking, but units not shared: giver %q receiver %q", round, h.GetGiverUnit(), h.GetReceiverUnit())
		}
		if evs := h.GetHistory(); len(evs) != 2 || evs[1].GetByUserId() != "u-lucy" || evs[1].GetAction() != linliv1.HandoffAction_HANDOFF_ACTION_ACCEPT {
			t.Errorf("round %d: events %v, want a proposal and Lucy's acceptance", round, evs)
		}
		wantOfferItem(t, f.post(off), handoffItemAntigen, 1, 1)
		if _, ok, _ := f.store.Get(mutualaid.HandoffEntityID("yuqiao", contenders[loser].hid)); ok {
			t.Errorf("round %d: the rejected taker has a handoff", round)
		}
		wantPostStatus(t, f.post(contenders[loser].req), linliv1.PostStatus_POST_STATUS_OPEN)
	}
}

// TestPreAgreedWho: a building pre-agreement admits requests of the offer's
// building only; a community one, any request of the community; the giver
// proposing her own offer still waits for the receiver; a request cannot
// be pre-agreed.
func TestPreAgreedWho(t *testing.T) {
	t.Parallel()
	f := newHandoffFixture(t)
	// 刘洋 lives in building 5, the others in building 3.
	f.preAgreedOffer("u-lucy", "off-bldg", linliv1.PreAgreement_PRE_AGREEMENT_BUILDING, antigenItem(5))
	f.preAgreedOffer("u-lucy", "off-all", linliv1.PreAgreement_PRE_AGREEMENT_COMMUNITY, antigenItem(5))
	f.offer("u-lucy", "off-ask", antigenItem(5))
	f.request("u-liu", "req-5", antigenItem(1))
	f.request("u-chen", "req-3", antigenItem(1))

	for _, tc := range []struct {
		hid, by, req, off string
		want              linliv1.HandoffState
	}{
		{"h-1", "u-chen", "req-3", "off-bldg", linliv1.HandoffState_HANDOFF_STATE_ACCEPTED},
		{"h-2", "u-liu", "req-5", "off-bldg", linliv1.HandoffState_HANDOFF_STATE_PROPOSED},
		{"h-3", "u-liu", "req-5", "off-all", linliv1.HandoffState_HANDOFF_STATE_ACCEPTED},
		{"h-4", "u-chen", "req-3", "off-ask", linliv1.HandoffState_HANDOFF_STATE_PROPOSED},
		{"h-5", "u-lucy", "req-3", "off-all", linliv1.HandoffState_HANDOFF_STATE_PROPOSED},
	} {
		f.phone(tc.by).mustApply(acceptSM(acceptS(tc.hid, tc.req, tc.off)))
		if h := f.handoff(tc.hid); h.GetState() != tc.want {
			t.Errorf("%s by %s, %s × %s: state %v, want %v", tc.hid, tc.by, tc.req, tc.off, h.GetState(), tc.want)
		}
	}
	if got := f.post("off-bldg").GetPreAgreed(); got != linliv1.PreAgreement_PRE_AGREEMENT_BUILDING {
		t.Errorf("stored offer: pre_agreed %v", got)
	}

	d := handoffDraft(f.members["u-wang"], "孩子发烧", antigenItem(1))
	d.PreAgreed = linliv1.PreAgreement_PRE_AGREEMENT_COMMUNITY
	f.phone("u-wang").mustApply(&linliv1.Mutation{Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{PostId: "req-w", Draft: d}}})
	if got := f.post("req-w").GetPreAgreed(); got != linliv1.PreAgreement_PRE_AGREEMENT_UNSPECIFIED {
		t.Errorf("a request stored pre_agreed %v", got)
	}
}
