package mutualaid_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

const codeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

func TestCreateJoinCode(t *testing.T) {
	t.Parallel()
	f := newDirFixture(t)
	ctx := context.Background()
	code, info, err := f.svc.CreateJoinCode(ctx, mutualaid.Operator, mutualaid.JoinCodeSpec{
		CommunityID: "yuqiao", BuildingID: "bldg-3", Role: linliv1.Role_ROLE_VOLUNTEER,
		ValidFor: 48 * time.Hour, MaxUses: 5, CreatedBy: "u_zhao",
	})
	if err != nil {
		t.Fatalf("CreateJoinCode: %v", err)
	}

	t.Run("CodeShape", func(t *testing.T) {
		if len(code) != 20 || strings.Trim(code, codeAlphabet) != "" {
			t.Errorf("got code %q, want 20 of %s", code, codeAlphabet)
		}
		other := f.code(mutualaid.JoinCodeSpec{CommunityID: "yuqiao"})
		if other == code {
			t.Errorf("two codes are equal: %s", code)
		}
	})
	t.Run("Info", func(t *testing.T) {
		want := &linliv1.JoinCodeInfo{
			Id: info.GetId(), CommunityId: "yuqiao", BuildingId: "bldg-3", Role: linliv1.Role_ROLE_VOLUNTEER,
			ExpiresAt: timestamppb.New(night.Add(48 * time.Hour)), MaxUses: 5,
		}
		if !proto.Equal(info, want) || !strings.HasPrefix(info.GetId(), "jc_") {
			t.Errorf("got %v, want %v with an id jc_…", info, want)
		}
	})
	t.Run("PublishedToStaffOnly", func(t *testing.T) {
		v := f.entities(community, staff)
		var found []*linliv1.JoinCodeInfo
		for id, e := range v[staff] {
			if e.GetJoinCode() != nil && strings.HasPrefix(id, "joincode/") {
				found = append(found, e.GetJoinCode())
			}
		}
		if !slices.ContainsFunc(found, func(i *linliv1.JoinCodeInfo) bool { return proto.Equal(i, info) }) {
			t.Errorf("staff scope: %v does not hold %v", found, info)
		}
		for id := range v[community] {
			if strings.HasPrefix(id, "joincode/") {
				t.Errorf("community scope holds %s", id)
			}
		}
	})
	t.Run("Defaults", func(t *testing.T) {
		_, info, err := f.svc.CreateJoinCode(ctx, mutualaid.Operator, mutualaid.JoinCodeSpec{CommunityID: "yuqiao"})
		if err != nil {
			t.Fatalf("CreateJoinCode: %v", err)
		}
		if info.GetRole() != linliv1.Role_ROLE_RESIDENT || info.GetMaxUses() != 1 ||
			!info.GetExpiresAt().AsTime().Equal(night.Add(7*24*time.Hour)) || info.GetBuildingId() != "" {
			t.Errorf("got %v, want resident, 1 use, 7 days, no building", info)
		}
	})
}

