package mutualaid

import (
	"cmp"
	"slices"
	"time"

	"github.com/linli/linli/mutualaid/catalog"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// Exported for the tests of matching in package mutualaid_test.
var (
	MatchPostChanged = postChanged
	MatchPutPost     = putPost
	MatchLoadPost    = loadPost
	MatchRankOffers  = rankOffers
)

// MatchRankRequests is rankOffers seen from an offer: the requests it fits
// (see scoreMatch), best first by score, then by request post id.
func MatchRankRequests(offer *linliv1.Post, requests []*linliv1.Post, cat *catalog.Catalog, now time.Time) []*linliv1.Match {
	var out []*linliv1.Match
	for _, r := range requests {
		if m, ok := scoreMatch(r, offer, cat, now); ok {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b *linliv1.Match) int {
		return cmp.Or(cmp.Compare(b.GetScore(), a.GetScore()), cmp.Compare(a.GetRequestPostId(), b.GetRequestPostId()))
	})
	return out
}
