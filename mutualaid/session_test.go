package mutualaid_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// refresh trades tok, failing the test on error.
func (f *dirFixture) refresh(tok string) (mutualaid.Session, string) {
	f.t.Helper()
	s, next, _, err := f.svc.Refresh(context.Background(), tok)
	if err != nil {
		f.t.Fatalf("Refresh: %v", err)
	}
	return s, next
}

// refreshFails wants Refresh(tok) to fail Unauthenticated with reason.
func (f *dirFixture) refreshFails(t *testing.T, tok, reason string) {
	t.Helper()
	s, next, exp, err := f.svc.Refresh(context.Background(), tok)
	wantError(t, err, mutualaid.Unauthenticated, reason)
	if s != (mutualaid.Session{}) || next != "" || !exp.IsZero() {
		t.Errorf("got session %v token %q expiry %v with an error", s, next, exp)
	}
}

func TestStartSession(t *testing.T) {
	t.Parallel()
	f := newDirFixture(t)
	ctx := context.Background()
	wang := f.resident("王芳")
	tok, exp, err := f.svc.StartSession(ctx, "yuqiao", wang.GetUserId(), "phone-1")
	if err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) != 32 {
		t.Errorf("got token %q (%d bytes, %v), want 32 bytes base64url", tok, len(raw), err)
	}
	if !exp.Equal(night.Add(30 * 24 * time.Hour)) {
		t.Errorf("got expiry %v, want 30 days after %v", exp, night)
	}
	want := &linliv1.Device{ClientId: "phone-1", SignedInAt: timestamppb.New(night), LastRefreshedAt: timestamppb.New(night)}
	user := mutualaid.UserScope(wang.GetUserId())
	pub := f.entities(user)[user]["device/"+wang.GetUserId()+"/phone-1"].GetDevice()
	if !proto.Equal(pub, want) {
		t.Errorf("user scope: got %v, want %v", pub, want)
	}

	tests := []struct {
		name, community, user, client string
		code                          mutualaid.Code
		reason                        string
	}{
		{"ClientEmpty", "yuqiao", wang.GetUserId(), "", mutualaid.Invalid, "client_id_required"},
		{"ClientSlash", "yuqiao", wang.GetUserId(), "phone/1", mutualaid.Invalid, "client_id_invalid"},
		{"ClientTooLong", "yuqiao", wang.GetUserId(), strings.Repeat("p", 65), mutualaid.Invalid, "client_id_too_long"},
		{"UnknownUser", "yuqiao", "u_0000000000000000", "phone-1", mutualaid.NotFound, "member_not_found"},
		{"OtherCommunity", "beiyuan", wang.GetUserId(), "phone-1", mutualaid.NotFound, "member_not_found"},
		{"MalformedUser", "yuqiao", "u/../x", "phone-1", mutualaid.NotFound, "member_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := f.svc.StartSession(ctx, tt.community, tt.user, tt.client)
			wantError(t, err, tt.code, tt.reason)
		})
	}
}