func TestCreateJoinCodeRefused(t *testing.T) {
	t.Parallel()
	f := newDirFixture(t)
	spec := func(mod func(s *mutualaid.JoinCodeSpec)) mutualaid.JoinCodeSpec {
		s := mutualaid.JoinCodeSpec{CommunityID: "yuqiao", BuildingID: "bldg-3", ValidFor: time.Hour, MaxUses: 20}
		mod(&s)
		return s
	}
	tests := []struct {
		name   string
		spec   mutualaid.JoinCodeSpec
		code   mutualaid.Code
		reason string
	}{
		{"CommunityEmpty", spec(func(s *mutualaid.JoinCodeSpec) { s.CommunityID = "" }), mutualaid.Invalid, "community_id_required"},
		{"CommunityUnknown", spec(func(s *mutualaid.JoinCodeSpec) { s.CommunityID = "majuqiao" }), mutualaid.NotFound, "community_not_found"},
		{"BuildingMalformed", spec(func(s *mutualaid.JoinCodeSpec) { s.BuildingID = "3号楼" }), mutualaid.Invalid, "building_id_invalid"},
		{"BuildingUnknown", spec(func(s *mutualaid.JoinCodeSpec) { s.BuildingID = "bldg-9" }), mutualaid.Invalid, "building_unknown"},
		{"BuildingOfOtherCommunity", spec(func(s *mutualaid.JoinCodeSpec) { s.BuildingID = "bldg-1" }), mutualaid.Invalid, "building_unknown"},
		{"RoleUndefined", spec(func(s *mutualaid.JoinCodeSpec) { s.Role = 99 }), mutualaid.Invalid, "role_invalid"},
		{"ValidForTooShort", spec(func(s *mutualaid.JoinCodeSpec) { s.ValidFor = 30 * time.Second }), mutualaid.Invalid, "valid_for_out_of_range"},
		{"ValidForNegative", spec(func(s *mutualaid.JoinCodeSpec) { s.ValidFor = -time.Hour }), mutualaid.Invalid, "valid_for_out_of_range"},
		{"ValidForTooLong", spec(func(s *mutualaid.JoinCodeSpec) { s.ValidFor = 91 * 24 * time.Hour }), mutualaid.Invalid, "valid_for_out_of_range"},
		{"TooManyUses", spec(func(s *mutualaid.JoinCodeSpec) { s.MaxUses = 10_001 }), mutualaid.Invalid, "max_uses_out_of_range"},
		{"CreatorMalformed", spec(func(s *mutualaid.JoinCodeSpec) { s.CreatedBy = "赵主任" }), mutualaid.Invalid, "created_by_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, info, err := f.svc.CreateJoinCode(context.Background(), mutualaid.Operator, tt.spec)
			wantError(t, err, tt.code, tt.reason)
			if code != "" || info != nil {
				t.Errorf("got code %q info %v with an error", code, info)
			}
		})
	}
}

