package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// communityHandler serves CommunityService.
type communityHandler struct {
	svc     *mutualaid.Service
	members members
	log     *slog.Logger
}

// CreateCommunity adds a community; admins only.
func (h *communityHandler) CreateCommunity(ctx context.Context, req *linliv1.CreateCommunityRequest) (*linliv1.CreateCommunityResponse, error) {
	c, err := h.members.call(ctx, req.GetProtocolVersion(), "CreateCommunity")
	if err != nil {
		return nil, err
	}
	out, err := h.svc.CreateCommunity(ctx, c.domain(), &linliv1.Community{
		Id: req.GetCommunityId(), Name: req.GetName(), District: req.GetDistrict(), StreetOffice: req.GetStreetOffice(),
	})
	if err != nil {
		return nil, toConnect(ctx, h.log, "CreateCommunity", err)
	}
	return &linliv1.CreateCommunityResponse{Community: out}, nil
}

// CreateBuilding adds or replaces a building; staff of the community or admins.
func (h *communityHandler) CreateBuilding(ctx context.Context, req *linliv1.CreateBuildingRequest) (*linliv1.CreateBuildingResponse, error) {
	c, err := h.members.call(ctx, req.GetProtocolVersion(), "CreateBuilding")
	if err != nil {
		return nil, err
	}
	b := &linliv1.Building{
		Id: req.GetBuilding().GetId(), CommunityId: req.GetCommunityId(),
		Name: req.GetBuilding().GetName(), DropPoints: req.GetBuilding().GetDropPoints(),
	}
	out, err := h.svc.PutBuilding(ctx, c.domain(), b)
	if err != nil {
		return nil, toConnect(ctx, h.log, "CreateBuilding", err)
	}
	return &linliv1.CreateBuildingResponse{Building: out}, nil
}

// CreateJoinCode makes a join code; staff of the community or admins.
func (h *communityHandler) CreateJoinCode(ctx context.Context, req *linliv1.CreateJoinCodeRequest) (*linliv1.CreateJoinCodeResponse, error) {
	c, err := h.members.call(ctx, req.GetProtocolVersion(), "CreateJoinCode")
	if err != nil {
		return nil, err
	}
	code, info, err := h.svc.CreateJoinCode(ctx, c.domain(), mutualaid.JoinCodeSpec{
		CommunityID: req.GetCommunityId(), BuildingID: req.GetBuildingId(), Role: req.GetRole(),
		ValidFor: time.Duration(req.GetValidSeconds()) * time.Second, MaxUses: req.GetMaxUses(), CreatedBy: c.UserID,
	})
	if err != nil {
		return nil, toConnect(ctx, h.log, "CreateJoinCode", err)
	}
	return &linliv1.CreateJoinCodeResponse{Code: code, Info: info}, nil
}

// SetRole promotes or demotes a member.
func (h *communityHandler) SetRole(ctx context.Context, req *linliv1.SetRoleRequest) (*linliv1.SetRoleResponse, error) {
	c, err := h.members.call(ctx, req.GetProtocolVersion(), "SetRole")
	if err != nil {
		return nil, err
	}
	m, err := h.svc.SetRole(ctx, c.domain(), req.GetCommunityId(), req.GetUserId(), req.GetRole(), req.GetVolunteerBuildingIds())
	if err != nil {
		return nil, toConnect(ctx, h.log, "SetRole", err)
	}
	h.log.InfoContext(ctx, "role changed", "community", req.GetCommunityId(), "user", req.GetUserId(), "role", mutualaid.MemberOf(m).Role, "by", c.UserID)
	return &linliv1.SetRoleResponse{Member: m}, nil
}

// RemoveMember removes a member.
func (h *communityHandler) RemoveMember(ctx context.Context, req *linliv1.RemoveMemberRequest) (*linliv1.RemoveMemberResponse, error) {
	c, err := h.members.call(ctx, req.GetProtocolVersion(), "RemoveMember")
	if err != nil {
		return nil, err
	}
	if err := h.svc.RemoveMember(ctx, c.domain(), req.GetCommunityId(), req.GetUserId()); err != nil {
		return nil, toConnect(ctx, h.log, "RemoveMember", err)
	}
	h.log.InfoContext(ctx, "member removed", "community", req.GetCommunityId(), "user", req.GetUserId(), "by", c.UserID)
	return &linliv1.RemoveMemberResponse{}, nil
}
