package triage

import "sync"

// Every pattern needs some literal words to be present before its regular
// expression can match (triageNeeds). Almost no post names an emergency, so
// Assess first finds which of all the patterns' literals a text holds, in
// one pass over the text with an Aho–Corasick automaton, and runs a
// pattern's expression only when its literals are there. Asking
// strings.Contains for each literal of each pattern cost tens of
// microseconds a post.

// literals numbers every literal a pattern needs.
var literals = struct {
	sync.Mutex
	ids   map[string]int
	words []string
	once  sync.Once
	ac    *automaton
}{ids: map[string]int{}}

// literalID returns the number of literal w, registering it. It is called
// while the package's patterns are built, before any Assess.
func literalID(w string) int {
	literals.Lock()
	defer literals.Unlock()
	if id, ok := literals.ids[w]; ok {
		return id
	}
	id := len(literals.words)
	literals.ids[w] = id
	literals.words = append(literals.words, w)
	return id
}

// present returns which literals text holds, by number.
func present(text string) []bool {
	literals.once.Do(func() { literals.ac = newAutomaton(literals.words) })
	return literals.ac.find(text)
}

// automaton is an Aho–Corasick automaton over bytes, with its transitions
// completed (a DFA): finding every word in a text is one step a byte.
type automaton struct {
	next  [][256]int32 // state × byte → state
	out   [][]int32    // state → words ending there (suffix links followed)
	words int
}

func newAutomaton(words []string) *automaton {
	a := &automaton{next: [][256]int32{{}}, out: [][]int32{nil}, words: len(words)}
	for i := range a.next[0] {
		a.next[0][i] = -1
	}
	for id, w := range words {
		s := int32(0)
		for j := 0; j < len(w); j++ {
			if a.next[s][w[j]] < 0 {
				var row [256]int32
				for k := range row {
					row[k] = -1
				}
				a.next = append(a.next, row)
				a.out = append(a.out, nil)
				a.next[s][w[j]] = int32(len(a.next) - 1)
			}
			s = a.next[s][w[j]]
		}
		a.out[s] = append(a.out[s], int32(id))
	}
	// Breadth first: each state's failure state is complete before it.
	fail := make([]int32, len(a.next))
	var queue []int32
	for c := range 256 {
		if t := a.next[0][c]; t >= 0 {
			queue = append(queue, t)
		} else {
			a.next[0][c] = 0
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		a.out[s] = append(a.out[s], a.out[fail[s]]...)
		for c := range 256 {
			t := a.next[s][c]
			if t < 0 {
				a.next[s][c] = a.next[fail[s]][c]
				continue
			}
			fail[t] = a.next[fail[s]][c]
			queue = append(queue, t)
		}
	}
	return a
}

// find returns which words text holds.
func (a *automaton) find(text string) []bool {
	seen := make([]bool, a.words)
	s := int32(0)
	for i := 0; i < len(text); i++ {
		s = a.next[s][text[i]]
		for _, id := range a.out[s] {
			seen[id] = true
		}
	}
	return seen
}
