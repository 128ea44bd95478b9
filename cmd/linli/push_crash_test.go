package main_test

import (
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"

	"github.com/linli/linli/internal/bearer"
	"github.com/linli/linli/internal/pushsim"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
)

// TestPushKilledMidSend runs the real binary against a push gateway that
// takes the notification and never answers, SIGKILLs the server while the
// POST is in flight, restarts it, and checks that the gateway is sent the
// same notification again (the same event_id, which it dedupes on): no
// loss, and no second notification for the event.
func TestPushKilledMidSend(t *testing.T) {
	sim := &pushsim.Sim{}
	gw := httptest.NewServer(sim)
	defer gw.Close()

	bin := crashBuildLinli(t)
	dataDir, logDir := t.TempDir(), t.TempDir()
	crashAdmin(t, bin, "init", "--data", dataDir, "--community", "yuqiao",
		"--name", "玉桥南里社区", "--district", "通州区", "--street-office", "玉桥街道")
	crashAdmin(t, bin, "building", "--data", dataDir, "--community", "yuqiao",
		"--id", "b3", "--name", "3号楼", "--drop-point", "15楼电梯口窗台")
	residentCode := crashAdmin(t, bin, "join-code", "--data", dataDir, "--community", "yuqiao")
	staffCode := crashAdmin(t, bin, "join-code", "--data", dataDir, "--community", "yuqiao", "--role", "staff")
	flags := []string{"--push-gateway", gw.URL}

	hc := crashHTTPClient(t)
	srv := crashStartServer(t, bin, dataDir, logDir, 0, hc, flags...)
	auth := linliv1connect.NewAuthServiceClient(hc, srv.baseURL)
	wangTok := joinAs(t, auth, residentCode, "王芳")
	staffTok := joinAs(t, auth, staffCode, "赵主任")
	staffAuth := linliv1connect.NewAuthServiceClient(hc, srv.baseURL, connect.WithInterceptors(bearer.Token(staffTok)))
	if _, err := staffAuth.SetPusher(t.Context(), &linliv1.SetPusherRequest{ProtocolVersion: 1, Pusher: &linliv1.Pusher{
		Kind: linliv1.PusherKind_PUSHER_KIND_HTTP, AppId: "org.linli.app.ios", Pushkey: "apns-zhao"}}); err != nil {
		t.Fatal(err)
	}

	sim.HoldNext(1)
	wang := linliv1connect.NewSyncServiceClient(hc, srv.baseURL, connect.WithInterceptors(bearer.Token(wangTok)))
	if _, err := wang.Push(t.Context(), &linliv1.PushRequest{ProtocolVersion: 1, ClientId: crashClientID, Mutations: []*linliv1.Mutation{{
		Id: 1, Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{PostId: "req-0041", Draft: &linliv1.PostDraft{
			Items:   []*linliv1.PostItem{{Need: "儿童退烧药", Quantity: 1}},
			Urgency: linliv1.Urgency_URGENCY_URGENT, Note: "宝宝两个月大，发烧，呼吸困难", BuildingId: "b3", Floor: 15, DisplayName: "王芳",
		}}},
	}}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the gateway to take the emergency alert", func() bool { return len(sim.Received()) == 1 })
	srv.kill(t) // mid-send: the gateway has it, the answer never came

	srv = crashStartServer(t, bin, dataDir, logDir, 1, hc, flags...)
	waitUntil(t, "the restarted server to send it again", func() bool { return len(sim.Received()) >= 2 })
	got := sim.Received()
	first, again := got[0], got[1]
	if first.Type != "emergency_alert" || first.Pushkey != "apns-zhao" || again.EventID != first.EventID || !again.Duplicate {
		t.Fatalf("the gateway got %+v, then %+v: want the emergency alert, then the same event_id again", first, again)
	}
	// A later event is a new notification: the outbox moved on.
	staffSync := linliv1connect.NewSyncServiceClient(hc, srv.baseURL, connect.WithInterceptors(bearer.Token(wangTok)))
	if _, err := staffSync.Push(t.Context(), &linliv1.PushRequest{ProtocolVersion: 1, ClientId: crashClientID, Mutations: []*linliv1.Mutation{{
		Id: 2, Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{PostId: "req-0042", Draft: &linliv1.PostDraft{
			Items:   []*linliv1.PostItem{{ItemCode: "antigen-test", Quantity: 1}},
			Urgency: linliv1.Urgency_URGENCY_URGENT, Note: "胸痛，喘不上气", BuildingId: "b3", Floor: 15, DisplayName: "王芳",
		}}},
	}}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the next alert", func() bool { return len(sim.Received()) >= 3 })
	distinct := map[string]bool{}
	for _, r := range sim.Received() {
		distinct[r.EventID] = true
	}
	if n := len(sim.Received()); n != 3 || len(distinct) != 2 {
		t.Errorf("the gateway got %d notifications with %d ids, want 3 with 2 (one resent after the kill)", n, len(distinct))
	}
}
