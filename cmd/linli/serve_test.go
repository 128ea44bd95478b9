package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/linli/linli/internal/bearer"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server"
)

// TestServeRunsAndStops: serve on :0 in a temp dir answers health, prints
// a one-time admin code and how to join with it, lets the admin join and
// pull over plain HTTP, and returns 0 when its context ends.
func TestServeRunsAndStops(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	// A read-only admin command that fails first leaves an empty store:
	// the first serve still sets the community up.
	if code, _, _ := runCmd(t, "admin", "report", "--data", dir, "--community", "home"); code == 0 {
		t.Fatal("report of a community that does not exist succeeded")
	}
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data", dir, "--log-format", "json"}, &stdout, &stderr)
	}()
	addr := waitFor(t, &stderr, `"addr":"`, `"`)
	base := "http://" + addr
	res, err := http.Get(base + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", res, err)
	}
	res.Body.Close()
	waitFor(t, &stdout, "/linli.v1.AuthService/Join", "\n")
	code := codeLine(stdout.String())
	if code == "" {
		t.Fatalf("first start did not print a 20-character admin code on a line of its own:\n%s", stdout.String())
	}
	if fi, err := os.Stat(filepath.Join(dir, "keys")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("keys folder: %v %v", fi, err)
	}

	// Join as the printed curl does, then pull with the access token.
	join := `{"protocolVersion":1,"code":"` + code + `","clientId":"laptop","displayName":"Admin"}`
	status, body := postJSON(t, base+"/linli.v1.AuthService/Join", "", join)
	if status != http.StatusOK {
		t.Fatalf("join with the printed code: %d %s", status, body)
	}
	var joined struct {
		Member struct{ UserId, CommunityId, Role string }
		Tokens struct{ AccessToken string }
	}
	if err := json.Unmarshal(body, &joined); err != nil {
		t.Fatalf("join answered %s: %v", body, err)
	}
	if m := joined.Member; m.UserId == "" || m.CommunityId != "home" || m.Role != "ROLE_ADMIN" || joined.Tokens.AccessToken == "" {
		t.Fatalf("join answered %s, want an admin of home with an access token", body)
	}
	status, body = postJSON(t, base+"/linli.v1.SyncService/Pull", joined.Tokens.AccessToken, `{"protocolVersion":1}`)
	if status != http.StatusOK {
		t.Fatalf("pull as the admin: %d %s", status, body)
	}
	type change struct{ Scope, EntityId string }
	var pulled struct{ Changes []change }
	if err := json.Unmarshal(body, &pulled); err != nil {
		t.Fatalf("pull answered %s: %v", body, err)
	}
	if !slices.Contains(pulled.Changes, change{"community/home", "community/home"}) {
		t.Errorf("pull as the admin: no community/home in community/home: %s", body)
	}
	// The code was for one person only.
	if status, body := postJSON(t, base+"/linli.v1.AuthService/Join", "", join); status != http.StatusBadRequest {
		t.Errorf("second join with the one-time code: %d %s, want 400", status, body)
	}

	// A live stream ends with shutting_down when the server stops, so the
	// app reconnects elsewhere or later; it does not hold the shutdown up.
	api := linliv1connect.NewSyncServiceClient(http.DefaultClient, base, connect.WithInterceptors(bearer.Token(joined.Tokens.AccessToken)))
	stream, err := api.Subscribe(t.Context(), &linliv1.SubscribeRequest{ProtocolVersion: 1})
	if err != nil || !stream.Receive() {
		t.Fatalf("subscribe: %v %v", err, stream.Err())
	}
	ended := make(chan error, 1)
	go func() {
		for stream.Receive() {
		}
		ended <- stream.Err()
	}()

	cancel()
	select {
	case err := <-ended:
		if connect.CodeOf(err) != connect.CodeUnavailable || !strings.Contains(err.Error(), "shutting down") {
			t.Errorf("stream at shutdown ended with %v, want Unavailable shutting down", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream outlived the shutdown")
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d: %s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// TestAdminSetsUpCommunity: admin init, building and join-code make a
// community whose codes work, and refuse bad input with a non-zero exit.
func TestAdminSetsUpCommunity(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Run(t.Context(), append([]string{"admin"}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	community := []string{"--data", dir, "--community", "c1", "--name", "玉桥社区", "--district", "通州区", "--street-office", "玉桥街道"}

	if code, out, errs := run("init", "--data", dir, "--name", "玉桥社区", "--district", "通州区", "--street-office", "玉桥街道"); code == 0 {
		t.Errorf("init without --community: exit 0, want an error; stdout:\n%s", out)
	} else if errs == "" {
		t.Error("init without --community: nothing on stderr")
	}
	code, out, errs := run(append([]string{"init"}, community...)...)
	if code != 0 {
		t.Fatalf("init: exit %d: %s", code, errs)
	}
	if codeLine(out) == "" {
		t.Errorf("init printed no 20-character admin code on a line of its own:\n%s", out)
	}
	if code, _, _ := run(append([]string{"init"}, community...)...); code == 0 {
		t.Error("init of an existing community: exit 0")
	}

	if code, out, _ := run("building", "--data", dir, "--community", "nope", "--id", "b1", "--name", "1号楼"); code == 0 {
		t.Errorf("building of an unknown community: exit 0; stdout:\n%s", out)
	}
	code, out, errs = run("building", "--data", dir, "--community", "c1", "--id", "b1", "--name", "1号楼", "--drop-point", "15楼电梯口窗台", "--drop-point", "1楼信箱")
	if code != 0 || !strings.Contains(out, "b1") || !strings.Contains(out, "15楼电梯口窗台; 1楼信箱") {
		t.Fatalf("building: exit %d, stdout %q, stderr %s", code, out, errs)
	}

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"BadRole", []string{"--community", "c1", "--role", "mayor"}},
		{"NoCommunity", []string{}},
		{"UnknownCommunity", []string{"--community", "nope"}},
		{"UnknownBuilding", []string{"--community", "c1", "--building", "b9"}},
		{"TooManyUses", []string{"--community", "c1", "--uses", "10001"}},
	} {
		if code, out, _ := run(append([]string{"join-code", "--data", dir}, tc.args...)...); code == 0 {
			t.Errorf("join-code %s (%q): exit 0; stdout:\n%s", tc.name, tc.args, out)
		}
	}
	code, out, errs = run("join-code", "--data", dir, "--community", "c1", "--building", "b1", "--role", "volunteer", "--uses", "2")
	volunteerCode := strings.TrimSuffix(out, "\n")
	if code != 0 || codeLine(out) != volunteerCode {
		t.Fatalf("join-code: exit %d, stdout %q (want only a 20-character code), stderr %s", code, out, errs)
	}

	// The printed code is the real one: a newcomer joins with it.
	srv, err := server.New(server.Config{DataDir: dir, Logger: discardLogger(), KeyReload: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	m, err := srv.Service().Join(t.Context(), mutualaid.JoinForm{Code: volunteerCode, DisplayName: "李伟"})
	if err != nil {
		t.Fatalf("join with the printed code: %v", err)
	}
	if m.GetCommunityId() != "c1" || m.GetBuildingId() != "b1" || m.GetRole() != linliv1.Role_ROLE_VOLUNTEER {
		t.Errorf("joined as %v, want a volunteer of c1 in b1", m)
	}
}

func TestAdminTokenValidates(t *testing.T) {
	var out, errb bytes.Buffer
	dir := t.TempDir()
	if code := Run(t.Context(), []string{"admin", "token", "--data", dir, "--user", "u1"}, &out, &errb); code == 0 {
		t.Error("token without --community succeeded")
	}
	if code := Run(t.Context(), []string{"admin", "token", "--data", dir, "--user", "u1", "--community", "c1", "--role", "mayor"}, &out, &errb); code == 0 {
		t.Error("token with an unknown role succeeded")
	}
	out.Reset()
	if code := Run(t.Context(), []string{"admin", "token", "--data", dir, "--user", "u1", "--community", "c1"}, &out, &errb); code != 0 {
		t.Fatalf("token: exit %d: %s", code, errb.String())
	}
	if tok := strings.TrimSpace(out.String()); strings.Count(tok, ".") != 2 {
		t.Fatalf("stdout = %q, want just a JWT", tok)
	}
}

// codeLine returns the first line of s that is a join code (20 of the
// code alphabet, blanks around it allowed), or "".
func codeLine(s string) string {
	m := codeLinePattern.FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	return m[1]
}

var codeLinePattern = regexp.MustCompile(`(?m)^[ \t]*([23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{20})[ \t]*$`)

// postJSON posts body as JSON (with a bearer token unless empty) and
// returns the status and the answer.
func postJSON(t *testing.T, url, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return res.StatusCode, b
}

// waitFor waits until buf holds prefix and returns what follows it up to end.
func waitFor(t *testing.T, buf *syncBuffer, prefix, end string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s := buf.String()
		if i := strings.Index(s, prefix); i >= 0 {
			rest := s[i+len(prefix):]
			if j := strings.Index(rest, end); j >= 0 {
				return rest[:j]
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("never saw %q in:\n%s", prefix, buf.String())
	return ""
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestServeWebFlags: the HTTPS and browser flags are checked together, and
// each refusal names the flag to fix.
func TestServeWebFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		f    webFlags
		want string // in the error; "" for none
	}{
		{"PlainHTTP", webFlags{}, ""},
		{"CertFiles", webFlags{tlsCert: "c.pem", tlsKey: "k.pem"}, ""},
		{"ACME", webFlags{acmeDomains: " Linli.Example.org, h5.example.org ,", acmeEmail: "ops@example.org", acmeHTTP: ":80", acmeCache: "/var/lib/linli/acme"}, ""},
		{"CORS", webFlags{corsOrigins: "https://app.example.org, http://127.0.0.1:5173"}, ""},
		{"CertWithoutKey", webFlags{tlsCert: "c.pem"}, "--tls-key"},
		{"KeyWithoutCert", webFlags{tlsKey: "k.pem"}, "--tls-cert"},
		{"CertAndACME", webFlags{tlsCert: "c.pem", tlsKey: "k.pem", acmeDomains: "linli.example.org"}, "choose one"},
		{"ACMEDomainURL", webFlags{acmeDomains: "https://linli.example.org"}, "--acme-domain"},
		{"ACMEDomainWildcard", webFlags{acmeDomains: "*.example.org"}, "--acme-domain"},
		{"ACMEDomainPort", webFlags{acmeDomains: "linli.example.org:443"}, "--acme-domain"},
		{"ACMEDomainBare", webFlags{acmeDomains: "localhost"}, "--acme-domain"},
		{"ACMEEmailWithoutDomain", webFlags{acmeEmail: "ops@example.org"}, "--acme-email: needs --acme-domain"},
		{"ACMEHTTPWithoutDomain", webFlags{acmeHTTP: ":80"}, "--acme-http: needs --acme-domain"},
		{"ACMECacheWithoutDomain", webFlags{acmeCache: "/tmp/acme"}, "--acme-cache: needs --acme-domain"},
		{"ACMEHTTPWithCertFiles", webFlags{tlsCert: "c.pem", tlsKey: "k.pem", acmeHTTP: ":80"}, "--acme-http: needs --acme-domain"},
		{"ACMEEmailNotAnAddress", webFlags{acmeDomains: "linli.example.org", acmeEmail: "ops at example"}, "--acme-email"},
		{"ACMEHTTPNoPort", webFlags{acmeDomains: "linli.example.org", acmeHTTP: "80"}, "--acme-http"},
		{"CORSWildcard", webFlags{corsOrigins: "*"}, "--cors-origins"},
		{"CORSPath", webFlags{corsOrigins: "https://app.example.org/app"}, "--cors-origins"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.f.check()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("check: %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("check = %+v, %v; want an error containing %q", got, err, tc.want)
			}
		})
	}
	got, err := (&webFlags{acmeDomains: " Linli.Example.org, h5.example.org ,", corsOrigins: "https://App.example.org"}).check()
	if err != nil || !slices.Equal(got.acmeDomains, []string{"linli.example.org", "h5.example.org"}) || !slices.Equal(got.corsOrigins, []string{"https://app.example.org"}) {
		t.Errorf("check = %+v, %v; want the domains and origins trimmed and in lower case", got, err)
	}
}

// TestServeWebFlagsEnv: the web flags read LINLI_<FLAG> too, and a bad
// combination from the environment is refused before anything is opened.
func TestServeWebFlagsEnv(t *testing.T) {
	data := t.TempDir()
	t.Setenv("LINLI_TLS_CERT", filepath.Join(data, "cert.pem"))
	code, _, errOut := runCmd(t, "serve", "--data", data, "--listen", "127.0.0.1:0")
	if code == 0 || !strings.Contains(errOut, "--tls-key") {
		t.Errorf("serve with LINLI_TLS_CERT only: exit %d, stderr %q; want a failure naming --tls-key", code, errOut)
	}
	t.Setenv("LINLI_TLS_KEY", filepath.Join(data, "key.pem"))
	t.Setenv("LINLI_ACME_DOMAIN", "linli.example.org")
	code, _, errOut = runCmd(t, "serve", "--data", data, "--listen", "127.0.0.1:0")
	if code == 0 || !strings.Contains(errOut, "--acme-domain") {
		t.Errorf("serve with certificate files and ACME: exit %d, stderr %q; want a failure naming both", code, errOut)
	}
	t.Setenv("LINLI_ACME_DOMAIN", "")
	code, _, errOut = runCmd(t, "serve", "--data", filepath.Join(data, "new"), "--listen", "127.0.0.1:0")
	if code == 0 || !strings.Contains(errOut, "--tls-cert") || !strings.Contains(errOut, "no such file") {
		t.Errorf("serve with certificate files that do not exist: exit %d, stderr %q; want a failure naming --tls-cert", code, errOut)
	}
	if entries, _ := os.ReadDir(data); len(entries) != 0 {
		t.Errorf("a refused configuration still created %v", entries)
	}
}

// TestServeTLS: with --tls-cert and --tls-key serve answers HTTPS (HTTP/2
// by ALPN), prints https URLs, and lets the pages of --cors-origins call
// the API.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile, roots := writeTestCert(t, dir)
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"), "--log-format", "json",
			"--tls-cert", certFile, "--tls-key", keyFile, "--cors-origins", "https://app.example.org"}, &stdout, &stderr)
	}()
	addr := waitFor(t, &stderr, `"addr":"`, `"`)
	var p http.Protocols
	p.SetHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &p, TLSClientConfig: &tls.Config{RootCAs: roots}}}
	res, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("healthz over https: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Proto != "HTTP/2.0" {
		t.Errorf("healthz over https: %d %s, want 200 in HTTP/2.0", res.StatusCode, res.Proto)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodOptions, "https://"+addr+"/linli.v1.SyncService/Pull", nil)
	req.Header.Set("Origin", "https://app.example.org")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
	res, err = client.Do(req)
	if err != nil {
		t.Fatalf("preflight: %v", err)
	}
	res.Body.Close()
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example.org" {
		t.Errorf("preflight from the allowed origin: Access-Control-Allow-Origin %q", got)
	}
	waitFor(t, &stdout, "/linli.v1.AuthService/Join", "\n")
	if !strings.Contains(stdout.String(), "linli is running at https://"+addr) {
		t.Errorf("welcome: %s, want https URLs", stdout.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d: %s", code, stderr.String())
	}
}

