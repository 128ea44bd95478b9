package matching_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/linli/linli/mutualaid/matching"
)

// post is the test's Value: what it asks for or offers, and how many.
type post struct {
	code string
	qty  int32
}

// scorer is a small stand-in for linli's: same code 50, same key 30;
// same building 25; enough quantity 15, else 5; plus the request's bonus.
type scorer struct{}

const maxPair = 50 + 25 + 15

func (scorer) Score(r, o *matching.Node) (int32, bool) {
	rp, op := r.Value.(post), o.Value.(post)
	if op.qty <= 0 {
		return 0, false
	}
	s := r.Bonus + 30
	if rp.code == op.code {
		s += 20
	}
	if r.Building != "" && r.Building == o.Building {
		s += 25
	}
	if op.qty >= rp.qty {
		s += 15
	} else {
		s += 5
	}
	return s, true
}

// world is a graph and the posts it was told of.
type world struct {
	t     *testing.T
	g     *matching.Graph
	posts map[string]matching.Node
	// shown is what a caller applying every TakeChanges would hold.
	shown map[matching.Pair]int32
}

func newWorld(t *testing.T, cfg matching.Config) *world {
	return &world{t: t, g: matching.New(cfg), posts: map[string]matching.Node{}, shown: map[matching.Pair]int32{}}
}

func (w *world) put(n matching.Node) {
	w.posts[n.ID] = n
	w.g.Put(n)
	w.apply()
}

func (w *world) remove(id string) {
	delete(w.posts, id)
	w.g.Remove(id)
	w.apply()
}

func (w *world) apply() {
	for _, c := range w.g.TakeChanges() {
		if c.Present {
			w.shown[c.Pair] = c.Score
		} else {
			if _, ok := w.shown[c.Pair]; !ok {
				w.t.Errorf("change removes %v, which was never shown", c.Pair)
			}
			delete(w.shown, c.Pair)
		}
	}
}

// wantGreedy checks that the graph, and what its changes built, are the
// stable matching from scratch.
func (w *world) wantGreedy() {
	w.t.Helper()
	var nodes []matching.Node
	for _, n := range w.posts {
		nodes = append(nodes, n)
	}
	want := map[matching.Pair]int32{}
	for _, e := range matching.Greedy(nodes, scorer{}) {
		want[e.Pair] = e.Score
	}
	got := map[matching.Pair]int32{}
	for id := range w.posts {
		for _, e := range w.g.Suggestions(id) {
			got[e.Pair] = e.Score
		}
	}
	if !mapsEqual(got, want) {
		w.t.Fatalf("graph holds %d suggestions, greedy gives %d:\n got %v\nwant %v", len(got), len(want), got, want)
	}
	if !mapsEqual(w.shown, want) {
		w.t.Fatalf("changes built %v, want %v", w.shown, want)
	}
}

func mapsEqual(a, b map[matching.Pair]int32) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// randomNode is a post of the few authors, buildings and codes that make
// a crowded community.
func randomNode(rng *rand.Rand, id string, since int64) matching.Node {
	codes := []string{"meilin", "tylenol", "antigen"}
	keys := map[string]string{"meilin": "fever", "tylenol": "fever", "antigen": "antigen"}
	code := codes[rng.IntN(len(codes))]
	n := matching.Node{
		ID: id, Kind: matching.Request, Author: fmt.Sprintf("u%d", rng.IntN(8)),
		Building: []string{"", "b1", "b2", "b3"}[rng.IntN(4)], Keys: []string{keys[code]},
		Since: since, Cap: 1 + rng.IntN(3), Value: post{code: code, qty: rng.Int32N(3)},
	}
	if rng.IntN(2) == 0 {
		n.Kind, n.Rank = matching.Offer, rng.Int64N(5)
	} else {
		n.Bonus = []int32{0, 0, 15, 20, 30, 50}[rng.IntN(6)]
		n.Value = post{code: code, qty: 1 + rng.Int32N(3)}
	}
	return n
}

// TestGraphIsGreedy: after every put, change and removal, the graph (and
// the changes it reported) are the stable matching from scratch, as long
// as no scan limit binds.
func TestGraphIsGreedy(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 2340))
			cfg := matching.DefaultConfig(scorer{}, maxPair)
			cfg.MaxRefills = 1 << 20
			w := newWorld(t, cfg)
			var ids []string
			for step := range 300 {
				switch op := rng.IntN(10); {
				case op < 5 || len(ids) < 5:
					id := fmt.Sprintf("p%03d", step)
					w.put(randomNode(rng, id, int64(step)))
					ids = append(ids, id)
				case op < 8:
					id := ids[rng.IntN(len(ids))]
					n := randomNode(rng, id, w.posts[id].Since)
					n.Kind = w.posts[id].Kind
					w.put(n)
				default:
					i := rng.IntN(len(ids))
					w.remove(ids[i])
					ids = slices.Delete(ids, i, i+1)
				}
				w.wantGreedy()
			}
		})
	}
}

