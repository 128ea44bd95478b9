package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"

	"github.com/linli/linli/mutualaid"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	linlisync "github.com/linli/linli/sync"
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
	// Store tunes the engine; DataDir and Logger above take precedence.
	Store linlisync.Options
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
}

// Server is linli's RPC server: the sync engine behind Connect handlers.
type Server struct {
	cfg     Config
	log     *slog.Logger
	store   *linlisync.Store
	tokens  *Tokens
	handler http.Handler
}

// Public procedures: reachable without a token.
var publicPaths = map[string]bool{
	"/" + grpchealth.HealthV1ServiceName + "/Check":                       true,
	"/" + grpchealth.HealthV1ServiceName + "/Watch":                       true,
	"/" + grpcreflect.ReflectV1ServiceName + "/ServerReflectionInfo":      true,
	"/" + grpcreflect.ReflectV1AlphaServiceName + "/ServerReflectionInfo": true,
	"/healthz": true,
}

// New opens the store and keys in cfg.DataDir and builds the handler.
// Errors: the store or the keys cannot be opened.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if cfg.DataDir == "" {
		return nil, errors.New("server: data folder not set")
	}
	keys, err := LoadOrCreateKeys(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	so := cfg.Store
	so.Logger = cfg.Logger
	so.EncodeClientState = mutualaid.EncodeClientState
	if so.Now == nil {
		so.Now = cfg.Now
	}
	store, err := linlisync.Open(filepath.Join(cfg.DataDir, "store"), so)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	tokens := NewTokens(keys)
	tokens.Now = cfg.Now
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "server"), store: store, tokens: tokens}
	s.handler = s.routes()
	return s, nil
}

func (s *Server) routes() http.Handler {
	opts := []connect.HandlerOption{
		connect.WithReadMaxBytes(s.cfg.MaxRequestBytes),
		connect.WithCompressMinBytes(1024),
	}
	mux := http.NewServeMux()
	sh := &syncHandler{
		store: s.store, log: s.log, now: s.cfg.Now, beat: s.cfg.Heartbeat, warn: s.cfg.TokenWarning,
		scopes: func(p Principal) []string { return mutualaid.Scopes(member(p)) },
	}
	mux.Handle(linliv1connect.NewSyncServiceHandler(sh, opts...))
	mux.Handle(grpchealth.NewHandler(grpchealth.NewStaticChecker(linliv1connect.SyncServiceName), opts...))
	reflector := grpcreflect.NewStaticReflector(linliv1connect.SyncServiceName)
	mux.Handle(grpcreflect.NewHandlerV1(reflector, opts...))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector, opts...))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	return Authenticate(s.tokens, publicPaths)(mux)
}

// Handler is the server's HTTP handler: every RPC, health and reflection.
func (s *Server) Handler() http.Handler { return s.handler }

// Tokens mints and verifies the server's access tokens.
func (s *Server) Tokens() *Tokens { return s.tokens }

// Store is the server's sync engine.
func (s *Server) Store() *linlisync.Store { return s.store }

// Serve answers on ln (HTTP/1.1 and h2c) until ctx ends, then shuts down
// gracefully: it stops accepting, ends streams, and waits up to 10 s for
// in-flight calls. It does not close the store (see Close).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	hs := &http.Server{
		Handler:           s.handler,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := hs.Shutdown(shutdownCtx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// Close closes the store. Call it after Serve has returned.
func (s *Server) Close() error { return s.store.Close() }
