package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"

	"github.com/linli/linli/cluster"
	"github.com/linli/linli/mutualaid"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server/console"
)

// Config configures a Server. Zero fields take the documented defaults.
type Config struct {
	// DataDir holds the store ("<DataDir>/store") and signing keys ("<DataDir>/keys").
	DataDir string
	// Logger; default slog.Default().
	Logger *slog.Logger
	// MaxRequestBytes bounds one RPC message. Default 4 MiB.
	MaxRequestBytes int
	// Heartbeat is the Subscribe heartbeat interval. Default 30 s.
	Heartbeat time.Duration
	// TokenWarning is how long before its token expires a subscriber is warned. Default 2 min.
	TokenWarning time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Domain configures the domain service (its store, hotline and
	// background jobs); its Dir is "<DataDir>/store", and its Logger and
	// Now default to the server's.
	Domain mutualaid.Config
	// RateLimits bound Join, Refresh and Push; zero fields take defaults.
	RateLimits RateLimits
	// KeyReload is how often the signing keys are re-read from the data
	// folder, so that rotated keys are used and deleted ones refused without
	// a restart. Default 30 s; negative disables.
	KeyReload time.Duration
	// MetricsToken, if set, is required as "Authorization: Bearer <token>"
	// by GET /metrics. Without it /metrics is public: in production serve it
	// on an internal address (see Server.MetricsHandler) or keep it behind a
	// reverse proxy that does not forward it.
	MetricsToken string
	// TrustedProxies are the reverse proxies in front of the server: for a
	// call from one of them, per-address limits count the client address
	// it reports in X-Forwarded-For. Empty: the peer's address counts.
	TrustedProxies []netip.Prefix
	// ConsoleLocation is the time zone the staff console shows times in;
	// default time.Local.
	ConsoleLocation *time.Location
	// ConsoleHeartbeat is the staff console's live heartbeat; default 15 s.
	ConsoleHeartbeat time.Duration
	// ManualJobs leaves the domain's background jobs (deadlines, the
	// hotline's outbox and case following, the refresh of matches)
	// stopped: whoever runs the server calls their passes through
	// Service() (EscalateOverdue, ForwardCases, FollowCases,
	// RefreshMatches). For simulations on a simulated clock, whose passes
	// must follow that clock rather than real tickers.
	ManualJobs bool
	// TLS, if set, makes Serve speak HTTPS with it (HTTP/2 by ALPN, and
	// HTTP/1.1) instead of plain HTTP/1.1 and h2c: see CertFiles and ACME.
	TLS *tls.Config
	// CORSOrigins are the web origins ("https://app.example.org") whose
	// pages may call the API from a browser (see cors.go). Empty: none.
	CORSOrigins []string
	// Cluster, if set, makes the server one node of a linli cluster (see
	// package cluster and cluster.go): its store is a copy of the
	// cluster's log, writes are forwarded to the node that writes, and
	// the signing keys are shared. Nil: a single node.
	Cluster *cluster.Node
	// WriterWait bounds how long a write waits for a writer while none
	// may write (a failover). Default 10 s.
	WriterWait time.Duration
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = 4 << 20
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 30 * time.Second
	}
	if c.TokenWarning <= 0 {
		c.TokenWarning = 2 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.KeyReload == 0 {
		c.KeyReload = 30 * time.Second
	}
	if c.WriterWait <= 0 {
		c.WriterWait = 10 * time.Second
	}
	c.RateLimits.setDefaults()
}

// Server is linli's RPC server: the domain service behind Connect
// handlers, with authentication, health, reflection and metrics.
type Server struct {
	cfg     Config
	log     *slog.Logger
	svc     *mutualaid.Service
	tokens  *Tokens
	handler http.Handler
	metrics *metrics

	cancel context.CancelFunc // stops background work
	wg     sync.WaitGroup

	stopping chan struct{} // closed when shutdown begins: streams end, readiness fails
	stopOnce sync.Once

	keyMu   sync.Mutex // guards keysAt
	keysAt  time.Time  // when the keys were last reloaded for an unknown key id
	keysErr error      // that reload's error
}

// Public procedures: reachable without a token. (/metrics checks
// Config.MetricsToken itself.)
var publicPaths = map[string]bool{
	"/" + grpchealth.HealthV1ServiceName + "/Check":                       true,
	"/" + grpchealth.HealthV1ServiceName + "/Watch":                       true,
	"/" + grpcreflect.ReflectV1ServiceName + "/ServerReflectionInfo":      true,
	"/" + grpcreflect.ReflectV1AlphaServiceName + "/ServerReflectionInfo": true,
	"/healthz":                              true,
	"/readyz":                               true,
	"/metrics":                              true,
	ClusterPath:                             true,
	linliv1connect.AuthServiceJoinProcedure: true,
	linliv1connect.AuthServiceRefreshProcedure: true,
}

// New opens the keys and the domain service (its store) in cfg.DataDir,
// starts the service's background jobs (unless cfg.ManualJobs) and builds
// the handler.
// Errors: the keys or the service cannot be opened.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if cfg.DataDir == "" {
		return nil, errors.New("server: data folder not set")
	}
	keys, err := loadSharedKeys(cfg)
	if err != nil {
		return nil, err
	}
	m := newMetrics()
	dc := cfg.Domain
	if cfg.Cluster != nil {
		epoch := cfg.Cluster.Epoch()
		dc.Store.Replica, dc.Store.Epoch = cfg.Cluster, &epoch
		dc.Active = func() bool { return cfg.Cluster.Writable() == nil }
	}
	dc.Dir = filepath.Join(cfg.DataDir, "store")
	dc.Logger = cmp.Or(dc.Logger, cfg.Logger)
	if dc.Now == nil {
		dc.Now = cfg.Now
	}
	dc.OnCommit = m.onCommit(dc.OnCommit)
	dc.Hotline.OnAttempt = m.hotlineAttempt
	svc, err := mutualaid.Open(dc)
	if err != nil {
		return nil, err
	}
	tokens := NewTokens(keys)
	tokens.Now = cfg.Now
	s := &Server{
		cfg: cfg, log: cfg.Logger.With("component", "server"), svc: svc, tokens: tokens,
		metrics: m, stopping: make(chan struct{}),
	}
	if cfg.Cluster != nil {
		tokens.UnknownKey = s.reloadKeysNow
		m.watchCluster(cfg.Cluster)
	}
	m.watch(svc)
	if s.handler, err = s.routes(); err != nil {
		return nil, errors.Join(err, svc.Close())
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if cfg.Cluster != nil {
		cfg.Cluster.Run(ctx, svc)
	}
	if !cfg.ManualJobs {
		svc.Start(ctx)
	}
	s.wg.Go(func() { s.reloadKeys(ctx) })
	s.wg.Go(func() { s.watchDisk(ctx) })
	return s, nil
}

