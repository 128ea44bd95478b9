package mutualaid

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// Rejection reasons of post mutations, reported as REJECTED outcomes.
const (
	ReasonPostExists      = "post_exists"           // post_offer/post_request: the id is taken in the community
	ReasonPostNotFound    = "post_not_found"        // edit_post/cancel_post: no such post in the member's community
	ReasonNotAuthor       = "not_author"            // edit_post/cancel_post: the post is someone else's
	ReasonPostNotOpen     = "post_not_open"         // edit_post/cancel_post: the post is no longer open
	ReasonUrgencyRequired = "urgency_required"      // edit_post of a request without an urgency
	ReasonBuildingUnknown = "building_unknown"      // post_offer/post_request/edit_post: the community has no such building
	ReasonNotOnBehalf     = "not_allowed_on_behalf" // post_offer/post_request/edit_post on behalf of a resident without the right
)

// NewMutationAt turns a client's mutation, pushed by member, into an engine
// mutation named "post_offer", "post_request", "edit_post", "cancel_post" or
// "rate_case", or one of the handoff mutations, with the client's mutation
// id; now is the clock reading that decides whether a medicine has expired.
// Service.Mutation calls it with the service's clock.
//
// It validates m first: malformed input returns the *Error of
// ValidateMutation and nothing is to be queued. A well-formed mutation that
// a rule of the catalog, the clock or the member's role refuses (an expired
// or unknown item, a prescription drug offered, a recipient's age, posting
// for someone else without the right) becomes a mutation that is REJECTED
// with that rule's reason, consuming its id. The returned Apply works only
// in member's community: post ids are resolved there, so a client can never
// reach another community's posts. Apply rejects (consuming the id,
// changing nothing) with the Reason* constants; any other error it returns
// is internal (storage, or a stored entity that is not a post).
//
// REQUIRES: member.UserID and member.CommunityID non-empty, and member is
// the user of the client that pushes the mutation.
func NewMutationAt(member Member, m *linliv1.Mutation, now time.Time) (linlisync.Mutation, error) {
	if member.UserID == "" || member.CommunityID == "" {
		return linlisync.Mutation{}, errors.New("mutualaid: member without user or community")
	}
	if mut, ok, err := handoffMutation(member, m); ok || err != nil {
		return mut, err
	}
	if err := ValidateMutation(m); err != nil {
		return linlisync.Mutation{}, err
	}
	mut := linlisync.Mutation{ID: m.GetId()}
	if err := checkPostRules(member, m, now); err != nil {
		// A rule of the catalog, the clock or the member's role refuses
		// it: a REJECTED outcome that consumes the id, so a mutation
		// queued offline (its medicine has expired since) never blocks
		// the queue.
		e, ok := errors.AsType[*Error](err)
		if !ok {
			return linlisync.Mutation{}, err
		}
		mut.Name = string(m.ProtoReflect().WhichOneof(m.ProtoReflect().Descriptor().Oneofs().ByName("kind")).Name())
		mut.Apply = func(*linlisync.Tx) error { return linlisync.Reject(e.Reason, e.Message) }
		return mut, nil
	}
	switch k := m.GetKind().(type) {
	case *linliv1.Mutation_PostOffer:
		mut.Name, mut.Apply = "post_offer", createPost(member, linliv1.PostKind_POST_KIND_OFFER, k.PostOffer.GetPostId(), k.PostOffer.GetDraft())
	case *linliv1.Mutation_PostRequest:
		mut.Name, mut.Apply = "post_request", createPost(member, linliv1.PostKind_POST_KIND_REQUEST, k.PostRequest.GetPostId(), k.PostRequest.GetDraft())
	case *linliv1.Mutation_EditPost:
		mut.Name, mut.Apply = "edit_post", editPost(member, k.EditPost.GetPostId(), k.EditPost.GetDraft())
	case *linliv1.Mutation_CancelPost:
		mut.Name, mut.Apply = "cancel_post", cancelPost(member, k.CancelPost.GetPostId(), k.CancelPost.GetReason())
	case *linliv1.Mutation_RateCase:
		mut.Name, mut.Apply = "rate_case", rateCase(member, k.RateCase)
	}
	return mut, nil
}

// createPost publishes a new open post, unless the id is taken.
func createPost(member Member, kind linliv1.PostKind, postID string, d *linliv1.PostDraft) func(*linlisync.Tx) error {
	d = copyDraft(d)
	verdict := assessDraft(d)
	return func(tx *linlisync.Tx) error {
		id := PostEntityID(member.CommunityID, postID)
		_, exists, err := tx.Get(id)
		if err != nil {
			return err
		}
		if exists {
			return linlisync.Reject(ReasonPostExists, "A post with this id already exists; create it again with a new id.")
		}
		if err := draftPlaceRules(tx, member, d); err != nil {
			return err
		}
		p := &linliv1.Post{
			Id: postID, Kind: kind, CommunityId: member.CommunityID, AuthorId: member.UserID,
			Status:    linliv1.PostStatus_POST_STATUS_OPEN,
			CreatedAt: timestamppb.New(tx.Now()), UpdatedAt: timestamppb.New(tx.Now()),
		}
		if err := setDraft(p, d); err != nil {
			return err
		}
		if err := applyTriage(tx, p, verdict); err != nil {
			return err
		}
		return writePost(tx, id, p, true)
	}
}

