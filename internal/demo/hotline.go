package demo

import (
	"errors"
	"fmt"
	"time"

	"github.com/linli/linli/client"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
)

// demoCaseWait bounds how long the demo waits for the hotline.
const demoCaseWait = 30 * time.Second

// hotline is the chapter beyond neighbours: a need nobody in the building
// can meet goes to the city hotline, comes back resolved, and is rated.
func (d *demo) hotline(staff linliv1connect.StaffServiceClient, chen *person) error {
	d.say("02:10 — 陈静's father needs a pulse oximeter; nobody in building 3 has one.")
	if _, err := d.push(chen, &linliv1.Mutation{Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{
		PostId: "chen-oximeter", Draft: &linliv1.PostDraft{
			Items:   []*linliv1.PostItem{{ItemCode: "pulse-oximeter", Name: "血氧仪", Quantity: 1}},
			Urgency: linliv1.Urgency_URGENCY_URGENT, Note: "父亲70岁，咳嗽气短，想测一下血氧",
			BuildingId: "b3", Floor: 3, DisplayName: "陈静", SharePhoneWithHotline: true,
			ForWhom: &linliv1.ForWhom{Recipient: linliv1.Recipient_RECIPIENT_ELDERLY},
		},
	}}}); err != nil {
		return err
	}
	q, err := staff.ListQueue(d.ctx, &linliv1.ListQueueRequest{ProtocolVersion: 1})
	if err != nil {
		return fmt.Errorf("list queue: %w", err)
	}
	if q.GetHotlineNotice() == mutualaid.NoHotlineReason {
		d.show("(this server has no hotline configured: the chapter stops here)")
		return nil
	}
	d.say("Its deadline is two hours away, but staff 刘敏 forwards it to the 12345 hotline now.")
	fwd, err := staff.ForwardPost(d.ctx, &linliv1.ForwardPostRequest{ProtocolVersion: 1, PostId: "chen-oximeter", IncludePhone: true,
		Description: "玉桥社区3号楼居民家中70岁老人咳嗽气短，需要血氧仪，邻里无人能提供，请协调。"})
	if err != nil {
		return fmt.Errorf("forward: %w", err)
	}
	d.show("forwarded; the case reads: %q", fwd.GetDescription())
	hc, err := d.waitCase(chen, linliv1.CaseState_CASE_STATE_OPEN)
	if err != nil {
		return err
	}
	d.show("陈静's app: case %s, %s — %s", hc.GetServiceRequestId(), hc.GetAgencyResponsible(), hc.GetStatusNotes())
	if hc, err = d.waitCase(chen, linliv1.CaseState_CASE_STATE_CLOSED); err != nil {
		return err
	}
	d.show("closed: %s", hc.GetStatusNotes())
	return d.rate(staff, chen)
}

// rate has 陈静 rate the case and staff read the report.
func (d *demo) rate(staff linliv1connect.StaffServiceClient, chen *person) error {
	d.say("陈静 is asked: solved? satisfied? — yes, satisfied. Staff read the month's report.")
	if _, err := d.push(chen, &linliv1.Mutation{Kind: &linliv1.Mutation_RateCase{RateCase: &linliv1.RateCaseMutation{
		PostId: "chen-oximeter", Solved: true, Satisfaction: linliv1.Satisfaction_SATISFACTION_SATISFIED,
	}}}); err != nil {
		return err
	}
	res, err := staff.GetReport(d.ctx, &linliv1.GetReportRequest{ProtocolVersion: 1})
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	r := res.GetReport()
	d.show("requests %d, met by neighbours %d, to the hotline %d, resolution rate %.0f%%, satisfaction rate %.0f%%",
		r.GetRequests(), r.GetMetByNeighbours(), r.GetEscalated(), 100*r.GetResolutionRate(), 100*r.GetSatisfactionRate())
	return nil
}

// waitCase syncs p until its request's case reaches state.
func (d *demo) waitCase(p *person, state linliv1.CaseState) (*linliv1.HotlineCase, error) {
	deadline := time.Now().Add(demoCaseWait)
	for time.Now().Before(deadline) {
		all, err := d.synced(p)
		if err != nil {
			return nil, err
		}
		for _, e := range client.MergeScopes(all) {
			if post := e.GetPost(); post.GetId() == "chen-oximeter" && post.GetEscalation().GetHotlineCase().GetState() == state {
				return post.GetEscalation().GetHotlineCase(), nil
			}
		}
		select {
		case <-d.ctx.Done():
			return nil, d.ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil, errors.New("the hotline case did not reach " + state.String())
}
