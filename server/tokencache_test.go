package server

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestVerifiedTokens: a token verified once is accepted again from memory,
// but never past its expiry and never once its key has left the key set.
func TestVerifiedTokens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ks := mustLoadKeys(t, dir)
	tokens := NewTokens(ks)
	var now atomic.Int64
	now.Store(testNow.UnixNano())
	tokens.Now = func() time.Time { return time.Unix(0, now.Load()) }
	tok, err := tokens.Mint(testPrincipal, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if p, err := tokens.Verify(tok); err != nil || p.UserID != testPrincipal.UserID {
			t.Fatalf("Verify = %+v, %v", p, err)
		}
	}
	if _, ok := tokens.verified.m.Load(tok); !ok {
		t.Fatal("a verified token was not remembered")
	}

	t.Run("Expired", func(t *testing.T) {
		now.Store(testNow.Add(time.Hour + time.Minute).UnixNano())
		defer now.Store(testNow.UnixNano())
		if _, err := tokens.Verify(tok); !errors.Is(err, ErrTokenExpired) {
			t.Fatalf("Verify after expiry = %v, want ErrTokenExpired", err)
		}
	})
	t.Run("KeyRetired", func(t *testing.T) {
		if _, err := tokens.Verify(tok); err != nil {
			t.Fatal(err)
		}
		other := mustLoadKeys(t, t.TempDir()) // a set without the token's key
		tokens.SetKeys(other)
		defer tokens.SetKeys(ks)
		if _, err := tokens.Verify(tok); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("Verify after its key left the set = %v, want ErrInvalidToken", err)
		}
	})
}
