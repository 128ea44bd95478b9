package sync

import (
	"errors"
	"fmt"
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
			r, err := w.storedResult(client, m.ID)
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
		if err := w.recordResult(client, &rec, r); err != nil {
			return reply{err: w.poison(err)}
		}
		results = append(results, r)
		applied++
	}
	if applied > 0 {
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
	v, ok, err := w.get(clientKey(client))
	if err != nil || !ok {
		return clientRecord{}, wrapErr("read client", err)
	}
	return decodeClient(v)
}

// storedResult answers a duplicate with the outcome it had.
func (w *batchState) storedResult(client ClientID, id uint64) (Result, error) {
	v, ok, err := w.get(resultKey(client, id))
	if err != nil {
		return Result{}, fmt.Errorf("read result: %w", err)
	}
	if !ok {
		return Result{ID: id, Status: StatusOutcomeExpired}, nil
	}
	return decodeResult(v)
}

// recordResult stores r as the client's newest outcome and forgets the one
// that falls out of the kept window.
func (w *batchState) recordResult(client ClientID, rec *clientRecord, r Result) error {
	rec.last = r.ID
	rec.recent = append(rec.recent, r) // trimmed to RecentResults by saveClient
	if err := w.set(resultKey(client, r.ID), encodeResult(r)); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	if r.ID > KeptOutcomes {
		if err := w.del(resultKey(client, r.ID-KeptOutcomes)); err != nil {
			return fmt.Errorf("forget result: %w", err)
		}
	}
	return nil
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
	return nil
}

func wrapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
