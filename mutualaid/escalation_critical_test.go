package mutualaid_test

import (
	"testing"
	"time"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// TestCriticalNotHeldByUnansweredProposal: the surge simulation found that
// a critical request (here an emergency, made critical by triage) whose
// only handoff is a proposal nobody has accepted is not forwarded at its
// deadline: it is queued for staff, and staff cannot forward it either
// (handoff_in_progress) until the proposal is cancelled. A resident who
// keeps proposing to the next suggested neighbour at night, when nobody
// answers, keeps an emergency from the hotline for hours (six in the
// default scenario, seed 1, request n0176). The operations guide says
// critical requests are forwarded at their deadline without waiting for
// staff; design.md says emergencies are not left waiting for neighbours.
//
// Whether to forward anyway (leaving the proposal live, or cancelling it
// and releasing its reservation) is the domain's decision, so this test
// is skipped until it is made; remove the Skip to see it fail.
func TestCriticalNotHeldByUnansweredProposal(t *testing.T) {
	t.Parallel()
	t.Skip("known: a proposal nobody accepted holds a critical request from the hotline (see the doc comment); decision pending")
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
	if hc := p.GetEscalation().GetHotlineCase(); hc == nil || !hc.GetAutoForwarded() {
		t.Errorf("critical request past its deadline with only an unanswered proposal: status %v, case %v; want forwarded by policy",
			p.GetStatus(), hc)
	}
}
