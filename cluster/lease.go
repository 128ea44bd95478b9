package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// leaseValue is the writer's lease as the bucket holds it under "writer".
// A holder renews it (rewrites it, moving its revision) every quarter of
// the lease; a node that sees the revision stand still for a whole lease
// takes it over by rewriting it at that revision (only one such write
// succeeds). Term is the revision at which the holder took the lease: it
// grows with every new holder and names the holder's appends.
type leaseValue struct {
	Node string `json:"node"`
	URL  string `json:"url"`
	Term uint64 `json:"term"`
}

// lead takes part in the lease until ctx ends: it renews the lease while
// this node holds it, watches the holder otherwise, and takes over a holder
// that stopped renewing.
func (n *Node) lead(ctx context.Context) {
	var seen struct {
		rev uint64
		at  time.Time
	}
	t := time.NewTicker(n.cfg.Lease / 4)
	defer t.Stop()
	for {
		n.leaseStep(ctx, &seen.rev, &seen.at)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.wakeLead:
		}
	}
}

// leaseStep reads the lease once and acts on it.
func (n *Node) leaseStep(ctx context.Context, seenRev *uint64, seenAt *time.Time) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Lease/2)
	defer cancel()
	e, err := n.kv.Get(ctx, keyWriter)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		n.setHolder(leaseValue{})
		n.demote("the lease is vacant")
		n.take(ctx, 0)
		return
	case err != nil:
		// The bucket cannot be read (cut off from the others?). A writer
		// stops by itself when its lease is not renewed (Writable).
		return
	}
	var v leaseValue
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		n.log.Error("cluster: malformed lease", "value", string(e.Value()))
		v = leaseValue{}
	}
	if e.Revision() != *seenRev {
		*seenRev, *seenAt = e.Revision(), time.Now()
	}
	n.setHolder(v)
	n.mu.Lock()
	term := n.term
	n.mu.Unlock()
	switch {
	case term != 0 && v.Node == n.cfg.Node && v.Term == term:
		n.renew(ctx, v, e.Revision(), seenRev, seenAt)
	case v.Node == n.cfg.Node:
		// Ours from before a restart: take it again, with a new term.
		n.take(ctx, e.Revision())
	default:
		n.demote("another node holds the lease")
		if time.Since(*seenAt) > n.cfg.Lease {
			n.log.Info("cluster: the writer stopped renewing its lease", "writer", v.Node, "term", v.Term)
			n.take(ctx, e.Revision())
		}
	}
}

// renew rewrites this node's lease at rev.
func (n *Node) renew(ctx context.Context, v leaseValue, rev uint64, seenRev *uint64, seenAt *time.Time) {
	b, _ := json.Marshal(v)
	newRev, err := n.kv.Update(ctx, keyWriter, b, rev)
	switch {
	case err == nil:
		*seenRev, *seenAt = newRev, time.Now()
		n.mu.Lock()
		if n.term == v.Term {
			n.renewed = time.Now()
		}
		n.mu.Unlock()
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		n.demote("the lease was taken over")
	default:
		n.log.Warn("cluster: renew the lease", "err", err)
	}
}

// take tries to take the lease, at revision rev (0: it is vacant). On
// success this node fences the log and catches up, then writes.
func (n *Node) take(ctx context.Context, rev uint64) {
	v := leaseValue{Node: n.cfg.Node, URL: n.cfg.Advertise}
	b, _ := json.Marshal(v)
	var (
		newRev uint64
		err    error
	)
	if rev == 0 {
		newRev, err = n.kv.Create(ctx, keyWriter, b)
	} else {
		newRev, err = n.kv.Update(ctx, keyWriter, b, rev)
	}
	if err != nil {
		return // another node was faster, or the bucket is out of reach
	}
	v.Term = newRev
	b, _ = json.Marshal(v)
	if _, err := n.kv.Update(ctx, keyWriter, b, newRev); err != nil {
		return // taken over at once: leave it
	}
	n.mu.Lock()
	n.term, n.renewed, n.holder, n.groups, n.writable = v.Term, time.Now(), v, 0, false
	n.mu.Unlock()
	n.stats.failovers.Add(1)
	n.log.Info("cluster: took the writer's lease", "term", v.Term)
	n.wg.Go(func() { n.fence(n.runCtx, v.Term) })
}

