package hotline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/linli/linli/internal/outboxpass"
	linlisync "github.com/linli/linli/sync"
)

// AttrPostID is the case attribute that carries the post a case was opened
// for. The Outbox adds it to every case for hotlines that show attributes
// to their staff; GeoReport v2 cannot search by it, so a case is found
// again by the Reference in its description (see FindByReference).
const AttrPostID = "linli_post_id"

// Entity id prefixes, each followed by url.PathEscape(postKey). Entries
// live under OutboxPrefix; the two indexes hold a marker per entry in the
// matching states, written in the same transaction as the entry, so that a
// pass scans only active entries however many are created. The domain's
// table of the whole namespace (mutualaid/namespace.go) lists them too.
// ON-DISK FORMAT: never change or reuse.
const (
	OutboxPrefix       = "outbox/"
	outboxActivePrefix = "outbox-active/" // pending or posting
	outboxStuckPrefix  = "outbox-stuck/"  // stuck
)

// Outbox entry states. ON-DISK FORMAT: never change or reuse.
const (
	// OutboxPending: not yet sent, or sent and refused by the hotline with
	// an answer (so certainly not created).
	OutboxPending = "pending"
	// OutboxPosting: recorded before a POST; if the entry is still in this
	// state, the outcome of that POST is unknown (the process died, the
	// response was lost or unreadable) and the case must be looked up
	// before posting again.
	OutboxPosting = "posting"
	// OutboxCreated: the hotline holds the case (ServiceRequestID set).
	OutboxCreated = "created"
	// OutboxStuck: given up after a permanent failure (the hotline refused
	// the case, or an earlier outcome is unknown and cannot be looked up);
	// kept for staff, never dropped, never retried.
	OutboxStuck = "stuck"
)

// ErrOutcomeUnknown is recorded when a POST's outcome is unknown and no
// OutboxOptions.Find is configured to look the case up: rather than risk a
// second case, the entry is marked stuck for staff to check.
var ErrOutcomeUnknown = errors.New("hotline: outbox: outcome of an earlier post unknown and no lookup configured")

// OutboxEntry is one case to forward, stored as the private (never
// published) entity OutboxPrefix+url.PathEscape(PostKey), JSON-encoded.
// ON-DISK FORMAT: field names never change.
//
// Invariants: ServiceRequestID != "" iff State == OutboxCreated (a created
// entry is never posted again); Request.Attributes[AttrPostID] == PostKey;
// Request.Description holds Reference(PostKey) (entries enqueued before
// references were added may lack it) and is at most MaxDescription
// characters.
type OutboxEntry struct {
	PostKey          string       `json:"post_key"`
	Request          OutboxRecord `json:"request"`
	State            string       `json:"state"`
	Attempts         int          `json:"attempts"`
	NextAttempt      time.Time    `json:"next_attempt"`
	LastError        string       `json:"last_error,omitempty"`
	ServiceRequestID string       `json:"service_request_id,omitempty"`
	Token            string       `json:"token,omitempty"`
	Enqueued         time.Time    `json:"enqueued"`
	Updated          time.Time    `json:"updated"`
	// Failing is set once StuckAfter attempts have failed with retryable
	// errors (the hotline down for a long stretch): staff see the entry as
	// stuck, and it is still retried every MaxBackoff until it is created.
	Failing bool `json:"failing,omitempty"`
	// Failure classifies LastError (one of the Failure* constants), so that
	// residents and staff can be told why without the raw error text.
	Failure string `json:"failure,omitempty"`
}

// Failure kinds of OutboxEntry.Failure. ON-DISK FORMAT.
const (
	FailureUnavailable    = "unavailable"     // the hotline answered 5xx or 429
	FailureRefused        = "refused"         // the hotline answered 4xx: it will not take the case
	FailureTimeout        = "timeout"         // no answer in time
	FailureUnreachable    = "unreachable"     // no connection, or it broke
	FailureUnreadable     = "unreadable"      // an answer that could not be decoded
	FailureInvalid        = "invalid"         // the case itself is invalid (never sent)
	FailureOutcomeUnknown = "outcome_unknown" // an earlier attempt's outcome cannot be looked up
)

