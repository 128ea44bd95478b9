package mutualaid_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

func TestCreateCommunity(t *testing.T) {
	t.Parallel()
	f := newDirFixture(t)
	ctx := context.Background()

	t.Run("StoredAndPublished", func(t *testing.T) {
		got, ok, err := f.svc.Community("yuqiao")
		if err != nil || !ok {
			t.Fatalf("Community: got ok %t err %v", ok, err)
		}
		want := proto.CloneOf(yuqiao)
		want.CreatedAt = timestamppb.New(night)
		if !proto.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
		pub := f.entities(community)[community]["community/yuqiao"].GetCommunity()
		if !proto.Equal(pub, want) {
			t.Errorf("community scope: got %v, want %v", pub, want)
		}
	})
	t.Run("Exists", func(t *testing.T) {
		c := proto.CloneOf(yuqiao)
		c.Name = "另一个玉桥"
		_, err := f.svc.CreateCommunity(ctx, mutualaid.Operator, c)
		wantError(t, err, mutualaid.Conflict, "community_exists")
		if got, _, _ := f.svc.Community("yuqiao"); got.GetName() != yuqiao.GetName() {
			t.Errorf("name changed to %q", got.GetName())
		}
	})
	t.Run("Unknown", func(t *testing.T) {
		for _, id := range []string{"majuqiao", "", "yuqiao/x", strings.Repeat("a", 65)} {
			if c, ok, err := f.svc.Community(id); ok || err != nil || c != nil {
				t.Errorf("Community(%q): got %v %t %v, want nothing", id, c, ok, err)
			}
		}
	})
}

func TestCreateCommunityInvalid(t *testing.T) {
	t.Parallel()
	f := newDirFixture(t)
	with := func(mod func(c *linliv1.Community)) *linliv1.Community {
		c := &linliv1.Community{Id: "majuqiao", Name: "马驹桥镇", District: "通州区", StreetOffice: "马驹桥镇"}
		mod(c)
		return c
	}
	tests := []struct {
		name   string
		c      *linliv1.Community
		reason string
	}{
		{"NilCommunity", nil, "community_id_required"},
		{"IDEmpty", with(func(c *linliv1.Community) { c.Id = "" }), "community_id_required"},
		{"IDChinese", with(func(c *linliv1.Community) { c.Id = "玉桥" }), "community_id_invalid"},
		{"IDSlash", with(func(c *linliv1.Community) { c.Id = "yuqiao/1" }), "community_id_invalid"},
		{"IDTooLong", with(func(c *linliv1.Community) { c.Id = strings.Repeat("y", 65) }), "community_id_too_long"},
		{"NameEmpty", with(func(c *linliv1.Community) { c.Name = "" }), "name_required"},
		{"NameBlank", with(func(c *linliv1.Community) { c.Name = "  " }), "name_required"},
		{"NameTooLong", with(func(c *linliv1.Community) { c.Name = strings.Repeat("桥", 81) }), "name_too_long"},
		{"NameNewline", with(func(c *linliv1.Community) { c.Name = "马驹桥\n镇" }), "name_invalid"},
		{"DistrictMissing", with(func(c *linliv1.Community) { c.District = "" }), "district_required"},
		{"StreetOfficeControl", with(func(c *linliv1.Community) { c.StreetOffice = "马驹桥\x00" }), "street_office_invalid"},
		{"StreetOfficeTooLong", with(func(c *linliv1.Community) { c.StreetOffice = strings.Repeat("街", 81) }), "street_office_too_long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.CreateCommunity(context.Background(), mutualaid.Operator, tt.c)
			wantError(t, err, mutualaid.Invalid, tt.reason)
		})
	}
	if _, ok, _ := f.svc.Community("majuqiao"); ok {
		t.Errorf("an invalid community was stored")
	}
}

