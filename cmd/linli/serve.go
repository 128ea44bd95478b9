package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/linli/linli/cluster"
	"github.com/linli/linli/mutualaid"
	"github.com/linli/linli/server"
	linlisync "github.com/linli/linli/sync"
)

type serveFlags struct {
	listen       string
	data         string
	log          logFlags
	first        communityFlags // the community created on first start
	limits       server.RateLimits
	metricsToken string
	hotline      mutualaid.HotlineConfig
	push         mutualaid.PushConfig
	proxies      string
	web          webFlags
	cluster      clusterFlags
}

// webFlags are serve's HTTPS and browser flags.
type webFlags struct {
	tlsCert, tlsKey string
	acmeDomains     string
	acmeCache       string
	acmeEmail       string
	acmeHTTP        string
	corsOrigins     string
}

func (w *webFlags) register(fs *flagSet) {
	fs.StringVar(&w.tlsCert, "tls-cert", "", "serve HTTPS with this PEM certificate file (the chain after the leaf), read again when it changes; needs --tls-key")
	fs.StringVar(&w.tlsKey, "tls-key", "", "the PEM private key file of --tls-cert")
	fs.StringVar(&w.acmeDomains, "acme-domain", "", "serve HTTPS with certificates obtained and renewed by ACME (Let's Encrypt) for these host names (comma-separated); the CA checks them on port 443 (--listen) or, with --acme-http, on port 80")
	fs.StringVar(&w.acmeCache, "acme-cache", "", "folder for the ACME account key and certificates (default: acme in the data folder)")
	fs.StringVar(&w.acmeEmail, "acme-email", "", "contact address the ACME CA may write to about the certificates")
	fs.StringVar(&w.acmeHTTP, "acme-http", "", "with --acme-domain: address of a plain-HTTP listener (such as :80) answering HTTP-01 challenges and redirecting everything else to https")
	fs.StringVar(&w.corsOrigins, "cors-origins", "", "web origins whose pages may call the API from a browser (comma-separated, such as https://app.example.org)")
}

// webConfig is what webFlags.check makes of the flags.
type webConfig struct {
	acmeDomains []string // nil without ACME
	corsOrigins []string
}

// hostName is a DNS host name an ACME CA can issue a certificate for.
var hostName = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)

// check validates the flags and their combinations; it reads no file.
func (w *webFlags) check() (webConfig, error) {
	var c webConfig
	if (w.tlsCert == "") != (w.tlsKey == "") {
		return c, errors.New("--tls-cert and --tls-key: give both (the certificate and its private key) or neither")
	}
	for d := range strings.SplitSeq(w.acmeDomains, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" {
			continue
		}
		if !hostName.MatchString(d) {
			return c, fmt.Errorf("--acme-domain %q: want host names such as linli.example.org (no scheme, port or wildcard)", d)
		}
		c.acmeDomains = append(c.acmeDomains, d)
	}
	acme := len(c.acmeDomains) > 0
	if acme && w.tlsCert != "" {
		return c, errors.New("--tls-cert and --acme-domain: choose one source of certificates")
	}
	if !acme {
		for name, v := range map[string]string{"--acme-cache": w.acmeCache, "--acme-email": w.acmeEmail, "--acme-http": w.acmeHTTP} {
			if v != "" {
				return c, fmt.Errorf("%s: needs --acme-domain", name)
			}
		}
	}
	if w.acmeEmail != "" {
		if a, err := mail.ParseAddress(w.acmeEmail); err != nil || a.Name != "" {
			return c, fmt.Errorf("--acme-email %q: want an address such as ops@example.org", w.acmeEmail)
		}
	}
	if w.acmeHTTP != "" {
		if _, _, err := net.SplitHostPort(w.acmeHTTP); err != nil {
			return c, fmt.Errorf("--acme-http %q: want host:port or :port, such as :80", w.acmeHTTP)
		}
	}
	origins, err := server.ParseCORSOrigins(w.corsOrigins)
	if err != nil {
		return c, fmt.Errorf("--cors-origins: %w", err)
	}
	c.corsOrigins = origins
	return c, nil
}

