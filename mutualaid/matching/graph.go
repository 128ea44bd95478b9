package matching

import (
	"cmp"
	"slices"
)

// Kind says which side of a pair a post is on.
type Kind uint8

// The kinds of posts.
const (
	Request Kind = iota + 1
	Offer
)

// Node is a post as matching sees it. The graph copies it; Value is the
// caller's, for its Scorer.
type Node struct {
	ID       string
	Kind     Kind
	Author   string   // posts of one author never meet
	Building string   // "" if none
	Keys     []string // what it asks for or has free; only posts sharing a key can meet
	// Since orders requests of equal score: smaller (waiting longer) first.
	Since int64
	// Bonus is what a request adds to the score of every pair it is in.
	Bonus int32
	// Rank orders offers with room when a request looks for them: smaller
	// first (e.g. the day its soonest medicine expires).
	Rank int64
	// Cap is the most suggestions the post holds.
	Cap   int
	Value any
}

// Scorer scores a pair: ok is false if the request and the offer cannot
// meet. It must be a pure function of the two nodes (and of what the
// caller decides stays fixed, such as the day).
type Scorer interface {
	Score(request, offer *Node) (score int32, ok bool)
}

// Config configures a Graph.
type Config struct {
	Scorer Scorer
	// MaxPair bounds Score(r, o) − r.Bonus for every pair: what lets a scan
	// stop at posts whose weakest suggestion cannot be beaten.
	MaxPair int32
	Limits  ScanLimits
	// MaxRefills bounds the posts that look again for suggestions after
	// one operation; the others wait for the next operations.
	MaxRefills int
}

// ScanLimits bound the candidates one post looks at, per item key.
type ScanLimits struct {
	Building int // with room, in the post's building
	Room     int // with room, anywhere
	Full     int // full, whose weakest suggestion the post may beat
}

// DefaultConfig returns limits fit for a surge: a post write scores at
// most 160 candidates per item key, and 16 posts look again.
func DefaultConfig(s Scorer, maxPair int32) Config {
	return Config{Scorer: s, MaxPair: maxPair, Limits: ScanLimits{Building: 32, Room: 64, Full: 64}, MaxRefills: 16}
}

// Pair names a suggestion.
type Pair struct{ Request, Offer string }

// Edge is a suggestion and its score.
type Edge struct {
	Pair
	Score int32
}

// Change is a suggestion that appeared, changed score or went.
type Change struct {
	Pair
	Score   int32 // the new score, when Present
	Present bool  // false: the suggestion went
}

// Stats count a graph's work, for tests and benchmarks.
type Stats struct {
	Scored   int // pairs scored
	Proposed int // posts that looked for suggestions
	Waiting  int // posts queued to look again
}

// Graph is one community's suggestions.
type Graph struct {
	cfg     Config
	nodes   map[string]*node
	keys    map[string]*keySets
	edges   map[Pair]*edge
	before  map[Pair]beforeState // suggestions touched since TakeChanges, as they were
	queue   []string             // posts that lost a suggestion, oldest first
	queued  map[string]bool
	scored  int
	propose int
}

type beforeState struct {
	present bool
	score   int32
}

// New returns an empty graph.
func New(cfg Config) *Graph {
	return &Graph{
		cfg: cfg, nodes: map[string]*node{}, keys: map[string]*keySets{}, edges: map[Pair]*edge{},
		before: map[Pair]beforeState{}, queued: map[string]bool{},
	}
}

type node struct {
	Node
	edges []*edge // best first
	ix    placement
}

type edge struct {
	r, o  *node
	score int32
}

func (e *edge) pair() Pair { return Pair{Request: e.r.ID, Offer: e.o.ID} }

func (e *edge) other(n *node) *node {
	if e.r == n {
		return e.o
	}
	return e.r
}

// better reports whether a comes before b in the order of pairs.
func better(a, b *edge) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	if c := cmp.Compare(a.r.Since, b.r.Since); c != 0 {
		return c < 0
	}
	if c := cmp.Compare(a.r.ID, b.r.ID); c != 0 {
		return c < 0
	}
	return a.o.ID < b.o.ID
}

