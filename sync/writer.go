package sync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// request is one unit of work for the writer: a client's push, or a
// maintenance job run in the writer's order.
type request struct {
	client ClientID
	muts   []Mutation
	job    func(w *batchState) error // maintenance instead of a push
	// settled makes the writer wait, before it runs job, until every group
	// applied before it is durable (a backup must not hold unsynced groups).
	settled bool
	// solo makes the request a group of its own (groups from a replicated
	// log: see ApplyReplicated).
	solo bool
	// replicated marks groups from the log (ApplyReplicated): the Replica
	// neither judges nor commits them.
	replicated bool
	// reads marks a job that writes nothing (a backup): a Replica that is
	// not the writer lets it run.
	reads bool
	reply chan reply // buffered, 1
}

type reply struct {
	results []Result
	last    uint64
	err     error
}

// Push applies muts for client in order, exactly once each, and returns
// after they and all their effects are committed with fsync.
//
// REQUIRES: muts non-empty, ids consecutive and ≥ 1; every Apply non-nil.
//
// Mutations with id ≤ the client's last processed id are not applied again:
// their stored outcome is returned (StatusOutcomeExpired once it is older
// than KeptOutcomes). A mutation Apply rejects consumes its id. Errors:
// *GapError if the first new id does not follow the last processed one
// (nothing applied); ErrBadMutationIDs, ErrBadScope for bad arguments;
// ErrClosed; ErrFailed once a commit has failed; ctx's error if ctx ends
// before the writer takes the push; any other error is internal, and the
// mutation it struck (and those after it) were not applied.
func (s *Store) Push(ctx context.Context, client ClientID, muts []Mutation) ([]Result, uint64, error) {
	if err := checkPush(client, muts); err != nil {
		return nil, 0, err
	}
	r, err := s.do(ctx, request{client: client, muts: muts})
	return r.results, r.last, err
}

func checkPush(client ClientID, muts []Mutation) error {
	if !validName(client.User) || !validName(client.Client) {
		return fmt.Errorf("client %q/%q: %w", client.User, client.Client, ErrBadScope)
	}
	if len(muts) == 0 || muts[0].ID == 0 {
		return ErrBadMutationIDs
	}
	for i, m := range muts {
		if m.ID != muts[0].ID+uint64(i) || m.Apply == nil {
			return ErrBadMutationIDs
		}
	}
	return nil
}

// do queues req and waits for the reply. Once the writer has taken a
// request it is always answered, even if ctx ends meanwhile: the caller
// waits, because the mutation may be durable.
func (s *Store) do(ctx context.Context, req request) (reply, error) {
	if err := s.failure(); err != nil {
		return reply{}, err
	}
	req.reply = make(chan reply, 1)
	select {
	case s.queue <- req:
	case <-ctx.Done():
		return reply{}, ctx.Err()
	case <-s.done:
		return reply{}, ErrClosed
	}
	select {
	case r := <-req.reply:
		return r, r.err
	case <-s.syncerDone:
		// The pipeline answers everything it took before it exits.
		select {
		case r := <-req.reply:
			return r, r.err
		default:
			return reply{}, ErrClosed
		}
	}
}

// The write pipeline. One writer goroutine takes queued requests, applies
// as many as are waiting into one batch and hands the batch to Pebble
// without waiting for its fsync (ApplyNoSyncWait); it then goes on with the
// next group at once, so that applying one group overlaps the fsync of the
// one before. The group goes to one syncer goroutine, which waits for its
// fsync and only then makes it visible to readers (the group's read view,
// its heads, subscriber pokes) and answers its requests, strictly in the
// order the groups were applied.
//
// Visibility: Pebble makes a batch visible to its own readers before the
// fsync completes. Readers therefore never read the database directly:
// they read the durable view, a snapshot the writer takes right after it
// applied a group (so it holds that group and nothing later) and that the
// syncer installs once the group is durable. A Pull never shows a change
// an acknowledged crash could lose.
//
// Lock order: Store.mu before viewRef (acquire), and nothing while calling
// Pebble from the writer.

// maxInflight bounds the groups applied but not yet durable.
const maxInflight = 4

// maxRetainedBatch is the largest group batch whose buffer Pebble keeps for
// the next group: regrowing it for every large group cost more than the
// memory.
const maxRetainedBatch = 64 << 20

