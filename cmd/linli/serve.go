package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"time"

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
}

// check validates the flags that need more than parsing, and returns the
// trusted proxies.
func (f *serveFlags) check() ([]netip.Prefix, error) {
	if f.hotline.Every <= 0 {
		return nil, fmt.Errorf("--hotline-every %v: must be positive", f.hotline.Every)
	}
	if f.hotline.URL != "" {
		if u, err := url.Parse(f.hotline.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--hotline-url %q: want an http(s) URL such as http://127.0.0.1:8311/open311/v2/", f.hotline.URL)
		}
	}
	proxies, err := server.ParseTrustedProxies(f.proxies)
	if err != nil {
		return nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	return proxies, nil
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
	fs.Float64Var(&f.limits.Join.Rate, "join-rate", 0.1, "joins per second allowed from one address (-1: no limit)")
	fs.IntVar(&f.limits.Join.Burst, "join-burst", 5, "joins one address may make at once")
	fs.Float64Var(&f.limits.Refresh.Rate, "refresh-rate", 1, "token refreshes per second allowed from one address (-1: no limit)")
	fs.IntVar(&f.limits.Refresh.Burst, "refresh-burst", 20, "token refreshes one address may make at once")
	fs.Float64Var(&f.limits.Push.Rate, "push-rate", 50, "pushes per second allowed per member (-1: no limit)")
	fs.IntVar(&f.limits.Push.Burst, "push-burst", 200, "pushes one member may make at once")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := f.log.logger(stderr)
	if err != nil {
		return err
	}
	proxies, err := f.check()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.data, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	srv, err := server.New(server.Config{DataDir: f.data, Logger: log, RateLimits: f.limits, MetricsToken: f.metricsToken,
		Domain: mutualaid.Config{Hotline: f.hotline, Push: f.push, Store: linlisync.Options{DiskBallast: 16 << 20}}, TrustedProxies: proxies})
	if err != nil {
		return err
	}
	// First start: a store without a community (new, or left empty by an
	// admin command that failed) gets one and its admin code.
	communities, err := srv.Service().Communities()
	if err != nil {
		return errors.Join(err, srv.Close())
	}
	firstStart := len(communities) == 0
	var code string
	if firstStart {
		if code, err = srv.Service().Bootstrap(ctx, f.first.community()); err != nil {
			return errors.Join(err, srv.Close())
		}
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return errors.Join(fmt.Errorf("listen: %w", err), srv.Close())
	}
	log.Info("linli listening", "addr", ln.Addr().String(), "data", f.data)
	if firstStart {
		printWelcome(stdout, ln.Addr().String(), f.first.id, code)
	}
	err = srv.Serve(ctx, ln)
	log.Info("linli stopped")
	return errors.Join(err, srv.Close())
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func printWelcome(w io.Writer, addr, community, code string) {
	printAdminCode(w, community, code)
	fmt.Fprintf(w, `linli is running at http://%[1]s. Join as the admin, then pull your feed:

  curl -sS http://%[1]s/linli.v1.AuthService/Join -H 'Content-Type: application/json' \
    -d '{"protocolVersion": 1, "code": "%[2]s", "clientId": "laptop", "displayName": "Admin"}'

  TOKEN=<tokens.accessToken from the answer>
  curl -sS http://%[1]s/linli.v1.SyncService/Pull \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"protocolVersion": 1}'

Staff and admins work in the console at http://%[1]s/console/: sign in with a
one-time code made in the app (AuthService/CreateDeviceCode).

`, addr, code)
}