func compareEdges(a, b *edge) int {
	switch {
	case a == b:
		return 0
	case better(a, b):
		return -1
	}
	return 1
}

func (n *node) full() bool { return len(n.edges) >= n.Cap }

// worst is the weakest suggestion of a full node, else nil.
func (n *node) worst() *edge {
	if !n.full() || len(n.edges) == 0 {
		return nil
	}
	return n.edges[len(n.edges)-1]
}

// accepts reports whether n would take e.
func (n *node) accepts(e *edge) bool {
	w := n.worst()
	return n.Cap > 0 && (w == nil || better(e, w))
}

// Put adds the post or replaces what the graph knows of it, then finds it
// its suggestions. Its former suggestions go first; their counterparts look
// again.
func (g *Graph) Put(nd Node) {
	nd.Keys = slices.Clone(nd.Keys)
	n := g.nodes[nd.ID]
	if n != nil {
		g.detach(n)
		g.unindex(n)
		n.Node = nd
	} else {
		n = &node{Node: nd}
		g.nodes[nd.ID] = n
	}
	g.index(n)
	g.proposeFrom(n)
	g.drain()
}

// Remove takes the post and its suggestions out; their counterparts look
// again.
func (g *Graph) Remove(id string) {
	n := g.nodes[id]
	if n == nil {
		g.drain()
		return
	}
	g.detach(n)
	g.unindex(n)
	delete(g.nodes, id)
	g.drain()
}

// detach removes n's suggestions and queues their counterparts.
func (g *Graph) detach(n *node) {
	for len(n.edges) > 0 {
		e := n.edges[0]
		g.unlink(e)
		g.enqueue(e.other(n))
	}
}

// Has reports whether the graph holds post id.
func (g *Graph) Has(id string) bool { return g.nodes[id] != nil }

// Node returns what the graph knows of post id.
func (g *Graph) Node(id string) (Node, bool) {
	n := g.nodes[id]
	if n == nil {
		return Node{}, false
	}
	return n.Node, true
}

// Suggestions returns post id's suggestions, best first.
func (g *Graph) Suggestions(id string) []Edge {
	n := g.nodes[id]
	if n == nil {
		return nil
	}
	out := make([]Edge, len(n.edges))
	for i, e := range n.edges {
		out[i] = Edge{Pair: e.pair(), Score: e.score}
	}
	return out
}

// Edge returns the suggestion of a pair, if there is one.
func (g *Graph) Edge(p Pair) (Edge, bool) {
	e := g.edges[p]
	if e == nil {
		return Edge{}, false
	}
	return Edge{Pair: p, Score: e.score}, true
}

// Len returns the number of posts and of suggestions.
func (g *Graph) Len() (posts, suggestions int) { return len(g.nodes), len(g.edges) }

// TakeChanges returns the suggestions that appeared, went or changed score
// since the last call, in pair order, and forgets them.
func (g *Graph) TakeChanges() []Change {
	var out []Change
	for p, b := range g.before {
		e := g.edges[p]
		switch {
		case e == nil && b.present:
			out = append(out, Change{Pair: p})
		case e != nil && (!b.present || b.score != e.score):
			out = append(out, Change{Pair: p, Score: e.score, Present: true})
		}
	}
	clear(g.before)
	slices.SortFunc(out, func(a, b Change) int {
		return cmp.Or(cmp.Compare(a.Request, b.Request), cmp.Compare(a.Offer, b.Offer))
	})
	return out
}

// Stats returns the work done so far.
func (g *Graph) Stats() Stats {
	return Stats{Scored: g.scored, Proposed: g.propose, Waiting: len(g.queue)}
}

func (g *Graph) touch(e *edge) {
	p := e.pair()
	if _, ok := g.before[p]; ok {
		return
	}
	if cur := g.edges[p]; cur != nil {
		g.before[p] = beforeState{present: true, score: cur.score}
	} else {
		g.before[p] = beforeState{}
	}
}

