package mutualaid

import (
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// Reasons recorded on the proposals a request's forwarding withdraws.
const (
	withdrawnByPolicy = "forwarded to the hotline at its deadline: nobody had accepted this proposal"
	withdrawnByStaff  = "forwarded to the hotline by staff before this proposal was accepted"
)

// withdrawUnanswered clears request p for the hotline when its only live
// handoffs are proposals nobody has accepted: it cancels each (recording
// by, empty for linli itself, and reason), which releases what they
// reserved on the offers and settles the request as a cancel does. It
// returns the request as it is afterwards (OPEN, or FULFILLED when an
// earlier handoff was received). A proposal nobody answered must not keep
// a request from the hotline: at night the next neighbour may not answer
// for hours.
//
// ok is false, and nothing changes, when a neighbour has accepted one of
// p's handoffs: help is on its way and holds the request back.
func withdrawUnanswered(tx *linlisync.Tx, p *linliv1.Post, by, reason string) (_ *linliv1.Post, ok bool, err error) {
	if p.GetStatus() != linliv1.PostStatus_POST_STATUS_MATCHED {
		return p, true, nil
	}
	c := p.GetCommunityId()
	links, err := loadPostHandoffs(tx, c, p.GetId())
	if err != nil {
		return nil, false, err
	}
	pending := make([]*linliv1.Handoff, 0, len(links.Live))
	for _, id := range links.Live {
		h, found, err := loadHandoff(tx, HandoffEntityID(c, id))
		if err != nil {
			return nil, false, err
		}
		if found && h.GetState() != proposed {
			return nil, false, nil
		}
		if found {
			pending = append(pending, h)
		}
	}
	for _, h := range pending {
		if err := withdrawProposal(tx, h, by, reason); err != nil {
			return nil, false, err
		}
	}
	p, found, err := loadPost(tx, PostEntityID(c, p.GetId()))
	if err != nil || !found {
		return nil, false, err
	}
	return p, true, nil
}

// withdrawProposal cancels proposal h on behalf of by and settles its posts.
func withdrawProposal(tx *linlisync.Tx, h *linliv1.Handoff, by, reason string) error {
	to, err := nextState(h, actCancel, "This handoff is already finished.")
	if err != nil {
		return err
	}
	h.CancelReason = reason
	record(tx, h, to, actCancel, by, reason)
	if err := settle(tx, h, false); err != nil {
		return err
	}
	return putHandoff(tx, h)
}
