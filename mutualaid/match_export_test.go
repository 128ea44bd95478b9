package mutualaid

// Exported for the tests of matching in package mutualaid_test.
var (
	MatchPostChanged  = postChanged
	MatchPutPost      = putPost
	MatchLoadPost     = loadPost
	MatchRankOffers   = rankOffers
	MatchRankRequests = rankRequests
)