func (s *Server) routes() (http.Handler, error) {
	opts := append([]connect.HandlerOption{
		connect.WithReadMaxBytes(s.cfg.MaxRequestBytes),
		connect.WithCompressMinBytes(1024),
		connect.WithInterceptors(s.metrics.interceptor()),
	}, codecs()...)
	// Procedures callable without a token take small messages only.
	public := append([]connect.HandlerOption{
		connect.WithReadMaxBytes(publicMaxRequestBytes),
		connect.WithCompressMinBytes(1024),
		connect.WithInterceptors(s.metrics.interceptor()),
	}, codecs()...)
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+BackupPath, s.backupHandler)
	ms := members{svc: s.svc, log: s.log}
	if s.cfg.Cluster != nil {
		ms.barrier = s.barrier
	}
	lim := s.cfg.RateLimits
	joins := newLimiter(lim.Join, s.cfg.Now)
	mux.Handle(linliv1connect.NewSyncServiceHandler(&syncHandler{
		svc: s.svc, members: ms, pushes: newLimiter(lim.Push, s.cfg.Now),
		log: s.log, now: s.cfg.Now, beat: s.cfg.Heartbeat, warn: s.cfg.TokenWarning, stopping: s.stopping,
	}, opts...))
	mux.Handle(linliv1connect.NewAuthServiceHandler(&authHandler{
		svc: s.svc, members: ms, tokens: s.tokens, log: s.log,
		joins: joins, refreshs: newLimiter(lim.Refresh, s.cfg.Now),
		proxies: s.cfg.TrustedProxies,
	}, public...))
	mux.Handle(linliv1connect.NewCommunityServiceHandler(&communityHandler{svc: s.svc, members: ms, log: s.log}, opts...))
	mux.Handle(linliv1connect.NewStaffServiceHandler(&staffHandler{svc: s.svc, members: ms, log: s.log, now: s.cfg.Now}, opts...))
	mux.Handle(linliv1connect.NewCatalogServiceHandler(&catalogHandler{svc: s.svc, members: ms, log: s.log}, opts...))
	healthPath, health := grpchealth.NewHandler(readiness{grpchealth.NewStaticChecker(serviceNames...), s}, public...)
	mux.Handle(healthPath, s.endOnStop(health))
	reflector := grpcreflect.NewStaticReflector(serviceNames...)
	mux.Handle(grpcreflect.NewHandlerV1(reflector, public...))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector, public...))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.metrics.handler(s.cfg.MetricsToken, s.log))
	if s.cfg.Cluster != nil {
		mux.Handle("GET "+ClusterPath, s.clusterStatusHandler())
	}
	// Outermost first: browser origins allowed (cors.go: it adds headers
	// and answers preflights, never wrapping the ResponseWriter), bodies
	// bounded before anything reads them (on the server's own
	// ResponseWriter, which http.MaxBytesReader needs to close the
	// connection of a body it cut short), every refusal explained, then
	// authentication.
	api := explainRefusals(s.maxRequestBytes)(Authenticate(s.tokens, publicPaths)(mux))
	staff, err := console.New(console.Config{
		Service: s.svc, Logger: s.cfg.Logger, Now: s.cfg.Now, Location: s.cfg.ConsoleLocation,
		Heartbeat: s.cfg.ConsoleHeartbeat, Stopping: s.stopping, Barrier: s.consoleBarrier(),
		Secure: func(r *http.Request) bool { return viaHTTPS(r, s.cfg.TrustedProxies) },
		// Signing in redeems a code like Join: the same per-address bucket.
		SignInAllowed: func(r *http.Request) (bool, time.Duration) {
			return joins.allow(requestHost(r, s.cfg.TrustedProxies))
		},
	})
	if err != nil {
		return nil, err
	}
	// The console authenticates by its own session cookie, not a bearer
	// token: its paths bypass the API's middleware.
	return s.allowOrigins(s.boundRequests(s.forwardWrites(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/console" || strings.HasPrefix(r.URL.Path, console.Prefix) {
			staff.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})))), nil
}

