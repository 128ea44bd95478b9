package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/linli/linli/internal/bearer"
	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server"
	linlisync "github.com/linli/linli/sync"
)

// TestEveryProcedureNeedsAuth enumerates every procedure of every service in
// the generated descriptors: each must refuse a call without a token,
// except the explicit allow-list. A new RPC cannot be forgotten.
func TestEveryProcedureNeedsAuth(t *testing.T) {
	t.Parallel()
	h := linlitest.NewServer(t, server.Config{})
	public := map[string]bool{
		linliv1connect.AuthServiceJoinProcedure:    true,
		linliv1connect.AuthServiceRefreshProcedure: true,
	}
	files := []protoreflect.FileDescriptor{
		linliv1.File_linli_v1_sync_proto, linliv1.File_linli_v1_identity_proto, linliv1.File_linli_v1_post_proto,
		linliv1.File_linli_v1_staff_proto, linliv1.File_linli_v1_escalation_proto, linliv1.File_linli_v1_handoff_proto,
	}
	n := 0
	for _, f := range files {
		for i := range f.Services().Len() {
			svc := f.Services().Get(i)
			for j := range svc.Methods().Len() {
				m := svc.Methods().Get(j)
				path := "/" + string(svc.FullName()) + "/" + string(m.Name())
				n++
				refused := refusedWithoutToken(t, h, path, m.IsStreamingServer())
				if public[path] && refused {
					t.Errorf("%s is public but refused without a token", path)
				}
				if !public[path] && !refused {
					t.Errorf("%s answered without a token", path)
				}
			}
		}
	}
	if n < 20 {
		t.Fatalf("enumerated only %d procedures", n)
	}
}

