package mutualaid

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/linli/linli/mutualaid/catalog"
	"github.com/linli/linli/mutualaid/notify"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// proposal is a validated propose_handoff or accept_suggestion, copied out
// of the client's message.
type proposal struct {
	handoffID, requestID, offerID, itemCode string
	quantity                                int32
	needsCourier                            bool
	dropPoint                               string
	pickupCode                              string // drawn when the mutation was built
	// suggested: an accept_suggestion, whose item, quantity, courier wish
	// (unless courierGiven) and drop point the server fills when not given
	// (see fillSuggestion).
	suggested, courierGiven bool
}

// proposeHandoff reserves in.quantity of the offer's item for the request
// and creates the handoff in state PROPOSED.
//
// Checks, in order: the id is unused (handoff_exists); both posts exist in
// the member's community (post_not_found), are of the right kinds
// (not_a_request, not_an_offer) and have different authors (own_offer); the
// caller is either author, staff, or a volunteer of the request's building
// (not_allowed); the request is OPEN or MATCHED (post_not_open); the offer
// is OPEN or MATCHED (post_not_open; a FULFILLED offer, whose every item is
// given away, is not_enough_left instead, which is what the neighbour who
// came too late needs to hear); the offer has the item (item_not_offered);
// the quantity is free (not_enough_left, saying how many are); the drop
// point, if given, is one of the request's building's (drop_point_unknown);
// neither post has maxLiveHandoffs live handoffs (too_many_handoffs).
//
// For an accept_suggestion, what is not given is filled in once the posts
// are known to be open (fillSuggestion), before the item, quantity and drop
// point are checked as above; a given item must fit the request
// (item_does_not_fit).
//
// The handoff draws on the first line of the offer with in.itemCode; later
// lines with the same code are not used by handoffs. If the offer is
// pre-agreed for the request (preAgreed), the handoff starts ACCEPTED, as
// if its giver had accepted it at once: the reservation above still keeps
// two takers from the last box. Else the side that must accept is told
// (a notification, notify_events.go).
func proposeHandoff(member Member, in proposal) func(*linlisync.Tx) error {
	return func(tx *linlisync.Tx) error {
		c := member.CommunityID
		id := HandoffEntityID(c, in.handoffID)
		if _, exists, err := tx.Get(id); err != nil {
			return err
		} else if exists {
			return linlisync.Reject(ReasonHandoffExists, "A handoff with this id already exists; propose it again with a new id.")
		}
		reqID, offID := PostEntityID(c, in.requestID), PostEntityID(c, in.offerID)
		req, err := handoffPost(tx, reqID, linliv1.PostKind_POST_KIND_REQUEST)
		if err != nil {
			return err
		}
		off, err := handoffPost(tx, offID, linliv1.PostKind_POST_KIND_OFFER)
		if err != nil {
			return err
		}
		if req.GetAuthorId() == off.GetAuthorId() {
			return linlisync.Reject(ReasonOwnOffer, "This offer and this request are by the same person.")
		}
		if err := mayPropose(tx, member, req, off); err != nil {
			return err
		}
		if !openForHandoff(req) {
			return linlisync.Reject(ReasonPostNotOpen, "This request is no longer open.")
		}
		if off.GetStatus() == linliv1.PostStatus_POST_STATUS_FULFILLED {
			return linlisync.Reject(ReasonNotEnoughLeft, "None left: everything on this offer has already been given away.")
		}
		if !openForHandoff(off) {
			return linlisync.Reject(ReasonPostNotOpen, "This offer is no longer open.")
		}
		if in.suggested {
			if err := fillSuggestion(tx, &in, req, off); err != nil {
				return err
			}
		}
		item := offerLine(off, in.itemCode)
		if item == nil {
			return linlisync.Reject(ReasonItemNotOffered, "This offer does not include that item.")
		}
		if free := item.GetQuantity() - item.GetReserved(); in.quantity > free {
			return linlisync.Reject(ReasonNotEnoughLeft, notEnoughLeft(item, free))
		}
		if in.dropPoint != "" {
			if err := knownDropPoint(tx, c, req.GetBuildingId(), in.dropPoint); err != nil {
				return err
			}
		}
		reqLinks, err := loadPostHandoffs(tx, c, in.requestID)
		if err != nil {
			return err
		}
		offLinks, err := loadPostHandoffs(tx, c, in.offerID)
		if err != nil {
			return err
		}
		if len(reqLinks.Live) >= maxLiveHandoffs || len(offLinks.Live) >= maxLiveHandoffs {
			return linlisync.Reject(ReasonTooManyHandoffs,
				fmt.Sprintf("A post can have at most %d handoffs under way; finish or cancel some first.", maxLiveHandoffs))
		}

		// All checks passed: reserve and link.
		item.Reserved += in.quantity
		reqLinks.Live = append(reqLinks.Live, in.handoffID)
		offLinks.Live = append(offLinks.Live, in.handoffID)
		for _, p := range []*linliv1.Post{req, off} {
			if p.GetStatus() == linliv1.PostStatus_POST_STATUS_OPEN {
				p.Status = linliv1.PostStatus_POST_STATUS_MATCHED
			}
			p.UpdatedAt = timestamppb.New(tx.Now())
		}
		if err := savePostSide(tx, reqID, req, reqLinks, in.requestID); err != nil {
			return err
		}
		if err := savePostSide(tx, offID, off, offLinks, in.offerID); err != nil {
			return err
		}
		h := &linliv1.Handoff{
			Id: in.handoffID, CommunityId: c, RequestPostId: in.requestID, OfferPostId: in.offerID,
			GiverId: off.GetAuthorId(), ReceiverId: req.GetAuthorId(),
			ItemCode: in.itemCode, Quantity: in.quantity,
			NeedsCourier: in.needsCourier, BuildingId: req.GetBuildingId(), DropPoint: in.dropPoint,
			PickupCode: in.pickupCode,
		}
		record(tx, h, linliv1.HandoffState_HANDOFF_STATE_PROPOSED, linliv1.HandoffAction_HANDOFF_ACTION_PROPOSE, member.UserID, "")
		if preAgreed(member, req, off) {
			to, err := nextState(h, actAccept, "This handoff cannot be accepted.")
			if err != nil {
				return err
			}
			if err := accept(tx, h, to, off.GetAuthorId(), noteTakenWithoutAsking); err != nil {
				return err
			}
		} else if err := notifyHandoff(tx, h, notify.TypeHandoffProposed, h.GetGiverId(), h.GetReceiverId()); err != nil {
			return err
		}
		return putHandoff(tx, h)
	}
}

