package sync

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	gosync "sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Options configure a Store. The zero value is usable.
type Options struct {
	// Logger receives the engine's and Pebble's logs. Default: slog.Default().
	Logger *slog.Logger
	// FS is the file system; nil means the OS. Tests pass vfs.NewCrashableMem().
	FS vfs.FS
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// ClientScope names the scope a user's client states are published in.
	// Default: "user/" + user.
	ClientScope func(user string) string
	// EncodeClientState turns a ClientState into the value published for it.
	// Default: the engine's own record encoding.
	EncodeClientState func(ClientState) ([]byte, error)
	// TombstoneRetention is how long tombstones stay in scope logs before
	// they are dropped (raising the scope's low-water mark). Default: 30 days.
	TombstoneRetention time.Duration
	// DropInterval is how often old tombstones are dropped. Default: 1 hour;
	// negative disables the background drop (call DropTombstones instead).
	DropInterval time.Duration
	// MaxBatchMutations bounds one group commit. Default: 10,000.
	MaxBatchMutations int
	// CacheSize is Pebble's block cache. Default: 64 MiB.
	CacheSize int64
	// OnCommit, if set, is called by the writer after every commit with the
	// number of mutations, pushes and the commit latency (for metrics).
	OnCommit func(mutations, pushes int, latency time.Duration)
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ClientScope == nil {
		o.ClientScope = func(user string) string { return "user/" + user }
	}
	if o.EncodeClientState == nil {
		o.EncodeClientState = func(c ClientState) ([]byte, error) {
			return encodeClient(clientRecord{last: c.LastMutationID, recent: c.Recent}), nil
		}
	}
	if o.TombstoneRetention <= 0 {
		o.TombstoneRetention = 30 * 24 * time.Hour
	}
	if o.DropInterval == 0 {
		o.DropInterval = time.Hour
	}
	if o.MaxBatchMutations <= 0 {
		o.MaxBatchMutations = 10_000
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 64 << 20
	}
}

// Store is the sync engine over one Pebble database. It is safe for
// concurrent use. All writes go through one writer goroutine; reads (Pull,
// Heads) run concurrently on consistent snapshots.
type Store struct {
	db    *pebble.DB
	opts  Options
	log   *slog.Logger
	epoch [16]byte

	queue  chan request
	broker *broker

	mu    gosync.RWMutex
	heads map[string]scopeHead // committed heads; written by the writer after commit

	closeOnce  gosync.Once
	cancel     context.CancelFunc
	wg         gosync.WaitGroup
	done       chan struct{} // closed when Close begins
	writerDone chan struct{} // closed when the writer has exited
}

// Open opens (creating if needed) the store in dir.
func Open(dir string, opts Options) (*Store, error) {
	opts.setDefaults()
	log := opts.Logger.With("component", "sync")
	cache := pebble.NewCache(opts.CacheSize)
	defer cache.Unref()
	po := &pebble.Options{
		FS:     opts.FS,
		Cache:  cache,
		Logger: pebbleLogger{log.With("component", "pebble")},
	}
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("open pebble at %s: %w", dir, err)
	}
	s := &Store{
		db: db, opts: opts, log: log,
		queue:      make(chan request, 1024),
		broker:     newBroker(),
		heads:      make(map[string]scopeHead),
		done:       make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	if err := s.load(); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go s.writeLoop(ctx)
	if opts.DropInterval > 0 {
		s.wg.Add(1)
		go s.dropLoop(ctx)
	}
	return s, nil
}

// load reads (or creates) the epoch and the scope heads.
func (s *Store) load() error {
	v, closer, err := s.db.Get(keyEpoch)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		if _, err := rand.Read(s.epoch[:]); err != nil {
			return fmt.Errorf("new epoch: %w", err)
		}
		if err := s.db.Set(keyEpoch, s.epoch[:], pebble.Sync); err != nil {
			return fmt.Errorf("write epoch: %w", err)
		}
	case err != nil:
		return fmt.Errorf("read epoch: %w", err)
	default:
		n := copy(s.epoch[:], v)
		closer.Close()
		if n != len(s.epoch) {
			return fmt.Errorf("read epoch: %w", ErrCorrupt)
		}
	}
	return s.loadHeads()
}

func (s *Store) loadHeads() error {
	it, err := s.db.NewIter(&pebble.IterOptions{
		LowerBound: []byte{prefixHead}, UpperBound: []byte{prefixHead + 1},
	})
	if err != nil {
		return fmt.Errorf("scan heads: %w", err)
	}
	for it.First(); it.Valid(); it.Next() {
		h, err := decodeHead(it.Value())
		if err != nil {
			it.Close()
			return fmt.Errorf("scope %q: %w", it.Key()[1:], err)
		}
		s.heads[string(it.Key()[1:])] = h
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("scan heads: %w", err)
	}
	return nil
}

// Epoch identifies this store's history; a store restored from a backup
// gets a new one.
func (s *Store) Epoch() [16]byte { return s.epoch }

// Heads returns the newest committed seq of each of the given scopes (0 for
// a scope with no changes yet).
func (s *Store) Heads(scopes []string) map[string]uint64 {
	out := make(map[string]uint64, len(scopes))
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, sc := range scopes {
		out[sc] = s.heads[sc].head
	}
	return out
}

// Close stops the writer after the queued work, closes subscriptions and
// closes the database. It is safe to call more than once.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		s.cancel()
		s.wg.Wait()
		s.broker.closeAll()
		err = s.db.Close()
	})
	return err
}

// pebbleLogger routes Pebble's logs to slog.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...))
	panic(fmt.Sprintf(format, args...))
}
