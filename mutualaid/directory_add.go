package mutualaid

import (
	"context"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// AddMember creates or replaces a membership with a user id chosen by the
// caller, without a join code: for operators (and tests) that provision
// members directly. It is never reachable from the API.
//
// Errors (*Error): Invalid user_id_*, display_name_*, unit_*, phone_*,
// role_invalid, building_unknown; NotFound community_not_found.
func (s *Service) AddMember(ctx context.Context, m *linliv1.Member) (*linliv1.Member, error) {
	m = proto.CloneOf(m)
	if err := validateAddMember(m); err != nil {
		return nil, err
	}
	if m.GetJoinedAt() == nil {
		m.JoinedAt = timestamppb.New(s.now())
	}
	err := s.update(ctx, "add member", func(tx *linlisync.Tx) error {
		if _, ok, err := tx.Get(communityEntityID(m.GetCommunityId())); err != nil || !ok {
			return orErr(err, Errorf(NotFound, "community_not_found", "This community does not exist."))
		}
		if err := requireBuildingsIfAny(tx, m.GetCommunityId(), m.GetVolunteerBuildingIds()); err != nil {
			return err
		}
		return putMember(tx, m)
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func validateAddMember(m *linliv1.Member) error {
	var v validator
	v.ident("user_id", "user_id", m.GetUserId(), isIDByte)
	v.ident("community_id", "community_id", m.GetCommunityId(), isIDByte)
	v.displayName("display_name", m.GetDisplayName())
	v.text("unit", "unit", m.GetUnit(), maxUnitLen, false)
	v.phone("phone", m.GetPhone())
	if RoleOf(m.GetRole()) == "" {
		v.fail("role", "role_invalid", "Choose a role: resident, volunteer, staff or admin.")
	}
	return v.result()
}

// requireBuildingsIfAny checks that every volunteer building exists.
func requireBuildingsIfAny(tx *linlisync.Tx, community string, buildings []string) error {
	if len(buildings) == 0 {
		return nil
	}
	return requireBuildings(tx, "volunteer_building_ids", community, buildings...)
}

func orErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}
