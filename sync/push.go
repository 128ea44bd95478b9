package sync

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// applyPush applies one client's mutations into the batch.
func (w *batchState) applyPush(client ClientID, muts []Mutation) reply {
	rec, err := w.loadClient(client)
	if err != nil {
		return reply{err: err}
	}
	if muts[0].ID > rec.last+1 {
		return reply{last: rec.last, err: &GapError{LastMutationID: rec.last, Got: muts[0].ID}}
	}
	results := make([]Result, 0, len(muts))
	applied := 0
	var failure error
	for _, m := range muts {
		if m.ID <= rec.last {
			r, err := w.storedResult(client, rec, m.ID)
			if err != nil {
				failure = err
				break
			}
			results = append(results, r)
			continue
		}
		r, err := w.applyOne(client, m)
		if err != nil {
			failure = fmt.Errorf("apply mutation %d (%s): %w", m.ID, m.Name, err)
			break
		}
		rec.last = r.ID
		rec.recent = append(rec.recent, r) // trimmed to RecentResults by saveClient
		results = append(results, r)
		applied++
	}
	if applied > 0 {
		if err := w.keepOutcomes(client, &rec, results[len(results)-applied:]); err != nil {
			return reply{err: w.poison(err)}
		}
		if err := w.saveClient(client, rec); err != nil {
			return reply{err: w.poison(err)}
		}
	}
	return reply{results: results, last: rec.last, err: failure}
}

// applyOne runs one mutation in its own Tx; its writes reach the batch only
// if it is applied. An error from Apply itself leaves the batch untouched;
// one while writing its effects poisons the whole group.
func (w *batchState) applyOne(client ClientID, m Mutation) (Result, error) {
	tx := &Tx{w: w, client: client, pending: make(map[string]*pendingEntity)}
	err := m.Apply(tx)
	if err != nil {
		tx.abort()
	}
	var rej *Rejection
	switch {
	case errors.As(err, &rej):
		return Result{ID: m.ID, Status: StatusRejected, Reason: rej.Reason, Message: rej.Message}, nil
	case err != nil:
		return Result{}, err
	}
	w.aborts = append(w.aborts, tx.aborts...)
	if err := tx.flush(); err != nil {
		return Result{}, w.poison(err)
	}
	r := Result{ID: m.ID, Status: StatusApplied}
	if tx.notice != nil {
		r.Reason, r.Message = tx.notice.Reason, tx.notice.Message
	}
	return r, nil
}

func (w *batchState) loadClient(client ClientID) (clientRecord, error) {
	if rec, ok := w.clients[client]; ok {
		return rec.clone(), nil
	}
	if rec, ok := w.s.clientRecs[client]; ok {
		return rec.clone(), nil
	}
	v, ok, err := w.get(clientKey(client))
	if err != nil || !ok {
		return clientRecord{}, wrapErr("read client", err)
	}
	return decodeClient(v)
}

// storedResult answers a duplicate with the outcome it had: from the
// client's recent outcomes, the records this group wrote, or the stored
// record that holds it; StatusOutcomeExpired once it is no longer kept.
func (w *batchState) storedResult(client ClientID, rec clientRecord, id uint64) (Result, error) {
	for _, r := range rec.recent {
		if r.ID == id {
			return r, nil
		}
	}
	for _, rs := range w.outcomes[client] {
		if id >= rs[0].ID && id < rs[0].ID+uint64(len(rs)) {
			return rs[id-rs[0].ID], nil
		}
	}
	prefix := resultPrefix(client)
	it, err := w.s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: resultKey(client, id+1)})
	if err != nil {
		return Result{}, fmt.Errorf("read outcome: %w", err)
	}
	defer it.Close()
	if !it.Last() {
		return Result{ID: id, Status: StatusOutcomeExpired}, it.Error()
	}
	if c, hit := w.cache[string(it.Key())]; hit && !c.present {
		return Result{ID: id, Status: StatusOutcomeExpired}, nil // forgotten in this group
	}
	first := binary.BigEndian.Uint64(it.Key()[len(prefix):])
	rs, err := decodeOutcomes(first, it.Value())
	if err != nil {
		return Result{}, fmt.Errorf("read outcome: %w", err)
	}
	if id < first+uint64(len(rs)) {
		return rs[id-first], nil
	}
	return Result{ID: id, Status: StatusOutcomeExpired}, nil
}

