package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/linli/linli/internal/outboxpass"
	linlisync "github.com/linli/linli/sync"
)

// Notification is what is sent to one device for the events waiting for
// it, as recorded before it is sent. ON-DISK FORMAT.
type Notification struct {
	// ID is 32 hex digits, random, the same every time it is sent.
	ID string `json:"id"`
	// Type is the type of the most important event: the newest critical
	// one, else the newest.
	Type string `json:"type"`
	// Count is how many events it stands for.
	Count    int  `json:"count"`
	Critical bool `json:"critical,omitempty"`
	// Events are the ids of the events it stands for.
	Events  []string  `json:"events"`
	Created time.Time `json:"created"`
}

// deviceState is a device with events waiting. ON-DISK FORMAT.
type deviceState struct {
	User        string    `json:"user"`
	Client      string    `json:"client"`
	Attempts    int       `json:"attempts,omitempty"`
	NextAttempt time.Time `json:"next_attempt"`
	// Inflight is the notification recorded before it was sent: until an
	// answer says it arrived (or it is dropped), it is sent again as it is.
	Inflight  *Notification `json:"inflight,omitempty"`
	LastError string        `json:"last_error,omitempty"`
	Updated   time.Time     `json:"updated"`
}

func loadState(get func(string) ([]byte, bool, error), user, client string) (deviceState, bool, error) {
	var st deviceState
	ok, err := getJSON(get, deviceID(user, client), &st)
	return st, ok, err
}

// Sender sends a notification to a device. rejected means the device's
// push key is no longer valid: its pusher is removed. An error that is a
// *SendError with Permanent set drops the notification; any other error is
// retried.
type Sender interface {
	Send(ctx context.Context, p Pusher, n Notification) (rejected bool, err error)
}

// Attempt outcomes passed to OutboxOptions.Observe.
const (
	OutcomeSent     = "sent"     // the gateway took it
	OutcomeRetry    = "retry"    // failed, will be sent again
	OutcomeRejected = "rejected" // the push key was rejected: the pusher is removed
	OutcomeDropped  = "dropped"  // refused for good, or too old: given up
)

// OutboxOptions configures an Outbox. Zero values take the defaults.
type OutboxOptions struct {
	// Gateway sends to KindHTTP pushers; nil: their events wait.
	Gateway Sender
	// WebPush sends to KindWebPush pushers; nil: their events wait.
	WebPush Sender
	// Resolve returns the users of a group now (active members only).
	// Nil: group events are dropped.
	Resolve func(ctx context.Context, g Group) ([]string, error)

	Now        func() time.Time // default time.Now
	MinBackoff time.Duration    // first retry delay; default 1 s
	MaxBackoff time.Duration    // cap on the delay; default 5 min
	// MaxAge is how long an event may wait: older ones are dropped, since
	// the app shows them on its next pull anyway. Default 24 h.
	MaxAge time.Duration
	// Concurrency bounds the devices sent to at once. Default 8.
	Concurrency int
	// CallTimeout bounds each send. Default 20 s.
	CallTimeout time.Duration
	// BatchSize bounds the devices and group events handled per pass.
	// Default 1000.
	BatchSize int
	Logger    *slog.Logger
	// Observe, if set, is told the outcome of every attempt (metrics).
	Observe func(outcome string)
}

// Outbox sends the notifications the store holds. Its state lives in the
// store, so it survives restarts; every state change is committed (fsync)
// before the next network call.
//
// Exactly once: before a notification is sent it is recorded as the
// device's Inflight; it is sent again, unchanged (same id), after every
// failure, a lost answer or a restart, until an answer says it arrived.
// A gateway that dedupes on the id shows it once. Events that arrive
// meanwhile go in the next notification.
//
// REQUIRES: one Outbox per store runs RunOnce (calls are serialized).
type Outbox struct {
	store *linlisync.Store
	opts  OutboxOptions
	log   *slog.Logger
	mu    sync.Mutex
}

// NewOutbox returns an Outbox over store.
func NewOutbox(store *linlisync.Store, opts OutboxOptions) *Outbox {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(opts.MinBackoff, 5*time.Minute)
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 24 * time.Hour
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 20 * time.Second
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Outbox{store: store, opts: opts, log: opts.Logger.With("component", "notify")}
}

// errScanFull ends a scan at BatchSize entries.
var errScanFull = errors.New("notify: batch full")

