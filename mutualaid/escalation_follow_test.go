package mutualaid_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linli/linli/internal/hotlinesim"
	"github.com/linli/linli/mutualaid"
	"github.com/linli/linli/mutualaid/hotline"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// hotlineRig is a hotline simulator on the fixture's clock, which the
// fixture's service forwards cases to.
type hotlineRig struct {
	sim *hotlinesim.Sim
	svc *mutualaid.Service
}

func (f *handoffFixture) hotline(resolveAfter time.Duration) *hotlineRig {
	return f.interceptedHotline(resolveAfter, nil)
}

// interceptedHotline is hotline with intercept in front of the simulator:
// it may answer a call itself (and return true) to misbehave.
func (f *handoffFixture) interceptedHotline(resolveAfter time.Duration, intercept func(http.ResponseWriter, *http.Request) bool) *hotlineRig {
	f.t.Helper()
	sim := &hotlinesim.Sim{ResolveAfter: resolveAfter, Now: f.clk.Now}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if intercept == nil || !intercept(w, r) {
			sim.ServeHTTP(w, r)
		}
	}))
	f.t.Cleanup(srv.Close)
	f.svc.UseHotline(mutualaid.HotlineConfig{URL: srv.URL, JurisdictionID: "yuqiao", HTTPClient: srv.Client()})
	return &hotlineRig{sim: sim, svc: f.svc}
}

func (r *hotlineRig) pass(t *testing.T) {
	t.Helper()
	if _, err := r.svc.ForwardCases(context.Background()); err != nil {
		t.Fatalf("outbox: %v", err)
	}
	if _, err := r.svc.FollowCases(context.Background()); err != nil {
		t.Fatalf("follower: %v", err)
	}
}

func TestCaseFollower(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newHandoffFixture(t)
	rig := f.hotline(6 * time.Hour)
	wang := f.phone("u-wang")
	wang.mustApply(feverRequest("req-1"))
	f.clk.Advance(2 * time.Hour)
	f.escalate(1)
	if _, _, err := f.svc.Forward(ctx, actor(f.members["u-zhao"]), mutualaid.ForwardInput{PostID: "req-1"}); err != nil {
		t.Fatal(err)
	}
	wang.mustReject(rateM("req-1", true, linliv1.Satisfaction_SATISFACTION_SATISFIED), mutualaid.ReasonCaseNotClosed)

	rig.pass(t)
	hc := f.post("req-1").GetEscalation().GetHotlineCase()
	if hc.GetState() != linliv1.CaseState_CASE_STATE_OPEN || hc.GetServiceRequestId() == "" || hc.GetAgencyResponsible() != "玉桥街道办事处" {
		t.Fatalf("after creation: case %v, want open at 玉桥街道办事处", hc)
	}
	if it := f.queueItem("req-1"); it.GetHotlineCase().GetServiceRequestId() != hc.GetServiceRequestId() {
		t.Errorf("staff queue case = %v, want the post's", it.GetHotlineCase())
	}
	community := f.entities(mutualaid.CommunityScope("yuqiao"))[mutualaid.CommunityScope("yuqiao")]
	if c := community[mutualaid.PostEntityID("yuqiao", "req-1")].GetPost().GetEscalation().GetHotlineCase(); c.GetState() != linliv1.CaseState_CASE_STATE_OPEN || c.GetStatusNotes() != "" || c.GetServiceRequestId() != "" {
		t.Errorf("neighbours see the case as %v, want only its state", c)
	}

	f.clk.Advance(6 * time.Hour)
	rig.pass(t)
	p := f.post("req-1")
	hc = p.GetEscalation().GetHotlineCase()
	if hc.GetState() != linliv1.CaseState_CASE_STATE_CLOSED || hc.GetClosedAt() == nil || !p.GetEscalation().GetFeedbackRequested() {
		t.Fatalf("after resolution: case %v, feedback requested %v", hc, p.GetEscalation().GetFeedbackRequested())
	}
	if _, followed, err := f.store.Get("idx/case/" + mutualaid.CaseKey("yuqiao", "req-1")); err != nil || followed {
		t.Errorf("a closed case is still followed (%v)", err)
	}

	f.phone("u-lucy").mustReject(rateM("req-1", true, linliv1.Satisfaction_SATISFACTION_SATISFIED), mutualaid.ReasonNotAuthor)
	wang.mustApply(rateM("req-1", true, linliv1.Satisfaction_SATISFACTION_BASICALLY_SATISFIED))
	p = f.post("req-1")
	if fb := p.GetEscalation().GetFeedback(); !fb.GetSolved() || fb.GetSatisfaction() != linliv1.Satisfaction_SATISFACTION_BASICALLY_SATISFIED || p.GetEscalation().GetFeedbackRequested() {
		t.Errorf("feedback = %v, requested %v", fb, p.GetEscalation().GetFeedbackRequested())
	}
	if p.GetEscalation().GetHotlineCase().GetState() != linliv1.CaseState_CASE_STATE_CLOSED {
		t.Error("the rating changed the hotline's status")
	}
}