// group is one commit group on its way through the pipeline.
type group struct {
	reqs    []request
	replies []reply
	muts    int
	batch   *pebble.Batch    // nil when the group wrote nothing
	view    *pebble.Snapshot // taken right after batch was applied; nil with batch
	heads   map[string]scopeHead
	applied time.Time // when the writer had applied it
	apply   time.Duration
	bytes   int    // the batch's size
	pos     uint64 // with a Replica: the log position the group brings the store to (0: unchanged)
}

// writeLoop is the single writer.
func (s *Store) writeLoop(ctx context.Context) {
	defer s.wg.Done()
	defer close(s.inflight)
	for {
		var first request
		if s.held != nil {
			first, s.held = *s.held, nil
		} else {
			select {
			case first = <-s.queue:
			case <-ctx.Done():
				s.drainQueue()
				return
			}
		}
		reqs := s.gather(first)
		if reqs[0].settled {
			s.waitSettled()
		}
		g := s.applyGroup(reqs)
		s.mu.Lock()
		s.appliedGroups++
		s.mu.Unlock()
		s.inflight <- g
	}
}

// gather collects the requests already queued behind first, up to the
// batch bound. A request that needs the pipeline settled starts a group of
// its own.
func (s *Store) gather(first request) []request {
	group := []request{first}
	n := len(first.muts)
	for n < s.opts.MaxBatchMutations && !first.settled && !first.solo {
		select {
		case r := <-s.queue:
			if r.settled || r.solo {
				s.held = &r // runs first in the next group
				return group
			}
			group = append(group, r)
			n += len(r.muts)
		default:
			return group
		}
	}
	return group
}

// waitSettled returns once every group handed to the syncer is durable.
func (s *Store) waitSettled() {
	for {
		s.mu.RLock()
		applied, durable := s.appliedGroups, s.durableGroups
		ch := s.durableCh
		s.mu.RUnlock()
		if durable >= applied {
			return
		}
		<-ch
	}
}

// drainQueue answers requests that were queued but never taken.
func (s *Store) drainQueue() {
	if s.held != nil {
		s.held.reply <- reply{err: ErrClosed}
		s.held = nil
	}
	for {
		select {
		case r := <-s.queue:
			r.reply <- reply{err: ErrClosed}
		default:
			return
		}
	}
}

// applyGroup applies reqs into one batch and hands it to Pebble without
// waiting for the fsync. A group that fails to apply is answered with its
// error and commits nothing.
func (s *Store) applyGroup(reqs []request) *group {
	start := time.Now()
	w := s.newBatchState()
	g := &group{reqs: reqs, replies: make([]reply, len(reqs))}
	for i, req := range reqs {
		if err := s.admit(req); err != nil {
			g.replies[i].err = err
			continue
		}
		if s.opts.Replica != nil && !req.replicated && !req.reads {
			if err := s.opts.Replica.Writable(); err != nil {
				g.replies[i].err = err
				continue
			}
		}
		if req.job != nil {
			if err := req.job(w); err != nil {
				g.replies[i].err = w.poison(err)
			}
			continue
		}
		g.replies[i] = w.applyPush(req.client, req.muts)
		g.muts += len(req.muts)
	}
	_ = w.writeHeads() // a failure poisons the group
	switch {
	case w.failed != nil:
		// A write into the batch failed halfway: commit nothing, so that no
		// push is half-applied. Every push in the group may be retried.
		s.log.Error("group abandoned", "err", w.failed, "pushes", len(reqs))
		s.abandon(g, w, w.failed)
	case !w.batch.Empty():
		if err := s.replicate(w); err != nil {
			// Not in the log, so not here either: the requests may be
			// retried (on the log's writer).
			s.log.Warn("group not replicated", "err", err, "pushes", len(reqs))
			s.abandon(g, w, err)
			break
		}
		g.bytes = w.batch.Len()
		if err := s.db.ApplyNoSyncWait(w.batch, pebble.Sync); err != nil {
			err = fmt.Errorf("commit: %w", err)
			s.log.Error("commit failed", "err", err, "pushes", len(reqs))
			s.fail(err)
			s.abandon(g, w, err)
			break
		}
		for sc := range w.changed {
			s.writerHeads[sc] = w.heads[sc]
		}
		s.applied.merge(w.cache)
		s.rememberClients(w.clients)
		s.noteDeletes(w.deletes)
		if w.pos > 0 {
			s.replicaPos, g.pos = w.pos, w.pos
		}
		g.batch, g.heads = w.batch, w.heads
		g.view = s.db.NewSnapshot()
	default:
		w.batch.Close()
	}
	g.applied = time.Now()
	g.apply = g.applied.Sub(start)
	return g
}