// noteTakenWithoutAsking marks the acceptance of a handoff from a
// pre-agreed offer, recorded in the giver's name.
const noteTakenWithoutAsking = "pre-agreed: taken without asking"

// preAgreed reports whether the giver of off agreed in advance to the
// handoff member proposes for req: the offer is pre-agreed for the
// community, or for its building and the request is in the same building,
// and the giver is not the one proposing (whose handoff the receiver
// accepts, as always).
func preAgreed(member Member, req, off *linliv1.Post) bool {
	if member.UserID == off.GetAuthorId() {
		return false
	}
	switch off.GetPreAgreed() {
	case linliv1.PreAgreement_PRE_AGREEMENT_COMMUNITY:
		return true
	case linliv1.PreAgreement_PRE_AGREEMENT_BUILDING:
		return off.GetBuildingId() != "" && off.GetBuildingId() == req.GetBuildingId()
	}
	return false
}

// fillSuggestion completes an accept_suggestion from the two open posts:
//
//   - item: the given one, which must be on the offer (item_not_offered),
//     have some left (not_enough_left) and fit the request
//     (item_does_not_fit); else the offered item that fits the request best,
//     as the suggestion scored it: not_enough_left if the fitting items are
//     all reserved (another neighbour took the last one), item_does_not_fit
//     if none fits now (expired, or the posts changed since).
//   - quantity: the given one; else what the fitting requested line asks
//     for, at most what is free.
//   - courier: the given wish; else wanted when the offer is in another
//     building than the request.
//   - drop point: the given one; else the first of the request's
//     building's drop points, its default (none if it has none).
func fillSuggestion(tx *linlisync.Tx, in *proposal, req, off *linliv1.Post) error {
	cat := catalog.Default()
	r, o := prepareScoring(req, cat), prepareScoring(off, cat)
	today := civilDay(tx.Now())
	var fit itemFit
	if in.itemCode != "" {
		j := slices.IndexFunc(o.items, func(it scoringItem) bool { return it.pi.GetItemCode() == in.itemCode })
		if j < 0 {
			return linlisync.Reject(ReasonItemNotOffered, "This offer does not include that item.")
		}
		oi := &o.items[j]
		if free := oi.pi.GetQuantity() - oi.pi.GetReserved(); free <= 0 {
			return linlisync.Reject(ReasonNotEnoughLeft, notEnoughLeft(oi.pi, free))
		}
		found := false
		for i := range r.items {
			if f, ok := fitItems(&r.items[i], oi, r.age, today); ok && (!found || f.score() > fit.score()) {
				fit, found = f, true
			}
		}
		if !found {
			return linlisync.Reject(ReasonItemDoesNotFit, "This item does not fit the request.")
		}
	} else {
		var ok bool
		if fit, ok = bestFit(r, o, today); !ok {
			if line := takenFit(req, off, cat, today); line != nil {
				return linlisync.Reject(ReasonNotEnoughLeft, notEnoughLeft(line, line.GetQuantity()-line.GetReserved()))
			}
			return linlisync.Reject(ReasonItemDoesNotFit, "Nothing on this offer fits the request any more.")
		}
		in.itemCode = fit.oi.pi.GetItemCode()
	}
	if in.quantity == 0 {
		in.quantity = min(fit.ri.pi.GetQuantity(), fit.free)
	}
	if !in.courierGiven {
		in.needsCourier = off.GetBuildingId() != req.GetBuildingId()
	}
	if in.dropPoint == "" && validID(req.GetBuildingId()) {
		b, ok, err := loadBuilding(tx.Get, req.GetCommunityId(), req.GetBuildingId())
		if err != nil {
			return err
		}
		if ok && len(b.GetDropPoints()) > 0 {
			in.dropPoint = b.GetDropPoints()[0]
		}
	}
	return nil
}

