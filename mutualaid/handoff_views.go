package mutualaid

import (
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// handoffViews returns a handoff's projection in each scope that may see
// it, each a deterministically marshalled linliv1.Entity holding the
// handoff. Never the community scope: neighbours at large learn only that
// a post is MATCHED or FULFILLED, through the post.
//
//   - UserScope(giver), UserScope(receiver): in full, except that the
//     counterpart's unit and phone are empty unless the handoff is ACCEPTED,
//     PICKED_UP, DROPPED_OFF or RECEIVED (never while PROPOSED, and no
//     longer once CANCELLED). Each side always sees its own.
//   - StaffScope(community): in full.
//   - UserScope(courier), once claimed: no unit or phone, but the pickup
//     code and the drop point.
//   - UserScope(proposer) when the proposer is neither side nor the courier
//     (staff or a volunteer who arranged it): no unit, phone or pickup code.
//   - BuildingScope(community, building), the volunteers' board: while the
//     handoff needs a courier and is ACCEPTED without one, or has one and is
//     neither RECEIVED nor CANCELLED: no unit, phone or pickup code; the
//     giver's and receiver's ids are kept.
//
// A user who is more than one of these gets the most complete view.
// Leaving a scope (e.g. the board once received) makes the engine write a
// tombstone there.
//
// Errors: only a marshalling error (invalid UTF-8, which validation rules out).
func handoffViews(h *linliv1.Handoff) (map[string][]byte, error) {
	id := HandoffEntityID(h.GetCommunityId(), h.GetId())
	marshal := func(v *linliv1.Handoff) ([]byte, error) {
		return marshalAny(id, &linliv1.Entity{Kind: &linliv1.Entity_Handoff{Handoff: v}})
	}
	full, err := marshal(h)
	if err != nil {
		return nil, err
	}
	views := map[string][]byte{StaffScope(h.GetCommunityId()): full}

	// Least complete first: a later, fuller view of the same user wins.
	board := cloneHandoff(h)
	board.GiverUnit, board.GiverPhone, board.ReceiverUnit, board.ReceiverPhone, board.PickupCode = "", "", "", "", ""
	boardView, err := marshal(board)
	if err != nil {
		return nil, err
	}
	if onBoard(h) {
		views[BuildingScope(h.GetCommunityId(), h.GetBuildingId())] = boardView
	}
	if by := proposer(h); by != "" {
		views[UserScope(by)] = boardView
	}
	if c := h.GetCourierId(); c != "" {
		courier := cloneHandoff(board)
		courier.PickupCode = h.GetPickupCode()
		if views[UserScope(c)], err = marshal(courier); err != nil {
			return nil, err
		}
	}

	shared := contactShared(h.GetState())
	giver := cloneHandoff(h)
	if !shared {
		giver.ReceiverUnit, giver.ReceiverPhone = "", ""
	}
	receiver := cloneHandoff(h)
	if !shared {
		receiver.GiverUnit, receiver.GiverPhone = "", ""
	}
	if views[UserScope(h.GetGiverId())], err = marshal(giver); err != nil {
		return nil, err
	}
	if views[UserScope(h.GetReceiverId())], err = marshal(receiver); err != nil {
		return nil, err
	}
	return views, nil
}

// onBoard reports whether a handoff belongs on its building's volunteers' board.
func onBoard(h *linliv1.Handoff) bool {
	if !h.GetNeedsCourier() || h.GetBuildingId() == "" {
		return false
	}
	if h.GetCourierId() == "" {
		return h.GetState() == accepted
	}
	return live(h)
}

// contactShared reports whether giver and receiver see each other's unit
// and phone in state s.
func contactShared(s linliv1.HandoffState) bool {
	switch s {
	case accepted, pickedUp, droppedOff, received:
		return true
	}
	return false
}
