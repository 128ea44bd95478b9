// Package surge measures whether linli helps: it plays one community's
// people through a surge of illness (the scenario: who lives where, who
// falls ill and when, what they lack, who holds spares, when they look at
// their phones) twice on the same seed: once through linli, against the
// real domain through the real API on a simulated clock, and once through
// the chat groups people used in December 2022. It reports needs met by
// neighbours, time to help, emergencies guided to 120, the hotline, and
// who was left behind.
//
// The simulator plays the people: they post, look at what their app (or
// group) shows them, accept, carry and pick up. It never decides what
// linli decides (matching and suggestions, reservations, triage and the
// 120 notice, deadlines, the staff queue, the hotline outbox): those come
// from the server. The chat group is a model of people and lives here.
//
// `linli sim surge` runs it; docs/surge.md explains the scenario and the
// report.
package surge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"time"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// Config is one run.
type Config struct {
	Scenario Scenario
	Seed     uint64
	// Seeds runs seeds Seed, Seed+1, … (Seeds of them; 0 means 1) and
	// pools their needs: small groups (infants, emergencies) are few in
	// one run.
	Seeds int
	// Dir is a work folder for linli's store. Required.
	Dir string
	// Progress receives progress lines; nil for none.
	Progress io.Writer
}

// Stats is where the linli run's time went and what it did.
type Stats struct {
	Pushes, Mutations, Pulls, Changes int
	// Real time spent in pushes, pulls (calls and folding), the server's
	// background passes, and staff's calls.
	Push, Pull, Jobs, Staff time.Duration
	Proposed, Forwarded     int
	ForwardRefused          int            // a handoff under way: linli refused to forward
	Rejected                map[string]int // rejected mutations by reason
}

// Result is what a run measured.
type Result struct {
	Scenario Scenario
	Seed     uint64
	Seeds    int
	// Figures of each policy: linli first, then the chat group.
	Figures []Figures
	// Records of every need under each policy, linli's first.
	Records []*NeedRecord
	// Hourly series of each policy, and the share of households ill.
	Series map[string][]Point
	Sick   []float64
	// The population, summed over the seeds.
	Households, Ill, Needs, Emergencies, Volunteers, Holders, SparesHeld int
	// Violations of linli's promises (empty: all held).
	Violations []string
	// NotEmergencyTold120 counts needs the scenario does not call
	// emergencies that linli's triage told to call 120.
	NotEmergencyTold120 int
	// LinliReport is linli's own report of the run, as staff read it.
	LinliReport *linliv1.Report
	// LinliSteps is where linli's time to help goes: the median minutes of
	// each step, over needs neighbours met.
	LinliSteps []Step
	Stats      Stats
	// Real time of each policy's run.
	LinliElapsed, ChatElapsed time.Duration
}

// Step is one step of a delivery and its median minutes.
type Step struct {
	Name   string
	Median float64
	P90    float64
}

// Point is one hour of a policy's run.
type Point struct {
	Hour    int
	Met     int // needs met by neighbours so far
	Waiting int // needs posted and not yet helped or met elsewhere
	Posted  int
}

