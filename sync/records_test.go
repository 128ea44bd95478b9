package sync

import (
	"errors"
	"fmt"
	"testing"
)

// TestDecodeClientLast: the last mutation id read alone is the one the
// whole record holds, however many recent outcomes follow it, and a
// record too short to hold it is corrupt.
func TestDecodeClientLast(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, RecentResults} {
		rec := clientRecord{last: 1_000_000 + uint64(n), stateSeq: 42, kept: 7}
		for i := range n {
			rec.recent = append(rec.recent, Result{ID: uint64(i + 1), Status: StatusRejected, Reason: "post_not_open", Message: fmt.Sprint("closed ", i)})
		}
		b := encodeClient(rec)
		whole, err := decodeClient(b)
		if err != nil {
			t.Fatal(err)
		}
		last, err := decodeClientLast(b)
		if err != nil || last != whole.last || last != rec.last {
			t.Errorf("%d outcomes: last %d (%v), want %d", n, last, err, rec.last)
		}
	}
	for _, b := range [][]byte{nil, {recordVersion}, {recordVersion + 1, 5}, {recordVersion, 0x80}} {
		if last, err := decodeClientLast(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decodeClientLast(%x) = %d, %v; want ErrCorrupt", b, last, err)
		}
	}
}
