package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"slices"
	"time"

	linlisync "github.com/linli/linli/sync"
)

// Pusher kinds. ON-DISK FORMAT.
const (
	// KindHTTP pushers are reached through the operator's push gateway
	// (Matrix Push Gateway API).
	KindHTTP = "http"
	// KindWebPush pushers are browsers' Web Push subscriptions.
	KindWebPush = "webpush"
)

// Pusher is one device's registration, as stored. ON-DISK FORMAT.
// The domain validates it before SetPusher.
type Pusher struct {
	Client string `json:"client"`
	Kind   string `json:"kind"`
	// AppID is the app's id at the gateway (KindHTTP).
	AppID string `json:"app_id,omitempty"`
	// Pushkey is the push service's token for the device (KindHTTP), or the
	// subscription's endpoint URL (KindWebPush).
	Pushkey string `json:"pushkey"`
	// P256dh and Auth are a Web Push subscription's keys, base64url.
	P256dh string `json:"p256dh,omitempty"`
	Auth   string `json:"auth,omitempty"`
	// Lang is the language the gateway shows notifications in.
	Lang  string      `json:"lang"`
	Quiet *QuietHours `json:"quiet,omitempty"`
	// Updated is when the device last registered it.
	Updated time.Time `json:"updated"`
}

// PusherSet is a user's pushers, one per device. ON-DISK FORMAT.
type PusherSet struct {
	Devices []Pusher `json:"devices"`
}

// pushkeyOwner is the device a push key is registered to. ON-DISK FORMAT.
type pushkeyOwner struct {
	User   string `json:"user"`
	Client string `json:"client"`
}

// pushkeyID names the owner record of a push key: the hex SHA-256 of its
// kind, app id and key.
func pushkeyID(p Pusher) string {
	h := sha256.Sum256([]byte(p.Kind + "\x00" + p.AppID + "\x00" + p.Pushkey))
	return pushkeyPrefix + hex.EncodeToString(h[:])
}

// loadPushers reads user's pushers through get (a Tx's or the store's Get).
func loadPushers(get func(string) ([]byte, bool, error), user string) (PusherSet, error) {
	var set PusherSet
	_, err := getJSON(get, pushersID(user), &set)
	return set, err
}

// PusherOf returns the pusher of user's device client, through get (a
// Tx's or the store's Get); ok is false if it has none.
//
// Errors: store errors, a corrupt record.
func PusherOf(get func(string) ([]byte, bool, error), user, client string) (p Pusher, ok bool, err error) {
	set, err := loadPushers(get, user)
	if err != nil {
		return Pusher{}, false, err
	}
	i := slices.IndexFunc(set.Devices, func(p Pusher) bool { return p.Client == client })
	if i < 0 {
		return Pusher{}, false, nil
	}
	return set.Devices[i], true, nil
}

// SetPusherTx registers p as the pusher of user's device p.Client in tx,
// replacing the device's earlier one. A push key belongs to one device: if
// another device (of this user or another: a phone handed over) had the
// same key, its pusher is removed, so it no longer hears of that person's
// events.
//
// REQUIRES: p is valid (the domain checks it).
// Errors: store errors.
func SetPusherTx(tx *linlisync.Tx, user string, p Pusher) error {
	var owner pushkeyOwner
	ok, err := getJSON(tx.Get, pushkeyID(p), &owner)
	if err != nil {
		return err
	}
	if ok && (owner.User != user || owner.Client != p.Client) {
		if err := DeletePusherTx(tx, owner.User, owner.Client); err != nil {
			return err
		}
	}
	if err := DeletePusherTx(tx, user, p.Client); err != nil {
		return err
	}
	set, err := loadPushers(tx.Get, user)
	if err != nil {
		return err
	}
	set.Devices = append(set.Devices, p)
	if err := putJSON(tx, pushersID(user), set); err != nil {
		return err
	}
	return putJSON(tx, pushkeyID(p), pushkeyOwner{User: user, Client: p.Client})
}

// DeletePusherTx removes the pusher of user's device client in tx, if it
// has one, with every event waiting for the device: nothing more is sent
// to it from the moment tx commits.
//
// Errors: store errors.
func DeletePusherTx(tx *linlisync.Tx, user, client string) error {
	set, err := loadPushers(tx.Get, user)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(set.Devices, func(p Pusher) bool { return p.Client == client })
	if i < 0 {
		return nil
	}
	p := set.Devices[i]
	set.Devices = slices.Delete(set.Devices, i, i+1)
	if len(set.Devices) == 0 {
		err = tx.Delete(pushersID(user))
	} else {
		err = putJSON(tx, pushersID(user), set)
	}
	if err != nil {
		return err
	}
	var owner pushkeyOwner
	if ok, err := getJSON(tx.Get, pushkeyID(p), &owner); err != nil {
		return err
	} else if ok && owner.User == user && owner.Client == client {
		if err := tx.Delete(pushkeyID(p)); err != nil {
			return err
		}
	}
	return dropDevice(tx, user, client)
}

// DeleteUserPushersTx removes every pusher of user in tx (a removed
// member), with every event waiting for their devices.
//
// Errors: store errors.
func DeleteUserPushersTx(tx *linlisync.Tx, user string) error {
	set, err := loadPushers(tx.Get, user)
	if err != nil {
		return err
	}
	for _, p := range set.Devices {
		if err := DeletePusherTx(tx, user, p.Client); err != nil {
			return err
		}
	}
	return nil
}

// dropDevice deletes a device's waiting events and its state in tx.
func dropDevice(tx *linlisync.Tx, user, client string) error {
	var ids []string
	err := tx.Scan(queueOf(user, client), math.MaxInt, func(id string, _ []byte) error {
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return err
	}
	if _, ok, err := tx.Get(deviceID(user, client)); err != nil {
		return err
	} else if ok {
		ids = append(ids, deviceID(user, client))
	}
	for _, id := range ids {
		if err := tx.Delete(id); err != nil {
			return err
		}
	}
	return nil
}
