package server

import (
	"bytes"
	"crypto/ed25519"
	gosync "sync"
	"sync/atomic"
	"time"
)

// verifiedTokens remembers access tokens that passed Verify, so that an app
// calling many times with one token pays for its Ed25519 signature check
// once: that check was a sixth of a push's CPU. A remembered token is
// accepted until its expiry, and only while the key that signed it is
// still in the key set; anything else is verified in full again.
type verifiedTokens struct {
	m gosync.Map // token → verifiedToken
	n atomic.Int64
}

type verifiedToken struct {
	p   Principal
	kid string
	key ed25519.PublicKey
}

// maxVerifiedTokens bounds the tokens remembered: about as many as apps
// active within a token's life; past it, all are forgotten at once.
const maxVerifiedTokens = 100_000

// lookup returns the Principal of a remembered token still valid at now
// and signed by a key of keys.
func (v *verifiedTokens) lookup(token string, now time.Time, keys *KeySet) (Principal, bool) {
	e, ok := v.m.Load(token)
	if !ok {
		return Principal{}, false
	}
	vt := e.(verifiedToken)
	if key, err := keys.PublicKey(vt.kid); err != nil || !bytes.Equal(key, vt.key) || !now.Before(vt.p.ExpiresAt) {
		v.m.Delete(token)
		return Principal{}, false
	}
	return vt.p, true
}

// remember keeps a token Verify accepted, signed by keys' key kid.
func (v *verifiedTokens) remember(token string, p Principal, kid string, keys *KeySet) {
	key, err := keys.PublicKey(kid)
	if err != nil {
		return
	}
	if v.n.Add(1) > maxVerifiedTokens {
		v.m.Clear()
		v.n.Store(1)
	}
	v.m.Store(token, verifiedToken{p: p, kid: kid, key: key})
}
