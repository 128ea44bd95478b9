package mutualaid

import (
	"crypto/subtle"
	"slices"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/linli/linli/mutualaid/notify"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// Handoff states, short.
const (
	proposed   = linliv1.HandoffState_HANDOFF_STATE_PROPOSED
	accepted   = linliv1.HandoffState_HANDOFF_STATE_ACCEPTED
	pickedUp   = linliv1.HandoffState_HANDOFF_STATE_PICKED_UP
	droppedOff = linliv1.HandoffState_HANDOFF_STATE_DROPPED_OFF
	received   = linliv1.HandoffState_HANDOFF_STATE_RECEIVED
	cancelled  = linliv1.HandoffState_HANDOFF_STATE_CANCELLED
)

func errNotAllowed(message string) error { return linlisync.Reject(ReasonNotAllowed, message) }

// acceptHandoff: the side that did not propose agrees (or staff does for
// it). When the proposer was neither side (staff or a volunteer arranging
// it), either side may accept. Then each side's unit and phone (from their
// post, or their membership record when the post has none) are copied into
// the handoff, where the counterpart sees them.
func acceptHandoff(member Member) func(*linlisync.Tx, *linliv1.Handoff) error {
	return func(tx *linlisync.Tx, h *linliv1.Handoff) error {
		u := member.UserID
		party := u == h.GetGiverId() || u == h.GetReceiverId()
		by := proposer(h)
		thirdParty := by != h.GetGiverId() && by != h.GetReceiverId()
		if !member.IsStaff() && !(party && (u != by || thirdParty)) {
			return errNotAllowed("Only the other neighbour can accept this handoff.")
		}
		to, err := nextState(h, actAccept, "This handoff is no longer waiting to be accepted.")
		if err != nil {
			return err
		}
		return accept(tx, h, to, u, "")
	}
}

// accept moves h to state to (ACCEPTED) by user by: each side's unit and
// phone are copied into the handoff, where the counterpart sees them, and
// both sides (and, if it needs a courier, the building's volunteers) are
// told.
func accept(tx *linlisync.Tx, h *linliv1.Handoff, to linliv1.HandoffState, by, note string) error {
	var err error
	c := h.GetCommunityId()
	if h.GiverUnit, h.GiverPhone, err = contact(tx, c, h.GetOfferPostId(), h.GetGiverId()); err != nil {
		return err
	}
	if h.ReceiverUnit, h.ReceiverPhone, err = contact(tx, c, h.GetRequestPostId(), h.GetReceiverId()); err != nil {
		return err
	}
	record(tx, h, to, actAccept, by, note)
	return notifyAccepted(tx, h)
}

// contact returns the unit and phone of a post's author: the post's own,
// each falling back to the author's membership record when empty.
func contact(tx *linlisync.Tx, c, postID, userID string) (unit, phone string, err error) {
	p, ok, err := loadPost(tx, PostEntityID(c, postID))
	if err != nil {
		return "", "", err
	}
	if ok {
		unit, phone = p.GetUnit(), p.GetPhone()
	}
	if unit != "" && phone != "" {
		return unit, phone, nil
	}
	m, ok, err := loadMember(tx.Get, c, userID)
	if err != nil || !ok {
		return unit, phone, err
	}
	if unit == "" {
		unit = m.GetUnit()
	}
	if phone == "" {
		phone = m.GetPhone()
	}
	return unit, phone, nil
}

// claimCourier: a volunteer of the handoff's building carries an accepted
// handoff that needs a courier.
func claimCourier(member Member) func(*linlisync.Tx, *linliv1.Handoff) error {
	return func(tx *linlisync.Tx, h *linliv1.Handoff) error {
		ok, err := volunteersFor(tx, member, h.GetBuildingId())
		if err != nil {
			return err
		}
		switch {
		case !ok:
			return linlisync.Reject(ReasonNotAVolunteerHere, "Only a volunteer of this building can carry this handoff.")
		case !h.GetNeedsCourier():
			return linlisync.Reject(ReasonNoCourierNeeded, "This handoff does not need a courier.")
		case h.GetCourierId() == member.UserID:
			return linlisync.Reject(ReasonCourierTaken, "You are already carrying this handoff.")
		case h.GetCourierId() != "":
			return linlisync.Reject(ReasonCourierTaken, "Another volunteer is already carrying this handoff.")
		}
		to, err := nextState(h, actClaim, "Only an accepted handoff that nobody has picked up can be claimed.")
		if err != nil {
			return err
		}
		// The claim is an event of its own; the state stays ACCEPTED and
		// the handoff moves to the courier path.
		h.CourierId = member.UserID
		record(tx, h, to, actClaim, member.UserID, "courier claimed")
		return nil
	}
}

// pickUp: the courier, giving the pickup code, or the giver (who needs no
// code) has the items.
func pickUp(member Member, code string) func(*linlisync.Tx, *linliv1.Handoff) error {
	return func(tx *linlisync.Tx, h *linliv1.Handoff) error {
		u := member.UserID
		giver := u == h.GetGiverId()
		courier := u == h.GetCourierId()
		if !giver && !courier {
			return errNotAllowed("Only the courier or the giver can pick this up.")
		}
		to, err := nextState(h, actPickUp, "This handoff is not waiting to be picked up.")
		if err != nil {
			return err
		}
		if !giver && subtle.ConstantTimeCompare([]byte(code), []byte(h.GetPickupCode())) != 1 {
			return linlisync.Reject(ReasonWrongPickupCode, "That pickup code is not right; check it with the giver.")
		}
		record(tx, h, to, actPickUp, u, "")
		return notifyHandoff(tx, h, notify.TypeHandoffPickedUp, h.GetReceiverId(), h.GetGiverId())
	}
}

// dropOff: the courier or the giver left the items at a drop point: the one
// given (from the building's list, or the one agreed on the handoff), else
// the agreed one.
func dropOff(member Member, point string) func(*linlisync.Tx, *linliv1.Handoff) error {
	return func(tx *linlisync.Tx, h *linliv1.Handoff) error {
		u := member.UserID
		giver := u == h.GetGiverId()
		courier := u == h.GetCourierId() && u != ""
		switch {
		case !giver && !courier:
			return errNotAllowed("Only the courier or the giver can drop this off.")
		case pathOf(h) == pathCourier && !courier:
			return errNotAllowed("A courier is carrying this handoff: the courier drops it off.")
		}
		to, err := nextState(h, actDropOff, "This handoff cannot be dropped off now.")
		if err != nil {
			return err
		}
		if point == "" {
			point = h.GetDropPoint()
		}
		if point == "" {
			return linlisync.Reject(ReasonDropPointRequired, "Say where you left the items.")
		}
		if point != h.GetDropPoint() {
			if err := knownDropPoint(tx, h.GetCommunityId(), h.GetBuildingId(), point); err != nil {
				return err
			}
		}
		h.DropPoint = point
		record(tx, h, to, actDropOff, u, "")
		return notifyHandoff(tx, h, notify.TypeHandoffDroppedOff, h.GetReceiverId(), h.GetGiverId())
	}
}

// confirmReceived: the receiver (or staff) has the items. The reservation
// becomes a handover: the offer's item loses the quantity from both its
// quantity and its reserved count.
func confirmReceived(member Member) func(*linlisync.Tx, *linliv1.Handoff) error {
	return func(tx *linlisync.Tx, h *linliv1.Handoff) error {
		if member.UserID != h.GetReceiverId() && !member.IsStaff() {
			return errNotAllowed("Only the receiver can confirm they have the items.")
		}
		msg := "This handoff cannot be confirmed now."
		if pathOf(h) == pathCourier && live(h) {
			msg = "A courier is carrying this handoff: confirm once it has been dropped off."
		}
		to, err := nextState(h, actConfirm, msg)
		if err != nil {
			return err
		}
		record(tx, h, to, actConfirm, member.UserID, "")
		if err := notifyHandoff(tx, h, notify.TypeHandoffReceived, h.GetGiverId(), h.GetCourierId()); err != nil {
			return err
		}
		return settle(tx, h, true)
	}
}

// cancelHandoff: the giver, the receiver, the courier or staff call it off
// before it is received; the reservation is released.
func cancelHandoff(member Member, reason string) func(*linlisync.Tx, *linliv1.Handoff) error {
	return func(tx *linlisync.Tx, h *linliv1.Handoff) error {
		u := member.UserID
		if u != h.GetGiverId() && u != h.GetReceiverId() && (u != h.GetCourierId() || u == "") && !member.IsStaff() {
			return errNotAllowed("Only the two neighbours, the courier or staff can cancel this handoff.")
		}
		to, err := nextState(h, actCancel, "This handoff is already finished.")
		if err != nil {
			return err
		}
		h.CancelReason = reason
		record(tx, h, to, actCancel, u, reason)
		if err := notifyHandoff(tx, h, notify.TypeHandoffCancelled, h.GetGiverId(), h.GetReceiverId(), h.GetCourierId()); err != nil {
			return err
		}
		return settle(tx, h, false)
	}
}

// settle updates the two posts of a handoff that just ended (received, or
// not): the offer's item loses the reservation (and, if received, the
// quantity), the handoff leaves both posts' live lists, and their statuses
// follow:
//
//   - offer, if OPEN or MATCHED: FULFILLED when every item's quantity is 0,
//     else MATCHED while another handoff is live, else OPEN.
//   - request, when received: FULFILLED once no other handoff is live
//     (whatever its status, unless CANCELLED); else unchanged.
//   - request, when cancelled, if MATCHED: MATCHED while another handoff is
//     live, else FULFILLED if an earlier handoff was received, else OPEN.
//
// Other statuses (ESCALATED, EXPIRED, CANCELLED) are left as they are on
// cancel. A post or item that is missing (which the handoff's own checks
// rule out) is skipped rather than blocking the client's queue.
func settle(tx *linlisync.Tx, h *linliv1.Handoff, gotIt bool) error {
	c := h.GetCommunityId()
	now := timestamppb.New(tx.Now())

	offID := PostEntityID(c, h.GetOfferPostId())
	if off, ok, err := loadPost(tx, offID); err != nil {
		return err
	} else if ok {
		links, err := loadPostHandoffs(tx, c, h.GetOfferPostId())
		if err != nil {
			return err
		}
		unlink(links, h.GetId(), gotIt)
		if item := offerLine(off, h.GetItemCode()); item != nil {
			item.Reserved = max(0, item.GetReserved()-h.GetQuantity())
			if gotIt {
				item.Quantity = max(0, item.GetQuantity()-h.GetQuantity())
			}
		}
		if openForHandoff(off) {
			switch {
			case allGiven(off):
				off.Status = linliv1.PostStatus_POST_STATUS_FULFILLED
			case len(links.Live) > 0:
				off.Status = linliv1.PostStatus_POST_STATUS_MATCHED
			default:
				off.Status = linliv1.PostStatus_POST_STATUS_OPEN
			}
		}
		off.UpdatedAt = now
		if err := savePostSide(tx, offID, off, links, h.GetOfferPostId()); err != nil {
			return err
		}
	}

	reqID := PostEntityID(c, h.GetRequestPostId())
	if req, ok, err := loadPost(tx, reqID); err != nil {
		return err
	} else if ok {
		links, err := loadPostHandoffs(tx, c, h.GetRequestPostId())
		if err != nil {
			return err
		}
		unlink(links, h.GetId(), gotIt)
		s := req.GetStatus()
		switch {
		case gotIt && len(links.Live) == 0 && s != linliv1.PostStatus_POST_STATUS_CANCELLED:
			req.Status = linliv1.PostStatus_POST_STATUS_FULFILLED
		case !gotIt && s == linliv1.PostStatus_POST_STATUS_MATCHED && len(links.Live) == 0:
			if links.Received > 0 {
				req.Status = linliv1.PostStatus_POST_STATUS_FULFILLED
			} else {
				req.Status = linliv1.PostStatus_POST_STATUS_OPEN
				rearmDeadline(req)
			}
		}
		req.UpdatedAt = now
		if err := savePostSide(tx, reqID, req, links, h.GetRequestPostId()); err != nil {
			return err
		}
	}
	return nil
}

// unlink removes handoff id from a post's live list, counting it if received.
func unlink(ph *postHandoffs, id string, gotIt bool) {
	ph.Live = slices.DeleteFunc(ph.Live, func(s string) bool { return s == id })
	if gotIt {
		ph.Received++
	}
}

// allGiven reports whether nothing is left on an offer.
func allGiven(p *linliv1.Post) bool {
	for _, it := range p.GetItems() {
		if it.GetQuantity() > 0 {
			return false
		}
	}
	return true
}