// keepOutcomes stores the outcomes of a push's applied mutations as one
// record and, once more than twice KeptOutcomes ids are kept, forgets the
// records wholly older than the last KeptOutcomes ids.
func (w *batchState) keepOutcomes(client ClientID, rec *clientRecord, results []Result) error {
	if err := w.set(resultKey(client, results[0].ID), encodeOutcomes(results)); err != nil {
		return fmt.Errorf("write outcomes: %w", err)
	}
	if w.outcomes == nil {
		w.outcomes = map[ClientID][][]Result{}
	}
	w.outcomes[client] = append(w.outcomes[client], results)
	if rec.kept == 0 {
		rec.kept = 1 // an older release's record: look from the start
	}
	if rec.last < rec.kept+2*KeptOutcomes {
		return nil
	}
	return w.forgetOutcomes(client, rec)
}

// forgetOutcomes deletes the client's outcome records whose ids are all at
// or below last − KeptOutcomes, and moves rec.kept to the first one left.
// Records this group wrote are not visible to it, and are too young anyway.
func (w *batchState) forgetOutcomes(client ClientID, rec *clientRecord) error {
	prefix := resultPrefix(client)
	it, err := w.s.db.NewIter(&pebble.IterOptions{LowerBound: resultKey(client, rec.kept), UpperBound: prefixEnd(prefix)})
	if err != nil {
		return fmt.Errorf("forget outcomes: %w", err)
	}
	defer it.Close()
	keepFrom := rec.last - KeptOutcomes + 1
	for valid := it.First(); valid; valid = it.Next() {
		if c, hit := w.cache[string(it.Key())]; hit && !c.present {
			continue
		}
		first := binary.BigEndian.Uint64(it.Key()[len(prefix):])
		rs, err := decodeOutcomes(first, it.Value())
		if err != nil {
			return fmt.Errorf("forget outcomes: %w", err)
		}
		if first+uint64(len(rs)) > keepFrom {
			rec.kept = first
			return it.Error()
		}
		if err := w.del(slices.Clone(it.Key())); err != nil {
			return fmt.Errorf("forget outcomes: %w", err)
		}
	}
	rec.kept = keepFrom
	return it.Error()
}

// saveClient publishes the client's state in its user's scope, replacing
// the previous one there, and writes the client record. The state has no
// entity record: the client record knows where it stands.
func (w *batchState) saveClient(client ClientID, rec clientRecord) error {
	if n := len(rec.recent); n > RecentResults {
		rec.recent = rec.recent[n-RecentResults:]
	}
	state := ClientState{Client: client.Client, LastMutationID: rec.last, Recent: rec.recent}
	v, err := w.s.opts.EncodeClientState(state)
	if err != nil {
		return fmt.Errorf("encode client state: %w", err)
	}
	scope := w.s.opts.ClientScope(client.User)
	if rec.stateSeq > 0 {
		if err := w.removeEntry(placement{scope: scope, seq: rec.stateSeq}); err != nil {
			return err
		}
	}
	id := "client/" + client.User + "/" + client.Client
	rec.stateSeq, err = w.appendEntry(scope, logEntry{entityID: id, atMilli: w.nowMilli(), value: v})
	if err != nil {
		return err
	}
	if err := w.set(clientKey(client), encodeClient(rec)); err != nil {
		return fmt.Errorf("write client: %w", err)
	}
	if w.clients == nil {
		w.clients = map[ClientID]clientRecord{}
	}
	w.clients[client] = rec.clone()
	return nil
}

func wrapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