// TestCaseFollowerBatches: a pass follows at most Batch cases, the next
// pass the following ones, so every case is followed however many there are;
// a case waiting on a failing hotline says why in words, not raw errors.
func TestCaseFollowerBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newHandoffFixture(t)
	rig := f.hotline(time.Hour)
	f.svc.SetFollowBatch(2)
	ids := []string{"req-1", "req-2", "req-3", "req-4", "req-5"}
	for _, id := range ids {
		f.phone("u-wang").mustApply(feverRequest(id))
		if _, _, err := f.svc.Forward(ctx, actor(f.members["u-zhao"]), mutualaid.ForwardInput{PostID: id}); err != nil {
			t.Fatal(err)
		}
	}
	rig.sim.FailNext(1)
	if _, err := rig.svc.ForwardCases(ctx); err == nil {
		t.Fatal("want the injected failure")
	}
	for range 3 {
		if _, err := rig.svc.FollowCases(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Cases go out side by side: any one of them met the injected failure.
	waiting := 0
	for _, id := range ids {
		hc := f.post(id).GetEscalation().GetHotlineCase()
		switch {
		case hc.GetState() == linliv1.CaseState_CASE_STATE_OPEN && hc.GetServiceRequestId() != "":
		case waiting == 0 && hc.GetWaitingReason() == "the hotline is unavailable (attempt 1); retrying":
			waiting++
		default:
			t.Errorf("%s after 3 passes of 2: case %v", id, hc)
		}
	}
}

func TestCaseFollowerWithoutHotline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newHandoffFixture(t)
	f.phone("u-wang").mustApply(emergencyRequest("req-1"))
	f.clk.Advance(30 * time.Minute)
	f.escalate(1)
	if n, err := f.svc.FollowCases(ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce: %d, %v", n, err)
	}
	hc := f.post("req-1").GetEscalation().GetHotlineCase()
	if hc.GetState() != linliv1.CaseState_CASE_STATE_WAITING || hc.GetWaitingReason() != mutualaid.NoHotlineReason {
		t.Errorf("case without a hotline: %v, want waiting with the reason", hc)
	}
	if n, err := f.svc.OutboxPending(ctx); err != nil || n != 1 {
		t.Errorf("outbox pending = %d, %v; want 1", n, err)
	}
}

