package cluster

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	linlisync "github.com/linli/linli/sync"
)

// Config configures a Node. Zero fields take the documented defaults.
type Config struct {
	// Node names this node, unique in the cluster (also its NATS server's
	// name). Required.
	Node string
	// Advertise is the base URL other nodes forward writes to when this
	// node is the writer (http://host:port of its API). Required.
	Advertise string
	// NATSURL, if set, is an existing NATS cluster (with JetStream) to run
	// on, "nats://host:4222,nats://…"; Embedded is then ignored.
	NATSURL string
	// NATSOptions are extra options for the connection to NATSURL
	// (credentials, TLS).
	NATSOptions []nats.Option
	// Embedded configures the NATS server run inside this process when
	// NATSURL is empty.
	Embedded Embedded
	// Replicas is how many copies of the log and of the lease bucket
	// JetStream keeps (R3: one node may be lost). Default: 3.
	Replicas int
	// Lease is how long a writer's lease lasts without renewal: a node
	// takes over a writer it has not seen renew its lease for this long.
	// Default: 3 s.
	Lease time.Duration
	// Timeout bounds one append to the log. Default: 5 s.
	Timeout time.Duration
	// Prefix names the cluster's stream ("<Prefix>_LOG"), bucket
	// ("<Prefix>_CLUSTER") and subject ("<prefix>.log"), so that several
	// linli clusters may share one NATS. Default: "LINLI".
	Prefix string
	// PartBytes bounds one log message: a larger group is appended as
	// several parts. Default: 900 KiB (under NATS's default 1 MiB limit).
	PartBytes int
	// Logger; default slog.Default().
	Logger *slog.Logger
	// OnLead, if set, is called (from its own goroutine) each time this
	// node becomes the writer, after it has caught up with the log: the
	// first start's community is made there.
	OnLead func()
}

