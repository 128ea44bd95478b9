package mutualaid_test

import (
	"errors"
	"testing"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

func TestParseRole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    mutualaid.Role
		wantErr bool
	}{
		{"resident", mutualaid.RoleResident, false},
		{"volunteer", mutualaid.RoleVolunteer, false},
		{"staff", mutualaid.RoleStaff, false},
		{"admin", mutualaid.RoleAdmin, false},
		{"", "", true},
		{"Admin", "", true},
		{"root", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := mutualaid.ParseRole(tt.in)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("ParseRole(%q) = (%q, %v), want (%q, error: %v)", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err != nil && !errors.Is(err, mutualaid.ErrInvalidRole) {
				t.Errorf("ParseRole(%q) error = %v, want ErrInvalidRole", tt.in, err)
			}
		})
	}
}

func TestRoleProto(t *testing.T) {
	t.Parallel()
	for _, r := range []mutualaid.Role{mutualaid.RoleResident, mutualaid.RoleVolunteer, mutualaid.RoleStaff, mutualaid.RoleAdmin} {
		if got := mutualaid.RoleOf(r.Proto()); got != r {
			t.Errorf("RoleOf(%q.Proto()) = %q, want %q", r, got, r)
		}
	}
	if got := mutualaid.RoleOf(linliv1.Role_ROLE_UNSPECIFIED); got != "" {
		t.Errorf("RoleOf(unspecified) = %q, want \"\"", got)
	}
	if got := mutualaid.Role("mayor").Proto(); got != linliv1.Role_ROLE_RESIDENT {
		t.Errorf("Role(mayor).Proto() = %v, want ROLE_RESIDENT", got)
	}
}