// takenFit returns the line of off that would fit req best if nothing of
// it were reserved, or nil: when bestFit finds nothing free, it tells a
// neighbour who lost the race for the last box (not_enough_left) from one
// whose offer never fitted (item_does_not_fit).
func takenFit(req, off *linliv1.Post, cat *catalog.Catalog, today int64) *linliv1.PostItem {
	whole := proto.CloneOf(off)
	for _, it := range whole.GetItems() {
		it.Reserved = 0
	}
	fit, ok := bestFit(prepareScoring(req, cat), prepareScoring(whole, cat), today)
	if !ok {
		return nil
	}
	return offerLine(off, fit.oi.pi.GetItemCode())
}

// handoffPost loads a post for a proposal, rejecting post_not_found, or
// not_a_request / not_an_offer when it is of the other kind.
func handoffPost(tx *linlisync.Tx, id string, kind linliv1.PostKind) (*linliv1.Post, error) {
	p, ok, err := loadPost(tx, id)
	switch {
	case err != nil:
		return nil, err
	case !ok && kind == linliv1.PostKind_POST_KIND_REQUEST:
		return nil, linlisync.Reject(ReasonPostNotFound, "This request does not exist.")
	case !ok:
		return nil, linlisync.Reject(ReasonPostNotFound, "This offer does not exist.")
	case p.GetKind() != kind && kind == linliv1.PostKind_POST_KIND_REQUEST:
		return nil, linlisync.Reject(ReasonNotARequest, "The post to receive the items is not a request.")
	case p.GetKind() != kind:
		return nil, linlisync.Reject(ReasonNotAnOffer, "The post to give the items is not an offer.")
	}
	return p, nil
}

