package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/grpchealth"

	linlisync "github.com/linli/linli/sync"
)

// WritesHealthService is the name under which the gRPC health service
// reports whether the server accepts writes: SERVING normally, NOT_SERVING
// while writes are refused for want of disk space (Push answers
// UNAVAILABLE / disk_full) or after a commit failed. The services
// themselves stay SERVING then, since reads are still served.
const WritesHealthService = "linli.writes"

// diskCheckEvery is how often the server reads its disk's free space on
// its own, so that a disk filling up (or freed) is logged even when no
// write comes to notice it.
const diskCheckEvery = 10 * time.Second

// readiness is the gRPC health checker: the services' static status,
// except NOT_SERVING while the server shuts down or the store does not
// answer (as /readyz); WritesHealthService is checked on each call. Watch
// streams report the static status and end when shutdown begins (see
// endOnStop).
type readiness struct {
	*grpchealth.StaticChecker
	s *Server
}

// Check reports the service's status now.
func (r readiness) Check(ctx context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	if req.Service == WritesHealthService {
		if ctx.Err() != nil || r.s.isStopping() || r.s.svc.Ping() != nil || writesRefused(r.s.svc.DiskStatus()) != "" {
			return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil
		}
		return &grpchealth.CheckResponse{Status: grpchealth.StatusServing}, nil
	}
	res, err := r.StaticChecker.Check(ctx, req)
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil || r.s.isStopping() || r.s.svc.Ping() != nil {
		return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil
	}
	return res, nil
}

// writesRefused says why the store refuses writes now, or "" if it does
// not.
func writesRefused(st linlisync.DiskStatus) string {
	switch {
	case st.Failed != nil:
		return "a commit failed: restart linli (once the disk has room)"
	case st.Full:
		return fmt.Sprintf("disk nearly full: %d MiB free, %d MiB kept in reserve", st.Available>>20, st.Reserve>>20)
	}
	return ""
}

// watchDisk reads the disk's free space every diskCheckEvery until ctx
// ends: the store logs when writes stop and start again.
func (s *Server) watchDisk(ctx context.Context) {
	every(ctx, diskCheckEvery, func() { s.svc.DiskStatus() })
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
// otherwise (a load balancer should stop sending traffic). While writes
// are refused (a full disk) the server still serves reads, so it stays
// ready: a second line "writes refused: <why>" says so (and
// WritesHealthService in gRPC health, linli_sync_disk_full in metrics).
// GET /healthz is the liveness probe: it answers 200 as long as the
// process serves HTTP. gRPC clients use grpc.health.v1.Health instead.
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
	if why := writesRefused(s.svc.DiskStatus()); why != "" {
		_, _ = fmt.Fprintf(w, "ready\nwrites refused: %s\n", why)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}
