package server

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/protobuf/proto"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
)

// testNow is the clock of every Tokens under test.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// authEnv is a fresh key set in a temp dir and Tokens reading testNow.
type authEnv struct {
	tokens *Tokens
	kid    string
	priv   ed25519.PrivateKey
}

func newAuthEnv(t *testing.T) authEnv {
	t.Helper()
	ks := mustLoadKeys(t, t.TempDir())
	tokens := NewTokens(ks)
	tokens.Now = func() time.Time { return testNow }
	kid, priv := ks.signer()
	return authEnv{tokens: tokens, kid: kid, priv: priv}
}

// validClaims returns the claims Mint would write for testPrincipal.
func validClaims() Claims {
	return Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    "linli",
			Subject:   testPrincipal.UserID,
			Audience:  jwt.ClaimStrings{"linli"},
			ExpiresAt: jwt.NewNumericDate(testNow.Add(time.Hour)),
			NotBefore: jwt.NewNumericDate(testNow),
			IssuedAt:  jwt.NewNumericDate(testNow),
			ID:        "jti-1",
		},
		Community: testPrincipal.CommunityID,
		Role:      string(testPrincipal.Role),
		Client:    testPrincipal.ClientID,
	}
}

// sign signs claims with method and key, setting header kid unless empty.
func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, c Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// signValid signs claims changed by edit with the current key.
func signValid(edit func(*Claims)) func(*testing.T, authEnv) string {
	return func(t *testing.T, e authEnv) string {
		c := validClaims()
		edit(&c)
		return "Bearer " + sign(t, jwt.SigningMethodEdDSA, e.priv, e.kid, c)
	}
}

func otherKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// badTokenTests are Authorization header values ("" for none) that must be
// refused, with the reason the middleware must give.
var badTokenTests = []struct {
	name       string
	header     func(*testing.T, authEnv) string
	wantReason string
}{
	{"MissingHeader", func(*testing.T, authEnv) string { return "" }, "token_missing"},
	{"NotBearer", func(t *testing.T, e authEnv) string {
		return "Basic " + mustMint(t, e.tokens)
	}, "token_missing"},
	{"EmptyBearer", func(*testing.T, authEnv) string { return "Bearer " }, "token_missing"},
	{"Garbage", func(*testing.T, authEnv) string { return "Bearer not.a-jwt" }, "token_invalid"},
	{"AlgNoneByHand", func(t *testing.T, e authEnv) string {
		enc := base64.RawURLEncoding
		payload, err := json.Marshal(validClaims())
		if err != nil {
			t.Fatal(err)
		}
		header := enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
		return "Bearer " + header + "." + enc.EncodeToString(payload) + "."
	}, "token_invalid"},
	{"AlgNoneViaLibrary", func(t *testing.T, e authEnv) string {
		return "Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, e.kid, validClaims())
	}, "token_invalid"},
	{"HS256WithPublicKeyAsSecret", func(t *testing.T, e authEnv) string {
		pub := e.priv.Public().(ed25519.PublicKey)
		return "Bearer " + sign(t, jwt.SigningMethodHS256, []byte(pub), e.kid, validClaims())
	}, "token_invalid"},
	{"OtherKeySameKid", func(t *testing.T, e authEnv) string {
		return "Bearer " + sign(t, jwt.SigningMethodEdDSA, otherKey(t), e.kid, validClaims())
	}, "token_invalid"},
	{"UnknownKid", func(t *testing.T, e authEnv) string {
		return "Bearer " + sign(t, jwt.SigningMethodEdDSA, otherKey(t), "0123456789abcdef", validClaims())
	}, "token_invalid"},
	{"MissingKid", func(t *testing.T, e authEnv) string {
		return "Bearer " + sign(t, jwt.SigningMethodEdDSA, e.priv, "", validClaims())
	}, "token_invalid"},
	{"Expired", signValid(func(c *Claims) {
		c.IssuedAt = jwt.NewNumericDate(testNow.Add(-2 * time.Hour))
		c.NotBefore = c.IssuedAt
		c.ExpiresAt = jwt.NewNumericDate(testNow.Add(-time.Minute))
	}), "token_expired"},
	{"NotYetValid", signValid(func(c *Claims) {
		c.NotBefore = jwt.NewNumericDate(testNow.Add(time.Minute))
	}), "token_invalid"},
	{"MissingExpiry", signValid(func(c *Claims) { c.ExpiresAt = nil }), "token_invalid"},
	{"WrongIssuer", signValid(func(c *Claims) { c.Issuer = "evil" }), "token_invalid"},
	{"WrongAudience", signValid(func(c *Claims) { c.Audience = jwt.ClaimStrings{"other"} }), "token_invalid"},
	{"TamperedPayload", func(t *testing.T, e authEnv) string {
		return "Bearer " + tamperRole(t, mustMint(t, e.tokens), mutualaid.RoleAdmin)
	}, "token_invalid"},
	{"MissingSubject", signValid(func(c *Claims) { c.Subject = "" }), "token_invalid"},
	{"MissingCommunity", signValid(func(c *Claims) { c.Community = "" }), "token_invalid"},
	{"BadRole", signValid(func(c *Claims) { c.Role = "superuser" }), "token_invalid"},
}

