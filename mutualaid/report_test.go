package mutualaid_test

import (
	"context"
	"testing"
	"time"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

func TestReport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newHandoffFixture(t)
	rig := f.hotline(4 * time.Hour)
	zhao := actor(f.members["u-zhao"])

	f.phone("u-li").mustApply(feverRequestBy(f, "u-li", "req-old")) // before the period
	f.clk.Advance(time.Hour)
	from := f.clk.Now()

	// 王芳's request is met by Lucy within the hour.
	f.phone("u-wang").mustApply(feverRequestBy(f, "u-wang", "req-a"))
	f.offer("u-lucy", "offer-1", meilinItem(1))
	f.phone("u-wang").mustApply(proposeH("h-1", "req-a", "offer-1", handoffItemMeilin, 1, false, "15楼电梯口窗台"))
	f.phone("u-lucy").mustApply(acceptH("h-1"))
	f.clk.Advance(40 * time.Minute)
	f.phone("u-lucy").mustApply(dropOffH("h-1", "15楼电梯口窗台"))
	f.phone("u-wang").mustApply(confirmH("h-1"))

	// 陈静's and 李娜's requests find nobody and go to the hotline.
	f.phone("u-chen").mustApply(feverRequestBy(f, "u-chen", "req-b"))
	f.phone("u-li").mustApply(feverRequestBy(f, "u-li", "req-c"))
	f.clk.Advance(2 * time.Hour)
	f.escalate(3) // req-old, req-b, req-c
	for _, id := range []string{"req-b", "req-c"} {
		if _, _, err := f.svc.Forward(ctx, zhao, mutualaid.ForwardInput{PostID: id}); err != nil {
			t.Fatal(err)
		}
	}
	rig.pass(t)
	f.clk.Advance(4 * time.Hour)
	rig.pass(t)
	to := f.clk.Now().Add(time.Hour)

	report := func() *linliv1.Report {
		t.Helper()
		r, err := f.svc.Report(ctx, mutualaid.Operator, "yuqiao", from, to)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := report()
	if r.GetRequests() != 3 || r.GetMetByNeighbours() != 1 || r.GetOverdue() != 2 || r.GetEscalated() != 2 || r.GetClosed() != 2 || r.GetRated() != 0 {
		t.Fatalf("report before ratings: %v", r)
	}
	if r.GetResolutionRate() != 0 || r.GetSatisfactionRate() != 0 {
		t.Errorf("rates with nothing rated: %v %v, want 0", r.GetResolutionRate(), r.GetSatisfactionRate())
	}
	// Times to help: 40 min (neighbour), 6 h and 6 h (hotline): median 6 h.
	if got := r.GetMedianTimeToHelp().AsDuration(); got != 6*time.Hour {
		t.Errorf("median time to help = %v, want 6h", got)
	}
	if len(r.GetUnmetByCategory()) != 1 || r.GetUnmetByCategory()[0].GetKey() != "fever_reducer" || r.GetUnmetByCategory()[0].GetCount() != 2 {
		t.Errorf("unmet by category = %v", r.GetUnmetByCategory())
	}
	if len(r.GetUnmetByBuilding()) != 1 || r.GetUnmetByBuilding()[0].GetKey() != "bldg-3" {
		t.Errorf("unmet by building = %v", r.GetUnmetByBuilding())
	}

	f.phone("u-chen").mustApply(rateM("req-b", true, linliv1.Satisfaction_SATISFACTION_SATISFIED))
	f.phone("u-li").mustApply(rateM("req-c", false, linliv1.Satisfaction_SATISFACTION_UNSATISFIED))
	r = report()
	if r.GetRated() != 2 || r.GetSolved() != 1 || r.GetResolutionRate() != 0.5 || r.GetSatisfactionRate() != 0.5 {
		t.Errorf("after ratings: rated %d solved %d rates %v %v; want 2, 1, 0.5, 0.5", r.GetRated(), r.GetSolved(), r.GetResolutionRate(), r.GetSatisfactionRate())
	}
	f.phone("u-li").mustApply(rateM("req-c", true, linliv1.Satisfaction_SATISFACTION_BASICALLY_SATISFIED))
	if r = report(); r.GetResolutionRate() != 1 || r.GetSatisfactionRate() != 1 {
		t.Errorf("after re-rating: rates %v %v, want 1, 1", r.GetResolutionRate(), r.GetSatisfactionRate())
	}
	_, err := f.svc.Report(ctx, mutualaid.Operator, "yuqiao", to, from)
	wantError(t, err, mutualaid.Invalid, "period_invalid")
}

// feverRequestBy is a fever reducer request by user, from their building.
func feverRequestBy(f *handoffFixture, user, postID string) *linliv1.Mutation {
	d := handoffDraft(f.members[user], "孩子发烧，急需退烧药", meilinItem(1))
	d.Items[0].ExpiryDate = ""
	return &linliv1.Mutation{Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{PostId: postID, Draft: d}}}
}

// TestReportUnmetNeeds: unmet needs count every category of a request's
// items, and leave out a request that went overdue but that neighbours met
// after all.
func TestReportUnmetNeeds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newHandoffFixture(t)
	from := f.clk.Now()
	f.request("u-chen", "req-both", meilinItem(1), antigenItem(2))
	f.request("u-wang", "req-met", meilinItem(1))
	f.clk.Advance(2 * time.Hour)
	f.escalate(2)
	f.offer("u-lucy", "offer-1", meilinItem(1))
	f.phone("u-wang").mustApply(proposeH("h-1", "req-met", "offer-1", handoffItemMeilin, 1, false, "15楼电梯口窗台"))
	f.phone("u-lucy").mustApply(acceptH("h-1"))
	f.phone("u-lucy").mustApply(dropOffH("h-1", "15楼电梯口窗台"))
	f.phone("u-wang").mustApply(confirmH("h-1"))

	r, err := f.svc.Report(ctx, mutualaid.Operator, "yuqiao", from, f.clk.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if r.GetOverdue() != 2 || r.GetMetByNeighbours() != 1 {
		t.Errorf("overdue %d, met %d; want 2, 1", r.GetOverdue(), r.GetMetByNeighbours())
	}
	got := map[string]uint32{}
	for _, n := range r.GetUnmetByCategory() {
		got[n.GetKey()] = n.GetCount()
	}
	if len(got) != 2 || got["fever_reducer"] != 1 || got["antigen_test"] != 1 {
		t.Errorf("unmet by category = %v, want fever_reducer 1 and antigen_test 1 (req-both only)", got)
	}
	if b := r.GetUnmetByBuilding(); len(b) != 1 || b[0].GetCount() != 1 {
		t.Errorf("unmet by building = %v, want one request", b)
	}
	_, err = f.svc.Report(ctx, mutualaid.Operator, "nowhere", from, f.clk.Now())
	wantError(t, err, mutualaid.NotFound, "community_not_found")
}