// refusedWithoutToken calls path with no Authorization header and reports
// whether the authentication layer refused it (a unary 401, or a stream's
// end message, carrying reason token_missing).
func refusedWithoutToken(t *testing.T, h *linlitest.Server, path string, stream bool) bool {
	t.Helper()
	ctype, body := "application/json", `{"protocolVersion": 1}`
	if stream {
		ctype, body = "application/connect+json", "\x00\x00\x00\x00\x17"+`{"protocolVersion": 1}`
	}
	res, err := h.HTTP.Post(h.URL+path, ctype, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	unauthenticated := res.StatusCode == http.StatusUnauthorized || (stream && strings.Contains(string(b), `"code":"unauthenticated"`))
	return unauthenticated && strings.Contains(string(b), "token_missing")
}

// TestJoinRefreshSignOut: the whole sign-in life of a device.
func TestJoinRefreshSignOut(t *testing.T) {
	t.Parallel()
	h := linlitest.NewServer(t, server.Config{RateLimits: server.RateLimits{Join: server.Limit{Rate: -1}, Refresh: server.Limit{Rate: -1}}})
	staff := h.Token(t, "staff-li", "yuqiao", mutualaid.RoleStaff)
	code := joinCode(t, h, staff, "yuqiao", linliv1.Role_ROLE_RESIDENT, 2)
	auth := linliv1connect.NewAuthServiceClient(h.HTTP, h.URL)
	ctx := t.Context()

	joined, err := auth.Join(ctx, &linliv1.JoinRequest{ProtocolVersion: 1, Code: code, ClientId: "phone", DisplayName: "王芳", BuildingId: "b3", Unit: "1502", Phone: "13800001234"})
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	user := joined.GetMember().GetUserId()
	if joined.GetMember().GetRole() != linliv1.Role_ROLE_RESIDENT || user == "" {
		t.Fatalf("member = %v", joined.GetMember())
	}
	tok := joined.GetTokens()
	if exp := tok.GetAccessExpiresAt().AsTime(); time.Until(exp) > 16*time.Minute || time.Until(exp) < 14*time.Minute {
		t.Fatalf("access token expires at %v, want in 15 minutes", exp)
	}
	c := h.SyncClient(tok.GetAccessToken())
	if _, err := push(ctx, c, "phone", offer(1, "p1")); err != nil {
		t.Fatalf("push with joined token: %v", err)
	}
	if _, err := push(ctx, c, "tablet", offer(1, "p2")); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("push as another device: %v, want PermissionDenied client_mismatch", err)
	}

	t.Run("RefreshRotates", func(t *testing.T) {
		r1, err := auth.Refresh(ctx, &linliv1.RefreshRequest{ProtocolVersion: 1, RefreshToken: tok.GetRefreshToken()})
		if err != nil {
			t.Fatal(err)
		}
		if r1.GetTokens().GetRefreshToken() == tok.GetRefreshToken() {
			t.Fatal("refresh token not rotated")
		}
		// Reusing the spent token: the whole family dies, the new one too.
		_, err = auth.Refresh(ctx, &linliv1.RefreshRequest{ProtocolVersion: 1, RefreshToken: tok.GetRefreshToken()})
		wantError(t, err, connect.CodeUnauthenticated, "refresh_token_reused")
		_, err = auth.Refresh(ctx, &linliv1.RefreshRequest{ProtocolVersion: 1, RefreshToken: r1.GetTokens().GetRefreshToken()})
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("refresh after reuse: %v, want Unauthenticated", err)
		}
		// The family's access tokens stop at once too.
		_, err = h.SyncClient(r1.GetTokens().GetAccessToken()).Pull(ctx, &linliv1.PullRequest{ProtocolVersion: 1})
		wantError(t, err, connect.CodeUnauthenticated, "session_revoked")
	})

	t.Run("SignOutAndDevices", func(t *testing.T) {
		again, err := auth.Join(ctx, &linliv1.JoinRequest{ProtocolVersion: 1, Code: code, ClientId: "tablet", DisplayName: "李伟", BuildingId: "b3"})
		if err != nil {
			t.Fatal(err)
		}
		me := linliv1connect.NewAuthServiceClient(h.HTTP, h.URL, connect.WithInterceptors(bearer.Token(again.GetTokens().GetAccessToken())))
		list, err := me.ListDevices(ctx, &linliv1.ListDevicesRequest{ProtocolVersion: 1})
		if err != nil || len(list.GetDevices()) != 1 || list.GetDevices()[0].GetClientId() != "tablet" {
			t.Fatalf("devices = %v, %v", list, err)
		}
		if _, err := me.SignOut(ctx, &linliv1.SignOutRequest{ProtocolVersion: 1}); err != nil {
			t.Fatal(err)
		}
		_, err = me.ListDevices(ctx, &linliv1.ListDevicesRequest{ProtocolVersion: 1})
		wantError(t, err, connect.CodeUnauthenticated, "session_revoked")
		// The code allowed two uses; a third join fails.
		_, err = auth.Join(ctx, &linliv1.JoinRequest{ProtocolVersion: 1, Code: code, ClientId: "x", DisplayName: "张三", BuildingId: "b3"})
		wantError(t, err, connect.CodeInvalidArgument, "join_code_invalid")
	})

	t.Run("SecondDeviceSameMember", func(t *testing.T) {
		first, err := auth.Join(ctx, &linliv1.JoinRequest{ProtocolVersion: 1, Code: joinCode(t, h, staff, "yuqiao", linliv1.Role_ROLE_RESIDENT, 1),
			ClientId: "phone", DisplayName: "陈静", BuildingId: "b3"})
		if err != nil {
			t.Fatal(err)
		}
		phone := linliv1connect.NewAuthServiceClient(h.HTTP, h.URL, connect.WithInterceptors(bearer.Token(first.GetTokens().GetAccessToken())))
		dc, err := phone.CreateDeviceCode(ctx, &linliv1.CreateDeviceCodeRequest{ProtocolVersion: 1})
		if err != nil || dc.GetCode() == "" {
			t.Fatalf("CreateDeviceCode: %v, %v", dc, err)
		}
		laptop, err := auth.Join(ctx, &linliv1.JoinRequest{ProtocolVersion: 1, Code: dc.GetCode(), ClientId: "laptop"})
		if err != nil || laptop.GetMember().GetUserId() != first.GetMember().GetUserId() {
			t.Fatalf("join with the device code: %v, %v; want the same member", laptop.GetMember(), err)
		}
		list, err := phone.ListDevices(ctx, &linliv1.ListDevicesRequest{ProtocolVersion: 1})
		if err != nil || len(list.GetDevices()) != 2 {
			t.Fatalf("devices after linking = %v, %v; want phone and laptop", list, err)
		}
		if _, err := h.SyncClient(laptop.GetTokens().GetAccessToken()).Pull(ctx, &linliv1.PullRequest{ProtocolVersion: 1}); err != nil {
			t.Fatalf("the linked device cannot pull: %v", err)
		}
	})
}