// tamperRole rewrites the role in tok's payload, keeping its signature.
func tamperRole(t *testing.T, tok string, role mutualaid.Role) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	old := `"role":"` + string(testPrincipal.Role) + `"`
	if !strings.Contains(string(payload), old) {
		t.Fatalf("payload %s lacks %s", payload, old)
	}
	payload = []byte(strings.Replace(string(payload), old, `"role":"`+string(role)+`"`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	for _, tt := range badTokenTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newAuthEnv(t)
			token := strings.TrimPrefix(tt.header(t, e), "Bearer ")
			want := ErrInvalidToken
			if tt.wantReason == "token_expired" {
				want = ErrTokenExpired
			}
			p, err := e.tokens.Verify(token)
			if !errors.Is(err, want) {
				t.Errorf("Verify = (%+v, %v), want error %v", p, err, want)
			}
			if p != (Principal{}) {
				t.Errorf("Verify returned principal %+v with error, want zero", p)
			}
		})
	}
}

func TestAuthenticateRejects(t *testing.T) {
	t.Parallel()
	for _, tt := range badTokenTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newAuthEnv(t)
			header := tt.header(t, e)
			var reached atomic.Int64
			srv, client := newAuthServer(t, e.tokens, nil, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
				reached.Add(1)
			}))
			for _, call := range rejectCalls {
				t.Run(call.name, func(t *testing.T) {
					call.check(t, client, srv.URL, header, tt.wantReason)
				})
			}
			if n := reached.Load(); n != 0 {
				t.Errorf("handler reached %d times, want 0", n)
			}
		})
	}
}

// messages are the safe messages for each reason.
var messages = map[string]string{
	"token_missing": "missing bearer token",
	"token_invalid": "invalid token",
	"token_expired": "token expired",
}

// rejectCalls each call the server in one protocol and check the refusal.
var rejectCalls = []struct {
	name  string
	check func(t *testing.T, c *http.Client, url, header, wantReason string)
}{
	{"PlainPOST", checkPlainPOST},
	{"PlainGET", checkPlainGET},
	{"ConnectUnary", checkRPC(false)},
	{"ConnectStream", checkRPC(true)},
	{"GRPCUnary", checkRPC(false, connect.WithGRPC())},
	{"GRPCStream", checkRPC(true, connect.WithGRPC())},
	{"GRPCWebUnary", checkRPC(false, connect.WithGRPCWeb())},
}

// checkPlainPOST sends a request in no RPC protocol: plain-text 401.
func checkPlainPOST(t *testing.T, c *http.Client, url, header, wantReason string) {
	res, body := do(t, c, http.MethodPost, url+linliv1connect.SyncServicePushProcedure, header, "text/plain")
	checkStatusAndChallenge(t, res)
	if got, want := body, messages[wantReason]+"\n"; got != want {
		t.Errorf("body = %q, want %q", got, want)
	}
}

// checkPlainGET sends a bare GET, which Connect treats as a unary GET:
// Connect JSON error with status 401.
func checkPlainGET(t *testing.T, c *http.Client, url, header, wantReason string) {
	res, body := do(t, c, http.MethodGet, url+linliv1connect.SyncServicePullProcedure, header, "")
	checkStatusAndChallenge(t, res)
	var wire struct {
		Code, Message string
		Details       []struct{ Type, Value string }
	}
	if err := json.Unmarshal([]byte(body), &wire); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if wire.Code != "unauthenticated" || wire.Message != messages[wantReason] {
		t.Errorf("error = %s %q, want unauthenticated %q", wire.Code, wire.Message, messages[wantReason])
	}
	if len(wire.Details) != 1 || wire.Details[0].Type != "linli.v1.ErrorDetail" {
		t.Fatalf("details = %+v, want one linli.v1.ErrorDetail", wire.Details)
	}
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(wire.Details[0].Value, "="))
	if err != nil {
		t.Fatal(err)
	}
	var d linliv1.ErrorDetail
	if err := proto.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	if got := d.GetReason(); got != wantReason {
		t.Errorf("reason = %q, want %q", got, wantReason)
	}
}

