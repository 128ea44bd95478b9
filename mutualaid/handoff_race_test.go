package mutualaid_test

import (
	"context"
	"fmt"
	"strings"
	gosync "sync"
	"testing"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// TestLastUnitRace: two residents, each on their own phone, propose at the
// same moment to take Lucy's last bottle of 美林. Exactly one proposal is
// applied; the other is REJECTED not_enough_left with a message they can
// read, and leaves no trace.
func TestLastUnitRace(t *testing.T) {
	t.Parallel()
	f := newHandoffFixture(t)
	chen, li := f.phone("u-chen"), f.phone("u-li")
	const rounds = 8
	for round := range rounds {
		off, reqChen, reqLi := fmt.Sprintf("off-%d", round), fmt.Sprintf("req-chen-%d", round), fmt.Sprintf("req-li-%d", round)
		f.offer("u-lucy", off, meilinItem(1))
		f.request("u-chen", reqChen, meilinItem(1))
		f.request("u-li", reqLi, meilinItem(1))

		contenders := []struct {
			p        *handset
			hid, req string
		}{
			{chen, fmt.Sprintf("h-chen-%d", round), reqChen},
			{li, fmt.Sprintf("h-li-%d", round), reqLi},
		}
		results := make([]linlisync.Result, len(contenders))
		errs := make([]error, len(contenders))
		start := make(chan struct{})
		var wg gosync.WaitGroup
		for i, c := range contenders {
			wg.Go(func() {
				<-start
				results[i], errs[i] = c.p.send(proposeH(c.hid, c.req, off, handoffItemMeilin, 1, true, windowsill15))
			})
		}
		close(start)
		wg.Wait()

		winner, loser := -1, -1
		for i, r := range results {
			if errs[i] != nil {
				t.Fatalf("round %d, %s: %v", round, contenders[i].p.member.UserID, errs[i])
			}
			switch {
			case r.Status == linlisync.StatusApplied:
				if winner >= 0 {
					t.Fatalf("round %d: both proposals for the last bottle were applied", round)
				}
				winner = i
			case r.Status == linlisync.StatusRejected && r.Reason == mutualaid.ReasonNotEnoughLeft:
				loser = i
				if !strings.Contains(r.Message, "None left") || !strings.Contains(r.Message, "美林") {
					t.Errorf("round %d: rejection message %q does not tell what ran out", round, r.Message)
				}
			default:
				t.Fatalf("round %d, %s: got status %d (%s: %s)", round, contenders[i].p.member.UserID, r.Status, r.Reason, r.Message)
			}
		}
		if winner < 0 || loser < 0 {
			t.Fatalf("round %d: got results %+v, want one applied and one rejected", round, results)
		}
		wantOfferItem(t, f.post(off), handoffItemMeilin, 1, 1)
		if h := f.handoff(contenders[winner].hid); h.GetReceiverId() != contenders[winner].p.member.UserID {
			t.Errorf("round %d: winner's handoff goes to %s", round, h.GetReceiverId())
		}
		if _, ok, _ := f.store.Get(mutualaid.HandoffEntityID("yuqiao", contenders[loser].hid)); ok {
			t.Errorf("round %d: the rejected proposal created a handoff", round)
		}
		wantPostStatus(t, f.post(contenders[winner].req), linliv1.PostStatus_POST_STATUS_MATCHED)
		wantPostStatus(t, f.post(contenders[loser].req), linliv1.PostStatus_POST_STATUS_OPEN)
	}
}

// TestLastUnitOffline: 李娜's phone is offline. She posts her request and
// proposes to take Lucy's last bottle; both wait in the phone's queue.
// Meanwhile 陈静 takes the bottle. When 李娜's phone reconnects and pushes
// its queue, her request is applied, her proposal is REJECTED
// not_enough_left, and she learns it from the Push result and again from
// Pull (the client state in her user scope), as she would if the Push
// response were lost.
func TestLastUnitOffline(t *testing.T) {
	t.Parallel()
	f := newHandoffFixture(t)
	f.offer("u-lucy", "off", meilinItem(1))
	f.request("u-chen", "req-chen", meilinItem(1))

	li := f.phone("u-li")
	reqMsg := &linliv1.Mutation{Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{
		PostId: "req-li", Draft: handoffDraft(f.members["u-li"], "老人发烧，需要退烧药", meilinItem(1)),
	}}}
	queued := make([]linlisync.Mutation, 0, 2)
	for i, m := range []*linliv1.Mutation{reqMsg, proposeH("h-li", "req-li", "off", handoffItemMeilin, 1, false, "")} {
		mut, err := li.build(m, uint64(i+1))
		if err != nil {
			t.Fatalf("build queued mutation %d: %v", i+1, err)
		}
		queued = append(queued, mut)
	}

	f.phone("u-chen").mustApply(proposeH("h-chen", "req-chen", "off", handoffItemMeilin, 1, false, ""))
	f.phone("u-lucy").mustApply(acceptH("h-chen"))

	res, last, err := f.store.Push(context.Background(), li.clientID(), queued)
	if err != nil {
		t.Fatalf("Push of the offline queue: %v", err)
	}
	if last != 2 || len(res) != 2 {
		t.Fatalf("Push: got %d results, last %d; want 2, 2", len(res), last)
	}
	if res[0].Status != linlisync.StatusApplied {
		t.Errorf("queued request: got status %d (%s), want applied", res[0].Status, res[0].Reason)
	}
	if r := res[1]; r.Status != linlisync.StatusRejected || r.Reason != mutualaid.ReasonNotEnoughLeft || !strings.Contains(r.Message, "None left") {
		t.Errorf("queued proposal: got status %d (%s: %q), want rejected not_enough_left", r.Status, r.Reason, r.Message)
	}

	// Pull tells the same story.
	v := f.entities(mutualaid.MemberScopes(f.members["u-li"])...)
	cs := v[mutualaid.UserScope("u-li")]["client/u-li/phone-1"].GetClientState()
	if cs == nil {
		t.Fatalf("no client state in 李娜's user scope: %v", v[mutualaid.UserScope("u-li")])
	}
	if cs.GetLastMutationId() != 2 || len(cs.GetRecentResults()) != 2 {
		t.Fatalf("client state: got last %d with %d results, want 2 with 2", cs.GetLastMutationId(), len(cs.GetRecentResults()))
	}
	got := cs.GetRecentResults()[1]
	if got.GetId() != 2 || got.GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_REJECTED ||
		got.GetReason() != mutualaid.ReasonNotEnoughLeft || got.GetMessage() != res[1].Message {
		t.Errorf("pulled outcome of the proposal: got %v, want REJECTED not_enough_left %q", got, res[1].Message)
	}
	if _, ok := v[mutualaid.UserScope("u-li")][mutualaid.HandoffEntityID("yuqiao", "h-li")]; ok {
		t.Errorf("李娜's rejected proposal appears as a handoff")
	}
	if p := v[community][mutualaid.PostEntityID("yuqiao", "off")].GetPost(); p.GetStatus() != linliv1.PostStatus_POST_STATUS_MATCHED ||
		offerItem(t, p, handoffItemMeilin).GetReserved() != 1 {
		t.Errorf("community view of the offer: status %v, want matched with the bottle reserved", p.GetStatus())
	}
	wantPostStatus(t, f.post("req-li"), linliv1.PostStatus_POST_STATUS_OPEN)

	// Pushing the queue again (the phone never saw the response) returns the
	// stored outcomes and changes nothing.
	again, _, err := f.store.Push(context.Background(), li.clientID(), queued)
	if err != nil {
		t.Fatalf("Push again: %v", err)
	}
	if again[1].Status != linlisync.StatusRejected || again[1].Reason != mutualaid.ReasonNotEnoughLeft {
		t.Errorf("duplicate push: got %+v, want the stored rejection", again[1])
	}
	wantOfferItem(t, f.post("off"), handoffItemMeilin, 1, 1)
}