func TestJoin(t *testing.T) {
	t.Parallel()
	f := newDirFixture(t)
	ctx := context.Background()

	t.Run("Resident", func(t *testing.T) {
		form := wangForm
		form.Code = f.code(mutualaid.JoinCodeSpec{CommunityID: "yuqiao", MaxUses: 50})
		m, err := f.svc.Join(ctx, form)
		if err != nil {
			t.Fatalf("Join: %v", err)
		}
		want := &linliv1.Member{
			UserId: m.GetUserId(), CommunityId: "yuqiao", Role: linliv1.Role_ROLE_RESIDENT, DisplayName: "王芳",
			BuildingId: "bldg-3", Unit: "1502", Phone: "+86 138-0013-8000", JoinedAt: timestamppb.New(night),
		}
		if !proto.Equal(m, want) {
			t.Errorf("got %v, want %v", m, want)
		}
		if u := m.GetUserId(); len(u) != 18 || !strings.HasPrefix(u, "u_") || strings.Trim(u[2:], "0123456789abcdef") != "" {
			t.Errorf("got user id %q, want u_ and 16 hex digits", u)
		}
		stored, ok, err := f.svc.Member("yuqiao", m.GetUserId())
		if err != nil || !ok || !proto.Equal(stored, want) {
			t.Errorf("Member: got %v %t %v, want %v", stored, ok, err, want)
		}
		if got := mutualaid.MemberScopes(m); !slices.Equal(got, []string{community, "user/" + m.GetUserId()}) {
			t.Errorf("MemberScopes: got %v", got)
		}
	})
	t.Run("CodeTypedLoosely", func(t *testing.T) {
		code := f.code(mutualaid.JoinCodeSpec{CommunityID: "yuqiao"})
		typed := strings.ToLower(code[:5]) + " " + code[5:10] + "-" + strings.ToLower(code[10:15]) + " - " + code[15:]
		form := wangForm
		form.Code, form.DisplayName = typed, "Lucy Chen"
		if _, err := f.svc.Join(ctx, form); err != nil {
			t.Errorf("Join with %q for %q: %v", typed, code, err)
		}
	})
	t.Run("CodeBuildingWins", func(t *testing.T) {
		form := wangForm
		form.Code = f.code(mutualaid.JoinCodeSpec{CommunityID: "yuqiao", BuildingID: "bldg-5"})
		m, err := f.svc.Join(ctx, form)
		if err != nil || m.GetBuildingId() != "bldg-5" {
			t.Errorf("got building %q err %v, want bldg-5", m.GetBuildingId(), err)
		}
	})
	t.Run("VolunteerOfCodeBuilding", func(t *testing.T) {
		form := mutualaid.JoinForm{DisplayName: "张伟", Unit: "1101"}
		form.Code = f.code(mutualaid.JoinCodeSpec{CommunityID: "yuqiao", BuildingID: "bldg-3", Role: linliv1.Role_ROLE_VOLUNTEER})
		m, err := f.svc.Join(ctx, form)
		if err != nil {
			t.Fatalf("Join: %v", err)
		}
		if m.GetRole() != linliv1.Role_ROLE_VOLUNTEER || !slices.Equal(m.GetVolunteerBuildingIds(), []string{"bldg-3"}) {
			t.Errorf("got role %v buildings %v, want volunteer of bldg-3", m.GetRole(), m.GetVolunteerBuildingIds())
		}
		if !slices.Contains(mutualaid.MemberScopes(m), mutualaid.BuildingScope("yuqiao", "bldg-3")) {
			t.Errorf("MemberScopes %v lack building/yuqiao/bldg-3", mutualaid.MemberScopes(m))
		}
	})
	t.Run("StaffNeedNoBuilding", func(t *testing.T) {
		m := f.join("yuqiao", linliv1.Role_ROLE_STAFF, mutualaid.JoinForm{DisplayName: "赵主任"})
		if m.GetRole() != linliv1.Role_ROLE_STAFF || m.GetBuildingId() != "" {
			t.Errorf("got role %v building %q, want staff without building", m.GetRole(), m.GetBuildingId())
		}
	})
	t.Run("CountsUses", func(t *testing.T) {
		code, info, err := f.svc.CreateJoinCode(ctx, mutualaid.Operator, mutualaid.JoinCodeSpec{CommunityID: "yuqiao", MaxUses: 3})
		if err != nil {
			t.Fatalf("CreateJoinCode: %v", err)
		}
		for _, name := range []string{"王芳", "Lucy Chen"} {
			form := wangForm
			form.Code, form.DisplayName = code, name
			if _, err := f.svc.Join(ctx, form); err != nil {
				t.Fatalf("Join %s: %v", name, err)
			}
		}
		for _, e := range f.entities(staff)[staff] {
			if e.GetJoinCode().GetId() == info.GetId() && e.GetJoinCode().GetUses() != 2 {
				t.Errorf("staff scope: got %d uses, want 2", e.GetJoinCode().GetUses())
			}
		}
	})
}

