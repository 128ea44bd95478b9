package matching

import "slices"

// Greedy returns the stable matching of nodes from scratch: every pair
// that shares a key, has two authors and fits, best first in the order of
// pairs, taken while both sides have room. It is what a Graph holds while
// no scan limit binds; tests compare the two.
func Greedy(nodes []Node, s Scorer) []Edge {
	var es []*edge
	byID := map[string]*node{}
	for _, nd := range nodes {
		byID[nd.ID] = &node{Node: nd}
	}
	for _, r := range byID {
		if r.Kind != Request {
			continue
		}
		for _, o := range byID {
			if o.Kind != Offer || o.Author == r.Author || !shareKey(r.Keys, o.Keys) {
				continue
			}
			if score, ok := s.Score(&r.Node, &o.Node); ok {
				es = append(es, &edge{r: r, o: o, score: score})
			}
		}
	}
	slices.SortFunc(es, compareEdges)
	var out []Edge
	for _, e := range es {
		if e.r.full() || e.o.full() {
			continue
		}
		e.r.edges = append(e.r.edges, e)
		e.o.edges = append(e.o.edges, e)
		out = append(out, Edge{Pair: e.pair(), Score: e.score})
	}
	return out
}

func shareKey(a, b []string) bool {
	for _, k := range a {
		if slices.Contains(b, k) {
			return true
		}
	}
	return false
}
