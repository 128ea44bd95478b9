package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/linli/linli/internal/bearer"
	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server"
)

// testCert is a self-signed ECDSA certificate for 127.0.0.1 and localhost,
// in PEM, with the serial number that tells it apart.
type testCert struct {
	certPEM, keyPEM []byte
	serial          int64
	x509            *x509.Certificate
}

func newTestCert(t *testing.T, serial int64) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: "linli test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return testCert{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		serial:  serial,
		x509:    parsed,
	}
}

// write puts the pair in certFile and keyFile.
func (c testCert) write(t *testing.T, certFile, keyFile string) {
	t.Helper()
	if err := os.WriteFile(certFile, c.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, c.keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
}

// serveTLS serves h over TLS with tc on a new port until the test ends,
// through Server.Serve as `linli serve` does, and returns its base URL.
func serveTLS(t *testing.T, h *linlitest.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx, ln) }()
	t.Cleanup(func() { // before the server closes (cleanups run last first)
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "https://" + ln.Addr().String()
}

// protoRecorder records the HTTP version of every answer it carries.
type protoRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen map[string]int
}

func (p *protoRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := p.next.RoundTrip(r)
	if err == nil {
		p.mu.Lock()
		p.seen[res.Proto]++
		if res.TLS != nil {
			p.seen["alpn:"+res.TLS.NegotiatedProtocol]++
		}
		p.mu.Unlock()
	}
	return res, err
}

// TestTLSServe: over TLS with a certificate from files, Connect (HTTP/1.1
// and HTTP/2) and gRPC calls are answered, HTTP/2 chosen by ALPN; the
// server's plain-HTTP clients are refused a TLS answer.
func TestTLSServe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	c := newTestCert(t, 1)
	c.write(t, certFile, keyFile)
	files, err := server.LoadCertFiles(certFile, keyFile, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	h := linlitest.NewServer(t, server.Config{TLS: files.TLSConfig()})
	tok := h.Token(t, "u1", "c1", mutualaid.RoleResident)
	url := serveTLS(t, h)

	roots := x509.NewCertPool()
	roots.AddCert(c.x509)
	client := func(h1, h2 bool) (*http.Client, *protoRecorder) {
		var p http.Protocols
		p.SetHTTP1(h1)
		p.SetHTTP2(h2)
		rec := &protoRecorder{next: &http.Transport{Protocols: &p, TLSClientConfig: &tls.Config{RootCAs: roots}}, seen: map[string]int{}}
		return &http.Client{Transport: rec}, rec
	}
	h2, rec2 := client(false, true)
	h1, rec1 := client(true, false)

	push := &linliv1.PushRequest{ProtocolVersion: 1, ClientId: "tls-app", Mutations: []*linliv1.Mutation{{
		Id: 1, Kind: &linliv1.Mutation_PostOffer{PostOffer: &linliv1.PostOfferMutation{PostId: "p-tls", Draft: &linliv1.PostDraft{
			Items: []*linliv1.PostItem{{ItemCode: "antigen-test", Name: "抗原", Quantity: 2, Unit: "kit"}}, BuildingId: "b3", DisplayName: "李雷",
		}}},
	}}}
	grpcClient := linliv1connect.NewSyncServiceClient(h2, url, connect.WithGRPC(), connect.WithInterceptors(bearer.Token(tok)))
	res, err := grpcClient.Push(t.Context(), push)
	if err != nil {
		t.Fatalf("gRPC Push over TLS: %v", err)
	}
	if got := res.GetResults()[0].GetStatus(); got != linliv1.MutationStatus_MUTATION_STATUS_APPLIED {
		t.Fatalf("gRPC Push over TLS: %v, want applied", got)
	}
	for name, cl := range map[string]*http.Client{"HTTP/2": h2, "HTTP/1.1": h1} {
		pulled, err := linliv1connect.NewSyncServiceClient(cl, url, connect.WithInterceptors(bearer.Token(tok))).
			Pull(t.Context(), &linliv1.PullRequest{ProtocolVersion: 1})
		if err != nil {
			t.Fatalf("Connect Pull over TLS, %s: %v", name, err)
		}
		if len(pulled.GetChanges()) == 0 {
			t.Errorf("Connect Pull over TLS, %s: no changes, want the pushed post", name)
		}
	}
	if rec2.seen["HTTP/2.0"] != 2 || rec2.seen["alpn:h2"] != 2 || len(rec2.seen) != 2 {
		t.Errorf("HTTP/2 client's answers: %v, want 2 in HTTP/2.0 negotiated by ALPN (h2)", rec2.seen)
	}
	if rec1.seen["HTTP/1.1"] != 1 || len(rec1.seen) != 2 {
		t.Errorf("HTTP/1.1 client's answers: %v, want 1 in HTTP/1.1", rec1.seen)
	}

	// A client that speaks plain HTTP to the TLS port gets no answer from
	// the API.
	plain, err := h.HTTP.Post("http"+url[len("https"):]+"/linli.v1.SyncService/Pull", "application/json", nil)
	if err == nil {
		defer plain.Body.Close()
		if plain.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the TLS port: %d, want 400 (Go's answer to plain HTTP on TLS)", plain.StatusCode)
		}
	}
}

// TestTLSCertReload: rewriting the certificate and key files makes the
// next handshake serve the new certificate, without a restart; a
// half-written pair (the new certificate beside the old key, or a
// truncated file) keeps the previous certificate.
func TestTLSCertReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	old, renewed := newTestCert(t, 1), newTestCert(t, 2)
	old.write(t, certFile, keyFile)

	if _, err := server.LoadCertFiles(certFile, filepath.Join(dir, "missing.pem"), slog.Default()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadCertFiles without a key file: %v, want a not-exist error", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "other-key.pem"), renewed.keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := server.LoadCertFiles(certFile, filepath.Join(dir, "other-key.pem"), slog.Default()); err == nil {
		t.Error("LoadCertFiles with a key that does not match: no error")
	}

	files, err := server.LoadCertFiles(certFile, keyFile, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	h := linlitest.NewServer(t, server.Config{TLS: files.TLSConfig()})
	addr := serveTLS(t, h)[len("https://"):]
	roots := x509.NewCertPool()
	roots.AddCert(old.x509)
	roots.AddCert(renewed.x509)
	served := func() int64 {
		t.Helper()
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, NextProtos: []string{"h2"}})
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if got := served(); got != old.serial {
		t.Fatalf("at start: certificate %d served, want %d", got, old.serial)
	}

	steps := []struct {
		name       string
		cert, key  []byte
		wantSerial int64
	}{
		{"NewCertificateOldKey", renewed.certPEM, old.keyPEM, old.serial},
		{"TruncatedKey", renewed.certPEM, renewed.keyPEM[:len(renewed.keyPEM)/2], old.serial},
		{"EmptyCertificate", []byte{}, renewed.keyPEM, old.serial},
		{"Renewed", renewed.certPEM, renewed.keyPEM, renewed.serial},
		{"HalfWrittenAfterRenewal", old.certPEM, renewed.keyPEM, renewed.serial},
		{"BackToOld", old.certPEM, old.keyPEM, old.serial},
	}
	for _, st := range steps {
		if err := os.WriteFile(certFile, st.cert, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, st.key, 0o600); err != nil {
			t.Fatal(err)
		}
		if got := served(); got != st.wantSerial {
			t.Errorf("%s: certificate %d served, want %d", st.name, got, st.wantSerial)
		}
	}
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	if got := served(); got != old.serial {
		t.Errorf("key file removed: certificate %d served, want %d kept", got, old.serial)
	}
}