func do(t *testing.T, c *http.Client, method, url, header, contentType string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	if header != "" {
		req.Header.Set("Authorization", header)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

func checkStatusAndChallenge(t *testing.T, res *http.Response) {
	t.Helper()
	if got, want := res.StatusCode, http.StatusUnauthorized; got != want {
		t.Errorf("status = %d, want %d", got, want)
	}
	if got, want := res.Header.Get("WWW-Authenticate"), "Bearer"; got != want {
		t.Errorf("WWW-Authenticate = %q, want %q", got, want)
	}
}

// checkRPC calls Push (unary) or Subscribe (server stream) with a generated
// client in the protocol opts select, and checks the Connect error.
func checkRPC(stream bool, opts ...connect.ClientOption) func(*testing.T, *http.Client, string, string, string) {
	return func(t *testing.T, c *http.Client, url, header, wantReason string) {
		client := linliv1connect.NewSyncServiceClient(c, url, opts...)
		ctx, info := connect.NewClientContext(t.Context())
		if header != "" {
			info.RequestHeader().Set("Authorization", header)
		}
		var err error
		if stream {
			s, callErr := client.Subscribe(ctx, &linliv1.SubscribeRequest{ProtocolVersion: 1})
			if callErr != nil {
				t.Fatalf("Subscribe: %v", callErr)
			}
			defer s.Close()
			for s.Receive() {
				t.Errorf("Receive: got a message, want none")
			}
			err = s.Err()
		} else {
			_, err = client.Push(ctx, &linliv1.PushRequest{ProtocolVersion: 1})
		}
		checkConnectError(t, err, info.ResponseHeader(), wantReason)
	}
}

// checkConnectError checks code, message, detail reason and challenge.
func checkConnectError(t *testing.T, err error, resHeader http.Header, wantReason string) {
	t.Helper()
	var cerr *connect.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("error = %v, want a *connect.Error", err)
	}
	if got, want := cerr.Code(), connect.CodeUnauthenticated; got != want {
		t.Errorf("code = %v, want %v", got, want)
	}
	if got, want := cerr.Message(), messages[wantReason]; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	if got := detailReasons(t, cerr); len(got) != 1 || got[0] != wantReason {
		t.Errorf("detail reasons = %q, want [%q]", got, wantReason)
	}
	challenge := cerr.Meta().Get("WWW-Authenticate")
	if challenge == "" && resHeader != nil {
		challenge = resHeader.Get("WWW-Authenticate")
	}
	if challenge != "Bearer" {
		t.Errorf("WWW-Authenticate = %q, want %q", challenge, "Bearer")
	}
}

func detailReasons(t *testing.T, cerr *connect.Error) []string {
	t.Helper()
	var reasons []string
	for _, d := range cerr.Details() {
		v, err := d.Value()
		if err != nil {
			t.Fatalf("detail %s: %v", d.Type(), err)
		}
		if ed, ok := v.(*linliv1.ErrorDetail); ok {
			reasons = append(reasons, ed.GetReason())
		}
	}
	return reasons
}

// newAuthServer serves next behind Authenticate over HTTP/1.1 and h2c, and
// returns a client speaking h2c (which gRPC needs).
func newAuthServer(t *testing.T, tokens *Tokens, public map[string]bool, next http.Handler) (*httptest.Server, *http.Client) {
	t.Helper()
	srv := httptest.NewUnstartedServer(Authenticate(tokens, public)(next))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	transport := &http.Transport{Protocols: new(http.Protocols)}
	transport.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(transport.CloseIdleConnections)
	return srv, &http.Client{Transport: transport}
}

// principalRecorder is a handler that records the caller's Principal.
type principalRecorder struct {
	calls atomic.Int64
	got   atomic.Pointer[Principal]
}

func (pr *principalRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pr.calls.Add(1)
	if p, ok := PrincipalFrom(r.Context()); ok {
		pr.got.Store(&p)
	}
	w.WriteHeader(http.StatusOK)
}

func TestAuthenticateAccepts(t *testing.T) {
	t.Parallel()
	withoutClient := testPrincipal
	withoutClient.ClientID = ""
	withExpiry := func(p Principal, exp time.Time) Principal { p.ExpiresAt = exp; return p }
	tests := []struct {
		name   string
		header func(*testing.T, authEnv) string
		want   Principal
	}{
		{"Minted", func(t *testing.T, e authEnv) string {
			return "Bearer " + mustMint(t, e.tokens)
		}, withExpiry(testPrincipal, testNow.Add(time.Hour))},
		{"MintedWithoutClient", func(t *testing.T, e authEnv) string {
			tok, err := e.tokens.Mint(withoutClient, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			return "Bearer " + tok
		}, withExpiry(withoutClient, testNow.Add(time.Minute))},
		{"LowercaseScheme", func(t *testing.T, e authEnv) string {
			return "bearer " + mustMint(t, e.tokens)
		}, withExpiry(testPrincipal, testNow.Add(time.Hour))},
		{"ExpiredWithinLeeway", signValid(func(c *Claims) {
			c.ExpiresAt = jwt.NewNumericDate(testNow.Add(-10 * time.Second))
		}), withExpiry(testPrincipal, testNow.Add(-10*time.Second))},
		{"NotBeforeWithinLeeway", signValid(func(c *Claims) {
			c.NotBefore = jwt.NewNumericDate(testNow.Add(10 * time.Second))
		}), withExpiry(testPrincipal, testNow.Add(time.Hour))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newAuthEnv(t)
			header := tt.header(t, e)

			got, err := e.tokens.Verify(strings.TrimPrefix(strings.TrimPrefix(header, "Bearer "), "bearer "))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			checkPrincipal(t, got, tt.want)

			rec := new(principalRecorder)
			srv, client := newAuthServer(t, e.tokens, nil, rec)
			res, _ := do(t, client, http.MethodPost, srv.URL+linliv1connect.SyncServicePushProcedure, header, "application/proto")
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200", res.StatusCode)
			}
			p := rec.got.Load()
			if p == nil {
				t.Fatalf("handler saw no principal (calls: %d)", rec.calls.Load())
			}
			checkPrincipal(t, *p, tt.want)
		})
	}
}

