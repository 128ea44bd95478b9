package mutualaid_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// What every member of 玉桥 reads holds the community and its buildings,
// and nothing of anyone's membership, unit, phone, codes or tokens; no
// scope at all holds a secret.
func TestDirectoryPrivacy(t *testing.T) {
	t.Parallel()
	f := newDirFixture(t)
	ctx := context.Background()
	c := newCast(f)
	code := f.code(mutualaid.JoinCodeSpec{CommunityID: "yuqiao", BuildingID: "bldg-3", MaxUses: 10})
	lucy, err := f.svc.Join(ctx, mutualaid.JoinForm{Code: code, DisplayName: "Lucy Chen", Unit: "1103", Phone: "139 1000 2000"})
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	r1 := f.session(lucy, "phone-1")
	_, r2 := f.refresh(r1)
	f.session(c.wang, "phone-1")
	if _, err := f.svc.SetRole(ctx, actor(c.zhao), "yuqiao", lucy.GetUserId(), linliv1.Role_ROLE_VOLUNTEER, []string{"bldg-3"}); err != nil {
		t.Fatalf("SetRole: %v", err)
	}
	if err := f.svc.RemoveMember(ctx, actor(c.zhao), "yuqiao", c.wang.GetUserId()); err != nil {
		t.Fatalf("RemoveMember: %v", err)
	}

	t.Run("CommunityScope", func(t *testing.T) {
		for _, ch := range f.pull(linlisync.Cursor{}, community).Changes {
			if !strings.HasPrefix(ch.EntityID, "community/") && !strings.HasPrefix(ch.EntityID, "building/") {
				t.Errorf("community scope holds %s", ch.EntityID)
			}
			for _, private := range []string{"1103", "139 1000 2000", "1502", "138-0013-8000", "Lucy Chen", "王芳"} {
				if bytes.Contains(ch.Value, []byte(private)) {
					t.Errorf("community scope: %s holds %q", ch.EntityID, private)
				}
			}
		}
	})
	t.Run("NoScopeHoldsSecrets", func(t *testing.T) {
		scopes := []string{community, staff, mutualaid.UserScope(lucy.GetUserId()), mutualaid.UserScope(c.wang.GetUserId()),
			mutualaid.BuildingScope("yuqiao", "bldg-3"), mutualaid.CommunityScope("beiyuan"), mutualaid.StaffScope("beiyuan")}
		var secrets []string
		for _, s := range []string{code, r1, r2} {
			h := sha256.Sum256([]byte(s))
			secrets = append(secrets, s, hex.EncodeToString(h[:]))
		}
		for _, ch := range f.pull(linlisync.Cursor{}, scopes...).Changes {
			if strings.HasPrefix(ch.EntityID, "refresh/") || strings.HasPrefix(ch.EntityID, "devices/") {
				t.Errorf("%s holds private record %s", ch.Scope, ch.EntityID)
			}
			if strings.HasPrefix(ch.EntityID, "joincode/") && !strings.HasPrefix(ch.Scope, "staff/") {
				t.Errorf("%s holds join code %s", ch.Scope, ch.EntityID)
			}
			for _, s := range secrets {
				if bytes.Contains(ch.Value, []byte(s)) {
					t.Errorf("%s: %s holds a secret or its hash", ch.Scope, ch.EntityID)
				}
			}
		}
	})
	t.Run("OtherCommunitySeesNothing", func(t *testing.T) {
		for _, ch := range f.pull(linlisync.Cursor{}, mutualaid.CommunityScope("beiyuan"), mutualaid.StaffScope("beiyuan")).Changes {
			if strings.Contains(ch.EntityID, "yuqiao") || bytes.Contains(ch.Value, []byte("yuqiao")) {
				t.Errorf("北苑's %s holds %s of 玉桥", ch.Scope, ch.EntityID)
			}
		}
	})
}