// failureKind classifies an attempt's error.
func failureKind(err error) string {
	var ae *APIError
	var he *HTTPError
	var ne net.Error
	switch {
	case errors.Is(err, ErrOutcomeUnknown):
		return FailureOutcomeUnknown
	case errors.Is(err, ErrInvalid) || errors.As(err, new(*DescriptionTooLongError)):
		return FailureInvalid
	case errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge) || errors.Is(err, ErrPending):
		return FailureUnreadable
	case errors.As(err, &ae):
		return statusFailure(ae.HTTPStatus)
	case errors.As(err, &he):
		return statusFailure(he.StatusCode)
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return FailureTimeout
	}
	return FailureUnreachable
}

func statusFailure(code int) string {
	if retryableStatus(code) {
		return FailureUnavailable
	}
	return FailureRefused
}

// stuck reports whether staff should see e as stuck.
func stuck(e OutboxEntry) bool { return e.State == OutboxStuck || (e.Failing && active(e)) }

// OutboxRecord is a CaseRequest as stored. ON-DISK FORMAT.
type OutboxRecord struct {
	ServiceCode   string            `json:"service_code"`
	AddressString string            `json:"address_string,omitempty"`
	Description   string            `json:"description"`
	Phone         string            `json:"phone,omitempty"`
	Attributes    map[string]string `json:"attributes,omitempty"`
}

func (r OutboxRecord) caseRequest() CaseRequest {
	return CaseRequest{ServiceCode: r.ServiceCode, AddressString: r.AddressString,
		Description: r.Description, Phone: r.Phone, Attributes: maps.Clone(r.Attributes)}
}

// OutboxOptions configures an Outbox. Zero values take the defaults.
type OutboxOptions struct {
	Now        func() time.Time // default time.Now
	MinBackoff time.Duration    // first retry delay; default 1s
	MaxBackoff time.Duration    // cap on the delay; default 5 min
	Jitter     float64          // ± fraction of the delay; default 0.2; negative means none
	StuckAfter int              // failed attempts before staff see the entry as stuck; default 10
	BatchSize  int              // entries scanned per RunOnce; default 1000
	// Concurrency bounds the cases sent at once in a pass: independent
	// cases go out side by side, so one slow or hung call delays no other
	// case. Default 8.
	Concurrency int
	// CallTimeout bounds each call to the hotline (a POST, a lookup, a
	// token's resolution); a call that runs out is an attempt whose outcome
	// is unknown (looked up before the case is posted again). Default 20 s.
	CallTimeout time.Duration
	Logger      *slog.Logger // default slog.Default()
	Rand        *rand.Rand   // jitter source; default math/rand/v2's global source
	// Find looks up a case the hotline may hold for e.PostKey, created by
	// an earlier POST of e.Request (whose description holds
	// Reference(e.PostKey)) at or after e.Enqueued. It is called only when
	// an earlier POST's outcome is unknown. FindByReference(client) does
	// this on any GeoReport v2 hotline. Nil means no lookup: such entries
	// become stuck with ErrOutcomeUnknown instead of risking a duplicate.
	Find func(ctx context.Context, e OutboxEntry) (id string, found bool, err error)
	// Observe, if set, is told the outcome of every attempt: "created",
	// "retry" (failed, will be retried) or "stuck" (failed, and now shown
	// to staff as stuck). For metrics.
	Observe func(outcome string)
}

