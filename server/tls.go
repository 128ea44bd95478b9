package server

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// CertFiles serves the certificate and private key in two PEM files (the
// certificate file may hold the chain after the leaf), read again at every
// TLS handshake and parsed anew when either file's bytes changed, so that a
// renewed certificate is served from the next handshake on, without a
// restart or a signal. (Reading two small files costs far less than the
// handshake's own signature; comparing bytes, not modification times,
// catches a rewrite within one timestamp tick.)
//
// A pair that does not load (a half-written file, a new certificate beside
// the old key) is logged once and the previous certificate is kept until
// the files change again. A file that cannot be read (being replaced) keeps
// the previous certificate too.
type CertFiles struct {
	certFile, keyFile string
	log               *slog.Logger

	mu         sync.Mutex
	cert       *tls.Certificate
	certPEM    []byte // the files' bytes as last read, loaded or not
	keyPEM     []byte
	loadFailed error // why certPEM and keyPEM did not load, if they did not
}

// LoadCertFiles reads the certificate and key files.
// Errors: either file cannot be read, or they do not hold a certificate and
// its matching private key.
func LoadCertFiles(certFile, keyFile string, log *slog.Logger) (*CertFiles, error) {
	c := &CertFiles{certFile: certFile, keyFile: keyFile, log: log}
	certPEM, keyPEM, err := c.read()
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tls certificate %s and key %s: %w", certFile, keyFile, err)
	}
	c.cert, c.certPEM, c.keyPEM = &cert, certPEM, keyPEM
	return c, nil
}

// read returns the two files' bytes.
func (c *CertFiles) read() (certPEM, keyPEM []byte, err error) {
	if certPEM, err = os.ReadFile(c.certFile); err != nil {
		return nil, nil, fmt.Errorf("tls certificate: %w", err)
	}
	if keyPEM, err = os.ReadFile(c.keyFile); err != nil {
		return nil, nil, fmt.Errorf("tls key: %w", err)
	}
	return certPEM, keyPEM, nil
}

// GetCertificate is a tls.Config.GetCertificate: the current certificate,
// parsed anew first if its files changed. It never fails: until the files
// hold a new valid pair, the previous certificate is served.
func (c *CertFiles) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	certPEM, keyPEM, err := c.read()
	if err != nil {
		if c.loadFailed == nil || c.loadFailed.Error() != err.Error() {
			c.log.Error("reload tls certificate: keeping the previous one", "err", err)
		}
		c.loadFailed = err
		return c.cert, nil
	}
	if bytes.Equal(certPEM, c.certPEM) && bytes.Equal(keyPEM, c.keyPEM) {
		return c.cert, nil
	}
	c.certPEM, c.keyPEM = certPEM, keyPEM
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		c.loadFailed = err
		c.log.Error("reload tls certificate: keeping the previous one", "cert", c.certFile, "key", c.keyFile, "err", err)
		return c.cert, nil
	}
	c.cert, c.loadFailed = &cert, nil
	c.log.Info("reloaded tls certificate", "cert", c.certFile, "not_after", cert.Leaf.NotAfter)
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
