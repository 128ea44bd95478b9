// Package bearer authenticates outgoing Connect calls with an access token,
// for linli's tools and tests (apps use package client, which refreshes
// its tokens itself).
package bearer

import (
	"context"

	"connectrpc.com/connect"
)

// Token is a connect.Interceptor that sends "Authorization: Bearer
// <token>" on every unary and streaming call it makes; the empty Token
// sends no Authorization header. Pass it with connect.WithInterceptors.
type Token string

// WrapUnary implements connect.Interceptor.
func (t Token) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if t != "" {
			req.Header().Set("Authorization", "Bearer "+string(t))
		}
		return next(ctx, req)
	}
}

// WrapStreamingClient implements connect.Interceptor.
func (t Token) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		if t != "" {
			conn.RequestHeader().Set("Authorization", "Bearer "+string(t))
		}
		return conn
	}
}

// WrapStreamingHandler implements connect.Interceptor; it changes nothing
// (Token is for clients).
func (t Token) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
