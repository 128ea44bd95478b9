package main_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/linli/linli/internal/bearer"
	"github.com/linli/linli/internal/hotlinesim"
	"github.com/linli/linli/internal/linlitest"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
)

// TestHotlineKilledMidForward runs the real binary against a hotline that
// creates the case and never answers, SIGKILLs the server while the POST
// is in flight, restarts it, and checks that the hotline still holds
// exactly one case for the request, and that the request shows it.
func TestHotlineKilledMidForward(t *testing.T) {
	sim := &hotlinesim.Sim{APIKey: "demo", ResolveAfter: time.Hour}
	hot := httptest.NewServer(http.StripPrefix("/open311/v2", sim))
	defer hot.Close()

	bin := crashBuildLinli(t)
	dataDir, logDir := t.TempDir(), t.TempDir()
	crashAdmin(t, bin, "init", "--data", dataDir, "--community", "yuqiao",
		"--name", "玉桥南里社区", "--district", "通州区", "--street-office", "玉桥街道")
	crashAdmin(t, bin, "building", "--data", dataDir, "--community", "yuqiao",
		"--id", "b3", "--name", "3号楼", "--drop-point", "15楼电梯口窗台")
	residentCode := crashAdmin(t, bin, "join-code", "--data", dataDir, "--community", "yuqiao")
	staffCode := crashAdmin(t, bin, "join-code", "--data", dataDir, "--community", "yuqiao", "--role", "staff")
	flags := []string{"--hotline-url", hot.URL + "/open311/v2", "--hotline-api-key", "demo",
		"--hotline-jurisdiction", "yuqiao", "--hotline-every", "100ms"}

	hc := crashHTTPClient(t)
	srv := crashStartServer(t, bin, dataDir, logDir, 0, hc, flags...)
	auth := linliv1connect.NewAuthServiceClient(hc, srv.baseURL)
	wangTok := joinAs(t, auth, residentCode, "王芳")
	staffTok := joinAs(t, auth, staffCode, "赵主任")
	wang := linliv1connect.NewSyncServiceClient(hc, srv.baseURL, connect.WithInterceptors(bearer.Token(wangTok)))
	if _, err := wang.Push(t.Context(), &linliv1.PushRequest{ProtocolVersion: 1, ClientId: crashClientID, Mutations: []*linliv1.Mutation{{
		Id: 1, Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{PostId: "req-2340", Draft: &linliv1.PostDraft{
			Items:   []*linliv1.PostItem{{ItemCode: "ibuprofen-suspension-child", Name: "美林", Quantity: 1, Unit: "瓶"}},
			Urgency: linliv1.Urgency_URGENCY_URGENT, Note: "孩子发烧39度", BuildingId: "b3", Floor: 15, DisplayName: "王芳",
		}}},
	}}}); err != nil {
		t.Fatal(err)
	}

	sim.HoldNext(1)
	staff := linliv1connect.NewStaffServiceClient(hc, srv.baseURL, connect.WithInterceptors(bearer.Token(staffTok)))
	if _, err := staff.ForwardPost(t.Context(), &linliv1.ForwardPostRequest{ProtocolVersion: 1, PostId: "req-2340"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the hotline to create the case", func() bool { return sim.Count() == 1 })
	srv.kill(t) // mid-forward: the case exists, the answer never came

	srv = crashStartServer(t, bin, dataDir, logDir, 1, hc, flags...)
	wang = linliv1connect.NewSyncServiceClient(hc, srv.baseURL, connect.WithInterceptors(bearer.Token(wangTok)))
	var hcase *linliv1.HotlineCase
	waitUntil(t, "the request to show the case", func() bool {
		res, err := wang.Pull(t.Context(), &linliv1.PullRequest{ProtocolVersion: 1})
		if err != nil {
			return false
		}
		for _, ch := range res.GetChanges() {
			if p := ch.GetEntity().GetPost(); p.GetId() == "req-2340" && ch.GetScope() != "community/yuqiao" {
				hcase = p.GetEscalation().GetHotlineCase()
			}
		}
		return hcase.GetServiceRequestId() != ""
	})
	// Each hotline pass of the restarted server asks for the open case's
	// status: three more calls mean at least two whole passes since.
	calls := sim.Calls()
	waitUntil(t, "more passes of the hotline job", func() bool { return sim.Calls() >= calls+3 })
	cases := sim.Cases()
	if len(cases) != 1 || cases[0].ID != hcase.GetServiceRequestId() {
		t.Fatalf("the hotline holds %d cases (%v), want exactly the one the request shows (%s)", len(cases), cases, hcase.GetServiceRequestId())
	}
}

// joinAs redeems a join code and returns the access token.
func joinAs(t *testing.T, auth linliv1connect.AuthServiceClient, code, name string) string {
	t.Helper()
	res, err := auth.Join(t.Context(), &linliv1.JoinRequest{ProtocolVersion: 1, Code: code, ClientId: crashClientID, DisplayName: name, BuildingId: "b3"})
	if err != nil {
		t.Fatalf("join as %s: %v", name, err)
	}
	return res.GetTokens().GetAccessToken()
}

// waitUntil polls cond until it holds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	linlitest.WaitFor(t, what, cond)
}
