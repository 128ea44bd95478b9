package mutualaid_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/linli/linli/mutualaid"
	"github.com/linli/linli/mutualaid/hotline"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// escalate runs one escalation pass and checks how many requests went overdue.
func (f *handoffFixture) escalate(want int) {
	f.t.Helper()
	n, err := f.svc.EscalateOverdue(context.Background())
	if err != nil || n != want {
		f.t.Fatalf("EscalateOverdue: %d, %v; want %d", n, err, want)
	}
}

// queueItem reads a request's staff queue item as staff sync it.
func (f *handoffFixture) queueItem(postID string) *linliv1.StaffQueueItem {
	f.t.Helper()
	v := f.entities(mutualaid.StaffScope("yuqiao"))
	e := v[mutualaid.StaffScope("yuqiao")]["queue/yuqiao/"+postID]
	return e.GetStaffQueueItem()
}

func rateM(postID string, solved bool, s linliv1.Satisfaction) *linliv1.Mutation {
	return &linliv1.Mutation{Kind: &linliv1.Mutation_RateCase{RateCase: &linliv1.RateCaseMutation{PostId: postID, Solved: solved, Satisfaction: s}}}
}

func emergencyRequest(postID string) *linliv1.Mutation {
	m := feverRequest(postID)
	m.GetPostRequest().Draft.Note = "宝宝两个月大，发烧，呼吸困难"
	return m
}