func checkPrincipal(t *testing.T, got, want Principal) {
	t.Helper()
	if !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("ExpiresAt = %v, want %v", got.ExpiresAt, want.ExpiresAt)
	}
	got.ExpiresAt, want.ExpiresAt = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("principal = %+v, want %+v", got, want)
	}
}

func TestAuthenticatePublic(t *testing.T) {
	t.Parallel()
	const health = "/grpc.health.v1.Health/Check"
	public := map[string]bool{health: true}
	tests := []struct {
		name, path, header string
		wantStatus         int
		wantReached        bool
	}{
		{"AllowListedWithoutToken", health, "", http.StatusOK, true},
		{"AllowListedWithGarbageToken", health, "Bearer garbage", http.StatusOK, true},
		{"OtherMethodOfSameService", "/grpc.health.v1.Health/Watch", "", http.StatusUnauthorized, false},
		{"TrailingSlash", health + "/", "", http.StatusUnauthorized, false},
		{"Prefix", "/grpc.health.v1.Health/", "", http.StatusUnauthorized, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newAuthEnv(t)
			rec := new(principalRecorder)
			srv, client := newAuthServer(t, e.tokens, public, rec)
			res, _ := do(t, client, http.MethodPost, srv.URL+tt.path, tt.header, "application/proto")
			if got := res.StatusCode; got != tt.wantStatus {
				t.Errorf("status = %d, want %d", got, tt.wantStatus)
			}
			if got := rec.calls.Load() == 1; got != tt.wantReached {
				t.Errorf("handler reached = %v, want %v", got, tt.wantReached)
			}
			if p := rec.got.Load(); p != nil {
				t.Errorf("public handler saw principal %+v, want none", *p)
			}
		})
	}
}

