package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// defaultReportPeriod is the report's period when the request names none.
const defaultReportPeriod = 30 * 24 * time.Hour

// staffHandler serves StaffService. Who may call what is the domain's to
// decide (staff of the community, or admins): each call passes the caller
// on.
type staffHandler struct {
	svc     *mutualaid.Service
	members members
	log     *slog.Logger
	now     func() time.Time
}

// ListQueue returns the community's queue and why its cases are not
// reaching the hotline, if they are not.
func (h *staffHandler) ListQueue(ctx context.Context, req *linliv1.ListQueueRequest) (*linliv1.ListQueueResponse, error) {
	c, err := h.members.call(ctx, req.GetProtocolVersion(), "ListQueue")
	if err != nil {
		return nil, err
	}
	q, err := h.svc.ListQueue(ctx, c.domain(), req.GetCommunityId(), req.GetIncludeDone(), int(req.GetLimit()))
	if err != nil {
		return nil, toConnect(ctx, h.log, "ListQueue", err)
	}
	return &linliv1.ListQueueResponse{Items: q.Items, HotlineNotice: q.HotlineNotice}, nil
}

// ForwardPost forwards a request to the hotline.
func (h *staffHandler) ForwardPost(ctx context.Context, req *linliv1.ForwardPostRequest) (*linliv1.ForwardPostResponse, error) {
	c, err := h.members.call(ctx, req.GetProtocolVersion(), "ForwardPost")
	if err != nil {
		return nil, err
	}
	item, desc, err := h.svc.Forward(ctx, c.domain(), mutualaid.ForwardInput{
		Community: req.GetCommunityId(), PostID: req.GetPostId(),
		Description: req.GetDescription(), IncludePhone: req.GetIncludePhone(),
	})
	if err != nil {
		return nil, toConnect(ctx, h.log, "ForwardPost", err)
	}
	return &linliv1.ForwardPostResponse{Item: item, Description: desc}, nil
}

// DismissPost takes a request out of the queue.
func (h *staffHandler) DismissPost(ctx context.Context, req *linliv1.DismissPostRequest) (*linliv1.DismissPostResponse, error) {
	c, err := h.members.call(ctx, req.GetProtocolVersion(), "DismissPost")
	if err != nil {
		return nil, err
	}
	item, err := h.svc.Dismiss(ctx, c.domain(), req.GetCommunityId(), req.GetPostId(), req.GetReason())
	if err != nil {
		return nil, toConnect(ctx, h.log, "DismissPost", err)
	}
	return &linliv1.DismissPostResponse{Item: item}, nil
}

// RetryCase sends a stuck case again.
func (h *staffHandler) RetryCase(ctx context.Context, req *linliv1.RetryCaseRequest) (*linliv1.RetryCaseResponse, error) {
	c, err := h.members.call(ctx, req.GetProtocolVersion(), "RetryCase")
	if err != nil {
		return nil, err
	}
	item, err := h.svc.RetryCase(ctx, c.domain(), req.GetCommunityId(), req.GetPostId())
	if err != nil {
		return nil, toConnect(ctx, h.log, "RetryCase", err)
	}
	return &linliv1.RetryCaseResponse{Item: item}, nil
}

// SetEscalationPolicy sets deadlines and forwarding.
func (h *staffHandler) SetEscalationPolicy(ctx context.Context, req *linliv1.SetEscalationPolicyRequest) (*linliv1.SetEscalationPolicyResponse, error) {
	c, err := h.members.call(ctx, req.GetProtocolVersion(), "SetEscalationPolicy")
	if err != nil {
		return nil, err
	}
	p, err := h.svc.SetEscalationPolicy(ctx, c.domain(), req.GetCommunityId(), req.GetPolicy())
	if err != nil {
		return nil, toConnect(ctx, h.log, "SetEscalationPolicy", err)
	}
	return &linliv1.SetEscalationPolicyResponse{Policy: p}, nil
}

// GetReport summarizes a period (default: the last 30 days).
func (h *staffHandler) GetReport(ctx context.Context, req *linliv1.GetReportRequest) (*linliv1.GetReportResponse, error) {
	c, err := h.members.call(ctx, req.GetProtocolVersion(), "GetReport")
	if err != nil {
		return nil, err
	}
	from, to := ReportPeriod(req.GetFrom().AsTime(), req.GetTo().AsTime(), req.GetFrom() != nil, req.GetTo() != nil, h.now())
	r, err := h.svc.Report(ctx, c.domain(), req.GetCommunityId(), from, to)
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