func TestEscalationDeadlines(t *testing.T) {
	t.Parallel()
	t.Run("OverdueQueuedOnce", func(t *testing.T) {
		f := newHandoffFixture(t)
		f.phone("u-wang").mustApply(feverRequest("req-2340")) // urgent: 2 h
		due := f.post("req-2340").GetEscalation().GetDueAt().AsTime()
		if want := night.Add(2 * time.Hour); !due.Equal(want) {
			t.Fatalf("due_at = %v, want %v", due, want)
		}
		f.clk.Advance(2*time.Hour - time.Second)
		f.escalate(0)
		if f.queueItem("req-2340") != nil {
			t.Fatal("queued before its deadline")
		}
		f.clk.Advance(time.Second)
		f.escalate(1)
		f.escalate(0)
		it := f.queueItem("req-2340")
		if it.GetState() != linliv1.QueueState_QUEUE_STATE_WAITING || it.GetSummary() == "" || it.GetBuildingId() != "bldg-3" {
			t.Fatalf("queue item = %v, want waiting with a summary", it)
		}
		p := f.post("req-2340")
		if p.GetEscalation().GetOverdueAt() == nil || p.GetStatus() != linliv1.PostStatus_POST_STATUS_OPEN {
			t.Errorf("overdue post: status %v, escalation %v", p.GetStatus(), p.GetEscalation())
		}
		if c := f.entities(mutualaid.CommunityScope("yuqiao")); c[mutualaid.CommunityScope("yuqiao")]["queue/yuqiao/req-2340"] != nil {
			t.Error("the staff queue leaked into the community scope")
		}
	})
	t.Run("CancelledLeavesQueue", func(t *testing.T) {
		f := newHandoffFixture(t)
		f.phone("u-wang").mustApply(feverRequest("req-1"))
		f.clk.Advance(2 * time.Hour)
		f.escalate(1)
		f.phone("u-wang").mustApply(cancelMutation("req-1", "孩子退烧了"))
		if it := f.queueItem("req-1"); it.GetState() != linliv1.QueueState_QUEUE_STATE_DISMISSED || it.GetDismissReason() != "cancelled by the resident" {
			t.Errorf("queue item of a cancelled overdue request: %v", it)
		}
	})
	t.Run("HandoffCancelledRequeues", func(t *testing.T) {
		f := newHandoffFixture(t)
		wang := f.phone("u-wang")
		f.request("u-wang", "req-1", meilinItem(1))
		f.offer("u-lucy", "offer-1", meilinItem(1))
		wang.mustApply(proposeH("h-1", "req-1", "offer-1", handoffItemMeilin, 1, false, "15楼电梯口窗台"))
		f.clk.Advance(2 * time.Hour)
		f.escalate(1) // overdue while a handoff is under way
		if _, err := f.svc.Dismiss(context.Background(), actor(f.members["u-zhao"]), "yuqiao", "req-1", "邻居正在送药"); err != nil {
			t.Fatal(err)
		}
		wang.mustApply(cancelH("h-1", "对方联系不上"))
		if p := f.post("req-1"); p.GetStatus() != linliv1.PostStatus_POST_STATUS_OPEN {
			t.Fatalf("after the cancel: status %v", p.GetStatus())
		}
		f.escalate(1)
		if it := f.queueItem("req-1"); it.GetState() != linliv1.QueueState_QUEUE_STATE_WAITING {
			t.Errorf("an overdue request open again: queue item %v, want waiting", it)
		}
	})
	t.Run("EditOverdueFollowsQueue", func(t *testing.T) {
		f := newHandoffFixture(t)
		wang := f.phone("u-wang")
		m := feverRequest("req-1")
		m.GetPostRequest().Draft.Urgency = linliv1.Urgency_URGENCY_ROUTINE
		wang.mustApply(m)
		f.clk.Advance(24 * time.Hour)
		f.escalate(1)
		d := feverRequest("x").GetPostRequest().GetDraft()
		d.Items = d.Items[:1]
		wang.mustApply(editMutation("req-1", d)) // now urgent, one item
		if it := f.queueItem("req-1"); it.GetUrgency() != linliv1.Urgency_URGENCY_URGENT || strings.Contains(it.GetSummary(), "×2") {
			t.Errorf("queue item after an edit: %v, want urgent with one item", it)
		}
		d.Note = "宝宝两个月大，发烧，呼吸困难"
		wang.mustApply(editMutation("req-1", d)) // an emergency: forwarded by policy at once
		p := f.post("req-1")
		if p.GetStatus() != linliv1.PostStatus_POST_STATUS_ESCALATED || !p.GetEscalation().GetHotlineCase().GetAutoForwarded() {
			t.Fatalf("overdue request edited into an emergency: status %v case %v", p.GetStatus(), p.GetEscalation().GetHotlineCase())
		}
		if it := f.queueItem("req-1"); it.GetState() != linliv1.QueueState_QUEUE_STATE_FORWARDED || len(it.GetEmergencySigns()) == 0 {
			t.Errorf("queue item = %v, want forwarded with the signs", it)
		}
	})
	t.Run("BadRequestHoldsUpNoOther", func(t *testing.T) {
		f := newHandoffFixture(t)
		f.phone("u-wang").mustApply(feverRequest("req-1"))
		err := f.store.Update(context.Background(), func(tx *linlisync.Tx) error {
			if err := tx.Put(mutualaid.PostEntityID("yuqiao", "req-bad"), []byte("not a post"), nil); err != nil {
				return err
			}
			return tx.Put(fmt.Sprintf("idx/due/%016x/yuqiao/req-bad", night.UnixMilli()), []byte("{}"), nil)
		})
		if err != nil {
			t.Fatal(err)
		}
		f.clk.Advance(2 * time.Hour)
		n, err := f.svc.EscalateOverdue(context.Background())
		if err == nil || !strings.Contains(err.Error(), "req-bad") || n != 1 {
			t.Fatalf("EscalateOverdue: %d, %v; want req-1 queued and req-bad's error", n, err)
		}
		if it := f.queueItem("req-1"); it.GetState() != linliv1.QueueState_QUEUE_STATE_WAITING {
			t.Errorf("req-1 held up by a bad request: %v", it)
		}
		// Set aside: later passes neither fail on it again nor lose it.
		if n, err := f.svc.EscalateOverdue(context.Background()); err != nil || n != 0 {
			t.Errorf("next pass: %d, %v; want nothing and no error", n, err)
		}
		if _, ok, err := f.store.Get(fmt.Sprintf("idx/due-failed/%016x/yuqiao/req-bad", night.UnixMilli())); err != nil || !ok {
			t.Errorf("the bad entry was not kept aside: %v", err)
		}
	})
	t.Run("CancelledNeverQueued", func(t *testing.T) {
		f := newHandoffFixture(t)
		f.phone("u-wang").mustApply(feverRequest("req-1"))
		f.phone("u-wang").mustApply(cancelMutation("req-1", "孩子退烧了"))
		f.clk.Advance(48 * time.Hour)
		f.escalate(0)
	})
	t.Run("EditRecomputes", func(t *testing.T) {
		f := newHandoffFixture(t)
		wang := f.phone("u-wang")
		m := feverRequest("req-1")
		m.GetPostRequest().Draft.Urgency = linliv1.Urgency_URGENCY_ROUTINE
		wang.mustApply(m)
		if due := f.post("req-1").GetEscalation().GetDueAt().AsTime(); !due.Equal(night.Add(24 * time.Hour)) {
			t.Fatalf("routine due_at = %v", due)
		}
		d := feverRequest("x").GetPostRequest().GetDraft()
		d.Urgency = linliv1.Urgency_URGENCY_CRITICAL
		wang.mustApply(editMutation("req-1", d))
		if due := f.post("req-1").GetEscalation().GetDueAt().AsTime(); !due.Equal(night.Add(30 * time.Minute)) {
			t.Fatalf("critical after edit: due_at = %v, want created + 30 min", due)
		}
	})
	t.Run("CommunityPolicy", func(t *testing.T) {
		f := newHandoffFixture(t)
		pol, err := f.svc.SetEscalationPolicy(context.Background(), mutualaid.Operator, "yuqiao", &linliv1.EscalationPolicy{UrgentDeadline: durationpb.New(10 * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if pol.GetUrgentDeadline().AsDuration() != 10*time.Minute || pol.GetRoutineDeadline().AsDuration() != 24*time.Hour {
			t.Errorf("effective policy = %v", pol)
		}
		f.phone("u-wang").mustApply(feverRequest("req-1"))
		f.clk.Advance(10 * time.Minute)
		f.escalate(1)
		// A change applies to requests already waiting, counted from their posting.
		f.phone("u-wang").mustApply(feverRequest("req-2"))
		if _, err := f.svc.SetEscalationPolicy(context.Background(), mutualaid.Operator, "yuqiao", &linliv1.EscalationPolicy{UrgentDeadline: durationpb.New(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if due := f.post("req-2").GetEscalation().GetDueAt().AsTime(); !due.Equal(f.clk.Now().Add(time.Hour)) {
			t.Errorf("waiting request after a policy change: due %v, want posted + 1 h", due)
		}
		f.clk.Advance(time.Hour - time.Second)
		f.escalate(0)
		f.clk.Advance(time.Second)
		f.escalate(1)
		_, err = f.svc.SetEscalationPolicy(context.Background(), mutualaid.Operator, "yuqiao", &linliv1.EscalationPolicy{CriticalDeadline: durationpb.New(time.Second)})
		wantError(t, err, mutualaid.Invalid, "deadline_out_of_range")
		_, err = f.svc.SetEscalationPolicy(context.Background(), mutualaid.Operator, "nowhere", &linliv1.EscalationPolicy{})
		wantError(t, err, mutualaid.NotFound, "community_not_found")
	})
	t.Run("CriticalForwardedByPolicy", func(t *testing.T) {
		f := newHandoffFixture(t)
		f.phone("u-wang").mustApply(emergencyRequest("req-1"))
		if f.post("req-1").GetUrgency() != linliv1.Urgency_URGENCY_CRITICAL {
			t.Fatal("triage did not make the request critical")
		}
		f.clk.Advance(30 * time.Minute)
		f.escalate(1)
		p := f.post("req-1")
		hc := p.GetEscalation().GetHotlineCase()
		if p.GetStatus() != linliv1.PostStatus_POST_STATUS_ESCALATED || !hc.GetAutoForwarded() || hc.GetState() != linliv1.CaseState_CASE_STATE_WAITING {
			t.Fatalf("critical overdue request: status %v case %v, want escalated, auto-forwarded, waiting", p.GetStatus(), hc)
		}
		if it := f.queueItem("req-1"); it.GetState() != linliv1.QueueState_QUEUE_STATE_FORWARDED || len(it.GetEmergencySigns()) == 0 {
			t.Errorf("queue item = %v, want forwarded with the emergency signs", it)
		}
		e, ok, err := hotline.NewOutbox(f.store, nil, hotline.OutboxOptions{}).Entry(mutualaid.CaseKey("yuqiao", "req-1"))
		if err != nil || !ok || e.Request.ServiceCode != "fever_reducer" {
			t.Fatalf("outbox entry: %+v, %v, %v", e, ok, err)
		}
	})
	t.Run("CriticalHeldForStaff", func(t *testing.T) {
		f := newHandoffFixture(t)
		if _, err := f.svc.SetEscalationPolicy(context.Background(), mutualaid.Operator, "yuqiao", &linliv1.EscalationPolicy{HoldCriticalForStaff: true}); err != nil {
			t.Fatal(err)
		}
		f.phone("u-wang").mustApply(emergencyRequest("req-1"))
		f.clk.Advance(30 * time.Minute)
		f.escalate(1)
		if it := f.queueItem("req-1"); it.GetState() != linliv1.QueueState_QUEUE_STATE_WAITING {
			t.Errorf("held critical request: queue item %v, want waiting", it)
		}
	})
}

func TestForwardAndDismiss(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newHandoffFixture(t)
	zhao := actor(f.members["u-zhao"])
	m := feverRequest("req-1")
	m.GetPostRequest().Draft.SharePhoneWithHotline = true
	f.phone("u-wang").mustApply(m)
	f.phone("u-wang").mustApply(feverRequest("req-2"))
	f.phone("u-wang").mustApply(feverRequest("req-3"))
	f.offer("u-lucy", "offer-1", meilinItem(1))

	_, _, err := f.svc.Forward(ctx, zhao, mutualaid.ForwardInput{PostID: "offer-1"})
	wantError(t, err, mutualaid.Invalid, "not_a_request")
	_, _, err = f.svc.Forward(ctx, zhao, mutualaid.ForwardInput{PostID: "nope"})
	wantError(t, err, mutualaid.NotFound, "post_not_found")
	_, _, err = f.svc.Forward(ctx, zhao, mutualaid.ForwardInput{PostID: "req-2", IncludePhone: true})
	wantError(t, err, mutualaid.Forbidden, "no_phone_consent")
	_, _, err = f.svc.Forward(ctx, zhao, mutualaid.ForwardInput{PostID: "req-1", Description: strings.Repeat("药", 3901)})
	wantError(t, err, mutualaid.Invalid, "description_too_long")

	item, desc, err := f.svc.Forward(ctx, zhao, mutualaid.ForwardInput{
		PostID: "req-1", IncludePhone: true, Description: "王女士家中孩子高烧，急需儿童退烧药。",
	})
	if err != nil {
		t.Fatalf("Forward: %v", err)
	}
	if item.GetState() != linliv1.QueueState_QUEUE_STATE_FORWARDED || item.GetDecidedBy() != "u-zhao" {
		t.Errorf("queue item = %v", item)
	}
	if !strings.Contains(desc, "王女士") || strings.Contains(desc, "138-0013-8000") {
		t.Errorf("description %q: want staff's text, and the phone in its own field only", desc)
	}
	e, ok, err := hotline.NewOutbox(f.store, nil, hotline.OutboxOptions{}).Entry(mutualaid.CaseKey("yuqiao", "req-1"))
	if err != nil || !ok {
		t.Fatalf("outbox entry: %v %v", ok, err)
	}
	addr := e.Request.AddressString
	if !strings.Contains(addr, "3号楼") || !strings.Contains(addr, "玉桥街道") || strings.Contains(addr, "1502") || strings.Contains(addr, "15") {
		t.Errorf("address %q: want the building, never the floor or unit", addr)
	}
	if e.Request.ServiceCode != "fever_reducer" || e.Request.Phone != "+86 138-0013-8000" {
		t.Errorf("service code %q, phone %q: want the first item's category and the consented phone", e.Request.ServiceCode, e.Request.Phone)
	}
	// Without consent, or without include_phone, no phone leaves linli.
	_, _, err = f.svc.Forward(ctx, zhao, mutualaid.ForwardInput{PostID: "req-3"})
	if err != nil {
		t.Fatal(err)
	}
	if e, _, _ := hotline.NewOutbox(f.store, nil, hotline.OutboxOptions{}).Entry(mutualaid.CaseKey("yuqiao", "req-3")); e.Request.Phone != "" || strings.Contains(e.Request.Description, "138") {
		t.Errorf("a case forwarded without include_phone carries the phone: %+v", e.Request)
	}
	_, _, err = f.svc.Forward(ctx, zhao, mutualaid.ForwardInput{PostID: "req-1"})
	wantError(t, err, mutualaid.Conflict, "already_forwarded")
	// The resident may withdraw a forwarded request; its case stays followed.
	f.phone("u-wang").mustApply(cancelMutation("req-1", "邻居送来了药"))
	if p := f.post("req-1"); p.GetStatus() != linliv1.PostStatus_POST_STATUS_CANCELLED || p.GetEscalation().GetHotlineCase() == nil {
		t.Errorf("withdrawn forwarded request: %v", p)
	}
	if _, followed, _ := f.store.Get("idx/case/" + mutualaid.CaseKey("yuqiao", "req-1")); !followed {
		t.Error("a withdrawn request's case is no longer followed")
	}

	// Dismissing: only waiting items, with a reason.
	f.clk.Advance(3 * time.Hour)
	f.escalate(1) // req-2; req-1 is escalated and has no deadline
	_, err = f.svc.Dismiss(ctx, zhao, "yuqiao", "req-2", " ")
	wantError(t, err, mutualaid.Invalid, "reason_required")
	it, err := f.svc.Dismiss(ctx, zhao, "yuqiao", "req-2", "已电话联系，邻居已送药")
	if err != nil || it.GetState() != linliv1.QueueState_QUEUE_STATE_DISMISSED || it.GetDismissReason() == "" {
		t.Fatalf("Dismiss: %v, %v", it, err)
	}
	_, err = f.svc.Dismiss(ctx, zhao, "yuqiao", "req-2", "again")
	wantError(t, err, mutualaid.Conflict, "already_decided")
	_, err = f.svc.Dismiss(ctx, zhao, "yuqiao", "offer-1", "no")
	wantError(t, err, mutualaid.NotFound, "not_in_queue")

	waiting, err := queueItems(f.svc.ListQueue(ctx, mutualaid.Operator, "yuqiao", false, 0))
	if err != nil || len(waiting) != 0 {
		t.Errorf("ListQueue waiting = %v, %v; want none", waiting, err)
	}
	all, err := queueItems(f.svc.ListQueue(ctx, mutualaid.Operator, "yuqiao", true, 0))
	if err != nil || len(all) != 3 || all[0].GetPostId() != "req-2" {
		t.Errorf("ListQueue all = %v, %v; want req-2 (newest), then req-1 and req-3", all, err)
	}
}

// queueItems are the items of q.
func queueItems(q *mutualaid.Queue, err error) ([]*linliv1.StaffQueueItem, error) {
	if err != nil {
		return nil, err
	}
	return q.Items, nil
}