func TestJoinRefused(t *testing.T) {
	t.Parallel()
	f := newDirFixture(t)
	ctx := context.Background()
	used := f.code(mutualaid.JoinCodeSpec{CommunityID: "yuqiao", MaxUses: 1})
	if _, err := f.svc.Join(ctx, mutualaid.JoinForm{Code: used, DisplayName: "王芳", BuildingID: "bldg-3"}); err != nil {
		t.Fatalf("first Join: %v", err)
	}
	expired := f.code(mutualaid.JoinCodeSpec{CommunityID: "yuqiao", ValidFor: time.Hour, MaxUses: 10})
	longer := f.code(mutualaid.JoinCodeSpec{CommunityID: "yuqiao", ValidFor: 2 * time.Hour, MaxUses: 100})
	volunteer := f.code(mutualaid.JoinCodeSpec{CommunityID: "yuqiao", Role: linliv1.Role_ROLE_VOLUNTEER})
	f.clk.Advance(time.Hour) // the first expires exactly now

	form := func(code string, mod func(f *mutualaid.JoinForm)) mutualaid.JoinForm {
		jf := wangForm
		jf.Code = code
		mod(&jf)
		return jf
	}
	same := func(*mutualaid.JoinForm) {}
	tests := []struct {
		name   string
		form   mutualaid.JoinForm
		reason string
	}{
		{"UnknownCode", form(strings.Repeat("A", 20), same), "join_code_invalid"},
		{"ExpiredCode", form(expired, same), "join_code_invalid"},
		{"UsedUpCode", form(used, same), "join_code_invalid"},
		{"EmptyCode", form("", same), "join_code_invalid"},
		{"ShortCode", form(longer[:19], same), "join_code_invalid"},
		{"LongCode", form(longer+"2", same), "join_code_invalid"},
		{"CodeWithZero", form("0"+longer[1:], same), "join_code_invalid"},
		{"CodeHuge", form(strings.Repeat("-", 10_000)+longer, same), "join_code_invalid"},
		{"BuildingUnknown", form(longer, func(f *mutualaid.JoinForm) { f.BuildingID = "bldg-9" }), "building_unknown"},
		{"BuildingOfOtherCommunity", form(longer, func(f *mutualaid.JoinForm) { f.BuildingID = "bldg-1" }), "building_unknown"},
		{"BuildingMissing", form(longer, func(f *mutualaid.JoinForm) { f.BuildingID = "" }), "building_id_required"},
		{"VolunteerWithoutBuilding", form(volunteer, func(f *mutualaid.JoinForm) { f.BuildingID = "" }), "building_id_required"},
		{"BuildingMalformed", form(longer, func(f *mutualaid.JoinForm) { f.BuildingID = "3号楼" }), "building_id_invalid"},
		{"NameEmpty", form(longer, func(f *mutualaid.JoinForm) { f.DisplayName = " " }), "display_name_required"},
		{"NameTooLong", form(longer, func(f *mutualaid.JoinForm) { f.DisplayName = strings.Repeat("王", 41) }), "display_name_too_long"},
		{"UnitTooLong", form(longer, func(f *mutualaid.JoinForm) { f.Unit = strings.Repeat("1", 17) }), "unit_too_long"},
		{"PhoneLetters", form(longer, func(f *mutualaid.JoinForm) { f.Phone = "138-call-me" }), "phone_invalid"},
		{"PhoneTooLong", form(longer, func(f *mutualaid.JoinForm) { f.Phone = strings.Repeat("8", 21) }), "phone_too_long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := f.svc.Join(ctx, tt.form)
			wantError(t, err, mutualaid.Invalid, tt.reason)
			if m != nil {
				t.Errorf("got member %v with an error", m)
			}
		})
	}
	t.Run("RefusalsUseNoCode", func(t *testing.T) {
		for _, e := range f.entities(staff)[staff] {
			if jc := e.GetJoinCode(); jc != nil && jc.GetMaxUses() == 100 && jc.GetUses() != 0 {
				t.Errorf("refused joins counted %d uses", jc.GetUses())
			}
		}
	})
}

// Neighbours racing for the last place: exactly one joins.
func TestJoinRaceSingleUse(t *testing.T) {
	t.Parallel()
	f := newDirFixture(t)
	code := f.code(mutualaid.JoinCodeSpec{CommunityID: "yuqiao", MaxUses: 1})
	const racers = 16
	errs := make([]error, racers)
	var wg gosync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			_, errs[i] = f.svc.Join(context.Background(), mutualaid.JoinForm{
				Code: code, DisplayName: fmt.Sprintf("邻居%d", i), BuildingID: "bldg-3",
			})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case mutualaid.ErrorReason(err) != "join_code_invalid":
			t.Errorf("got %v, want join_code_invalid", err)
		}
	}
	if won != 1 {
		t.Errorf("got %d joins, want exactly 1", won)
	}
	members := 0
	for id := range f.entities(staff)[staff] {
		if strings.HasPrefix(id, "member/yuqiao/") {
			members++
		}
	}
	if members != 1 {
		t.Errorf("staff scope: got %d members, want 1", members)
	}
}

