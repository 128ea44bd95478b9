package mutualaid

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/linli/linli/mutualaid/notify"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// What people are told while their app is closed, and when. Each event is
// recorded (package notify) in the transaction of the change that causes
// it, for every device of its recipients that has a pusher, never for the
// member whose change it is (they are looking at the app):
//
//	event                recipients                                   when
//	suggestion           the request's and the offer's authors        a new suggestion for an urgent or
//	                                                                  critical request (critical: critical)
//	handoff_proposed     the giver and the receiver                   a handoff is proposed (not pre-agreed)
//	handoff_accepted     the giver and the receiver                   it is accepted, or a pre-agreed offer taken
//	handoff_picked_up    the receiver and the giver                   picked up
//	handoff_dropped_off  the receiver and the giver                   left at the drop point
//	handoff_received     the giver and the courier                    the receiver confirms
//	handoff_cancelled    the giver, the receiver and the courier      cancelled
//	courier_needed       the volunteers of the handoff's building     a handoff that needs a courier is accepted
//	emergency            the volunteers of the post's building        a post shows emergency signs (critical)
//	emergency_alert      the community's staff and admins             a post shows emergency signs (critical)
//	case_update          the request's author                         its hotline case opens, moves or closes
//
// Groups (volunteers, staff) are resolved when the notify job runs, from
// the members as they are then (resolveGroup).

// notifyUsers records an event of community c for users.
func notifyUsers(tx *linlisync.Tx, c, typ string, critical bool, users ...string) error {
	return notify.ToUsers(tx, notify.Event{Type: typ, Community: c, Critical: critical}, users...)
}

// notifyHandoff records an event about h for users.
func notifyHandoff(tx *linlisync.Tx, h *linliv1.Handoff, typ string, users ...string) error {
	return notifyUsers(tx, h.GetCommunityId(), typ, false, users...)
}

// notifyAccepted tells both sides that h is accepted, and the building's
// volunteers if it waits for a courier.
func notifyAccepted(tx *linlisync.Tx, h *linliv1.Handoff) error {
	if err := notifyHandoff(tx, h, notify.TypeHandoffAccepted, h.GetGiverId(), h.GetReceiverId()); err != nil {
		return err
	}
	if !onBoard(h) {
		return nil
	}
	return notify.ToGroup(tx, notify.Event{Type: notify.TypeCourierNeeded, Community: h.GetCommunityId()},
		notify.Group{Kind: notify.GroupVolunteers, Community: h.GetCommunityId(), Building: h.GetBuildingId()})
}

// notifyEmergency alerts the volunteers of p's building and the
// community's staff that p shows emergency signs.
func notifyEmergency(tx *linlisync.Tx, p *linliv1.Post) error {
	c := p.GetCommunityId()
	if b := p.GetBuildingId(); b != "" {
		err := notify.ToGroup(tx, notify.Event{Type: notify.TypeEmergency, Community: c, Critical: true},
			notify.Group{Kind: notify.GroupVolunteers, Community: c, Building: b})
		if err != nil {
			return err
		}
	}
	return notify.ToGroup(tx, notify.Event{Type: notify.TypeEmergencyAlert, Community: c, Critical: true},
		notify.Group{Kind: notify.GroupStaff, Community: c})
}

// notifyCase tells a request's author that its case moved from old to hc:
// a new state, or new notes from the hotline.
func notifyCase(tx *linlisync.Tx, p *linliv1.Post, old, hc *linliv1.HotlineCase) error {
	if old.GetState() == hc.GetState() && old.GetStatusNotes() == hc.GetStatusNotes() {
		return nil
	}
	critical := p.GetUrgency() == linliv1.Urgency_URGENCY_CRITICAL
	return notifyUsers(tx, p.GetCommunityId(), notify.TypeCaseUpdate, critical, p.GetAuthorId())
}

// suggestionNews collects the authors to tell of new suggestions while a
// community's matches are published.
type suggestionNews struct {
	urgent, critical []string
}

// add notes a new suggestion m for request r.
func (n *suggestionNews) add(r *linliv1.Post, m *linliv1.Match) {
	switch r.GetUrgency() {
	case linliv1.Urgency_URGENCY_CRITICAL:
		n.critical = append(n.critical, m.GetRequestAuthorId(), m.GetOfferAuthorId())
	case linliv1.Urgency_URGENCY_URGENT:
		n.urgent = append(n.urgent, m.GetRequestAuthorId(), m.GetOfferAuthorId())
	}
}

// record records the events, one per recipient and urgency.
func (n *suggestionNews) record(tx *linlisync.Tx, c string) error {
	critical := slices.Compact(slices.Sorted(slices.Values(n.critical)))
	urgent := slices.DeleteFunc(slices.Compact(slices.Sorted(slices.Values(n.urgent))), func(u string) bool {
		return slices.Contains(critical, u)
	})
	if len(critical) > 0 {
		if err := notifyUsers(tx, c, notify.TypeSuggestion, true, critical...); err != nil {
			return err
		}
	}
	if len(urgent) > 0 {
		return notifyUsers(tx, c, notify.TypeSuggestion, false, urgent...)
	}
	return nil
}

// resolveGroup returns the users of a notification group as the store
// holds them now: the volunteers of a building, or a community's staff and
// admins; never a removed member.
func (s *Service) resolveGroup(ctx context.Context, g notify.Group) ([]string, error) {
	if !validID(g.Community) {
		return nil, nil
	}
	var users []string
	err := s.store.Scan(ctx, memberEntityID(g.Community, ""), func(id string, v []byte) error {
		var e linliv1.Entity
		if err := proto.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("mutualaid: decode %s: %w", id, err)
		}
		m := e.GetMember()
		if m == nil || m.GetRemoved() {
			return nil
		}
		switch g.Kind {
		case notify.GroupVolunteers:
			if m.GetRole() == linliv1.Role_ROLE_VOLUNTEER && slices.Contains(m.GetVolunteerBuildingIds(), g.Building) {
				users = append(users, m.GetUserId())
			}
		case notify.GroupStaff:
			if m.GetRole() == linliv1.Role_ROLE_STAFF || m.GetRole() == linliv1.Role_ROLE_ADMIN {
				users = append(users, m.GetUserId())
			}
		}
		return nil
	})
	return users, err
}
