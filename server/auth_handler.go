package server

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// AccessTokenTTL is how long an access token from Join or Refresh lives.
const AccessTokenTTL = 15 * time.Minute

// authHandler serves AuthService.
type authHandler struct {
	svc      *mutualaid.Service
	members  members
	tokens   *Tokens
	joins    *limiter // per address
	refreshs *limiter // per address
	proxies  []netip.Prefix
	log      *slog.Logger
}

// Join redeems a join code and signs the device in.
func (h *authHandler) Join(ctx context.Context, req *linliv1.JoinRequest) (*linliv1.JoinResponse, error) {
	if err := checkVersion(req.GetProtocolVersion()); err != nil {
		return nil, err
	}
	if err := h.joins.check(clientHost(ctx, h.proxies)); err != nil {
		return nil, err
	}
	if !clientIDPattern.MatchString(req.GetClientId()) {
		return nil, invalid("client_id_invalid", "client_id", "client_id must be 1 to 64 of A-Z a-z 0-9 _ -")
	}
	m, err := h.svc.Join(ctx, mutualaid.JoinForm{
		Code: req.GetCode(), DisplayName: req.GetDisplayName(),
		BuildingID: req.GetBuildingId(), Unit: req.GetUnit(), Phone: req.GetPhone(),
	})
	if err != nil {
		return nil, toConnect(ctx, h.log, "Join", err)
	}
	h.log.InfoContext(ctx, "member joined", "community", m.GetCommunityId(), "user", m.GetUserId(), "role", mutualaid.MemberOf(m).Role)
	refresh, exp, err := h.svc.StartSession(ctx, m.GetCommunityId(), m.GetUserId(), req.GetClientId())
	if err != nil {
		return nil, toConnect(ctx, h.log, "Join", err)
	}
	tokens, err := h.issue(m, req.GetClientId(), refresh, exp)
	if err != nil {
		return nil, toConnect(ctx, h.log, "Join", err)
	}
	return &linliv1.JoinResponse{Member: m, Tokens: tokens}, nil
}

// Refresh trades a refresh token for a new pair.
func (h *authHandler) Refresh(ctx context.Context, req *linliv1.RefreshRequest) (*linliv1.RefreshResponse, error) {
	if err := checkVersion(req.GetProtocolVersion()); err != nil {
		return nil, err
	}
	if err := h.refreshs.check(clientHost(ctx, h.proxies)); err != nil {
		return nil, err
	}
	sess, refresh, exp, err := h.svc.Refresh(ctx, req.GetRefreshToken())
	if err != nil {
		return nil, toConnect(ctx, h.log, "Refresh", err)
	}
	m, err := h.svc.CurrentMember(sess.CommunityID, sess.UserID, "")
	if err != nil {
		return nil, toConnect(ctx, h.log, "Refresh", err)
	}
	tokens, err := h.issue(m, sess.ClientID, refresh, exp)
	if err != nil {
		return nil, toConnect(ctx, h.log, "Refresh", err)
	}
	return &linliv1.RefreshResponse{Tokens: tokens}, nil
}

// issue mints an access token for m on client and pairs it with refresh.
func (h *authHandler) issue(m *linliv1.Member, client, refresh string, refreshExp time.Time) (*linliv1.Tokens, error) {
	p := Principal{UserID: m.GetUserId(), CommunityID: m.GetCommunityId(), Role: mutualaid.MemberOf(m).Role, ClientID: client}
	access, err := h.tokens.Mint(p, AccessTokenTTL)
	if err != nil {
		return nil, err
	}
	return &linliv1.Tokens{
		AccessToken:      access,
		AccessExpiresAt:  timestamppb.New(h.tokens.now().Add(AccessTokenTTL).Truncate(time.Second)),
		RefreshToken:     refresh,
		RefreshExpiresAt: timestamppb.New(refreshExp),
	}, nil
}

// SignOut revokes the calling device's session.
func (h *authHandler) SignOut(ctx context.Context, req *linliv1.SignOutRequest) (*linliv1.SignOutResponse, error) {
	c, err := h.members.call(ctx, req.GetProtocolVersion(), "SignOut")
	if err != nil {
		return nil, err
	}
	if c.ClientID == "" {
		return nil, invalid("token_has_no_client", "", "this token is not bound to a device")
	}
	if err := h.svc.SignOut(ctx, c.UserID, c.ClientID); err != nil {
		return nil, toConnect(ctx, h.log, "SignOut", err)
	}
	return &linliv1.SignOutResponse{}, nil
}

// ListDevices lists the caller's devices.
func (h *authHandler) ListDevices(ctx context.Context, req *linliv1.ListDevicesRequest) (*linliv1.ListDevicesResponse, error) {
	c, err := h.members.call(ctx, req.GetProtocolVersion(), "ListDevices")
	if err != nil {
		return nil, err
	}
	devices, err := h.svc.Devices(c.UserID)
	if err != nil {
		return nil, toConnect(ctx, h.log, "ListDevices", err)
	}
	return &linliv1.ListDevicesResponse{Devices: devices}, nil
}

// CreateDeviceCode makes a code that signs another device into the
// caller's membership.
func (h *authHandler) CreateDeviceCode(ctx context.Context, req *linliv1.CreateDeviceCodeRequest) (*linliv1.CreateDeviceCodeResponse, error) {
	c, err := h.members.call(ctx, req.GetProtocolVersion(), "CreateDeviceCode")
	if err != nil {
		return nil, err
	}
	code, exp, err := h.svc.CreateDeviceCode(ctx, c.CommunityID, c.UserID)
	if err != nil {
		return nil, toConnect(ctx, h.log, "CreateDeviceCode", err)
	}
	return &linliv1.CreateDeviceCodeResponse{Code: code, ExpiresAt: timestamppb.New(exp)}, nil
}

// RevokeDevice signs one of the caller's devices out.
func (h *authHandler) RevokeDevice(ctx context.Context, req *linliv1.RevokeDeviceRequest) (*linliv1.RevokeDeviceResponse, error) {
	c, err := h.members.call(ctx, req.GetProtocolVersion(), "RevokeDevice")
	if err != nil {
		return nil, err
	}
	if !clientIDPattern.MatchString(req.GetClientId()) {
		return nil, invalid("client_id_invalid", "client_id", "client_id must be 1 to 64 of A-Z a-z 0-9 _ -")
	}
	if err := h.svc.RevokeDevice(ctx, c.UserID, req.GetClientId()); err != nil {
		return nil, toConnect(ctx, h.log, "RevokeDevice", err)
	}
	return &linliv1.RevokeDeviceResponse{}, nil
}
