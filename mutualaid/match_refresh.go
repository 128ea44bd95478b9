package mutualaid

import (
	"context"
	"fmt"
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
// offers each and returns how many offers it scored again.
//
// Errors: ctx's, or internal (storage, a stored record that does not decode).
func RefreshMatches(ctx context.Context, store *linlisync.Store, communityID string) (int, error) {
	total := 0
	for {
		var n int
		err := store.Update(ctx, func(tx *linlisync.Tx) error {
			cm, err := communityMatchesOf(tx, communityID, true)
			if err != nil {
				return err
			}
			ids := cm.refreshDue(refreshBatch)
			n = len(ids)
			return cm.publish(tx, ids)
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
