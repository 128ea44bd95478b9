package mutualaid

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// What staff read, for tools that show it page by page (the staff
// console): the queue sorted for action, the forwarded cases, emergencies
// the moment they are posted, and the community's directory. Each read is
// authorized like the staff calls that change the same things, and shows
// what the community's staff scope holds, nothing of another community.

// QueueFilter picks the queue items a StaffQueue page lists.
type QueueFilter int

// Queue filters.
const (
	// QueueWaiting: overdue requests waiting for staff, most urgent first
	// (emergencies, then urgency, then the longest wait).
	QueueWaiting QueueFilter = iota
	// QueueStuck: forwarded requests whose case is stuck, oldest first.
	QueueStuck
	// QueueForwarded: every forwarded request (the cases), newest first.
	QueueForwarded
	// QueueDismissed: dismissed requests, newest first.
	QueueDismissed
)

// MaxStaffPage bounds the entries of one page of a staff read.
const MaxStaffPage = 500

// QueueQuery asks for one page of a community's queue.
type QueueQuery struct {
	// Community; empty means the actor's.
	Community string
	Filter    QueueFilter
	// Offset skips that many entries; Limit (1 to MaxStaffPage, 0 means 50)
	// bounds the page.
	Offset, Limit int
}

// QueueEntry is a queue item with its request as staff see it (nil if the
// request is gone).
type QueueEntry struct {
	Item *linliv1.StaffQueueItem
	Post *linliv1.Post
}

// QueuePage is one page of a community's queue.
type QueuePage struct {
	Entries []QueueEntry
	// Total is how many items the filter matches, on every page.
	Total int
	// HotlineNotice is ListQueue's: why cases are not reaching the hotline.
	HotlineNotice string
}

// StaffQueue returns one page of community q.Community's queue, filtered
// and ordered by q.Filter, each item with its request, and the hotline's
// notice. It reads one consistent snapshot of the queue. Staff of the
// community or admins.
//
// Errors: *Error Forbidden not_staff_of_community; ctx's, storage or
// decoding errors.
func (s *Service) StaffQueue(ctx context.Context, actor Member, q QueueQuery) (*QueuePage, error) {
	c := cmp.Or(q.Community, actor.CommunityID)
	if err := authorizeStaff(actor, c); err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, MaxStaffPage)
	var items []queueKey
	err := s.store.Scan(ctx, queueEntityID(c, ""), func(id string, v []byte) error {
		var e linliv1.Entity
		if err := proto.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("decode %s: %w", id, err)
		}
		if it := e.GetStaffQueueItem(); it != nil && q.Filter.keep(it) {
			items = append(items, newQueueKey(it))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mutualaid: queue of %s: %w", c, err)
	}
	slices.SortFunc(items, q.Filter.compare)
	page := &QueuePage{Total: len(items), HotlineNotice: s.hotlineNotice(ctx, c)}
	start := min(max(q.Offset, 0), len(items))
	for _, k := range items[start:min(start+limit, len(items))] {
		it := k.item
		p, _, err := getPost(s.store.Get, PostEntityID(c, it.GetPostId()))
		if err != nil {
			return nil, err
		}
		page.Entries = append(page.Entries, QueueEntry{Item: it, Post: p})
	}
	return page, nil
}

// keep reports whether the filter lists it.
func (f QueueFilter) keep(it *linliv1.StaffQueueItem) bool {
	switch f {
	case QueueWaiting:
		return it.GetState() == linliv1.QueueState_QUEUE_STATE_WAITING
	case QueueStuck:
		return it.GetState() == linliv1.QueueState_QUEUE_STATE_FORWARDED &&
			it.GetHotlineCase().GetState() == linliv1.CaseState_CASE_STATE_STUCK
	case QueueForwarded:
		return it.GetState() == linliv1.QueueState_QUEUE_STATE_FORWARDED
	case QueueDismissed:
		return it.GetState() == linliv1.QueueState_QUEUE_STATE_DISMISSED
	}
	return false
}

// queueKey is a queue item with what its order compares, read once.
type queueKey struct {
	item                    *linliv1.StaffQueueItem
	emergency               bool
	urgency                 linliv1.Urgency
	due, entered, decidedAt int64
}

func newQueueKey(it *linliv1.StaffQueueItem) queueKey {
	return queueKey{
		item: it, emergency: len(it.GetEmergencySigns()) > 0, urgency: it.GetUrgency(),
		due: it.GetDueAt().AsTime().UnixNano(), entered: it.GetEnteredAt().AsTime().UnixNano(),
		decidedAt: it.GetDecidedAt().AsTime().UnixNano(),
	}
}

