package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// detail returns the ErrorDetail of a Connect error, or nil.
func detail(err error) *linliv1.ErrorDetail {
	var cerr *connect.Error
	if !errors.As(err, &cerr) {
		return nil
	}
	for _, d := range cerr.Details() {
		if v, derr := d.Value(); derr == nil {
			if ed, ok := v.(*linliv1.ErrorDetail); ok {
				return ed
			}
		}
	}
	return nil
}

// reason is the machine-readable reason of a Connect error, or "".
func reason(err error) string { return detail(err).GetReason() }

// fatal reports whether err means syncing cannot go on without the user.
func fatal(err error) bool {
	return errors.Is(err, ErrRemoved) || errors.Is(err, ErrUpgradeRequired) || errors.Is(err, ErrSignedOut) || errors.Is(err, ErrClosed)
}

// retryable reports whether a failed call may succeed if tried again.
func retryable(err error) bool {
	var cerr *connect.Error
	if !errors.As(err, &cerr) {
		return true // a transport error
	}
	if !connect.IsWireError(err) {
		return true // the connection failed before the server answered
	}
	switch cerr.Code() {
	case connect.CodeUnavailable, connect.CodeResourceExhausted, connect.CodeInternal,
		connect.CodeUnknown, connect.CodeDeadlineExceeded, connect.CodeAborted:
		return true
	}
	return false
}

// call runs fn with retries: on retryable errors it waits an exponential
// backoff with full jitter (at least retry_after_seconds when the server
// rate-limits) and tries again, up to Config.MaxAttempts times. An expired
// access token is refreshed and the call retried at once. Errors the user
// must act on are mapped: protocol_version_unsupported → *UpgradeError,
// member_removed → ErrRemoved (after clearing the store), session_revoked →
// ErrSignedOut.
func (c *Client) call(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	refreshed := false
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		err := fn(actx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("client: %s: %w", op, ctx.Err())
		}
		if fatal(err) {
			return err
		}
		if mapped := c.mapError(ctx, err); mapped != nil {
			return mapped
		}
		if connect.CodeOf(err) == connect.CodeUnauthenticated && reason(err) == "token_expired" && !refreshed && c.cfg.AccessToken == nil {
			refreshed = true
			if rerr := c.refresh(ctx); rerr != nil {
				return rerr
			}
			attempt--
			continue
		}
		if !retryable(err) || attempt+1 >= c.cfg.MaxAttempts {
			return fmt.Errorf("client: %s: %w", op, err)
		}
		wait := c.backoff(attempt)
		if d := detail(err); d.GetReason() == "rate_limited" {
			wait = max(wait, time.Duration(d.GetRetryAfterSeconds())*time.Second)
		}
		c.log.DebugContext(ctx, "retrying", "op", op, "attempt", attempt+1, "wait", wait, "err", err)
		if err := sleep(ctx, wait); err != nil {
			return fmt.Errorf("client: %s: %w", op, err)
		}
	}
}

// mapError turns the errors that need the user into the package's
// sentinels; nil for any other error.
func (c *Client) mapError(ctx context.Context, err error) error {
	d := detail(err)
	switch d.GetReason() {
	case "protocol_version_unsupported":
		return &UpgradeError{Min: d.GetMinProtocolVersion(), Max: d.GetMaxProtocolVersion()}
	case "member_removed":
		if cerr := c.clearAll(ctx); cerr != nil {
			return errors.Join(ErrRemoved, cerr)
		}
		return ErrRemoved
	case "session_revoked":
		return fmt.Errorf("%w: %v", ErrSignedOut, err)
	}
	return nil
}

// backoff is the wait before try attempt+2: full jitter over an exponential
// ceiling from MinBackoff to MaxBackoff.
func (c *Client) backoff(attempt int) time.Duration {
	ceil := c.cfg.MinBackoff << min(attempt, 20)
	if ceil <= 0 || ceil > c.cfg.MaxBackoff {
		ceil = c.cfg.MaxBackoff
	}
	c.rngMu.Lock()
	defer c.rngMu.Unlock()
	return c.cfg.MinBackoff/2 + time.Duration(c.rng.Int64N(int64(ceil)))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// accessToken returns the token to send, refreshing managed tokens that
// are about to expire.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	if c.cfg.AccessToken != nil {
		return c.cfg.AccessToken(ctx)
	}
	c.tokMu.Lock()
	t := c.tokens
	c.tokMu.Unlock()
	if t == nil {
		return "", nil
	}
	if exp := t.GetAccessExpiresAt(); exp != nil && t.GetRefreshToken() != "" && time.Until(exp.AsTime()) < c.cfg.RefreshBefore {
		if err := c.refresh(ctx); err != nil {
			return "", err
		}
		c.tokMu.Lock()
		t = c.tokens
		c.tokMu.Unlock()
	}
	return t.GetAccessToken(), nil
}

// refresh trades the managed refresh token for a new pair and stores it
// before using it (each refresh token works once).
//
// Errors: ErrSignedOut if there is no refresh token or the server refuses
// it; transport errors.
func (c *Client) refresh(ctx context.Context) error {
	ctx, done, err := c.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	t := c.tokens
	if t.GetRefreshToken() == "" {
		return fmt.Errorf("%w: no refresh token", ErrSignedOut)
	}
	if exp := t.GetAccessExpiresAt(); exp != nil && time.Until(exp.AsTime()) > c.cfg.RefreshBefore {
		return nil // another caller refreshed meanwhile
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	res, err := c.auth.Refresh(rctx, &linliv1.RefreshRequest{ProtocolVersion: ProtocolVersion, RefreshToken: t.GetRefreshToken()})
	if err != nil {
		if mapped := c.mapError(ctx, err); mapped != nil && !errors.Is(mapped, ErrRemoved) {
			return mapped
		}
		if code := connect.CodeOf(err); connect.IsWireError(err) && (code == connect.CodeUnauthenticated || code == connect.CodePermissionDenied) {
			return fmt.Errorf("%w: refresh: %v", ErrSignedOut, err)
		}
		return fmt.Errorf("client: refresh: %w", err)
	}
	return c.storeTokens(res.GetTokens())
}

// authInterceptor sends the access token on every call.
type authInterceptor struct{ c *Client }

func (a authInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		tok, err := a.c.accessToken(ctx)
		if err != nil {
			return nil, err
		}
		if tok != "" {
			req.Header().Set("Authorization", "Bearer "+tok)
		}
		return next(ctx, req)
	}
}

func (a authInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		if tok, err := a.c.accessToken(ctx); err == nil && tok != "" {
			conn.RequestHeader().Set("Authorization", "Bearer "+tok)
		}
		return conn
	}
}

func (a authInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
