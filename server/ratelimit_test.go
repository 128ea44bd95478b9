package server_test

import (
	"errors"
	"testing"

	"connectrpc.com/connect"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server"
)

// TestRateLimits: join guessing and push floods are refused with
// ResourceExhausted, a reason and a retry delay; others are unaffected.
func TestRateLimits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{RateLimits: server.RateLimits{
		Join: server.Limit{Rate: 0.01, Burst: 3},
		Push: server.Limit{Rate: 0.01, Burst: 2},
	}})
	auth := linliv1connect.NewAuthServiceClient(h.http, h.url)
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

	c := h.client(h.token(t, "u1", "yuqiao", server.RoleResident))
	other := h.client(h.token(t, "u2", "yuqiao", server.RoleResident))
	for i := range 3 {
		_, err = push(t.Context(), c, "phone", offer(uint64(i+1), "p"+string(rune('a'+i))))
	}
	wantError(t, err, connect.CodeResourceExhausted, "rate_limited")
	if _, err := push(t.Context(), other, "phone", offer(1, "q")); err != nil {
		t.Fatalf("another member was limited: %v", err)
	}
}
