package mutualaid

import (
	"context"
	"time"

	linlisync "github.com/linli/linli/sync"
)

// DeviceCodeValidity is how long a device code works.
const DeviceCodeValidity = 10 * time.Minute

// CreateDeviceCode makes a one-use join code, valid for DeviceCodeValidity,
// with which member user of community c signs another device into the same
// membership: Join with it admits that member, creates none, and the new
// device appears among the member's devices. Like every code it is stored
// only as a hash, and it is published nowhere.
//
// Errors (*Error): NotFound member_not_found (unknown or removed member);
// otherwise storage errors.
func (s *Service) CreateDeviceCode(ctx context.Context, c, user string) (code string, expires time.Time, err error) {
	code, now := newJoinCode(), s.now()
	hash := secretHash(code)
	rec := &joinCodeRecord{
		ID: "dc_" + randomHex(6), Community: c, Member: user, Expires: now.Add(DeviceCodeValidity),
		MaxUses: 1, CreatedBy: user,
	}
	err = s.update(ctx, "create device code", func(tx *linlisync.Tx) error {
		m, ok, err := loadMember(tx.Get, c, user)
		if err != nil {
			return err
		}
		if !ok || m.GetRemoved() {
			return Errorf(NotFound, "member_not_found", "This member does not exist.")
		}
		rec.Role = int32(m.GetRole())
		return putNewJoinCode(tx, hash, rec)
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return code, rec.Expires, nil
}