// compare orders the filter's items (ties by post id, so pages are stable).
func (f QueueFilter) compare(a, b queueKey) int {
	if c := f.order(a, b); c != 0 {
		return c
	}
	return cmp.Compare(a.item.GetPostId(), b.item.GetPostId())
}

func (f QueueFilter) order(a, b queueKey) int {
	switch f {
	case QueueWaiting:
		if a.emergency != b.emergency {
			if a.emergency {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(b.urgency, a.urgency); c != 0 {
			return c
		}
		if c := cmp.Compare(a.due, b.due); c != 0 {
			return c
		}
		return cmp.Compare(a.entered, b.entered)
	case QueueStuck:
		return cmp.Compare(a.decidedAt, b.decidedAt)
	}
	return cmp.Compare(b.decidedAt, a.decidedAt)
}

// Emergencies returns community c's requests whose text shows emergency
// signs and that still wait for neighbours (not yet overdue: overdue ones
// are in the queue, emergencies first), oldest first, as staff see them:
// staff are alerted the moment one is posted. Staff of c (empty: the
// actor's community) or admins.
//
// Errors: *Error Forbidden not_staff_of_community; ctx's, storage or
// decoding errors.
func (s *Service) Emergencies(ctx context.Context, actor Member, c string) ([]*linliv1.Post, error) {
	c = cmp.Or(c, actor.CommunityID)
	if err := authorizeStaff(actor, c); err != nil {
		return nil, err
	}
	prefix := dueOfCommunity(c)
	var out []*linliv1.Post
	err := s.store.Scan(ctx, prefix, func(id string, _ []byte) error {
		p, ok, err := getPost(s.store.Get, PostEntityID(c, strings.TrimPrefix(id, prefix)))
		if err != nil {
			return err
		}
		if ok && waiting(p) && p.GetTriage().GetEmergency() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mutualaid: emergencies of %s: %w", c, err)
	}
	slices.SortFunc(out, func(a, b *linliv1.Post) int {
		return cmp.Or(a.GetCreatedAt().AsTime().Compare(b.GetCreatedAt().AsTime()), cmp.Compare(a.GetId(), b.GetId()))
	})
	return out, nil
}

// ForwardDraft is what staff start from when forwarding a request.
type ForwardDraft struct {
	// Post is the request as staff see it.
	Post *linliv1.Post
	// Description is linli's summary of the request for the hotline: what
	// Forward sends when staff leave the description empty.
	Description string
	// PhoneConsent: the resident agreed that staff give their phone to the
	// hotline (Forward's IncludePhone is refused without it).
	PhoneConsent bool
}

// ForwardDraft returns request postID of community c (empty: the actor's)
// with the description Forward would send for it. Staff of c or admins.
//
// Errors: *Error Forbidden not_staff_of_community; NotFound post_not_found,
// Invalid not_a_request; storage or decoding errors.
func (s *Service) ForwardDraft(_ context.Context, actor Member, c, postID string) (*ForwardDraft, error) {
	c = cmp.Or(c, actor.CommunityID)
	if err := authorizeStaff(actor, c); err != nil {
		return nil, err
	}
	if !validID(postID) {
		return nil, Errorf(NotFound, "post_not_found", "This post does not exist.")
	}
	p, ok, err := getPost(s.store.Get, PostEntityID(c, postID))
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, Errorf(NotFound, "post_not_found", "This post does not exist.")
	case p.GetKind() != linliv1.PostKind_POST_KIND_REQUEST:
		return nil, Errorf(Invalid, "not_a_request", "Only requests can be forwarded to the hotline.")
	}
	return &ForwardDraft{Post: p, Description: caseSummary(p), PhoneConsent: p.GetSharePhoneWithHotline()}, nil
}

// StaffCommunities returns the communities actor may run: every community
// for an admin, their own for staff, in creation order.
//
// Errors: *Error Forbidden not_staff_of_community for anyone else; storage
// or decoding errors.
func (s *Service) StaffCommunities(actor Member) ([]*linliv1.Community, error) {
	ids := []string{actor.CommunityID}
	if actor.Role == RoleAdmin {
		var err error
		if ids, err = s.Communities(); err != nil {
			return nil, err
		}
	} else if err := authorizeStaff(actor, actor.CommunityID); err != nil {
		return nil, err
	}
	var out []*linliv1.Community
	for _, id := range ids {
		com, ok, err := s.Community(id)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, com)
		}
	}
	return out, nil
}

