package mutualaid

import linliv1 "github.com/linli/linli/proto/gen/linli/v1"

// Who may do what. Every method of the service that acts for someone takes
// the actor's membership as it is stored now and asks one of these; the
// transport decides nothing. (Rules that a mutation's author must meet,
// such as only the author editing a post, are checked where the mutation
// is applied and become REJECTED outcomes.)
//
//	who                              may
//	anyone with a join code          join (Join), sign a device in (StartSession, Refresh)
//	a member                         their own devices, codes for their own devices, sync
//	staff of a community             its buildings, join codes (not admin codes), roles and
//	                                 removals (not of admins), escalation policy, queue,
//	                                 forwarding, dismissals, retries, report
//	an admin (of any community)      all of that in every community; admin codes and roles;
//	                                 new communities
//	Operator (linli's own tools)     as an admin

// Operator is linli's own tools acting (`linli admin`, the first start of
// `linli serve`): an admin of every community, member of none.
var Operator = Member{UserID: "linli-admin", Role: RoleAdmin}

// authorizeStaff refuses unless actor is staff of community c or an admin
// (of any community).
//
// Errors: *Error Forbidden not_staff_of_community.
func authorizeStaff(actor Member, c string) error {
	if actor.Role == RoleAdmin || actor.Role == RoleStaff && actor.CommunityID == c {
		return nil
	}
	return Errorf(Forbidden, "not_staff_of_community", "Only this community's staff can do this.")
}

// authorizeAdmin refuses unless actor is an admin.
//
// Errors: *Error Forbidden admin_only.
func authorizeAdmin(actor Member) error {
	if actor.Role == RoleAdmin {
		return nil
	}
	return Errorf(Forbidden, "admin_only", "Only admins can do this.")
}

// mayGrant refuses unless actor may give role to someone (by a join code
// or a change of role): only admins make admins.
//
// Errors: *Error Forbidden role_not_allowed.
func mayGrant(actor Member, role linliv1.Role) error {
	if role == linliv1.Role_ROLE_ADMIN && actor.Role != RoleAdmin {
		return errRoleNotAllowed()
	}
	return nil
}

func errRoleNotAllowed() error {
	return Errorf(Forbidden, "role_not_allowed", "Only an admin can make or change an admin.")
}
