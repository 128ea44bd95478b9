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
	svc *mutualaid.Service
	log *slog.Logger
	// barrier, if set, waits until this node holds every write the
	// cluster acknowledged (see Server.barrier): a member this node does
	// not know yet is looked for again after it.
	barrier func(ctx context.Context) bool
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

// errCatchingUp answers, in a cluster, a caller this node does not know
// while it has not caught up with the cluster's log.
// (A new error each time: a handler may add metadata to the one it returns.)
func errCatchingUp() *connect.Error {
	return newError(connect.CodeUnavailable, "this node is catching up with the cluster: try again",
		&linliv1.ErrorDetail{Reason: "node_catching_up"})
}

// current loads the caller's membership and device as they stand now.
// Errors: Unauthenticated "token_missing" without a principal (a public
// path); mutualaid.ErrMemberRemoved, mutualaid.ErrSessionRevoked; in a
// cluster, Unavailable "node_catching_up" for a caller this node does not
// know while it lags the log by more than the barrier waits; storage
// errors.
func (ms members) current(ctx context.Context) (caller, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return caller{}, newError(connect.CodeUnauthenticated, "missing bearer token", &linliv1.ErrorDetail{Reason: "token_missing"})
	}
	m, err := ms.svc.CurrentMember(p.CommunityID, p.UserID, p.ClientID)
	if errors.Is(err, mutualaid.ErrMemberRemoved) && ms.barrier != nil {
		if !ms.barrier(ctx) {
			// This node could not catch up in time (it is rebuilding its
			// store, or cut off): it cannot tell a removed member from one
			// it has not heard of yet, so it says neither.
			return caller{}, errCatchingUp()
		}
		m, err = ms.svc.CurrentMember(p.CommunityID, p.UserID, p.ClientID)
	}
	if err != nil {
		return caller{}, err
	}
	return caller{Principal: p, member: m}, nil
}