// serviceNames are linli's RPC services, for health and reflection.
var serviceNames = []string{
	linliv1connect.SyncServiceName,
	linliv1connect.AuthServiceName,
	linliv1connect.CommunityServiceName,
	linliv1connect.StaffServiceName,
	linliv1connect.CatalogServiceName,
}

// Handler is the server's HTTP handler: every RPC, health and reflection.
func (s *Server) Handler() http.Handler { return s.handler }

// Tokens mints and verifies the server's access tokens.
func (s *Server) Tokens() *Tokens { return s.tokens }

// Service is the domain service the server serves (for wiring and tools:
// the first community of a new store, the bench's members).
func (s *Server) Service() *mutualaid.Service { return s.svc }

// Serve answers on ln (HTTP/1.1 and h2c; or HTTPS with HTTP/2 and
// HTTP/1.1 if Config.TLS is set) until ctx ends, then shuts down
// gracefully: it stops accepting, fails readiness, ends streams, and lets
// calls in flight finish (their contexts stay live) for up to 10 s. It does
// not close the service (see Close).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	if s.cfg.TLS != nil {
		protocols.SetHTTP2(true)
	} else {
		protocols.SetUnencryptedHTTP2(true)
	}
	hs := &http.Server{
		TLSConfig:         s.cfg.TLS,
		Handler:           s.handler,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	errc := make(chan error, 1)
	go func() {
		if s.cfg.TLS != nil {
			errc <- hs.ServeTLS(ln, "", "") // the certificate comes from s.cfg.TLS
			return
		}
		errc <- hs.Serve(ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.stop()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := hs.Shutdown(shutdownCtx)
	cancelBase() // calls still running after the grace period end now
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// stop marks the start of shutdown (idempotent).
func (s *Server) stop() { s.stopOnce.Do(func() { close(s.stopping) }) }

// isStopping reports whether shutdown has begun.
func (s *Server) isStopping() bool {
	select {
	case <-s.stopping:
		return true
	default:
		return false
	}
}

// Close stops background work and closes the domain service (its jobs and
// its store). Call it after Serve has returned.
func (s *Server) Close() error {
	s.stop()
	s.cancel()
	s.wg.Wait()
	return s.svc.Close()
}

// reloadKeys re-reads the signing keys every KeyReload until ctx ends.
func (s *Server) reloadKeys(ctx context.Context) {
	if s.cfg.KeyReload < 0 {
		return
	}
	every(ctx, s.cfg.KeyReload, func() {
		keys, err := loadSharedKeys(s.cfg)
		if err != nil {
			s.log.Error("reload keys", "err", err)
			return
		}
		s.tokens.SetKeys(keys)
	})
}

// every calls fn every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}
