package mutualaid

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	gosync "sync"
	"time"

	"github.com/linli/linli/mutualaid/hotline"
	"github.com/linli/linli/mutualaid/notify"
	linlisync "github.com/linli/linli/sync"
)

// Config configures a Service. Zero fields take the documented defaults.
type Config struct {
	// Dir is the folder of the store (created if needed). Required.
	Dir string
	// Logger receives the service's and the engine's logs. Default:
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock of every rule, deadline and timestamp. Default:
	// time.Now.
	Now func() time.Time
	// Store tunes the sync engine (file system, cache, tombstone retention,
	// group size, tombstone drops). The service sets its Logger, Now,
	// ClientScope, EncodeClientState and OnCommit itself.
	Store linlisync.Options
	// OnCommit, if set, is called by the engine's writer after every group
	// commit (for metrics): see linlisync.Options.OnCommit.
	OnCommit func(mutations, pushes int, latency time.Duration)
	// Hotline is where cases are forwarded; without a URL they wait in the
	// outbox, and residents and staff are told so.
	Hotline HotlineConfig
	// Push is where notifications go: the operator's push gateway and Web
	// Push keys.
	Push PushConfig
	// RefreshEvery is how often offers whose medicine expired are expired
	// and suggestions re-ranked (RefreshMatches). Default: 1 hour.
	RefreshEvery time.Duration
	// AfterPass, if set, is called after every pass of a background job
	// (see Job), with what the pass returned. Tests wait on it instead of
	// sleeping.
	AfterPass func(job Job, n int, err error)
	// Active, if set, says whether the background jobs may run now: in a
	// cluster, only on the node that writes (the store refuses writes
	// elsewhere). A pass that finds it false is skipped. Nil: always.
	Active func() bool
}

// HotlineConfig points the service at a city hotline speaking Open311
// GeoReport v2. With no URL, cases wait in the outbox.
type HotlineConfig struct {
	URL            string // e.g. http://127.0.0.1:8311/open311/v2/
	APIKey         string
	JurisdictionID string
	// Every is how often overdue requests are queued, due cases forwarded
	// and open cases followed. Default: 10 s.
	Every time.Duration
	// OnAttempt, if set, is told the outcome of every attempt to create a
	// case: hotline.OutcomeCreated, OutcomeRetry or OutcomeStuck (metrics).
	OnAttempt func(outcome string)
	// HTTPClient calls the hotline. Default: one with a 30 s timeout.
	HTTPClient *http.Client
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.RefreshEvery <= 0 {
		c.RefreshEvery = time.Hour
	}
	if c.Hotline.Every <= 0 {
		c.Hotline.Every = 10 * time.Second
	}
	if c.Hotline.HTTPClient == nil {
		c.Hotline.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if c.Push.Every <= 0 {
		c.Push.Every = 10 * time.Second
	}
	if c.Push.HTTPClient == nil {
		c.Push.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
}

// Service is linli's domain behind one front door: communities, buildings
// and members; join codes, devices and sessions; offers and requests with
// their matches and handoffs; the staff queue, escalation to the hotline
// and the reports staff are judged by. It opens and owns its store (the
// sync engine, with the hooks the domain needs), and its background jobs
// (deadlines, the hotline's outbox and case following, the refresh of
// matches, the notifications' outbox) once started. It is safe for
// concurrent use.
//
// Every change is one durable transaction run by the store's single
// writer, whose reads and checks happen inside it, so that concurrent
// changes are serialised (two joins racing for the last use of a code:
// exactly one wins). A domain refusal (*Error) leaves no trace.
//
// Methods that act for a member take the caller's membership as it is
// stored now (an actor Member, see MemberOf; Operator for linli's own
// tools) and decide, in this package, whether it may (see policy.go).
// Errors are *Error for what a user must be told, storage errors
// otherwise; the transport maps them once.
type Service struct {
	cfg   Config
	store *linlisync.Store
	log   *slog.Logger

	outbox   *hotline.Outbox
	follower *caseFollower
	kickc    chan struct{} // wakes the hotline job

	notifier    *notify.Outbox
	notifyc     chan struct{} // wakes the notify job (after every commit)
	vapidPublic string        // the Web Push public key, if configured

	mu      gosync.Mutex // guards started and cancel
	started bool
	cancel  context.CancelFunc
	wg      gosync.WaitGroup
	closed  gosync.Once
}

// Open opens (creating if needed) the store in cfg.Dir and returns the
// service over it. Background jobs do not run until Start.
//
// Errors: cfg.Dir empty, cfg.Push invalid (see PushConfig.Check), or the
// store cannot be opened (another process holds it, corruption, the file
// system).
func Open(cfg Config) (*Service, error) {
	cfg.setDefaults()
	if cfg.Dir == "" {
		return nil, errors.New("mutualaid: store folder not set")
	}
	if err := cfg.Push.Check(); err != nil {
		return nil, fmt.Errorf("mutualaid: %w", err)
	}
	s := &Service{cfg: cfg, log: cfg.Logger.With("component", "mutualaid"),
		kickc: make(chan struct{}, 1), notifyc: make(chan struct{}, 1)}
	if cfg.Push.VAPIDPrivateKey != "" {
		s.vapidPublic, _ = vapidPublicKey(cfg.Push.VAPIDPrivateKey) // checked above
	}
	so := cfg.Store
	so.Logger, so.Now = cfg.Logger, cfg.Now
	so.ClientScope = UserScope
	so.EncodeClientState = encodeClientState
	so.OnCommit = func(mutations, pushes int, latency time.Duration) {
		s.kickNotify() // a change may have left notifications to send
		if cfg.OnCommit != nil {
			cfg.OnCommit(mutations, pushes, latency)
		}
	}
	store, err := linlisync.Open(cfg.Dir, so)
	if err != nil {
		return nil, fmt.Errorf("mutualaid: open store: %w", err)
	}
	s.store = store
	s.outbox, s.follower = s.newHotline()
	s.notifier = s.newNotifier()
	return s, nil
}

// now is the service's clock.
func (s *Service) now() time.Time { return s.cfg.Now() }

// Start runs the background jobs until ctx ends or Close is called: the
// deadlines pass (at once, so that deadlines passed while the service was
// down are handled, then every Hotline.Every), the hotline pass (forwarding
// due cases and following open ones: at once, every Hotline.Every, and
// right after a forward), the refresh of matches (every RefreshEvery) and
// the notify pass (sending notifications: at once, soon after commits, and
// every Push.Every).
// Each logs its failures and carries on. Calling Start again does nothing.
func (s *Service) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return
	}
	s.started = true
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Go(func() { s.runDeadlines(ctx) })
	s.wg.Go(func() { s.runHotline(ctx) })
	s.wg.Go(func() { s.runRefresh(ctx) })
	s.wg.Go(func() { s.runNotify(ctx) })
}

// Close stops the background jobs, waits for them, and closes the store
// (after the writer's queued work). It is safe to call more than once.
//
// Errors: closing the store.
func (s *Service) Close() error {
	var err error
	s.closed.Do(func() {
		s.mu.Lock()
		s.started = true // no Start after Close
		if s.cancel != nil {
			s.cancel()
		}
		s.mu.Unlock()
		s.wg.Wait()
		err = s.store.Close()
	})
	return err
}
