package sync

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// CheckOptions configure an integrity check.
type CheckOptions struct {
	// Store gives the ClientScope the store was written with and, for Check,
	// the FS. Other fields are ignored. Zero: the engine's defaults.
	Store Options
	// Progress, if set, receives a line every ProgressEvery (default 5 s)
	// while the check runs: for big stores.
	Progress      io.Writer
	ProgressEvery time.Duration
	// MaxProblems bounds Report.Problems (all are counted). Default 100.
	MaxProblems int
}

// Report is the outcome of an integrity check.
type Report struct {
	Epoch string // hex; empty if the store has none

	Keys             int // every key scanned
	Clients          int // 'C' client records
	Results          int // 'R' kept mutation outcomes
	Entities         int // 'E' entity records
	DeletedEntities  int // of which deleted (remembered until their tombstones are dropped)
	Scopes           int // 'H' scope heads
	LogEntries       int // 'L' log entries, versions and tombstones
	LogTombstones    int // of which tombstones
	TombstoneIndexes int // 'T' tombstone index keys

	ProblemCount int      // every problem found
	Problems     []string // the first MaxProblems, one readable line each
	Elapsed      time.Duration
}

// OK reports whether the check found no problem.
func (r Report) OK() bool { return r.ProblemCount == 0 }

// String renders the report for a terminal.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "epoch           %s\n", cmp.Or(r.Epoch, "(none)"))
	fmt.Fprintf(&b, "keys            %d\n", r.Keys)
	fmt.Fprintf(&b, "clients         %d\n", r.Clients)
	fmt.Fprintf(&b, "results         %d\n", r.Results)
	fmt.Fprintf(&b, "entities        %d (%d deleted)\n", r.Entities, r.DeletedEntities)
	fmt.Fprintf(&b, "scopes          %d\n", r.Scopes)
	fmt.Fprintf(&b, "log entries     %d (%d tombstones)\n", r.LogEntries, r.LogTombstones)
	fmt.Fprintf(&b, "tombstone index %d\n", r.TombstoneIndexes)
	fmt.Fprintf(&b, "checked in      %s\n", r.Elapsed.Round(time.Millisecond))
	if r.OK() {
		b.WriteString("no problems\n")
		return b.String()
	}
	fmt.Fprintf(&b, "%d problems", r.ProblemCount)
	if len(r.Problems) < r.ProblemCount {
		fmt.Fprintf(&b, " (first %d shown)", len(r.Problems))
	}
	b.WriteString(":\n")
	for _, p := range r.Problems {
		b.WriteString("  ")
		b.WriteString(p)
		b.WriteByte('\n')
	}
	return b.String()
}

