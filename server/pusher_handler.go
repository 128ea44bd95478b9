package server

import (
	"context"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// The calling device's pusher: AuthService.SetPusher, DeletePusher and
// GetPushSettings. A pusher belongs to a device, so the token must name one.

// SetPusher registers the calling device's pusher.
func (h *authHandler) SetPusher(ctx context.Context, req *linliv1.SetPusherRequest) (*linliv1.SetPusherResponse, error) {
	c, err := h.members.call(ctx, req.GetProtocolVersion(), "SetPusher")
	if err != nil {
		return nil, err
	}
	if c.ClientID == "" {
		return nil, invalid("token_has_no_client", "", "this token is not bound to a device")
	}
	p, err := h.svc.SetPusher(ctx, c.domain(), c.ClientID, req.GetPusher())
	if err != nil {
		return nil, toConnect(ctx, h.log, "SetPusher", err)
	}
	return &linliv1.SetPusherResponse{Pusher: p}, nil
}

// DeletePusher removes the calling device's pusher.
func (h *authHandler) DeletePusher(ctx context.Context, req *linliv1.DeletePusherRequest) (*linliv1.DeletePusherResponse, error) {
	c, err := h.members.call(ctx, req.GetProtocolVersion(), "DeletePusher")
	if err != nil {
		return nil, err
	}
	if c.ClientID == "" {
		return nil, invalid("token_has_no_client", "", "this token is not bound to a device")
	}
	if err := h.svc.DeletePusher(ctx, c.UserID, c.ClientID); err != nil {
		return nil, toConnect(ctx, h.log, "DeletePusher", err)
	}
	return &linliv1.DeletePusherResponse{}, nil
}

// GetPushSettings says what the server can push to, and the calling
// device's pusher.
func (h *authHandler) GetPushSettings(ctx context.Context, req *linliv1.GetPushSettingsRequest) (*linliv1.GetPushSettingsResponse, error) {
	c, err := h.members.call(ctx, req.GetProtocolVersion(), "GetPushSettings")
	if err != nil {
		return nil, err
	}
	res, err := h.svc.PushSettings(c.UserID, c.ClientID)
	if err != nil {
		return nil, toConnect(ctx, h.log, "GetPushSettings", err)
	}
	return res, nil
}
