package mutualaid

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// Handoffs move items from an offer to a request, contactless:
//
//	PROPOSED → ACCEPTED → [PICKED_UP] → [DROPPED_OFF] → RECEIVED
//	    └──────────┴───────────┴─────────────┴──→ CANCELLED
//
// by the direct path or, once a volunteer claims it, the courier path,
// which never skips the courier's steps: the whole machine is one table,
// handoffMachine (handoff_machine.go).
//
// Proposing reserves the quantity on the offer (PostItem.Reserved) in the
// same Apply that checks it is free; the engine's single writer applies
// mutations one at a time, so two neighbours can never both take the last
// box: the second proposal is REJECTED not_enough_left. Receiving consumes
// the reservation (the offer's quantity drops); cancelling releases it.
//
// Entities: handoff/<c>/<handoff id> and posthandoffs/<c>/<post id> (see
// namespace.go). posthandoffs lists a post's live handoffs (neither RECEIVED nor
// CANCELLED) and counts its received ones: it decides whether a post goes
// back to OPEN when a handoff is cancelled, and whether a request is
// FULFILLED when one is received.

// Rejection reasons of handoff mutations, reported as REJECTED outcomes
// (besides ReasonPostNotFound and ReasonPostNotOpen).
const (
	ReasonHandoffExists     = "handoff_exists"       // propose: the id is taken in the community
	ReasonHandoffNotFound   = "handoff_not_found"    // no such handoff in the member's community
	ReasonNotARequest       = "not_a_request"        // propose: request_post_id names an offer
	ReasonNotAnOffer        = "not_an_offer"         // propose: offer_post_id names a request
	ReasonOwnOffer          = "own_offer"            // propose: the offer and the request have the same author
	ReasonItemNotOffered    = "item_not_offered"     // propose: the offer has no line with item_code
	ReasonNotEnoughLeft     = "not_enough_left"      // propose: quantity exceeds what is free (or the offer is used up)
	ReasonTooManyHandoffs   = "too_many_handoffs"    // propose: a post has maxLiveHandoffs live handoffs
	ReasonNotAllowed        = "not_allowed"          // the caller may not make this move
	ReasonDropPointUnknown  = "drop_point_unknown"   // not one of the building's drop points
	ReasonDropPointRequired = "drop_point_required"  // drop_off with no drop point given or agreed
	ReasonBadState          = "bad_state"            // the handoff's state does not allow the move
	ReasonNoCourierNeeded   = "no_courier_needed"    // claim_courier of a handoff that needs none
	ReasonCourierTaken      = "courier_taken"        // claim_courier: another volunteer has it
	ReasonNotAVolunteerHere = "not_a_volunteer_here" // claim_courier: not a volunteer of the building
	ReasonWrongPickupCode   = "wrong_pickup_code"    // pick_up by the courier with a wrong code
	ReasonItemDoesNotFit    = "item_does_not_fit"    // accept_suggestion: nothing (or not the item named) on the offer fits the request
)

// Limits of handoff input.
const (
	maxHandoffQuantity = 1000 // propose_handoff.quantity
	maxDropPointLen    = maxPlaceNameLen
	pickupCodeLen      = 6  // digits
	maxLiveHandoffs    = 50 // per post
)

