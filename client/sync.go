package client

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"github.com/cockroachdb/pebble/v2"
	"google.golang.org/protobuf/proto"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// Sync pushes every queued mutation (in batches of at most MaxPushBatch,
// retrying with backoff) and then pulls until the feed is exhausted. A
// mutation leaves the queue only once its outcome is stored; a Push whose
// response was lost is sent again with the same ids, and the server answers
// with the stored outcomes, so each mutation applies exactly once.
//
// Errors: ErrClosed; *UpgradeError (ErrUpgradeRequired); ErrRemoved (the
// store was cleared); ErrSignedOut; the last error after Config.MaxAttempts
// tries; ctx's error; storage errors.
func (c *Client) Sync(ctx context.Context) error {
	ctx, done, err := c.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	if err := c.pushAll(ctx); err != nil {
		return err
	}
	return c.pullAll(ctx)
}

// Push pushes the queue without pulling. Errors as Sync.
func (c *Client) Push(ctx context.Context) error {
	ctx, done, err := c.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	return c.pushAll(ctx)
}

// Pull pulls until the feed is exhausted, without pushing. Errors as Sync.
func (c *Client) Pull(ctx context.Context) error {
	ctx, done, err := c.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	return c.pullAll(ctx)
}

// pushAll pushes the queue batch by batch. REQUIRES: syncMu held.
func (c *Client) pushAll(ctx context.Context) error {
	for ctx.Err() == nil {
		batch, err := c.pending(MaxPushBatch)
		if err != nil || len(batch) == 0 {
			return err
		}
		var res *linliv1.PushResponse
		err = c.call(ctx, "push", func(ctx context.Context) error {
			var err error
			res, err = c.api.Push(ctx, &linliv1.PushRequest{ProtocolVersion: ProtocolVersion, ClientId: c.cfg.ClientID, Mutations: batch})
			return err
		})
		if d := detail(err); d.GetReason() == "mutation_id_gap" && connect.CodeOf(err) == connect.CodeFailedPrecondition {
			if err := c.recoverGap(ctx, d.GetLastMutationId()); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if err := c.storeResults(res.GetResults(), res.GetLastMutationId()); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// storeResults removes the mutations with results from the queue, records
// their outcomes, and raises acked, in one batch.
func (c *Client) storeResults(results []*linliv1.MutationResult, last uint64) error {
	b := c.db.NewBatch()
	defer b.Close()
	for _, r := range results {
		if err := c.putOutcome(b, r); err != nil {
			return err
		}
	}
	if err := c.raiseAcked(b, last); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("client: store push results: %w", err)
	}
	return nil
}

// putOutcome dequeues r's mutation and keeps r unless it is a plain APPLIED.
func (c *Client) putOutcome(b *pebble.Batch, r *linliv1.MutationResult) error {
	_ = b.Delete(idKey(prefixQueue, r.GetId()), nil)
	if r.GetStatus() == linliv1.MutationStatus_MUTATION_STATUS_APPLIED && r.GetReason() == "" {
		return nil
	}
	v, err := proto.Marshal(r)
	if err != nil {
		return fmt.Errorf("client: marshal outcome: %w", err)
	}
	_ = b.Set(idKey(prefixOutcome, r.GetId()), v, nil)
	return nil
}

func (c *Client) raiseAcked(b *pebble.Batch, last uint64) error {
	acked, err := c.getUint(keyAcked)
	if err != nil {
		return err
	}
	if last > acked {
		_ = b.Set([]byte(keyAcked), be64(last), nil)
	}
	return nil
}

// recoverGap handles mutation_id_gap: the server has processed up to last,
// and the queue starts beyond last+1 (the server lost mutations, e.g. it
// was restored from a backup). Mutations ≤ last leave the queue (their
// outcomes come through Pull); the rest are renumbered from last+1, so the
// queue can flow again, and outcomes stored for ids above last are
// forgotten. The lost mutations cannot be recovered.
func (c *Client) recoverGap(ctx context.Context, last uint64) error {
	c.enqMu.Lock()
	defer c.enqMu.Unlock()
	queue, err := c.pending(0)
	if err != nil {
		return err
	}
	b := c.db.NewBatch()
	defer b.Close()
	next := last + 1
	for _, m := range queue {
		_ = b.Delete(idKey(prefixQueue, m.GetId()), nil)
		if m.GetId() <= last {
			continue
		}
		old := m.GetId()
		m.Id = next
		v, err := proto.Marshal(m)
		if err != nil {
			return fmt.Errorf("client: marshal mutation: %w", err)
		}
		_ = b.Set(idKey(prefixQueue, next), v, nil)
		c.log.WarnContext(ctx, "mutation renumbered after an id gap", "old_id", old, "new_id", next)
		next++
	}
	// Outcomes kept for ids above last belonged to the lost mutations: the
	// renumbered ones must not inherit them.
	_ = b.DeleteRange(idKey(prefixOutcome, last+1), prefixEnd(prefixOutcome), nil)
	_ = b.Set([]byte(keyNext), be64(next), nil)
	_ = b.Set([]byte(keyAcked), be64(last), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("client: recover from id gap: %w", err)
	}
	c.next = next
	return nil
}

// pullAll pulls pages until has_more is false. Pages are fetched one
// ahead: while one page is written to the store, the next is on its way.
// REQUIRES: syncMu held.
func (c *Client) pullAll(ctx context.Context) error {
	for ctx.Err() == nil {
		err := c.pullPages(ctx)
		if reason(err) != "cursor_malformed" {
			return err
		}
		c.log.WarnContext(ctx, "server refused the cursor: pulling from zero")
		if err := c.resetAll(); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// fetched is one page, or why it could not be had.
type fetched struct {
	page *rawPage
	err  error
}

// pullPages fetches pages from the stored cursor on, each as soon as the
// one before has arrived, and writes them in order.
func (c *Client) pullPages(ctx context.Context) error {
	cursor, _, err := c.get(keyCursor)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan fetched, 1)
	go func() {
		defer close(pages)
		cur := string(cursor)
		for n := 0; ; n++ {
			var f fetched
			if n > 100_000 {
				f.err = errors.New("client: pull never ends")
			} else {
				f.page, f.err = c.fetchPage(ctx, cur)
			}
			more := f.err == nil && f.page.hasMore
			if more {
				cur = f.page.cursor
			}
			select {
			case pages <- f:
			case <-ctx.Done():
				if f.page != nil {
					f.page.close()
				}
				return
			}
			if !more {
				return
			}
		}
	}()
	var progress PullProgress
	for f := range pages {
		if f.err == nil {
			f.err = c.applyPage(f.page)
		}
		if f.err == nil && c.cfg.OnPage != nil {
			progress.Pages++
			progress.Changes += f.page.changes
			progress.More = f.page.hasMore
			c.cfg.OnPage(progress)
		}
		if f.err != nil {
			cancel()
			for f := range pages { // let the fetcher end
				if f.page != nil {
					f.page.close()
				}
			}
			return f.err
		}
	}
	return ctx.Err()
}

// fetchPage pulls one page after cursor.
func (c *Client) fetchPage(ctx context.Context, cursor string) (*rawPage, error) {
	var page rawPage
	err := c.call(ctx, "pull", func(ctx context.Context) error {
		res, err := c.pull.CallUnary(ctx, connect.NewRequest(&linliv1.PullRequest{ProtocolVersion: ProtocolVersion, Cursor: cursor, MaxChanges: c.cfg.PageSize}))
		if err == nil {
			page.close() // a page from an earlier attempt
			page = *res.Msg
		}
		return err
	})
	return &page, err
}

// resetAll forgets every synced scope and the cursor (the queue stays).
func (c *Client) resetAll() error {
	b := c.db.NewBatch()
	defer b.Close()
	_ = b.DeleteRange([]byte(prefixEntity), prefixEnd(prefixEntity), nil)
	_ = b.Delete([]byte(keyCursor), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("client: reset: %w", err)
	}
	return nil
}

// applyPage stores one Pull page and its cursor in one batch: the page's
// batch already clears its reset and dropped scopes and writes its changes
// in order (see readPage). The caller's own client state dequeues the
// mutations it covers, with the outcomes it carries.
func (c *Client) applyPage(p *rawPage) error {
	defer p.close()
	b := p.batch
	for _, cs := range p.states {
		if err := c.settleFromState(b, cs); err != nil {
			return err
		}
	}
	_ = b.Set([]byte(keyCursor), []byte(p.cursor), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("client: apply pull page: %w", err)
	}
	return nil
}

// settleFromState dequeues the mutations the server reports processed (a
// Push whose response was lost), keeping their outcomes when known.
func (c *Client) settleFromState(b *pebble.Batch, cs *linliv1.ClientState) error {
	last := cs.GetLastMutationId()
	recent := map[uint64]*linliv1.MutationResult{}
	for _, r := range cs.GetRecentResults() {
		recent[r.GetId()] = r
	}
	queue, err := c.pending(0)
	if err != nil {
		return err
	}
	for _, m := range queue {
		if m.GetId() > last {
			break
		}
		r := recent[m.GetId()]
		if r == nil {
			r = &linliv1.MutationResult{Id: m.GetId(), Status: linliv1.MutationStatus_MUTATION_STATUS_OUTCOME_EXPIRED}
		}
		if err := c.putOutcome(b, r); err != nil {
			return err
		}
	}
	return c.raiseAcked(b, last)
}
