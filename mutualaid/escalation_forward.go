package mutualaid

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/linli/linli/mutualaid/catalog"
	"github.com/linli/linli/mutualaid/hotline"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// maxCaseDescription leaves room in the hotline's 4,000 characters for
// linli's reference line.
const maxCaseDescription = 3900

// ForwardInput is a staff member's decision to forward a request.
type ForwardInput struct {
	PostID string // a request of Community
	// Community is the request's community; empty means the actor's.
	Community string
	// Description replaces linli's summary of the request; empty keeps it.
	Description string
	// IncludePhone sends the resident's phone number, which needs their
	// consent (PostDraft.share_phone_with_hotline).
	IncludePhone bool
}

// forwardInput is what forwardTx needs beyond the request.
type forwardInput struct {
	By           string
	Description  string
	IncludePhone bool
	Auto         bool
}

// Forward forwards an open request to the hotline as a case, once: in one
// transaction it withdraws the request's proposals that nobody accepted,
// enqueues the case in the hotline outbox, marks the post
// ESCALATED with a WAITING case (so the resident sees it), and records the
// decision in the staff queue. The outbox then creates the case at most
// once, soon: the hotline job is woken. It returns the queue item and the
// description as it will be sent. Staff of the community or admins.
//
// Errors: *Error Forbidden not_staff_of_community; Invalid
// (description_too_long, description_invalid), NotFound post_not_found,
// Invalid not_a_request, Conflict already_forwarded, handoff_in_progress
// (a neighbour accepted a handoff and is under way), post_not_open; Forbidden
// no_phone_consent; storage errors.
func (s *Service) Forward(ctx context.Context, actor Member, in ForwardInput) (*linliv1.StaffQueueItem, string, error) {
	c := cmp.Or(in.Community, actor.CommunityID)
	if err := authorizeStaff(actor, c); err != nil {
		return nil, "", err
	}
	var v validator
	v.text("description", "description", in.Description, maxCaseDescription, true)
	if err := v.result(); err != nil {
		return nil, "", err
	}
	var item *linliv1.StaffQueueItem
	var desc string
	err := s.update(ctx, "forward", func(tx *linlisync.Tx) error {
		p, err := forwardable(tx, c, in.PostID, in.IncludePhone)
		if err != nil {
			return err
		}
		p, ok, err := withdrawUnanswered(tx, p, actor.UserID, withdrawnByStaff)
		switch {
		case err != nil:
			return err
		case !ok:
			return Errorf(Conflict, "handoff_in_progress", "A neighbour has accepted a handoff for this request; cancel it before forwarding.")
		case p.GetStatus() != linliv1.PostStatus_POST_STATUS_OPEN:
			return Errorf(Conflict, "post_not_open", "This request is no longer open.")
		}
		it, ok, err := loadQueueItem(tx.Get, c, in.PostID)
		if err != nil {
			return err
		}
		if !ok {
			it = newQueueItem(p, timestamppb.New(tx.Now()))
		}
		item = it
		desc, err = forwardTx(tx, p, it, forwardInput{By: actor.UserID, Description: in.Description, IncludePhone: in.IncludePhone})
		return err
	})
	if err != nil {
		return nil, "", err
	}
	s.kick()
	return item, desc, nil
}

// forwardable loads request postID of c and checks it may be forwarded,
// but for its handoffs, which withdrawUnanswered checks.
func forwardable(tx *linlisync.Tx, c, postID string, includePhone bool) (*linliv1.Post, error) {
	p, ok, err := loadPost(tx, PostEntityID(c, postID))
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, Errorf(NotFound, "post_not_found", "This post does not exist.")
	case p.GetKind() != linliv1.PostKind_POST_KIND_REQUEST:
		return nil, Errorf(Invalid, "not_a_request", "Only requests can be forwarded to the hotline.")
	case p.GetEscalation().GetHotlineCase() != nil:
		return nil, Errorf(Conflict, "already_forwarded", "This request was already forwarded to the hotline.")
	case p.GetStatus() != linliv1.PostStatus_POST_STATUS_OPEN && p.GetStatus() != linliv1.PostStatus_POST_STATUS_MATCHED:
		return nil, Errorf(Conflict, "post_not_open", "This request is no longer open.")
	case includePhone && !p.GetSharePhoneWithHotline():
		return nil, Errorf(Forbidden, "no_phone_consent", "The resident has not agreed to give their phone number to the hotline.")
	}
	return p, nil
}