// Run runs the scenario through linli and through the chat group on the
// same seed (or on cfg.Seeds seeds from cfg.Seed, pooling every need) and
// returns what it measured. The linli runs' stores live in cfg.Dir (left
// for the caller to remove).
//
// Errors: an invalid scenario, the server failing, ctx ending.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	sc := cfg.Scenario
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	if cfg.Dir == "" {
		return nil, errors.New("surge: work folder not set")
	}
	seeds := max(cfg.Seeds, 1)
	end := time.Duration(sc.Hours) * time.Hour
	res := &Result{Scenario: sc, Seed: cfg.Seed, Seeds: seeds, Series: map[string][]Point{}, Sick: make([]float64, sc.Hours+1),
		Stats: Stats{Rejected: map[string]int{}}}
	var linliRecs, chatRecs []*NeedRecord
	var steps [][]float64
	trips := 0
	for i := range seeds {
		seed := cfg.Seed + uint64(i)
		pop, err := newPopulation(&sc, seed)
		if err != nil {
			return nil, err
		}
		res.describe(pop)
		c := cfg
		c.Seed, c.Dir = seed, filepath.Join(cfg.Dir, fmt.Sprintf("seed-%d", seed))
		t0 := time.Now()
		lr, err := runLinli(ctx, c, pop, end)
		res.LinliElapsed += time.Since(t0)
		if err != nil {
			return nil, err
		}
		t0 = time.Now()
		cr, err := runChat(ctx, c, pop, end)
		res.ChatElapsed += time.Since(t0)
		if err != nil {
			return nil, err
		}
		if seeds > 1 { // tell the seeds' needs apart
			for _, rec := range append(slices.Clone(lr.recs), cr.recs...) {
				rec.Need = fmt.Sprintf("s%d-%s", seed, rec.Need)
				rec.Household = fmt.Sprintf("s%d-%s", seed, rec.Household)
			}
		}
		linliRecs, chatRecs = append(linliRecs, lr.recs...), append(chatRecs, cr.recs...)
		trips += lr.trips
		for h := 0; h <= sc.Hours; h++ {
			res.Sick[h] += pop.sickShare(time.Duration(h)*time.Hour) / float64(seeds)
		}
		for _, v := range lr.violations {
			res.Violations = append(res.Violations, fmt.Sprintf("seed %d: %s", seed, v))
		}
		res.NotEmergencyTold120 += lr.fp120
		if res.LinliReport == nil {
			res.LinliReport = lr.linliReport
		}
		res.Stats.add(lr.stats)
		for j, xs := range lr.stepMinutes {
			if j >= len(steps) {
				steps = append(steps, nil)
			}
			steps[j] = append(steps[j], xs...)
		}
	}
	jobs := time.Duration(sc.Linli.JobsEveryMinutes * float64(time.Minute))
	critical := 30*time.Minute + jobs // linli's default critical deadline, plus one pass
	res.Figures = []Figures{
		summarize(PolicyLinli, linliRecs, trips, critical, end),
		summarize(PolicyChat, chatRecs, 0, critical, end),
	}
	res.Records = append(linliRecs, chatRecs...)
	res.Series[PolicyLinli] = series(linliRecs, sc.Hours)
	res.Series[PolicyChat] = series(chatRecs, sc.Hours)
	for i, name := range stepNames {
		var xs []float64
		if i < len(steps) {
			xs = steps[i]
		}
		res.LinliSteps = append(res.LinliSteps, Step{Name: name, Median: quantile(xs, 0.5), P90: quantile(xs, 0.9)})
	}
	return res, nil
}

// add adds o's counts and times to s.
func (s *Stats) add(o Stats) {
	s.Pushes += o.Pushes
	s.Mutations += o.Mutations
	s.Pulls += o.Pulls
	s.Changes += o.Changes
	s.Push += o.Push
	s.Pull += o.Pull
	s.Jobs += o.Jobs
	s.Staff += o.Staff
	s.Proposed += o.Proposed
	s.Forwarded += o.Forwarded
	s.ForwardRefused += o.ForwardRefused
	for k, v := range o.Rejected {
		s.Rejected[k] += v
	}
}

// describe counts the population (adding to the counts of earlier seeds).
func (r *Result) describe(pop *population) {
	r.Households += len(pop.households)
	for _, h := range pop.households {
		if h.ill {
			r.Ill++
		}
		if h.volunteer {
			r.Volunteers++
		}
		if h.willing && len(h.spares) > 0 {
			r.Holders++
			for _, s := range h.spares {
				r.SparesHeld += s.qty
			}
		}
	}
	r.Needs += len(pop.needs)
	for _, n := range pop.needs {
		if n.emergency {
			r.Emergencies++
		}
	}
}

