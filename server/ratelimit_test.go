package server_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server"
)

// TestRateLimits: join guessing and push floods are refused with
// ResourceExhausted, a reason and a retry delay; others are unaffected.
func TestRateLimits(t *testing.T) {
	t.Parallel()
	h := linlitest.NewServer(t, server.Config{RateLimits: server.RateLimits{
		Join: server.Limit{Rate: 0.01, Burst: 3},
		Push: server.Limit{Rate: 0.01, Burst: 2},
	}})
	auth := linliv1connect.NewAuthServiceClient(h.HTTP, h.URL)
	var err error
	for i := range 4 {
		_, err = auth.Join(t.Context(), &linliv1.JoinRequest{ProtocolVersion: 1, Code: "GUESS2345678ABCDEFGH", ClientId: "phone", DisplayName: "x"})
		if i < 3 && connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Fatalf("guess %d: %v, want join_code_invalid", i, err)
		}
	}
	d := wantError(t, err, connect.CodeResourceExhausted, "rate_limited")
	if d.GetRetryAfterSeconds() < 1 {
		t.Fatalf("retry_after_seconds = %d", d.GetRetryAfterSeconds())
	}
	var cerr *connect.Error
	if !errors.As(err, &cerr) || cerr.Meta().Get("Retry-After") == "" {
		t.Fatal("no Retry-After header")
	}

	c := h.SyncClient(h.Token(t, "u1", "yuqiao", mutualaid.RoleResident))
	other := h.SyncClient(h.Token(t, "u2", "yuqiao", mutualaid.RoleResident))
	for i := range 3 {
		_, err = push(t.Context(), c, "phone", offer(uint64(i+1), "p"+string(rune('a'+i))))
	}
	wantError(t, err, connect.CodeResourceExhausted, "rate_limited")
	if _, err := push(t.Context(), other, "phone", offer(1, "q")); err != nil {
		t.Fatalf("another member was limited: %v", err)
	}
}

// TestRateLimitsBehindProxy: behind a trusted reverse proxy, per-address
// limits count the client address the proxy reports, not what a client
// wrote into X-Forwarded-For itself; from an untrusted peer the header is
// ignored.
func TestRateLimitsBehindProxy(t *testing.T) {
	t.Parallel()
	limits := server.RateLimits{Join: server.Limit{Rate: 0.0001, Burst: 1}}
	proxies, err := server.ParseTrustedProxies("127.0.0.0/8, ::1")
	if err != nil {
		t.Fatal(err)
	}
	behind := linlitest.NewServer(t, server.Config{RateLimits: limits, TrustedProxies: proxies})
	direct := linlitest.NewServer(t, server.Config{RateLimits: limits})
	join := func(h *linlitest.Server, xff string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, h.URL+"/linli.v1.AuthService/Join",
			strings.NewReader(`{"protocolVersion": 1, "code": "GUESS2345678ABCDEFGH", "clientId": "phone", "displayName": "x"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		res, err := h.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	const refused, limited = http.StatusBadRequest, http.StatusTooManyRequests
	for _, step := range []struct {
		h    *linlitest.Server
		xff  string
		want int
	}{
		{behind, "203.0.113.5", refused},
		{behind, "203.0.113.5", limited},
		{behind, "203.0.113.6", refused},               // another client behind the proxy
		{behind, "198.51.100.9, 203.0.113.5", limited}, // a spoofed left part changes nothing
		{behind, "203.0.113.9:1111", refused},          // a proxy that writes ports
		{behind, "203.0.113.9:2222", limited},          // the same client from another port
		{behind, "[2001:db8::1]:443", refused},
		{behind, "2001:db8::1", limited},
		{behind, "not-an-ip", refused}, // garbage: the proxy's own address
		{direct, "203.0.113.7", refused},
		{direct, "203.0.113.8", limited}, // not a trusted peer: the header is ignored
	} {
		if got := join(step.h, step.xff); got != step.want {
			t.Errorf("join with X-Forwarded-For %q: HTTP %d, want %d", step.xff, got, step.want)
		}
	}
	if _, err := server.ParseTrustedProxies("10.0.0.0/8, proxy.local"); err == nil {
		t.Error("a host name was accepted as a trusted proxy")
	}
}