// forwardTx enqueues request p's case, marks it ESCALATED and item
// FORWARDED, and returns the description sent.
// REQUIRES: p is an OPEN request without a case; item is p's queue item.
func forwardTx(tx *linlisync.Tx, p *linliv1.Post, item *linliv1.StaffQueueItem, in forwardInput) (string, error) {
	c := p.GetCommunityId()
	req, err := caseRequest(tx, p, in)
	if err != nil {
		return "", err
	}
	key := CaseKey(c, p.GetId())
	if _, err := hotline.EnqueueTx(tx, key, req, tx.Now()); err != nil {
		return "", err
	}
	now := timestamppb.New(tx.Now())
	hc := &linliv1.HotlineCase{
		State: linliv1.CaseState_CASE_STATE_WAITING, ServiceCode: req.ServiceCode, ForwardedAt: now,
		AutoForwarded: in.Auto, ForwardedBy: in.By, WaitingReason: "queued for the hotline",
	}
	if p.Escalation == nil {
		p.Escalation = &linliv1.Escalation{}
	}
	p.Escalation.HotlineCase = hc
	p.Status = linliv1.PostStatus_POST_STATUS_ESCALATED
	p.UpdatedAt = now
	item.State, item.DecidedBy, item.DecidedAt, item.HotlineCase = linliv1.QueueState_QUEUE_STATE_FORWARDED, in.By, now, hc
	item.Urgency, item.Summary, item.BuildingId, item.EmergencySigns = p.GetUrgency(), itemsSummary(p), p.GetBuildingId(), p.GetTriage().GetSigns()
	if err := tx.Put(caseIndexID(c, p.GetId()), []byte(key), nil); err != nil {
		return "", err
	}
	if err := putPost(tx, PostEntityID(c, p.GetId()), p); err != nil {
		return "", err
	}
	return req.Description, putQueueItem(tx, item)
}

// caseRequest builds the hotline case for request p: the service code from
// its first item's category, the address at building level (never the
// floor or unit; the hotline dispatches by it), the description staff gave
// or linli's summary, and the phone only when staff include it (with the
// resident's consent, checked by forwardable).
func caseRequest(tx *linlisync.Tx, p *linliv1.Post, in forwardInput) (hotline.CaseRequest, error) {
	c := p.GetCommunityId()
	com, _, err := loadCommunity(tx.Get, c)
	if err != nil {
		return hotline.CaseRequest{}, err
	}
	b, _, err := loadBuilding(tx.Get, c, p.GetBuildingId())
	if err != nil {
		return hotline.CaseRequest{}, err
	}
	desc := in.Description
	if strings.TrimSpace(desc) == "" {
		desc = caseSummary(p)
	}
	addr := strings.Join(nonEmpty(com.GetDistrict(), com.GetStreetOffice(), com.GetName(), cmp.Or(b.GetName(), p.GetBuildingId())), " ")
	phone := ""
	if in.IncludePhone {
		phone = p.GetPhone()
	}
	return hotline.CaseRequest{
		ServiceCode: string(serviceCategory(p)), AddressString: addr, Description: desc, Phone: phone,
		Attributes: map[string]string{"urgency": urgencyCode(p.GetUrgency())},
	}, nil
}

// serviceCategory is the category of p's first catalog item (other if none).
func serviceCategory(p *linliv1.Post) catalog.Category { return categories(p)[0] }

