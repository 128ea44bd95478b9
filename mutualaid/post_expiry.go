package mutualaid

import (
	"context"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// expireBatch bounds the posts one expiry transaction looks at.
const expireBatch = 500

// ExpireOffers marks EXPIRED every open offer of the community whose
// medicines have all passed their expiry date and that nothing is reserved
// from: neighbours stop seeing it as available, and its suggestions go.
// Offers holding anything that does not expire stay open. It returns how
// many offers it expired. RefreshMatches runs it for every community.
//
// Errors: ctx's, or storage errors.
func (s *Service) ExpireOffers(ctx context.Context, communityID string) (int, error) {
	total := 0
	for {
		looked, expired := 0, 0
		err := s.store.Update(ctx, func(tx *linlisync.Tx) error {
			looked, expired = 0, 0
			cm, err := communityMatchesOf(tx, communityID, false)
			if err != nil {
				return err
			}
			for _, id := range cm.expiredOffers(expireBatch) {
				ok, err := expireOffer(tx, PostEntityID(communityID, id))
				if err != nil {
					return err
				}
				looked++
				if ok {
					expired++
				}
			}
			return nil
		})
		total += expired
		if err != nil || looked < expireBatch || expired == 0 {
			return total, err
		}
	}
}

// expireOffer expires one offer if it is open, unreserved and holds only
// expired medicine.
func expireOffer(tx *linlisync.Tx, id string) (bool, error) {
	p, ok, err := loadPost(tx, id)
	if err != nil || !ok {
		return false, err
	}
	if p.GetKind() != linliv1.PostKind_POST_KIND_OFFER || p.GetStatus() != linliv1.PostStatus_POST_STATUS_OPEN || reserved(p) {
		return false, nil
	}
	today := tx.Now().Format(time.DateOnly)
	for _, it := range p.GetItems() {
		if it.GetExpiryDate() == "" || it.GetExpiryDate() >= today {
			return false, nil
		}
	}
	p.Status = linliv1.PostStatus_POST_STATUS_EXPIRED
	p.UpdatedAt = timestamppb.New(tx.Now())
	return true, putPost(tx, id, p)
}

// expiredOffers returns up to limit open offers, in id order, whose
// medicines have all passed their expiry date and of which nothing is
// reserved.
func (cm *communityMatches) expiredOffers(limit int) []string {
	var ids []string
	for id, s := range cm.active {
		p := s.post
		if p.GetKind() != linliv1.PostKind_POST_KIND_OFFER || p.GetStatus() != linliv1.PostStatus_POST_STATUS_OPEN || reserved(p) {
			continue
		}
		expired := len(s.items) > 0
		for _, it := range s.items {
			expired = expired && it.expiry != noExpiry && it.expiry != badExpiry && it.expiry < cm.day
		}
		if expired {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids[:min(len(ids), limit)]
}
