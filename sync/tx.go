package sync

import (
	"bytes"
	"fmt"
	"slices"
	"time"
)

// Tx is one mutation's view of the store while the writer applies it. It
// sees everything committed and everything applied earlier in the same
// group. Its writes take effect only if the mutation is applied; a rejected
// mutation leaves no trace. A Tx is used by one goroutine and only during
// Apply.
type Tx struct {
	w       *batchState
	client  ClientID
	pending map[string]*pendingEntity
	order   []string // entity ids in first-write order, for determinism
	notice  *Rejection
	aborts  []func()
}

// Local returns the value the writer keeps under key, made with mk on its
// first use. Such values are a domain's working state beside the store
// (an index it derives from entities): they live as long as the store, and
// only the writer (mutations and Update functions) touches them, so they
// need no lock. Register with OnAbort how to bring them back in step when
// what a Tx wrote does not take effect.
func (tx *Tx) Local(key any, mk func() any) any {
	v, ok := tx.w.s.locals[key]
	if !ok {
		v = mk()
		tx.w.s.locals[key] = v
	}
	return v
}

// OnAbort registers fn to run in the writer if what this Tx wrote does not
// take effect: Apply (or the Update function) returns an error, or the
// group the Tx was applied in is abandoned. State kept with Local that the
// Tx changed must then be rebuilt: fn marks it so.
func (tx *Tx) OnAbort(fn func()) { tx.aborts = append(tx.aborts, fn) }

// abort runs the Tx's abort functions.
func (tx *Tx) abort() {
	for _, fn := range tx.aborts {
		fn()
	}
	tx.aborts = nil
}

// Notify attaches a notice to an applied mutation's result: a reason and
// a message for the user (e.g. "call 120 now"). The last call wins.
func (tx *Tx) Notify(reason, message string) {
	tx.notice = &Rejection{Reason: reason, Message: message}
}

type pendingEntity struct {
	deleted   bool
	fresh     bool // never stored before: see Create
	canonical []byte
	views     map[string][]byte
}

// Client is the client whose mutation is being applied.
func (tx *Tx) Client() ClientID { return tx.client }

// Now is the commit group's clock reading; the same for every mutation in it.
func (tx *Tx) Now() time.Time { return tx.w.now }

// Get returns an entity's canonical value. ok is false if the entity does
// not exist or was deleted. The returned slice is the caller's.
func (tx *Tx) Get(entityID string) (value []byte, ok bool, err error) {
	if p, found := tx.pending[entityID]; found {
		return p.canonical, !p.deleted, nil
	}
	rec, found, err := tx.w.loadEntity(entityID)
	if err != nil || !found || rec.deleted {
		return nil, false, err
	}
	return slices.Clone(rec.canonical), true, nil
}

// Put sets an entity's canonical value and its projection in each scope
// that may see it. Scopes that saw the entity before and are not in views
// get a tombstone. Returns ErrBadEntityID or ErrBadScope for malformed names.
func (tx *Tx) Put(entityID string, canonical []byte, views map[string][]byte) error {
	if !validName(entityID) {
		return fmt.Errorf("put %q: %w", entityID, ErrBadEntityID)
	}
	for sc := range views {
		if !validName(sc) {
			return fmt.Errorf("put %q in scope %q: %w", entityID, sc, ErrBadScope)
		}
	}
	tx.stage(entityID, &pendingEntity{canonical: canonical, views: views})
	return nil
}

// Create is Put for an entity that has never been stored, not even as a
// deleted one: the domain knows from its own ids (an index entry of a post
// that did not exist until now). It spares the writer looking for the
// entity's record, a lookup that finds nothing but costs as much as one
// that finds something.
//
// REQUIRES: no entity entityID was ever stored or deleted. Breaking it
// leaves the old record's entries in its scopes without an owner.
func (tx *Tx) Create(entityID string, canonical []byte, views map[string][]byte) error {
	if err := tx.Put(entityID, canonical, views); err != nil {
		return err
	}
	tx.pending[entityID].fresh = true
	return nil
}

// Delete removes an entity: every scope that saw it gets a tombstone.
func (tx *Tx) Delete(entityID string) error {
	if !validName(entityID) {
		return fmt.Errorf("delete %q: %w", entityID, ErrBadEntityID)
	}
	tx.stage(entityID, &pendingEntity{deleted: true})
	return nil
}

