// Package matching keeps the suggestions between requests and offers of
// one community as a bounded, stable matching, in memory, updated one post
// at a time at a cost that does not grow with how many posts share an item.
//
// The rule. Every pair of a request and an offer that can meet has a
// score (the caller's Scorer). Pairs are ordered by score, best first, then
// by the request's Since (the longest waiting first), then by request id,
// then by offer id: a strict order. Each request has at most Node.Cap
// suggestions, and so has each offer. The suggestions are the unique
// stable matching of that order: no two posts that are not suggested to
// each other would both rather be (each has room, or holds a suggestion
// worse than theirs). It is what pairing greedily from the best pair down
// gives (see Greedy).
//
// Why offers have a bound too. In a surge everybody asks for the same
// medicine; with only a per-request bound, one bottle of fever reducer
// would be suggested to every parent asking for one, each offer write
// would touch hundreds of requests, and hundreds of neighbours would ask
// for the same bottle. With both bounds, the bottle goes to the few who
// need it most (critical, vulnerable, same building, longest waiting), and
// a write changes a handful of suggestions.
//
// Cost. A post write scores at most ScanLimits candidates per item key of
// the post: those of the other kind with room for a suggestion (in its own
// building first, then everywhere, most urgent and longest waiting, or
// soonest expiring, first) and those whose weakest suggestion it could
// beat (by how easily). Posts that lose a suggestion look again for one, at
// most MaxRefills per write; the rest wait in a queue that the next writes
// drain. While no list exceeds the scan limits, the result is exactly the
// stable matching; beyond them it is close to it, favouring the same
// building and the most urgent.
//
// A Graph is not safe for concurrent use: linli's single writer owns it.
package matching
