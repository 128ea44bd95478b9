package server_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/linli/linli/internal/bearer"
	"github.com/linli/linli/internal/hotlinesim"
	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server"
)

// hotlineWorld is a server on a test clock (the server, its tokens and the
// hotline simulator all read it), a hotline simulator it forwards to, and
// the 玉桥 community with 王芳 and staff member 赵主任.
type hotlineWorld struct {
	*linlitest.Server
	clk    *linlitest.Clock
	sim    *hotlinesim.Sim
	wang   linliv1connect.SyncServiceClient
	staff  linliv1connect.StaffServiceClient
	passes map[mutualaid.Job]*atomic.Int64 // passes of the domain's jobs ended
}

func newHotlineWorld(t *testing.T, dataDir string, clk *linlitest.Clock, sim *hotlinesim.Sim) *hotlineWorld {
	t.Helper()
	hot := httptest.NewServer(http.StripPrefix("/open311/v2", sim))
	t.Cleanup(hot.Close)
	passes := map[mutualaid.Job]*atomic.Int64{}
	for _, j := range []mutualaid.Job{mutualaid.JobDeadlines, mutualaid.JobHotline, mutualaid.JobRefresh, mutualaid.JobNotify} {
		passes[j] = new(atomic.Int64)
	}
	h := linlitest.NewServer(t, server.Config{DataDir: dataDir, Now: clk.Now, Domain: mutualaid.Config{
		Hotline: mutualaid.HotlineConfig{
			URL: hot.URL + "/open311/v2", APIKey: "demo", JurisdictionID: "yuqiao", Every: 20 * time.Millisecond,
		},
		AfterPass: func(job mutualaid.Job, _ int, _ error) { passes[job].Add(1) },
	}})
	w := &hotlineWorld{Server: h, clk: clk, sim: sim, passes: passes}
	h.Member(t, "u-wang", "yuqiao", mutualaid.RoleResident)
	h.Member(t, "u-zhao", "yuqiao", mutualaid.RoleStaff)
	if _, err := h.Service().PutBuilding(t.Context(), mutualaid.Operator, &linliv1.Building{Id: "b3", CommunityId: "yuqiao", Name: "3号楼", DropPoints: []string{"15楼电梯口窗台"}}); err != nil {
		t.Fatal(err)
	}
	w.wang = h.SyncClient(w.longToken(t, "u-wang", mutualaid.RoleResident))
	w.staff = linliv1connect.NewStaffServiceClient(h.HTTP, h.URL, connect.WithInterceptors(bearer.Token(w.longToken(t, "u-zhao", mutualaid.RoleStaff))))
	return w
}

// longToken outlives the test's clock jumps.
func (w *hotlineWorld) longToken(t *testing.T, user string, role mutualaid.Role) string {
	tok, err := w.Tokens().Mint(server.Principal{UserID: user, CommunityID: "yuqiao", Role: role}, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// request is 王芳's request for a children's fever reducer.
func request(id uint64, postID, note string, u linliv1.Urgency) *linliv1.Mutation {
	return &linliv1.Mutation{Id: id, Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{
		PostId: postID, Draft: &linliv1.PostDraft{
			Items:   []*linliv1.PostItem{{ItemCode: "ibuprofen-suspension-child", Name: "美林", Quantity: 1, Unit: "瓶"}},
			Urgency: u, Note: note, BuildingId: "b3", Floor: 15, Unit: "1502", Phone: "+86 138-0013-8000", DisplayName: "王芳",
		},
	}}}
}

// post pulls 王芳's view of her post.
func (w *hotlineWorld) post(t *testing.T, postID string) *linliv1.Post {
	t.Helper()
	changes, _ := linlitest.PullAll(t, w.wang, "")
	for _, c := range changes {
		if p := c.GetEntity().GetPost(); p != nil && p.GetId() == postID && strings.HasPrefix(c.GetScope(), "user/") {
			return p
		}
	}
	t.Fatalf("王芳 does not see post %s", postID)
	return nil
}

// waitFor polls cond until it holds (the server's jobs run every 20 ms).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	linlitest.WaitFor(t, what, cond)
}

