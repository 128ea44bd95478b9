package surge

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Variant changes one assumption of a scenario.
type Variant struct {
	Name  string
	Apply func(*Scenario)
}

// Variants are the assumptions the sensitivity run moves, each down and
// up: how often people look at their phones, how many households hold
// spares, and how many fall ill.
func Variants() []Variant {
	looks := func(f float64) func(*Scenario) {
		return func(s *Scenario) {
			s.People.LookMinutes *= f
			s.People.WaitingLookMinutes *= f
			s.People.NightLookMinutes *= f
			s.Volunteers.LookMinutes *= f
		}
	}
	spares := func(f float64) func(*Scenario) {
		return func(s *Scenario) {
			s.Spares = append([]SpareSpec(nil), s.Spares...)
			for i := range s.Spares {
				s.Spares[i].Share = min(1, s.Spares[i].Share*f)
			}
		}
	}
	attack := func(f float64) func(*Scenario) {
		return func(s *Scenario) { s.Epidemic.AttackRate = min(1-s.Epidemic.AlreadySick, s.Epidemic.AttackRate*f) }
	}
	return []Variant{
		{"people look at their phones twice as often", looks(0.5)},
		{"people look at their phones half as often", looks(2)},
		{"half as many households hold spares", spares(0.5)},
		{"twice as many households hold spares", spares(2)},
		{"half as many households fall ill", attack(0.5)},
		{"1.5 times as many households fall ill", attack(1.5)},
	}
}

// Sensitivity is one variant's figures.
type Sensitivity struct {
	Variant string
	Figures []Figures
	// Violations of linli's promises in this run.
	Violations int
}

// RunSensitivity runs each variant of cfg's scenario on cfg's seed, each
// with its own store under cfg.Dir.
//
// Errors: as Run's.
func RunSensitivity(ctx context.Context, cfg Config, variants []Variant) ([]Sensitivity, error) {
	var out []Sensitivity
	for i, v := range variants {
		c := cfg
		c.Progress = nil
		v.Apply(&c.Scenario)
		c.Dir = filepath.Join(cfg.Dir, fmt.Sprintf("variant-%d", i))
		if err := os.MkdirAll(c.Dir, 0o755); err != nil {
			return nil, err
		}
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "surge: sensitivity %d/%d: %s\n", i+1, len(variants), v.Name)
		}
		res, err := Run(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("variant %q: %w", v.Name, err)
		}
		out = append(out, Sensitivity{Variant: v.Name, Figures: res.Figures, Violations: len(res.Violations)})
		if err := os.RemoveAll(c.Dir); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// writeSensitivity writes the main figures of the default (base) and of
// each variant as a Markdown table.
func writeSensitivity(w io.Writer, base []Figures, sens []Sensitivity) {
	fmt.Fprintf(w, "| assumption | needs | linli: met by neighbours | linli: median | linli: p90 | chat: met by neighbours | chat: median | chat: p90 | chat: items wasted |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, s := range append([]Sensitivity{{Variant: "as in the scenario", Figures: base}}, sens...) {
		l, c := s.Figures[0], s.Figures[1]
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s | %d |\n", s.Variant, l.Needs, share(l.MetByNeighbours, l.Needs), fmtMinutes(l.Median), fmtMinutes(l.P90),
			share(c.MetByNeighbours, c.Needs), fmtMinutes(c.Median), fmtMinutes(c.P90), c.Wasted)
	}
}

// WriteSensitivity writes the sensitivity table: r's figures, then each
// variant's.
func (r *Result) WriteSensitivity(w io.Writer, sens []Sensitivity) {
	writeSensitivity(w, r.Figures, sens)
}
