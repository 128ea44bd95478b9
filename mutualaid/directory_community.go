package mutualaid

import (
	"cmp"
	"context"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// CreateCommunity stores a new community, stamped with the service's
// clock, and publishes it in its community scope. Admins only.
//
// Errors: *Error Forbidden admin_only; Invalid (community_id_required/
// _too_long/_invalid: 1-64 of [A-Za-z0-9_-]; name_, district_,
// street_office_ required/too_long/invalid: 1-80 characters); Conflict
// community_exists; storage errors.
func (s *Service) CreateCommunity(ctx context.Context, actor Member, c *linliv1.Community) (*linliv1.Community, error) {
	if err := authorizeAdmin(actor); err != nil {
		return nil, err
	}
	var v validator
	v.ident("community_id", "community_id", c.GetId(), isIDByte)
	v.requiredText("name", "name", c.GetName(), maxPlaceNameLen)
	v.requiredText("district", "district", c.GetDistrict(), maxPlaceNameLen)
	v.requiredText("street_office", "street_office", c.GetStreetOffice(), maxPlaceNameLen)
	if err := v.result(); err != nil {
		return nil, err
	}
	out := &linliv1.Community{
		Id: c.GetId(), Name: c.GetName(), District: c.GetDistrict(), StreetOffice: c.GetStreetOffice(),
		CreatedAt: timestamppb.New(s.now()),
	}
	err := s.update(ctx, "create community", func(tx *linlisync.Tx) error {
		id := communityEntityID(out.GetId())
		_, exists, err := tx.Get(id)
		if err != nil {
			return err
		}
		if exists {
			return Errorf(Conflict, "community_exists", "A community with this id already exists.")
		}
		if err := indexCommunity(tx, out.GetId()); err != nil {
			return err
		}
		return putEntity(tx, id, &linliv1.Entity{Kind: &linliv1.Entity_Community{Community: out}},
			CommunityScope(out.GetId()))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Bootstrap creates community c, as Operator, with a single-use admin join
// code valid for DefaultJoinCodeValidity, and returns the code (shown only
// now): how a new store gets its first community and its first admin.
//
// Errors: those of CreateCommunity and CreateJoinCode, wrapped.
func (s *Service) Bootstrap(ctx context.Context, c *linliv1.Community) (code string, err error) {
	if _, err := s.CreateCommunity(ctx, Operator, c); err != nil {
		return "", fmt.Errorf("create community: %w", err)
	}
	code, _, err = s.CreateJoinCode(ctx, Operator, JoinCodeSpec{
		CommunityID: c.GetId(), Role: linliv1.Role_ROLE_ADMIN, ValidFor: DefaultJoinCodeValidity, MaxUses: 1, CreatedBy: Operator.UserID,
	})
	if err != nil {
		return "", fmt.Errorf("create admin join code: %w", err)
	}
	return code, nil
}

// Community returns the committed community with id; ok is false if there
// is none. Errors: storage or decoding errors.
func (s *Service) Community(id string) (*linliv1.Community, bool, error) {
	if !validID(id) {
		return nil, false, nil
	}
	return loadCommunity(s.store.Get, id)
}

// PutBuilding adds or replaces a building of an existing community (named
// by b.CommunityId) with its drop points, and publishes it in the
// community's scope. Staff of the community (the actor's own if
// b.CommunityId is empty, which is then refused as invalid) or admins.
//
// Errors: *Error Forbidden not_staff_of_community; Invalid (community_id_*,
// building_id_* as ids; name_* 1-80 characters; too_many_drop_points above
// 20; drop_point_* each 1-80 characters); NotFound community_not_found;
// storage errors.
func (s *Service) PutBuilding(ctx context.Context, actor Member, b *linliv1.Building) (*linliv1.Building, error) {
	if err := authorizeStaff(actor, cmp.Or(b.GetCommunityId(), actor.CommunityID)); err != nil {
		return nil, err
	}
	if err := validateBuilding(b); err != nil {
		return nil, err
	}
	out := &linliv1.Building{
		Id: b.GetId(), CommunityId: b.GetCommunityId(), Name: b.GetName(),
		DropPoints: append([]string(nil), b.GetDropPoints()...),
	}
	err := s.update(ctx, "put building", func(tx *linlisync.Tx) error {
		if err := requireCommunity(tx, out.GetCommunityId()); err != nil {
			return err
		}
		return putEntity(tx, buildingEntityID(out.GetCommunityId(), out.GetId()),
			&linliv1.Entity{Kind: &linliv1.Entity_Building{Building: out}}, CommunityScope(out.GetCommunityId()))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func validateBuilding(b *linliv1.Building) error {
	var v validator
	v.ident("community_id", "community_id", b.GetCommunityId(), isIDByte)
	v.ident("id", "building_id", b.GetId(), isIDByte)
	v.requiredText("name", "name", b.GetName(), maxPlaceNameLen)
	if len(b.GetDropPoints()) > maxDropPoints {
		v.fail("drop_points", "too_many_drop_points", fmt.Sprintf("A building has at most %d drop points.", maxDropPoints))
	}
	for i, p := range b.GetDropPoints() {
		v.requiredText(fmt.Sprintf("drop_points[%d]", i), "drop_point", p, maxPlaceNameLen)
	}
	return v.result()
}

// Building returns the committed building; ok is false if there is none.
// Errors: storage or decoding errors.
func (s *Service) Building(communityID, buildingID string) (*linliv1.Building, bool, error) {
	if !validID(communityID) || !validID(buildingID) {
		return nil, false, nil
	}
	return loadBuilding(s.store.Get, communityID, buildingID)
}

func loadCommunity(get func(string) ([]byte, bool, error), id string) (*linliv1.Community, bool, error) {
	e, ok, err := getEntity(get, communityEntityID(id))
	if err != nil || !ok {
		return nil, false, err
	}
	if e.GetCommunity() == nil {
		return nil, false, fmt.Errorf("mutualaid: entity %s is not a community", communityEntityID(id))
	}
	return e.GetCommunity(), true, nil
}

func loadBuilding(get func(string) ([]byte, bool, error), c, b string) (*linliv1.Building, bool, error) {
	id := buildingEntityID(c, b)
	e, ok, err := getEntity(get, id)
	if err != nil || !ok {
		return nil, false, err
	}
	if e.GetBuilding() == nil {
		return nil, false, fmt.Errorf("mutualaid: entity %s is not a building", id)
	}
	return e.GetBuilding(), true, nil
}

// requireCommunity refuses with NotFound community_not_found unless the
// community exists.
func requireCommunity(tx *linlisync.Tx, c string) error {
	_, ok, err := loadCommunity(tx.Get, c)
	if err != nil {
		return err
	}
	if !ok {
		return Errorf(NotFound, "community_not_found", "This community does not exist.")
	}
	return nil
}

// requireBuildings refuses with Invalid building_unknown unless every
// building exists in community c. field names the input blamed.
func requireBuildings(tx *linlisync.Tx, field, c string, buildings ...string) error {
	for _, b := range buildings {
		ok := validID(b)
		if ok {
			var err error
			if _, ok, err = loadBuilding(tx.Get, c, b); err != nil {
				return err
			}
		}
		if !ok {
			return Invalidf(field, "building_unknown", "This building does not exist in the community.")
		}
	}
	return nil
}

func indexCommunity(tx *linlisync.Tx, id string) error {
	var ids []string
	if _, err := getJSON(tx.Get, communitiesIndexID, &ids); err != nil {
		return err
	}
	return putJSON(tx, communitiesIndexID, append(ids, id), nil)
}

// Communities returns the ids of every community, in creation order.
// Errors: storage or decoding errors.
func (s *Service) Communities() ([]string, error) {
	var ids []string
	_, err := getJSON(s.store.Get, communitiesIndexID, &ids)
	return ids, err
}

// RefreshMatches marks EXPIRED the open offers whose medicine has all
// expired (ExpireOffers) and re-ranks the suggestions of every community
// whose offers reach an expiry boundary, so expired medicine stops being
// suggested even when nobody posts. Run it daily (JobRefresh does, hourly).
// It returns how many offers it expired or re-ranked. Errors: ctx's, or
// storage errors.
func (s *Service) RefreshMatches(ctx context.Context) (int, error) {
	ids, err := s.Communities()
	if err != nil {
		return 0, err
	}
	total := 0
	for _, id := range ids {
		expired, err := s.ExpireOffers(ctx, id)
		if err != nil {
			return total, fmt.Errorf("expire offers of %s: %w", id, err)
		}
		n, err := RefreshMatches(ctx, s.store, id)
		total += n + expired
		if err != nil {
			return total, fmt.Errorf("refresh matches of %s: %w", id, err)
		}
	}
	return total, nil
}