// fence makes this node, holder of the lease in term, the writer: it
// appends a mark on top of the log, so that an append by any earlier
// writer fails, waits until its store has applied the log up to the mark,
// and then lets writes through. It gives up if the term ends meanwhile.
func (n *Node) fence(ctx context.Context, term uint64) {
	start := time.Now()
	var mark uint64
	// The first tries wait briefly: when the old writer's node also led
	// the log, the log answers nothing until JetStream has elected another
	// leader, and a try that waited the whole append timeout would
	// keep the cluster without a writer for that long after the election.
	// A mark is appended at most once however often it is tried (its
	// message id names the term and the position it goes on top of).
	// After a few short tries the wait grows, so that a slow log is
	// waited for all the same.
	wait := min(n.cfg.Timeout, max(n.cfg.Lease/4, 250*time.Millisecond))
	for try := 1; ; try++ {
		if n.currentTerm() != term || ctx.Err() != nil {
			return
		}
		seq, err := n.appendMark(ctx, term, wait)
		if err == nil {
			mark = seq
			break
		}
		if errors.Is(err, errSuperseded) {
			n.demoteTerm(term, "a newer writer appended to the log")
			return
		}
		n.log.Debug("cluster: fence the log", "err", err, "waited", wait)
		if try >= 8 {
			wait = min(2*wait, n.cfg.Timeout)
		}
		sleep(ctx, 50*time.Millisecond)
	}
	// Catch up to the mark. If the store does not get there promptly, its
	// follower may hold a consumer on a server that died: start it afresh.
	wait = 250 * time.Millisecond
	for {
		if n.currentTerm() != term || ctx.Err() != nil {
			return
		}
		wctx, cancel := context.WithTimeout(ctx, wait)
		err := n.store.WaitReplicaPosition(wctx, mark)
		cancel()
		if err == nil {
			break
		}
		n.refollow()
		wait = min(2*wait, n.cfg.Lease)
	}
	n.mu.Lock()
	if n.term != term {
		n.mu.Unlock()
		return
	}
	n.writable, n.lastSeq = true, mark
	n.mu.Unlock()
	n.log.Info("cluster: this node is the writer", "term", term, "log", mark, "caught up in", time.Since(start).Round(time.Millisecond))
	if n.cfg.OnLead != nil {
		n.wg.Go(n.cfg.OnLead)
	}
}

// demote ends this node's term, if it has one: writes stop at once.
func (n *Node) demote(why string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.writable = false
	if n.term == 0 {
		return
	}
	n.log.Warn("cluster: no longer the writer", "why", why, "term", n.term)
	n.term = 0
}

// demoteTerm is demote if this node's term is still term.
func (n *Node) demoteTerm(term uint64, why string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.term != term {
		return
	}
	n.log.Warn("cluster: no longer the writer", "why", why, "term", n.term)
	n.term, n.writable = 0, false
}

// resign gives the lease up, if this node holds it, so another takes over
// without waiting for it to expire.
func (n *Node) resign() {
	n.mu.Lock()
	term := n.term
	n.term, n.writable = 0, false
	n.mu.Unlock()
	if term == 0 || n.kv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	e, err := n.kv.Get(ctx, keyWriter)
	if err != nil {
		return
	}
	var v leaseValue
	if json.Unmarshal(e.Value(), &v) == nil && v.Node == n.cfg.Node && v.Term == term {
		if err := n.kv.Delete(ctx, keyWriter, jetstream.LastRevision(e.Revision())); err == nil {
			n.log.Info("cluster: gave the writer's lease up", "term", term)
		}
	}
}

func (n *Node) setHolder(v leaseValue) {
	n.mu.Lock()
	n.holder = v
	n.mu.Unlock()
}

func (n *Node) currentTerm() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.term
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
