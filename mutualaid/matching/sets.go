package matching

import (
	"cmp"

	"github.com/google/btree"
)

// keySets are the posts of one item key, in the orders a scan for
// candidates wants them, per kind (index kind-1):
//
//	room[k]         posts with room: requests by Bonus (highest first), then
//	                Since; offers by Rank, then Since; then id
//	roomIn[k][b]    the same, in building b
//	full[k]         full posts by how easily their weakest suggestion is
//	                beaten: requests by its score − Bonus, offers by its
//	                score; then id
type keySets struct {
	room   [2]*btree.BTreeG[item]
	roomIn [2]map[string]*btree.BTreeG[item]
	full   [2]*btree.BTreeG[item]
}

// item is a post in one of the sets, with the order it was filed under
// (so that it can be found again after the post changed).
type item struct {
	a, b int64
	id   string
	n    *node
}

func lessItem(x, y item) bool {
	return cmp.Or(cmp.Compare(x.a, y.a), cmp.Compare(x.b, y.b), cmp.Compare(x.id, y.id)) < 0
}

func newSet() *btree.BTreeG[item] { return btree.NewG(32, lessItem) }

// placement is where a node is filed, to unfile it.
type placement struct {
	filed bool
	room  bool
	it    item
	keys  []string
	bldg  string
}

func (g *Graph) keySet(key string) *keySets {
	ks := g.keys[key]
	if ks == nil {
		ks = &keySets{}
		for k := range ks.room {
			ks.room[k], ks.full[k] = newSet(), newSet()
			ks.roomIn[k] = map[string]*btree.BTreeG[item]{}
		}
		g.keys[key] = ks
	}
	return ks
}

// index files n under each of its keys, as it stands now.
func (g *Graph) index(n *node) {
	if n.Cap <= 0 {
		return // takes no suggestion: no one need find it
	}
	k := int(n.Kind) - 1
	p := placement{filed: true, room: !n.full(), keys: n.Keys, bldg: n.Building}
	switch {
	case p.room && n.Kind == Request:
		p.it = item{a: -int64(n.Bonus), b: n.Since, id: n.ID, n: n}
	case p.room:
		p.it = item{a: n.Rank, b: n.Since, id: n.ID, n: n}
	case n.Kind == Request:
		p.it = item{a: int64(n.worst().score - n.Bonus), id: n.ID, n: n}
	default:
		p.it = item{a: int64(n.worst().score), id: n.ID, n: n}
	}
	for _, key := range p.keys {
		ks := g.keySet(key)
		if !p.room {
			ks.full[k].ReplaceOrInsert(p.it)
			continue
		}
		ks.room[k].ReplaceOrInsert(p.it)
		if p.bldg != "" {
			in := ks.roomIn[k][p.bldg]
			if in == nil {
				in = newSet()
				ks.roomIn[k][p.bldg] = in
			}
			in.ReplaceOrInsert(p.it)
		}
	}
	n.ix = p
}

// unindex takes n out of the sets it was filed in.
func (g *Graph) unindex(n *node) {
	p := n.ix
	if !p.filed {
		return
	}
	k := int(n.Kind) - 1
	for _, key := range p.keys {
		ks := g.keys[key]
		if !p.room {
			ks.full[k].Delete(p.it)
		} else {
			ks.room[k].Delete(p.it)
			if in := ks.roomIn[k][p.bldg]; in != nil {
				in.Delete(p.it)
				if in.Len() == 0 {
					delete(ks.roomIn[k], p.bldg)
				}
			}
		}
		if ks.room[k].Len() == 0 && ks.full[k].Len() == 0 && ks.room[1-k].Len() == 0 && ks.full[1-k].Len() == 0 {
			delete(g.keys, key)
		}
	}
	n.ix = placement{}
}

// candidates returns the posts of the other kind n may pair with: per key,
// those with room in n's building, those with room anywhere, and those
// full whose weakest suggestion a pair with n could beat, each up to its
// limit, skipping n's author's posts and n's current counterparts.
func (g *Graph) candidates(n *node) []*node {
	other := 1
	if n.Kind == Offer {
		other = 0
	}
	seen := map[*node]bool{n: true}
	for _, e := range n.edges {
		seen[e.other(n)] = true
	}
	var out []*node
	take := func(limit int, ok func(item) bool) func(item) bool {
		count := 0
		return func(it item) bool {
			if count >= limit || !ok(it) {
				return false
			}
			count++
			if !seen[it.n] && it.n.Author != n.Author {
				seen[it.n] = true
				out = append(out, it.n)
			}
			return true
		}
	}
	always := func(item) bool { return true }
	// A full post takes a pair only if it beats its weakest: for a full
	// offer, its score must exceed the weakest's, and a pair of request n
	// scores at most n.Bonus + MaxPair; for a full request, the pair
	// scores at most its Bonus + MaxPair, so the weakest's score − Bonus
	// (the item's a) must be at most MaxPair.
	bound := int64(g.cfg.MaxPair)
	if n.Kind == Request {
		bound += int64(n.Bonus)
	}
	beatable := func(it item) bool { return it.a <= bound }
	for _, key := range n.Keys {
		ks := g.keys[key]
		if ks == nil {
			continue
		}
		if in := ks.roomIn[other][n.Building]; in != nil && n.Building != "" {
			in.Ascend(take(g.cfg.Limits.Building, always))
		}
		ks.room[other].Ascend(take(g.cfg.Limits.Room, always))
		ks.full[other].Ascend(take(g.cfg.Limits.Full, beatable))
	}
	return out
}
