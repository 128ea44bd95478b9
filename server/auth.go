package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// Errors returned by this file. Their text is for logs, not for the wire.
var (
	// ErrInvalidToken is returned by Tokens.Verify for a token that is
	// malformed, badly signed, signed by an unknown key, not yet valid, for
	// another issuer or audience, or missing a required claim.
	ErrInvalidToken = errors.New("server: invalid token")
	// ErrTokenExpired is returned by Tokens.Verify for a correctly signed
	// token whose expiry (plus leeway) has passed.
	ErrTokenExpired = errors.New("server: token expired")
	// ErrKeysUnavailable is returned by Tokens.Verify, in a cluster, for
	// a token signed with a key this node does not hold while it cannot
	// reach the cluster to fetch it: the token may well be valid.
	ErrKeysUnavailable = errors.New("server: signing keys unavailable")
)

// Principal is the authenticated caller. A Principal returned by Verify or
// PrincipalFrom has a non-empty UserID and CommunityID and a valid Role;
// ClientID may be empty.
type Principal struct {
	UserID      string
	CommunityID string
	Role        mutualaid.Role
	ClientID    string
	ExpiresAt   time.Time
}

// Claims is the JWT payload linli signs. Subject is the user id. Its JSON
// names are on the wire: never change them.
type Claims struct {
	jwt.RegisteredClaims
	Community string `json:"community"`
	Role      string `json:"role"`
	Client    string `json:"client,omitempty"`
}

// The "iss" and "aud" of every token linli mints and accepts.
const (
	tokenIssuer   = "linli"
	tokenAudience = "linli"
)

// tokenLeeway is the clock skew tolerated on exp and nbf.
const tokenLeeway = 30 * time.Second

// Tokens mints and verifies EdDSA (Ed25519) JWTs with the keys of a KeySet:
// it signs with the current key and accepts any key in the set, chosen by
// the token's "kid" header. It is safe for concurrent use once Now is set.
type Tokens struct {
	// Now returns the current time; nil means time.Now. Tests set it before
	// first use; never change it afterwards.
	Now func() time.Time
	// UnknownKey, if set, is called when a token names a key the set does
	// not hold, to reload the set: the token is then checked once more (in
	// a cluster, another node may have made the key moments ago). It
	// returns an error if the keys could not be reloaded (the cluster is
	// out of reach): Verify then fails with ErrKeysUnavailable. Set it
	// before first use.
	UnknownKey func() error

	keys     atomic.Pointer[KeySet]
	parser   *jwt.Parser
	verified verifiedTokens
}

// NewTokens returns Tokens for keys, with issuer and audience "linli".
//
// REQUIRES: keys comes from LoadOrCreateKeys or AddKey.
func NewTokens(keys *KeySet) *Tokens {
	t := &Tokens{}
	t.keys.Store(keys)
	t.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(tokenIssuer),
		jwt.WithAudience(tokenAudience),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(tokenLeeway),
		jwt.WithTimeFunc(t.now),
	)
	return t
}

// SetKeys replaces the key set: tokens are minted with its current key and
// verified with any of its keys from now on. Safe for concurrent use.
func (t *Tokens) SetKeys(keys *KeySet) { t.keys.Store(keys) }

func (t *Tokens) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// Mint returns a token for p, valid from now for ttl (p.ExpiresAt is
// ignored), signed with the current key and carrying its "kid" header, iss,
// aud, iat, nbf, exp and a random jti. Times are whole seconds.
//
// Errors: p has an empty UserID or CommunityID, or an invalid Role
// (mutualaid.ErrInvalidRole); ttl is not positive; signing fails.
func (t *Tokens) Mint(p Principal, ttl time.Duration) (string, error) {
	if err := p.validate(); err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	if ttl <= 0 {
		return "", fmt.Errorf("mint token: ttl %v is not positive", ttl)
	}
	now := t.now()
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    tokenIssuer,
			Subject:   p.UserID,
			Audience:  jwt.ClaimStrings{tokenAudience},
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        rand.Text(),
		},
		Community: p.CommunityID,
		Role:      string(p.Role),
		Client:    p.ClientID,
	}
	kid, key := t.keys.Load().signer()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	return s, nil
}

// Verify checks token and returns its Principal. It accepts only EdDSA
// tokens signed by the key of the set named by their "kid" header, with iss
// and aud "linli", an exp, exp and nbf met within 30 seconds of leeway, and
// a subject, community and valid role.
//
// Errors: ErrTokenExpired for a correctly signed token past its expiry;
// ErrKeysUnavailable (in a cluster) for a key that could not be fetched;
// ErrInvalidToken for anything else. All wrap the cause, for logs only.
func (t *Tokens) Verify(token string) (Principal, error) {
	if p, ok := t.verified.lookup(token, t.now(), t.keys.Load()); ok {
		return p, nil
	}
	// A token's first check runs on a goroutine of its own: parsing and
	// Ed25519 need a deep stack, and the caller's goroutine may live on
	// as a Subscribe stream, keeping a stack grown here for hours (16 KB
	// instead of 8 a stream). Checks after the first hit the cache.
	type verdict struct {
		p   Principal
		err error
	}
	done := make(chan verdict, 1)
	go func() {
		p, err := t.verifySignature(token)
		done <- verdict{p, err}
	}()
	v := <-done
	return v.p, v.err
}