func (c *Config) setDefaults() {
	if c.Replicas <= 0 {
		c.Replicas = 3
	}
	if c.Lease <= 0 {
		c.Lease = 3 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	c.Prefix = cmp.Or(c.Prefix, "LINLI")
	if c.PartBytes <= 0 {
		c.PartBytes = 900 << 10
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Store is what a Node needs of the store it feeds: the sync engine's
// replica operations (the domain service offers them).
type Store interface {
	ApplyReplicated(ctx context.Context, groups []linlisync.Replicated) error
	ReplicaPosition() uint64
	WaitReplicaPosition(ctx context.Context, pos uint64) error
}

// Node is one linli node's part in the cluster: its NATS connection (and
// embedded server), its view of the lease, the follower that feeds its
// store from the log, and, while it holds the lease, the writer's appends.
// It is the store's linlisync.Replica.
//
// Lifecycle: Start (connects, learns the cluster's epoch); pass the Node as
// the store's Options.Replica and its Epoch as Options.Epoch; open the
// store; Run with it; Close after the store is closed.
type Node struct {
	cfg     Config
	log     *slog.Logger
	ns      *server.Server // nil with an external NATS
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  jetstream.Stream
	kv      jetstream.KeyValue
	subject string
	epoch   [16]byte

	store Store

	// The writer's state. mu guards it; Commit runs in the store's writer
	// goroutine, the lease loop beside it.
	mu       gosync.Mutex
	writable bool      // this node may append: it holds the lease and has caught up
	term     uint64    // the lease's revision when this node took it (0: not held)
	lastSeq  uint64    // the log's last entry as this node's appends left it
	renewed  time.Time // when the lease was last renewed by this node
	groups   uint64    // groups appended in this term, for message ids
	holder   leaseValue
	wakeLead chan struct{} // asks the lease loop to act now

	kickFollow chan struct{} // asks the follower for a new consumer (refollow)

	stats nodeStats

	runCtx context.Context // Run's, for the appends and the fencing
	cancel context.CancelFunc
	wg     gosync.WaitGroup
}

// nodeStats are the Node's figures for metrics.
type nodeStats struct {
	logLast     atomic.Uint64 // the log's last position as last seen
	commits     atomic.Uint64
	commitNanos atomic.Uint64
	commitBytes atomic.Uint64
	fenced      atomic.Uint64 // appends the log refused: another writer
	failovers   atomic.Uint64 // times this node became the writer
}

// Start connects to NATS (starting the embedded server first if cfg has no
// NATSURL), makes sure the log and the lease bucket exist, and reads (or
// makes) the cluster's epoch. It waits for JetStream until ctx ends: the
// first nodes of a new cluster wait for each other.
//
// Errors: bad configuration; the embedded server does not start; ctx ends
// before JetStream answers.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	cfg.setDefaults()
	if cfg.Node == "" || cfg.Advertise == "" {
		return nil, errors.New("cluster: node name and advertised URL are required")
	}
	n := &Node{
		cfg: cfg, log: cfg.Logger.With("component", "cluster", "node", cfg.Node),
		subject:  lowerPrefix(cfg.Prefix) + ".log",
		wakeLead: make(chan struct{}, 1), kickFollow: make(chan struct{}, 1),
	}
	var err error
	if cfg.NATSURL == "" {
		if n.ns, err = startEmbedded(cfg.Embedded, cfg.Node, cfg.Logger); err != nil {
			return nil, err
		}
	}
	opts := append([]nats.Option{
		nats.Name("linli " + cfg.Node),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
	}, cfg.NATSOptions...)
	url := cfg.NATSURL
	if n.ns != nil {
		opts = append(opts, nats.InProcessServer(n.ns))
		url = ""
	}
	if n.nc, err = nats.Connect(url, opts...); err != nil {
		n.shutdownServer()
		return nil, fmt.Errorf("cluster: connect to NATS: %w", err)
	}
	if n.js, err = jetstream.New(n.nc); err != nil {
		n.closeConn()
		return nil, fmt.Errorf("cluster: JetStream: %w", err)
	}
	if err := retry(ctx, n.log, "set up the log", n.setUp); err != nil {
		n.closeConn()
		return nil, err
	}
	return n, nil
}

// setUp makes sure the stream and the bucket exist and reads the epoch.
func (n *Node) setUp(ctx context.Context) error {
	sc := jetstream.StreamConfig{
		Name:        n.cfg.Prefix + "_LOG",
		Description: "linli: the log of record (groups of writes, fencing marks)",
		Subjects:    []string{n.subject},
		Storage:     jetstream.FileStorage,
		Replicas:    n.cfg.Replicas,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		Duplicates:  2 * time.Minute,
		MaxMsgSize:  int32(n.cfg.PartBytes + 64<<10),
	}
	st, err := n.js.CreateOrUpdateStream(ctx, sc)
	if err != nil {
		return fmt.Errorf("stream %s: %w", sc.Name, err)
	}
	kv, err := n.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      n.cfg.Prefix + "_CLUSTER",
		Description: "linli: the writer's lease, the cluster's epoch, shared signing keys",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    n.cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("bucket %s_CLUSTER: %w", n.cfg.Prefix, err)
	}
	var epoch [16]byte
	if _, err := rand.Read(epoch[:]); err != nil {
		return err
	}
	if _, err := kv.Create(ctx, keyEpoch, []byte(hex.EncodeToString(epoch[:]))); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("epoch: %w", err)
	}
	e, err := kv.Get(ctx, keyEpoch)
	if err != nil {
		return fmt.Errorf("epoch: %w", err)
	}
	if b, err := hex.DecodeString(string(e.Value())); err != nil || len(b) != 16 {
		return fmt.Errorf("epoch %q: malformed", e.Value())
	} else {
		copy(n.epoch[:], b)
	}
	n.stream, n.kv = st, kv
	return nil
}

// Keys of the cluster bucket.
const (
	keyEpoch  = "epoch"
	keyWriter = "writer"
)

// Name is this node's name.
func (n *Node) Name() string { return n.cfg.Node }

// Epoch is the cluster's epoch: every node's store takes it, so that a
// cursor means the same on every node.
func (n *Node) Epoch() [16]byte { return n.epoch }

// Run feeds store from the log and takes part in the lease until ctx ends
// or Close is called. Call it once, after the store is open.
func (n *Node) Run(ctx context.Context, store Store) {
	n.store = store
	ctx, n.cancel = context.WithCancel(ctx)
	n.runCtx = ctx
	n.wg.Go(func() { n.follow(ctx) })
	n.wg.Go(func() { n.lead(ctx) })
}

// Close stops the Node's loops, gives up the lease if it holds it (so
// another node takes over at once) and closes its NATS connection and
// server. Call it after the store is closed.
func (n *Node) Close() error {
	if n.cancel != nil {
		n.cancel()
	}
	n.wg.Wait()
	n.resign()
	n.closeConn()
	return nil
}

func (n *Node) closeConn() {
	if n.nc != nil {
		n.nc.Close()
	}
	n.shutdownServer()
}

func (n *Node) shutdownServer() {
	if n.ns != nil {
		n.ns.Shutdown()
		n.ns.WaitForShutdown()
	}
}

