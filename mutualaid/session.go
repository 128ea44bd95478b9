package mutualaid

import (
	"cmp"
	"context"
	"slices"
	"time"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// RefreshTokenTTL is how long a refresh token works if not traded; every
// Refresh issues a new one with a fresh TTL.
const RefreshTokenTTL = 30 * 24 * time.Hour

// Session is who a refresh token signs in: one device of one member.
type Session struct {
	CommunityID, UserID, ClientID string
}

// StartSession signs a device of a member in: it creates or replaces the
// device "device/<user>/<client>" (published in the user's scope) with a
// new token family, and returns its first refresh token, which works once
// until expires. Tokens of the device's earlier sign-in stop working.
//
// Errors (*Error): Invalid client_id_* (1-64 of [A-Za-z0-9_-]); NotFound
// member_not_found; Unauthenticated member_removed; Conflict
// too_many_devices. Otherwise storage errors.
func (s *Service) StartSession(ctx context.Context, communityID, userID, clientID string) (refresh string, expires time.Time, err error) {
	return s.StartSessionFor(ctx, communityID, userID, clientID, RefreshTokenTTL)
}

// StartSessionFor is StartSession with a first refresh token that works
// for ttl instead of RefreshTokenTTL: a browser session of the staff
// console, say, which ends at the end of a working day. The device is the
// same kind of record as an app's (listed by Devices, ended by SignOut and
// RevokeDevice, and by the member's removal).
//
// REQUIRES: ttl > 0.
func (s *Service) StartSessionFor(ctx context.Context, communityID, userID, clientID string, ttl time.Duration) (refresh string, expires time.Time, err error) {
	var v validator
	v.ident("client_id", "client_id", clientID, isIDByte)
	if err := v.result(); err != nil {
		return "", time.Time{}, err
	}
	if !validID(communityID) || !validID(userID) {
		return "", time.Time{}, errMemberNotFound()
	}
	refresh, now := newRefreshToken(), s.now()
	expires = now.Add(min(ttl, RefreshTokenTTL))
	dev := &deviceRecord{
		User: userID, Community: communityID, Client: clientID, SignedInAt: now, RefreshedAt: now,
		Family: randomHex(16), Current: secretHash(refresh),
	}
	err = s.update(ctx, "start session", func(tx *linlisync.Tx) error {
		if err := requireActiveMember(tx, communityID, userID); err != nil {
			return err
		}
		if err := indexDevice(tx, userID, clientID); err != nil {
			return err
		}
		if err := putDevice(tx, dev); err != nil {
			return err
		}
		return putRefresh(tx, dev.Current, &refreshRecord{
			User: userID, Community: communityID, Client: clientID, Family: dev.Family, Expires: expires,
		})
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return refresh, expires, nil
}

// Refresh trades a refresh token for a new one of the same family (the old
// one is spent) and returns the session it signs in. A member's removal or
// a device's revocation takes effect on its next Refresh.
//
// Presenting a spent token means two parties hold the family (a stolen
// token): the whole family is revoked, durably, before the error is
// returned, so the newer token fails too.
//
// Errors (*Error, all Unauthenticated): refresh_token_invalid (unknown or
// expired), refresh_token_reused (spent; the family is now revoked),
// member_removed, session_revoked (device signed out, revoked, or signed in
// again since). Otherwise storage errors.
func (s *Service) Refresh(ctx context.Context, refresh string) (sess Session, newRefresh string, expires time.Time, err error) {
	if refresh == "" || len(refresh) > maxRefreshTokenLen {
		return Session{}, "", time.Time{}, errRefreshInvalid()
	}
	hash, now := secretHash(refresh), s.now()
	newRefresh = newRefreshToken()
	expires = now.Add(RefreshTokenTTL)
	reused := false
	err = s.update(ctx, "refresh", func(tx *linlisync.Tx) error {
		rec, dev, err := liveSession(tx.Get, hash, now)
		if err != nil {
			reused = ErrorReason(err) == "refresh_token_reused"
			return err
		}
		rec.Spent = true
		if err := putRefresh(tx, hash, rec); err != nil {
			return err
		}
		next := *rec
		next.Spent, next.Expires = false, expires
		dev.Current, dev.RefreshedAt = secretHash(newRefresh), now
		if err := putRefresh(tx, dev.Current, &next); err != nil {
			return err
		}
		sess = Session{CommunityID: rec.Community, UserID: rec.User, ClientID: rec.Client}
		return putDevice(tx, dev)
	})
	if reused {
		if rerr := s.revokeFamily(ctx, hash); rerr != nil {
			return Session{}, "", time.Time{}, rerr
		}
	}
	if err != nil {
		return Session{}, "", time.Time{}, err
	}
	return sess, newRefresh, expires, nil
}

// SessionOf returns the session refresh token signs in, as Refresh would
// see it, without spending the token: for a browser session whose cookie
// holds a refresh token that is presented on every request and never
// traded. A spent token means someone traded it with Refresh (a copy was
// taken): the session is revoked, durably, and ErrSessionRevoked returned.
//
// Errors (*Error, all Unauthenticated): refresh_token_invalid (unknown or
// expired), member_removed, session_revoked. Otherwise storage errors.
func (s *Service) SessionOf(ctx context.Context, refresh string) (Session, error) {
	if refresh == "" || len(refresh) > maxRefreshTokenLen {
		return Session{}, errRefreshInvalid()
	}
	hash := secretHash(refresh)
	rec, _, err := liveSession(s.store.Get, hash, s.now())
	if ErrorReason(err) == "refresh_token_reused" {
		if rerr := s.revokeFamily(ctx, hash); rerr != nil {
			return Session{}, rerr
		}
		return Session{}, ErrSessionRevoked
	}
	if err != nil {
		return Session{}, err
	}
	return Session{CommunityID: rec.Community, UserID: rec.User, ClientID: rec.Client}, nil
}

// liveSession loads the token with hash and its device through get (a
// Tx's or the store's Get), refusing unless the token may be traded at now.
func liveSession(get func(string) ([]byte, bool, error), hash string, now time.Time) (*refreshRecord, *deviceRecord, error) {
	rec, ok, err := loadRefresh(get, hash)
	switch {
	case err != nil:
		return nil, nil, err
	case !ok:
		return nil, nil, errRefreshInvalid()
	case rec.Spent:
		return nil, nil, Errorf(Unauthenticated, "refresh_token_reused",
			"This sign-in was used from another device and has been ended for safety. Please sign in again.")
	case !now.Before(rec.Expires):
		return nil, nil, errRefreshInvalid()
	}
	if err := requireActive(get, rec.Community, rec.User); err != nil {
		if ErrorCode(err) == NotFound {
			err = errMemberRemoved()
		}
		return nil, nil, err
	}
	dev, ok, err := loadDevice(get, rec.User, rec.Client)
	if err != nil {
		return nil, nil, err
	}
	if !ok || dev.Revoked || dev.Family != rec.Family || dev.Current != hash {
		return nil, nil, ErrSessionRevoked
	}
	return rec, dev, nil
}

// revokeFamily revokes the device whose session the token with hash
// belongs to, if it is still that session. It commits on its own.
func (s *Service) revokeFamily(ctx context.Context, hash string) error {
	return s.update(ctx, "revoke token family", func(tx *linlisync.Tx) error {
		rec, ok, err := loadRefresh(tx.Get, hash)
		if err != nil || !ok {
			return err
		}
		dev, ok, err := loadDevice(tx.Get, rec.User, rec.Client)
		if err != nil || !ok || dev.Family != rec.Family {
			return err
		}
		return revokeDevice(tx, rec.User, rec.Client)
	})
}

// SignOut revokes the device: its refresh token stops working. Signing out
// a device that does not exist or is already revoked succeeds.
// Errors: storage errors.
func (s *Service) SignOut(ctx context.Context, userID, clientID string) error {
	if !validID(userID) || !validID(clientID) {
		return nil
	}
	return s.update(ctx, "sign out", func(tx *linlisync.Tx) error {
		return revokeDevice(tx, userID, clientID)
	})
}

// RevokeDevice revokes one of the user's devices (already revoked: no
// change). Errors: *Error NotFound device_not_found; storage errors.
func (s *Service) RevokeDevice(ctx context.Context, userID, clientID string) error {
	if !validID(userID) || !validID(clientID) {
		return errDeviceNotFound()
	}
	return s.update(ctx, "revoke device", func(tx *linlisync.Tx) error {
		_, ok, err := loadDevice(tx.Get, userID, clientID)
		if err != nil {
			return err
		}
		if !ok {
			return errDeviceNotFound()
		}
		return revokeDevice(tx, userID, clientID)
	})
}

// Device returns one committed device of the user; ok is false if there is
// none. Errors: storage or decoding errors.
func (s *Service) Device(userID, clientID string) (*linliv1.Device, bool, error) {
	if !validID(userID) || !validID(clientID) {
		return nil, false, nil
	}
	r, ok, err := loadDevice(s.store.Get, userID, clientID)
	if err != nil || !ok {
		return nil, false, err
	}
	return r.device(), true, nil
}

// Devices lists the user's devices, revoked ones included, newest sign-in
// first. Errors: storage or decoding errors.
func (s *Service) Devices(userID string) ([]*linliv1.Device, error) {
	if !validID(userID) {
		return nil, nil
	}
	ix, err := loadDeviceIndex(s.store.Get, userID)
	if err != nil {
		return nil, err
	}
	var out []*linliv1.Device
	for _, c := range ix.Clients {
		r, ok, err := loadDevice(s.store.Get, userID, c)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, r.device())
		}
	}
	slices.SortFunc(out, func(a, b *linliv1.Device) int {
		return cmp.Or(b.GetSignedInAt().AsTime().Compare(a.GetSignedInAt().AsTime()), cmp.Compare(a.GetClientId(), b.GetClientId()))
	})
	return out, nil
}

// requireActiveMember refuses with NotFound member_not_found or
// Unauthenticated member_removed.
func requireActiveMember(tx *linlisync.Tx, communityID, userID string) error {
	return requireActive(tx.Get, communityID, userID)
}

// requireActive is requireActiveMember through get.
func requireActive(get func(string) ([]byte, bool, error), communityID, userID string) error {
	m, ok, err := loadMember(get, communityID, userID)
	switch {
	case err != nil:
		return err
	case !ok:
		return errMemberNotFound()
	case m.GetRemoved():
		return errMemberRemoved()
	}
	return nil
}

func errRefreshInvalid() error {
	return Errorf(Unauthenticated, "refresh_token_invalid", "Your sign-in has expired. Please sign in again.")
}

func errMemberRemoved() error { return ErrMemberRemoved }

func errDeviceNotFound() error {
	return Errorf(NotFound, "device_not_found", "There is no such device.")
}