func (g *Graph) link(e *edge) {
	g.touch(e)
	g.edges[e.pair()] = e
	for _, n := range []*node{e.r, e.o} {
		g.unindex(n)
		i, _ := slices.BinarySearchFunc(n.edges, e, compareEdges)
		n.edges = slices.Insert(n.edges, i, e)
		g.index(n)
	}
}

func (g *Graph) unlink(e *edge) {
	g.touch(e)
	delete(g.edges, e.pair())
	for _, n := range []*node{e.r, e.o} {
		g.unindex(n)
		n.edges = slices.DeleteFunc(n.edges, func(x *edge) bool { return x == e })
		g.index(n)
	}
}

func (g *Graph) enqueue(n *node) {
	if !g.queued[n.ID] {
		g.queued[n.ID] = true
		g.queue = append(g.queue, n.ID)
	}
}

// drain lets up to MaxRefills queued posts look again.
func (g *Graph) drain() {
	for done := 0; done < g.cfg.MaxRefills && len(g.queue) > 0; done++ {
		id := g.queue[0]
		g.queue = g.queue[1:]
		delete(g.queued, id)
		if n := g.nodes[id]; n != nil {
			g.proposeFrom(n)
		}
	}
}

// Settle lets every queued post look again, however many: for a graph
// just loaded.
func (g *Graph) Settle() {
	for len(g.queue) > 0 {
		max := g.cfg.MaxRefills
		g.cfg.MaxRefills = len(g.queue)
		g.drain()
		g.cfg.MaxRefills = max
	}
}

// proposeFrom gives n its best pairs whose counterparts take them: into
// its room, or in place of its weakest suggestion. A counterpart that was
// full drops its weakest; a post that loses a suggestion this way looks
// again later. A post that lost a suggestion may since have been given a
// worse one than it could have, so a full post looks too.
func (g *Graph) proposeFrom(n *node) {
	if n.Cap <= 0 || len(n.Keys) == 0 {
		return
	}
	g.propose++
	var es []*edge
	for _, c := range g.candidates(n) {
		e := &edge{r: n, o: c}
		if n.Kind == Offer {
			e.r, e.o = c, n
		}
		g.scored++
		if s, ok := g.cfg.Scorer.Score(&e.r.Node, &e.o.Node); ok {
			e.score = s
			es = append(es, e)
		}
	}
	slices.SortFunc(es, compareEdges)
	for _, e := range es {
		if !n.accepts(e) {
			return // the rest are worse still
		}
		c := e.other(n)
		if !c.accepts(e) {
			continue
		}
		for _, side := range []*node{c, n} {
			if w := side.worst(); w != nil {
				g.unlink(w)
				g.enqueue(w.other(side))
			}
		}
		g.link(e)
	}
}

// Load adds a post and the suggestions it had, as stored, without looking
// for new ones: for rebuilding a graph. Counterparts must be loaded first
// or later with LoadSuggestion. Posts with room are queued to look again.
func (g *Graph) Load(nd Node) {
	nd.Keys = slices.Clone(nd.Keys)
	if old := g.nodes[nd.ID]; old != nil {
		g.detach(old)
		g.unindex(old)
	}
	n := &node{Node: nd}
	g.nodes[nd.ID] = n
	g.index(n)
	g.enqueue(n)
}

// LoadSuggestion restores a stored suggestion between two loaded posts. It
// reports false, and restores nothing, if either post is unknown, the pair
// no longer fits, or a side is full with better ones: the caller then
// deletes what it stored.
func (g *Graph) LoadSuggestion(p Pair) bool {
	r, o := g.nodes[p.Request], g.nodes[p.Offer]
	if r == nil || o == nil || r.Kind != Request || o.Kind != Offer || g.edges[p] != nil || r.Author == o.Author {
		return false
	}
	s, ok := g.cfg.Scorer.Score(&r.Node, &o.Node)
	if !ok {
		return false
	}
	e := &edge{r: r, o: o, score: s}
	if !r.accepts(e) || !o.accepts(e) {
		return false
	}
	for _, n := range []*node{r, o} {
		if w := n.worst(); w != nil {
			g.unlink(w)
			g.enqueue(w.other(n))
		}
	}
	g.link(e)
	// Stored as it was: not a change.
	delete(g.before, p)
	return true
}
