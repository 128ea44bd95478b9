package mutualaid

import (
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// The handoff state machine, in one table. A handoff takes one of two
// paths once accepted:
//
//   - direct: no courier has claimed it. The giver brings the items, or
//     leaves them at a drop point; the receiver confirms on the doorstep,
//     from the drop point, or when the giver arrives with them.
//   - courier: a building volunteer has claimed it (claim_courier). The
//     courier picks the items up (with the pickup code; or the giver
//     records handing them over), drops them off at a drop point, and only
//     then can the receiver confirm: never straight from ACCEPTED or
//     PICKED_UP, so the courier's part is never skipped.
//
// Any live handoff (not RECEIVED or CANCELLED) can be cancelled, on either
// path. Who may make each move is checked by the move (see
// handoff_transition.go); the table decides which moves a state allows. A
// move the table does not list for the handoff's state and path is
// REJECTED bad_state. docs/protocol.md has the same table for app
// developers; TestHandoffStateMachine walks every row and every gap.

// handoffPath is the way a handoff travels once accepted.
type handoffPath int

const (
	pathDirect  handoffPath = iota // no courier claimed
	pathCourier                    // a courier claimed it
)

func (p handoffPath) String() string {
	if p == pathCourier {
		return "courier"
	}
	return "direct"
}

// pathOf is the path h is on now.
func pathOf(h *linliv1.Handoff) handoffPath {
	if h.GetCourierId() != "" {
		return pathCourier
	}
	return pathDirect
}

// handoffStep is one row of the machine: from a state, on a path, a move
// leads to a state (and, for claim_courier, to the courier path).
type handoffStep struct {
	From   linliv1.HandoffState
	Path   handoffPath
	Action linliv1.HandoffAction
	To     linliv1.HandoffState
	Who    string // who may make it, for the docs and failure messages
}

// Moves, short.
const (
	actAccept  = linliv1.HandoffAction_HANDOFF_ACTION_ACCEPT
	actClaim   = linliv1.HandoffAction_HANDOFF_ACTION_CLAIM_COURIER
	actPickUp  = linliv1.HandoffAction_HANDOFF_ACTION_PICK_UP
	actDropOff = linliv1.HandoffAction_HANDOFF_ACTION_DROP_OFF
	actConfirm = linliv1.HandoffAction_HANDOFF_ACTION_CONFIRM_RECEIVED
	actCancel  = linliv1.HandoffAction_HANDOFF_ACTION_CANCEL
)

// handoffMachine is every legal move. PROPOSED is entered by
// propose_handoff (a new handoff, always on the direct path).
var handoffMachine = []handoffStep{
	{proposed, pathDirect, actAccept, accepted, "the side that did not propose (either side if a third party did), or staff"},

	{accepted, pathDirect, actClaim, accepted, "a volunteer of the building, if it needs a courier (it moves to the courier path)"},
	{accepted, pathDirect, actConfirm, received, "the receiver or staff (handed over at the door)"},
	{accepted, pathDirect, actPickUp, pickedUp, "the giver (carrying it themselves)"},
	{accepted, pathDirect, actDropOff, droppedOff, "the giver"},
	{pickedUp, pathDirect, actDropOff, droppedOff, "the giver"},
	{pickedUp, pathDirect, actConfirm, received, "the receiver or staff"},
	{droppedOff, pathDirect, actConfirm, received, "the receiver or staff"},

	{accepted, pathCourier, actPickUp, pickedUp, "the courier with the pickup code, or the giver handing it over"},
	{pickedUp, pathCourier, actDropOff, droppedOff, "the courier"},
	{droppedOff, pathCourier, actConfirm, received, "the receiver or staff"},

	{proposed, pathDirect, actCancel, cancelled, "the giver, the receiver or staff"},
	{accepted, pathDirect, actCancel, cancelled, "the giver, the receiver or staff"},
	{pickedUp, pathDirect, actCancel, cancelled, "the giver, the receiver or staff"},
	{droppedOff, pathDirect, actCancel, cancelled, "the giver, the receiver or staff"},
	{accepted, pathCourier, actCancel, cancelled, "the giver, the receiver, the courier or staff"},
	{pickedUp, pathCourier, actCancel, cancelled, "the giver, the receiver, the courier or staff"},
	{droppedOff, pathCourier, actCancel, cancelled, "the giver, the receiver, the courier or staff"},
}

// HandoffMachine returns the rows of the state machine, for documentation
// and tests.
func HandoffMachine() []HandoffStep {
	out := make([]HandoffStep, len(handoffMachine))
	for i, s := range handoffMachine {
		out[i] = HandoffStep{From: s.From, Courier: s.Path == pathCourier, Action: s.Action, To: s.To, Who: s.Who}
	}
	return out
}

// HandoffStep is one row of the handoff state machine: from state From, on
// the courier path or not, the move Action leads to state To.
type HandoffStep struct {
	From    linliv1.HandoffState
	Courier bool
	Action  linliv1.HandoffAction
	To      linliv1.HandoffState
	Who     string
}

// nextState returns the state a move leads h to, or rejects it bad_state
// with message when the machine does not allow it from h's state and path.
func nextState(h *linliv1.Handoff, a linliv1.HandoffAction, message string) (linliv1.HandoffState, error) {
	path := pathOf(h)
	for _, s := range handoffMachine {
		if s.From == h.GetState() && s.Path == path && s.Action == a {
			return s.To, nil
		}
	}
	return 0, linlisync.Reject(ReasonBadState, message)
}
