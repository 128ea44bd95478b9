package mutualaid_test

import (
	"slices"
	"testing"

	"github.com/linli/linli/mutualaid"
)

func TestScopes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		role mutualaid.Role
		want []string
	}{
		{mutualaid.RoleResident, []string{"community/yuqiao", "user/u-1"}},
		{mutualaid.RoleVolunteer, []string{"community/yuqiao", "user/u-1"}},
		{mutualaid.RoleStaff, []string{"community/yuqiao", "user/u-1", "staff/yuqiao"}},
		{mutualaid.RoleAdmin, []string{"community/yuqiao", "user/u-1", "staff/yuqiao"}},
		{"mayor", []string{"community/yuqiao", "user/u-1"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.role), func(t *testing.T) {
			got := mutualaid.Scopes(mutualaid.Member{UserID: "u-1", CommunityID: "yuqiao", Role: tt.role})
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
