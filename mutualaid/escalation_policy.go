package mutualaid

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// Default deadlines: how long a request may wait for neighbours before it
// enters the staff queue.
const (
	DefaultCriticalDeadline = 30 * time.Minute
	DefaultUrgentDeadline   = 2 * time.Hour
	DefaultRoutineDeadline  = 24 * time.Hour
)

// Bounds on a configured deadline.
const (
	minDeadline = time.Minute
	maxDeadline = 30 * 24 * time.Hour
)

// Deadline returns how long a request of urgency u may wait under policy
// (nil or unset fields mean the defaults).
func Deadline(policy *linliv1.EscalationPolicy, u linliv1.Urgency) time.Duration {
	pick := func(d *durationpb.Duration, def time.Duration) time.Duration {
		if d == nil || d.AsDuration() <= 0 {
			return def
		}
		return d.AsDuration()
	}
	switch u {
	case linliv1.Urgency_URGENCY_CRITICAL:
		return pick(policy.GetCriticalDeadline(), DefaultCriticalDeadline)
	case linliv1.Urgency_URGENCY_URGENT:
		return pick(policy.GetUrgentDeadline(), DefaultUrgentDeadline)
	default:
		return pick(policy.GetRoutineDeadline(), DefaultRoutineDeadline)
	}
}

// EffectivePolicy returns policy with every unset deadline filled in with
// its default, so staff see the deadlines that apply.
func EffectivePolicy(policy *linliv1.EscalationPolicy) *linliv1.EscalationPolicy {
	out := proto.CloneOf(policy)
	if out == nil {
		out = &linliv1.EscalationPolicy{}
	}
	out.CriticalDeadline = durationpb.New(Deadline(policy, linliv1.Urgency_URGENCY_CRITICAL))
	out.UrgentDeadline = durationpb.New(Deadline(policy, linliv1.Urgency_URGENCY_URGENT))
	out.RoutineDeadline = durationpb.New(Deadline(policy, linliv1.Urgency_URGENCY_ROUTINE))
	return out
}

// validatePolicy checks configured deadlines (1 minute to 30 days; unset is
// the default).
func validatePolicy(p *linliv1.EscalationPolicy) error {
	var v validator
	for _, d := range []struct {
		field string
		d     *durationpb.Duration
	}{
		{"policy.critical_deadline", p.GetCriticalDeadline()},
		{"policy.urgent_deadline", p.GetUrgentDeadline()},
		{"policy.routine_deadline", p.GetRoutineDeadline()},
	} {
		if d.d == nil {
			continue
		}
		if x := d.d.AsDuration(); d.d.CheckValid() != nil || x < minDeadline || x > maxDeadline {
			v.fail(d.field, "deadline_out_of_range", "A deadline must be between one minute and 30 days.")
		}
	}
	return v.result()
}

// SetEscalationPolicy replaces community c's escalation policy and returns
// it with the defaults filled in. Every request still waiting for
// neighbours is given its deadline under the new policy (counted from when
// it was posted), in batches after the policy is stored; if that is
// interrupted, calling again finishes it. Staff of c (empty: the actor's
// community) or admins.
//
// Errors: *Error Forbidden not_staff_of_community, Invalid
// deadline_out_of_range, NotFound community_not_found; ctx's and storage
// errors.
func (s *Service) SetEscalationPolicy(ctx context.Context, actor Member, c string, policy *linliv1.EscalationPolicy) (*linliv1.EscalationPolicy, error) {
	c = cmp.Or(c, actor.CommunityID)
	if err := authorizeStaff(actor, c); err != nil {
		return nil, err
	}
	if err := validatePolicy(policy); err != nil {
		return nil, err
	}
	stored := &linliv1.EscalationPolicy{
		CriticalDeadline: policy.GetCriticalDeadline(), UrgentDeadline: policy.GetUrgentDeadline(),
		RoutineDeadline: policy.GetRoutineDeadline(), HoldCriticalForStaff: policy.GetHoldCriticalForStaff(),
	}
	err := s.update(ctx, "set escalation policy", func(tx *linlisync.Tx) error {
		com, ok, err := loadCommunity(tx.Get, c)
		if err != nil {
			return err
		}
		if !ok {
			return Errorf(NotFound, "community_not_found", "This community does not exist.")
		}
		com.Escalation = stored
		return putEntity(tx, communityEntityID(c), &linliv1.Entity{Kind: &linliv1.Entity_Community{Community: com}},
			CommunityScope(c))
	})
	if err != nil {
		return nil, err
	}
	if err := reschedule(ctx, s.store, c); err != nil {
		return nil, fmt.Errorf("mutualaid: reschedule deadlines of %s: %w", c, err)
	}
	return EffectivePolicy(stored), nil
}

// rescheduleBatch bounds the requests one rescheduling transaction writes.
const rescheduleBatch = 200

// reschedule recomputes the deadline of every request of community c still
// waiting for neighbours, rescheduleBatch per transaction.
func reschedule(ctx context.Context, store *linlisync.Store, c string) error {
	prefix := dueOfCommunity(c)
	var ids []string
	err := store.Scan(ctx, prefix, func(id string, _ []byte) error {
		ids = append(ids, strings.TrimPrefix(id, prefix))
		return nil
	})
	if err != nil {
		return err
	}
	for start := 0; start < len(ids); start += rescheduleBatch {
		batch := ids[start:min(start+rescheduleBatch, len(ids))]
		err := store.Update(ctx, func(tx *linlisync.Tx) error {
			for _, postID := range batch {
				if err := rescheduleOne(tx, PostEntityID(c, postID)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// rescheduleOne gives a waiting request its deadline under its community's
// current policy, writing it only if that changes it.
func rescheduleOne(tx *linlisync.Tx, id string) error {
	p, ok, err := loadPost(tx, id)
	if err != nil || !ok || !waiting(p) {
		return err
	}
	policy, err := communityPolicy(tx, p.GetCommunityId())
	if err != nil {
		return err
	}
	due := p.GetCreatedAt().AsTime().Add(Deadline(policy, p.GetUrgency()))
	if p.GetEscalation().GetDueAt().AsTime().Equal(due) {
		return nil
	}
	p.Escalation.DueAt = nil // putPost schedules it again
	return putPost(tx, id, p)
}

// communityPolicy reads community c's policy inside tx (nil: defaults).
func communityPolicy(tx *linlisync.Tx, c string) (*linliv1.EscalationPolicy, error) {
	com, _, err := loadCommunity(tx.Get, c)
	return com.GetEscalation(), err
}