// verifySignature checks token's signature and claims, and remembers a
// token it accepts.
func (t *Tokens) verifySignature(token string) (Principal, error) {
	var c Claims
	tok, err := t.parser.ParseWithClaims(token, &c, t.verificationKey)
	if err != nil && errors.Is(err, ErrKeyNotFound) && t.UnknownKey != nil {
		if rerr := t.UnknownKey(); rerr != nil {
			return Principal{}, fmt.Errorf("%w: %w", ErrKeysUnavailable, rerr)
		}
		c = Claims{}
		tok, err = t.parser.ParseWithClaims(token, &c, t.verificationKey)
	}
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Principal{}, fmt.Errorf("%w: %w", ErrTokenExpired, err)
		}
		return Principal{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	p := Principal{
		UserID:      c.Subject,
		CommunityID: c.Community,
		Role:        mutualaid.Role(c.Role),
		ClientID:    c.Client,
		ExpiresAt:   c.ExpiresAt.UTC(),
	}
	if err := p.validate(); err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	kid, _ := tok.Header["kid"].(string)
	t.verified.remember(token, p, kid, t.keys.Load())
	return p, nil
}

// verificationKey is the jwt.Keyfunc: the public key named by "kid".
func (t *Tokens) verificationKey(tok *jwt.Token) (any, error) {
	kid, _ := tok.Header["kid"].(string)
	key, err := t.keys.Load().PublicKey(kid)
	if err != nil {
		return nil, err
	}
	return key, nil
}

// validate checks the fields every Principal must have.
func (p Principal) validate() error {
	switch {
	case p.UserID == "":
		return errors.New("missing user id (subject)")
	case p.CommunityID == "":
		return errors.New("missing community")
	}
	_, err := mutualaid.ParseRole(string(p.Role))
	return err
}

// principalKey is the context key of the authenticated Principal.
type principalKey struct{}

// ContextWithPrincipal returns a copy of ctx carrying p.
func ContextWithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the Principal stored in ctx by Authenticate or
// ContextWithPrincipal, and false if there is none (a public procedure).
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// authFailure is why a request was not authenticated: a machine-readable
// reason and a message safe to show.
type authFailure struct {
	reason, message string
	// unavailable answers Unavailable (retry) instead of Unauthenticated.
	unavailable bool
}

var (
	failMissing = authFailure{reason: "token_missing", message: "missing bearer token"}
	failInvalid = authFailure{reason: "token_invalid", message: "invalid token"}
	failExpired = authFailure{reason: "token_expired", message: "token expired"}
	failNoKeys  = authFailure{reason: "node_catching_up", message: "this node cannot check the token now: try again", unavailable: true}
)

// Authenticate returns HTTP middleware that lets through requests whose
// r.URL.Path is in public, and otherwise requires "Authorization: Bearer
// <jwt>" accepted by t.Verify, passing the Principal on in the request
// context (see PrincipalFrom). Being HTTP middleware it covers unary and
// streaming procedures alike. public is copied; later changes are ignored.
//
// On failure the next handler is not called. The response has header
// "WWW-Authenticate: Bearer" and, for Connect, gRPC and gRPC-Web requests,
// a Connect error of code Unauthenticated with a safe message ("missing
// bearer token", "invalid token" or "token expired") and a
// *linliv1.ErrorDetail whose Reason is "token_missing", "token_invalid" or
// "token_expired". Other requests get a plain-text 401 with the message.
// Tokens are never logged.
func Authenticate(t *Tokens, public map[string]bool) func(http.Handler) http.Handler {
	public = maps.Clone(public)
	ew := connect.NewErrorWriter()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if public[r.URL.Path] {
				next.ServeHTTP(w, r)
				return
			}
			p, fail := t.authenticate(r)
			if fail != nil {
				writeAuthFailure(ew, w, r, *fail)
				return
			}
			next.ServeHTTP(w, r.WithContext(ContextWithPrincipal(r.Context(), p)))
		})
	}
}

// authenticate verifies the request's bearer token.
func (t *Tokens) authenticate(r *http.Request) (Principal, *authFailure) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return Principal{}, &failMissing
	}
	if len(values) > 1 {
		return Principal{}, &failInvalid
	}
	scheme, token, _ := strings.Cut(values[0], " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return Principal{}, &failMissing
	}
	p, err := t.Verify(token)
	switch {
	case errors.Is(err, ErrTokenExpired):
		return Principal{}, &failExpired
	case errors.Is(err, ErrKeysUnavailable):
		return Principal{}, &failNoKeys
	case err != nil:
		return Principal{}, &failInvalid
	}
	return p, nil
}

// writeAuthFailure answers an unauthenticated request in its protocol.
func writeAuthFailure(ew *connect.ErrorWriter, w http.ResponseWriter, r *http.Request, f authFailure) {
	code, status := connect.CodeUnauthenticated, http.StatusUnauthorized
	if f.unavailable {
		code, status = connect.CodeUnavailable, http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
	} else {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	if !ew.IsSupported(r) {
		http.Error(w, f.message, status)
		return
	}
	cerr := connect.NewError(code, errors.New(f.message))
	if d, err := connect.NewErrorDetail(&linliv1.ErrorDetail{Reason: f.reason}); err == nil {
		cerr.AddDetail(d)
	}
	// An error here means the client has gone: there is no one to tell.
	_ = ew.Write(w, r, cerr)
}
