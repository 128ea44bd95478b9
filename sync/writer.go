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
	reply  chan reply                // buffered, 1
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
// ErrClosed; ctx's error if ctx ends before the writer takes the push;
// any other error is internal, and the mutation it struck (and those after
// it) were not applied.
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

// do queues req and waits for the writer's reply. Once the writer has taken
// a request it is always answered, even if ctx ends meanwhile: the caller
// waits, because the mutation may be durable.
func (s *Store) do(ctx context.Context, req request) (reply, error) {
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
	case <-s.writerDone:
		// The writer answers everything it took before it exits.
		select {
		case r := <-req.reply:
			return r, r.err
		default:
			return reply{}, ErrClosed
		}
	}
}

// writeLoop is the single writer: it takes queued requests, applies as many
// as are waiting into one batch, commits with one fsync and answers them.
func (s *Store) writeLoop(ctx context.Context) {
	defer s.wg.Done()
	defer close(s.writerDone)
	for {
		var first request
		select {
		case first = <-s.queue:
		case <-ctx.Done():
			s.drainQueue()
			return
		}
		s.commitGroup(s.gather(first))
	}
}

// gather collects the requests already queued behind first, up to the
// batch bound.
func (s *Store) gather(first request) []request {
	group := []request{first}
	n := len(first.muts)
	for n < s.opts.MaxBatchMutations {
		select {
		case r := <-s.queue:
			group = append(group, r)
			n += len(r.muts)
		default:
			return group
		}
	}
	return group
}

// drainQueue answers requests that were queued but never taken.
func (s *Store) drainQueue() {
	for {
		select {
		case r := <-s.queue:
			r.reply <- reply{err: ErrClosed}
		default:
			return
		}
	}
}

// commitGroup applies the group into one batch and commits it.
func (s *Store) commitGroup(group []request) {
	w := s.newBatchState()
	defer w.batch.Close()
	replies := make([]reply, len(group))
	muts := 0
	for i, req := range group {
		if req.job != nil {
			if err := req.job(w); err != nil {
				replies[i].err = w.poison(err)
			}
			continue
		}
		replies[i] = w.applyPush(req.client, req.muts)
		muts += len(req.muts)
	}
	start := time.Now()
	_ = w.writeHeads() // a failure poisons the group
	if w.failed != nil {
		// A write into the batch failed halfway: commit nothing, so that no
		// push is half-applied. Every push in the group may be retried.
		s.log.Error("group abandoned", "err", w.failed, "pushes", len(group))
		for i := range replies {
			replies[i] = reply{err: w.failed}
		}
		w.changed = nil
	} else if !w.batch.Empty() {
		if err := w.batch.Commit(pebble.Sync); err != nil {
			err = fmt.Errorf("commit: %w", err)
			s.log.Error("commit failed", "err", err, "pushes", len(group))
			for i := range replies {
				replies[i] = reply{err: err}
			}
			w.changed = nil
		}
	}
	if s.opts.OnCommit != nil {
		s.opts.OnCommit(muts, len(group), time.Since(start))
	}
	s.publishHeads(w)
	for i, req := range group {
		req.reply <- replies[i]
	}
}

// publishHeads makes the batch's new heads visible and pokes subscribers.
func (s *Store) publishHeads(w *batchState) {
	if len(w.changed) == 0 {
		return
	}
	pokes := make(map[string]uint64, len(w.changed))
	s.mu.Lock()
	for sc := range w.changed {
		h := w.heads[sc]
		s.heads[sc] = h
		pokes[sc] = h.head
	}
	s.mu.Unlock()
	s.broker.publish(pokes)
}

// batchState is the writer's view during one group: the batch, every key
// read or written so far, and the heads as they will be once it commits.
type batchState struct {
	s       *Store
	batch   *pebble.Batch
	now     time.Time
	heads   map[string]scopeHead // overlay over s.heads
	changed map[string]bool
	cache   map[string]cached // every key read or written in this group
	// entityWrites are the ids of entities written in this group, sorted.
	entityWrites []string
	failed       error // set when a write into the batch failed: the group must not commit
}

// poison marks the group as not committable and returns err.
func (w *batchState) poison(err error) error {
	if w.failed == nil {
		w.failed = err
	}
	return err
}

func (s *Store) newBatchState() *batchState {
	return &batchState{
		s: s, batch: s.db.NewBatch(), now: s.opts.Now(),
		heads: make(map[string]scopeHead), changed: make(map[string]bool),
		cache: make(map[string]cached),
	}
}

// head returns the scope's head as of this batch.
func (w *batchState) head(scope string) scopeHead {
	if h, ok := w.heads[scope]; ok {
		return h
	}
	w.s.mu.RLock()
	h := w.s.heads[scope]
	w.s.mu.RUnlock()
	return h
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

// get reads key as of this group: the group's own writes first, then the
// committed store. Reads are remembered, so a key is read from Pebble at
// most once per group. ok is false if absent. The value must not be modified.
func (w *batchState) get(key []byte) ([]byte, bool, error) {
	if c, hit := w.cache[string(key)]; hit {
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

// noteEntity remembers the entity ids this group wrote, in order, for
// Tx.Scan.
func (w *batchState) noteEntity(key []byte) {
	if len(key) == 0 || key[0] != prefixEntity {
		return
	}
	id := string(key[1:])
	if i, found := slices.BinarySearch(w.entityWrites, id); !found {
		w.entityWrites = slices.Insert(w.entityWrites, i, id)
	}
}

// cached is a key's value as of the group.
type cached struct {
	value   []byte
	present bool
}

func (w *batchState) nowMilli() uint64 { return uint64(w.now.UnixMilli()) }