// Check verifies the integrity of the stopped store in storeDir, read-only.
// It holds the store's lock while it runs, so it fails with ErrStoreInUse
// while a server has the store open (use Store.Check there).
//
// What it verifies (one pass over the keyspace, point reads for the cross
// references; memory is bounded by the number of scopes):
//   - every key has a known prefix and layout, and every record decodes;
//     the epoch exists;
//   - heads: lwm ≤ head;
//   - log entries: 1 ≤ seq ≤ the scope's head; a tombstone has no value, a
//     time, and its 'T' index key; every entry is pointed at by exactly one
//     placement: its entity's placement in that scope (one per scope), or
//     for a client state ("client/<user>/<client>", no entity record) its
//     client record's stateSeq;
//   - entities: each placement points at an existing log entry of that
//     entity whose deleted flag matches the placement's tombstone flag (and
//     time); a deleted entity has no value and only tombstones;
//   - tombstone index keys point at tombstone log entries of the same time;
//   - clients: last ≥ 1, recent outcomes are the last ones, stateSeq points
//     at the client's state in its user scope; its kept outcomes are exactly
//     the ids in (last-KeptOutcomes, last]; every outcome has a client.
//
// Errors (the check could not run; problems go in the Report): the store
// does not exist; ErrStoreInUse; ctx's error; storage errors.
func Check(ctx context.Context, storeDir string, opts CheckOptions) (Report, error) {
	fs := opts.Store.FS
	if fs == nil {
		fs = vfs.Default
	}
	if fi, err := fs.Stat(storeDir); err != nil || !fi.IsDir() {
		return Report{}, fmt.Errorf("check %s: no store there: %w", storeDir, cmp.Or(err, pebble.ErrDBDoesNotExist))
	}
	lock, err := lockForCheck(storeDir, fs)
	if err != nil {
		return Report{}, fmt.Errorf("check %s: %w: %v", storeDir, ErrStoreInUse, err)
	}
	db, err := pebble.Open(storeDir, &pebble.Options{
		FS: fs, ReadOnly: true, ErrorIfNotExists: true, Lock: lock,
		Logger:        pebbleLogger{slog.New(slog.DiscardHandler)},
		EventListener: corruptionListener(slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		return Report{}, errors.Join(fmt.Errorf("check %s: open: %w", storeDir, err), lock.Close())
	}
	opts.Store.setDefaults()
	rep, err := check(ctx, db, opts)
	return rep, errors.Join(err, db.Close(), lock.Close())
}

// Check verifies the integrity of this open store on a snapshot, while it
// keeps serving. opts.Store is ignored: the store's own options are used.
// See the package function Check for what is verified.
// Errors: ctx's error; storage errors.
func (s *Store) Check(ctx context.Context, opts CheckOptions) (Report, error) {
	v := s.acquireView()
	defer v.release()
	snap := v.snap
	opts.Store = s.opts
	return check(ctx, snap, opts)
}

func check(ctx context.Context, r pebble.Reader, opts CheckOptions) (Report, error) {
	if opts.MaxProblems <= 0 {
		opts.MaxProblems = 100
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = 5 * time.Second
	}
	c := &checker{
		r: r, opts: opts, clientScope: opts.Store.ClientScope,
		heads: make(map[string]scopeHead), start: time.Now(),
	}
	c.lastProgress = c.start
	err := c.run(ctx)
	c.rep.Elapsed = time.Since(c.start)
	return c.rep, err
}

// checker holds one check's state.
type checker struct {
	r           pebble.Reader
	opts        CheckOptions
	clientScope func(user string) string
	rep         Report
	heads       map[string]scopeHead // filled by the 'H' keys, which sort before 'L'

	lastClient       []byte // the client looked up last by a result key
	lastClientExists bool

	start, lastProgress time.Time
}

func (c *checker) problemf(format string, args ...any) {
	c.rep.ProblemCount++
	if len(c.rep.Problems) < c.opts.MaxProblems {
		c.rep.Problems = append(c.rep.Problems, fmt.Sprintf(format, args...))
	}
}

func (c *checker) progress(where []byte) {
	if c.opts.Progress == nil || time.Since(c.lastProgress) < c.opts.ProgressEvery {
		return
	}
	c.lastProgress = time.Now()
	fmt.Fprintf(c.opts.Progress, "check: %d keys in %s, at %s, %d problems so far\n",
		c.rep.Keys, time.Since(c.start).Round(time.Second), describeKey(where), c.rep.ProblemCount)
}

func (c *checker) run(ctx context.Context) error {
	it, err := c.r.NewIter(nil)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	for it.First(); it.Valid(); it.Next() {
		c.rep.Keys++
		if c.rep.Keys%1024 == 0 {
			if err := ctx.Err(); err != nil {
				it.Close()
				return err
			}
			c.progress(it.Key())
		}
		if err := c.record(it.Key(), it.Value()); err != nil {
			it.Close()
			return err
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("check: %w", err)
	}
	if c.rep.Epoch == "" {
		c.problemf("store has no epoch (key M \"epoch\")")
	}
	return nil
}

// record checks one key and value. Only storage errors are returned.
func (c *checker) record(k, v []byte) error {
	if len(k) == 0 {
		c.problemf("empty key")
		return nil
	}
	switch k[0] {
	case prefixMeta:
		c.meta(k, v)
		return nil
	case prefixClient:
		return c.client(k, v)
	case prefixResult:
		return c.result(k, v)
	case prefixEntity:
		return c.entity(k, v)
	case prefixHead:
		c.head(k, v)
		return nil
	case prefixLog:
		return c.logEntry(k, v)
	case prefixTombstone:
		return c.tombstone(k, v)
	}
	c.problemf("key %q: unknown prefix %q", k, k[0])
	return nil
}

// describeKey renders a key for a person.
func describeKey(k []byte) string {
	if len(k) == 0 {
		return "(empty key)"
	}
	switch k[0] {
	case prefixLog:
		if scope, seq, ok := parseLogKey(k); ok {
			return fmt.Sprintf("L %s:%d", scope, seq)
		}
	case prefixResult:
		if cl, id, ok := parseResultKey(k); ok {
			return fmt.Sprintf("R %s/%s:%d", cl.User, cl.Client, id)
		}
	case prefixTombstone:
		if at, scope, seq, ok := parseTombstoneKey(k); ok {
			return fmt.Sprintf("T %d %s:%d", at, scope, seq)
		}
	}
	return fmt.Sprintf("%c %q", k[0], k[1:])
}

func (c *checker) meta(k, v []byte) {
	if bytes.Equal(k, keyReplica) {
		if len(v) != 8 {
			c.problemf("replica position: %d bytes, want 8", len(v))
		}
		return
	}
	if !bytes.Equal(k, keyEpoch) {
		c.problemf("%s: unknown meta key", describeKey(k))
		return
	}
	if len(v) != 16 {
		c.problemf("epoch: %d bytes, want 16", len(v))
		return
	}
	c.rep.Epoch = hex.EncodeToString(v)
}

func (c *checker) head(k, v []byte) {
	c.rep.Scopes++
	scope := string(k[1:])
	if !validName(scope) {
		c.problemf("%s: malformed scope name", describeKey(k))
	}
	h, err := decodeHead(v)
	if err != nil {
		c.problemf("head of %s: %v", scope, err)
		return
	}
	if h.lwm > h.head {
		c.problemf("head of %s: low-water mark %d above head %d", scope, h.lwm, h.head)
	}
	c.heads[scope] = h
}

// get reads key; ok is false if it is absent. The value is the caller's.
func (c *checker) get(key []byte) ([]byte, bool, error) {
	v, closer, err := c.r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("check: read %s: %w", describeKey(key), err)
	}
	out := bytes.Clone(v)
	return out, true, closer.Close()
}

// --- clients and results ---

// parseClientKey is the inverse of clientKey.
func parseClientKey(k []byte) (ClientID, bool) {
	user, client, ok := bytes.Cut(k[1:], []byte{sep})
	c := ClientID{User: string(user), Client: string(client)}
	return c, ok && validName(c.User) && validName(c.Client)
}

// parseResultKey is the inverse of resultKey.
func parseResultKey(k []byte) (ClientID, uint64, bool) {
	if len(k) < 1+3+1+8 || k[len(k)-9] != sep {
		return ClientID{}, 0, false
	}
	c, ok := parseClientKey(k[:len(k)-9])
	return c, binary.BigEndian.Uint64(k[len(k)-8:]), ok
}

// parseLogKey is the inverse of logKey.
func parseLogKey(k []byte) (string, uint64, bool) {
	if len(k) < 1+1+1+8 || k[len(k)-9] != sep {
		return "", 0, false
	}
	scope := string(k[1 : len(k)-9])
	return scope, binary.BigEndian.Uint64(k[len(k)-8:]), validName(scope)
}

func clientStateID(c ClientID) string { return "client/" + c.User + "/" + c.Client }

func (c *checker) client(k, v []byte) error {
	c.rep.Clients++
	cl, ok := parseClientKey(k)
	if !ok {
		c.problemf("%s: malformed client key", describeKey(k))
		return nil
	}
	name := cl.User + "/" + cl.Client
	rec, err := decodeClient(v)
	if err != nil {
		c.problemf("client %s: %v", name, err)
		return nil
	}
	if rec.last == 0 {
		c.problemf("client %s: last mutation id 0 (a record is written only after a mutation)", name)
	}
	for i, r := range rec.recent {
		if want := rec.last - uint64(len(rec.recent)) + 1 + uint64(i); r.ID != want {
			c.problemf("client %s: recent outcome %d has id %d, want %d (the last %d, oldest first)", name, i, r.ID, want, len(rec.recent))
			break
		}
	}
	if want := min(rec.last, RecentResults); uint64(len(rec.recent)) != want {
		c.problemf("client %s: %d recent outcomes, want %d", name, len(rec.recent), want)
	}
	if err := c.clientState(cl, rec); err != nil {
		return err
	}
	return c.clientResults(cl, rec)
}

// clientState checks that stateSeq points at the client's state.
func (c *checker) clientState(cl ClientID, rec clientRecord) error {
	name := cl.User + "/" + cl.Client
	if rec.stateSeq == 0 {
		c.problemf("client %s: no state published (stateSeq 0)", name)
		return nil
	}
	scope := c.clientScope(cl.User)
	v, ok, err := c.get(logKey(scope, rec.stateSeq))
	if err != nil {
		return err
	}
	if !ok {
		c.problemf("client %s: stateSeq points at missing log entry %s:%d", name, scope, rec.stateSeq)
		return nil
	}
	e, err := decodeLogEntry(v)
	if err != nil {
		return nil // reported with the log entry
	}
	if e.entityID != clientStateID(cl) || e.deleted {
		c.problemf("client %s: stateSeq points at %s:%d, which holds %q (deleted=%v), not its state", name, scope, rec.stateSeq, e.entityID, e.deleted)
	}
	return nil
}

// clientResults checks the client's kept outcomes: ids (last-KeptOutcomes, last].
func (c *checker) clientResults(cl ClientID, rec clientRecord) error {
	name := cl.User + "/" + cl.Client
	prefix := resultPrefix(cl)
	it, err := c.r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	// The outcomes of (last − KeptOutcomes, last] must be kept, in records
	// of consecutive ids without gaps; older ones may be, until forgotten.
	window := uint64(1)
	if rec.last > KeptOutcomes {
		window = rec.last - KeptOutcomes + 1
	}
	next := uint64(0) // the id the next record must start at; 0 before the first
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if len(k) != len(prefix)+8 {
			continue // malformed: reported by the result pass
		}
		first := binary.BigEndian.Uint64(k[len(prefix):])
		rs, err := decodeOutcomes(first, it.Value())
		if err != nil {
			continue // reported by the result pass
		}
		last := first + uint64(len(rs)) - 1
		start := next
		if start == 0 {
			start = window
		}
		if first > start && start <= rec.last {
			c.problemf("client %s: outcomes of ids %d..%d missing", name, start, min(first-1, rec.last))
		}
		if next != 0 && first < next {
			c.problemf("client %s: outcomes of ids %d..%d kept twice", name, first, next-1)
		}
		if last > rec.last {
			c.problemf("client %s: outcomes %d..%d kept but last mutation id is %d", name, first, last, rec.last)
		}
		next = last + 1
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("check: %w", err)
	}
	switch {
	case rec.last == 0:
	case next == 0:
		c.problemf("client %s: outcomes of ids %d..%d missing", name, window, rec.last)
	case next <= rec.last:
		c.problemf("client %s: outcomes of ids %d..%d missing", name, next, rec.last)
	}
	return nil
}

func (c *checker) result(k, v []byte) error {
	cl, first, ok := parseResultKey(k)
	if !ok {
		c.problemf("%s: malformed result key", describeKey(k))
		return nil
	}
	rs, err := decodeOutcomes(first, v)
	if err != nil {
		c.problemf("%s: %v", describeKey(k), err)
	}
	c.rep.Results += len(rs)
	for _, r := range rs {
		if r.Status != StatusApplied && r.Status != StatusRejected {
			c.problemf("%s: outcome of %d has status %d", describeKey(k), r.ID, r.Status)
		}
	}
	ck := clientKey(cl)
	if !bytes.Equal(ck, c.lastClient) {
		_, exists, err := c.get(ck)
		if err != nil {
			return err
		}
		c.lastClient, c.lastClientExists = ck, exists
	}
	if !c.lastClientExists {
		c.problemf("%s: outcome of a client with no record", describeKey(k))
	}
	return nil
}

// --- entities, log entries, tombstones ---

func (c *checker) entity(k, v []byte) error {
	c.rep.Entities++
	id := string(k[1:])
	if !validName(id) {
		c.problemf("%s: malformed entity id", describeKey(k))
	}
	rec, err := decodeEntity(v)
	if err != nil {
		c.problemf("entity %q: %v", id, err)
		return nil
	}
	if rec.deleted {
		c.rep.DeletedEntities++
		if len(rec.canonical) != 0 {
			c.problemf("entity %q: deleted but keeps a value", id)
		}
		if len(rec.placements) == 0 {
			c.problemf("entity %q: deleted with no tombstone left (should be forgotten)", id)
		}
	}
	seen := make(map[string]bool, len(rec.placements))
	for _, p := range rec.placements {
		if seen[p.scope] {
			c.problemf("entity %q: two placements in %s", id, p.scope)
		}
		seen[p.scope] = true
		if rec.deleted && p.tombstoneAt == 0 {
			c.problemf("entity %q: deleted but visible in %s:%d", id, p.scope, p.seq)
		}
		if err := c.placement(id, p); err != nil {
			return err
		}
	}
	return nil
}

// placement checks that p points at a log entry of entity id that agrees with it.
func (c *checker) placement(id string, p placement) error {
	if !validName(p.scope) || p.seq == 0 {
		c.problemf("entity %q: malformed placement %q:%d", id, p.scope, p.seq)
		return nil
	}
	v, ok, err := c.get(logKey(p.scope, p.seq))
	if err != nil {
		return err
	}
	if !ok {
		c.problemf("entity %q: placement points at missing log entry %s:%d", id, p.scope, p.seq)
		return nil
	}
	e, err := decodeLogEntry(v)
	if err != nil {
		return nil // reported with the log entry
	}
	switch {
	case e.entityID != id:
		c.problemf("entity %q: placement points at %s:%d, which holds entity %q", id, p.scope, p.seq, e.entityID)
	case e.deleted != (p.tombstoneAt != 0):
		c.problemf("entity %q: placement at %s:%d says tombstone=%v, the log entry says deleted=%v", id, p.scope, p.seq, p.tombstoneAt != 0, e.deleted)
	case e.deleted && e.atMilli != p.tombstoneAt:
		c.problemf("entity %q: tombstone at %s:%d dated %d, placement says %d", id, p.scope, p.seq, e.atMilli, p.tombstoneAt)
	}
	return nil
}

func (c *checker) logEntry(k, v []byte) error {
	c.rep.LogEntries++
	scope, seq, ok := parseLogKey(k)
	if !ok {
		c.problemf("%s: malformed log key", describeKey(k))
		return nil
	}
	where := fmt.Sprintf("log entry %s:%d", scope, seq)
	h, known := c.heads[scope]
	switch {
	case seq == 0:
		c.problemf("%s: seq 0 (seqs start at 1)", where)
	case !known:
		c.problemf("%s: scope has no head", where)
	case seq > h.head:
		c.problemf("%s: seq above the scope's head %d", where, h.head)
	}
	e, err := decodeLogEntry(v)
	if err != nil {
		c.problemf("%s: %v", where, err)
		return nil
	}
	if e.deleted {
		c.rep.LogTombstones++
		if err := c.tombstoneEntry(where, scope, seq, e); err != nil {
			return err
		}
	}
	if e.canonical {
		_, closer, err := canonicalValue(c.r, e.entityID)
		if err != nil && !errors.Is(err, ErrCorrupt) {
			return err
		}
		if err != nil {
			c.problemf("%s: %v", where, err)
		} else {
			closer.Close()
		}
	}
	return c.owner(where, scope, seq, e)
}

// tombstoneEntry checks a tombstone's shape and its index key.
func (c *checker) tombstoneEntry(where, scope string, seq uint64, e logEntry) error {
	if len(e.value) != 0 {
		c.problemf("%s: tombstone with a value", where)
	}
	if e.atMilli == 0 {
		c.problemf("%s: tombstone without a time", where)
		return nil
	}
	_, ok, err := c.get(tombstoneKey(e.atMilli, scope, seq))
	if err != nil {
		return err
	}
	if !ok {
		c.problemf("%s: tombstone of %q has no index key (T %d %s:%d): it would never be dropped", where, e.entityID, e.atMilli, scope, seq)
	}
	return nil
}

// owner checks that exactly one placement points at the entry: its
// entity's in this scope, or for a client state its client record.
func (c *checker) owner(where, scope string, seq uint64, e logEntry) error {
	v, ok, err := c.get(entityKey(e.entityID))
	if err != nil {
		return err
	}
	if ok {
		rec, err := decodeEntity(v)
		if err != nil {
			return nil // reported with the entity
		}
		for _, p := range rec.placements {
			if p.scope != scope {
				continue
			}
			if p.seq != seq {
				c.problemf("%s: stale version of %q (its placement in %s is at %d): compaction left it behind", where, e.entityID, scope, p.seq)
			}
			return nil
		}
		c.problemf("%s: entity %q has no placement in %s", where, e.entityID, scope)
		return nil
	}
	if rest, isClient := strings.CutPrefix(e.entityID, "client/"); isClient {
		found, err := c.clientOwner(rest, scope, seq)
		if err != nil || found {
			return err
		}
		c.problemf("%s: client state %q not pointed at by its client record", where, e.entityID)
		return nil
	}
	c.problemf("%s: entity %q has no record", where, e.entityID)
	return nil
}

// clientOwner reports whether a client record "user/client" (rest; either
// may contain '/') publishes its state in scope at seq.
func (c *checker) clientOwner(rest, scope string, seq uint64) (bool, error) {
	for i := range len(rest) {
		if rest[i] != '/' {
			continue
		}
		cl := ClientID{User: rest[:i], Client: rest[i+1:]}
		if !validName(cl.User) || !validName(cl.Client) || c.clientScope(cl.User) != scope {
			continue
		}
		v, ok, err := c.get(clientKey(cl))
		if err != nil {
			return false, err
		}
		if !ok {
			continue
		}
		rec, err := decodeClient(v)
		if err == nil && rec.stateSeq == seq {
			return true, nil
		}
	}
	return false, nil
}

func (c *checker) tombstone(k, v []byte) error {
	c.rep.TombstoneIndexes++
	at, scope, seq, ok := parseTombstoneKey(k)
	if !ok || !validName(scope) {
		c.problemf("%s: malformed tombstone index key", describeKey(k))
		return nil
	}
	where := describeKey(k)
	if len(v) != 0 {
		c.problemf("%s: index key with a value", where)
	}
	lv, ok, err := c.get(logKey(scope, seq))
	if err != nil {
		return err
	}
	if !ok {
		c.problemf("%s: points at missing log entry %s:%d", where, scope, seq)
		return nil
	}
	e, err := decodeLogEntry(lv)
	switch {
	case err != nil: // reported with the log entry
	case !e.deleted:
		c.problemf("%s: points at %s:%d, a live version of %q, not a tombstone", where, scope, seq, e.entityID)
	case e.atMilli != at:
		c.problemf("%s: the tombstone at %s:%d is dated %d", where, scope, seq, e.atMilli)
	}
	return nil
}