// TestCaseFollowerMalformedStatus: a hotline answering status queries with
// garbage leaves cases as they were and reports the error; it never crashes.
func TestCaseFollowerMalformedStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newHandoffFixture(t)
	var garbage atomic.Value
	garbage.Store("")
	rig := f.interceptedHotline(time.Minute, func(w http.ResponseWriter, r *http.Request) bool {
		g := garbage.Load().(string)
		if g == "" || r.Method != http.MethodGet || r.URL.Path != "/requests.json" || !r.URL.Query().Has("service_request_id") {
			return false
		}
		_, _ = io.WriteString(w, g)
		return true
	})
	ob, fl := rig.svc, rig.svc

	f.phone("u-wang").mustApply(feverRequest("req-1"))
	if _, _, err := f.svc.Forward(ctx, actor(f.members["u-zhao"]), mutualaid.ForwardInput{PostID: "req-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ob.ForwardCases(ctx); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(time.Hour) // the hotline has closed it by now
	for _, g := range []string{`{not json`, `[{"service_request_id": 7}]`, `[{"service_request_id": "x", "status": "gone"}]`, `{}`, strings.Repeat("[", hotline.MaxResponseBytes+10)} {
		garbage.Store(g)
		if _, err := fl.FollowCases(ctx); err == nil {
			t.Errorf("status answer %.20q: no error", g)
		}
		if hc := f.post("req-1").GetEscalation().GetHotlineCase(); hc.GetState() == linliv1.CaseState_CASE_STATE_CLOSED {
			t.Fatalf("status answer %.20q closed the case", g)
		}
	}
	garbage.Store("")
	if _, err := fl.FollowCases(ctx); err != nil {
		t.Fatal(err)
	}
	if hc := f.post("req-1").GetEscalation().GetHotlineCase(); hc.GetState() != linliv1.CaseState_CASE_STATE_CLOSED {
		t.Errorf("after the hotline recovered: %v, want closed", hc)
	}
}

// TestRetryCase: the hotline refuses a case (stuck, and staff see why in
// words); staff sort it out and retry; the case is then created once.
func TestRetryCase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newHandoffFixture(t)
	var refuse atomic.Bool
	refuse.Store(true)
	rig := f.interceptedHotline(time.Hour, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost || !refuse.Load() {
			return false
		}
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `[{"code": 403, "description": "api_key 无效"}]`)
		return true
	})
	sim, ob, fl := rig.sim, rig.svc, rig.svc
	pass := func() {
		t.Helper()
		_, _ = ob.ForwardCases(ctx)
		if _, err := fl.FollowCases(ctx); err != nil {
			t.Fatal(err)
		}
	}

	f.phone("u-wang").mustApply(feverRequest("req-1"))
	_, err := f.svc.RetryCase(ctx, mutualaid.Operator, "yuqiao", "req-1")
	wantError(t, err, mutualaid.Conflict, "case_not_stuck")
	if _, _, err := f.svc.Forward(ctx, actor(f.members["u-zhao"]), mutualaid.ForwardInput{PostID: "req-1"}); err != nil {
		t.Fatal(err)
	}
	pass()
	hc := f.post("req-1").GetEscalation().GetHotlineCase()
	if hc.GetState() != linliv1.CaseState_CASE_STATE_STUCK || !strings.Contains(hc.GetWaitingReason(), "the hotline refused the case") || strings.Contains(hc.GetWaitingReason(), "api_key") {
		t.Fatalf("refused case: %v, want stuck with the reason in words", hc)
	}
	refuse.Store(false)
	pass()
	if sim.Count() != 0 {
		t.Fatal("a stuck case was sent without a retry")
	}
	item, err := f.svc.RetryCase(ctx, mutualaid.Operator, "yuqiao", "req-1")
	if err != nil || item.GetHotlineCase().GetState() != linliv1.CaseState_CASE_STATE_WAITING {
		t.Fatalf("RetryCase: %v, %v", item, err)
	}
	pass()
	if hc := f.post("req-1").GetEscalation().GetHotlineCase(); hc.GetState() != linliv1.CaseState_CASE_STATE_OPEN || sim.Count() != 1 {
		t.Errorf("after the retry: case %v, %d cases at the hotline; want open, 1", hc, sim.Count())
	}
}
