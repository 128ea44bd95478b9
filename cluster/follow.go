package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	linlisync "github.com/linli/linli/sync"
)

// follow feeds the store from the log until ctx ends: every entry after the
// store's position, in order, batched into one ApplyReplicated call per
// burst. The writer follows too; its own groups are already in its store
// and skipped.
func (n *Node) follow(ctx context.Context) {
	for ctx.Err() == nil {
		err := n.followOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errRefollow) {
			continue
		}
		n.log.Warn("cluster: following the log", "err", err)
		sleep(ctx, 250*time.Millisecond)
	}
}

// errRefollow ends followOnce when refollow asks for a new consumer.
var errRefollow = errors.New("cluster: follow the log afresh")

// refollow makes the follower drop its consumer and follow the log afresh
// from its store's position. A consumer whose server died (the log's
// leader was on the node that went) notices only after its heartbeats
// stop, seconds later; a new writer waiting to catch up does not wait for
// that.
func (n *Node) refollow() {
	select {
	case n.kickFollow <- struct{}{}:
	default:
	}
}

// Bounds of one ApplyReplicated call.
const (
	maxApplyEntries = 512
	maxApplyBytes   = 16 << 20
)

func (n *Node) followOnce(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := n.store.ReplicaPosition() + 1
	cons, err := n.js.OrderedConsumer(ctx, n.cfg.Prefix+"_LOG", jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{n.subject},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    start,
	})
	if err != nil {
		return fmt.Errorf("consumer from %d: %w", start, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(1024))
	if err != nil {
		return fmt.Errorf("consume from %d: %w", start, err)
	}
	msgs := make(chan jetstream.Msg, maxApplyEntries)
	errc := make(chan error, 1)
	go func() {
		defer close(msgs)
		for {
			m, err := it.Next(jetstream.NextContext(ctx))
			if err != nil {
				errc <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer it.Stop()
	var asm assembler
	for {
		var (
			batch []linlisync.Replicated
			bytes int
		)
		take := func(m jetstream.Msg) error {
			meta, err := m.Metadata()
			if err != nil {
				return err
			}
			seq := meta.Sequence.Stream
			n.stats.logLast.Store(max(n.stats.logLast.Load(), seq+meta.NumPending))
			r, ok, err := asm.add(m.Headers(), m.Data(), seq)
			if err != nil {
				return err
			}
			if ok {
				batch = append(batch, r)
				bytes += len(r.Repr)
			}
			return nil
		}
		select {
		case m, ok := <-msgs:
			if !ok {
				return <-errc
			}
			if err := take(m); err != nil {
				return err
			}
		case <-n.kickFollow:
			return errRefollow
		case <-ctx.Done():
			return ctx.Err()
		}
	drain:
		for len(batch) < maxApplyEntries && bytes < maxApplyBytes {
			select {
			case m, ok := <-msgs:
				if !ok {
					break drain
				}
				if err := take(m); err != nil {
					return err
				}
			default:
				break drain
			}
		}
		if len(batch) > 0 {
			if err := n.store.ApplyReplicated(ctx, batch); err != nil {
				return fmt.Errorf("apply log entries %d..%d: %w", batch[0].Pos, batch[len(batch)-1].Pos, err)
			}
		}
	}
}
