package server_test

import (
	"bytes"
	"log/slog"
	"strings"
	gosync "sync"
	"testing"

	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server"
)

// lockedBuffer collects log output from many goroutines.
type lockedBuffer struct {
	mu  gosync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestLogsKeepSecrets: a whole sign-in and posting session, with failures,
// logged at debug level, never writes a token, a join code, a phone or a
// unit number.
func TestLogsKeepSecrets(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	h := linlitest.NewServer(t, server.Config{Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	staff := h.Token(t, "staff-li", "yuqiao", mutualaid.RoleStaff)
	code := joinCode(t, h, staff, "yuqiao", linliv1.Role_ROLE_RESIDENT, 1)
	auth := linliv1connect.NewAuthServiceClient(h.HTTP, h.URL)
	joined, err := auth.Join(t.Context(), &linliv1.JoinRequest{ProtocolVersion: 1, Code: code, ClientId: "phone",
		DisplayName: "王芳", BuildingId: "b3", Unit: "Flat-9Q7Z", Phone: "+86 139-9876-5432"})
	if err != nil {
		t.Fatal(err)
	}
	tok := joined.GetTokens()
	c := h.SyncClient(tok.GetAccessToken())
	post := offer(1, "p1")
	post.GetPostOffer().GetDraft().Unit, post.GetPostOffer().GetDraft().Phone = "Flat-8W4X", "+86 137-1111-2222"
	if _, err := push(t.Context(), c, "phone", post); err != nil {
		t.Fatal(err)
	}
	_, _ = auth.Refresh(t.Context(), &linliv1.RefreshRequest{ProtocolVersion: 1, RefreshToken: tok.GetRefreshToken()})
	_, _ = auth.Refresh(t.Context(), &linliv1.RefreshRequest{ProtocolVersion: 1, RefreshToken: tok.GetRefreshToken()}) // reuse
	_, _ = auth.Join(t.Context(), &linliv1.JoinRequest{ProtocolVersion: 1, Code: code, ClientId: "x", DisplayName: "x", BuildingId: "b3"})
	_, _ = h.SyncClient("garbage."+tok.GetAccessToken()).Pull(t.Context(), &linliv1.PullRequest{ProtocolVersion: 1})
	out := logs.String()
	if !strings.Contains(out, "member joined") {
		t.Fatalf("expected some logs, got:\n%s", out)
	}
	for name, secret := range map[string]string{
		"access token": tok.GetAccessToken(), "refresh token": tok.GetRefreshToken(), "join code": code,
		"phone": "9876-5432", "post phone": "1111-2222", "unit": "9Q7Z", "post unit": "8W4X",
	} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain the %s", name)
		}
	}
}