func TestMintRefuses(t *testing.T) {
	t.Parallel()
	with := func(edit func(*Principal)) Principal { p := testPrincipal; edit(&p); return p }
	tests := []struct {
		name string
		p    Principal
		ttl  time.Duration
	}{
		{"MissingUser", with(func(p *Principal) { p.UserID = "" }), time.Hour},
		{"MissingCommunity", with(func(p *Principal) { p.CommunityID = "" }), time.Hour},
		{"MissingRole", with(func(p *Principal) { p.Role = "" }), time.Hour},
		{"BadRole", with(func(p *Principal) { p.Role = "Admin" }), time.Hour},
		{"ZeroTTL", testPrincipal, 0},
		{"NegativeTTL", testPrincipal, -time.Minute},
	}
	e := newAuthEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tok, err := e.tokens.Mint(tt.p, tt.ttl); err == nil {
				t.Errorf("Mint = %d-byte token, nil error; want an error", len(tok))
			}
		})
	}
}

func TestMintClaims(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	tok1, tok2 := mustMint(t, e.tokens), mustMint(t, e.tokens)
	var c Claims
	parsed, _, err := jwt.NewParser().ParseUnverified(tok1, &c)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := parsed.Header["alg"], "EdDSA"; got != want {
		t.Errorf("alg = %v, want %s", got, want)
	}
	if got, want := parsed.Header["kid"], e.kid; got != want {
		t.Errorf("kid = %v, want %s", got, want)
	}
	checks := []struct{ name, got, want string }{
		{"iss", c.Issuer, "linli"},
		{"aud", strings.Join(c.Audience, ","), "linli"},
		{"sub", c.Subject, testPrincipal.UserID},
		{"community", c.Community, testPrincipal.CommunityID},
		{"role", c.Role, string(testPrincipal.Role)},
		{"client", c.Client, testPrincipal.ClientID},
		{"iat", c.IssuedAt.UTC().String(), testNow.String()},
		{"nbf", c.NotBefore.UTC().String(), testNow.String()},
		{"exp", c.ExpiresAt.UTC().String(), testNow.Add(time.Hour).String()},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.name, ch.got, ch.want)
		}
	}
	if c.ID == "" || c.ID == headerJTI(t, tok2) {
		t.Errorf("jti = %q, second token jti = %q; want distinct non-empty", c.ID, headerJTI(t, tok2))
	}
}

func headerJTI(t *testing.T, tok string) string {
	t.Helper()
	var c Claims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func TestPrincipalContext(t *testing.T) {
	t.Parallel()
	if p, ok := PrincipalFrom(context.Background()); ok {
		t.Errorf("PrincipalFrom(empty) = (%+v, true), want false", p)
	}
	ctx := ContextWithPrincipal(context.Background(), testPrincipal)
	if got, ok := PrincipalFrom(ctx); !ok || got != testPrincipal {
		t.Errorf("PrincipalFrom = (%+v, %v), want (%+v, true)", got, ok, testPrincipal)
	}
}

// TestVerifyUnknownKey: a token signed with a key the node lacks is checked
// again after UnknownKey reloads the keys; while they cannot be reloaded
// (a cluster node cut off) it is neither accepted nor called invalid.
func TestVerifyUnknownKey(t *testing.T) {
	other := newAuthEnv(t)
	tok := mustMint(t, other.tokens)

	t.Run("ReloadFails", func(t *testing.T) {
		e := newAuthEnv(t)
		e.tokens.UnknownKey = func() error { return errors.New("cluster out of reach") }
		if _, err := e.tokens.Verify(tok); !errors.Is(err, ErrKeysUnavailable) || errors.Is(err, ErrInvalidToken) {
			t.Fatalf("Verify = %v, want ErrKeysUnavailable", err)
		}
		r := httptest.NewRequest(http.MethodPost, "/linli.v1.SyncService/Pull", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		_, fail := e.tokens.authenticate(r)
		if fail == nil {
			t.Fatal("authenticate accepted a token it cannot check")
		}
		if fail.reason != "node_catching_up" || !fail.unavailable {
			t.Fatalf("authenticate failure %+v, want node_catching_up, unavailable", *fail)
		}
	})
	t.Run("ReloadedKeyStillUnknown", func(t *testing.T) {
		e := newAuthEnv(t)
		e.tokens.UnknownKey = func() error { return nil }
		if _, err := e.tokens.Verify(tok); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("Verify = %v, want ErrInvalidToken", err)
		}
	})
	t.Run("ReloadBringsTheKey", func(t *testing.T) {
		e := newAuthEnv(t)
		e.tokens.UnknownKey = func() error { e.tokens.SetKeys(other.tokens.keys.Load()); return nil }
		if _, err := e.tokens.Verify(tok); err != nil {
			t.Fatalf("Verify = %v, want the token accepted after the reload", err)
		}
	})
}
