package mutualaid_test

import (
	"context"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// cast is who acts in the role tests: 玉桥's admin and staff (赵主任), a
// resident and a volunteer of 玉桥, and 北苑's staff.
type cast struct {
	admin, zhao, wang, zhang, beiyuanStaff *linliv1.Member
}

func newCast(f *dirFixture) cast {
	return cast{
		admin:        f.join("yuqiao", linliv1.Role_ROLE_ADMIN, mutualaid.JoinForm{DisplayName: "管理员"}),
		zhao:         f.join("yuqiao", linliv1.Role_ROLE_STAFF, mutualaid.JoinForm{DisplayName: "赵主任"}),
		wang:         f.resident("王芳"),
		zhang:        f.join("yuqiao", linliv1.Role_ROLE_VOLUNTEER, mutualaid.JoinForm{DisplayName: "张伟", BuildingID: "bldg-3"}),
		beiyuanStaff: f.join("beiyuan", linliv1.Role_ROLE_STAFF, mutualaid.JoinForm{DisplayName: "北苑李主任"}),
	}
}

func TestSetRoleAuthority(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		actor     func(c cast) *linliv1.Member
		target    func(c cast) *linliv1.Member
		role      linliv1.Role
		buildings []string
		code      mutualaid.Code // "" means allowed
		reason    string
	}{
		{"ResidentCannot", who("wang"), who("wang"), linliv1.Role_ROLE_STAFF, nil, mutualaid.Forbidden, "not_staff_of_community"},
		{"VolunteerCannot", who("zhang"), who("wang"), linliv1.Role_ROLE_VOLUNTEER, []string{"bldg-3"}, mutualaid.Forbidden, "not_staff_of_community"},
		{"StaffOfOtherCommunityCannot", who("beiyuanStaff"), who("wang"), linliv1.Role_ROLE_VOLUNTEER, []string{"bldg-3"}, mutualaid.Forbidden, "not_staff_of_community"},
		{"StaffCannotMakeAdmin", who("zhao"), who("wang"), linliv1.Role_ROLE_ADMIN, nil, mutualaid.Forbidden, "role_not_allowed"},
		{"StaffCannotDemoteAdmin", who("zhao"), who("admin"), linliv1.Role_ROLE_RESIDENT, nil, mutualaid.Forbidden, "role_not_allowed"},
		{"StaffPromotesToVolunteer", who("zhao"), who("wang"), linliv1.Role_ROLE_VOLUNTEER, []string{"bldg-3", "bldg-5"}, "", ""},
		{"StaffMakesStaff", who("zhao"), who("wang"), linliv1.Role_ROLE_STAFF, nil, "", ""},
		{"StaffDemotesVolunteer", who("zhao"), who("zhang"), linliv1.Role_ROLE_RESIDENT, nil, "", ""},
		{"AdminMakesAdmin", who("admin"), who("zhao"), linliv1.Role_ROLE_ADMIN, nil, "", ""},
		{"AdminActsEverywhere", who("admin"), who("beiyuanStaff"), linliv1.Role_ROLE_RESIDENT, nil, "", ""},
		{"RoleUnspecified", who("zhao"), who("wang"), linliv1.Role_ROLE_UNSPECIFIED, nil, mutualaid.Invalid, "role_invalid"},
		{"RoleUndefined", who("admin"), who("wang"), 42, nil, mutualaid.Invalid, "role_invalid"},
		{"VolunteerNeedsBuildings", who("zhao"), who("wang"), linliv1.Role_ROLE_VOLUNTEER, nil, mutualaid.Invalid, "buildings_required"},
		{"VolunteerBuildingUnknown", who("zhao"), who("wang"), linliv1.Role_ROLE_VOLUNTEER, []string{"bldg-3", "bldg-9"}, mutualaid.Invalid, "building_unknown"},
		{"VolunteerOtherCommunitysBuilding", who("zhao"), who("wang"), linliv1.Role_ROLE_VOLUNTEER, []string{"bldg-1"}, mutualaid.Invalid, "building_unknown"},
		{"UnknownMember", who("zhao"), func(cast) *linliv1.Member {
			return &linliv1.Member{UserId: "u_0000000000000000", CommunityId: "yuqiao"}
		},
			linliv1.Role_ROLE_STAFF, nil, mutualaid.NotFound, "member_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newDirFixture(t)
			c := newCast(f)
			target := tt.target(c)
			before, _, _ := f.svc.Member(target.GetCommunityId(), target.GetUserId())
			got, err := f.svc.SetRole(context.Background(), actor(tt.actor(c)), target.GetCommunityId(), target.GetUserId(), tt.role, tt.buildings)
			after, _, _ := f.svc.Member(target.GetCommunityId(), target.GetUserId())
			if tt.code != "" {
				wantError(t, err, tt.code, tt.reason)
				if got != nil || !proto.Equal(before, after) {
					t.Errorf("refused, yet got %v and the member changed from %v to %v", got, before, after)
				}
				return
			}
			if err != nil {
				t.Fatalf("SetRole: %v", err)
			}
			if got.GetRole() != tt.role || !slices.Equal(got.GetVolunteerBuildingIds(), tt.buildings) || !proto.Equal(got, after) {
				t.Errorf("got %v, stored %v; want role %v buildings %v", got, after, tt.role, tt.buildings)
			}
		})
	}
}

// who picks a member of the cast by name.
func who(name string) func(c cast) *linliv1.Member {
	return func(c cast) *linliv1.Member {
		return map[string]*linliv1.Member{
			"admin": c.admin, "zhao": c.zhao, "wang": c.wang, "zhang": c.zhang, "beiyuanStaff": c.beiyuanStaff,
		}[name]
	}
}