// joinCode asks CommunityService for a code as tok.
func joinCode(t *testing.T, h *linlitest.Server, tok, community string, role linliv1.Role, uses uint32) string {
	t.Helper()
	cs := linliv1connect.NewCommunityServiceClient(h.HTTP, h.URL, connect.WithInterceptors(bearer.Token(tok)))
	_, err := cs.CreateBuilding(t.Context(), &linliv1.CreateBuildingRequest{ProtocolVersion: 1, CommunityId: community,
		Building: &linliv1.Building{Id: "b3", Name: "3号楼", DropPoints: []string{"15楼电梯口窗台"}}})
	if err != nil {
		t.Fatalf("create building: %v", err)
	}
	res, err := cs.CreateJoinCode(t.Context(), &linliv1.CreateJoinCodeRequest{ProtocolVersion: 1, CommunityId: community, Role: role, MaxUses: uses})
	if err != nil {
		t.Fatalf("create join code: %v", err)
	}
	return res.GetCode()
}

// TestRemovedMemberRefusedAtOnce: a valid token of a removed member is
// refused on the very next call, streams included.
func TestRemovedMemberRefusedAtOnce(t *testing.T) {
	t.Parallel()
	h := linlitest.NewServer(t, server.Config{Heartbeat: 50 * time.Millisecond})
	staff := linliv1connect.NewCommunityServiceClient(h.HTTP, h.URL, connect.WithInterceptors(bearer.Token(h.Token(t, "staff-li", "yuqiao", mutualaid.RoleStaff))))
	tok := h.Token(t, "u-wang", "yuqiao", mutualaid.RoleResident)
	c := h.SyncClient(tok)
	stream, err := c.Subscribe(t.Context(), &linliv1.SubscribeRequest{ProtocolVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if !stream.Receive() {
		t.Fatalf("no first poke: %v", stream.Err())
	}
	_, cur := linlitest.PullAll(t, c, "")
	if _, err := staff.RemoveMember(t.Context(), &linliv1.RemoveMemberRequest{ProtocolVersion: 1, CommunityId: "yuqiao", UserId: "u-wang"}); err != nil {
		t.Fatal(err)
	}
	// The next Pull with a cursor drops every scope it held, and nothing more.
	res, err := c.Pull(t.Context(), &linliv1.PullRequest{ProtocolVersion: 1, Cursor: cur})
	if err != nil || !slices.Equal(res.GetDroppedScopes(), []string{"community/yuqiao", "user/u-wang"}) || len(res.GetChanges()) != 0 {
		t.Fatalf("removed member's pull = %v, %v; want both scopes dropped", res, err)
	}
	if res.GetCursor() != "" {
		t.Fatalf("removed member's pull returned cursor %q, want an empty one", res.GetCursor())
	}
	// The answer lost, the app pulls again with the same cursor: the same
	// answer, so it still learns to drop what it holds.
	again, err := c.Pull(t.Context(), &linliv1.PullRequest{ProtocolVersion: 1, Cursor: cur})
	if err != nil || !slices.Equal(again.GetDroppedScopes(), res.GetDroppedScopes()) {
		t.Fatalf("retried pull with the old cursor = %v, %v; want the same drops", again, err)
	}
	// With the empty cursor it was given, and on every other call: member_removed.
	_, err = c.Pull(t.Context(), &linliv1.PullRequest{ProtocolVersion: 1, Cursor: res.GetCursor()})
	wantError(t, err, connect.CodeUnauthenticated, "member_removed")
	_, err = push(t.Context(), c, "phone", offer(1, "p"))
	wantError(t, err, connect.CodeUnauthenticated, "member_removed")
	for stream.Receive() {
	}
	wantError(t, stream.Err(), connect.CodeUnauthenticated, "member_removed")
}

// TestCrossCommunityStaff: staff of one community cannot read, change or act
// in another through any RPC.
func TestCrossCommunityStaff(t *testing.T) {
	t.Parallel()
	h := linlitest.NewServer(t, server.Config{})
	h.Member(t, "u-b", "beiyuan", mutualaid.RoleResident)
	staffA := h.Token(t, "staff-a", "yuqiao", mutualaid.RoleStaff)
	cs := linliv1connect.NewCommunityServiceClient(h.HTTP, h.URL, connect.WithInterceptors(bearer.Token(staffA)))
	ctx := t.Context()
	checks := map[string]error{}
	_, checks["CreateBuilding"] = cs.CreateBuilding(ctx, &linliv1.CreateBuildingRequest{ProtocolVersion: 1, CommunityId: "beiyuan", Building: &linliv1.Building{Id: "b1", Name: "1号楼"}})
	_, checks["CreateJoinCode"] = cs.CreateJoinCode(ctx, &linliv1.CreateJoinCodeRequest{ProtocolVersion: 1, CommunityId: "beiyuan"})
	_, checks["SetRole"] = cs.SetRole(ctx, &linliv1.SetRoleRequest{ProtocolVersion: 1, CommunityId: "beiyuan", UserId: "u-b", Role: linliv1.Role_ROLE_STAFF})
	_, checks["RemoveMember"] = cs.RemoveMember(ctx, &linliv1.RemoveMemberRequest{ProtocolVersion: 1, CommunityId: "beiyuan", UserId: "u-b"})
	_, checks["CreateCommunity"] = cs.CreateCommunity(ctx, &linliv1.CreateCommunityRequest{ProtocolVersion: 1, CommunityId: "x", Name: "x", District: "x", StreetOffice: "x"})
	ss := linliv1connect.NewStaffServiceClient(h.HTTP, h.URL, connect.WithInterceptors(bearer.Token(staffA)))
	_, checks["ListQueue"] = ss.ListQueue(ctx, &linliv1.ListQueueRequest{ProtocolVersion: 1, CommunityId: "beiyuan"})
	_, checks["ForwardPost"] = ss.ForwardPost(ctx, &linliv1.ForwardPostRequest{ProtocolVersion: 1, CommunityId: "beiyuan", PostId: "p"})
	_, checks["DismissPost"] = ss.DismissPost(ctx, &linliv1.DismissPostRequest{ProtocolVersion: 1, CommunityId: "beiyuan", PostId: "p", Reason: "r"})
	_, checks["RetryCase"] = ss.RetryCase(ctx, &linliv1.RetryCaseRequest{ProtocolVersion: 1, CommunityId: "beiyuan", PostId: "p"})
	_, checks["SetEscalationPolicy"] = ss.SetEscalationPolicy(ctx, &linliv1.SetEscalationPolicyRequest{ProtocolVersion: 1, CommunityId: "beiyuan"})
	_, checks["GetReport"] = ss.GetReport(ctx, &linliv1.GetReportRequest{ProtocolVersion: 1, CommunityId: "beiyuan"})
	for name, err := range checks {
		if connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Errorf("%s in another community: %v, want PermissionDenied", name, err)
		}
	}
	if m, _, _ := h.Service().Member("beiyuan", "u-b"); m.GetRole() != linliv1.Role_ROLE_RESIDENT || m.GetRemoved() {
		t.Fatalf("beiyuan member changed: %v", m)
	}
	changes, _ := linlitest.PullAll(t, h.SyncClient(staffA), "")
	for _, ch := range changes {
		if strings.Contains(ch.GetScope(), "beiyuan") || ch.GetEntity().GetMember().GetCommunityId() == "beiyuan" {
			t.Fatalf("staff of yuqiao received %s", describe([]*linliv1.Change{ch}))
		}
	}
}

// TestRoleChangeMovesScopes: promoted to volunteer, a resident gains the
// building's scope with its whole state on the next Pull; demoted, loses it.
func TestRoleChangeMovesScopes(t *testing.T) {
	t.Parallel()
	h := linlitest.NewServer(t, server.Config{})
	staff := linliv1connect.NewCommunityServiceClient(h.HTTP, h.URL, connect.WithInterceptors(bearer.Token(h.Token(t, "staff-li", "yuqiao", mutualaid.RoleStaff))))
	ctx := t.Context()
	if _, err := staff.CreateBuilding(ctx, &linliv1.CreateBuildingRequest{ProtocolVersion: 1, CommunityId: "yuqiao",
		Building: &linliv1.Building{Id: "b3", Name: "3号楼", DropPoints: []string{"15楼电梯口窗台"}}}); err != nil {
		t.Fatal(err)
	}
	c := h.SyncClient(h.Token(t, "u-zhao", "yuqiao", mutualaid.RoleResident))
	_, cur := linlitest.PullAll(t, c, "")
	buildingScope := "building/yuqiao/b3"

	if _, err := staff.SetRole(ctx, &linliv1.SetRoleRequest{ProtocolVersion: 1, CommunityId: "yuqiao", UserId: "u-zhao",
		Role: linliv1.Role_ROLE_VOLUNTEER, VolunteerBuildingIds: []string{"b3"}}); err != nil {
		t.Fatal(err)
	}
	res, err := c.Pull(ctx, &linliv1.PullRequest{ProtocolVersion: 1, Cursor: cur})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(res.GetChanges(), func(ch *linliv1.Change) bool {
		return ch.GetEntity().GetMember().GetRole() == linliv1.Role_ROLE_VOLUNTEER
	}) {
		t.Fatalf("promotion not synced to the member: %s", describe(res.GetChanges()))
	}
	if !cursorHas(t, res.GetCursor(), buildingScope) {
		t.Fatalf("cursor after promotion lacks %s", buildingScope)
	}

	if _, err := staff.SetRole(ctx, &linliv1.SetRoleRequest{ProtocolVersion: 1, CommunityId: "yuqiao", UserId: "u-zhao", Role: linliv1.Role_ROLE_RESIDENT}); err != nil {
		t.Fatal(err)
	}
	res, err = c.Pull(ctx, &linliv1.PullRequest{ProtocolVersion: 1, Cursor: res.GetCursor()})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.GetDroppedScopes(), []string{buildingScope}) {
		t.Fatalf("dropped = %v, want [%s]", res.GetDroppedScopes(), buildingScope)
	}
}

