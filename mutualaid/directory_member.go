package mutualaid

import (
	"context"
	"fmt"
	"slices"

	"github.com/linli/linli/mutualaid/notify"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// maxVolunteerBuildings bounds the buildings one volunteer serves.
const maxVolunteerBuildings = 20

// Member returns the committed membership of userID in communityID,
// removed members included (Removed true); ok is false if there is none.
// Errors: storage or decoding errors.
func (s *Service) Member(communityID, userID string) (*linliv1.Member, bool, error) {
	if !validID(communityID) || !validID(userID) {
		return nil, false, nil
	}
	return loadMember(s.store.Get, communityID, userID)
}

// CurrentMember returns the membership userID acts with now, as the store
// holds it (not as a token claims it): roles, volunteer buildings and
// removal take effect on the caller's next request. clientID, if not
// empty, is the device the request comes from.
//
// Errors: ErrMemberRemoved (no such member, or removed), ErrSessionRevoked
// (the device was signed out); otherwise storage or decoding errors.
func (s *Service) CurrentMember(communityID, userID, clientID string) (*linliv1.Member, error) {
	m, found, err := s.Member(communityID, userID)
	if err != nil {
		return nil, fmt.Errorf("mutualaid: member %s of %s: %w", userID, communityID, err)
	}
	if !found || m.GetRemoved() {
		return nil, ErrMemberRemoved
	}
	if clientID != "" {
		dev, found, err := s.Device(userID, clientID)
		if err != nil {
			return nil, fmt.Errorf("mutualaid: device %s of %s: %w", clientID, userID, err)
		}
		if found && dev.GetRevoked() {
			return nil, ErrSessionRevoked
		}
	}
	return m, nil
}

// MemberScopes returns the sync scopes a member may read now:
// CommunityScope, UserScope, StaffScope for staff and admins, and
// BuildingScope for each building a volunteer serves. A removed (or nil)
// member gets nil: no scope at all.
func MemberScopes(m *linliv1.Member) []string {
	if m == nil || m.GetRemoved() || m.GetUserId() == "" || m.GetCommunityId() == "" {
		return nil
	}
	scopes := Scopes(Member{UserID: m.GetUserId(), CommunityID: m.GetCommunityId(), Role: RoleOf(m.GetRole())})
	if m.GetRole() == linliv1.Role_ROLE_VOLUNTEER {
		for _, b := range m.GetVolunteerBuildingIds() {
			scopes = append(scopes, BuildingScope(m.GetCommunityId(), b))
		}
	}
	return scopes
}

// SetRole changes a member's role. Volunteers serve buildings (1 to 20,
// each existing in the community); any other role serves none, whatever
// buildings says. The member's scopes change on their next call.
//
// REQUIRES: actor is the caller's membership as currently stored (not as a
// token claims it).
//
// Errors (*Error): Forbidden not_staff_of_community (actor is neither an
// admin nor staff of communityID), Forbidden role_not_allowed (only admins
// make or change admins); Invalid role_invalid, buildings_required,
// too_many_buildings, building_unknown; NotFound member_not_found (no such
// member, or removed). Otherwise storage errors.
func (s *Service) SetRole(ctx context.Context, actor Member, communityID, userID string, role linliv1.Role, buildings []string) (*linliv1.Member, error) {
	if err := authorizeStaff(actor, communityID); err != nil {
		return nil, err
	}
	if RoleOf(role) == "" {
		return nil, Invalidf("role", "role_invalid", "Choose a role: resident, volunteer, staff or admin.")
	}
	if err := mayGrant(actor, role); err != nil {
		return nil, err
	}
	buildings, err := roleBuildings(role, buildings)
	if err != nil {
		return nil, err
	}
	var out *linliv1.Member
	err = s.update(ctx, "set role", func(tx *linlisync.Tx) error {
		m, err := targetMember(tx, actor, communityID, userID)
		if err != nil {
			return err
		}
		if m.GetRemoved() {
			return errMemberNotFound()
		}
		if err := requireBuildings(tx, "volunteer_building_ids", communityID, buildings...); err != nil {
			return err
		}
		m.Role, m.VolunteerBuildingIds = role, buildings
		out = m
		return putMember(tx, m)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RemoveMember ends a membership: the record stays (Removed true, visible
// to staff only; the member's own scope gets a tombstone), every device of
// the user is revoked so that no refresh token of theirs works again, their
// pushers are removed (nothing more is sent to their phones, not even what
// was waiting), and MemberScopes of the record is nil. Removing a removed member again
// succeeds and changes nothing.
//
// REQUIRES: actor is the caller's membership as currently stored.
//
// Errors (*Error): Forbidden not_staff_of_community, Forbidden
// role_not_allowed (only admins remove admins); NotFound member_not_found.
// Otherwise storage errors.
func (s *Service) RemoveMember(ctx context.Context, actor Member, communityID, userID string) error {
	if err := authorizeStaff(actor, communityID); err != nil {
		return err
	}
	return s.update(ctx, "remove member", func(tx *linlisync.Tx) error {
		m, err := targetMember(tx, actor, communityID, userID)
		if err != nil {
			return err
		}
		if !m.GetRemoved() {
			m.Removed = true
			if err := putMember(tx, m); err != nil {
				return err
			}
		}
		if err := notify.DeleteUserPushersTx(tx, userID); err != nil {
			return err
		}
		return revokeAllDevices(tx, userID)
	})
}

// targetMember loads the member an actor acts on, refusing NotFound if it
// does not exist and Forbidden if it is an admin and the actor is not.
func targetMember(tx *linlisync.Tx, actor Member, communityID, userID string) (*linliv1.Member, error) {
	if !validID(communityID) || !validID(userID) {
		return nil, errMemberNotFound()
	}
	m, ok, err := loadMember(tx.Get, communityID, userID)
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, errMemberNotFound()
	case m.GetRole() == linliv1.Role_ROLE_ADMIN && actor.Role != RoleAdmin:
		return nil, errRoleNotAllowed()
	}
	return m, nil
}

// roleBuildings checks the buildings a role serves: a volunteer 1 to 20
// (duplicates dropped), anyone else none.
func roleBuildings(role linliv1.Role, buildings []string) ([]string, error) {
	if role != linliv1.Role_ROLE_VOLUNTEER {
		return nil, nil
	}
	out := slices.Compact(slices.Sorted(slices.Values(buildings)))
	switch {
	case len(out) == 0:
		return nil, Invalidf("volunteer_building_ids", "buildings_required", "Choose the buildings this volunteer serves.")
	case len(out) > maxVolunteerBuildings:
		return nil, Invalidf("volunteer_building_ids", "too_many_buildings",
			"A volunteer serves at most %d buildings.", maxVolunteerBuildings)
	}
	return out, nil
}

func errMemberNotFound() error {
	return Errorf(NotFound, "member_not_found", "This member does not exist or was removed.")
}

func loadMember(get func(string) ([]byte, bool, error), c, u string) (*linliv1.Member, bool, error) {
	id := memberEntityID(c, u)
	e, ok, err := getEntity(get, id)
	if err != nil || !ok {
		return nil, false, err
	}
	if e.GetMember() == nil {
		return nil, false, fmt.Errorf("mutualaid: entity %s is not a member", id)
	}
	return e.GetMember(), true, nil
}

// putMember stores m, published in full in its user's scope and its
// community's staff scope; once removed, in the staff scope only (so the
// user scope gets a tombstone). Never in the community scope: unit and
// phone are private.
func putMember(tx *linlisync.Tx, m *linliv1.Member) error {
	scopes := []string{StaffScope(m.GetCommunityId())}
	if !m.GetRemoved() {
		scopes = append(scopes, UserScope(m.GetUserId()))
	}
	return putEntity(tx, memberEntityID(m.GetCommunityId(), m.GetUserId()),
		&linliv1.Entity{Kind: &linliv1.Entity_Member{Member: m}}, scopes...)
}
