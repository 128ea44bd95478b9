package server

import (
	"context"
	"errors"
	"log/slog"

	"connectrpc.com/connect"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// caller is the authenticated principal and its membership as it stands in
// the store now: roles, volunteer buildings and removal take effect on the
// next call, whatever the token says.
type caller struct {
	Principal
	member *linliv1.Member
}

// domain is the caller as the domain sees it.
func (c caller) domain() mutualaid.Member { return mutualaid.MemberOf(c.member) }

// scopes are the scopes the caller may read now.
func (c caller) scopes() []string { return mutualaid.MemberScopes(c.member) }

// members checks tokens against the store.
type members struct {
	dir *mutualaid.Directory
	log *slog.Logger
}

// call checks a request's protocol version, then loads the caller as
// current does, with errors mapped to Connect for procedure.
func (ms members) call(ctx context.Context, version uint32, procedure string) (caller, error) {
	if err := checkVersion(version); err != nil {
		return caller{}, err
	}
	c, err := ms.current(ctx)
	if err != nil {
		return caller{}, toConnect(ctx, ms.log, procedure, err)
	}
	return c, nil
}

// current loads the caller's membership and device. Errors:
// Unauthenticated "member_removed" if the member is gone or removed,
// "session_revoked" if the token's device was signed out.
func (ms members) current(ctx context.Context) (caller, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return caller{}, newError(connect.CodeUnauthenticated, "missing bearer token", &linliv1.ErrorDetail{Reason: "token_missing"})
	}
	m, found, err := ms.dir.Member(p.CommunityID, p.UserID)
	if err != nil {
		return caller{}, err
	}
	if !found || m.GetRemoved() {
		return caller{}, newError(connect.CodeUnauthenticated, "your membership has ended", &linliv1.ErrorDetail{Reason: reasonMemberRemoved})
	}
	if p.ClientID != "" {
		d, found, err := ms.dir.Device(p.UserID, p.ClientID)
		if err != nil {
			return caller{}, err
		}
		if found && d.GetRevoked() {
			return caller{}, newError(connect.CodeUnauthenticated, "this device was signed out", &linliv1.ErrorDetail{Reason: "session_revoked"})
		}
	}
	return caller{Principal: p, member: m}, nil
}

// isRemoved reports whether err is current's refusal of a removed member.
func isRemoved(err error) bool {
	var cerr *connect.Error
	if !errors.As(err, &cerr) || cerr.Code() != connect.CodeUnauthenticated {
		return false
	}
	for _, d := range cerr.Details() {
		if v, derr := d.Value(); derr == nil {
			if detail, ok := v.(*linliv1.ErrorDetail); ok && detail.GetReason() == reasonMemberRemoved {
				return true
			}
		}
	}
	return false
}

const reasonMemberRemoved = "member_removed"

// manager is the caller if it is staff of community or an admin (of any
// community), with the community it acts in: an empty community means the
// caller's own.
func (ms members) manager(ctx context.Context, version uint32, community, procedure string) (caller, string, error) {
	c, err := ms.call(ctx, version, procedure)
	if err != nil {
		return caller{}, "", err
	}
	if community == "" {
		community = c.CommunityID
	}
	role := c.member.GetRole()
	if role == linliv1.Role_ROLE_ADMIN || (role == linliv1.Role_ROLE_STAFF && c.CommunityID == community) {
		return c, community, nil
	}
	return caller{}, "", forbidden("not_staff_of_community", "only this community's staff may do that")
}
