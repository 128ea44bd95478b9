// Package client is a Go client of linli's offline-first sync protocol.
//
// A Client keeps a local Pebble store in a folder of its own: the queue of
// mutations not yet acknowledged, the Pull cursor, and the entities of every
// scope the server synced to it. Mutations are durable the moment Enqueue
// returns; Sync pushes them (exactly once, with backoff) and then pulls the
// changes of the caller's scopes, applying each page and its cursor in one
// atomic, fsynced batch. View shows the synced state with the pending
// mutations applied optimistically on top by a Rebase function. Live keeps
// a Subscribe stream open and syncs on every poke, falling back to polling
// while streams keep failing.
package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/cockroachdb/pebble/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
)

// ProtocolVersion is the sync protocol version this client speaks.
const ProtocolVersion = 1

// MaxPushBatch is the most mutations one Push carries.
const MaxPushBatch = 500

// Errors.
var (
	// ErrUpgradeRequired: the server does not speak this client's protocol
	// version; the app must be updated. Returned wrapped in *UpgradeError.
	ErrUpgradeRequired = errors.New("client: protocol version unsupported: upgrade required")
	// ErrRemoved: the member was removed from the community. The local store
	// has been cleared.
	ErrRemoved = errors.New("client: member removed; local data cleared")
	// ErrSignedOut: the device was signed out (session revoked) or its
	// refresh token no longer works. Local data is kept.
	ErrSignedOut = errors.New("client: signed out")
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("client: closed")
)

// UpgradeError is ErrUpgradeRequired with the versions the server speaks.
type UpgradeError struct{ Min, Max uint32 }

func (e *UpgradeError) Error() string {
	return fmt.Sprintf("%v (server speaks %d to %d, client %d)", ErrUpgradeRequired, e.Min, e.Max, ProtocolVersion)
}

func (e *UpgradeError) Unwrap() error { return ErrUpgradeRequired }

// Config configures a Client. Zero fields take the documented defaults.
type Config struct {
	// BaseURL of the server, e.g. "http://127.0.0.1:8080". Required.
	BaseURL string
	// HTTPClient carries every call. Default http.DefaultClient. It should
	// have no overall Timeout: Subscribe streams live long. Per-call time is
	// bounded by RequestTimeout.
	HTTPClient *http.Client
	// ClientID is the device's stable id: 1 to 64 of [A-Za-z0-9_-]. Required.
	ClientID string
	// AccessToken, when set, returns the access token to send; the client
	// then manages no tokens itself. When nil, the client uses the tokens
	// given by Tokens or SetTokens (persisted in the store) and trades the
	// refresh token with AuthService.Refresh before the access token expires
	// or when the server says it has.
	AccessToken func(ctx context.Context) (string, error)
	// Tokens, when set, replace the persisted tokens at Open (e.g. the
	// tokens of a Join).
	Tokens *linliv1.Tokens
	// Logger; default slog.Default(). The client adds component=client.
	Logger *slog.Logger
	// Rebase applies pending mutations optimistically to the synced state
	// (entity id → entity) for View. It must not modify its arguments.
	// Default: the synced state unchanged.
	Rebase func(server map[string]*linliv1.Entity, pending []*linliv1.Mutation) map[string]*linliv1.Entity
	// MaxAttempts bounds the tries of one RPC on retryable errors (network,
	// Unavailable, ResourceExhausted, Internal, …). Default 6.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the exponential backoff between tries
	// (full jitter). Defaults 100 ms and 10 s.
	MinBackoff, MaxBackoff time.Duration
	// RequestTimeout bounds one unary call. Default 30 s.
	RequestTimeout time.Duration
	// PageSize is max_changes of each Pull; 0: the server's default.
	PageSize uint32
	// LiveFailures is how many Subscribe failures in a row make Live fall
	// back to polling every PollInterval. Defaults 3 and 30 s.
	LiveFailures int
	PollInterval time.Duration
	// RefreshBefore: refresh the access token when it expires within this.
	// Default 1 minute.
	RefreshBefore time.Duration
	// ClientOptions are added to the Connect clients (e.g. connect.WithGRPC()).
	ClientOptions []connect.ClientOption
	// OnPage, if set, is called after each pulled page is stored, with
	// the pages and changes stored so far by the Pull (or Sync) running:
	// a progress line for a long catch-up.
	OnPage func(PullProgress)
}

// PullProgress is how far a Pull has come.
type PullProgress struct {
	Pages   int  // pages stored
	Changes int  // changes stored
	More    bool // more pages follow
}