// TestServeACME: with --acme-domain serve starts without asking the CA
// anything (certificates are obtained at the first handshake that needs
// one), keeps the ACME cache in the data folder, private, and its
// --acme-http listener redirects to https.
func TestServeACME(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data", data, "--log-format", "json",
			"--acme-domain", "linli.example.org", "--acme-email", "ops@example.org", "--acme-http", "127.0.0.1:0"}, &stdout, &stderr)
	}()
	httpAddr := waitFor(t, &stderr, `"msg":"acme http listening: challenges, and redirects to https","addr":"`, `"`)
	waitFor(t, &stderr, `"msg":"linli listening"`, "\n")
	if fi, err := os.Stat(filepath.Join(data, "acme")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("acme cache: %v %v, want a folder only linli may read", fi, err)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+httpAddr+"/console/?x=1", nil)
	req.Host = "linli.example.org"
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("plain http: %v", err)
	}
	res.Body.Close()
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusFound || loc != "https://linli.example.org/console/?x=1" {
		t.Errorf("plain http: %d to %q, want a redirect to https://linli.example.org/console/?x=1", res.StatusCode, loc)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d: %s", code, stderr.String())
	}
	if _, err := net.Dial("tcp", httpAddr); err == nil {
		t.Error("the acme http listener outlived serve")
	}
}

// writeTestCert writes a self-signed ECDSA certificate for 127.0.0.1 and
// its key in dir, and returns their paths and a pool trusting it.
func writeTestCert(t *testing.T, dir string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "linli test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}
