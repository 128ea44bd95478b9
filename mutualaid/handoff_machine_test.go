package mutualaid_test

import (
	"fmt"
	"testing"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// TestHandoffStateMachine walks the state machine: from every state on
// each path, every move, made by someone allowed to make that move. Moves
// in the table apply and lead where the table says, recording an event
// with the move; every other move is REJECTED bad_state (courier_taken for
// a claim once a courier has it) and changes nothing. Every row of the
// table is exercised.
func TestHandoffStateMachine(t *testing.T) {
	t.Parallel()
	const (
		proposed   = linliv1.HandoffState_HANDOFF_STATE_PROPOSED
		accepted   = linliv1.HandoffState_HANDOFF_STATE_ACCEPTED
		pickedUp   = linliv1.HandoffState_HANDOFF_STATE_PICKED_UP
		droppedOff = linliv1.HandoffState_HANDOFF_STATE_DROPPED_OFF
		received   = linliv1.HandoffState_HANDOFF_STATE_RECEIVED
		cancelled  = linliv1.HandoffState_HANDOFF_STATE_CANCELLED
	)
	type place struct {
		state   linliv1.HandoffState
		courier bool
	}
	type step struct {
		user string
		m    func(f *handoffFixture) *linliv1.Mutation
	}
	accept := step{"u-lucy", func(*handoffFixture) *linliv1.Mutation { return acceptH("h") }}
	claim := step{"u-zhang", func(*handoffFixture) *linliv1.Mutation { return claimH("h") }}
	giverPickUp := step{"u-lucy", func(*handoffFixture) *linliv1.Mutation { return pickUpH("h", "") }}
	courierPickUp := step{"u-zhang", func(f *handoffFixture) *linliv1.Mutation { return pickUpH("h", f.handoff("h").GetPickupCode()) }}
	giverDropOff := step{"u-lucy", func(*handoffFixture) *linliv1.Mutation { return dropOffH("h", "") }}
	courierDropOff := step{"u-zhang", func(*handoffFixture) *linliv1.Mutation { return dropOffH("h", "") }}
	confirm := step{"u-wang", func(*handoffFixture) *linliv1.Mutation { return confirmH("h") }}
	cancel := step{"u-wang", func(*handoffFixture) *linliv1.Mutation { return cancelH("h", "") }}
	// How to reach each place (after 王芳 proposed, asking for a courier).
	paths := map[place][]step{
		{proposed, false}:   nil,
		{accepted, false}:   {accept},
		{pickedUp, false}:   {accept, giverPickUp},
		{droppedOff, false}: {accept, giverDropOff},
		{received, false}:   {accept, confirm},
		{cancelled, false}:  {cancel},
		{accepted, true}:    {accept, claim},
		{pickedUp, true}:    {accept, claim, courierPickUp},
		{droppedOff, true}:  {accept, claim, courierPickUp, courierDropOff},
		{received, true}:    {accept, claim, courierPickUp, courierDropOff, confirm},
		{cancelled, true}:   {accept, claim, cancel},
	}
	// Who tries each move: someone the move's own rules allow.
	moves := map[linliv1.HandoffAction]func(courier bool) step{
		linliv1.HandoffAction_HANDOFF_ACTION_ACCEPT: func(bool) step { return accept },
		linliv1.HandoffAction_HANDOFF_ACTION_CLAIM_COURIER: func(courier bool) step {
			if courier {
				return step{"u-wu", claim.m} // the other volunteer of building 3
			}
			return claim
		},
		linliv1.HandoffAction_HANDOFF_ACTION_PICK_UP: func(courier bool) step {
			if courier {
				return courierPickUp
			}
			return giverPickUp
		},
		linliv1.HandoffAction_HANDOFF_ACTION_DROP_OFF: func(courier bool) step {
			if courier {
				return courierDropOff
			}
			return giverDropOff
		},
		linliv1.HandoffAction_HANDOFF_ACTION_CONFIRM_RECEIVED: func(bool) step { return confirm },
		linliv1.HandoffAction_HANDOFF_ACTION_CANCEL:           func(bool) step { return cancel },
	}
	table := map[string]mutualaid.HandoffStep{}
	key := func(p place, a linliv1.HandoffAction) string {
		return fmt.Sprintf("%v/courier=%v/%v", p.state, p.courier, a)
	}
	for _, row := range mutualaid.HandoffMachine() {
		table[key(place{row.From, row.Courier}, row.Action)] = row
	}
	exercised := 0
	for p, setup := range paths {
		for a, who := range moves {
			row, legal := table[key(p, a)]
			if legal {
				exercised++
			}
			t.Run(key(p, a), func(t *testing.T) {
				t.Parallel()
				f := newHandoffFixture(t)
				f.request("u-wang", "req", meilinItem(1))
				f.offer("u-lucy", "off", meilinItem(1))
				f.phone("u-wang").mustApply(proposeH("h", "req", "off", handoffItemMeilin, 1, true, windowsill15))
				for _, s := range setup {
					f.phone(s.user).mustApply(s.m(f))
				}
				before := f.handoff("h")
				if before.GetState() != p.state || (before.GetCourierId() != "") != p.courier {
					t.Fatalf("setup reached %v with courier %q, want %v courier=%v", before.GetState(), before.GetCourierId(), p.state, p.courier)
				}
				s := who(p.courier)
				if !legal {
					reason := mutualaid.ReasonBadState
					if a == linliv1.HandoffAction_HANDOFF_ACTION_CLAIM_COURIER && p.courier {
						reason = mutualaid.ReasonCourierTaken
					}
					f.phone(s.user).mustReject(s.m(f), reason)
					if after := f.handoff("h"); after.GetState() != before.GetState() || len(after.GetHistory()) != len(before.GetHistory()) {
						t.Errorf("a refused move changed the handoff: %v → %v", before, after)
					}
					return
				}
				f.phone(s.user).mustApply(s.m(f))
				after := f.handoff("h")
				if after.GetState() != row.To {
					t.Errorf("state after %v = %v, want %v", a, after.GetState(), row.To)
				}
				ev := after.GetHistory()[len(after.GetHistory())-1]
				if len(after.GetHistory()) != len(before.GetHistory())+1 || ev.GetAction() != a || ev.GetByUserId() != s.user || ev.GetState() != row.To {
					t.Errorf("last event = %v, want %v by %s to %v", ev, a, s.user, row.To)
				}
			})
		}
	}
	if exercised != len(table) {
		t.Errorf("walked %d rows of the table, want all %d", exercised, len(table))
	}
}

// TestConfirmWhileCourierCarries: once a courier has claimed a handoff, the
// receiver cannot confirm it before the courier has dropped it off (the
// direct path's shortcut is closed), and the claim is an event of its own.
func TestConfirmWhileCourierCarries(t *testing.T) {
	t.Parallel()
	f := newHandoffFixture(t)
	handoffAt(f, linliv1.HandoffState_HANDOFF_STATE_ACCEPTED)
	f.phone("u-zhang").mustApply(claimH("h"))
	h := f.handoff("h")
	if ev := h.GetHistory()[len(h.GetHistory())-1]; ev.GetAction() != linliv1.HandoffAction_HANDOFF_ACTION_CLAIM_COURIER || ev.GetByUserId() != "u-zhang" {
		t.Fatalf("last event after the claim = %v, want the courier's claim", ev)
	}
	r := f.phone("u-wang").mustReject(confirmH("h"), mutualaid.ReasonBadState)
	if r.Status != linlisync.StatusRejected {
		t.Fatalf("confirm while the courier carries it: %v", r)
	}
	f.phone("u-zhang").mustApply(pickUpH("h", h.GetPickupCode()))
	f.phone("u-wang").mustReject(confirmH("h"), mutualaid.ReasonBadState)
	f.phone("u-lucy").mustReject(dropOffH("h", ""), mutualaid.ReasonNotAllowed) // the courier has the items
	f.phone("u-zhang").mustApply(dropOffH("h", ""))
	f.phone("u-wang").mustApply(confirmH("h"))
	wantHandoffState(t, f.handoff("h"), linliv1.HandoffState_HANDOFF_STATE_RECEIVED)
}