// handoffMutation turns a client's handoff mutation, pushed by member, into
// an engine mutation named after its kind ("propose_handoff",
// "accept_suggestion", "accept_handoff", "claim_courier", "pick_up",
// "drop_off", "confirm_received", "cancel_handoff") with the client's
// mutation id.
// ok is false, and nothing else is set, when m is not a handoff mutation.
//
// It validates m first: bad input returns an *Error with Code Invalid whose
// Field is relative to m (e.g. "propose_handoff.quantity") and whose Reason
// is one of handoff_id_*, request_post_id_*, offer_post_id_* (1–64 of
// [A-Za-z0-9_-]: _required, _too_long, _invalid), item_code_* (1–64 of
// [a-z0-9-]; optional for accept_suggestion), quantity_out_of_range (1–1000;
// 0 too for accept_suggestion), drop_point_too_long /
// drop_point_invalid (at most 80 characters), pickup_code_invalid (empty or
// 6 digits), cancel_reason_too_long / cancel_reason_invalid (at most 200
// characters). Nothing is to be queued then.
//
// The returned Apply works only in member's community and rejects (the id
// consumed, nothing changed) with the Reason* constants; any other error
// it returns is internal (storage, or a stored entity of the wrong kind).
//
// REQUIRES: member.UserID and member.CommunityID non-empty, and member is
// the user of the client that pushes the mutation.
func handoffMutation(member Member, m *linliv1.Mutation) (mut linlisync.Mutation, ok bool, err error) {
	var v validator
	mut = linlisync.Mutation{ID: m.GetId()}
	switch k := m.GetKind().(type) {
	case *linliv1.Mutation_ProposeHandoff:
		p := k.ProposeHandoff
		const at = "propose_handoff."
		v.ident(at+"handoff_id", "handoff_id", p.GetHandoffId(), isIDByte)
		v.ident(at+"request_post_id", "request_post_id", p.GetRequestPostId(), isIDByte)
		v.ident(at+"offer_post_id", "offer_post_id", p.GetOfferPostId(), isIDByte)
		v.ident(at+"item_code", "item_code", p.GetItemCode(), isItemCodeByte)
		v.intRange(at+"quantity", "quantity", p.GetQuantity(), 1, maxHandoffQuantity)
		v.text(at+"drop_point", "drop_point", p.GetDropPoint(), maxDropPointLen, false)
		if v.err == nil {
			code, err := newPickupCode()
			if err != nil {
				return linlisync.Mutation{}, true, err
			}
			mut.Name, mut.Apply = "propose_handoff", proposeHandoff(member, proposal{
				handoffID: p.GetHandoffId(), requestID: p.GetRequestPostId(), offerID: p.GetOfferPostId(),
				itemCode: p.GetItemCode(), quantity: p.GetQuantity(), needsCourier: p.GetNeedsCourier(),
				dropPoint: p.GetDropPoint(), pickupCode: code,
			})
		}
	case *linliv1.Mutation_AcceptSuggestion:
		p := k.AcceptSuggestion
		const at = "accept_suggestion."
		v.ident(at+"handoff_id", "handoff_id", p.GetHandoffId(), isIDByte)
		v.ident(at+"request_post_id", "request_post_id", p.GetRequestPostId(), isIDByte)
		v.ident(at+"offer_post_id", "offer_post_id", p.GetOfferPostId(), isIDByte)
		if p.GetItemCode() != "" {
			v.ident(at+"item_code", "item_code", p.GetItemCode(), isItemCodeByte)
		}
		if p.GetQuantity() != 0 {
			v.intRange(at+"quantity", "quantity", p.GetQuantity(), 1, maxHandoffQuantity)
		}
		v.text(at+"drop_point", "drop_point", p.GetDropPoint(), maxDropPointLen, false)
		if v.err == nil {
			code, err := newPickupCode()
			if err != nil {
				return linlisync.Mutation{}, true, err
			}
			mut.Name, mut.Apply = "accept_suggestion", proposeHandoff(member, proposal{
				handoffID: p.GetHandoffId(), requestID: p.GetRequestPostId(), offerID: p.GetOfferPostId(),
				itemCode: p.GetItemCode(), quantity: p.GetQuantity(), needsCourier: p.GetNeedsCourier(),
				dropPoint: p.GetDropPoint(), pickupCode: code,
				suggested: true, courierGiven: p.NeedsCourier != nil,
			})
		}
	case *linliv1.Mutation_AcceptHandoff:
		id := k.AcceptHandoff.GetHandoffId()
		v.ident("accept_handoff.handoff_id", "handoff_id", id, isIDByte)
		mut.Name, mut.Apply = "accept_handoff", transition(member, id, acceptHandoff(member))
	case *linliv1.Mutation_ClaimCourier:
		id := k.ClaimCourier.GetHandoffId()
		v.ident("claim_courier.handoff_id", "handoff_id", id, isIDByte)
		mut.Name, mut.Apply = "claim_courier", transition(member, id, claimCourier(member))
	case *linliv1.Mutation_PickUp:
		id, code := k.PickUp.GetHandoffId(), k.PickUp.GetPickupCode()
		v.ident("pick_up.handoff_id", "handoff_id", id, isIDByte)
		if code != "" && !validPickupCode(code) {
			v.fail("pick_up.pickup_code", "pickup_code_invalid", "The pickup code is 6 digits.")
		}
		mut.Name, mut.Apply = "pick_up", transition(member, id, pickUp(member, code))
	case *linliv1.Mutation_DropOff:
		id, point := k.DropOff.GetHandoffId(), k.DropOff.GetDropPoint()
		v.ident("drop_off.handoff_id", "handoff_id", id, isIDByte)
		v.text("drop_off.drop_point", "drop_point", point, maxDropPointLen, false)
		mut.Name, mut.Apply = "drop_off", transition(member, id, dropOff(member, point))
	case *linliv1.Mutation_ConfirmReceived:
		id := k.ConfirmReceived.GetHandoffId()
		v.ident("confirm_received.handoff_id", "handoff_id", id, isIDByte)
		mut.Name, mut.Apply = "confirm_received", transition(member, id, confirmReceived(member))
	case *linliv1.Mutation_CancelHandoff:
		id, reason := k.CancelHandoff.GetHandoffId(), k.CancelHandoff.GetReason()
		v.ident("cancel_handoff.handoff_id", "handoff_id", id, isIDByte)
		v.text("cancel_handoff.reason", "cancel_reason", reason, maxCancelReason, false)
		mut.Name, mut.Apply = "cancel_handoff", transition(member, id, cancelHandoff(member, reason))
	default:
		return linlisync.Mutation{}, false, nil
	}
	if member.UserID == "" || member.CommunityID == "" {
		return linlisync.Mutation{}, true, errors.New("mutualaid: member without user or community")
	}
	if err := v.result(); err != nil {
		return linlisync.Mutation{}, true, err
	}
	return mut, true, nil
}

