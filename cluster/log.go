package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	linlisync "github.com/linli/linli/sync"
)

// The log. ON-WIRE FORMAT of the stream's messages: never change or reuse
// a header or a kind.
//
//	header         value
//	Linli-Kind     "group": (a part of) one group of writes, its body a
//	               Pebble batch representation (or a piece of one);
//	               "mark": a new writer's fencing mark, no body
//	Linli-Term     the writer's term (its lease's revision), decimal
//	Linli-Node     the writer's node name
//	Linli-Part     for a group: "i/k", part i of k (a group larger than
//	               PartBytes is cut into k consecutive messages, applied
//	               when part k arrives; parts that stop short, because
//	               their writer was deposed or died, are ignored)
//	Nats-Msg-Id    "<term>-<group>-<part>" or "mark-<term>": JetStream drops
//	               a repeated append within two minutes
//
// Every append carries Nats-Expected-Last-Subject-Sequence, the position of
// the last entry the writer knows the log to hold: an append by a writer
// that another has fenced off fails.
const (
	headerKind = "Linli-Kind"
	headerTerm = "Linli-Term"
	headerNode = "Linli-Node"
	headerPart = "Linli-Part"
	kindGroup  = "group"
	kindMark   = "mark"
)

// ErrUnavailable wraps an append to the log whose outcome is unknown (the
// log did not answer in time, or could not be reached): the group may or
// may not be in the log, and this node's store holds it if, and only if,
// the log does once it has caught up. Clients retry; exactly-once pushes
// make that safe.
var ErrUnavailable = errors.New("cluster: the log is unavailable")

// Commit appends one group's writes to the log, fenced, and returns the
// position of its last part. It implements linlisync.Replica; the store's
// writer calls it one group at a time.
//
// Errors: wrapping linlisync.ErrNotWriter when this node may not write or
// the log refused the append because another node writes now (then the
// group is certainly not in the log); any other error (a timeout, NATS out
// of reach) leaves the outcome unknown: this node then stops writing until
// it has fenced the log again and caught up with it, so that its store
// holds the group if, and only if, the log does.
func (n *Node) Commit(repr []byte) (uint64, error) {
	n.mu.Lock()
	if err := n.writableLocked(); err != nil {
		n.mu.Unlock()
		return 0, err
	}
	term, last := n.term, n.lastSeq
	n.groups++
	group := n.groups
	n.mu.Unlock()

	start := time.Now()
	parts := (len(repr) + n.cfg.PartBytes - 1) / n.cfg.PartBytes
	for i := range parts {
		body := repr[i*n.cfg.PartBytes : min(len(repr), (i+1)*n.cfg.PartBytes)]
		msg := &nats.Msg{Subject: n.subject, Data: body, Header: nats.Header{}}
		msg.Header.Set(headerKind, kindGroup)
		msg.Header.Set(headerTerm, strconv.FormatUint(term, 10))
		msg.Header.Set(headerNode, n.cfg.Node)
		msg.Header.Set(headerPart, strconv.Itoa(i+1)+"/"+strconv.Itoa(parts))
		ctx, cancel := context.WithTimeout(n.runCtx, n.cfg.Timeout)
		ack, err := n.js.PublishMsg(ctx, msg,
			jetstream.WithExpectLastSequencePerSubject(last),
			jetstream.WithMsgID(fmt.Sprintf("%d-%d-%d", term, group, i+1)))
		cancel()
		switch {
		case err != nil && wrongLastSeq(err):
			n.stats.fenced.Add(1)
			n.demote("the log was fenced by another writer")
			n.wakeLeaseLoop()
			return 0, fmt.Errorf("cluster: append refused, another node writes: %w", linlisync.ErrNotWriter)
		case err != nil:
			n.unsure(term, err)
			return 0, fmt.Errorf("%w: append: %w", ErrUnavailable, err)
		}
		last = ack.Sequence
	}
	n.mu.Lock()
	if n.term == term {
		n.lastSeq = last
	}
	n.mu.Unlock()
	n.stats.commits.Add(1)
	n.stats.commitNanos.Add(uint64(time.Since(start)))
	n.stats.commitBytes.Add(uint64(len(repr)))
	n.stats.logLast.Store(max(n.stats.logLast.Load(), last))
	return last, nil
}