// mayPropose refuses not_allowed unless member wrote one of the posts, is
// staff, or volunteers for the request's building.
func mayPropose(tx *linlisync.Tx, member Member, req, off *linliv1.Post) error {
	if member.UserID == req.GetAuthorId() || member.UserID == off.GetAuthorId() || member.IsStaff() {
		return nil
	}
	ok, err := volunteersFor(tx, member, req.GetBuildingId())
	if err != nil {
		return err
	}
	if !ok {
		return linlisync.Reject(ReasonNotAllowed, "Only the two neighbours, the building's volunteers or community staff can arrange this handoff.")
	}
	return nil
}

// volunteersFor reports whether member's stored record makes them a
// volunteer of building b (not removed, role VOLUNTEER, b among their buildings).
func volunteersFor(tx *linlisync.Tx, member Member, b string) (bool, error) {
	if b == "" {
		return false, nil
	}
	m, ok, err := loadMember(tx.Get, member.CommunityID, member.UserID)
	if err != nil || !ok {
		return false, err
	}
	return !m.GetRemoved() && m.GetRole() == linliv1.Role_ROLE_VOLUNTEER &&
		slices.Contains(m.GetVolunteerBuildingIds(), b), nil
}

// openForHandoff reports whether a post can take a new handoff.
func openForHandoff(p *linliv1.Post) bool {
	s := p.GetStatus()
	return s == linliv1.PostStatus_POST_STATUS_OPEN || s == linliv1.PostStatus_POST_STATUS_MATCHED
}

// offerLine returns the first item of the offer with code, or nil.
func offerLine(p *linliv1.Post, code string) *linliv1.PostItem {
	for _, it := range p.GetItems() {
		if it.GetItemCode() == code {
			return it
		}
	}
	return nil
}

// notEnoughLeft is the message of a not_enough_left rejection.
func notEnoughLeft(item *linliv1.PostItem, free int32) string {
	name := item.GetName()
	if name == "" {
		name = item.GetItemCode()
	}
	if free <= 0 {
		return fmt.Sprintf("None left of %s: another neighbour has already taken the last one.", name)
	}
	return fmt.Sprintf("Only %d left of %s: other neighbours have reserved the rest. Ask for %d or fewer.", free, name, free)
}

// knownDropPoint refuses drop_point_unknown unless point is one of building
// b's drop points in community c.
func knownDropPoint(tx *linlisync.Tx, c, b, point string) error {
	if validID(b) {
		bl, ok, err := loadBuilding(tx.Get, c, b)
		if err != nil {
			return err
		}
		if ok && slices.Contains(bl.GetDropPoints(), point) {
			return nil
		}
	}
	return linlisync.Reject(ReasonDropPointUnknown, "Choose one of the building's drop points.")
}

func loadPostHandoffs(tx *linlisync.Tx, c, postID string) (*postHandoffs, error) {
	var ph postHandoffs
	if _, err := getJSON(tx.Get, postHandoffsID(c, postID), &ph); err != nil {
		return nil, err
	}
	return &ph, nil
}

// savePostSide saves a post changed by a handoff and its handoff record.
func savePostSide(tx *linlisync.Tx, entityID string, p *linliv1.Post, ph *postHandoffs, postID string) error {
	if err := putPost(tx, entityID, p); err != nil {
		return err
	}
	return putJSON(tx, postHandoffsID(p.GetCommunityId(), postID), ph, nil)
}