// Writable reports whether this node may apply local writes now: it holds
// the lease, renewed recently, and has caught up with the log. Otherwise
// the error wraps linlisync.ErrNotWriter.
func (n *Node) Writable() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.writableLocked()
}

func (n *Node) writableLocked() error {
	if !n.writable || n.term == 0 {
		return fmt.Errorf("cluster: %s is not the writer: %w", n.cfg.Node, linlisync.ErrNotWriter)
	}
	if time.Since(n.renewed) > n.cfg.Lease*3/4 {
		// Another node may take the lease soon: stop before it can.
		return fmt.Errorf("cluster: %s could not renew its lease: %w", n.cfg.Node, linlisync.ErrNotWriter)
	}
	return nil
}

// Writer returns the base URL of the writer as this node last saw the
// lease, and whether that is this node; ok is false while no node holds
// it (a failover in progress).
func (n *Node) Writer() (url string, self, ok bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.holder.Node == "" {
		return "", false, false
	}
	return n.holder.URL, n.holder.Node == n.cfg.Node, true
}

// WaitWriter is Writer once a writer is known and, if it is this node,
// once this node may write; it waits until then or until ctx ends.
// Errors: ctx's error.
func (n *Node) WaitWriter(ctx context.Context) (url string, self bool, err error) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		url, self, ok := n.Writer()
		if ok && (!self || n.Writable() == nil) {
			return url, self, nil
		}
		select {
		case <-ctx.Done():
			return "", false, ctx.Err()
		case <-t.C:
		}
	}
}

// Barrier returns once this node's store holds every group the log held
// when it was called (or ctx ends): a read after it sees every write
// acknowledged before it, on any node. Errors: ctx's error; NATS errors.
func (n *Node) Barrier(ctx context.Context) error {
	last, err := n.logLast(ctx)
	if err != nil {
		return err
	}
	return n.store.WaitReplicaPosition(ctx, last)
}

// logLast is the position of the log's last entry (0 for an empty log).
func (n *Node) logLast(ctx context.Context) (uint64, error) {
	seq, _, err := n.lastEntry(ctx)
	return seq, err
}

// lastEntry is the position of the log's last entry and the term of the
// writer that appended it (0, 0 for an empty log).
func (n *Node) lastEntry(ctx context.Context) (seq, term uint64, err error) {
	m, err := n.stream.GetLastMsgForSubject(ctx, n.subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("cluster: last log entry: %w", err)
	}
	n.stats.logLast.Store(max(n.stats.logLast.Load(), m.Sequence))
	if t := m.Header.Get(headerTerm); t != "" {
		if term, err = strconv.ParseUint(t, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("cluster: log entry %d: malformed term %q", m.Sequence, t)
		}
	}
	return m.Sequence, term, nil
}

// Stats are a Node's figures, for metrics.
type Stats struct {
	Writer      bool          // this node is the writer now
	WriterKnown bool          // some node holds the lease
	Term        uint64        // the lease's term as this node last saw it
	Applied     uint64        // the log position this node's store holds
	LogLast     uint64        // the log's last position as last seen
	Commits     uint64        // groups this node appended
	CommitTime  time.Duration // their total append time
	CommitBytes uint64        // their total size
	Fenced      uint64        // appends the log refused (another writer)
	Failovers   uint64        // times this node became the writer
}

// Stats returns the Node's figures.
func (n *Node) Stats() Stats {
	n.mu.Lock()
	st := Stats{Writer: n.writableLocked() == nil, WriterKnown: n.holder.Node != "", Term: n.holder.Term}
	n.mu.Unlock()
	if n.store != nil {
		st.Applied = n.store.ReplicaPosition()
	}
	st.LogLast = max(n.stats.logLast.Load(), st.Applied)
	st.Commits = n.stats.commits.Load()
	st.CommitTime = time.Duration(n.stats.commitNanos.Load())
	st.CommitBytes = n.stats.commitBytes.Load()
	st.Fenced = n.stats.fenced.Load()
	st.Failovers = n.stats.failovers.Load()
	return st
}

// retry calls fn until it succeeds or ctx ends, logging failures now and
// then.
func retry(ctx context.Context, log *slog.Logger, what string, fn func(context.Context) error) error {
	var last error
	for i := 0; ; i++ {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := fn(actx)
		cancel()
		if err == nil {
			return nil
		}
		last = err
		if i%10 == 9 {
			log.Warn("cluster: still trying", "what", what, "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: %s: %w (last error: %v)", what, ctx.Err(), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func lowerPrefix(p string) string {
	b := []byte(p)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