// waitPasses waits until n more passes of each of jobs have ended, so that
// at least n-1 of them ran entirely after the call: what a test checks
// next, they have seen.
func (w *hotlineWorld) waitPasses(t *testing.T, n int64, jobs ...mutualaid.Job) {
	t.Helper()
	for _, j := range jobs {
		want := w.passes[j].Load() + n
		waitFor(t, fmt.Sprintf("%d more passes of %s", n, j), func() bool { return w.passes[j].Load() >= want })
	}
}

func (w *hotlineWorld) queue(t *testing.T) []*linliv1.StaffQueueItem {
	t.Helper()
	res, err := w.staff.ListQueue(t.Context(), &linliv1.ListQueueRequest{ProtocolVersion: 1, IncludeDone: true})
	if err != nil {
		t.Fatal(err)
	}
	return res.GetItems()
}

func (w *hotlineWorld) report(t *testing.T) *linliv1.Report {
	t.Helper()
	res, err := w.staff.GetReport(t.Context(), &linliv1.GetReportRequest{ProtocolVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	return res.GetReport()
}

// TestHotlineEndToEnd: a request nobody meets passes its deadline, enters
// the staff queue, is forwarded, dispatched to the street office and
// resolved by the hotline; the resident rates it and the report's rates
// move with the rating.
func TestHotlineEndToEnd(t *testing.T) {
	t.Parallel()
	clk := linlitest.NewClock(time.Date(2022, 12, 15, 23, 40, 0, 0, time.FixedZone("CST", 8*3600)))
	sim := &hotlinesim.Sim{APIKey: "demo", ResolveAfter: 3 * time.Hour, Now: clk.Now}
	w := newHotlineWorld(t, "", clk, sim)
	ctx := t.Context()

	resident := linliv1connect.NewStaffServiceClient(w.HTTP, w.URL, connect.WithInterceptors(bearer.Token(w.longToken(t, "u-wang", mutualaid.RoleResident))))
	_, err := resident.ListQueue(ctx, &linliv1.ListQueueRequest{ProtocolVersion: 1})
	wantError(t, err, connect.CodePermissionDenied, "not_staff_of_community")

	if _, err := push(ctx, w.wang, "phone", request(1, "req-2340", "孩子发烧39度，急需儿童退烧药", linliv1.Urgency_URGENCY_URGENT)); err != nil {
		t.Fatal(err)
	}
	w.waitPasses(t, 3, mutualaid.JobDeadlines) // passes after the push: nothing is due
	if q := w.queue(t); len(q) != 0 {
		t.Fatalf("queue before the deadline: %v", q)
	}
	clk.Advance(2 * time.Hour)
	waitFor(t, "the overdue request in the staff queue", func() bool { return len(w.queue(t)) == 1 })
	if it := w.queue(t)[0]; it.GetState() != linliv1.QueueState_QUEUE_STATE_WAITING || it.GetPostId() != "req-2340" {
		t.Fatalf("queue item = %v", it)
	}

	fwd, err := w.staff.ForwardPost(ctx, &linliv1.ForwardPostRequest{ProtocolVersion: 1, PostId: "req-2340",
		Description: "玉桥南里3号楼居民家中孩子高烧39度，邻里未能提供儿童退烧药，请协调药品。"})
	if err != nil {
		t.Fatal(err)
	}
	if fwd.GetItem().GetState() != linliv1.QueueState_QUEUE_STATE_FORWARDED {
		t.Fatalf("forwarded item = %v", fwd.GetItem())
	}
	_, err = w.staff.ForwardPost(ctx, &linliv1.ForwardPostRequest{ProtocolVersion: 1, PostId: "req-2340"})
	wantError(t, err, connect.CodeAborted, "already_forwarded")

	waitFor(t, "the case open at the street office in 王芳's post", func() bool {
		hc := w.post(t, "req-2340").GetEscalation().GetHotlineCase()
		return hc.GetState() == linliv1.CaseState_CASE_STATE_OPEN && hc.GetAgencyResponsible() == "玉桥街道办事处"
	})
	clk.Advance(3 * time.Hour)
	waitFor(t, "the case closed and a rating asked for", func() bool {
		e := w.post(t, "req-2340").GetEscalation()
		return e.GetHotlineCase().GetState() == linliv1.CaseState_CASE_STATE_CLOSED && e.GetFeedbackRequested()
	})

	r := w.report(t)
	if r.GetRequests() != 1 || r.GetEscalated() != 1 || r.GetClosed() != 1 || r.GetRated() != 0 || r.GetResolutionRate() != 0 {
		t.Fatalf("report before rating: %v", r)
	}
	res, err := push(ctx, w.wang, "phone", &linliv1.Mutation{Id: 2, Kind: &linliv1.Mutation_RateCase{RateCase: &linliv1.RateCaseMutation{
		PostId: "req-2340", Solved: true, Satisfaction: linliv1.Satisfaction_SATISFACTION_SATISFIED, Comment: "街道当晚送来了药，谢谢！",
	}}})
	if err != nil || res.GetResults()[0].GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_APPLIED {
		t.Fatalf("rate: %v %v", res, err)
	}
	r = w.report(t)
	if r.GetRated() != 1 || r.GetResolutionRate() != 1 || r.GetSatisfactionRate() != 1 {
		t.Errorf("report after rating: %v", r)
	}
	if r.GetUnmetByCategory()[0].GetKey() != "fever_reducer" || r.GetUnmetByBuilding()[0].GetKey() != "b3" {
		t.Errorf("unmet needs: %v %v", r.GetUnmetByCategory(), r.GetUnmetByBuilding())
	}
	if sim.Count() != 1 {
		t.Errorf("the hotline holds %d cases, want 1", sim.Count())
	}

	// An admin of another community reads yuqiao's report, over gRPC.
	w.Member(t, "u-admin", "home", mutualaid.RoleAdmin)
	tok, err := w.Tokens().Mint(server.Principal{UserID: "u-admin", CommunityID: "home", Role: mutualaid.RoleAdmin}, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	admin := linliv1connect.NewStaffServiceClient(w.H2C, w.URL, connect.WithGRPC(), connect.WithInterceptors(bearer.Token(tok)))
	res2, err := admin.GetReport(ctx, &linliv1.GetReportRequest{ProtocolVersion: 1, CommunityId: "yuqiao"})
	if err != nil || res2.GetReport().GetRated() != 1 {
		t.Errorf("admin's report of yuqiao over gRPC: %v, %v", res2.GetReport(), err)
	}
	_, err = admin.GetReport(ctx, &linliv1.GetReportRequest{ProtocolVersion: 1, CommunityId: "nowhere"})
	wantError(t, err, connect.CodeNotFound, "community_not_found")
}

// TestDeadlinePassesWhileDown: deadlines that pass while the server is
// down are handled once when it starts: the urgent request is queued, the
// critical one forwarded by policy, and neither twice.
func TestDeadlinePassesWhileDown(t *testing.T) {
	t.Parallel()
	clk := linlitest.NewClock(time.Date(2022, 12, 16, 1, 0, 0, 0, time.UTC))
	sim := &hotlinesim.Sim{APIKey: "demo", ResolveAfter: 24 * time.Hour, Now: clk.Now}
	dir := t.TempDir()
	w := newHotlineWorld(t, dir, clk, sim)
	ctx := t.Context()
	if _, err := push(ctx, w.wang, "phone",
		request(1, "req-urgent", "孩子发烧", linliv1.Urgency_URGENCY_URGENT),
		request(2, "req-critical", "宝宝两个月大，发烧，呼吸困难", linliv1.Urgency_URGENCY_URGENT)); err != nil {
		t.Fatal(err)
	}
	w.Close()

	clk.Advance(3 * time.Hour)
	w = newHotlineWorld(t, dir, clk, sim)
	waitFor(t, "both requests handled after the restart", func() bool { return len(w.queue(t)) == 2 && sim.Count() == 1 })
	w.waitPasses(t, 3, mutualaid.JobDeadlines, mutualaid.JobHotline) // more passes: nothing happens twice
	q := w.queue(t)
	states := map[string]linliv1.QueueState{}
	for _, it := range q {
		states[it.GetPostId()] = it.GetState()
	}
	if len(q) != 2 || states["req-urgent"] != linliv1.QueueState_QUEUE_STATE_WAITING || states["req-critical"] != linliv1.QueueState_QUEUE_STATE_FORWARDED {
		t.Fatalf("queue after restart: %v", q)
	}
	if sim.Count() != 1 {
		t.Fatalf("the hotline holds %d cases, want exactly 1", sim.Count())
	}
	if p := w.post(t, "req-critical"); !p.GetEscalation().GetHotlineCase().GetAutoForwarded() {
		t.Errorf("critical request's case: %v, want auto-forwarded", p.GetEscalation().GetHotlineCase())
	}
}
