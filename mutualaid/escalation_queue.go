package mutualaid

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/linli/linli/mutualaid/catalog"
	"github.com/linli/linli/mutualaid/hotline"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// newQueueItem is a WAITING queue item for request p, entered at now.
func newQueueItem(p *linliv1.Post, now *timestamppb.Timestamp) *linliv1.StaffQueueItem {
	return &linliv1.StaffQueueItem{
		CommunityId: p.GetCommunityId(), PostId: p.GetId(), State: linliv1.QueueState_QUEUE_STATE_WAITING,
		Urgency: p.GetUrgency(), Summary: itemsSummary(p), BuildingId: p.GetBuildingId(),
		DueAt: p.GetEscalation().GetDueAt(), EnteredAt: now, EmergencySigns: p.GetTriage().GetSigns(),
	}
}

// putQueueItem stores item and publishes it to its community's staff.
func putQueueItem(tx *linlisync.Tx, item *linliv1.StaffQueueItem) error {
	return putEntity(tx, queueEntityID(item.GetCommunityId(), item.GetPostId()),
		&linliv1.Entity{Kind: &linliv1.Entity_StaffQueueItem{StaffQueueItem: item}}, StaffScope(item.GetCommunityId()))
}

// loadQueueItem reads request postID's queue item in community c.
func loadQueueItem(get func(string) ([]byte, bool, error), c, postID string) (*linliv1.StaffQueueItem, bool, error) {
	e, ok, err := getEntity(get, queueEntityID(c, postID))
	if err != nil || !ok {
		return nil, false, err
	}
	if e.GetStaffQueueItem() == nil {
		return nil, false, fmt.Errorf("mutualaid: entity %s is not a queue item", queueEntityID(c, postID))
	}
	return e.GetStaffQueueItem(), true, nil
}

// itemsSummary lists a post's items for people: "布洛芬混悬液（儿童） ×1 瓶; …".
func itemsSummary(p *linliv1.Post) string {
	parts := make([]string, 0, len(p.GetItems()))
	for _, it := range p.GetItems() {
		name, unit := it.GetName(), it.GetUnit()
		if n, ok := catalog.Default().Need(it.GetNeed()); ok {
			name = n.NameZH
		} else if ci, ok := catalog.Default().Item(it.GetItemCode()); ok {
			name = ci.NameZH
			if unit == "" {
				unit = ci.UnitZH
			}
		}
		if name == "" {
			name = cmp.Or(it.GetItemCode(), it.GetNeed())
		}
		parts = append(parts, strings.TrimSpace(fmt.Sprintf("%s ×%d %s", name, it.GetQuantity(), unit)))
	}
	return strings.Join(parts, "; ")
}

// syncQueueItem keeps an overdue request's waiting queue item in step with
// it: what staff see (urgency, items, building, emergency signs) follows
// edits, and a request that no longer waits (a neighbour met it, or its
// author cancelled it) leaves the queue, so staff do not act on it. Called
// by putPost.
func syncQueueItem(tx *linlisync.Tx, p *linliv1.Post) error {
	if p.GetKind() != linliv1.PostKind_POST_KIND_REQUEST || p.GetEscalation().GetOverdueAt() == nil {
		return nil
	}
	item, ok, err := loadQueueItem(tx.Get, p.GetCommunityId(), p.GetId())
	if err != nil || !ok || item.GetState() != linliv1.QueueState_QUEUE_STATE_WAITING {
		return err
	}
	next := proto.CloneOf(item)
	switch p.GetStatus() {
	case linliv1.PostStatus_POST_STATUS_FULFILLED:
		next.State, next.DismissReason, next.DecidedAt = linliv1.QueueState_QUEUE_STATE_DISMISSED, "met by neighbours", timestamppb.New(tx.Now())
	case linliv1.PostStatus_POST_STATUS_CANCELLED:
		next.State, next.DismissReason, next.DecidedAt = linliv1.QueueState_QUEUE_STATE_DISMISSED, "cancelled by the resident", timestamppb.New(tx.Now())
	default:
		next.Urgency, next.Summary, next.BuildingId, next.EmergencySigns = p.GetUrgency(), itemsSummary(p), p.GetBuildingId(), p.GetTriage().GetSigns()
	}
	if proto.Equal(item, next) {
		return nil
	}
	return putQueueItem(tx, next)
}

// maxQueueList bounds ListQueue.
const maxQueueList = 1000

