package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/linli/linli/internal/bearer"
	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid"
	"github.com/linli/linli/mutualaid/notify"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server"
)

// fakeGateway is a push gateway speaking the Matrix Push Gateway API that
// records every notification it receives, and can be down, lose its
// answers (having taken the notification) or reject push keys.
type fakeGateway struct {
	mu       gosync.Mutex
	down     bool
	lose     int             // answers still to lose
	reject   map[string]bool // push keys to reject
	received []received      // every request taken (not while down)
	attempts int
}

type received struct {
	body []byte
	req  notify.GatewayRequest
}

func (g *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.attempts++
	if r.URL.Path != notify.NotifyPath || r.Method != http.MethodPost {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if g.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	var req notify.GatewayRequest
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	g.received = append(g.received, received{body: body, req: req})
	if g.lose > 0 {
		g.lose--
		// Taken, but the answer never arrives: the connection is cut.
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	var rejected []string
	for _, d := range req.Notification.Devices {
		if g.reject[d.Pushkey] {
			rejected = append(rejected, d.Pushkey)
		}
	}
	_ = json.NewEncoder(w).Encode(notify.GatewayResponse{Rejected: append([]string{}, rejected...)})
}

func (g *fakeGateway) set(fn func(g *fakeGateway)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fn(g)
}

// delivered returns, per push key, the notifications the gateway shows
// once deduplicated on event_id (the first copy of each), and how many
// copies arrived in all.
func (g *fakeGateway) delivered() (map[string][]notify.GatewayNotification, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	seen := map[string]bool{}
	out := map[string][]notify.GatewayNotification{}
	for _, r := range g.received {
		n := r.req.Notification
		if seen[n.EventID] {
			continue
		}
		seen[n.EventID] = true
		for _, d := range n.Devices {
			out[d.Pushkey] = append(out[d.Pushkey], n)
		}
	}
	return out, len(g.received)
}

func (g *fakeGateway) events(pushkey string) int {
	got, _ := g.delivered()
	n := 0
	for _, x := range got[pushkey] {
		n += x.Counts.Unread
	}
	return n
}

// pushWorld is a server with a push gateway and residents who joined on
// their phones and registered pushers.
type pushWorld struct {
	*linlitest.Server
	gw    *fakeGateway
	staff string
	code  string
}

type resident struct {
	user, client string
	sync         linliv1connect.SyncServiceClient
	auth         linliv1connect.AuthServiceClient
	next         uint64
}

func newPushWorld(t *testing.T) *pushWorld {
	t.Helper()
	gw := &fakeGateway{reject: map[string]bool{}}
	ts := httptest.NewServer(gw)
	t.Cleanup(ts.Close)
	h := linlitest.NewServer(t, server.Config{Domain: mutualaid.Config{Push: mutualaid.PushConfig{
		GatewayURL: ts.URL, Every: 20 * time.Millisecond, MinBackoff: 5 * time.Millisecond,
	}}})
	w := &pushWorld{Server: h, gw: gw, staff: h.Token(t, "staff-li", "yuqiao", mutualaid.RoleStaff)}
	w.code = joinCode(t, h, w.staff, "yuqiao", linliv1.Role_ROLE_RESIDENT, 10)
	return w
}

// join signs name in on a phone and registers its pusher with pushkey.
func (w *pushWorld) join(t *testing.T, name, unit, phone, pushkey string) *resident {
	t.Helper()
	auth := linliv1connect.NewAuthServiceClient(w.HTTP, w.URL)
	client := "phone-" + pushkey
	j, err := auth.Join(t.Context(), &linliv1.JoinRequest{ProtocolVersion: 1, Code: w.code, ClientId: client,
		DisplayName: name, BuildingId: "b3", Unit: unit, Phone: phone})
	if err != nil {
		t.Fatalf("join %s: %v", name, err)
	}
	tok := j.GetTokens().GetAccessToken()
	r := &resident{user: j.GetMember().GetUserId(), client: client, sync: w.SyncClient(tok),
		auth: linliv1connect.NewAuthServiceClient(w.HTTP, w.URL, connect.WithInterceptors(bearer.Token(tok)))}
	_, err = r.auth.SetPusher(t.Context(), &linliv1.SetPusherRequest{ProtocolVersion: 1, Pusher: &linliv1.Pusher{
		Kind: linliv1.PusherKind_PUSHER_KIND_HTTP, AppId: "org.linli.app.android", Pushkey: pushkey, Lang: "zh-CN"}})
	if err != nil {
		t.Fatalf("SetPusher %s: %v", name, err)
	}
	return r
}

func (r *resident) apply(t *testing.T, m *linliv1.Mutation) {
	t.Helper()
	r.next++
	m.Id = r.next
	res, err := push(t.Context(), r.sync, r.client, m)
	if err != nil {
		t.Fatalf("%s: %v", r.user, err)
	}
	if s := res.GetResults()[0]; s.GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_APPLIED {
		t.Fatalf("%s: %v %s %s", r.user, s.GetStatus(), s.GetReason(), s.GetMessage())
	}
}

// settled waits until no notification waits to be sent.
func (w *pushWorld) settled(t *testing.T) {
	t.Helper()
	linlitest.WaitFor(t, "every notification sent", func() bool {
		n, err := w.Service().NotificationsPending(t.Context())
		return err == nil && n == 0
	})
}

func postM(id, note string, kind linliv1.PostKind, u linliv1.Urgency, unit, phone, name string, items ...*linliv1.PostItem) *linliv1.Mutation {
	d := &linliv1.PostDraft{Items: items, Urgency: u, Note: note, BuildingId: "b3", Unit: unit, Phone: phone, DisplayName: name}
	if kind == linliv1.PostKind_POST_KIND_OFFER {
		return &linliv1.Mutation{Kind: &linliv1.Mutation_PostOffer{PostOffer: &linliv1.PostOfferMutation{PostId: id, Draft: d}}}
	}
	return &linliv1.Mutation{Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{PostId: id, Draft: d}}}
}

func handoffM(kind string, hid string) *linliv1.Mutation {
	switch kind {
	case "accept":
		return &linliv1.Mutation{Kind: &linliv1.Mutation_AcceptHandoff{AcceptHandoff: &linliv1.AcceptHandoffMutation{HandoffId: hid}}}
	case "drop":
		return &linliv1.Mutation{Kind: &linliv1.Mutation_DropOff{DropOff: &linliv1.DropOffMutation{HandoffId: hid, DropPoint: "15楼电梯口窗台"}}}
	case "confirm":
		return &linliv1.Mutation{Kind: &linliv1.Mutation_ConfirmReceived{ConfirmReceived: &linliv1.ConfirmReceivedMutation{HandoffId: hid}}}
	case "cancel":
		return &linliv1.Mutation{Kind: &linliv1.Mutation_CancelHandoff{CancelHandoff: &linliv1.CancelHandoffMutation{HandoffId: hid}}}
	}
	panic(kind)
}

// TestNotifyOutageLostAnswer: the night of the 23:40 story with the push
// gateway down, then losing the answer to the first notification it takes.
// Every event reaches each phone exactly once once the gateway recovers:
// the notification whose answer was lost is sent again with the same
// event_id, which the gateway dedupes on, and nothing is lost. Every
// notification of the story carries ids, a type and a count only: no
// unit, phone, name, note or item.
func TestNotifyOutageLostAnswer(t *testing.T) {
	t.Parallel()
	w := newPushWorld(t)
	wang := w.join(t, "王芳", "1502", "13800138000", "key-wang")
	lucy := w.join(t, "Lucy Chen", "1103", "13910002000", "key-lucy")
	w.gw.set(func(g *fakeGateway) { g.down = true })

	meilin := &linliv1.PostItem{ItemCode: "ibuprofen-suspension-child", Name: "美林", Quantity: 1, Unit: "bottle", ExpiryDate: "2030-05-31"}
	lucy.apply(t, postM("meilin", "放在15楼电梯口窗台", linliv1.PostKind_POST_KIND_OFFER, linliv1.Urgency_URGENCY_ROUTINE, "1103", "13910002000", "Lucy Chen", meilin))
	wang.apply(t, postM("fever", "孩子发烧39度，急需退烧药", linliv1.PostKind_POST_KIND_REQUEST, linliv1.Urgency_URGENCY_URGENT, "1502", "13800138000", "王芳",
		&linliv1.PostItem{Need: "儿童退烧药", Quantity: 1}))
	wang.apply(t, &linliv1.Mutation{Kind: &linliv1.Mutation_AcceptSuggestion{AcceptSuggestion: &linliv1.AcceptSuggestionMutation{
		HandoffId: "h-1", RequestPostId: "fever", OfferPostId: "meilin"}}})
	// Lucy: a suggestion for 王芳's urgent request, and the proposal.
	linlitest.WaitFor(t, "retries while the gateway is down", func() bool {
		var n int
		w.gw.set(func(g *fakeGateway) { n = g.attempts })
		return n >= 3
	})
	w.gw.set(func(g *fakeGateway) { g.down, g.lose = false, 1 })
	w.settled(t)

	lucy.apply(t, handoffM("accept", "h-1"))  // 王芳: accepted
	lucy.apply(t, handoffM("drop", "h-1"))    // 王芳: dropped off
	wang.apply(t, handoffM("confirm", "h-1")) // Lucy: received
	w.settled(t)

	got, copies := w.gw.delivered()
	if n := w.gw.events("key-lucy"); n != 3 {
		t.Errorf("Lucy's phone shows %d events, want 3 (suggestion, proposal, received): %+v", n, got["key-lucy"])
	}
	if n := w.gw.events("key-wang"); n != 2 {
		t.Errorf("王芳's phone shows %d events, want 2 (accepted, dropped off): %+v", n, got["key-wang"])
	}
	if total := len(got["key-lucy"]) + len(got["key-wang"]); copies != total+1 {
		t.Errorf("the gateway took %d copies of %d notifications, want exactly one resent (the lost answer)", copies, total)
	}

	// Privacy: what the gateway saw.
	known := regexp.MustCompile(`^\{"notification":\{"event_id":"[0-9a-f]{32}","type":"[a-z_]+","prio":"(high|low)","counts":\{"unread":[0-9]+\},"devices":\[\{"app_id":"org\.linli\.app\.android","pushkey":"key-(wang|lucy)","pushkey_ts":[0-9]+,"data":\{"format":"event_id_only","lang":"zh-CN"\}\}\]\}\}$`)
	w.gw.set(func(g *fakeGateway) {
		for _, r := range g.received {
			body := string(r.body)
			if !known.MatchString(strings.TrimSpace(body)) {
				t.Errorf("notification with more than ids, a type and a count: %s", body)
			}
			for _, secret := range []string{"1502", "1103", "138", "139", "王芳", "Lucy", "发烧", "退烧", "美林", "ibuprofen", "窗台", "fever", "meilin", "h-1", wang.user, lucy.user} {
				if strings.Contains(body, secret) {
					t.Errorf("notification shows %q: %s", secret, body)
				}
			}
			if !slices.Contains(notify.Types, r.req.Notification.Type) {
				t.Errorf("unknown type %q", r.req.Notification.Type)
			}
		}
	})
}

// TestNotifyRejectedKeyAndRemovedMember: a push key the gateway rejects
// removes its pusher (nothing more goes to it); a removed member's pushers
// stop at once, even for events already waiting.
func TestNotifyRejectedKeyAndRemovedMember(t *testing.T) {
	t.Parallel()
	w := newPushWorld(t)
	wang := w.join(t, "王芳", "1502", "13800138000", "key-wang")
	lucy := w.join(t, "Lucy Chen", "1103", "13910002000", "key-lucy")
	antigen := &linliv1.PostItem{ItemCode: "antigen-test", Name: "抗原", Quantity: 5, Unit: "kit"}
	lucy.apply(t, postM("antigen", "", linliv1.PostKind_POST_KIND_OFFER, linliv1.Urgency_URGENCY_ROUTINE, "1103", "", "Lucy Chen", antigen))
	wang.apply(t, postM("need", "", linliv1.PostKind_POST_KIND_REQUEST, linliv1.Urgency_URGENCY_ROUTINE, "1502", "", "王芳",
		&linliv1.PostItem{ItemCode: "antigen-test", Quantity: 1}))

	// Lucy uninstalled the app: the gateway rejects her key.
	w.gw.set(func(g *fakeGateway) { g.reject["key-lucy"] = true })
	wang.apply(t, &linliv1.Mutation{Kind: &linliv1.Mutation_AcceptSuggestion{AcceptSuggestion: &linliv1.AcceptSuggestionMutation{
		HandoffId: "h-1", RequestPostId: "need", OfferPostId: "antigen"}}})
	w.settled(t)
	s, err := lucy.auth.GetPushSettings(t.Context(), &linliv1.GetPushSettingsRequest{ProtocolVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	if s.GetPusher() != nil || !s.GetGateway() {
		t.Fatalf("after the gateway rejected Lucy's key: settings %v, want a gateway and no pusher", s)
	}
	_, before := w.gw.delivered()
	wang.apply(t, handoffM("cancel", "h-1")) // would tell Lucy
	w.settled(t)
	if _, after := w.gw.delivered(); after != before {
		t.Errorf("the gateway got %d more notifications after Lucy's key was removed", after-before)
	}

	// 王芳 has an event waiting (the gateway is down) when staff remove her.
	w.gw.set(func(g *fakeGateway) { g.down = true })
	lucy.apply(t, &linliv1.Mutation{Kind: &linliv1.Mutation_ProposeHandoff{ProposeHandoff: &linliv1.ProposeHandoffMutation{
		HandoffId: "h-2", RequestPostId: "need", OfferPostId: "antigen", ItemCode: "antigen-test", Quantity: 1}}})
	linlitest.WaitFor(t, "the proposal waiting for 王芳's phone", func() bool {
		n, err := w.Service().NotificationsPending(t.Context())
		return err == nil && n == 1
	})
	cs := linliv1connect.NewCommunityServiceClient(w.HTTP, w.URL, connect.WithInterceptors(bearer.Token(w.staff)))
	if _, err := cs.RemoveMember(t.Context(), &linliv1.RemoveMemberRequest{ProtocolVersion: 1, CommunityId: "yuqiao", UserId: wang.user}); err != nil {
		t.Fatal(err)
	}
	if n, err := w.Service().NotificationsPending(t.Context()); err != nil || n != 0 {
		t.Errorf("after removal: %d events still wait (%v), want none", n, err)
	}
	w.gw.set(func(g *fakeGateway) { g.down = false })
	_, before = w.gw.delivered()
	if _, err := w.Service().RunNotifications(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, after := w.gw.delivered(); after != before {
		t.Errorf("the gateway got %d notifications for a removed member", after-before)
	}
}
