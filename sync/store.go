package sync

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	gosync "sync"
	"sync/atomic"
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
	// CacheSize is Pebble's block cache, beside the memtables. Default: 64 MiB.
	CacheSize int64
	// MemTableSize is Pebble's memtable: the writes it holds before a flush.
	// A larger one folds more overwritten and deleted keys away before they
	// reach the disk. Default: 64 MiB.
	MemTableSize int64
	// FlushAfterDeletes is how many log entries the writer deletes (each
	// edit deletes its entity's older entry in every scope) before it
	// flushes the memtable early, so that catch-ups do not step over the
	// deleted entries. Default: 32,768; negative never flushes early.
	FlushAfterDeletes int
	// OnCommit, if set, is called after every commit group is durable with
	// the number of mutations, pushes and the commit latency (from applied
	// to durable), for metrics.
	OnCommit func(mutations, pushes int, latency time.Duration)
	// OnGroup, if set, is called with the same moment as OnCommit with the
	// group's figures, including the writer's time applying it.
	OnGroup func(GroupStats)
	// DiskReserve is the free disk space writes keep: pushes are refused
	// with ErrDiskFull below it, the store's own jobs below half of it (see
	// diskspace.go). Default: 64 MiB; negative disables the check.
	DiskReserve int64
	// DiskBallast is the size of the ballast file (BallastName) kept in the
	// store's folder and deleted if a write meets a full disk regardless.
	// Zero or negative keeps none (linli serve keeps 16 MiB).
	DiskBallast int64
	// OnAbandon, if set, is called by the writer when a group it applied
	// is abandoned instead of committed (a write into its batch failed, or
	// the commit itself failed): state a domain keeps beside the store,
	// updated as mutations applied, must be rebuilt from the store.
	OnAbandon func()
	// Replica, if set, makes the store one copy of a replicated log
	// (cluster mode): see Replica. Nil, the default, makes it the log of
	// record, as a single node is.
	Replica Replica
	// Epoch, if set, is the epoch a new store takes (a cluster's, so that
	// cursors mean the same on every node); opening a store that has
	// another one fails with ErrEpochMismatch. Nil: a new store draws a
	// random epoch.
	Epoch *[16]byte
	// AheadWait is how long a Pull waits, with a Replica, for this store to
	// catch up with a cursor that is ahead of it (the cursor came from a
	// node further along the log) before it answers without the changes it
	// does not have yet. Default: 2 s.
	AheadWait time.Duration
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
			return encodeClientState(c), nil
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
	if o.MemTableSize <= 0 {
		o.MemTableSize = 64 << 20
	}
	if o.FlushAfterDeletes == 0 {
		o.FlushAfterDeletes = 32 << 10
	}
	if o.AheadWait <= 0 {
		o.AheadWait = 2 * time.Second
	}
	if o.DiskReserve == 0 {
		o.DiskReserve = 64 << 20
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

	queue    chan request
	held     *request    // writer only: a request gather took out of turn
	inflight chan *group // writer → syncer: groups applied, in order
	broker   *broker

	// writerHeads are the heads as of every group applied so far, durable
	// or not. Only the writer touches it.
	writerHeads map[string]scopeHead
	applied     *applyCache               // writer only
	locals      map[any]any               // writer only: see Tx.Local
	clientRecs  map[ClientID]clientRecord // writer only: client records as applied, decoded
	// deletesUnflushed counts the log entries deleted since the writer
	// last asked for a flush (writer only; see noteDeletes).
	deletesUnflushed int
	replicaPos       uint64 // writer only: the log position as of every group applied (with a Replica)
	failed           atomic.Pointer[failure]
	disk             *diskMonitor

	mu            gosync.RWMutex
	heads         map[string]scopeHead // durable heads, what readers see
	view          *viewRef             // durable read view
	appliedGroups uint64               // groups handed to the syncer
	durableGroups uint64               // groups the syncer has made durable
	durablePos    uint64               // with a Replica: the log position of the durable view
	durableCh     chan struct{}        // closed and replaced at each durable group

	closeOnce  gosync.Once
	cancel     context.CancelFunc
	wg         gosync.WaitGroup
	done       chan struct{} // closed when Close begins
	syncerDone chan struct{} // closed when the pipeline has answered everything
}

// Open opens (creating if needed) the store in dir.
func Open(dir string, opts Options) (*Store, error) {
	opts.setDefaults()
	log := opts.Logger.With("component", "sync")
	// Pebble counts its memtables against the block cache: size it for
	// CacheSize of blocks beside a full memtable and one being flushed.
	cache := pebble.NewCache(opts.CacheSize + 2*opts.MemTableSize)
	defer cache.Unref()
	disk, pebbleFS := watchDisk(dir, opts, log)
	po := pebbleOptions(opts, cache, log)
	po.FS = pebbleFS
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("open pebble at %s: %w", dir, err)
	}
	s := &Store{
		db: db, opts: opts, log: log, disk: disk,
		queue:       make(chan request, 1024),
		inflight:    make(chan *group, maxInflight),
		broker:      newBroker(),
		heads:       make(map[string]scopeHead),
		writerHeads: make(map[string]scopeHead),
		applied:     newApplyCache(int(opts.MemTableSize / 2)),
		locals:      make(map[any]any),
		clientRecs:  make(map[ClientID]clientRecord),
		durableCh:   make(chan struct{}),
		done:        make(chan struct{}),
		syncerDone:  make(chan struct{}),
	}
	if err := s.load(); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	s.view = &viewRef{snap: db.NewSnapshot()}
	s.view.refs.Store(1)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(2)
	go s.writeLoop(ctx)
	go s.syncLoop()
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
	case errors.Is(err, pebble.ErrNotFound) && s.opts.Epoch != nil:
		s.epoch = *s.opts.Epoch
		if err := s.db.Set(keyEpoch, s.epoch[:], pebble.Sync); err != nil {
			return fmt.Errorf("write epoch: %w", err)
		}
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
		if s.opts.Epoch != nil && *s.opts.Epoch != s.epoch {
			return fmt.Errorf("store epoch %x, want %x: %w", s.epoch, *s.opts.Epoch, ErrEpochMismatch)
		}
	}
	if err := s.loadReplicaPos(); err != nil {
		return err
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
		s.writerHeads[string(it.Key()[1:])] = h
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
		s.mu.Lock()
		v := s.view
		s.mu.Unlock()
		v.release()
		err = s.db.Close()
	})
	return err
}
