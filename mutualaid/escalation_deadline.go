package mutualaid

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// Deadlines are stored, so that a restart neither loses nor repeats one.
// Every request waiting for neighbours (OPEN or MATCHED, not yet overdue)
// has its due time in Post.escalation.due_at and one private index entity
// ordered by it; the escalation pass scans that index from its start up to
// now, so it reads only what is due, however many requests wait.
//
// Entities: idx/due/<due>/<c>/<post id>, idx/dueof/<c>/<post id> and
// queue/<c>/<post id> (see namespace.go). idx/due ids sort by due time;
// idx/dueof points at a request's idx/due entry
// so that a write that moves or ends the deadline finds the old one.
// Invariant, after every putPost: a request has an idx/due entry (and an
// idx/dueof pointing at it) exactly while it is waiting and not overdue,
// and the entry's time equals its due_at.

// waiting reports whether request p still waits for neighbours and has
// not gone overdue: it has a live deadline.
func waiting(p *linliv1.Post) bool {
	s := p.GetStatus()
	return p.GetKind() == linliv1.PostKind_POST_KIND_REQUEST &&
		(s == linliv1.PostStatus_POST_STATUS_OPEN || s == linliv1.PostStatus_POST_STATUS_MATCHED) &&
		p.GetEscalation().GetOverdueAt() == nil
}

// scheduleDeadline sets a waiting request's due time (from its creation
// and its community's policy) if it has none, and keeps the deadline index
// in step with p; fresh says p was just created, so that none of its index
// entries exists yet. Called by putPost before p is stored.
func scheduleDeadline(tx *linlisync.Tx, p *linliv1.Post, fresh bool) error {
	if p.GetKind() != linliv1.PostKind_POST_KIND_REQUEST {
		return nil
	}
	want := ""
	if waiting(p) {
		if p.GetEscalation().GetDueAt() == nil {
			policy, err := communityPolicy(tx, p.GetCommunityId())
			if err != nil {
				return err
			}
			if p.Escalation == nil {
				p.Escalation = &linliv1.Escalation{}
			}
			p.Escalation.DueAt = timestamppb.New(p.GetCreatedAt().AsTime().Add(Deadline(policy, p.GetUrgency())))
		}
		want = dueEntityID(p.GetEscalation().GetDueAt().AsTime(), p.GetCommunityId(), p.GetId())
	}
	ptr := dueOfID(p.GetCommunityId(), p.GetId())
	if fresh {
		if want == "" {
			return nil
		}
		if err := tx.Create(want, []byte("{}"), nil); err != nil {
			return err
		}
		return tx.Create(ptr, []byte(want), nil)
	}
	old, _, err := tx.Get(ptr)
	if err != nil || string(old) == want {
		return err
	}
	if len(old) > 0 {
		if err := tx.Delete(string(old)); err != nil {
			return err
		}
	}
	if want == "" {
		return tx.Delete(ptr)
	}
	if err := tx.Put(want, []byte("{}"), nil); err != nil {
		return err
	}
	return tx.Put(ptr, []byte(want), nil)
}

// rescheduleOnEdit drops a waiting request's due time so that putPost
// computes it again from the (possibly changed) urgency.
func rescheduleOnEdit(p *linliv1.Post) {
	if waiting(p) && p.GetEscalation() != nil {
		p.Escalation.DueAt = nil
	}
}

// rearmDeadline gives back its (passed) deadline to an overdue request
// that a neighbour's handoff held and that is open again (the handoff was
// cancelled): the next escalation pass queues it afresh, and forwards it if
// critical by policy, even if staff dismissed it while the handoff was
// under way.
func rearmDeadline(p *linliv1.Post) {
	e := p.GetEscalation()
	if p.GetStatus() == linliv1.PostStatus_POST_STATUS_OPEN && e.GetOverdueAt() != nil && e.GetHotlineCase() == nil {
		e.OverdueAt = nil
	}
}

// errPassDone stops a scan at the first entry not yet due.
var errPassDone = errors.New("mutualaid: pass done")

// escalateBatch bounds the requests one escalation transaction handles.
const escalateBatch = 200

// EscalateOverdue moves every request whose deadline has passed (by the
// store's clock) into its community's staff queue, once, and forwards the
// critical ones to the hotline at once where the community's policy says
// so. A deadline that passed while the server was down is handled by the
// first pass after it starts, and a request is never queued twice: the
// deadline entry is removed in the same transaction. It returns how many
// requests went overdue. JobDeadlines runs it.
//
// Errors: ctx's, or storage errors (a request whose escalation fails is set
// aside, so that it never holds up the others).
func (s *Service) EscalateOverdue(ctx context.Context) (int, error) {
	total, errs := 0, []error(nil)
	for {
		n, seen, err := escalateDue(ctx, s.store)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
		if seen < escalateBatch || ctx.Err() != nil {
			return total, errors.Join(errs...)
		}
	}
}