// editPost replaces the draft of the member's own open post.
func editPost(member Member, postID string, d *linliv1.PostDraft) func(*linlisync.Tx) error {
	d = copyDraft(d)
	verdict := assessDraft(d)
	return func(tx *linlisync.Tx) error {
		id := PostEntityID(member.CommunityID, postID)
		p, err := ownOpenPost(tx, member, id)
		if err != nil {
			return err
		}
		if reserved(p) {
			return linlisync.Reject(ReasonPostNotOpen, "Neighbours have reserved items of this post; cancel those handoffs before editing it.")
		}
		if err := draftPlaceRules(tx, member, d); err != nil {
			return err
		}
		if p.GetKind() == linliv1.PostKind_POST_KIND_OFFER {
			if err := offerRules(d, tx.Now()); err != nil {
				return err
			}
		}
		if err := setDraft(p, d); err != nil {
			return err
		}
		if err := applyTriage(tx, p, verdict); err != nil {
			return err
		}
		rescheduleOnEdit(p)
		p.UpdatedAt = timestamppb.New(tx.Now())
		if forwarded, err := autoForward(tx, p, nil); err != nil || forwarded {
			return err
		}
		return putPost(tx, id, p)
	}
}

// cancelPost withdraws the member's own open post. It stays published,
// with status CANCELLED and the reason. A request already forwarded to the
// hotline may be withdrawn too (the need was met elsewhere): its case stays
// at the hotline, which cannot cancel one, is still followed, and staff see
// the withdrawal.
func cancelPost(member Member, postID, reason string) func(*linlisync.Tx) error {
	return func(tx *linlisync.Tx) error {
		id := PostEntityID(member.CommunityID, postID)
		p, err := ownPost(tx, member, id, linliv1.PostStatus_POST_STATUS_OPEN, linliv1.PostStatus_POST_STATUS_ESCALATED)
		if err != nil {
			return err
		}
		p.Status = linliv1.PostStatus_POST_STATUS_CANCELLED
		p.CancelReason = reason
		p.UpdatedAt = timestamppb.New(tx.Now())
		return putPost(tx, id, p)
	}
}

// draftPlaceRules are the rules of a draft that depend on the store, checked
// inside the transaction that applies it: the building must be one of the
// member's community's (REJECTED building_unknown), and a post on someone's
// behalf needs the right as the member's record stands now, not as it
// stood when the mutation was queued (REJECTED not_allowed_on_behalf: staff,
// or a volunteer of the building, not removed).
func draftPlaceRules(tx *linlisync.Tx, member Member, d *linliv1.PostDraft) error {
	_, ok, err := loadBuilding(tx.Get, member.CommunityID, d.GetBuildingId())
	if err != nil {
		return err
	}
	if !ok {
		return linlisync.Reject(ReasonBuildingUnknown, "This building is not in your community; choose one from the list.")
	}
	if d.GetOnBehalf() == nil {
		return nil
	}
	m, ok, err := loadMember(tx.Get, member.CommunityID, member.UserID)
	if err != nil {
		return err
	}
	if ok && !m.GetRemoved() {
		switch m.GetRole() {
		case linliv1.Role_ROLE_STAFF, linliv1.Role_ROLE_ADMIN:
			return nil
		case linliv1.Role_ROLE_VOLUNTEER:
			if slices.Contains(m.GetVolunteerBuildingIds(), d.GetBuildingId()) {
				return nil
			}
		}
	}
	return linlisync.Reject(ReasonNotOnBehalf, "Only staff, or volunteers of this building, may post for another resident.")
}

// ownOpenPost loads the post with entity id, rejecting unless it exists, is
// the member's and is open.
func ownOpenPost(tx *linlisync.Tx, member Member, id string) (*linliv1.Post, error) {
	return ownPost(tx, member, id, linliv1.PostStatus_POST_STATUS_OPEN)
}

// ownPost loads the post with entity id, rejecting unless it exists, is
// the member's and is in one of the allowed statuses.
func ownPost(tx *linlisync.Tx, member Member, id string, allowed ...linliv1.PostStatus) (*linliv1.Post, error) {
	p, ok, err := loadPost(tx, id)
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, linlisync.Reject(ReasonPostNotFound, "This post does not exist.")
	case p.GetAuthorId() != member.UserID:
		return nil, linlisync.Reject(ReasonNotAuthor, "Only the author can change this post.")
	case !slices.Contains(allowed, p.GetStatus()):
		return nil, linlisync.Reject(ReasonPostNotOpen, "This post is no longer open and cannot be changed.")
	}
	return p, nil
}