// linliOutcome is what the linli run leaves.
type linliOutcome struct {
	recs        []*NeedRecord
	stepMinutes [][]float64
	trips       int
	violations  []string
	fp120       int
	linliReport *linliv1.Report
	stats       Stats
}

func runLinli(ctx context.Context, cfg Config, pop *population, end time.Duration) (out *linliOutcome, err error) {
	clock := &Clock{start: pop.start}
	r := &linliRun{
		pop: pop, sc: pop.sc, seed: cfg.Seed, ctx: ctx, clock: clock, loop: &loop{clock: clock},
		byPost: map[string]*need{}, dueSeen: map[string]bool{}, stats: Stats{Rejected: map[string]int{}},
	}
	defer func() {
		if cerr := r.close(); cerr != nil && err == nil {
			err = fmt.Errorf("surge: close linli: %w", cerr)
		}
	}()
	if err := r.start(cfg.Dir); err != nil {
		return nil, fmt.Errorf("surge: start linli: %w", err)
	}
	r.schedule()
	progress(r.loop, cfg.Progress, PolicyLinli, end, func() string {
		met := 0
		for _, rec := range r.recs {
			if rec.Neighbour >= 0 {
				met++
			}
		}
		return fmt.Sprintf("%d pushes, %d pulls, %d met by neighbours", r.stats.Pushes, r.stats.Pulls, met)
	})
	if err := r.loop.run(end, func() bool { return ctx.Err() != nil }); err != nil {
		return nil, fmt.Errorf("surge: linli: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := r.finish(end); err != nil {
		return nil, fmt.Errorf("surge: linli: %w", err)
	}
	rep, err := r.report(end)
	if err != nil {
		return nil, fmt.Errorf("surge: linli: %w", err)
	}
	return &linliOutcome{recs: r.recs, stepMinutes: r.stepMinutes, trips: r.trips, violations: r.promises(end), fp120: r.fp120, linliReport: rep, stats: r.stats}, nil
}

func runChat(ctx context.Context, cfg Config, pop *population, end time.Duration) (*chatRun, error) {
	c := newChatRun(pop, &Clock{start: pop.start}, cfg.Seed)
	c.schedule()
	progress(c.loop, cfg.Progress, PolicyChat, end, func() string {
		met := 0
		for _, rec := range c.recs {
			if rec.Neighbour >= 0 {
				met++
			}
		}
		return fmt.Sprintf("%d met by neighbours", met)
	})
	if err := c.loop.run(end, func() bool { return ctx.Err() != nil }); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.finish(end)
	return c, nil
}

// progress prints a line every six simulated hours.
func progress(l *loop, w io.Writer, policy string, end time.Duration, status func() string) {
	if w == nil {
		return
	}
	started := time.Now()
	var tick func()
	tick = func() {
		at := l.clock.since()
		fmt.Fprintf(w, "surge: %-10s hour %2d/%d · %s · %.1f s\n", policy, int(at.Hours()), int(end.Hours()), status(), time.Since(started).Seconds())
		if next := at + 6*time.Hour; next < end {
			l.at(next, tick)
		}
	}
	l.at(6*time.Hour, tick)
}

// series counts, for every hour, the needs met by neighbours so far and
// the needs waiting.
func series(recs []*NeedRecord, hours int) []Point {
	out := make([]Point, hours+1)
	for h := range out {
		t := time.Duration(h) * time.Hour
		p := Point{Hour: h}
		for _, r := range recs {
			if r.Posted > t {
				continue
			}
			p.Posted++
			if r.Outcome == OutcomeNeighbours && r.Neighbour <= t {
				p.Met++
			}
			if r.Ended < 0 || r.Ended > t {
				p.Waiting++
			}
		}
		out[h] = p
	}
	return out
}

// Policies lists the policies of a result's series in report order.
func (r *Result) Policies() []string {
	return slices.SortedFunc(maps.Keys(r.Series), func(a, b string) int {
		if a == PolicyLinli {
			return -1
		}
		if b == PolicyLinli {
			return 1
		}
		return 0
	})
}