// escalateDue handles up to escalateBatch due requests in one
// transaction and returns how many went overdue and how many due entries it
// saw. If the transaction fails, it handles them one by one, so that one
// bad request never holds up the others: an entry that still fails is
// moved aside (see setAside) and its error returned.
func escalateDue(ctx context.Context, store *linlisync.Store) (n, seen int, err error) {
	ids, err := dueIDs(ctx, store)
	if err != nil || len(ids) == 0 {
		return 0, 0, err
	}
	err = store.Update(ctx, func(tx *linlisync.Tx) error {
		for _, id := range ids {
			if err := goOverdue(tx, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		return len(ids), len(ids), nil
	}
	if ctx.Err() != nil {
		return 0, len(ids), wrapEscalate(err)
	}
	var errs []error
	for _, id := range ids {
		err := store.Update(ctx, func(tx *linlisync.Tx) error { return goOverdue(tx, id) })
		if err == nil {
			n++
			continue
		}
		errs = append(errs, fmt.Errorf("%s (set aside): %w", id, err))
		if serr := store.Update(ctx, func(tx *linlisync.Tx) error { return setAside(tx, id) }); serr != nil {
			errs = append(errs, fmt.Errorf("set %s aside: %w", id, serr))
		}
	}
	return n, len(ids), wrapEscalate(errors.Join(errs...))
}

// setAside moves a deadline entry that cannot be escalated out of the
// index the passes scan.
func setAside(tx *linlisync.Tx, dueID string) error {
	if err := tx.Put(failedDueID(dueID), []byte("{}"), nil); err != nil {
		return err
	}
	return tx.Delete(dueID)
}

// dueIDs lists up to escalateBatch deadline entries due by the store's
// clock. It reads a snapshot, outside the writer: goOverdue checks each
// entry again in its own transaction.
func dueIDs(ctx context.Context, store *linlisync.Store) ([]string, error) {
	var due []string
	now := store.Now()
	err := store.Scan(ctx, duePrefix, func(id string, _ []byte) error {
		at, _, _, err := parseDueID(id)
		if err != nil {
			return err
		}
		if at.After(now) || len(due) == escalateBatch {
			return errPassDone
		}
		due = append(due, id)
		return nil
	})
	if errors.Is(err, errPassDone) {
		err = nil
	}
	return due, wrapEscalate(err)
}

func wrapEscalate(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("mutualaid: escalate overdue requests: %w", err)
}

// goOverdue queues the request of due entry id and, by policy, forwards it.
func goOverdue(tx *linlisync.Tx, dueID string) error {
	at, c, postID, err := parseDueID(dueID)
	if err != nil {
		return err
	}
	// The entry was listed in an earlier transaction: an edit may have
	// moved the deadline since.
	if _, still, err := tx.Get(dueID); err != nil || !still || at.After(tx.Now()) {
		return err
	}
	id := PostEntityID(c, postID)
	p, ok, err := loadPost(tx, id)
	if err != nil {
		return err
	}
	if !ok || !waiting(p) { // cannot happen: the index follows the post
		return tx.Delete(dueID)
	}
	now := timestamppb.New(tx.Now())
	p.Escalation.OverdueAt = now
	item := newQueueItem(p, now)
	if forwarded, err := autoForward(tx, p, item); err != nil || forwarded {
		return err
	}
	if err := putPost(tx, id, p); err != nil {
		return err
	}
	return putQueueItem(tx, item)
}

// autoForward forwards overdue request p at once if the community's policy
// says so: it is CRITICAL, has no case yet, is OPEN or held only by
// proposals nobody accepted (which it withdraws), and the policy does not
// hold critical requests for staff. item is p's queue item (nil: load or
// make it). It reports whether it stored p (forwarded, or fulfilled by an
// earlier handoff once the proposals were withdrawn).
func autoForward(tx *linlisync.Tx, p *linliv1.Post, item *linliv1.StaffQueueItem) (bool, error) {
	e := p.GetEscalation()
	s := p.GetStatus()
	if p.GetKind() != linliv1.PostKind_POST_KIND_REQUEST || e.GetOverdueAt() == nil || e.GetHotlineCase() != nil ||
		(s != linliv1.PostStatus_POST_STATUS_OPEN && s != linliv1.PostStatus_POST_STATUS_MATCHED) ||
		p.GetUrgency() != linliv1.Urgency_URGENCY_CRITICAL {
		return false, nil
	}
	policy, err := communityPolicy(tx, p.GetCommunityId())
	if err != nil || policy.GetHoldCriticalForStaff() {
		return false, err
	}
	overdue := e.GetOverdueAt()
	p, ok, err := withdrawUnanswered(tx, p, "", withdrawnByPolicy)
	if err != nil || !ok {
		return false, err
	}
	if p.GetStatus() != linliv1.PostStatus_POST_STATUS_OPEN {
		return true, nil
	}
	p.Escalation.OverdueAt = overdue
	if item == nil {
		loaded, ok, err := loadQueueItem(tx.Get, p.GetCommunityId(), p.GetId())
		if err != nil {
			return false, err
		}
		if item = loaded; !ok || item.GetState() != linliv1.QueueState_QUEUE_STATE_WAITING {
			item = newQueueItem(p, timestamppb.New(tx.Now()))
		}
	}
	_, err = forwardTx(tx, p, item, forwardInput{Auto: true})
	return err == nil, err
}