func TestPutBuilding(t *testing.T) {
	t.Parallel()
	f := newDirFixture(t)
	ctx := context.Background()

	t.Run("StoredAndPublished", func(t *testing.T) {
		got, ok, err := f.svc.Building("yuqiao", "bldg-3")
		if err != nil || !ok || !proto.Equal(got, bldg3) {
			t.Fatalf("Building: got %v %t %v, want %v", got, ok, err, bldg3)
		}
		if pub := f.entities(community)[community]["building/yuqiao/bldg-3"].GetBuilding(); !proto.Equal(pub, bldg3) {
			t.Errorf("community scope: got %v, want %v", pub, bldg3)
		}
	})
	t.Run("Replaces", func(t *testing.T) {
		b := proto.CloneOf(bldg5)
		b.DropPoints = append(b.DropPoints, "2楼电梯口")
		if _, err := f.svc.PutBuilding(ctx, mutualaid.Operator, b); err != nil {
			t.Fatalf("PutBuilding: %v", err)
		}
		if got, _, _ := f.svc.Building("yuqiao", "bldg-5"); !proto.Equal(got, b) {
			t.Errorf("got %v, want %v", got, b)
		}
	})
	t.Run("OtherCommunityIsSeparate", func(t *testing.T) {
		if _, ok, _ := f.svc.Building("beiyuan", "bldg-3"); ok {
			t.Errorf("北苑 has 玉桥's building 3")
		}
	})
	t.Run("CommunityNotFound", func(t *testing.T) {
		b := proto.CloneOf(bldg3)
		b.CommunityId = "majuqiao"
		_, err := f.svc.PutBuilding(ctx, mutualaid.Operator, b)
		wantError(t, err, mutualaid.NotFound, "community_not_found")
	})
}

func TestPutBuildingInvalid(t *testing.T) {
	t.Parallel()
	f := newDirFixture(t)
	with := func(mod func(b *linliv1.Building)) *linliv1.Building {
		b := proto.CloneOf(bldg3)
		b.Id = "bldg-7"
		mod(b)
		return b
	}
	points := func(n int) []string {
		p := make([]string, n)
		for i := range p {
			p[i] = "楼梯口"
		}
		return p
	}
	tests := []struct {
		name   string
		b      *linliv1.Building
		reason string
	}{
		{"IDEmpty", with(func(b *linliv1.Building) { b.Id = "" }), "building_id_required"},
		{"IDChinese", with(func(b *linliv1.Building) { b.Id = "7号楼" }), "building_id_invalid"},
		{"CommunityEmpty", with(func(b *linliv1.Building) { b.CommunityId = "" }), "community_id_required"},
		{"NameEmpty", with(func(b *linliv1.Building) { b.Name = "" }), "name_required"},
		{"NameTooLong", with(func(b *linliv1.Building) { b.Name = strings.Repeat("楼", 81) }), "name_too_long"},
		{"TooManyDropPoints", with(func(b *linliv1.Building) { b.DropPoints = points(21) }), "too_many_drop_points"},
		{"DropPointEmpty", with(func(b *linliv1.Building) { b.DropPoints = []string{"15楼电梯口窗台", ""} }), "drop_point_required"},
		{"DropPointTooLong", with(func(b *linliv1.Building) { b.DropPoints = []string{strings.Repeat("窗", 81)} }), "drop_point_too_long"},
		{"DropPointTab", with(func(b *linliv1.Building) { b.DropPoints = []string{"15楼\t窗台"} }), "drop_point_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.PutBuilding(context.Background(), mutualaid.Operator, tt.b)
			wantError(t, err, mutualaid.Invalid, tt.reason)
		})
	}
	t.Run("TwentyDropPointsOfEightyRunes", func(t *testing.T) {
		b := with(func(b *linliv1.Building) { b.DropPoints = points(20); b.DropPoints[0] = strings.Repeat("窗", 80) })
		if _, err := f.svc.PutBuilding(context.Background(), mutualaid.Operator, b); err != nil {
			t.Errorf("got %v, want nil", err)
		}
	})
	t.Run("NoDropPoints", func(t *testing.T) {
		if _, err := f.svc.PutBuilding(context.Background(), mutualaid.Operator, with(func(b *linliv1.Building) { b.DropPoints = nil })); err != nil {
			t.Errorf("got %v, want nil", err)
		}
	})
}