// loadPost reads and decodes a post's canonical value.
func loadPost(tx *linlisync.Tx, id string) (*linliv1.Post, bool, error) { return getPost(tx.Get, id) }

// getPost reads and decodes a post's canonical value through get (a Tx's
// or the store's Get).
func getPost(get func(string) ([]byte, bool, error), id string) (*linliv1.Post, bool, error) {
	e, ok, err := getEntity(get, id)
	if err != nil || !ok {
		return nil, false, err
	}
	if e.GetPost() == nil {
		return nil, false, fmt.Errorf("mutualaid: entity %s is not a post", id)
	}
	return e.GetPost(), true, nil
}

// putPost stores p as the canonical value of id, keeps its deadline and
// its staff queue item in step, and publishes its views.
func putPost(tx *linlisync.Tx, id string, p *linliv1.Post) error {
	return writePost(tx, id, p, false)
}

// writePost is putPost; fresh says p is being created: the post and its
// index entries do not exist yet.
func writePost(tx *linlisync.Tx, id string, p *linliv1.Post, fresh bool) error {
	if err := scheduleDeadline(tx, p, fresh); err != nil {
		return err
	}
	if err := syncQueueItem(tx, p); err != nil {
		return err
	}
	views, err := PostViews(p)
	if err != nil {
		return err
	}
	// The staff view is the full post: the canonical value.
	if err := tx.Put(id, views[StaffScope(p.GetCommunityId())], views); err != nil {
		return err
	}
	return postChanged(tx, p)
}

// setDraft copies the draft's fields into p. An unspecified urgency means
// routine for an offer; a request must keep stating one.
func setDraft(p *linliv1.Post, d *linliv1.PostDraft) error {
	u := d.GetUrgency()
	if u == linliv1.Urgency_URGENCY_UNSPECIFIED {
		if p.GetKind() == linliv1.PostKind_POST_KIND_REQUEST {
			return linlisync.Reject(ReasonUrgencyRequired, "Choose how urgent this request is.")
		}
		u = linliv1.Urgency_URGENCY_ROUTINE
	}
	p.Items = d.GetItems()
	p.Urgency = u
	p.Note = d.GetNote()
	p.BuildingId = d.GetBuildingId()
	p.Floor = d.GetFloor()
	p.Unit = d.GetUnit()
	p.Phone = d.GetPhone()
	p.AuthorName = d.GetDisplayName()
	p.ForWhom = d.GetForWhom()
	p.OnBehalf = d.GetOnBehalf()
	p.SharePhoneWithHotline = d.GetSharePhoneWithHotline()
	p.PreAgreed = linliv1.PreAgreement_PRE_AGREEMENT_UNSPECIFIED
	if p.GetKind() == linliv1.PostKind_POST_KIND_OFFER {
		p.PreAgreed = d.GetPreAgreed()
	}
	return nil
}

// copyDraft copies the known fields of d, so that the queued mutation does
// not alias the caller's message and unknown fields a client sent are never
// stored or shown to others. Needs are resolved to their catalog codes.
func copyDraft(d *linliv1.PostDraft) *linliv1.PostDraft {
	c := &linliv1.PostDraft{
		Urgency: d.GetUrgency(), Note: d.GetNote(), BuildingId: d.GetBuildingId(), Floor: d.GetFloor(),
		Unit: d.GetUnit(), Phone: d.GetPhone(), DisplayName: d.GetDisplayName(),
		SharePhoneWithHotline: d.GetSharePhoneWithHotline(), PreAgreed: d.GetPreAgreed(),
	}
	if f := d.GetForWhom(); f != nil {
		c.ForWhom = &linliv1.ForWhom{Recipient: f.GetRecipient(), AgeMonths: f.GetAgeMonths(), LivesAlone: f.GetLivesAlone()}
	}
	if o := d.GetOnBehalf(); o != nil {
		c.OnBehalf = &linliv1.OnBehalf{ResidentName: o.GetResidentName(), Consent: o.GetConsent(), ConsentNote: o.GetConsentNote()}
	}
	for _, it := range d.GetItems() {
		c.Items = append(c.Items, &linliv1.PostItem{
			ItemCode: it.GetItemCode(), Name: it.GetName(), Quantity: it.GetQuantity(),
			Unit: it.GetUnit(), ExpiryDate: it.GetExpiryDate(), Need: it.GetNeed(),
		})
	}
	resolveNeeds(c)
	return c
}

// reserved reports whether any item of p is reserved by a live handoff.
func reserved(p *linliv1.Post) bool {
	for _, it := range p.GetItems() {
		if it.GetReserved() > 0 {
			return true
		}
	}
	return false
}