// RunOnce expands the group events waiting, then sends every due device
// its notification (up to Concurrency at once), and returns how many
// notifications the gateways took. A failed send is recorded in its
// device (retried with backoff); a store error stops the pass.
//
// Errors: store errors, ctx's, the sends' failures (joined).
func (o *Outbox) RunOnce(ctx context.Context) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.expand(ctx); err != nil {
		return 0, err
	}
	now := o.opts.Now()
	var due []deviceState
	err := o.store.Scan(ctx, devicePrefix, func(id string, v []byte) error {
		if len(due) >= o.opts.BatchSize {
			return errScanFull
		}
		var st deviceState
		if err := json.Unmarshal(v, &st); err != nil {
			return fmt.Errorf("notify: decode %s: %w", id, err)
		}
		if !st.NextAttempt.After(now) {
			due = append(due, st)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errScanFull) {
		return 0, err
	}
	return outboxpass.Run(ctx, due, o.opts.Concurrency, o.deliver)
}

// expand turns each waiting group event into its members' devices' events.
func (o *Outbox) expand(ctx context.Context) error {
	var todo []groupEvent
	err := o.store.Scan(ctx, todoPrefix, func(id string, v []byte) error {
		if len(todo) >= o.opts.BatchSize {
			return errScanFull
		}
		var ge groupEvent
		if err := json.Unmarshal(v, &ge); err != nil {
			return fmt.Errorf("notify: decode %s: %w", id, err)
		}
		todo = append(todo, ge)
		return nil
	})
	if err != nil && !errors.Is(err, errScanFull) {
		return err
	}
	for _, ge := range todo {
		var users []string
		if o.opts.Resolve != nil {
			if users, err = o.opts.Resolve(ctx, ge.Group); err != nil {
				return fmt.Errorf("notify: resolve %s of %s: %w", ge.Group.Kind, ge.Group.Community, err)
			}
		}
		err := o.store.Update(ctx, func(tx *linlisync.Tx) error {
			if _, ok, err := tx.Get(todoID(ge.ID)); err != nil || !ok {
				return err
			}
			if err := toUsers(tx, ge.ID, ge.Event, ge.Actor, ge.At, users); err != nil {
				return err
			}
			return tx.Delete(todoID(ge.ID))
		})
		if err != nil {
			return fmt.Errorf("notify: expand %s: %w", ge.ID, err)
		}
	}
	return nil
}

// deliver takes one device one step: it sends its notification (recording
// it first if it is new), or holds it for quiet hours, or drops what no
// longer has a pusher. ok reports a notification taken by the gateway;
// sendErr a failed send (recorded in the device); storeErr a store error.
func (o *Outbox) deliver(ctx context.Context, st deviceState) (ok bool, sendErr, storeErr error) {
	u, c := st.User, st.Client
	p, found, err := PusherOf(o.store.Get, u, c)
	if err != nil {
		return false, nil, err
	}
	if !found {
		return false, nil, o.update(ctx, func(tx *linlisync.Tx) error {
			if _, still, err := PusherOf(tx.Get, u, c); err != nil || still {
				return err
			}
			return dropDevice(tx, u, c)
		})
	}
	now := o.opts.Now()
	n := st.Inflight
	if n == nil {
		if n, err = o.prepare(ctx, u, c, now); err != nil || n == nil {
			return false, nil, err
		}
	}
	if p.Quiet != nil && !n.Critical {
		if end, quiet := p.Quiet.Until(now); quiet {
			return false, nil, o.updateState(ctx, u, c, func(st *deviceState) { st.NextAttempt = end })
		}
	}
	if now.Sub(n.Created) > o.opts.MaxAge {
		o.log.Warn("notification too old: dropped", "user", u, "client", c, "notification", n.ID, "events", n.Count)
		o.observe(OutcomeDropped)
		return false, nil, o.settle(ctx, u, c, n, now)
	}
	sender := o.opts.Gateway
	if p.Kind == KindWebPush {
		sender = o.opts.WebPush
	}
	if sender == nil {
		// No way to send this kind now: wait (MaxAge drops it eventually).
		return false, nil, o.updateState(ctx, u, c, func(st *deviceState) { st.NextAttempt = now.Add(o.opts.MaxBackoff) })
	}
	callCtx, cancel := context.WithTimeout(ctx, o.opts.CallTimeout)
	rejected, err := sender.Send(callCtx, p, *n)
	cancel()
	switch {
	case err != nil && ctx.Err() != nil:
		return false, nil, ctx.Err() // stays in flight: sent again next time
	case err != nil && permanent(err):
		o.log.Warn("notification refused: dropped", "user", u, "client", c, "notification", n.ID, "err", err)
		o.observe(OutcomeDropped)
		return false, err, o.settle(ctx, u, c, n, now)
	case err != nil:
		o.observe(OutcomeRetry)
		return false, err, o.updateState(ctx, u, c, func(st *deviceState) {
			st.Attempts++
			st.LastError = err.Error()
			st.NextAttempt = now.Add(o.backoff(st.Attempts))
		})
	case rejected:
		o.log.Info("push key rejected: pusher removed", "user", u, "client", c, "kind", p.Kind)
		o.observe(OutcomeRejected)
		return false, nil, o.update(ctx, func(tx *linlisync.Tx) error {
			cur, still, err := PusherOf(tx.Get, u, c)
			if err != nil {
				return err
			}
			if still && cur.Pushkey != p.Pushkey {
				return settleTx(tx, u, c, n, now) // registered anew meanwhile
			}
			return DeletePusherTx(tx, u, c)
		})
	}
	o.observe(OutcomeSent)
	return true, nil, o.settle(ctx, u, c, n, now)
}

// prepare records a new notification for the device's waiting events (and
// drops those older than MaxAge). It returns nil if nothing waits (the
// device's state is then deleted).
func (o *Outbox) prepare(ctx context.Context, u, c string, now time.Time) (n *Notification, err error) {
	err = o.update(ctx, func(tx *linlisync.Tx) error {
		n = nil
		st, ok, err := loadState(tx.Get, u, c)
		if err != nil || !ok {
			return err
		}
		if st.Inflight != nil {
			n = st.Inflight
			return nil
		}
		var items []queued
		var stale []string
		err = tx.Scan(queueOf(u, c), math.MaxInt, func(id string, v []byte) error {
			var q queued
			if err := json.Unmarshal(v, &q); err != nil {
				return fmt.Errorf("notify: decode %s: %w", id, err)
			}
			if now.Sub(q.At) > o.opts.MaxAge {
				stale = append(stale, id)
				return nil
			}
			items = append(items, q)
			return nil
		})
		if err != nil {
			return err
		}
		for _, id := range stale {
			if err := tx.Delete(id); err != nil {
				return err
			}
		}
		if len(items) == 0 {
			return tx.Delete(deviceID(u, c))
		}
		n = coalesce(items, now)
		st.Inflight, st.Attempts, st.LastError, st.Updated = n, 0, "", now
		return putJSON(tx, deviceID(u, c), st)
	})
	return n, err
}

// coalesce makes one notification of a device's waiting events (in id
// order, so oldest first).
func coalesce(items []queued, now time.Time) *Notification {
	n := &Notification{ID: newNotificationID(), Count: len(items), Created: now}
	for _, q := range items {
		n.Events = append(n.Events, q.Event)
		n.Type = q.Type
		n.Critical = n.Critical || q.Critical
	}
	for i := len(items) - 1; i >= 0; i-- {
		if items[i].Critical {
			n.Type = items[i].Type
			break
		}
	}
	return n
}

func newNotificationID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// settle ends notification n of a device (sent, or dropped): its events
// leave the queue; the device is due again at once if more wait.
func (o *Outbox) settle(ctx context.Context, u, c string, n *Notification, now time.Time) error {
	return o.update(ctx, func(tx *linlisync.Tx) error { return settleTx(tx, u, c, n, now) })
}

func settleTx(tx *linlisync.Tx, u, c string, n *Notification, now time.Time) error {
	for _, e := range n.Events {
		if err := tx.Delete(queueID(u, c, e)); err != nil {
			return err
		}
	}
	st, ok, err := loadState(tx.Get, u, c)
	if err != nil || !ok {
		return err
	}
	if st.Inflight == nil || st.Inflight.ID != n.ID {
		return nil
	}
	more := false
	err = tx.Scan(queueOf(u, c), 1, func(string, []byte) error { more = true; return nil })
	if err != nil {
		return err
	}
	if !more {
		return tx.Delete(deviceID(u, c))
	}
	st.Inflight, st.Attempts, st.LastError, st.NextAttempt, st.Updated = nil, 0, "", now, now
	return putJSON(tx, deviceID(u, c), st)
}

// updateState changes a device's state in a transaction of its own, if it
// still exists.
func (o *Outbox) updateState(ctx context.Context, u, c string, fn func(*deviceState)) error {
	return o.update(ctx, func(tx *linlisync.Tx) error {
		st, ok, err := loadState(tx.Get, u, c)
		if err != nil || !ok {
			return err
		}
		fn(&st)
		st.Updated = o.opts.Now()
		return putJSON(tx, deviceID(u, c), st)
	})
}

func (o *Outbox) update(ctx context.Context, fn func(tx *linlisync.Tx) error) error {
	if err := o.store.Update(ctx, fn); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

func (o *Outbox) observe(outcome string) {
	if o.opts.Observe != nil {
		o.opts.Observe(outcome)
	}
}

// backoff is MinBackoff·2^(attempts-1), capped at MaxBackoff, ±20%.
func (o *Outbox) backoff(attempts int) time.Duration {
	d := o.opts.MinBackoff
	for i := 1; i < attempts && d < o.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, o.opts.MaxBackoff)
	return time.Duration(float64(d) * (0.8 + 0.4*mrand.Float64()))
}

// Pending returns how many events wait to be sent (counting at most
// BatchSize), for metrics.
//
// Errors: store errors.
func (o *Outbox) Pending(ctx context.Context) (int, error) {
	n := 0
	err := o.store.Scan(ctx, queuePrefix, func(string, []byte) error {
		if n++; n >= o.opts.BatchSize {
			return errScanFull
		}
		return nil
	})
	if errors.Is(err, errScanFull) {
		err = nil
	}
	return n, err
}

// Waiting lists the events waiting for a device, oldest first, and the
// notification in flight to it, if any: for tests and the operator.
//
// Errors: store errors.
func (o *Outbox) Waiting(ctx context.Context, user, client string) (events []string, inflight *Notification, err error) {
	st, _, err := loadState(o.store.Get, user, client)
	if err != nil {
		return nil, nil, err
	}
	err = o.store.Scan(ctx, queueOf(user, client), func(id string, _ []byte) error {
		events = append(events, strings.TrimPrefix(id, queueOf(user, client)))
		return nil
	})
	return events, st.Inflight, err
}
