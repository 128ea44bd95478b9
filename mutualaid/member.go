package mutualaid

import linliv1 "github.com/linli/linli/proto/gen/linli/v1"

// Member is a user's membership of one community, as the server reads it
// from the store on every request (not only from the caller's token).
type Member struct {
	UserID      string
	CommunityID string
	// Role is one of RoleResident, RoleVolunteer, RoleStaff, RoleAdmin.
	Role Role
	// Buildings are the buildings a volunteer serves.
	Buildings []string
}

// MemberOf is the stored membership m as the domain sees its member act:
// an unspecified or unknown role acts as a resident.
func MemberOf(m *linliv1.Member) Member {
	role := RoleOf(m.GetRole())
	if role == "" {
		role = RoleResident
	}
	return Member{UserID: m.GetUserId(), CommunityID: m.GetCommunityId(), Role: role, Buildings: m.GetVolunteerBuildingIds()}
}

// IsStaff reports whether m works for the community (staff or admin).
func (m Member) IsStaff() bool { return m.Role == RoleStaff || m.Role == RoleAdmin }

// Scopes returns the sync scopes m may read: the community's redacted scope,
// m's own user scope, and the community's staff scope for staff and admins.
// An unknown role gets no more than a resident.
//
// REQUIRES: m.UserID and m.CommunityID non-empty.
func Scopes(m Member) []string {
	scopes := []string{CommunityScope(m.CommunityID), UserScope(m.UserID)}
	if m.IsStaff() {
		scopes = append(scopes, StaffScope(m.CommunityID))
	}
	return scopes
}
