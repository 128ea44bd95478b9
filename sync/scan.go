package sync

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// Scan visits, in id order, up to limit live entities whose id starts with
// prefix, as this Tx sees them (committed, written earlier in the group, or
// staged by this Tx), calling fn with each id and canonical value. fn must
// not keep value. It stops early when fn returns an error, and returns it.
// Scan lets the domain keep indexes as one small entity per member
// ("idx/open/<community>/<post>") instead of one large list.
func (tx *Tx) Scan(prefix string, limit int, fn func(id string, canonical []byte) error) error {
	if prefix == "" || limit <= 0 {
		return nil
	}
	overlay := tx.overlayIDs(prefix)
	it, err := tx.w.s.db.NewIter(&pebble.IterOptions{
		LowerBound: entityKey(prefix), UpperBound: prefixEnd(entityKey(prefix)),
	})
	if err != nil {
		return fmt.Errorf("scan %s: %w", prefix, err)
	}
	defer it.Close()
	seen, valid := 0, it.First()
	for seen < limit {
		var (
			id      string
			v       []byte
			ok      bool
			advance bool // the iterator is on id: move on after fn
		)
		switch {
		case valid && (len(overlay) == 0 || string(it.Key()[1:]) < overlay[0]):
			// Not written in this group: the committed value is current,
			// read from the iterator (valid until it moves) without a
			// second lookup.
			id, advance = string(it.Key()[1:]), true
			rec, err := decodeEntity(it.Value())
			if err != nil {
				return fmt.Errorf("scan %s: %s: %w", prefix, id, err)
			}
			v, ok = rec.canonical, !rec.deleted
		case len(overlay) > 0:
			if valid && string(it.Key()[1:]) == overlay[0] {
				valid = it.Next()
			}
			id, overlay = overlay[0], overlay[1:]
			if v, ok, err = tx.Get(id); err != nil {
				return err
			}
		default:
			return it.Error()
		}
		if ok {
			seen++
			if err := fn(id, v); err != nil {
				return err
			}
		}
		if advance {
			valid = it.Next()
		}
	}
	return it.Error()
}

// overlayIDs are the ids under prefix that the group or this Tx wrote,
// sorted: their current values may differ from what is committed.
func (tx *Tx) overlayIDs(prefix string) []string {
	written := tx.w.writtenEntities()
	lo, _ := slices.BinarySearch(written, prefix)
	hi := lo
	for hi < len(written) && strings.HasPrefix(written[hi], prefix) {
		hi++
	}
	ids := slices.Clone(written[lo:hi])
	for id := range tx.pending {
		if strings.HasPrefix(id, prefix) {
			if _, dup := slices.BinarySearch(written[lo:hi], id); !dup {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return ids
}