func (tx *Tx) stage(id string, p *pendingEntity) {
	if _, ok := tx.pending[id]; !ok {
		tx.order = append(tx.order, id)
	}
	tx.pending[id] = p
}

// flush writes the staged entities into the batch.
func (tx *Tx) flush() error {
	for _, id := range tx.order {
		p := tx.pending[id]
		if err := tx.w.publish(id, p.canonical, p.views, p.deleted, p.fresh); err != nil {
			return err
		}
	}
	return nil
}

func (w *batchState) loadEntity(id string) (entityRecord, bool, error) {
	v, ok, err := w.get(entityKey(id))
	if err != nil || !ok {
		return entityRecord{}, false, wrapErr("read entity", err)
	}
	rec, err := decodeEntity(v)
	return rec, err == nil, err
}

// publish writes a new version of an entity: one log entry per scope in
// views, a tombstone in each scope that saw it before and is not in views,
// and removes the entries they replace, so each scope holds at most one
// entry per entity.
func (w *batchState) publish(id string, canonical []byte, views map[string][]byte, deleted, fresh bool) error {
	var (
		rec entityRecord
		err error
	)
	if _, written := w.cache[string(entityKey(id))]; !fresh || written {
		if rec, _, err = w.loadEntity(id); err != nil {
			return err
		}
	}
	kept := rec.placements[:0:0]
	for _, p := range rec.placements {
		_, republished := views[p.scope]
		switch {
		case republished:
			err = w.removeEntry(p)
		case p.tombstoneAt == 0:
			p, err = w.entomb(id, p)
			kept = append(kept, p)
		default:
			kept = append(kept, p) // already a tombstone there
		}
		if err != nil {
			return err
		}
	}
	for _, sc := range sortedKeys(views) {
		e := logEntry{entityID: id, atMilli: w.nowMilli(), value: views[sc]}
		if !deleted && bytes.Equal(e.value, canonical) {
			// Kept once, in the entity record; Pull reads it from there.
			e.value, e.canonical = nil, true
		}
		seq, err := w.appendEntry(sc, e)
		if err != nil {
			return err
		}
		kept = append(kept, placement{scope: sc, seq: seq})
	}
	if deleted && len(kept) == 0 {
		return w.del(entityKey(id)) // nothing left to remember
	}
	rec = entityRecord{deleted: deleted, canonical: canonical, placements: kept}
	if deleted {
		rec.canonical = nil
	}
	return w.set(entityKey(id), encodeEntity(rec))
}

// entomb replaces a visible entry with a tombstone at the scope's next seq.
func (w *batchState) entomb(id string, p placement) (placement, error) {
	if err := w.removeEntry(p); err != nil {
		return p, err
	}
	at := w.nowMilli()
	if at == 0 {
		at = 1 // 0 means visible
	}
	seq, err := w.appendEntry(p.scope, logEntry{entityID: id, deleted: true, atMilli: at})
	if err != nil {
		return p, err
	}
	if err := w.set(tombstoneKey(at, p.scope, seq), nil); err != nil {
		return p, fmt.Errorf("index tombstone: %w", err)
	}
	return placement{scope: p.scope, seq: seq, tombstoneAt: at}, nil
}

// removeEntry deletes the log entry a placement points at.
func (w *batchState) removeEntry(p placement) error {
	if err := w.delOnce(logKey(p.scope, p.seq)); err != nil {
		return fmt.Errorf("compact %s: %w", p.scope, err)
	}
	if p.tombstoneAt != 0 {
		if err := w.delOnce(tombstoneKey(p.tombstoneAt, p.scope, p.seq)); err != nil {
			return fmt.Errorf("compact %s: %w", p.scope, err)
		}
	}
	return nil
}

func (w *batchState) appendEntry(scope string, e logEntry) (uint64, error) {
	seq, err := w.nextSeq(scope)
	if err != nil {
		return 0, fmt.Errorf("advance %s: %w", scope, err)
	}
	if err := w.set(logKey(scope, seq), encodeLogEntry(e)); err != nil {
		return 0, fmt.Errorf("append to %s: %w", scope, err)
	}
	return seq, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