// TestGraphSettlesWithFewRefills: with at most one refill per operation,
// posts left waiting are served by the operations that follow, and the
// graph reaches the stable matching once the queue is drained.
func TestGraphSettlesWithFewRefills(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	cfg := matching.DefaultConfig(scorer{}, maxPair)
	cfg.MaxRefills = 1
	w := newWorld(t, cfg)
	var ids []string
	for step := range 400 {
		if rng.IntN(4) == 0 && len(ids) > 5 {
			i := rng.IntN(len(ids))
			w.remove(ids[i])
			ids = slices.Delete(ids, i, i+1)
			continue
		}
		id := fmt.Sprintf("p%03d", step)
		w.put(randomNode(rng, id, int64(step)))
		ids = append(ids, id)
	}
	w.g.Settle()
	w.apply()
	w.wantGreedy()
}

// TestGraphLoad: a graph rebuilt from stored posts and suggestions holds
// them as they were, reports no change for them, and refuses stored
// suggestions that no longer fit or exceed a post's room.
func TestGraphLoad(t *testing.T) {
	cfg := matching.DefaultConfig(scorer{}, maxPair)
	g := matching.New(cfg)
	req := func(id string, c int) matching.Node {
		return matching.Node{ID: id, Kind: matching.Request, Author: "r-" + id, Keys: []string{"fever"}, Cap: c, Value: post{code: "meilin", qty: 1}}
	}
	off := func(id string, c int, qty int32) matching.Node {
		return matching.Node{ID: id, Kind: matching.Offer, Author: "o-" + id, Keys: []string{"fever"}, Cap: c, Value: post{code: "meilin", qty: qty}}
	}
	g.Load(req("r1", 2))
	g.Load(req("r2", 2))
	g.Load(off("o1", 1, 1))
	g.Load(off("o2", 1, 0)) // used up since
	if !g.LoadSuggestion(matching.Pair{Request: "r1", Offer: "o1"}) {
		t.Fatal("a stored suggestion that fits was refused")
	}
	if g.LoadSuggestion(matching.Pair{Request: "r2", Offer: "o2"}) {
		t.Error("a stored suggestion of a used-up offer was restored")
	}
	if g.LoadSuggestion(matching.Pair{Request: "r2", Offer: "o1"}) {
		t.Error("o1 holds one suggestion; a second of equal score was restored")
	}
	if c := g.TakeChanges(); len(c) != 0 {
		t.Errorf("loading reported changes %v", c)
	}
	g.Settle()
	if c := g.TakeChanges(); len(c) != 0 {
		t.Errorf("settling a stable graph changed %v", c)
	}
}

// TestGraphSurgeCost: however many requests share an item, one post
// write scores a bounded number of pairs and changes a handful of
// suggestions.
func TestGraphSurgeCost(t *testing.T) {
	cfg := matching.DefaultConfig(scorer{}, maxPair)
	g := matching.New(cfg)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 7000 {
		n := randomNode(rng, fmt.Sprintf("r%05d", i), int64(i))
		n.Kind, n.Cap, n.Keys = matching.Request, 5, []string{"fever"}
		n.Value = post{code: "meilin", qty: 1}
		g.Put(n)
	}
	g.TakeChanges()
	worst := 0
	for i := range 3000 {
		before := g.Stats().Scored
		n := randomNode(rng, fmt.Sprintf("o%05d", i), int64(7000+i))
		n.Kind, n.Cap, n.Keys = matching.Offer, 5, []string{"fever"}
		n.Value = post{code: "meilin", qty: 1}
		g.Put(n)
		worst = max(worst, g.Stats().Scored-before)
		if c := g.TakeChanges(); len(c) > 2*n.Cap+cfg.MaxRefills*5 {
			t.Fatalf("offer %d changed %d suggestions", i, len(c))
		}
	}
	limit := (cfg.Limits.Building + cfg.Limits.Room + cfg.Limits.Full) * (1 + cfg.MaxRefills)
	if worst > limit {
		t.Errorf("one offer write scored %d pairs, want at most %d", worst, limit)
	}
	t.Logf("at most %d pairs scored by one of 3000 offer writes among 7000 requests", worst)
}
