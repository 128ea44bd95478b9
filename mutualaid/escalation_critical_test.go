package mutualaid_test

import (
	"context"
	"testing"
	"time"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// TestUnansweredProposalsDoNotHoldRequests: a proposal nobody accepted
// does not keep a request from the hotline. The surge simulation found a
// resident who kept proposing to the next suggested neighbour at night,
// when nobody answered, holding an emergency from the hotline for hours.
// Forwarding (by policy at a critical request's deadline, or by staff)
// withdraws such proposals, recording why, and releases what they
// reserved; a handoff a neighbour has accepted still holds the request.
func TestUnansweredProposalsDoNotHoldRequests(t *testing.T) {
	t.Parallel()
	t.Run("ByPolicy", func(t *testing.T) {
		f := newHandoffFixture(t)
		wang := f.phone("u-wang")
		wang.mustApply(emergencyRequest("req-1"))
		f.offer("u-lucy", "offer-1", meilinItem(1))
		wang.mustApply(proposeH("h-1", "req-1", "offer-1", handoffItemMeilin, 1, false, "15楼电梯口窗台"))
		f.clk.Advance(30 * time.Minute) // Lucy is asleep: the proposal waits
		f.escalate(1)
		p := f.post("req-1")
		if p.GetUrgency() != linliv1.Urgency_URGENCY_CRITICAL {
			t.Fatalf("urgency %v, want critical", p.GetUrgency())
		}
		if hc := p.GetEscalation().GetHotlineCase(); p.GetStatus() != linliv1.PostStatus_POST_STATUS_ESCALATED || !hc.GetAutoForwarded() {
			t.Errorf("critical request past its deadline with only an unanswered proposal: status %v, case %v; want forwarded by policy",
				p.GetStatus(), hc)
		}
		if it := f.queueItem("req-1"); it.GetState() != linliv1.QueueState_QUEUE_STATE_FORWARDED {
			t.Errorf("queue item %v, want forwarded", it)
		}
		wantWithdrawn(t, f, "h-1", "")
	})
	t.Run("ByStaff", func(t *testing.T) {
		f := newHandoffFixture(t)
		wang := f.phone("u-wang")
		wang.mustApply(feverRequest("req-1"))
		f.offer("u-lucy", "offer-1", meilinItem(1))
		wang.mustApply(proposeH("h-1", "req-1", "offer-1", handoffItemMeilin, 1, false, "15楼电梯口窗台"))
		if _, _, err := f.svc.Forward(context.Background(), actor(f.members["u-zhao"]), mutualaid.ForwardInput{PostID: "req-1"}); err != nil {
			t.Fatalf("staff forwarding a request held only by a proposal: %v", err)
		}
		if p := f.post("req-1"); p.GetStatus() != linliv1.PostStatus_POST_STATUS_ESCALATED {
			t.Errorf("status %v, want escalated", p.GetStatus())
		}
		wantWithdrawn(t, f, "h-1", "u-zhao")
	})
	t.Run("AcceptedHolds", func(t *testing.T) {
		f := newHandoffFixture(t)
		wang := f.phone("u-wang")
		wang.mustApply(emergencyRequest("req-1"))
		f.offer("u-lucy", "offer-1", meilinItem(1))
		wang.mustApply(proposeH("h-1", "req-1", "offer-1", handoffItemMeilin, 1, false, "15楼电梯口窗台"))
		f.phone("u-lucy").mustApply(acceptH("h-1")) // Lucy is on her way
		f.clk.Advance(30 * time.Minute)
		f.escalate(1)
		if p := f.post("req-1"); p.GetStatus() != linliv1.PostStatus_POST_STATUS_MATCHED || p.GetEscalation().GetHotlineCase() != nil {
			t.Errorf("request with an accepted handoff: status %v, case %v; want matched, not forwarded", p.GetStatus(), p.GetEscalation().GetHotlineCase())
		}
		_, _, err := f.svc.Forward(context.Background(), actor(f.members["u-zhao"]), mutualaid.ForwardInput{PostID: "req-1"})
		wantError(t, err, mutualaid.Conflict, "handoff_in_progress")
		if h := f.handoff("h-1"); h.GetState() != linliv1.HandoffState_HANDOFF_STATE_ACCEPTED {
			t.Errorf("accepted handoff is now %v", h.GetState())
		}
	})
}

// wantWithdrawn checks that forwarding cancelled proposal hid, recorded as
// by (empty: linli) with a reason, and gave back the offer's reservation.
func wantWithdrawn(t *testing.T, f *handoffFixture, hid, by string) {
	t.Helper()
	h := f.handoff(hid)
	last := h.GetHistory()[len(h.GetHistory())-1]
	if h.GetState() != linliv1.HandoffState_HANDOFF_STATE_CANCELLED || h.GetCancelReason() == "" || last.GetByUserId() != by {
		t.Errorf("proposal after forwarding: state %v, reason %q, by %q; want cancelled with a reason, by %q",
			h.GetState(), h.GetCancelReason(), last.GetByUserId(), by)
	}
	off := f.post("offer-1")
	if off.GetStatus() != linliv1.PostStatus_POST_STATUS_OPEN || off.GetItems()[0].GetReserved() != 0 {
		t.Errorf("offer after the withdrawal: status %v, reserved %d; want open, nothing reserved", off.GetStatus(), off.GetItems()[0].GetReserved())
	}
}