// cursorHas decodes a cursor (opaque to clients, not to us) for a scope.
func cursorHas(t *testing.T, cursor, scope string) bool {
	t.Helper()
	c, err := linlisync.DecodeCursor(cursor)
	if err != nil {
		t.Fatal(err)
	}
	_, ok := c.Seqs[scope]
	return ok
}

// TestKeyRotation: after rotation old tokens keep working until they
// expire, new tokens use the new key, and a deleted key's tokens fail.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	h := linlitest.NewServer(t, server.Config{KeyReload: 20 * time.Millisecond})
	old := h.Token(t, "u1", "yuqiao", mutualaid.RoleResident)
	oldKeys, err := server.LoadOrCreateKeys(h.Dir)
	if err != nil {
		t.Fatal(err)
	}
	newKeys, err := server.AddKey(h.Dir)
	if err != nil {
		t.Fatal(err)
	}
	h.Tokens().SetKeys(newKeys) // what the reload loop does within KeyReload
	fresh := h.Token(t, "u1", "yuqiao", mutualaid.RoleResident)
	if kid := headerKid(t, fresh); kid != newKeys.CurrentID() || kid == oldKeys.CurrentID() {
		t.Fatalf("new token kid %q, want the new key %q", kid, newKeys.CurrentID())
	}
	for name, tok := range map[string]string{"old": old, "new": fresh} {
		if _, err := h.SyncClient(tok).Pull(t.Context(), &linliv1.PullRequest{ProtocolVersion: 1}); err != nil {
			t.Fatalf("%s token after rotation: %v", name, err)
		}
	}
	if err := os.Remove(filepath.Join(h.Dir, "keys", oldKeys.CurrentID()+".pem")); err != nil {
		t.Fatal(err)
	}
	linlitest.WaitFor(t, "the deleted key's token to be refused", func() bool {
		_, err := h.SyncClient(old).Pull(t.Context(), &linliv1.PullRequest{ProtocolVersion: 1})
		return connect.CodeOf(err) == connect.CodeUnauthenticated
	})
	if _, err := h.SyncClient(fresh).Pull(t.Context(), &linliv1.PullRequest{ProtocolVersion: 1}); err != nil {
		t.Fatalf("new key's token after deleting the old key: %v", err)
	}
}

