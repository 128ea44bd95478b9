package server

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/linli/linli/mutualaid"
	"github.com/linli/linli/mutualaid/hotline"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// defaultReportPeriod is the report's period when the request names none.
const defaultReportPeriod = 30 * 24 * time.Hour

// staffHandler serves StaffService.
type staffHandler struct {
	store   *linlisync.Store
	dir     *mutualaid.Directory
	members members
	log     *slog.Logger
	now     func() time.Time
	// notice says why a community's cases are not reaching the hotline
	// ("" if they are).
	notice func(ctx context.Context, community string) string
	// kick asks the hotline loop to run now.
	kick func()
}

// ListQueue returns the community's queue; staff of the community or admins.
func (h *staffHandler) ListQueue(ctx context.Context, req *linliv1.ListQueueRequest) (*linliv1.ListQueueResponse, error) {
	_, community, err := h.members.manager(ctx, req.GetProtocolVersion(), req.GetCommunityId(), "ListQueue")
	if err != nil {
		return nil, err
	}
	items, err := mutualaid.ListQueue(ctx, h.store, community, req.GetIncludeDone(), int(req.GetLimit()))
	if err != nil {
		return nil, toConnect(ctx, h.log, "ListQueue", err)
	}
	return &linliv1.ListQueueResponse{Items: items, HotlineNotice: h.notice(ctx, community)}, nil
}

// ForwardPost forwards a request to the hotline; staff of the community or admins.
func (h *staffHandler) ForwardPost(ctx context.Context, req *linliv1.ForwardPostRequest) (*linliv1.ForwardPostResponse, error) {
	c, community, err := h.members.manager(ctx, req.GetProtocolVersion(), req.GetCommunityId(), "ForwardPost")
	if err != nil {
		return nil, err
	}
	item, desc, err := mutualaid.Forward(ctx, h.store, mutualaid.ForwardInput{
		Staff: c.domain(), Community: community, PostID: req.GetPostId(),
		Description: req.GetDescription(), IncludePhone: req.GetIncludePhone(),
	})
	if err != nil {
		return nil, toConnect(ctx, h.log, "ForwardPost", err)
	}
	h.kick()
	return &linliv1.ForwardPostResponse{Item: item, Description: desc}, nil
}

// DismissPost takes a request out of the queue; staff of the community or admins.
func (h *staffHandler) DismissPost(ctx context.Context, req *linliv1.DismissPostRequest) (*linliv1.DismissPostResponse, error) {
	c, community, err := h.members.manager(ctx, req.GetProtocolVersion(), req.GetCommunityId(), "DismissPost")
	if err != nil {
		return nil, err
	}
	item, err := mutualaid.Dismiss(ctx, h.store, c.domain(), community, req.GetPostId(), req.GetReason())
	if err != nil {
		return nil, toConnect(ctx, h.log, "DismissPost", err)
	}
	return &linliv1.DismissPostResponse{Item: item}, nil
}

// RetryCase sends a stuck case again; staff of the community or admins.
func (h *staffHandler) RetryCase(ctx context.Context, req *linliv1.RetryCaseRequest) (*linliv1.RetryCaseResponse, error) {
	_, community, err := h.members.manager(ctx, req.GetProtocolVersion(), req.GetCommunityId(), "RetryCase")
	if err != nil {
		return nil, err
	}
	item, err := mutualaid.RetryCase(ctx, h.store, community, req.GetPostId())
	if err != nil {
		return nil, toConnect(ctx, h.log, "RetryCase", err)
	}
	h.kick()
	return &linliv1.RetryCaseResponse{Item: item}, nil
}

// SetEscalationPolicy sets deadlines and forwarding; staff of the community or admins.
func (h *staffHandler) SetEscalationPolicy(ctx context.Context, req *linliv1.SetEscalationPolicyRequest) (*linliv1.SetEscalationPolicyResponse, error) {
	_, community, err := h.members.manager(ctx, req.GetProtocolVersion(), req.GetCommunityId(), "SetEscalationPolicy")
	if err != nil {
		return nil, err
	}
	p, err := h.dir.SetEscalationPolicy(ctx, community, req.GetPolicy())
	if err != nil {
		return nil, toConnect(ctx, h.log, "SetEscalationPolicy", err)
	}
	return &linliv1.SetEscalationPolicyResponse{Policy: p}, nil
}

// GetReport summarizes a period (default: the last 30 days); staff of the
// community or admins.
func (h *staffHandler) GetReport(ctx context.Context, req *linliv1.GetReportRequest) (*linliv1.GetReportResponse, error) {
	_, community, err := h.members.manager(ctx, req.GetProtocolVersion(), req.GetCommunityId(), "GetReport")
	if err != nil {
		return nil, err
	}
	from, to := ReportPeriod(req.GetFrom().AsTime(), req.GetTo().AsTime(), req.GetFrom() != nil, req.GetTo() != nil, h.now())
	r, err := mutualaid.BuildReport(ctx, h.store, community, from, to)
	if err != nil {
		return nil, toConnect(ctx, h.log, "GetReport", err)
	}
	return &linliv1.GetReportResponse{Report: r}, nil
}

// ReportPeriod fills in a report's period: to defaults to now, from to 30
// days before to.
func ReportPeriod(from, to time.Time, hasFrom, hasTo bool, now time.Time) (time.Time, time.Time) {
	if !hasTo {
		to = now
	}
	if !hasFrom {
		from = to.Add(-defaultReportPeriod)
	}
	return from, to
}

// hotlineNotice says why community's cases are not reaching the hotline,
// if they are not: no hotline configured, or how many are stuck and why
// (never another community's cases, never raw error text).
func (s *Server) hotlineNotice(ctx context.Context, community string) string {
	if s.cfg.Hotline.URL == "" {
		return mutualaid.NoHotlineReason
	}
	stuck, err := s.outbox.Stuck(ctx)
	if err != nil {
		return ""
	}
	stuck = slices.DeleteFunc(stuck, func(e hotline.OutboxEntry) bool {
		return !strings.HasPrefix(e.PostKey, mutualaid.CaseKey(community, ""))
	})
	if len(stuck) == 0 {
		return ""
	}
	return fmt.Sprintf("%d case(s) stuck: %s", len(stuck), mutualaid.FailureReason(stuck[0].Failure))
}
