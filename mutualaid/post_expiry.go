package mutualaid

import (
	"context"
	"strings"
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
	n := 0
	err := s.store.Update(ctx, func(tx *linlisync.Tx) error {
		var ids []string
		prefix := "idx/post/" + communityID + "/"
		err := tx.Scan(prefix, expireBatch, func(id string, _ []byte) error {
			ids = append(ids, strings.TrimPrefix(id, prefix))
			return nil
		})
		if err != nil {
			return err
		}
		for _, postID := range ids {
			expired, err := expireOffer(tx, PostEntityID(communityID, postID))
			if err != nil {
				return err
			}
			if expired {
				n++
			}
		}
		return nil
	})
	return n, err
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
