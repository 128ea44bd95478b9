package triage

import (
	"strings"
	"testing"
)

// TestAutomatonFindsEveryWord: the automaton finds a word exactly when
// strings.Contains does, overlapping and nested words included.
func TestAutomatonFindsEveryWord(t *testing.T) {
	words := []string{"发烧", "烧", "fever", "eve", "呼吸困难", "吸", "no", "not"}
	a := newAutomaton(words)
	for _, text := range []string{"", "孩子发烧39度", "no fever, not breathing", "呼吸困难;抽搐", "ev", "eveeve", "\xff\xfe发"} {
		got := a.find(text)
		for i, w := range words {
			if got[i] != strings.Contains(text, w) {
				t.Errorf("%q in %q: automaton says %v", w, text, got[i])
			}
		}
	}
}
