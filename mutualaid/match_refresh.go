package mutualaid

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

const (
	// maxRefreshPerWrite bounds the offers one post write re-ranks because
	// their day came (see nextRefresh).
	maxRefreshPerWrite = 4
	// refreshBatch is how many offers one RefreshMatches transaction
	// re-ranks.
	refreshBatch = 100
)

// RefreshMatches brings community c's matches up to date with the date:
// suggestions of medicine that has expired are deleted (tombstoned), and
// scores whose expiry bonus stepped are updated. Post writes in the
// community do this a few offers at a time; a daily job (after midnight in
// the store clock's location) should call it for every community so that
// quiet communities catch up too. It runs as transactions of at most 100
// offers each and returns how many offers it re-ranked.
//
// Errors: ctx's, or internal (storage, a stored record that does not decode).
func RefreshMatches(ctx context.Context, store *linlisync.Store, communityID string) (int, error) {
	total := 0
	for {
		var n int
		err := store.Update(ctx, func(tx *linlisync.Tx) error {
			m := newMatcher(tx, communityID)
			var err error
			if n, err = m.refresh(refreshBatch); err != nil {
				return err
			}
			return m.flush()
		})
		if err != nil {
			return total, fmt.Errorf("mutualaid: refresh matches of %s: %w", communityID, err)
		}
		total += n
		if n < refreshBatch {
			return total, nil
		}
	}
}

// errRefreshDone stops the scan of idx/refresh entries at the first day
// still to come.
var errRefreshDone = errors.New("mutualaid: no more offers due")

// refresh re-ranks up to limit offers whose refresh day has come, earliest
// day first (then by id), and returns how many it re-ranked. It scans the
// community's idx/refresh entries, which are in day order, and stops at
// the first day still to come.
func (m *matcher) refresh(limit int) (int, error) {
	type dueOffer struct{ day, id string }
	var due []dueOffer
	prefix := refreshPrefix(m.c)
	err := m.tx.Scan(prefix, limit, func(id string, _ []byte) error {
		day, oid, ok := strings.Cut(id[len(prefix):], "/")
		if !ok || oid == "" {
			return fmt.Errorf("mutualaid: malformed index entry %s", id)
		}
		if day > m.today {
			return errRefreshDone
		}
		due = append(due, dueOffer{day, oid})
		return nil
	})
	if err != nil && !errors.Is(err, errRefreshDone) {
		return 0, err
	}
	for _, d := range due {
		p, ok, err := loadPost(m.tx, PostEntityID(m.c, d.id))
		if err != nil {
			return 0, err
		}
		if !ok {
			p = &linliv1.Post{Id: d.id, Kind: linliv1.PostKind_POST_KIND_OFFER} // gone: drop it everywhere
		}
		ip, err := m.indexed(d.id)
		if err != nil {
			return 0, err
		}
		if ip.rec.refreshDay() != d.day {
			// An entry its idx/post record does not name: indexPost would
			// leave it, and it would come due forever.
			if err := m.tx.Delete(refreshEntryID(m.c, d.day, d.id)); err != nil {
				return 0, err
			}
		}
		if err := m.indexPost(p); err != nil {
			return 0, err
		}
		if err := m.offerChanged(p); err != nil {
			return 0, err
		}
	}
	return len(due), nil
}

// nextRefresh returns the first day after now's on which time alone
// changes what offer p's free items score (see scoreMatch): the day after
// an item's expiry date, or the day its expiry bonus steps up. Empty if no
// free item has an expiry date still to come.
func nextRefresh(p *linliv1.Post, now time.Time) string {
	today := startOfDay(now)
	var next time.Time
	for _, it := range p.GetItems() {
		if it.GetQuantity()-it.GetReserved() <= 0 || it.GetExpiryDate() == "" {
			continue
		}
		exp, err := time.ParseInLocation(dateLayout, it.GetExpiryDate(), today.Location())
		if err != nil || exp.Before(today) {
			continue // never matches again
		}
		days := int(exp.Sub(today).Round(24*time.Hour) / (24 * time.Hour))
		// The bonus is max(0, 10 − days/30): it steps when days/30 drops,
		// first at 299 days, last when the item expires (days = −1).
		steps := days - 30*min(days/expiryBonusDays, maxExpiryBonus) + 1
		if days >= maxExpiryBonus*expiryBonusDays {
			steps = days - (maxExpiryBonus*expiryBonusDays - 1)
		}
		d := today.AddDate(0, 0, steps)
		if next.IsZero() || d.Before(next) {
			next = d
		}
	}
	if next.IsZero() {
		return ""
	}
	return next.Format(dateLayout)
}