// EscalationPolicy returns community c's policy (empty: the actor's) with
// every deadline filled in. Staff of c or admins.
//
// Errors: *Error Forbidden not_staff_of_community, NotFound
// community_not_found; storage or decoding errors.
func (s *Service) EscalationPolicy(actor Member, c string) (*linliv1.EscalationPolicy, error) {
	c = cmp.Or(c, actor.CommunityID)
	if err := authorizeStaff(actor, c); err != nil {
		return nil, err
	}
	com, ok, err := s.Community(c)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, Errorf(NotFound, "community_not_found", "This community does not exist.")
	}
	return EffectivePolicy(com.GetEscalation()), nil
}

// Buildings returns community c's buildings (empty: the actor's), by id.
// Staff of c or admins.
//
// Errors: *Error Forbidden not_staff_of_community; ctx's, storage or
// decoding errors.
func (s *Service) Buildings(ctx context.Context, actor Member, c string) ([]*linliv1.Building, error) {
	c = cmp.Or(c, actor.CommunityID)
	if err := authorizeStaff(actor, c); err != nil {
		return nil, err
	}
	var out []*linliv1.Building
	err := s.store.Scan(ctx, buildingEntityID(c, ""), func(id string, v []byte) error {
		var e linliv1.Entity
		if err := proto.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("decode %s: %w", id, err)
		}
		if b := e.GetBuilding(); b != nil {
			out = append(out, b)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mutualaid: buildings of %s: %w", c, err)
	}
	return out, nil
}

// MemberPage is one page of a community's members.
type MemberPage struct {
	Members []*linliv1.Member
	// Total is how many members (removed ones included) there are.
	Total int
}

// Members returns one page of community c's members (empty: the actor's),
// removed ones included as the staff scope holds them: staff and admins
// first, then by name. offset skips that many; limit is 1 to MaxStaffPage
// (0 means 100). Staff of c or admins.
//
// Errors: *Error Forbidden not_staff_of_community; ctx's, storage or
// decoding errors.
func (s *Service) Members(ctx context.Context, actor Member, c string, offset, limit int) (*MemberPage, error) {
	c = cmp.Or(c, actor.CommunityID)
	if err := authorizeStaff(actor, c); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, MaxStaffPage)
	var all []*linliv1.Member
	err := s.store.Scan(ctx, memberEntityID(c, ""), func(id string, v []byte) error {
		var e linliv1.Entity
		if err := proto.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("decode %s: %w", id, err)
		}
		if m := e.GetMember(); m != nil {
			all = append(all, m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mutualaid: members of %s: %w", c, err)
	}
	slices.SortFunc(all, func(a, b *linliv1.Member) int {
		return cmp.Or(cmp.Compare(boolCount(a.GetRemoved()), boolCount(b.GetRemoved())),
			cmp.Compare(b.GetRole(), a.GetRole()), cmp.Compare(a.GetDisplayName(), b.GetDisplayName()),
			cmp.Compare(a.GetUserId(), b.GetUserId()))
	})
	start := min(max(offset, 0), len(all))
	return &MemberPage{Members: all[start:min(start+limit, len(all))], Total: len(all)}, nil
}

// maxJoinCodesListed bounds JoinCodes.
const maxJoinCodesListed = 200

// JoinCodes returns community c's join codes (empty: the actor's) as the
// staff scope describes them (never the code), those that still admit
// someone first, then by expiry, latest first; at most 200. Device codes
// are not listed. Staff of c or admins.
//
// Join codes are stored under their hash, not by community, so this reads
// every community's codes: its cost grows with all codes ever made.
//
// Errors: *Error Forbidden not_staff_of_community; ctx's, storage or
// decoding errors.
func (s *Service) JoinCodes(ctx context.Context, actor Member, c string) ([]*linliv1.JoinCodeInfo, error) {
	c = cmp.Or(c, actor.CommunityID)
	if err := authorizeStaff(actor, c); err != nil {
		return nil, err
	}
	now := s.now()
	type code struct {
		info   *linliv1.JoinCodeInfo
		usable bool
	}
	var all []code
	err := s.store.Scan(ctx, joinCodeEntityID(""), func(id string, v []byte) error {
		var r joinCodeRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode %s: %w", id, err)
		}
		if r.Community == c && r.Member == "" {
			all = append(all, code{r.info(), r.usable(now)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mutualaid: join codes of %s: %w", c, err)
	}
	slices.SortFunc(all, func(a, b code) int {
		return cmp.Or(cmp.Compare(boolCount(b.usable), boolCount(a.usable)),
			b.info.GetExpiresAt().AsTime().Compare(a.info.GetExpiresAt().AsTime()), cmp.Compare(a.info.GetId(), b.info.GetId()))
	})
	out := make([]*linliv1.JoinCodeInfo, 0, min(len(all), maxJoinCodesListed))
	for _, cd := range all[:min(len(all), maxJoinCodesListed)] {
		out = append(out, cd.info)
	}
	return out, nil
}