// caseSummary is linli's description of request p for the hotline.
func caseSummary(p *linliv1.Post) string {
	var b strings.Builder
	fmt.Fprintf(&b, "居民求助，邻里互助未能及时满足，社区转办。\nA resident's request that neighbours could not meet in time.\n")
	fmt.Fprintf(&b, "需要 Needs: %s\n", itemsSummary(p))
	fmt.Fprintf(&b, "紧急程度 Urgency: %s\n", urgencyZH(p.GetUrgency()))
	if w := forWhomZH(p.GetForWhom()); w != "" {
		fmt.Fprintf(&b, "对象 For: %s\n", w)
	}
	if signs := p.GetTriage().GetSigns(); len(signs) > 0 {
		fmt.Fprintf(&b, "危急症状 Emergency signs: %s（已提示拨打120）\n", strings.Join(signs, ", "))
	}
	if n := strings.TrimSpace(p.GetNote()); n != "" {
		fmt.Fprintf(&b, "说明 Note: %s\n", n)
	}
	fmt.Fprintf(&b, "发布时间 Posted: %s", p.GetCreatedAt().AsTime().Format("2006-01-02 15:04 MST"))
	s := b.String()
	if utf8.RuneCountInString(s) > maxCaseDescription {
		s = string([]rune(s)[:maxCaseDescription])
	}
	return s
}

func urgencyZH(u linliv1.Urgency) string {
	switch u {
	case linliv1.Urgency_URGENCY_CRITICAL:
		return "危急 critical"
	case linliv1.Urgency_URGENCY_URGENT:
		return "紧急 urgent"
	}
	return "一般 routine"
}

func urgencyCode(u linliv1.Urgency) string {
	return strings.ToLower(strings.TrimPrefix(u.String(), "URGENCY_"))
}

func forWhomZH(f *linliv1.ForWhom) string {
	switch f.GetRecipient() {
	case linliv1.Recipient_RECIPIENT_CHILD:
		return fmt.Sprintf("儿童 child, %d 个月 months", f.GetAgeMonths())
	case linliv1.Recipient_RECIPIENT_INFANT:
		return fmt.Sprintf("婴儿 infant, %d 个月 months", f.GetAgeMonths())
	case linliv1.Recipient_RECIPIENT_ELDERLY:
		if f.GetLivesAlone() {
			return "独居老人 elderly, living alone"
		}
		return "老人 elderly"
	case linliv1.Recipient_RECIPIENT_PREGNANT:
		return "孕妇 pregnant"
	case linliv1.Recipient_RECIPIENT_CHRONIC_ILLNESS:
		return "慢性病患者 chronic illness"
	}
	return ""
}

func nonEmpty(ss ...string) []string {
	out := ss[:0:0]
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}

// RetryCase sends request postID's stuck case to the hotline again: the
// outbox makes it due now with a fresh count of attempts (looking it up
// first if an earlier attempt's outcome is unknown, so never twice), and
// the request and queue show it WAITING; the hotline job is woken. Staff
// of c (empty: the actor's community) or admins.
//
// Errors: *Error Forbidden not_staff_of_community; NotFound post_not_found,
// Conflict case_not_stuck (no case, or one that is not stuck); storage
// errors.
func (s *Service) RetryCase(ctx context.Context, actor Member, c, postID string) (*linliv1.StaffQueueItem, error) {
	c = cmp.Or(c, actor.CommunityID)
	if err := authorizeStaff(actor, c); err != nil {
		return nil, err
	}
	var out *linliv1.StaffQueueItem
	err := s.update(ctx, "retry case", func(tx *linlisync.Tx) error {
		id := PostEntityID(c, postID)
		p, ok, err := loadPost(tx, id)
		if err != nil {
			return err
		}
		if !ok {
			return Errorf(NotFound, "post_not_found", "This post does not exist.")
		}
		hc := p.GetEscalation().GetHotlineCase()
		retried, err := hotline.RetryTx(tx, CaseKey(c, postID), tx.Now())
		if err != nil {
			return err
		}
		if hc.GetState() != linliv1.CaseState_CASE_STATE_STUCK || !retried {
			return Errorf(Conflict, "case_not_stuck", "This request has no stuck case to retry.")
		}
		hc.State, hc.WaitingReason = linliv1.CaseState_CASE_STATE_WAITING, "sent again by staff"
		p.UpdatedAt = timestamppb.New(tx.Now())
		if err := putPost(tx, id, p); err != nil {
			return err
		}
		item, ok, err := loadQueueItem(tx.Get, c, postID)
		if err != nil || !ok {
			return err
		}
		item.HotlineCase, out = hc, item
		return putQueueItem(tx, item)
	})
	if err != nil {
		return nil, err
	}
	s.kick()
	return out, nil
}