// Outbox forwards cases to the hotline at most once per post key and
// retries until each is created; a permanent refusal stops it (stuck), a
// long outage does not (the entry is shown as stuck and still retried). Its state lives in the store,
// so it survives restarts; every state change is committed (fsync) before
// the next network call.
//
// Exactly once: before each POST the entry is durably marked OutboxPosting.
// If the POST fails with an answer from the hotline (an error status), the
// case was not created and the entry returns to OutboxPending. Any other
// failure (timeout, lost connection, unreadable 2xx) leaves it OutboxPosting,
// and the next attempt first looks the case up with Find, posting again only
// if it is not found.
//
// Within a pass, different entries are sent concurrently (at most
// Concurrency at once), each call bounded by CallTimeout; one entry is only
// ever handled by one goroutine at a time, and passes are serialized, so
// each entry's steps stay in order and exactly-once holds as above.
//
// REQUIRES: one Outbox per store runs RunOnce (calls on one Outbox are
// serialized). The domain service's hotline job is the one loop that runs
// it.
type Outbox struct {
	store  *linlisync.Store
	client *Client
	opts   OutboxOptions
	log    *slog.Logger

	mu     sync.Mutex // serializes RunOnce
	randMu sync.Mutex // guards opts.Rand
}

// NewOutbox returns an Outbox forwarding through client and keeping its
// state in store.
func NewOutbox(store *linlisync.Store, client *Client, opts OutboxOptions) *Outbox {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = opts.MinBackoff
	}
	if opts.Jitter == 0 {
		opts.Jitter = 0.2
	}
	if opts.Jitter < 0 {
		opts.Jitter = 0
	}
	if opts.Jitter > 1 {
		opts.Jitter = 1
	}
	if opts.StuckAfter <= 0 {
		opts.StuckAfter = 10
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 20 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Outbox{store: store, client: client, opts: opts,
		log: opts.Logger.With("component", "hotline-outbox")}
}

func outboxID(postKey string) string { return OutboxPrefix + url.PathEscape(postKey) }

// Enqueue durably records a case to forward for postKey (e.g.
// "yuqiao/req-2340") in a transaction of its own: see EnqueueTx. It is
// idempotent: if postKey is already enqueued, in whatever state, it does
// nothing and returns nil (the first request wins).
//
// Errors: those of EnqueueTx, and store errors.
func (o *Outbox) Enqueue(ctx context.Context, postKey string, req CaseRequest) error {
	err := o.store.Update(ctx, func(tx *linlisync.Tx) error {
		_, err := EnqueueTx(tx, postKey, req, o.opts.Now())
		return err
	})
	if err != nil {
		return fmt.Errorf("hotline: outbox: enqueue %s: %w", postKey, err)
	}
	return nil
}

// EnqueueTx records in tx a case to forward for postKey, due at now, so that
// a caller can enqueue it in the same transaction as the change that calls
// for it: the case is forwarded if and only if tx commits. It adds attribute
// AttrPostID = postKey and appends Reference(postKey) to the description,
// cutting the end of the description's own text if needed to stay within
// MaxDescription characters. It is idempotent: if postKey is already
// enqueued, in whatever state, it writes nothing and returns created=false
// (the first request wins).
//
// Errors: ErrInvalid (empty or over-long postKey, missing service code or
// description), *DescriptionTooLongError (the description alone is over
// MaxDescription characters), store errors.
func EnqueueTx(tx *linlisync.Tx, postKey string, req CaseRequest, now time.Time) (created bool, err error) {
	if err := validEnqueue(postKey, req); err != nil {
		return false, err
	}
	if _, ok, err := tx.Get(outboxID(postKey)); err != nil || ok {
		return false, err
	}
	attrs := maps.Clone(req.Attributes)
	if attrs == nil {
		attrs = map[string]string{}
	}
	attrs[AttrPostID] = postKey
	e := OutboxEntry{
		PostKey: postKey,
		Request: OutboxRecord{ServiceCode: req.ServiceCode, AddressString: req.AddressString,
			Description: withReference(req.Description, postKey), Phone: req.Phone, Attributes: attrs},
		State: OutboxPending, NextAttempt: now, Enqueued: now, Updated: now,
	}
	if err := putEntry(tx, e); err != nil {
		return false, err
	}
	return true, nil
}

func validEnqueue(postKey string, req CaseRequest) error {
	if postKey == "" || len(outboxID(postKey)) > linlisync.MaxNameLen {
		return fmt.Errorf("%w: post key %q", ErrInvalid, postKey)
	}
	if strings.TrimSpace(req.ServiceCode) == "" || strings.TrimSpace(req.Description) == "" {
		return fmt.Errorf("%w: service code and description are required", ErrInvalid)
	}
	if n := utf8.RuneCountInString(req.Description); n > MaxDescription {
		return &DescriptionTooLongError{Len: n}
	}
	return nil
}

