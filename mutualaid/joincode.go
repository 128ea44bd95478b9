package mutualaid

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// Join codes: joinCodeLen characters of joinCodeAlphabet (32 symbols, no
// 0/O, 1/I), 5 bits each: 100 bits, far beyond guessing even without the
// server's rate limits.
const (
	joinCodeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
	joinCodeLen      = 20
	maxJoinCodeInput = 64 // longest input considered, separators included
)

// Bounds of a join code's validity and uses.
const (
	DefaultJoinCodeValidity = 7 * 24 * time.Hour
	MinJoinCodeValidity     = time.Minute
	MaxJoinCodeValidity     = 90 * 24 * time.Hour
	MaxJoinCodeUses         = 10_000
)

// JoinCodeSpec describes a join code to make.
type JoinCodeSpec struct {
	CommunityID string
	// BuildingID, optional, is the building everyone joining lives in.
	BuildingID string
	// Role of the members who join; unspecified means resident.
	Role linliv1.Role
	// ValidFor is how long the code works: MinJoinCodeValidity to
	// MaxJoinCodeValidity; 0 means DefaultJoinCodeValidity.
	ValidFor time.Duration
	// MaxUses is how many people may join with it: 1 to MaxJoinCodeUses; 0
	// means 1.
	MaxUses uint32
	// CreatedBy, optional, is the user id of the staff member making it.
	CreatedBy string
}

// CreateJoinCode makes a join code and returns it (the only time the
// secret exists outside the caller: the store keeps its SHA-256) with its
// public description, published in the community's staff scope. Staff of
// the community (the actor's own if spec.CommunityID is empty, which is
// then refused as invalid) hand out resident, volunteer and staff codes;
// admins hand out admin codes too.
//
// Errors (*Error): Forbidden not_staff_of_community, role_not_allowed;
// Invalid community_id_*, building_id_*, role_invalid,
// valid_for_out_of_range, max_uses_out_of_range, created_by_invalid;
// NotFound community_not_found; Invalid building_unknown. Otherwise storage
// errors.
func (s *Service) CreateJoinCode(ctx context.Context, actor Member, spec JoinCodeSpec) (code string, info *linliv1.JoinCodeInfo, err error) {
	if err := authorizeStaff(actor, cmp.Or(spec.CommunityID, actor.CommunityID)); err != nil {
		return "", nil, err
	}
	if err := mayGrant(actor, spec.Role); err != nil {
		return "", nil, err
	}
	rec, err := newJoinCodeRecord(spec, s.now())
	if err != nil {
		return "", nil, err
	}
	code = newJoinCode()
	hash := secretHash(code)
	err = s.update(ctx, "create join code", func(tx *linlisync.Tx) error {
		if err := requireCommunity(tx, rec.Community); err != nil {
			return err
		}
		if rec.Building != "" {
			if err := requireBuildings(tx, "building_id", rec.Community, rec.Building); err != nil {
				return err
			}
		}
		return putNewJoinCode(tx, hash, rec)
	})
	if err != nil {
		return "", nil, err
	}
	return code, rec.info(), nil
}

// newJoinCodeRecord validates spec and fills in its defaults.
func newJoinCodeRecord(spec JoinCodeSpec, now time.Time) (*joinCodeRecord, error) {
	var v validator
	v.ident("community_id", "community_id", spec.CommunityID, isIDByte)
	if spec.BuildingID != "" {
		v.ident("building_id", "building_id", spec.BuildingID, isIDByte)
	}
	role := spec.Role
	if role == linliv1.Role_ROLE_UNSPECIFIED {
		role = linliv1.Role_ROLE_RESIDENT
	}
	if RoleOf(role) == "" {
		v.fail("role", "role_invalid", "Choose a role: resident, volunteer, staff or admin.")
	}
	validFor, uses := orDefault(spec.ValidFor, DefaultJoinCodeValidity), spec.MaxUses
	if validFor < MinJoinCodeValidity || validFor > MaxJoinCodeValidity {
		v.fail("valid_seconds", "valid_for_out_of_range", "A join code works for 1 minute to 90 days.")
	}
	if uses == 0 {
		uses = 1
	}
	if uses > MaxJoinCodeUses {
		v.fail("max_uses", "max_uses_out_of_range", fmt.Sprintf("A join code works 1 to %d times.", MaxJoinCodeUses))
	}
	if spec.CreatedBy != "" && !validID(spec.CreatedBy) {
		v.fail("created_by", "created_by_invalid", "The creator's user id is malformed.")
	}
	if err := v.result(); err != nil {
		return nil, err
	}
	return &joinCodeRecord{
		ID: "jc_" + randomHex(6), Community: spec.CommunityID, Building: spec.BuildingID, Role: int32(role),
		Expires: now.Add(validFor), MaxUses: uses, CreatedBy: spec.CreatedBy,
	}, nil
}

// orDefault returns d, or def if d is zero.
func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// info is the code's public description (never the secret).
func (r *joinCodeRecord) info() *linliv1.JoinCodeInfo {
	return &linliv1.JoinCodeInfo{
		Id: r.ID, CommunityId: r.Community, BuildingId: r.Building, Role: linliv1.Role(r.Role),
		ExpiresAt: timestamppb.New(r.Expires), MaxUses: r.MaxUses, Uses: r.Uses,
	}
}

// usable reports whether the code admits one more member at now.
func (r *joinCodeRecord) usable(now time.Time) bool {
	return now.Before(r.Expires) && r.Uses < r.MaxUses
}

// putNewJoinCode stores a new code's record, refusing a hash that is taken
// (2^-100: a broken random source, not bad luck).
func putNewJoinCode(tx *linlisync.Tx, hash string, r *joinCodeRecord) error {
	_, taken, err := tx.Get(joinCodeEntityID(hash))
	if err != nil {
		return err
	}
	if taken {
		return errors.New("new join code collides with an existing one")
	}
	return putJoinCode(tx, hash, r)
}

// putJoinCode stores the record under the code's hash and publishes its
// description in the staff scope only (a device code nowhere).
func putJoinCode(tx *linlisync.Tx, hash string, r *joinCodeRecord) error {
	id := joinCodeEntityID(hash)
	if r.Member != "" {
		return putJSON(tx, id, r, nil)
	}
	view, err := marshalAny(id, &linliv1.Entity{Kind: &linliv1.Entity_JoinCode{JoinCode: r.info()}})
	if err != nil {
		return err
	}
	return putJSON(tx, id, r, map[string][]byte{StaffScope(r.Community): view})
}

// newJoinCode returns joinCodeLen random symbols of joinCodeAlphabet.
func newJoinCode() string {
	b := make([]byte, joinCodeLen)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	for i := range b {
		b[i] = joinCodeAlphabet[b[i]%byte(len(joinCodeAlphabet))] // 256 is a multiple of 32: unbiased
	}
	return string(b)
}

// normalizeJoinCode returns the canonical form of a code as a person typed
// it: letters upper-cased, spaces and dashes dropped. ok is false if the
// result cannot be a code.
func normalizeJoinCode(s string) (code string, ok bool) {
	if len(s) > maxJoinCodeInput {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '-':
			continue
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		if strings.IndexByte(joinCodeAlphabet, c) < 0 {
			return "", false
		}
		b.WriteByte(c)
	}
	return b.String(), b.Len() == joinCodeLen
}
