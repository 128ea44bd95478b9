package mutualaid

import (
	"context"
	"errors"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// JoinForm is what a newcomer fills in to redeem a join code.
type JoinForm struct {
	// Code as the person typed it: case, spaces and dashes do not matter.
	Code string
	// DisplayName: 1 to 40 characters.
	DisplayName string
	// BuildingID is where they live; the code's building, if it names one,
	// wins. Residents and volunteers need one; staff and admins may omit it.
	BuildingID string
	// Unit (flat number), at most 16 characters, and Phone, at most 20 of
	// digits, spaces, + and -, are private: only the member and staff see them.
	Unit, Phone string
	// StaffOnly admits only staff and admins (the code's role for a new
	// member, the member's current role for a device code): the staff
	// console's sign-in. Any other code is refused with nothing used up.
	StaffOnly bool
}

// Join redeems a join code: it creates a new member (user id "u_" and 16
// hex digits) of the code's community with the code's role, and counts the
// use. A device code (CreateDeviceCode) instead admits the member it was
// made for, unchanged, so that they can sign in another device; the form
// is then ignored. A volunteer code makes the member a volunteer for their building.
// The check and the count are one transaction: concurrent joins never
// exceed the code's uses.
//
// Errors (*Error): Invalid display_name_* (required for a new member),
// unit_*, phone_*, building_id_* (malformed input); Invalid join_code_invalid (unknown, expired or used up:
// one reason for all, so codes cannot be probed); Invalid
// building_id_required, building_unknown; Forbidden not_staff (StaffOnly,
// for a member who is neither staff nor admin). Otherwise storage errors.
func (s *Service) Join(ctx context.Context, f JoinForm) (*linliv1.Member, error) {
	if err := validateJoinForm(f); err != nil {
		return nil, err
	}
	code, ok := normalizeJoinCode(f.Code)
	if !ok {
		return nil, errJoinCodeInvalid()
	}
	hash, userID, now := secretHash(code), "u_"+randomHex(8), s.now()
	var out *linliv1.Member
	err := s.update(ctx, "join", func(tx *linlisync.Tx) error {
		var rec joinCodeRecord
		found, err := getJSON(tx.Get, joinCodeEntityID(hash), &rec)
		if err != nil {
			return err
		}
		if !found || !rec.usable(now) {
			return errJoinCodeInvalid()
		}
		if f.StaffOnly && !MemberOf(&linliv1.Member{Role: linliv1.Role(rec.Role)}).IsStaff() && rec.Member == "" {
			return errNotStaff()
		}
		m, err := admit(tx, &rec, f, userID, now)
		if err != nil {
			return err
		}
		if f.StaffOnly && !MemberOf(m).IsStaff() {
			return errNotStaff()
		}
		rec.Uses++
		out = m
		return putJoinCode(tx, hash, &rec)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// admit returns the membership a code admits: for a device code the
// member it was made for (unchanged), otherwise a new member, stored.
func admit(tx *linlisync.Tx, rec *joinCodeRecord, f JoinForm, userID string, now time.Time) (*linliv1.Member, error) {
	if rec.Member != "" {
		m, ok, err := loadMember(tx.Get, rec.Community, rec.Member)
		if err != nil {
			return nil, err
		}
		if !ok || m.GetRemoved() {
			return nil, errJoinCodeInvalid()
		}
		return m, nil
	}
	if f.DisplayName == "" {
		return nil, Invalidf("display_name", "display_name_required", "Tell your neighbours what to call you.")
	}
	m, err := newMember(tx, rec, f, userID, now)
	if err != nil {
		return nil, err
	}
	return m, putMember(tx, m)
}

// newMember builds the membership a code admits, checking its building.
func newMember(tx *linlisync.Tx, rec *joinCodeRecord, f JoinForm, userID string, now time.Time) (*linliv1.Member, error) {
	role, building := linliv1.Role(rec.Role), rec.Building
	if building == "" {
		building = f.BuildingID
	}
	switch {
	case building != "":
		if err := requireBuildings(tx, "building_id", rec.Community, building); err != nil {
			return nil, err
		}
	case role == linliv1.Role_ROLE_RESIDENT || role == linliv1.Role_ROLE_VOLUNTEER:
		return nil, Invalidf("building_id", "building_id_required", "Choose the building you live in.")
	}
	_, taken, err := tx.Get(memberEntityID(rec.Community, userID))
	if err != nil {
		return nil, err
	}
	if taken { // 2^-64 per join: a broken random source, not bad luck
		return nil, errors.New("new user id collides with a member")
	}
	m := &linliv1.Member{
		UserId: userID, CommunityId: rec.Community, Role: role, DisplayName: f.DisplayName,
		BuildingId: building, Unit: f.Unit, Phone: f.Phone, JoinedAt: timestamppb.New(now),
	}
	if role == linliv1.Role_ROLE_VOLUNTEER {
		m.VolunteerBuildingIds = []string{building}
	}
	return m, nil
}

func validateJoinForm(f JoinForm) error {
	var v validator
	if f.DisplayName != "" { // required for new members only: see admit
		v.displayName("display_name", f.DisplayName)
	}
	if f.BuildingID != "" {
		v.ident("building_id", "building_id", f.BuildingID, isIDByte)
	}
	v.text("unit", "unit", f.Unit, maxUnitLen, false)
	v.phone("phone", f.Phone)
	return v.result()
}

func errNotStaff() error {
	return Errorf(Forbidden, "not_staff", "Only community staff can sign in here.")
}

func errJoinCodeInvalid() error {
	return Invalidf("code", "join_code_invalid", "This join code is not valid: it may be mistyped, expired or used up. Ask your community staff for a new one.")
}