// headerKid reads the kid from a JWT's header.
func headerKid(t *testing.T, tok string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

// TestSubscribeFollowsRoleChange: a stream open across a promotion starts
// poking the new building scope (at the next heartbeat), with no reconnect.
func TestSubscribeFollowsRoleChange(t *testing.T) {
	t.Parallel()
	h := linlitest.NewServer(t, server.Config{Heartbeat: 50 * time.Millisecond})
	staff := linliv1connect.NewCommunityServiceClient(h.HTTP, h.URL, connect.WithInterceptors(bearer.Token(h.Token(t, "staff-li", "yuqiao", mutualaid.RoleStaff))))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := staff.CreateBuilding(ctx, &linliv1.CreateBuildingRequest{ProtocolVersion: 1, CommunityId: "yuqiao",
		Building: &linliv1.Building{Id: "b3", Name: "3号楼", DropPoints: []string{"15楼电梯口窗台"}}}); err != nil {
		t.Fatal(err)
	}
	stream, err := h.SyncClient(h.Token(t, "u-zhao", "yuqiao", mutualaid.RoleResident)).Subscribe(ctx, &linliv1.SubscribeRequest{ProtocolVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if _, err := staff.SetRole(ctx, &linliv1.SetRoleRequest{ProtocolVersion: 1, CommunityId: "yuqiao", UserId: "u-zhao",
		Role: linliv1.Role_ROLE_VOLUNTEER, VolunteerBuildingIds: []string{"b3"}}); err != nil {
		t.Fatal(err)
	}
	for stream.Receive() {
		for _, head := range stream.Msg().GetPoke().GetHeads() {
			if head.GetScope() == "building/yuqiao/b3" {
				return
			}
		}
	}
	t.Fatalf("stream never poked the new building scope: %v", stream.Err())
}