func TestRefresh(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("Rotates", func(t *testing.T) {
		f := newDirFixture(t)
		wang := f.resident("王芳")
		r1 := f.session(wang, "phone-1")
		f.clk.Advance(20 * time.Minute)
		s, r2, exp, err := f.svc.Refresh(ctx, r1)
		if err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		if want := (mutualaid.Session{CommunityID: "yuqiao", UserID: wang.GetUserId(), ClientID: "phone-1"}); s != want {
			t.Errorf("got session %v, want %v", s, want)
		}
		if r2 == r1 || r2 == "" || !exp.Equal(night.Add(20*time.Minute+mutualaid.RefreshTokenTTL)) {
			t.Errorf("got token %q expiring %v, want a new one expiring 30 days from now", r2, exp)
		}
		f.clk.Advance(20 * time.Minute)
		_, r3 := f.refresh(r2)
		f.refresh(r3)
		d, ok, err := f.svc.Device(wang.GetUserId(), "phone-1")
		if err != nil || !ok || !d.GetLastRefreshedAt().AsTime().Equal(night.Add(40*time.Minute)) || d.GetRevoked() {
			t.Errorf("Device: got %v %t %v, want refreshed at 00:20, not revoked", d, ok, err)
		}
	})
	t.Run("ReuseRevokesFamily", func(t *testing.T) {
		f := newDirFixture(t)
		wang := f.resident("王芳")
		r1 := f.session(wang, "phone-1")
		_, r2 := f.refresh(r1)                        // the thief
		f.refreshFails(t, r1, "refresh_token_reused") // the owner, later
		f.refreshFails(t, r2, "session_revoked")
		f.refreshFails(t, r1, "refresh_token_reused")
		if d, _, _ := f.svc.Device(wang.GetUserId(), "phone-1"); !d.GetRevoked() {
			t.Errorf("device not revoked: %v", d)
		}
		r := f.session(wang, "phone-1") // signing in again works
		f.refresh(r)
	})
	t.Run("ReuseLeavesOtherDevices", func(t *testing.T) {
		f := newDirFixture(t)
		wang := f.resident("王芳")
		phone, tablet := f.session(wang, "phone-1"), f.session(wang, "tablet-1")
		f.refresh(phone)
		f.refreshFails(t, phone, "refresh_token_reused")
		f.refresh(tablet)
	})
	t.Run("Expired", func(t *testing.T) {
		f := newDirFixture(t)
		r := f.session(f.resident("王芳"), "phone-1")
		f.clk.Advance(mutualaid.RefreshTokenTTL)
		f.refreshFails(t, r, "refresh_token_invalid")
	})
	t.Run("SignInAgainEndsOldSession", func(t *testing.T) {
		f := newDirFixture(t)
		wang := f.resident("王芳")
		old := f.session(wang, "phone-1")
		f.session(wang, "phone-1")
		f.refreshFails(t, old, "session_revoked")
	})
	t.Run("Unknown", func(t *testing.T) {
		f := newDirFixture(t)
		r := f.session(f.resident("王芳"), "phone-1")
		for _, tok := range []string{"", "x", r[:len(r)-1], r + "A", strings.ToUpper(r), strings.Repeat("A", 1<<16), "\x00\xff"} {
			f.refreshFails(t, tok, "refresh_token_invalid")
		}
		f.refresh(r) // still good: failed attempts do not spend it
	})
}

func TestSignOut(t *testing.T) {
	t.Parallel()
	f := newDirFixture(t)
	ctx := context.Background()
	wang := f.resident("王芳")
	phone, tablet := f.session(wang, "phone-1"), f.session(wang, "tablet-1")
	if err := f.svc.SignOut(ctx, wang.GetUserId(), "phone-1"); err != nil {
		t.Fatalf("SignOut: %v", err)
	}
	f.refreshFails(t, phone, "session_revoked")
	f.refresh(tablet)
	for _, client := range []string{"phone-1", "laptop-9", "bad/client"} {
		if err := f.svc.SignOut(ctx, wang.GetUserId(), client); err != nil {
			t.Errorf("SignOut %s again: %v", client, err)
		}
	}
}

func TestDevices(t *testing.T) {
	t.Parallel()
	f := newDirFixture(t)
	ctx := context.Background()
	wang := f.resident("王芳")
	f.session(wang, "phone-1")
	f.clk.Advance(time.Hour)
	f.session(wang, "tablet-1")
	f.clk.Advance(time.Hour)
	f.session(f.resident("Lucy Chen"), "phone-1")
	if err := f.svc.RevokeDevice(ctx, wang.GetUserId(), "phone-1"); err != nil {
		t.Fatalf("RevokeDevice: %v", err)
	}

	got, err := f.svc.Devices(wang.GetUserId())
	if err != nil {
		t.Fatalf("Devices: %v", err)
	}
	want := []*linliv1.Device{
		{ClientId: "tablet-1", SignedInAt: timestamppb.New(night.Add(time.Hour)), LastRefreshedAt: timestamppb.New(night.Add(time.Hour))},
		{ClientId: "phone-1", SignedInAt: timestamppb.New(night), LastRefreshedAt: timestamppb.New(night), Revoked: true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d devices %v, want %v", len(got), got, want)
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("device %d: got %v, want %v", i, got[i], want[i])
		}
	}
	if none, err := f.svc.Devices("u_0000000000000000"); err != nil || len(none) != 0 {
		t.Errorf("unknown user: got %v %v, want none", none, err)
	}
}

