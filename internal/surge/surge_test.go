package surge

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runSmall runs the small scenario (for hours, if not 0) with seed in a
// temporary folder.
func runSmall(t *testing.T, seed uint64, hours int) *Result {
	t.Helper()
	sc := Small()
	if hours > 0 {
		sc.Hours = hours
	}
	res, err := Run(t.Context(), Config{Scenario: sc, Seed: seed, Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

// TestSurgePromises runs the small scenario through linli and checks
// linli's promises (not the outcome figures): no item promised to two
// handoffs, every emergency told to call 120, every overdue request in
// the staff queue or at the hotline, every hotline case exactly once. It
// also checks that the scenario exercised them: emergencies, overdue
// requests, forwarded and closed cases, courier trips.
func TestSurgePromises(t *testing.T) {
	t.Parallel()
	res := runSmall(t, 4, 0)
	for _, v := range res.Violations {
		t.Errorf("promise broken: %s", v)
	}
	l := res.Figures[0]
	overdue := 0
	for _, rec := range res.Records {
		if rec.Policy == PolicyLinli && rec.Overdue >= 0 {
			overdue++
		}
	}
	if l.Critical == 0 || overdue == 0 || l.Cases == 0 || l.CasesClosed == 0 || l.MetByNeighbours == 0 || l.Trips == 0 {
		t.Errorf("the small scenario did not exercise the promises: %d emergencies, %d overdue, %d cases (%d closed), %d met by neighbours, %d trips",
			l.Critical, overdue, l.Cases, l.CasesClosed, l.MetByNeighbours, l.Trips)
	}
	var b bytes.Buffer
	res.Summary(&b)
	res.Table(&b)
	res.Timing(&b)
	t.Log("\n" + b.String())

	dir := t.TempDir()
	if err := res.WriteFiles(dir, nil); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ReportFile, NeedsFile, TimeToHelpFile, OverTimeFile} {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err != nil || len(b) == 0 {
			t.Errorf("%s: %v, %d bytes", f, err, len(b))
		}
	}
}

// TestSurgeDeterministic runs the first six hours of the small scenario
// twice on one seed: the figures and every need's record are the same.
func TestSurgeDeterministic(t *testing.T) {
	t.Parallel()
	a, b := runSmall(t, 3, 6), runSmall(t, 3, 6)
	if f := a.Figures[0]; f.MetByNeighbours == 0 || f.Trips == 0 {
		t.Errorf("the run exercised too little: %d needs met by neighbours, %d courier trips", f.MetByNeighbours, f.Trips)
	}
	var ta, tb, ca, cb bytes.Buffer
	a.Table(&ta)
	b.Table(&tb)
	if ta.String() != tb.String() {
		t.Errorf("figures differ between two runs of seed 3:\n%s\n%s", ta.String(), tb.String())
	}
	if err := a.WriteCSV(&ca); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteCSV(&cb); err != nil {
		t.Fatal(err)
	}
	if ca.String() != cb.String() {
		la, lb := strings.Split(ca.String(), "\n"), strings.Split(cb.String(), "\n")
		for i := range min(len(la), len(lb)) {
			if la[i] != lb[i] {
				t.Errorf("needs differ between two runs of seed 3, first at line %d:\n%s\n%s", i+1, la[i], lb[i])
				break
			}
		}
	}
}