var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (c *Config) validate() error {
	if c.BaseURL == "" {
		return errors.New("client: BaseURL is required")
	}
	if !clientIDPattern.MatchString(c.ClientID) {
		return errors.New("client: ClientID must be 1 to 64 of A-Z a-z 0-9 _ -")
	}
	if c.HTTPClient == nil {
		c.HTTPClient = http.DefaultClient
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 6
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 10 * time.Second
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.LiveFailures <= 0 {
		c.LiveFailures = 3
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 30 * time.Second
	}
	if c.RefreshBefore <= 0 {
		c.RefreshBefore = time.Minute
	}
	return nil
}

// Client is one device's sync client over a local store.
//
// Invariants: every queued mutation has an id in (acked, next); the queue
// holds consecutive ids; the entities and the cursor in the store always
// come from the same Pull page (they are written in one batch).
// Lock order: syncMu, then enqMu, then tokMu. Methods are safe for
// concurrent use; Syncs run one at a time.
type Client struct {
	cfg  Config
	log  *slog.Logger
	db   *pebble.DB
	api  linliv1connect.SyncServiceClient
	pull *connect.Client[linliv1.PullRequest, rawPage] // reads pages without decoding entities
	auth linliv1connect.AuthServiceClient

	syncMu sync.Mutex // one Sync (push + pull) at a time

	enqMu sync.Mutex // guards next and the queue's keys
	next  uint64

	tokMu  sync.Mutex
	tokens *linliv1.Tokens // managed tokens; nil when none

	rngMu sync.Mutex
	rng   *rand.Rand // backoff jitter

	closing context.Context // cancelled by Close
	cancel  context.CancelFunc
	life    sync.Mutex // guards ops and closed
	idle    *sync.Cond // signalled when ops drops to 0
	ops     int        // operations in progress (they may nest)
	closed  bool
}

// Open opens (creating if needed) the client store in dir.
//
// Errors: invalid configuration; the store cannot be opened or read.
func Open(dir string, cfg Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger.With("component", "client", "client_id", cfg.ClientID)
	// A device holds little: a small cache keeps many clients (a
	// simulation's) cheap. Memtables start at 256 KiB and grow only for
	// a client that writes much (a catch-up of a large community).
	cache := pebble.NewCache(1 << 20)
	defer cache.Unref()
	db, err := pebble.Open(dir, &pebble.Options{
		Cache:        cache,
		MemTableSize: 16 << 20,
		Logger:       pebbleLogger{log.With("component", "pebble")},
	})
	if err != nil {
		return nil, fmt.Errorf("client: open store %s: %w", dir, err)
	}
	c := &Client{cfg: cfg, log: log, db: db, rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
	c.closing, c.cancel = context.WithCancel(context.Background())
	c.idle = sync.NewCond(&c.life)
	if err := c.load(); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	if cfg.Tokens != nil {
		if err := c.SetTokens(cfg.Tokens); err != nil {
			return nil, errors.Join(err, db.Close())
		}
	}
	opts := append([]connect.ClientOption{connect.WithInterceptors(authInterceptor{c})}, cfg.ClientOptions...)
	c.api = linliv1connect.NewSyncServiceClient(cfg.HTTPClient, cfg.BaseURL, opts...)
	// Pull always speaks binary protobuf, whatever codec opts choose.
	pullOpts := append(slices.Clone(opts), connect.WithCodec(rawPullCodec{c}))
	c.pull = connect.NewClient[linliv1.PullRequest, rawPage](cfg.HTTPClient, strings.TrimRight(cfg.BaseURL, "/")+linliv1connect.SyncServicePullProcedure, pullOpts...)
	c.auth = linliv1connect.NewAuthServiceClient(cfg.HTTPClient, cfg.BaseURL, cfg.ClientOptions...)
	return c, nil
}

func (c *Client) load() error {
	next, err := c.getUint(keyNext)
	if err != nil {
		return err
	}
	c.next = max(next, 1)
	b, ok, err := c.get(keyTokens)
	if err != nil || !ok {
		return err
	}
	t := &linliv1.Tokens{}
	if err := proto.Unmarshal(b, t); err != nil {
		return fmt.Errorf("client: stored tokens: %w", err)
	}
	c.tokens = t
	return nil
}

// Close cancels calls in progress, waits for them, and closes the store.
// Closing twice is a no-op.
func (c *Client) Close() error {
	c.cancel()
	c.life.Lock()
	defer c.life.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	for c.ops > 0 {
		c.idle.Wait()
	}
	return c.db.Close()
}

// enter starts an operation: it holds the client open and returns a context
// that ends when ctx does or the client closes. Call the returned func when
// done. Operations may nest; Close waits for all of them.
func (c *Client) enter(ctx context.Context) (context.Context, func(), error) {
	c.life.Lock()
	defer c.life.Unlock()
	if c.closed {
		return nil, nil, ErrClosed
	}
	c.ops++
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.closing, cancel)
	return ctx, func() {
		stop()
		cancel()
		c.life.Lock()
		defer c.life.Unlock()
		if c.ops--; c.ops == 0 {
			c.idle.Broadcast()
		}
	}, nil
}

// Enqueue stores m durably in the queue under the next mutation id, which
// it writes into m.Id and returns. ClientTime is set to now if empty.
//
// REQUIRES: m has a kind.
// Errors: ErrClosed; an invalid mutation; storage errors.
func (c *Client) Enqueue(ctx context.Context, m *linliv1.Mutation) (uint64, error) {
	_, done, err := c.enter(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	if m.GetKind() == nil {
		return 0, errors.New("client: mutation has no kind")
	}
	c.enqMu.Lock()
	defer c.enqMu.Unlock()
	m.Id = c.next
	if m.ClientTime == nil {
		m.ClientTime = timestamppb.Now()
	}
	v, err := proto.Marshal(m)
	if err != nil {
		return 0, fmt.Errorf("client: marshal mutation: %w", err)
	}
	b := c.db.NewBatch()
	defer b.Close()
	_ = b.Set(idKey(prefixQueue, m.Id), v, nil)
	_ = b.Set([]byte(keyNext), be64(m.Id+1), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, fmt.Errorf("client: enqueue: %w", err)
	}
	c.next++
	return m.Id, nil
}

// Pending returns the queued mutations in id order.
//
// Errors: ErrClosed; storage errors.
func (c *Client) Pending() ([]*linliv1.Mutation, error) {
	_, done, err := c.enter(context.Background())
	if err != nil {
		return nil, err
	}
	defer done()
	return c.pending(0)
}

// Acked returns the highest mutation id the server is known to have
// processed (applied or rejected).
func (c *Client) Acked() (uint64, error) {
	_, done, err := c.enter(context.Background())
	if err != nil {
		return 0, err
	}
	defer done()
	return c.getUint(keyAcked)
}

// Cursor returns the stored Pull cursor ("" before the first Pull).
func (c *Client) Cursor() (string, error) {
	_, done, err := c.enter(context.Background())
	if err != nil {
		return "", err
	}
	defer done()
	b, _, err := c.get(keyCursor)
	return string(b), err
}

// Outcome returns what became of mutation id. ok is false while the
// mutation is pending or unknown. A REJECTED mutation's result (with reason
// and message) is kept for good; so is an APPLIED one with a notice (e.g.
// "emergency_call_120"). For an id the server processed whose result was
// never seen (its outcome expired on the server), Status is
// OUTCOME_EXPIRED.
//
// Errors: ErrClosed; storage errors.
func (c *Client) Outcome(id uint64) (res *linliv1.MutationResult, ok bool, err error) {
	_, done, err := c.enter(context.Background())
	if err != nil {
		return nil, false, err
	}
	defer done()
	b, found, err := c.get(string(idKey(prefixOutcome, id)))
	if err != nil {
		return nil, false, err
	}
	if found {
		r := &linliv1.MutationResult{}
		if err := proto.Unmarshal(b, r); err != nil {
			return nil, false, fmt.Errorf("client: stored outcome %d: %w", id, err)
		}
		return r, true, nil
	}
	acked, err := c.getUint(keyAcked)
	if err != nil || id == 0 || id > acked {
		return nil, false, err
	}
	if _, queued, err := c.get(string(idKey(prefixQueue, id))); err != nil || queued {
		return nil, false, err
	}
	return &linliv1.MutationResult{Id: id, Status: linliv1.MutationStatus_MUTATION_STATUS_APPLIED}, true, nil
}

// Token returns the access token the client sends now (refreshing managed
// tokens that are about to expire), e.g. to call other services.
//
// Errors: ErrClosed; ErrSignedOut; the token source's or Refresh's error.
func (c *Client) Token(ctx context.Context) (string, error) {
	ctx, done, err := c.enter(ctx)
	if err != nil {
		return "", err
	}
	defer done()
	return c.accessToken(ctx)
}

// SetTokens stores new managed tokens (e.g. from Join) durably.
//
// Errors: ErrClosed; storage errors.
func (c *Client) SetTokens(t *linliv1.Tokens) error {
	_, done, err := c.enter(context.Background())
	if err != nil {
		return err
	}
	defer done()
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	return c.storeTokens(t)
}

// storeTokens persists t. REQUIRES: tokMu held.
func (c *Client) storeTokens(t *linliv1.Tokens) error {
	v, err := proto.Marshal(t)
	if err != nil {
		return fmt.Errorf("client: marshal tokens: %w", err)
	}
	if err := c.db.Set([]byte(keyTokens), v, pebble.Sync); err != nil {
		return fmt.Errorf("client: store tokens: %w", err)
	}
	c.tokens = proto.Clone(t).(*linliv1.Tokens)
	return nil
}

// pebbleLogger routes Pebble's logs to slog.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) { p.l.Debug(fmt.Sprintf(format, args...)) }
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...))
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...))
	panic(fmt.Sprintf(format, args...))
}