// EntryTx returns the entry for postKey as tx sees it; ok is false if none.
//
// Errors: store errors, a corrupt entry.
func EntryTx(tx *linlisync.Tx, postKey string) (e OutboxEntry, ok bool, err error) {
	return loadEntry(tx.Get, postKey)
}

// loadEntry reads postKey's entry through get (a Tx's or the store's Get).
func loadEntry(get func(string) ([]byte, bool, error), postKey string) (OutboxEntry, bool, error) {
	v, ok, err := get(outboxID(postKey))
	if err != nil || !ok {
		return OutboxEntry{}, false, err
	}
	var e OutboxEntry
	if err := json.Unmarshal(v, &e); err != nil {
		return OutboxEntry{}, false, fmt.Errorf("hotline: outbox: decode %s: %w", postKey, err)
	}
	return e, true, nil
}

// putEntry writes e and its index markers (all private: nil views).
func putEntry(tx *linlisync.Tx, e OutboxEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := tx.Put(outboxID(e.PostKey), b, nil); err != nil {
		return err
	}
	esc := url.PathEscape(e.PostKey)
	for _, ix := range []struct {
		prefix string
		member bool
	}{{outboxActivePrefix, active(e)}, {outboxStuckPrefix, stuck(e)}} {
		if ix.member {
			err = tx.Put(ix.prefix+esc, []byte{1}, nil)
		} else {
			err = tx.Delete(ix.prefix + esc)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (o *Outbox) save(ctx context.Context, e OutboxEntry) error {
	e.Updated = o.opts.Now()
	if err := o.store.Update(ctx, func(tx *linlisync.Tx) error { return putEntry(tx, e) }); err != nil {
		return fmt.Errorf("hotline: outbox: save %s: %w", e.PostKey, err)
	}
	return nil
}

// entries returns the entries of up to BatchSize markers under index, in
// post key order, for which keep is true.
func (o *Outbox) entries(ctx context.Context, index string, keep func(OutboxEntry) bool) ([]OutboxEntry, error) {
	// Read committed state, outside the writer (metrics scrape this): an
	// entry is read after its marker, so keep filters by its state now.
	var out []OutboxEntry
	seen := 0
	err := o.store.Scan(ctx, index, func(idx string, _ []byte) error {
		if seen++; seen > o.opts.BatchSize {
			return errScanFull
		}
		key, err := url.PathUnescape(idx[len(index):])
		if err != nil {
			return fmt.Errorf("index entry %s: %w", idx, err)
		}
		e, ok, err := loadEntry(o.store.Get, key)
		if err != nil || !ok { // entries are never deleted
			return err
		}
		if keep(e) {
			out = append(out, e)
		}
		return nil
	})
	if errors.Is(err, errScanFull) {
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("hotline: outbox: scan: %w", err)
	}
	return out, nil
}

// errScanFull ends a scan at BatchSize entries.
var errScanFull = errors.New("hotline: outbox: batch full")

func active(e OutboxEntry) bool { return e.State == OutboxPending || e.State == OutboxPosting }

// Pending returns how many entries are waiting to be created (pending or
// posting), counting at most BatchSize.
//
// Errors: store errors.
func (o *Outbox) Pending(ctx context.Context) (int, error) {
	es, err := o.entries(ctx, outboxActivePrefix, active)
	return len(es), err
}

// Stuck lists the entries staff must look at (at most BatchSize), with
// LastError: those given up on (State OutboxStuck) and those failing for
// a long stretch and still retried (Failing).
//
// Errors: store errors.
func (o *Outbox) Stuck(ctx context.Context) ([]OutboxEntry, error) {
	return o.entries(ctx, outboxStuckPrefix, stuck)
}

// Entry returns the stored entry for postKey; ok is false if none.
//
// Errors: store errors, a corrupt entry.
func (o *Outbox) Entry(postKey string) (e OutboxEntry, ok bool, err error) {
	return loadEntry(o.store.Get, postKey)
}

// RetryTx, inside a caller's transaction, makes a stuck entry due again
// at now with a fresh count of attempts (a Failing one is just made due
// now). An entry whose earlier outcome was unknown is looked up before it
// is posted again, so a retry never creates a second case. It reports
// whether there was a stuck entry to retry.
//
// Errors: store errors, a corrupt entry.
func RetryTx(tx *linlisync.Tx, postKey string, now time.Time) (bool, error) {
	e, ok, err := EntryTx(tx, postKey)
	if err != nil || !ok || !stuck(e) {
		return false, err
	}
	if e.State == OutboxStuck {
		e.State = OutboxPending
		if e.Failure == FailureOutcomeUnknown {
			e.State = OutboxPosting
		}
	}
	e.Attempts, e.Failing, e.Failure, e.LastError = 0, false, "", ""
	e.NextAttempt, e.Updated = now, now
	return true, putEntry(tx, e)
}

// Created returns the hotline's service_request_id for postKey once the
// case is created; ok is false before that.
//
// Errors: store errors, a corrupt entry.
func (o *Outbox) Created(postKey string) (id string, ok bool, err error) {
	e, found, err := o.Entry(postKey)
	if err != nil || !found || e.State != OutboxCreated {
		return "", false, err
	}
	return e.ServiceRequestID, true, nil
}

// RunOnce processes every due entry once (among the first BatchSize
// active ones, in post key order, up to Concurrency at once) and returns
// how many cases it created. Failures of
// individual entries are recorded in them (retry or stuck) and returned
// joined; a store error stops the pass.
//
// Errors: store errors, joined per-entry hotline errors, ctx errors.
func (o *Outbox) RunOnce(ctx context.Context) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.opts.Now()
	due, err := o.entries(ctx, outboxActivePrefix, func(e OutboxEntry) bool { return active(e) && !e.NextAttempt.After(now) })
	if err != nil {
		return 0, err
	}
	return outboxpass.Run(ctx, due, o.opts.Concurrency, func(ctx context.Context, e OutboxEntry) (bool, error, error) {
		ok, ferr, err := o.forward(ctx, e)
		if ferr != nil {
			ferr = fmt.Errorf("hotline: outbox: %s: %w", e.PostKey, ferr)
		}
		return ok, ferr, err
	})
}

// call bounds one call to the hotline by CallTimeout.
func (o *Outbox) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, o.opts.CallTimeout)
}