// unsure handles an append whose outcome is unknown: no write until this
// node has fenced the log again (still holding the lease) and caught up.
func (n *Node) unsure(term uint64, err error) {
	n.mu.Lock()
	if n.term != term || !n.writable {
		n.mu.Unlock()
		return
	}
	n.writable = false
	n.mu.Unlock()
	n.log.Warn("cluster: append outcome unknown; fencing again", "err", err, "term", term)
	n.wg.Go(func() { n.fence(n.runCtx, term) })
}

// errSuperseded is appendMark's answer when the log's last entry is a
// newer writer's.
var errSuperseded = errors.New("cluster: a newer writer appended to the log")

// appendMark appends a fencing mark on top of the log as it is now,
// waiting up to timeout for the log; unless the last entry is a newer
// term's (errSuperseded): a node that was deposed while it fenced must
// not fence its successor off.
func (n *Node) appendMark(ctx context.Context, term uint64, timeout time.Duration) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last, lastTerm, err := n.lastEntry(ctx)
	if err != nil {
		return 0, err
	}
	if lastTerm > term {
		return 0, fmt.Errorf("%w (term %d after this node's %d)", errSuperseded, lastTerm, term)
	}
	msg := &nats.Msg{Subject: n.subject, Header: nats.Header{}}
	msg.Header.Set(headerKind, kindMark)
	msg.Header.Set(headerTerm, strconv.FormatUint(term, 10))
	msg.Header.Set(headerNode, n.cfg.Node)
	ack, err := n.js.PublishMsg(ctx, msg,
		jetstream.WithExpectLastSequencePerSubject(last),
		jetstream.WithMsgID(fmt.Sprintf("mark-%d-%d", term, last)))
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// wrongLastSeq reports whether err is JetStream refusing an append whose
// expected last sequence is not the log's.
func wrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

func (n *Node) wakeLeaseLoop() {
	select {
	case n.wakeLead <- struct{}{}:
	default:
	}
}

// assembler turns the log's messages back into groups.
type assembler struct {
	parts [][]byte
	of    int // parts of the group being assembled
	next  int // the part expected next (0: none)
}

// add takes the message at position seq; it returns a group (or a mark)
// when one is complete.
func (a *assembler) add(h nats.Header, body []byte, seq uint64) (linlisync.Replicated, bool, error) {
	switch h.Get(headerKind) {
	case kindMark:
		a.reset()
		return linlisync.Replicated{Pos: seq}, true, nil
	case kindGroup:
		i, k, ok := parsePart(h.Get(headerPart))
		if !ok {
			return linlisync.Replicated{}, false, fmt.Errorf("log entry %d: malformed part %q", seq, h.Get(headerPart))
		}
		if i == 1 {
			a.reset()
			a.of = k
		} else if i != a.next || k != a.of {
			a.reset() // the rest of a group whose start this node did not see
			return linlisync.Replicated{}, false, nil
		}
		a.parts = append(a.parts, body)
		a.next = i + 1
		if i < k {
			return linlisync.Replicated{}, false, nil
		}
		repr := body
		if k > 1 {
			repr = nil
			for _, p := range a.parts {
				repr = append(repr, p...)
			}
		}
		a.reset()
		return linlisync.Replicated{Pos: seq, Repr: repr}, true, nil
	}
	return linlisync.Replicated{}, false, fmt.Errorf("log entry %d: unknown kind %q", seq, h.Get(headerKind))
}

func (a *assembler) reset() { a.parts, a.of, a.next = nil, 0, 0 }

func parsePart(s string) (i, k int, ok bool) {
	a, b, found := strings.Cut(s, "/")
	if !found {
		return 0, 0, false
	}
	i, err1 := strconv.Atoi(a)
	k, err2 := strconv.Atoi(b)
	return i, k, err1 == nil && err2 == nil && i >= 1 && i <= k
}
