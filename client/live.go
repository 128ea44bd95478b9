package client

import (
	"context"
	"errors"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// Live keeps the client in sync until ctx ends: it syncs, holds a Subscribe
// stream open and syncs on every poke. A broken stream is reopened after a
// backoff; after Config.LiveFailures failures in a row it syncs every
// Config.PollInterval instead, trying Subscribe again each time, until a
// stream works again. Failed syncs are logged and retried on the next poke
// or poll.
//
// Errors: nil when ctx ends; ErrClosed; *UpgradeError; ErrRemoved;
// ErrSignedOut.
func (c *Client) Live(ctx context.Context) error {
	failures := 0
	for ctx.Err() == nil {
		if failures >= c.cfg.LiveFailures {
			if err := c.syncLogged(ctx); err != nil {
				return err
			}
			if sleep(ctx, c.cfg.PollInterval) != nil {
				return nil
			}
		}
		got, err := c.subscribeOnce(ctx)
		if fatal(err) {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case got && reason(err) == "token_expired" && c.cfg.AccessToken == nil:
			if rerr := c.refresh(ctx); fatal(rerr) {
				return rerr
			}
			failures = 0
			continue
		case got:
			failures = 1
		default:
			failures++
		}
		c.log.DebugContext(ctx, "subscribe stream ended", "failures", failures, "err", err)
		if failures < c.cfg.LiveFailures {
			if sleep(ctx, c.backoff(failures-1)) != nil {
				return nil
			}
		}
	}
	return nil
}

// syncLogged syncs, logging errors that do not end Live.
func (c *Client) syncLogged(ctx context.Context) error {
	err := c.Sync(ctx)
	if err == nil || fatal(err) {
		return err
	}
	if ctx.Err() == nil {
		c.log.InfoContext(ctx, "sync failed; will retry", "err", err)
	}
	return nil
}

// subscribeOnce holds one Subscribe stream until it ends, syncing on every
// poke. got reports whether the stream delivered anything.
func (c *Client) subscribeOnce(ctx context.Context) (got bool, err error) {
	sctx, done, err := c.enter(ctx)
	if err != nil {
		return false, err
	}
	stream, err := c.api.Subscribe(sctx, &linliv1.SubscribeRequest{ProtocolVersion: ProtocolVersion})
	if err != nil {
		done()
		return false, c.streamError(ctx, err)
	}
	defer func() {
		_ = stream.Close()
		done()
	}()
	for stream.Receive() {
		got = true
		msg := stream.Msg()
		switch {
		case msg.GetPoke() != nil:
			if err := c.syncLogged(ctx); err != nil {
				return got, err
			}
		case msg.GetTokenExpiring() != nil && c.cfg.AccessToken == nil:
			// Refresh now; the stream is reopened with the new token when
			// the server ends it.
			if err := c.refresh(ctx); fatal(err) {
				return got, err
			}
		}
	}
	return got, c.streamError(ctx, stream.Err())
}

// streamError maps a stream's end to the package's errors.
func (c *Client) streamError(ctx context.Context, err error) error {
	if err == nil {
		return errors.New("client: subscribe stream ended")
	}
	if fatal(err) {
		return err
	}
	if mapped := c.mapError(ctx, err); mapped != nil {
		return mapped
	}
	return err
}