// check validates the flags that need more than parsing, and returns the
// trusted proxies and the web configuration.
func (f *serveFlags) check() ([]netip.Prefix, webConfig, error) {
	if f.hotline.Every <= 0 {
		return nil, webConfig{}, fmt.Errorf("--hotline-every %v: must be positive", f.hotline.Every)
	}
	if f.hotline.URL != "" {
		if u, err := url.Parse(f.hotline.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, webConfig{}, fmt.Errorf("--hotline-url %q: want an http(s) URL such as http://127.0.0.1:8311/open311/v2/", f.hotline.URL)
		}
	}
	proxies, err := server.ParseTrustedProxies(f.proxies)
	if err != nil {
		return nil, webConfig{}, fmt.Errorf("--trusted-proxies: %w", err)
	}
	web, err := f.web.check()
	if err != nil {
		return nil, webConfig{}, err
	}
	if err := f.cluster.check(f.listen); err != nil {
		return nil, webConfig{}, err
	}
	return proxies, web, nil
}

// tlsConfig returns serve's TLS configuration (nil: plain HTTP) and, with
// ACME, the handler of its plain-HTTP listener. It reads the certificate
// files, or creates the ACME cache folder.
func (f *serveFlags) tlsConfig(web webConfig, log *slog.Logger) (*tls.Config, http.Handler, error) {
	switch {
	case f.web.tlsCert != "":
		files, err := server.LoadCertFiles(f.web.tlsCert, f.web.tlsKey, log.With("component", "tls"))
		if err != nil {
			return nil, nil, fmt.Errorf("--tls-cert, --tls-key: %w", err)
		}
		return files.TLSConfig(), nil, nil
	case len(web.acmeDomains) > 0:
		cache := cmp.Or(f.web.acmeCache, filepath.Join(f.data, "acme"))
		tc, h, err := server.ACME(server.ACMEConfig{Domains: web.acmeDomains, CacheDir: cache, Email: f.web.acmeEmail})
		if err != nil {
			return nil, nil, fmt.Errorf("--acme-domain: %w", err)
		}
		return tc, h, nil
	}
	return nil, nil, nil
}

