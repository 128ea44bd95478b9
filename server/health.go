package server

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"connectrpc.com/grpchealth"

	linlisync "github.com/linli/linli/sync"
)

// readiness is the gRPC health checker: the services' static status,
// except NOT_SERVING while the server shuts down or the store does not
// answer (as /readyz). Watch streams report the static status and end when
// shutdown begins (see endOnStop).
type readiness struct {
	*grpchealth.StaticChecker
	s *Server
}

// Check reports the service's status now.
func (r readiness) Check(ctx context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	res, err := r.StaticChecker.Check(ctx, req)
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil || r.s.isStopping() || r.s.svc.Ping() != nil {
		return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil
	}
	return res, nil
}

// endOnStop gives h's health Watch streams a context that ends when
// shutdown begins, so that they do not hold it up. (Check calls keep
// theirs: during shutdown they answer NOT_SERVING.)
func (s *Server) endOnStop(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/Watch") {
			h.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		go func() {
			select {
			case <-s.stopping:
				cancel()
			case <-ctx.Done():
			}
		}()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// readyz answers GET /readyz, the readiness probe: 200 "ready" when the
// store answers a trivial read and the server is not shutting down, 503
// otherwise (a load balancer should stop sending traffic). GET /healthz is
// the liveness probe: it answers 200 as long as the process serves HTTP.
// gRPC clients use grpc.health.v1.Health instead.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if r.Context().Err() != nil || s.isStopping() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	if err := s.svc.Ping(); err != nil {
		if errors.Is(err, linlisync.ErrClosed) {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		s.log.WarnContext(r.Context(), "not ready: store read failed", "err", err)
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}