// A resident promoted to volunteer gains the building's scope; demoted, loses it.
func TestSetRoleScopes(t *testing.T) {
	t.Parallel()
	f := newDirFixture(t)
	ctx := context.Background()
	c := newCast(f)
	board := mutualaid.BuildingScope("yuqiao", "bldg-3")
	user := mutualaid.UserScope(c.wang.GetUserId())
	if slices.Contains(mutualaid.MemberScopes(c.wang), board) {
		t.Fatalf("a resident reads %s", board)
	}

	m, err := f.svc.SetRole(ctx, actor(c.zhao), "yuqiao", c.wang.GetUserId(), linliv1.Role_ROLE_VOLUNTEER, []string{"bldg-3", "bldg-3"})
	if err != nil {
		t.Fatalf("SetRole: %v", err)
	}
	wantScopes := []string{community, user, board}
	if got := mutualaid.MemberScopes(m); !slices.Equal(got, wantScopes) {
		t.Errorf("MemberScopes: got %v, want %v", got, wantScopes)
	}
	v := f.entities(user, staff)
	for _, sc := range []string{user, staff} {
		if got := v[sc]["member/yuqiao/"+c.wang.GetUserId()].GetMember(); !proto.Equal(got, m) {
			t.Errorf("%s: got %v, want %v", sc, got, m)
		}
	}

	m, err = f.svc.SetRole(ctx, actor(c.zhao), "yuqiao", c.wang.GetUserId(), linliv1.Role_ROLE_STAFF, []string{"bldg-3"})
	if err != nil {
		t.Fatalf("SetRole staff: %v", err)
	}
	if len(m.GetVolunteerBuildingIds()) != 0 {
		t.Errorf("staff keeps volunteer buildings %v", m.GetVolunteerBuildingIds())
	}
	if got, want := mutualaid.MemberScopes(m), []string{community, user, staff}; !slices.Equal(got, want) {
		t.Errorf("MemberScopes: got %v, want %v", got, want)
	}
}

func TestRemoveMember(t *testing.T) {
	t.Parallel()
	f := newDirFixture(t)
	ctx := context.Background()
	c := newCast(f)
	uid := c.wang.GetUserId()
	user, entity := mutualaid.UserScope(uid), "member/yuqiao/"+uid
	phone, tablet := f.session(c.wang, "phone-1"), f.session(c.wang, "tablet-1")
	before := f.pull(linlisync.Cursor{}, user).Cursor

	t.Run("Refused", func(t *testing.T) {
		wantError(t, f.svc.RemoveMember(ctx, actor(c.zhang), "yuqiao", uid), mutualaid.Forbidden, "not_staff_of_community")
		wantError(t, f.svc.RemoveMember(ctx, actor(c.beiyuanStaff), "yuqiao", uid), mutualaid.Forbidden, "not_staff_of_community")
		wantError(t, f.svc.RemoveMember(ctx, actor(c.zhao), "yuqiao", c.admin.GetUserId()), mutualaid.Forbidden, "role_not_allowed")
		wantError(t, f.svc.RemoveMember(ctx, actor(c.zhao), "yuqiao", "u_0000000000000000"), mutualaid.NotFound, "member_not_found")
		wantError(t, f.svc.RemoveMember(ctx, actor(c.zhao), "beiyuan", uid), mutualaid.Forbidden, "not_staff_of_community")
	})
	if err := f.svc.RemoveMember(ctx, actor(c.zhao), "yuqiao", uid); err != nil {
		t.Fatalf("RemoveMember: %v", err)
	}

	t.Run("KeptAsRemoved", func(t *testing.T) {
		m, ok, err := f.svc.Member("yuqiao", uid)
		if err != nil || !ok || !m.GetRemoved() || m.GetDisplayName() != "王芳" {
			t.Fatalf("Member: got %v %t %v, want 王芳 removed", m, ok, err)
		}
		if s := mutualaid.MemberScopes(m); s != nil {
			t.Errorf("MemberScopes: got %v, want nil", s)
		}
		if got := f.entities(staff)[staff][entity].GetMember(); !got.GetRemoved() {
			t.Errorf("staff scope: got %v, want removed", got)
		}
	})
	t.Run("UserScopeTombstone", func(t *testing.T) {
		var tomb bool
		for _, ch := range f.pull(before, user).Changes {
			if ch.EntityID == entity {
				tomb = ch.Deleted
			}
		}
		if !tomb {
			t.Errorf("pull of %s after removal: no tombstone for %s", user, entity)
		}
		if _, ok := f.entities(user)[user][entity]; ok {
			t.Errorf("%s still shows %s from zero", user, entity)
		}
	})
	t.Run("SessionsEnd", func(t *testing.T) {
		f.refreshFails(t, phone, "member_removed")
		f.refreshFails(t, tablet, "member_removed")
		devices, err := f.svc.Devices(uid)
		if err != nil || len(devices) != 2 || !devices[0].GetRevoked() || !devices[1].GetRevoked() {
			t.Errorf("Devices: got %v %v, want both revoked", devices, err)
		}
		_, _, err = f.svc.StartSession(ctx, "yuqiao", uid, "phone-2")
		wantError(t, err, mutualaid.Unauthenticated, "member_removed")
	})
	t.Run("NoLongerChangeable", func(t *testing.T) {
		_, err := f.svc.SetRole(ctx, actor(c.zhao), "yuqiao", uid, linliv1.Role_ROLE_STAFF, nil)
		wantError(t, err, mutualaid.NotFound, "member_not_found")
		if err := f.svc.RemoveMember(ctx, actor(c.zhao), "yuqiao", uid); err != nil {
			t.Errorf("removing again: %v", err)
		}
	})
}
