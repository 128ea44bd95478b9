package mutualaid

import (
	"errors"
	"fmt"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// Role is what a member may do within their community. It is the one role
// type of linli: the stored form is linliv1.Role (RoleOf and Proto convert
// between them) and the access token's "role" claim is its string.
type Role string

// The roles. Their string values are on the wire (the token's "role"
// claim): never change them. Staff and admins see their community's posts
// unredacted; an admin acts in every community.
const (
	RoleResident  Role = "resident"
	RoleVolunteer Role = "volunteer"
	RoleStaff     Role = "staff"
	RoleAdmin     Role = "admin"
)

// ErrInvalidRole is returned by ParseRole for an unknown role.
var ErrInvalidRole = errors.New("mutualaid: invalid role")

// ParseRole returns the Role named s.
//
// Errors: ErrInvalidRole if s is not exactly one of the Role values.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleResident, RoleVolunteer, RoleStaff, RoleAdmin:
		return r, nil
	}
	return "", fmt.Errorf("%w: %q", ErrInvalidRole, s)
}

// RoleOf returns the Role stored as r, or "" if r is unspecified or
// unknown.
func RoleOf(r linliv1.Role) Role {
	switch r {
	case linliv1.Role_ROLE_RESIDENT:
		return RoleResident
	case linliv1.Role_ROLE_VOLUNTEER:
		return RoleVolunteer
	case linliv1.Role_ROLE_STAFF:
		return RoleStaff
	case linliv1.Role_ROLE_ADMIN:
		return RoleAdmin
	}
	return ""
}

// Proto returns the stored form of r: ROLE_RESIDENT for RoleResident and
// for anything that is not a Role value.
func (r Role) Proto() linliv1.Role {
	switch r {
	case RoleVolunteer:
		return linliv1.Role_ROLE_VOLUNTEER
	case RoleStaff:
		return linliv1.Role_ROLE_STAFF
	case RoleAdmin:
		return linliv1.Role_ROLE_ADMIN
	}
	return linliv1.Role_ROLE_RESIDENT
}