// serveACMEHTTP answers ACME HTTP-01 challenges and redirects to https on
// ln until ctx ends.
func serveACMEHTTP(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		log.Error("acme http listener stopped", "err", err)
	}
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f serveFlags
	fs := newFlagSet("linli serve", stderr)
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address to listen on (host:port)")
	fs.StringVar(&f.data, "data", "./linli-data", "data folder: the store and the signing keys")
	f.log.register(fs)
	fs.StringVar(&f.first.id, "init-community", "home", "first start only: id of the community to create")
	fs.StringVar(&f.first.name, "init-name", "Home", "first start only: its name")
	fs.StringVar(&f.first.district, "init-district", "unset", "first start only: its district")
	fs.StringVar(&f.first.streetOffice, "init-street-office", "unset", "first start only: its street office")
	fs.StringVar(&f.hotline.URL, "hotline-url", "", "Open311 GeoReport v2 base URL of the hotline (empty: cases wait in the outbox)")
	fs.StringVar(&f.hotline.APIKey, "hotline-api-key", "", "the hotline's api_key")
	fs.StringVar(&f.hotline.JurisdictionID, "hotline-jurisdiction", "", "the hotline's jurisdiction_id (the hotline dispatches each case by its address)")
	fs.DurationVar(&f.hotline.Every, "hotline-every", 10*time.Second, "how often overdue requests are queued, cases forwarded and their status followed")
	fs.StringVar(&f.push.GatewayURL, "push-gateway", "", "push gateway speaking the Matrix Push Gateway API (its base URL, e.g. http://127.0.0.1:8390 for linli push-sim; empty: phones' pushers cannot be registered)")
	fs.StringVar(&f.push.VAPIDPrivateKey, "vapid-private-key", "", "Web Push: the server's VAPID private key, base64url (empty: browsers cannot register pushers)")
	fs.StringVar(&f.push.VAPIDSubject, "vapid-subject", "", "Web Push: the operator's contact the push services see (mailto:… or https://…)")
	fs.StringVar(&f.proxies, "trusted-proxies", "", "reverse proxies in front of linli (addresses or CIDR prefixes, comma-separated): per-address limits use the client address they report in X-Forwarded-For")
	fs.StringVar(&f.metricsToken, "metrics-token", "", "if set, GET /metrics requires this bearer token")
	f.web.register(fs)
	fs.Float64Var(&f.limits.Join.Rate, "join-rate", 0.1, "joins per second allowed from one address (-1: no limit)")
	fs.IntVar(&f.limits.Join.Burst, "join-burst", 5, "joins one address may make at once")
	fs.Float64Var(&f.limits.Refresh.Rate, "refresh-rate", 1, "token refreshes per second allowed from one address (-1: no limit)")
	fs.IntVar(&f.limits.Refresh.Burst, "refresh-burst", 20, "token refreshes one address may make at once")
	fs.Float64Var(&f.limits.Push.Rate, "push-rate", 50, "pushes per second allowed per member (-1: no limit)")
	fs.IntVar(&f.limits.Push.Burst, "push-burst", 200, "pushes one member may make at once")
	f.cluster.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := f.log.logger(stderr)
	if err != nil {
		return err
	}
	proxies, web, err := f.check()
	if err != nil {
		return err
	}
	tlsConfig, acmeHTTP, err := f.tlsConfig(web, log)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.data, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	// In a cluster, the node that becomes the writer of a cluster without
	// a community makes the first one (once this node serves).
	leads := make(chan struct{}, 1)
	var node *cluster.Node
	if f.cluster.enabled {
		if node, err = startClusterNode(ctx, &f, log, func() {
			select {
			case leads <- struct{}{}:
			default:
			}
		}); err != nil {
			return err
		}
	}
	closeNode := func() error {
		if node == nil {
			return nil
		}
		return node.Close()
	}
	srv, err := server.New(server.Config{DataDir: f.data, Logger: log, RateLimits: f.limits, MetricsToken: f.metricsToken,
		Domain: mutualaid.Config{Hotline: f.hotline, Push: f.push, Store: linlisync.Options{DiskBallast: 16 << 20}}, TrustedProxies: proxies,
		TLS: tlsConfig, CORSOrigins: web.corsOrigins, Cluster: node})
	if err != nil {
		return errors.Join(explainEpoch(err, f.data), closeNode())
	}
	// First start of a single node: a store without a community (new, or
	// left empty by an admin command that failed) gets one and its admin
	// code.
	var code string
	firstStart := false
	if node == nil {
		communities, err := srv.Service().Communities()
		if err != nil {
			return errors.Join(err, srv.Close())
		}
		firstStart = len(communities) == 0
		if firstStart {
			if code, err = srv.Service().Bootstrap(ctx, f.first.community()); err != nil {
				return errors.Join(err, srv.Close())
			}
		}
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return errors.Join(fmt.Errorf("listen: %w", err), srv.Close(), closeNode())
	}
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	if acmeHTTP != nil && f.web.acmeHTTP != "" {
		hln, err := net.Listen("tcp", f.web.acmeHTTP)
		if err != nil {
			return errors.Join(fmt.Errorf("--acme-http: listen: %w", err), ln.Close(), srv.Close())
		}
		log.Info("acme http listening: challenges, and redirects to https", "addr", hln.Addr().String())
		hctx, stopHTTP := context.WithCancel(ctx)
		httpDone := make(chan struct{})
		go func() { defer close(httpDone); serveACMEHTTP(hctx, hln, acmeHTTP, log) }()
		defer func() { stopHTTP(); <-httpDone }()
	}
	log.Info("linli listening", "addr", ln.Addr().String(), "scheme", scheme, "data", f.data,
		"acme_domains", strings.Join(web.acmeDomains, ","), "cors_origins", strings.Join(web.corsOrigins, ","))
	if firstStart {
		printWelcome(stdout, scheme, ln.Addr().String(), f.first.id, code)
	}
	if node != nil {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-leads:
					bootstrapOnLead(ctx, srv, &f, scheme, ln.Addr().String(), stdout, log)
				}
			}
		}()
	}
	err = srv.Serve(ctx, ln)
	log.Info("linli stopped")
	return errors.Join(err, srv.Close(), closeNode())
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func printWelcome(w io.Writer, scheme, addr, community, code string) {
	printAdminCode(w, community, code)
	fmt.Fprintf(w, `linli is running at %[3]s://%[1]s. Join as the admin, then pull your feed:

  curl -sS %[3]s://%[1]s/linli.v1.AuthService/Join -H 'Content-Type: application/json' \
    -d '{"protocolVersion": 1, "code": "%[2]s", "clientId": "laptop", "displayName": "Admin"}'

  TOKEN=<tokens.accessToken from the answer>
  curl -sS %[3]s://%[1]s/linli.v1.SyncService/Pull \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"protocolVersion": 1}'

Staff and admins work in the console at %[3]s://%[1]s/console/: sign in with a
one-time code made in the app (AuthService/CreateDeviceCode).

`, addr, code, scheme)
}