func TestRevokeDevice(t *testing.T) {
	t.Parallel()
	f := newDirFixture(t)
	ctx := context.Background()
	wang, lucy := f.resident("王芳"), f.resident("Lucy Chen")
	phone := f.session(wang, "phone-1")
	lucyPhone := f.session(lucy, "phone-1")

	t.Run("Revokes", func(t *testing.T) {
		if err := f.svc.RevokeDevice(ctx, wang.GetUserId(), "phone-1"); err != nil {
			t.Fatalf("RevokeDevice: %v", err)
		}
		f.refreshFails(t, phone, "session_revoked")
		user := mutualaid.UserScope(wang.GetUserId())
		if d := f.entities(user)[user]["device/"+wang.GetUserId()+"/phone-1"].GetDevice(); !d.GetRevoked() {
			t.Errorf("user scope: got %v, want revoked", d)
		}
		if err := f.svc.RevokeDevice(ctx, wang.GetUserId(), "phone-1"); err != nil {
			t.Errorf("revoking again: %v", err)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		for _, client := range []string{"tablet-1", "", "phone-1/x"} {
			wantError(t, f.svc.RevokeDevice(ctx, wang.GetUserId(), client), mutualaid.NotFound, "device_not_found")
		}
		wantError(t, f.svc.RevokeDevice(ctx, "u_0000000000000000", "phone-1"), mutualaid.NotFound, "device_not_found")
	})
	t.Run("OthersUntouched", func(t *testing.T) {
		f.refresh(lucyPhone)
	})
}

// A user's device list is bounded: revoked devices make room, live ones do not.
func TestStartSessionDeviceLimit(t *testing.T) {
	t.Parallel()
	f := newDirFixture(t)
	ctx := context.Background()
	wang := f.resident("王芳")
	for i := range 32 {
		f.session(wang, fmt.Sprintf("phone-%d", i))
	}
	_, _, err := f.svc.StartSession(ctx, "yuqiao", wang.GetUserId(), "phone-32")
	wantError(t, err, mutualaid.Conflict, "too_many_devices")
	f.session(wang, "phone-0") // signing a known device in again always works

	if err := f.svc.SignOut(ctx, wang.GetUserId(), "phone-7"); err != nil {
		t.Fatalf("SignOut: %v", err)
	}
	f.session(wang, "phone-32")
	devices, err := f.svc.Devices(wang.GetUserId())
	if err != nil || len(devices) != 32 {
		t.Fatalf("Devices: got %d %v, want 32", len(devices), err)
	}
	if _, ok, _ := f.svc.Device(wang.GetUserId(), "phone-7"); ok {
		t.Errorf("the signed-out phone-7 is still listed")
	}
	user := mutualaid.UserScope(wang.GetUserId())
	if _, ok := f.entities(user)[user]["device/"+wang.GetUserId()+"/phone-7"]; ok {
		t.Errorf("user scope still shows phone-7")
	}
}

// FuzzRefresh presents arbitrary refresh tokens: never a panic, always a
// clean Unauthenticated refusal, and the real token still works.
func FuzzRefresh(f *testing.F) {
	fx := newDirFixture(f)
	tok := fx.session(fx.resident("王芳"), "phone-1")
	for _, s := range []string{"", tok[:20], tok + "=", strings.ToLower(tok), "\x00", strings.Repeat("A", 43)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == tok {
			return
		}
		_, _, _, err := fx.svc.Refresh(context.Background(), s)
		if mutualaid.ErrorCode(err) != mutualaid.Unauthenticated {
			t.Fatalf("Refresh(%q): got %v, want unauthenticated", s, err)
		}
	})
	if _, _, _, err := fx.svc.Refresh(context.Background(), tok); err != nil {
		f.Errorf("the real token stopped working: %v", err)
	}
}
