package sync

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// TestOutcomesOfAnOlderRelease: a store whose outcomes an older release
// kept one per key still answers resent mutations from them, and forgets
// them in turn as the client goes on.
func TestOutcomesOfAnOlderRelease(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir(), Options{DropInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := ClientID{User: "u1", Client: "phone"}
	// As an older release left it: ids 1..300 processed, the last 256
	// outcomes one per key, the client record without kept.
	b := s.db.NewBatch()
	for id := uint64(300 - KeptOutcomes + 1); id <= 300; id++ {
		r := Result{ID: id, Status: StatusApplied}
		if id == 100 || id == 250 {
			r = Result{ID: id, Status: StatusRejected, Reason: "post_not_found", Message: "gone"}
		}
		old := binary.AppendUvarint([]byte{recordVersion}, r.ID)
		old = binary.AppendUvarint(old, uint64(r.Status))
		old = appendString(appendString(old, r.Reason), r.Message)
		_ = b.Set(resultKey(c, id), old, nil)
	}
	rec := []byte{recordVersion}
	rec = binary.AppendUvarint(rec, 300)
	rec = binary.AppendUvarint(rec, 0)
	rec = binary.AppendUvarint(rec, 0)
	_ = b.Set(clientKey(c), rec, nil)
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	s.readRawWrites()

	put := func(id uint64) Mutation {
		return Mutation{ID: id, Apply: func(tx *Tx) error {
			return tx.Put("post/c1/p", []byte("v"), map[string][]byte{"community/c1": []byte("v")})
		}}
	}
	res, _, err := s.Push(context.Background(), c, []Mutation{put(250), put(251)})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != StatusRejected || res[0].Reason != "post_not_found" || res[1].Status != StatusApplied {
		t.Fatalf("resent 250, 251: %+v", res)
	}
	var muts []Mutation
	for id := uint64(301); id <= 301+2*KeptOutcomes; id++ {
		muts = append(muts, put(id))
	}
	if _, _, err := s.Push(context.Background(), c, muts); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Push(context.Background(), c, muts[len(muts)-1:]); err != nil {
		t.Fatal(err)
	}
	res, _, err = s.Push(context.Background(), c, []Mutation{put(250)})
	if err != nil || res[0].Status != StatusOutcomeExpired {
		t.Fatalf("resent 250 after 513 more: %+v, %v; want expired", res, err)
	}
	rep, err := s.Check(context.Background(), CheckOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("check: %v\n%s", err, rep)
	}
}