// noteDeletes counts a committed group's deletions and starts a flush,
// without waiting for it, once Options.FlushAfterDeletes have gathered.
// An edit moves its entity to the end of each scope's log and deletes the
// older entry; in the memtable the entry and its deletion both stay, and a
// catch-up steps over every pair (100,000 edits made a new member's
// catch-up four times slower). A flush drops each pair. A flush the
// memtable made on its own is not counted: at most this one is early.
func (s *Store) noteDeletes(n int) {
	s.deletesUnflushed += n
	if s.opts.FlushAfterDeletes < 0 || s.deletesUnflushed < s.opts.FlushAfterDeletes {
		return
	}
	s.deletesUnflushed = 0
	if _, err := s.db.AsyncFlush(); err != nil {
		s.log.Warn("flush after deletes", "err", err)
	}
}

// abandon answers every request of g with err and drops its batch.
func (s *Store) abandon(g *group, w *batchState, err error) {
	for i := range g.replies {
		g.replies[i] = reply{err: err}
	}
	w.batch.Close()
	s.applied.reset()
	clear(s.clientRecs)
	for _, fn := range w.aborts {
		fn()
	}
	if s.opts.OnAbandon != nil {
		s.opts.OnAbandon()
	}
}

// syncLoop is the syncer: it waits for each group's fsync in order, makes
// it visible and answers it.
func (s *Store) syncLoop() {
	defer s.wg.Done()
	defer close(s.syncerDone)
	for g := range s.inflight {
		if g.batch != nil {
			err := g.batch.SyncWait()
			g.batch.Close()
			if err != nil {
				err = fmt.Errorf("commit: sync: %w", err)
				s.log.Error("commit failed", "err", err, "pushes", len(g.reqs))
				s.fail(err)
				g.view.Close()
				for i := range g.replies {
					g.replies[i] = reply{err: err}
				}
				s.markDurable(nil, nil, 0)
				s.answer(g)
				continue
			}
		}
		s.markDurable(g.view, g.heads, g.pos)
		s.answer(g)
	}
}

// answer reports g's commit and replies to its requests.
func (s *Store) answer(g *group) {
	if s.opts.OnCommit != nil {
		s.opts.OnCommit(g.muts, len(g.reqs), time.Since(g.applied))
	}
	if s.opts.OnGroup != nil {
		s.opts.OnGroup(GroupStats{Mutations: g.muts, Requests: len(g.reqs), Bytes: g.bytes, Apply: g.apply, Sync: time.Since(g.applied)})
	}
	for i, req := range g.reqs {
		req.reply <- g.replies[i]
	}
}

// GroupStats describe one commit group, for metrics and benchmarks.
type GroupStats struct {
	Mutations int           // client mutations in the group
	Requests  int           // pushes and jobs in the group
	Bytes     int           // the size of the batch the writer handed to Pebble
	Apply     time.Duration // the writer's time applying it
	Sync      time.Duration // from applied until durable
}

// newBatchState starts a group's batch.
func (s *Store) newBatchState() *batchState {
	return &batchState{
		s: s, batch: s.db.NewBatch(pebble.WithMaxRetainedSizeBytes(maxRetainedBatch)), now: s.opts.Now(),
		heads: make(map[string]scopeHead), changed: make(map[string]bool),
		cache: make(map[string]cached), entityWrites: make(map[string]struct{}),
	}
}

// batchState is the writer's view during one group: the batch, every key
// read or written so far, and the heads as they will be once it commits.
type batchState struct {
	s       *Store
	batch   *pebble.Batch
	now     time.Time
	heads   map[string]scopeHead // overlay over s.writerHeads
	changed map[string]bool
	cache   map[string]cached // every key read or written in this group
	// entityWrites are the ids of entities written in this group; sorted
	// lazily into sortedWrites when a Scan needs them.
	entityWrites map[string]struct{}
	sortedWrites []string
	sorted       bool
	failed       error                   // set when a write into the batch failed: the group must not commit
	aborts       []func()                // of the Txs applied in this group, run if it is abandoned
	outcomes     map[ClientID][][]Result // outcome records written in this group, by client
	clients      map[ClientID]clientRecord
	deletes      int // keys deleted with delOnce
	// With a Replica: replicated is set when the group holds groups from
	// the log (ApplyReplicated), and pos is the log position the group
	// brings the store to (0: unchanged).
	replicated bool
	pos        uint64
}