// newPickupCode returns 6 uniformly random decimal digits.
func newPickupCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", fmt.Errorf("mutualaid: pickup code: %w", err)
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

func validPickupCode(s string) bool {
	if len(s) != pickupCodeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// transition loads the handoff named by handoffID in member's community
// (rejecting handoff_not_found), lets step check and change it, and
// republishes it.
func transition(member Member, handoffID string, step func(tx *linlisync.Tx, h *linliv1.Handoff) error) func(*linlisync.Tx) error {
	return func(tx *linlisync.Tx) error {
		id := HandoffEntityID(member.CommunityID, handoffID)
		h, ok, err := loadHandoff(tx, id)
		if err != nil {
			return err
		}
		if !ok {
			return linlisync.Reject(ReasonHandoffNotFound, "This handoff does not exist.")
		}
		if err := step(tx, h); err != nil {
			return err
		}
		return putHandoff(tx, h)
	}
}

// record moves h to state s by move a, noting who and when.
func record(tx *linlisync.Tx, h *linliv1.Handoff, s linliv1.HandoffState, a linliv1.HandoffAction, by, note string) {
	h.State = s
	h.History = append(h.History, &linliv1.HandoffEvent{State: s, ByUserId: by, At: timestamppb.New(tx.Now()), Note: note, Action: a})
}

// proposer is who proposed h.
func proposer(h *linliv1.Handoff) string {
	if len(h.GetHistory()) == 0 {
		return ""
	}
	return h.GetHistory()[0].GetByUserId()
}

// loadHandoff reads and decodes a handoff's canonical value.
func loadHandoff(tx *linlisync.Tx, id string) (*linliv1.Handoff, bool, error) {
	e, ok, err := getEntity(tx.Get, id)
	if err != nil || !ok {
		return nil, false, err
	}
	if e.GetHandoff() == nil {
		return nil, false, fmt.Errorf("mutualaid: entity %s is not a handoff", id)
	}
	return e.GetHandoff(), true, nil
}

// putHandoff stores h and publishes its views.
func putHandoff(tx *linlisync.Tx, h *linliv1.Handoff) error {
	id := HandoffEntityID(h.GetCommunityId(), h.GetId())
	canonical, err := marshalAny(id, &linliv1.Entity{Kind: &linliv1.Entity_Handoff{Handoff: h}})
	if err != nil {
		return err
	}
	views, err := handoffViews(h)
	if err != nil {
		return err
	}
	return tx.Put(id, canonical, views)
}

// live reports whether h still holds a reservation.
func live(h *linliv1.Handoff) bool {
	s := h.GetState()
	return s != linliv1.HandoffState_HANDOFF_STATE_RECEIVED && s != linliv1.HandoffState_HANDOFF_STATE_CANCELLED
}

// cloneHandoff is a deep copy, for views.
func cloneHandoff(h *linliv1.Handoff) *linliv1.Handoff { return proto.CloneOf(h) }
