package server

import (
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
)

// Bounds on what a request may make the server hold, so that hostile
// input (many concurrent oversized bodies, with or without a login) costs
// bounded memory.
const (
	// publicMaxRequestBytes bounds a message to a procedure anyone may call
	// without a token (Join, Refresh, health, reflection) and any other
	// body (the backup endpoint, unknown paths): all are small.
	publicMaxRequestBytes = 64 << 10
	// envelopeSlack covers framing around a message (the 5-byte envelope
	// of streaming protocols, an end-of-stream message).
	envelopeSlack = 64
	// maxPublicInFlight bounds the public procedures doing work at once
	// (Join and Refresh write to the store); more are refused with
	// RESOURCE_EXHAUSTED / server_busy at once, holding nothing.
	maxPublicInFlight = 32
)

// publicWork are the public procedures that do work worth bounding.
// Health checks stay outside the bound: a load balancer must reach them
// while Join is under attack.
var publicWork = map[string]bool{
	linliv1connect.AuthServiceJoinProcedure:                               true,
	linliv1connect.AuthServiceRefreshProcedure:                            true,
	"/" + grpcreflect.ReflectV1ServiceName + "/ServerReflectionInfo":      true,
	"/" + grpcreflect.ReflectV1AlphaServiceName + "/ServerReflectionInfo": true,
}

// maxRequestBytes is the largest message a request to path may carry.
func (s *Server) maxRequestBytes(r *http.Request) int {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/"+linliv1connect.AuthServiceName+"/"),
		strings.HasPrefix(p, "/"+grpchealth.HealthV1ServiceName+"/"),
		publicWork[p]:
		return publicMaxRequestBytes
	case strings.HasPrefix(p, "/linli.v1."):
		return s.cfg.MaxRequestBytes
	}
	return publicMaxRequestBytes
}

// boundRequests refuses a body larger than its procedure takes before
// reading any of it (by its Content-Length) or once it has read that much
// (a body of unknown length), and bounds the public procedures working at
// once.
func (s *Server) boundRequests(next http.Handler) http.Handler {
	ew := connect.NewErrorWriter()
	slots := make(chan struct{}, maxPublicInFlight)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := s.maxRequestBytes(r)
		if r.ContentLength > int64(limit+envelopeSlack) {
			// Nothing of it is read; the connection closes after the answer.
			w.Header().Set("Connection", "close")
			if !ew.IsSupported(r) && !strings.HasPrefix(r.URL.Path, "/linli.v1.") {
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
				return
			}
			err := newError(connect.CodeInvalidArgument, tooLargeMessage(limit),
				&linliv1.ErrorDetail{Reason: "message_too_large", MaxMessageBytes: uint64(limit)})
			_ = ew.Write(w, r, err)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, int64(limit+envelopeSlack))
		}
		if publicWork[r.URL.Path] {
			select {
			case slots <- struct{}{}:
				defer func() { <-slots }()
			default:
				w.Header().Set("Retry-After", "1")
				_ = ew.Write(w, r, newError(connect.CodeResourceExhausted, "the server is busy: try again in 1 s",
					&linliv1.ErrorDetail{Reason: "server_busy", RetryAfterSeconds: 1}))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
