package mutualaid

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/linli/linli/mutualaid/notify"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// maxDevices bounds the devices indexed per user. When full, revoked
// devices are forgotten to make room.
const maxDevices = 32

// maxRefreshTokenLen bounds the refresh token input looked up (ours are 43).
const maxRefreshTokenLen = 128

// device is the record's public form.
func (r *deviceRecord) device() *linliv1.Device {
	return &linliv1.Device{
		ClientId: r.Client, SignedInAt: timestamppb.New(r.SignedInAt),
		LastRefreshedAt: timestamppb.New(r.RefreshedAt), Revoked: r.Revoked,
	}
}

// putDevice stores r and publishes its Device in the user's scope.
func putDevice(tx *linlisync.Tx, r *deviceRecord) error {
	id := deviceEntityID(r.User, r.Client)
	view, err := marshalAny(id, &linliv1.Entity{Kind: &linliv1.Entity_Device{Device: r.device()}})
	if err != nil {
		return err
	}
	return putJSON(tx, id, r, map[string][]byte{UserScope(r.User): view})
}

func loadDevice(get func(string) ([]byte, bool, error), user, client string) (*deviceRecord, bool, error) {
	var r deviceRecord
	ok, err := getJSON(get, deviceEntityID(user, client), &r)
	if err != nil || !ok {
		return nil, false, err
	}
	return &r, true, nil
}

func loadDeviceIndex(get func(string) ([]byte, bool, error), user string) (*deviceIndex, error) {
	var ix deviceIndex
	if _, err := getJSON(get, deviceIndexID(user), &ix); err != nil {
		return nil, err
	}
	return &ix, nil
}

// indexDevice adds client to the user's device index, forgetting revoked
// devices (their entities deleted) if the index is full. Errors: Conflict
// too_many_devices if it stays full; storage errors.
func indexDevice(tx *linlisync.Tx, user, client string) error {
	ix, err := loadDeviceIndex(tx.Get, user)
	if err != nil || slices.Contains(ix.Clients, client) {
		return err
	}
	if len(ix.Clients) >= maxDevices {
		if ix.Clients, err = forgetRevoked(tx, user, ix.Clients); err != nil {
			return err
		}
	}
	if len(ix.Clients) >= maxDevices {
		return Errorf(Conflict, "too_many_devices", "Too many devices are signed in; sign one out first.")
	}
	ix.Clients = append(ix.Clients, client)
	return putJSON(tx, deviceIndexID(user), ix, nil)
}

// forgetRevoked deletes the revoked devices among clients and returns the rest.
func forgetRevoked(tx *linlisync.Tx, user string, clients []string) ([]string, error) {
	kept := clients[:0:0]
	for _, c := range clients {
		r, ok, err := loadDevice(tx.Get, user, c)
		if err != nil {
			return nil, err
		}
		if ok && !r.Revoked {
			kept = append(kept, c)
			continue
		}
		if err := tx.Delete(deviceEntityID(user, c)); err != nil {
			return nil, err
		}
	}
	return kept, nil
}

// revokeAllDevices signs every device of the user out.
func revokeAllDevices(tx *linlisync.Tx, user string) error {
	ix, err := loadDeviceIndex(tx.Get, user)
	if err != nil {
		return err
	}
	for _, c := range ix.Clients {
		if err := revokeDevice(tx, user, c); err != nil {
			return err
		}
	}
	return nil
}

// revokeDevice marks a device revoked, if there is one and it is not yet,
// and removes its pusher: nothing more is sent to it.
func revokeDevice(tx *linlisync.Tx, user, client string) error {
	if err := notify.DeletePusherTx(tx, user, client); err != nil {
		return err
	}
	r, ok, err := loadDevice(tx.Get, user, client)
	if err != nil || !ok || r.Revoked {
		return err
	}
	r.Revoked = true
	return putDevice(tx, r)
}

func loadRefresh(get func(string) ([]byte, bool, error), hash string) (*refreshRecord, bool, error) {
	var r refreshRecord
	ok, err := getJSON(get, refreshEntityID(hash), &r)
	if err != nil || !ok {
		return nil, false, err
	}
	return &r, true, nil
}

// putRefresh stores a refresh token's record; no scope ever sees it.
func putRefresh(tx *linlisync.Tx, hash string, r *refreshRecord) error {
	if err := putJSON(tx, refreshEntityID(hash), r, nil); err != nil {
		return fmt.Errorf("store refresh token: %w", err)
	}
	return nil
}

// newRefreshToken returns 32 random bytes, base64url without padding.
func newRefreshToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}
