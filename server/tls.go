package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// CertFiles serves the certificate and private key in two PEM files (the
// certificate file may hold the chain after the leaf), read again at the
// first TLS handshake after either file changes (its modification time or
// size), so that a renewed certificate is served without a restart.
//
// A pair that does not load (a half-written file, a key that does not
// match) is logged once and the previous certificate is kept until the
// files change again.
type CertFiles struct {
	certFile, keyFile string
	log               *slog.Logger

	mu    sync.Mutex
	cert  *tls.Certificate
	tried [2]fileStamp // the files as last read, loaded or not
}

// fileStamp tells whether a file changed.
type fileStamp struct {
	mod  time.Time
	size int64
}

// LoadCertFiles reads the certificate and key files.
// Errors: either file cannot be read, or they do not hold a certificate and
// its matching private key.
func LoadCertFiles(certFile, keyFile string, log *slog.Logger) (*CertFiles, error) {
	c := &CertFiles{certFile: certFile, keyFile: keyFile, log: log}
	stamps, err := c.stamps()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls certificate: %w", err)
	}
	c.cert, c.tried = &cert, stamps
	return c, nil
}

func (c *CertFiles) stamps() ([2]fileStamp, error) {
	var out [2]fileStamp
	for i, name := range []string{c.certFile, c.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			return out, fmt.Errorf("tls certificate: %w", err)
		}
		out[i] = fileStamp{fi.ModTime(), fi.Size()}
	}
	return out, nil
}

// GetCertificate is a tls.Config.GetCertificate: the current certificate,
// read again first if its files changed.
func (c *CertFiles) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	stamps, err := c.stamps()
	if err != nil || stamps == c.tried {
		return c.cert, nil // a file being replaced: keep serving the old pair
	}
	c.tried = stamps
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		c.log.Error("reload tls certificate: keeping the previous one", "cert", c.certFile, "key", c.keyFile, "err", err)
		return c.cert, nil
	}
	c.cert = &cert
	c.log.Info("reloaded tls certificate", "cert", c.certFile)
	return c.cert, nil
}

// TLSConfig is a server configuration serving c's certificate, TLS 1.2 or
// later, HTTP/2 and HTTP/1.1 by ALPN.
func (c *CertFiles) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: c.GetCertificate,
	}
}

// ACMEConfig configures certificates obtained by ACME (RFC 8555), from
// Let's Encrypt unless DirectoryURL says otherwise.
type ACMEConfig struct {
	// Domains are the host names to obtain certificates for; a handshake
	// for any other name is refused. At least one.
	Domains []string
	// CacheDir keeps the account key and the certificates (created 0700).
	CacheDir string
	// Email is the contact the CA may write to about the certificates
	// (optional).
	Email string
	// DirectoryURL is the CA's ACME directory; default Let's Encrypt's.
	DirectoryURL string
}

// ACME returns a TLS configuration that obtains certificates for
// cfg.Domains at the first handshake that needs one, renews them before
// they expire (autocert) and answers the CA's TLS-ALPN-01 challenges
// itself (so the server must be reachable on port 443), and an HTTP
// handler for port 80 that answers HTTP-01 challenges and redirects
// everything else to https.
// Errors: no domain, or the cache folder cannot be created.
func ACME(cfg ACMEConfig) (*tls.Config, http.Handler, error) {
	if len(cfg.Domains) == 0 {
		return nil, nil, errors.New("acme: no domain")
	}
	if cfg.CacheDir == "" {
		return nil, nil, errors.New("acme: no cache folder")
	}
	if err := os.MkdirAll(cfg.CacheDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("acme cache: %w", err)
	}
	if err := os.Chmod(filepath.Clean(cfg.CacheDir), 0o700); err != nil {
		return nil, nil, fmt.Errorf("acme cache: %w", err)
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(cfg.CacheDir),
		HostPolicy: autocert.HostWhitelist(cfg.Domains...),
		Email:      cfg.Email,
	}
	if cfg.DirectoryURL != "" {
		m.Client = &acme.Client{DirectoryURL: cfg.DirectoryURL}
	}
	tc := m.TLSConfig()
	tc.MinVersion = tls.VersionTLS12
	return tc, m.HTTPHandler(nil), nil
}