// forward takes one entry one step towards created. ok reports a case
// created (or found) now; ferr is the hotline failure recorded in the entry;
// serr is a store error (the entry's state on disk is then still safe:
// posting is always recorded before the POST).
func (o *Outbox) forward(ctx context.Context, e OutboxEntry) (ok bool, ferr, serr error) {
	switch {
	case e.ServiceRequestID != "":
		e.State = OutboxCreated
		return true, nil, o.save(ctx, e)
	case e.Token != "":
		return o.resolve(ctx, e)
	case e.State == OutboxPosting:
		if o.opts.Find == nil {
			return o.fail(ctx, e, ErrOutcomeUnknown, false, true)
		}
		callCtx, cancel := o.call(ctx)
		id, found, err := o.opts.Find(callCtx, e)
		cancel()
		if ctx.Err() != nil {
			return false, nil, ctx.Err()
		}
		if err != nil {
			return o.fail(ctx, e, fmt.Errorf("find: %w", err), true, false)
		}
		if found && id != "" {
			o.log.Info("found case created by an earlier attempt", "post", e.PostKey, "service_request_id", id)
			return o.succeed(ctx, e, id)
		}
	}
	// Record the attempt before sending it.
	if err := o.markPosting(ctx, &e); err != nil {
		return false, nil, err
	}
	callCtx, cancel := o.call(ctx)
	res, err := o.client.Create(callCtx, e.Request.caseRequest())
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return false, nil, ctx.Err() // stays posting: looked up next time
		}
		// An answer from the hotline (error status) means nothing was created.
		var ae *APIError
		var he *HTTPError
		answered := errors.As(err, &ae) || errors.As(err, &he) ||
			errors.Is(err, ErrInvalid) || errors.As(err, new(*DescriptionTooLongError))
		return o.fail(ctx, e, err, IsRetryable(err), answered)
	}
	if res.ServiceRequestID != "" {
		return o.succeed(ctx, e, res.ServiceRequestID)
	}
	e.Token = res.Token
	if err := o.save(ctx, e); err != nil {
		return false, nil, err
	}
	return o.resolve(ctx, e)
}

