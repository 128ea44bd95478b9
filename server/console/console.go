// Package console is linli's staff console: server-rendered pages at
// /console/ on the server's port, for community staff (社区工作人员) at an
// office PC or on a phone. Templates and assets are embedded; the only
// script keeps the queue live and prints posters, and every page works
// without it. Chinese by default, English by a switch.
//
// The console is a client of the domain service like StaffService and
// CommunityService: it calls the same methods (mutualaid.Service), which
// decide who may do what, so no rule exists twice. It shows what the
// community's staff scope holds, nothing of another community.
//
// Sign-in has no password: a staff member or admin types a one-time
// device code made in their app (AuthService.CreateDeviceCode), or a staff
// join code. The console then holds a device session of the member's
// membership, stored by the service like an app's (listed with their
// devices, ended by sign-out, revocation or removal); its secret lives in
// an HttpOnly, SameSite=Strict cookie (Secure over https). Every request
// checks the session and the member's current role: a removed or demoted
// member is out on the next click. Every form that changes something
// carries a CSRF token derived from the session's secret, and a request
// from another site (Origin, Sec-Fetch-Site) is refused.
package console

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/linli/linli/mutualaid"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is where the console is mounted.
const Prefix = "/console/"

// Config configures a Console. Zero fields take the documented defaults.
type Config struct {
	// Service is the domain service. Required.
	Service *mutualaid.Service
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Location is the time zone times are shown in; default time.Local.
	Location *time.Location
	// SessionTTL is how long a console sign-in lasts; default 12 h (at
	// most the refresh token lifetime, 30 days).
	SessionTTL time.Duration
	// Heartbeat is the live queue's heartbeat, and how often an open live
	// stream re-checks the member; default 15 s.
	Heartbeat time.Duration
	// Secure reports whether the browser reached the server over https
	// (TLS, or a trusted proxy's X-Forwarded-Proto): cookies are then
	// Secure. Default: r.TLS != nil.
	Secure func(r *http.Request) bool
	// SignInAllowed takes one sign-in attempt from r's client, or says how
	// long to wait: the API's Join limit. Default: no limit.
	SignInAllowed func(r *http.Request) (ok bool, retryAfter time.Duration)
	// Stopping, closed when the server begins to shut down, ends live
	// streams.
	Stopping <-chan struct{}
	// Barrier, if set, waits until this node holds every write the
	// cluster acknowledged before it was called, and reports whether it
	// waited for anything: a session this node does not know yet is
	// looked for again after it (in a cluster, the sign-in may have been
	// written by another node a moment ago). Nil: a single node.
	Barrier func(ctx context.Context) bool
}

func (c *Config) setDefaults() {
	c.Logger = cmp.Or(c.Logger, slog.Default())
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Location == nil {
		c.Location = time.Local
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = 12 * time.Hour
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 15 * time.Second
	}
	if c.Secure == nil {
		c.Secure = func(r *http.Request) bool { return r.TLS != nil }
	}
	if c.SignInAllowed == nil {
		c.SignInAllowed = func(*http.Request) (bool, time.Duration) { return true, 0 }
	}
}

// Console serves the staff console under Prefix.
type Console struct {
	cfg  Config
	svc  *mutualaid.Service
	log  *slog.Logger
	tmpl templates
	mux  *http.ServeMux
}

// New returns the console. Errors: a missing service; templates that do
// not parse (a build defect).
func New(cfg Config) (*Console, error) {
	cfg.setDefaults()
	if cfg.Service == nil {
		return nil, errors.New("console: no service")
	}
	t, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	c := &Console{cfg: cfg, svc: cfg.Service, log: cfg.Logger.With("component", "console"), tmpl: t}
	c.mux = c.routes()
	return c, nil
}

// ServeHTTP serves a request under Prefix (and /console itself).
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "+
		"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() *http.ServeMux {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix, http.StatusFound)
	})
	mux.HandleFunc("GET /console/{$}", c.staff(c.home))
	mux.HandleFunc("GET /console/signin", c.signInPage)
	mux.HandleFunc("POST /console/signin", c.signIn)
	mux.HandleFunc("POST /console/signout", c.staff(c.signOut))
	mux.HandleFunc("GET /console/sessions", c.staff(c.sessionsPage))
	mux.HandleFunc("POST /console/sessions/revoke", c.staff(c.revokeSession))
	mux.HandleFunc("GET /console/communities", c.staff(c.communitiesPage))

	com := func(h handler) http.HandlerFunc { return c.staff(c.community(h)) }
	mux.HandleFunc("GET /console/c/{c}/{$}", com(func(w http.ResponseWriter, r *http.Request, p *page) {
		http.Redirect(w, r, p.Base+"queue", http.StatusFound)
	}))
	mux.HandleFunc("GET /console/c/{c}/queue", com(c.queuePage))
	mux.HandleFunc("GET /console/c/{c}/queue/list", com(c.queueList))
	mux.HandleFunc("GET /console/c/{c}/live", com(c.live))
	mux.HandleFunc("GET /console/c/{c}/queue/{post}/forward", com(c.forwardPage))
	mux.HandleFunc("POST /console/c/{c}/queue/{post}/forward", com(c.forward))
	mux.HandleFunc("POST /console/c/{c}/queue/{post}/dismiss", com(c.dismiss))
	mux.HandleFunc("POST /console/c/{c}/queue/{post}/retry", com(c.retry))
	mux.HandleFunc("GET /console/c/{c}/cases", com(c.casesPage))
	mux.HandleFunc("GET /console/c/{c}/report", com(c.reportPage))
	mux.HandleFunc("GET /console/c/{c}/report.csv", com(c.reportCSV))
	mux.HandleFunc("GET /console/c/{c}/buildings", com(c.buildingsPage))
	mux.HandleFunc("POST /console/c/{c}/buildings", com(c.putBuilding))
	mux.HandleFunc("GET /console/c/{c}/joincodes", com(c.joinCodesPage))
	mux.HandleFunc("POST /console/c/{c}/joincodes", com(c.createJoinCode))
	mux.HandleFunc("GET /console/c/{c}/members", com(c.membersPage))
	mux.HandleFunc("POST /console/c/{c}/members/{user}/role", com(c.setRole))
	mux.HandleFunc("POST /console/c/{c}/members/{user}/remove", com(c.removeMember))
	mux.HandleFunc("GET /console/c/{c}/policy", com(c.policyPage))
	mux.HandleFunc("POST /console/c/{c}/policy", com(c.setPolicy))
	mux.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		c.renderError(w, r, nil, http.StatusNotFound, "error.notfound")
	})
	return mux
}

// cacheStatic lets browsers keep the embedded assets for an hour.
func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// now is the console's clock.
func (c *Console) now() time.Time { return c.cfg.Now() }

// background is a context for work that must finish even if the browser
// goes away (a sign-out after a demotion).
func background(r *http.Request) context.Context { return context.WithoutCancel(r.Context()) }