// FuzzJoinCode types arbitrary codes: never a panic, and anything but the
// real code (however spaced or cased) is refused as join_code_invalid.
func FuzzJoinCode(f *testing.F) {
	fx := newDirFixture(f)
	code := fx.code(mutualaid.JoinCodeSpec{CommunityID: "yuqiao", MaxUses: 10_000})
	for _, s := range []string{code, strings.ToLower(code), code[:10] + "-" + code[10:], "", "0OIl", strings.Repeat(" ", 64), "玉桥" + code} {
		f.Add(s)
	}
	norm := func(s string) string { // ASCII only: "ſ" is no "S"
		b := []byte(strings.NewReplacer(" ", "", "-", "").Replace(s))
		for i, c := range b {
			if 'a' <= c && c <= 'z' {
				b[i] = c - 'a' + 'A'
			}
		}
		return string(b)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := fx.svc.Join(context.Background(), mutualaid.JoinForm{Code: s, DisplayName: "王芳", BuildingID: "bldg-3"})
		switch {
		case norm(s) == code && len(s) <= 64:
			if err != nil || m.GetCommunityId() != "yuqiao" {
				t.Fatalf("Join(%q): got %v %v, want a member of yuqiao", s, m, err)
			}
		case mutualaid.ErrorReason(err) != "join_code_invalid":
			t.Fatalf("Join(%q): got %v %v, want join_code_invalid", s, m, err)
		}
	})
}

// TestDeviceCode: a member signs a second device into the same membership
// with a one-use code; it admits nobody else, once, within its validity.
func TestDeviceCode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newDirFixture(t)
	wang := f.resident("王芳")
	f.session(wang, "phone-1")

	code, exp, err := f.svc.CreateDeviceCode(ctx, "yuqiao", wang.GetUserId())
	if err != nil || !exp.Equal(night.Add(mutualaid.DeviceCodeValidity)) {
		t.Fatalf("CreateDeviceCode: %q %v %v", code, exp, err)
	}
	m, err := f.svc.Join(ctx, mutualaid.JoinForm{Code: code}) // the form is not needed
	if err != nil || m.GetUserId() != wang.GetUserId() || m.GetDisplayName() != "王芳" {
		t.Fatalf("Join with a device code: %v, %v; want 王芳's own membership", m, err)
	}
	f.session(m, "tablet-1")
	if ds, err := f.svc.Devices(wang.GetUserId()); err != nil || len(ds) != 2 {
		t.Errorf("devices = %v, %v; want phone and tablet", ds, err)
	}
	_, err = f.svc.Join(ctx, mutualaid.JoinForm{Code: code})
	wantError(t, err, mutualaid.Invalid, "join_code_invalid") // used up
	codes := 0
	for _, e := range f.entities(mutualaid.StaffScope("yuqiao"))[mutualaid.StaffScope("yuqiao")] {
		if e.GetJoinCode() != nil {
			codes++
		}
	}
	if codes != 1 { // the code 王芳 joined with, not the device code
		t.Errorf("staff see %d join codes, want 1: a device code is published nowhere", codes)
	}

	late, _, err := f.svc.CreateDeviceCode(ctx, "yuqiao", wang.GetUserId())
	if err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(mutualaid.DeviceCodeValidity)
	_, err = f.svc.Join(ctx, mutualaid.JoinForm{Code: late})
	wantError(t, err, mutualaid.Invalid, "join_code_invalid") // expired

	gone, _, err := f.svc.CreateDeviceCode(ctx, "yuqiao", wang.GetUserId())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RemoveMember(ctx, mutualaid.Member{UserID: "u-zhao", CommunityID: "yuqiao", Role: mutualaid.RoleStaff}, "yuqiao", wang.GetUserId()); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Join(ctx, mutualaid.JoinForm{Code: gone})
	wantError(t, err, mutualaid.Invalid, "join_code_invalid") // removed since
	_, _, err = f.svc.CreateDeviceCode(ctx, "yuqiao", wang.GetUserId())
	wantError(t, err, mutualaid.NotFound, "member_not_found")

	// A new member's code still needs a name.
	_, err = f.svc.Join(ctx, mutualaid.JoinForm{Code: f.code(mutualaid.JoinCodeSpec{CommunityID: "yuqiao"}), BuildingID: "bldg-3"})
	wantError(t, err, mutualaid.Invalid, "display_name_required")
}