// poison marks the group as not committable and returns err.
func (w *batchState) poison(err error) error {
	if w.failed == nil {
		w.failed = err
	}
	return err
}

// head returns the scope's head as of this batch.
func (w *batchState) head(scope string) scopeHead {
	if h, ok := w.heads[scope]; ok {
		return h
	}
	return w.s.writerHeads[scope]
}

// setHead records the scope's new head; writeHeads puts it in the batch.
func (w *batchState) setHead(scope string, h scopeHead) error {
	w.heads[scope] = h
	w.changed[scope] = true
	return nil
}

// writeHeads writes each changed head once per group.
func (w *batchState) writeHeads() error {
	for sc := range w.changed {
		if err := w.set(headKey(sc), encodeHead(w.heads[sc])); err != nil {
			return w.poison(fmt.Errorf("write head of %s: %w", sc, err))
		}
	}
	return nil
}

// nextSeq assigns the scope's next sequence number.
func (w *batchState) nextSeq(scope string) (uint64, error) {
	h := w.head(scope)
	h.head++
	return h.head, w.setHead(scope, h)
}

// get reads key as of this group: the group's own writes first, then
// everything applied before (durable or not). Reads are remembered, so a
// key is read from Pebble at most once per group. ok is false if absent.
// The value must not be modified.
func (w *batchState) get(key []byte) ([]byte, bool, error) {
	if c, hit := w.cache[string(key)]; hit {
		return c.value, c.present, nil
	}
	if c, hit := w.s.applied.get(key); hit {
		w.cache[string(key)] = c
		return c.value, c.present, nil
	}
	v, closer, err := w.s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		w.cache[string(key)] = cached{}
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := bytes.Clone(v)
	w.cache[string(key)] = cached{value: out, present: true}
	return out, true, closer.Close()
}

// set writes key in the group's batch.
func (w *batchState) set(key, value []byte) error {
	w.cache[string(key)] = cached{value: value, present: true}
	w.noteEntity(key)
	return w.batch.Set(key, value, nil)
}

// del deletes key in the group's batch.
func (w *batchState) del(key []byte) error {
	w.cache[string(key)] = cached{}
	w.noteEntity(key)
	return w.batch.Delete(key, nil)
}

// delOnce deletes a key that was set exactly once since it last did not
// exist (a log entry, a tombstone's index key: their seqs are never
// reused). Pebble drops such a deletion together with the value as soon as
// a compaction meets both, instead of carrying it down to the last level,
// so scans of a much-edited scope do not keep stepping over them.
func (w *batchState) delOnce(key []byte) error {
	w.cache[string(key)] = cached{}
	w.deletes++
	return w.batch.SingleDelete(key, nil)
}

// noteEntity remembers the entity ids this group wrote, for Tx.Scan.
func (w *batchState) noteEntity(key []byte) {
	if len(key) == 0 || key[0] != prefixEntity {
		return
	}
	if _, ok := w.entityWrites[string(key[1:])]; !ok {
		w.entityWrites[string(key[1:])] = struct{}{}
		w.sorted = false
	}
}

// writtenEntities returns the ids of the entities this group wrote, sorted.
func (w *batchState) writtenEntities() []string {
	if !w.sorted {
		w.sortedWrites = w.sortedWrites[:0]
		for id := range w.entityWrites {
			w.sortedWrites = append(w.sortedWrites, id)
		}
		slices.Sort(w.sortedWrites)
		w.sorted = true
	}
	return w.sortedWrites
}

// cached is a key's value as of the group.
type cached struct {
	value   []byte
	present bool
}

func (w *batchState) nowMilli() uint64 { return uint64(w.now.UnixMilli()) }

// maxClientRecs bounds the client records the writer keeps decoded.
const maxClientRecs = 100_000

// rememberClients keeps the client records a group applied, decoded, for
// the groups after it: a client that pushes again is not decoded again.
func (s *Store) rememberClients(recs map[ClientID]clientRecord) {
	if len(s.clientRecs)+len(recs) > maxClientRecs {
		clear(s.clientRecs)
	}
	for c, rec := range recs {
		s.clientRecs[c] = rec
	}
}