// markPosting durably records that a POST for e is about to be sent.
func (o *Outbox) markPosting(ctx context.Context, e *OutboxEntry) error {
	e.State = OutboxPosting
	return o.save(ctx, *e)
}

func (o *Outbox) resolve(ctx context.Context, e OutboxEntry) (bool, error, error) {
	callCtx, cancel := o.call(ctx)
	id, err := o.client.ResolveToken(callCtx, e.Token)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return false, nil, ctx.Err()
		}
		return o.fail(ctx, e, fmt.Errorf("resolve token: %w", err), IsRetryable(err), false)
	}
	return o.succeed(ctx, e, id)
}

func (o *Outbox) succeed(ctx context.Context, e OutboxEntry, id string) (bool, error, error) {
	e.State, e.ServiceRequestID, e.LastError, e.Failing, e.Failure = OutboxCreated, id, "", false, ""
	if err := o.save(ctx, e); err != nil {
		return false, nil, err
	}
	o.log.Info("case created", "post", e.PostKey, "service_request_id", id, "attempts", e.Attempts)
	o.observe(OutcomeCreated)
	return true, nil, nil
}

// fail records a failed attempt: a permanent failure makes the entry stuck
// at once; retryable ones are retried after a backoff, and after StuckAfter
// attempts the entry is shown as stuck (Failing) while still being retried.
// notCreated means the hotline certainly holds no case from this attempt,
// so the next one need not look it up.
func (o *Outbox) fail(ctx context.Context, e OutboxEntry, err error, retryable, notCreated bool) (bool, error, error) {
	e.Attempts++
	e.LastError, e.Failure = err.Error(), failureKind(err)
	if notCreated && e.State == OutboxPosting && e.Token == "" {
		e.State = OutboxPending
	}
	switch {
	case !retryable:
		e.State = OutboxStuck
		o.log.Warn("case stuck", "post", e.PostKey, "attempts", e.Attempts, "err", err)
		o.observe(OutcomeStuck)
	case e.Attempts >= o.opts.StuckAfter:
		if !e.Failing {
			o.log.Warn("case stuck, still retrying", "post", e.PostKey, "attempts", e.Attempts, "err", err)
		}
		e.Failing = true
		e.NextAttempt = o.opts.Now().Add(o.backoff(e.Attempts))
		o.observe(OutcomeStuck)
	default:
		e.NextAttempt = o.opts.Now().Add(o.backoff(e.Attempts))
		o.observe(OutcomeRetry)
	}
	return false, err, o.save(ctx, e)
}

// Attempt outcomes passed to OutboxOptions.Observe.
const (
	OutcomeCreated = "created"
	OutcomeRetry   = "retry"
	OutcomeStuck   = "stuck"
)

func (o *Outbox) observe(outcome string) {
	if o.opts.Observe != nil {
		o.opts.Observe(outcome)
	}
}

// backoff is MinBackoff·2^(attempts-1), capped at MaxBackoff, ± Jitter.
func (o *Outbox) backoff(attempts int) time.Duration {
	d := o.opts.MinBackoff
	for i := 1; i < attempts && d < o.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, o.opts.MaxBackoff)
	if o.opts.Jitter > 0 {
		r := rand.Float64()
		if o.opts.Rand != nil {
			o.randMu.Lock()
			r = o.opts.Rand.Float64()
			o.randMu.Unlock()
		}
		d = time.Duration(float64(d) * (1 + o.opts.Jitter*(2*r-1)))
	}
	return d
}
