package server_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/linli/linli/internal/bearer"
	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server"
)

// fakePushService is a browser push service (RFC 8030): it records what it
// is sent and answers with status.
type fakePushService struct {
	mu     gosync.Mutex
	status int
	got    []*http.Request
	bodies [][]byte
}

func (p *fakePushService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got, p.bodies = append(p.got, r), append(p.bodies, b)
	w.WriteHeader(p.status)
}

// TestWebPush: a browser registers its subscription; a notification
// reaches the push service signed with the server's VAPID key, encrypted
// (aes128gcm: nothing readable on the way), with the notification's id as
// its Topic. When the push service answers 410 Gone (the browser
// unsubscribed), the pusher is removed.
func TestWebPush(t *testing.T) {
	t.Parallel()
	ps := &fakePushService{status: http.StatusCreated}
	pts := httptest.NewServer(ps)
	t.Cleanup(pts.Close)
	private, public, err := mutualaid.GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	h := linlitest.NewServer(t, server.Config{Domain: mutualaid.Config{Push: mutualaid.PushConfig{
		VAPIDPrivateKey: private, VAPIDSubject: "mailto:ops@linli.example", WebPushHosts: []string{"127.0.0.1"},
		Every: 20 * time.Millisecond, MinBackoff: 5 * time.Millisecond,
	}}})
	staff := h.Token(t, "staff-li", "yuqiao", mutualaid.RoleStaff)
	code := joinCode(t, h, staff, "yuqiao", linliv1.Role_ROLE_RESIDENT, 2)
	auth := linliv1connect.NewAuthServiceClient(h.HTTP, h.URL)
	ctx := t.Context()
	join := func(name, client string) (string, linliv1connect.AuthServiceClient, linliv1connect.SyncServiceClient) {
		j, err := auth.Join(ctx, &linliv1.JoinRequest{ProtocolVersion: 1, Code: code, ClientId: client, DisplayName: name, BuildingId: "b3", Unit: "1502"})
		if err != nil {
			t.Fatal(err)
		}
		tok := j.GetTokens().GetAccessToken()
		return j.GetMember().GetUserId(), linliv1connect.NewAuthServiceClient(h.HTTP, h.URL, connect.WithInterceptors(bearer.Token(tok))), h.SyncClient(tok)
	}
	_, lucyAuth, lucySync := join("Lucy Chen", "browser")
	_, _, wangSync := join("王芳", "phone")

	settings, err := lucyAuth.GetPushSettings(ctx, &linliv1.GetPushSettingsRequest{ProtocolVersion: 1})
	if err != nil || !settings.GetWebPush() || settings.GetGateway() || settings.GetVapidPublicKey() != public {
		t.Fatalf("push settings %v, %v: want Web Push with the server's key", settings, err)
	}
	browserKey, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	b64 := base64.RawURLEncoding.EncodeToString
	_, err = lucyAuth.SetPusher(ctx, &linliv1.SetPusherRequest{ProtocolVersion: 1, Pusher: &linliv1.Pusher{
		Kind: linliv1.PusherKind_PUSHER_KIND_WEBPUSH, Pushkey: pts.URL + "/push/sub-1",
		P256Dh: b64(browserKey.PublicKey().Bytes()), Auth: b64(secret)}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = lucyAuth.SetPusher(ctx, &linliv1.SetPusherRequest{ProtocolVersion: 1, Pusher: &linliv1.Pusher{
		Kind: linliv1.PusherKind_PUSHER_KIND_WEBPUSH, Pushkey: "https://evil.example/push",
		P256Dh: b64(browserKey.PublicKey().Bytes()), Auth: b64(secret)}})
	wantError(t, err, connect.CodeInvalidArgument, "pushkey_invalid")
	_, err = lucyAuth.SetPusher(ctx, &linliv1.SetPusherRequest{ProtocolVersion: 1, Pusher: &linliv1.Pusher{
		Kind: linliv1.PusherKind_PUSHER_KIND_HTTP, AppId: "org.linli.app", Pushkey: "k"}})
	wantError(t, err, connect.CodeAborted, "push_not_configured")

	if _, err := push(ctx, lucySync, "browser", offer(1, "meilin")); err != nil {
		t.Fatal(err)
	}
	propose := &linliv1.Mutation{Id: 1, Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{
		PostId: "fever", Draft: &linliv1.PostDraft{Items: []*linliv1.PostItem{{Need: "儿童退烧药", Quantity: 1}},
			Urgency: linliv1.Urgency_URGENCY_URGENT, BuildingId: "b3", Unit: "1502", DisplayName: "王芳", Note: "孩子发烧"}}}}
	if _, err := push(ctx, wangSync, "phone", propose); err != nil {
		t.Fatal(err)
	}
	linlitest.WaitFor(t, "a Web Push message", func() bool {
		ps.mu.Lock()
		defer ps.mu.Unlock()
		return len(ps.got) > 0
	})
	ps.mu.Lock()
	r, body := ps.got[0], ps.bodies[0]
	if r.URL.Path != "/push/sub-1" || r.Header.Get("Content-Encoding") != "aes128gcm" || len(r.Header.Get("Topic")) != 32 ||
		!strings.HasPrefix(r.Header.Get("Authorization"), "vapid t=") || !strings.Contains(r.Header.Get("Authorization"), "k="+public) ||
		r.Header.Get("TTL") == "" {
		t.Errorf("push message: %s %v", r.URL.Path, r.Header)
	}
	for _, plain := range []string{"suggestion", "王芳", "1502", "美林", `"type"`} {
		if strings.Contains(string(body), plain) {
			t.Errorf("the push service can read %q", plain)
		}
	}
	ps.status = http.StatusGone
	ps.mu.Unlock()

	// The browser unsubscribed: the next message is answered 410 Gone.
	if _, err := push(ctx, wangSync, "phone", &linliv1.Mutation{Id: 2, Kind: &linliv1.Mutation_AcceptSuggestion{AcceptSuggestion: &linliv1.AcceptSuggestionMutation{
		HandoffId: "h-1", RequestPostId: "fever", OfferPostId: "meilin"}}}); err != nil {
		t.Fatal(err)
	}
	linlitest.WaitFor(t, "the gone subscription's pusher removed", func() bool {
		s, err := lucyAuth.GetPushSettings(ctx, &linliv1.GetPushSettingsRequest{ProtocolVersion: 1})
		return err == nil && s.GetPusher() == nil
	})
}
