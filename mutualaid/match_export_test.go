package mutualaid

import (
	"time"

	"github.com/linli/linli/mutualaid/matching"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// Exported for the tests of matching in package mutualaid_test.
var (
	MatchPostChanged = postChanged
	MatchPutPost     = putPost
	MatchLoadPost    = loadPost
	MatchRankOffers  = rankOffers
	MatchScore       = scoreMatch
)

// MatchGreedy returns the suggestions among posts from scratch: the stable
// matching of package matching, built with the community's own scoring.
func MatchGreedy(posts []*linliv1.Post, now time.Time) []*linliv1.Match {
	cm := newCommunityMatches("")
	cm.setNow(now)
	var nodes []matching.Node
	byID := map[string]*scoring{}
	for _, p := range posts {
		if postActive(p) && kindName(p.GetKind()) != "" {
			s := prepareScoring(p, cm.cat)
			byID[p.GetId()] = s
			nodes = append(nodes, cm.node(s))
		}
	}
	var out []*linliv1.Match
	for _, e := range matching.Greedy(nodes, matchScorer{cm}) {
		m, _ := buildMatch(byID[e.Request], byID[e.Offer], cm.day)
		out = append(out, m)
	}
	return out
}