// Queue is a community's staff queue as staff see it.
type Queue struct {
	// Items are the queue's items, newest first.
	Items []*linliv1.StaffQueueItem
	// HotlineNotice says why the community's cases are not reaching the
	// hotline ("" if they are): none is configured, or how many are stuck
	// and why (never raw error text).
	HotlineNotice string
}

// ListQueue returns community c's queue (empty c: the actor's community):
// its items, newest first, only those waiting for staff unless
// includeDone, at most limit (0 means 200); and the hotline's notice.
// Staff of c or admins.
//
// Errors: *Error Forbidden not_staff_of_community; ctx's, storage or
// decoding errors.
func (s *Service) ListQueue(ctx context.Context, actor Member, c string, includeDone bool, limit int) (*Queue, error) {
	c = cmp.Or(c, actor.CommunityID)
	if err := authorizeStaff(actor, c); err != nil {
		return nil, err
	}
	items, err := listQueue(ctx, s.store, c, includeDone, limit)
	if err != nil {
		return nil, err
	}
	return &Queue{Items: items, HotlineNotice: s.hotlineNotice(ctx, c)}, nil
}

// hotlineNotice says why community c's cases are not reaching the hotline,
// if they are not: no hotline configured, or how many are stuck and why
// (never another community's cases, never raw error text). A failure to
// read the outbox says nothing.
func (s *Service) hotlineNotice(ctx context.Context, c string) string {
	if s.cfg.Hotline.URL == "" {
		return NoHotlineReason
	}
	stuck, err := s.outbox.Stuck(ctx)
	if err != nil {
		return ""
	}
	stuck = slices.DeleteFunc(stuck, func(e hotline.OutboxEntry) bool {
		return !strings.HasPrefix(e.PostKey, CaseKey(c, ""))
	})
	if len(stuck) == 0 {
		return ""
	}
	return fmt.Sprintf("%d case(s) stuck: %s", len(stuck), FailureReason(stuck[0].Failure))
}

// listQueue reads community c's queue items, newest first.
func listQueue(ctx context.Context, store *linlisync.Store, c string, includeDone bool, limit int) ([]*linliv1.StaffQueueItem, error) {
	if limit <= 0 {
		limit = 200
	}
	limit = min(limit, maxQueueList)
	var items []*linliv1.StaffQueueItem
	err := store.Scan(ctx, queueEntityID(c, ""), func(id string, v []byte) error {
		var e linliv1.Entity
		if err := proto.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("decode %s: %w", id, err)
		}
		it := e.GetStaffQueueItem()
		if it != nil && (includeDone || it.GetState() == linliv1.QueueState_QUEUE_STATE_WAITING) {
			items = append(items, it)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mutualaid: list queue of %s: %w", c, err)
	}
	slices.SortFunc(items, func(a, b *linliv1.StaffQueueItem) int {
		return b.GetEnteredAt().AsTime().Compare(a.GetEnteredAt().AsTime())
	})
	return items[:min(len(items), limit)], nil
}

// maxDismissReason bounds a dismissal's reason, in characters.
const maxDismissReason = 500

// Dismiss takes request postID of community c (empty: the actor's) out of
// the staff queue with a reason, recording who did it. The request itself
// stays as it is (it does not enter the queue again). Staff of c or
// admins.
//
// Errors: *Error Forbidden not_staff_of_community; Invalid
// (reason_required, reason_too_long, reason_invalid), NotFound
// not_in_queue, Conflict already_decided; storage errors.
func (s *Service) Dismiss(ctx context.Context, actor Member, c, postID, reason string) (*linliv1.StaffQueueItem, error) {
	c = cmp.Or(c, actor.CommunityID)
	if err := authorizeStaff(actor, c); err != nil {
		return nil, err
	}
	var v validator
	v.requiredText("reason", "reason", reason, maxDismissReason)
	if err := v.result(); err != nil {
		return nil, err
	}
	var out *linliv1.StaffQueueItem
	err := s.update(ctx, "dismiss", func(tx *linlisync.Tx) error {
		item, ok, err := loadQueueItem(tx.Get, c, postID)
		switch {
		case err != nil:
			return err
		case !ok:
			return Errorf(NotFound, "not_in_queue", "This request is not in the staff queue.")
		case item.GetState() != linliv1.QueueState_QUEUE_STATE_WAITING:
			return Errorf(Conflict, "already_decided", "This request was already forwarded or dismissed.")
		}
		item.State = linliv1.QueueState_QUEUE_STATE_DISMISSED
		item.DismissReason, item.DecidedBy, item.DecidedAt = reason, actor.UserID, timestamppb.New(tx.Now())
		out = item
		return putQueueItem(tx, item)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
