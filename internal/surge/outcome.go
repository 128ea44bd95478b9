package surge

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// The policies.
const (
	PolicyLinli = "linli"
	PolicyChat  = "chat group"
)

// How a need ended.
const (
	OutcomeNeighbours = "neighbours" // a neighbour's item reached them
	OutcomeHotline    = "hotline"    // the hotline closed their case first
	OutcomeElsewhere  = "elsewhere"  // met some other way (a pharmacy, family)
	OutcomeWaiting    = "waiting"    // still waiting when the run ended
)

// never marks a time that did not come.
const never = time.Duration(-1)

// NeedRecord is what became of one need under one policy: a row of the
// CSV. Times are offsets from the start; never (-1) if it did not happen.
type NeedRecord struct {
	Policy    string
	Need      string // request post id
	Household string
	Building  int // 1-based
	Floor     int
	Kind      string
	Item      string
	Group     string // infant, child, elderly_alone, elderly_without_app, pregnant, other
	Urgency   string // as linli stored it (after triage); "" in the chat group
	Emergency bool   // the truth the scenario drew
	Relayed   bool   // posted by a volunteer or staff for someone without the app

	Posted    time.Duration
	Guided120 time.Duration // told to call 120
	Outcome   string
	HelpedAt  time.Duration // by a neighbour or the hotline
	Neighbour time.Duration // a neighbour's item reached them
	Overdue   time.Duration // linli: overdue (the last time, if it went overdue again after a handoff fell through)
	Reached   time.Duration // linli: first seen in the staff queue or at the hotline
	CaseAt    time.Duration // the hotline case was created
	ClosedAt  time.Duration // the hotline closed it
	Ended     time.Duration // when it stopped waiting: helped, or met elsewhere
	Extra     int           // items received beyond the need: wasted by double answers
	Courier   bool          // a volunteer carried it
}

// newRecord starts the record of need n under policy.
func newRecord(policy string, n *need) *NeedRecord {
	return &NeedRecord{
		Policy: policy, Need: n.id, Household: n.hh.id, Building: n.hh.building + 1, Floor: n.hh.floor,
		Kind: n.kind, Item: n.item, Group: group(n), Emergency: n.emergency, Relayed: n.relayed,
		Posted: n.post, Guided120: never, Outcome: OutcomeWaiting, HelpedAt: never, Neighbour: never,
		Overdue: never, Reached: never, CaseAt: never, ClosedAt: never, Ended: never,
	}
}

// group is whom a need is for, for "who gets left behind".
func group(n *need) string {
	h := n.hh
	switch {
	case n.forWhom.GetAgeMonths() > 0 && n.forWhom.GetAgeMonths() < 12:
		return "infant"
	case n.forWhom.GetAgeMonths() > 0:
		return "child"
	case h.elderlyAlone && h.withoutApp:
		return "elderly_without_app"
	case h.elderlyAlone:
		return "elderly_alone"
	case h.pregnant:
		return "pregnant"
	}
	return "other"
}

// settle decides each record's outcome at the end of a run: the first of
// a neighbour's item, the hotline closing the case, and the need met
// elsewhere (selfHelp), if it came before end.
func settle(r *NeedRecord, selfHelp, end time.Duration) {
	type ev struct {
		at      time.Duration
		outcome string
	}
	var evs []ev
	if r.Neighbour >= 0 {
		evs = append(evs, ev{r.Neighbour, OutcomeNeighbours})
	}
	if r.ClosedAt >= 0 && r.ClosedAt < end {
		evs = append(evs, ev{r.ClosedAt, OutcomeHotline})
	}
	if selfHelp >= 0 && selfHelp < end {
		evs = append(evs, ev{selfHelp, OutcomeElsewhere})
	}
	if len(evs) == 0 {
		return
	}
	first := slices.MinFunc(evs, func(a, b ev) int { return cmp.Compare(a.at, b.at) })
	r.Outcome, r.Ended = first.outcome, first.at
	if first.outcome != OutcomeElsewhere {
		r.HelpedAt = first.at
	}
}

// Figures sum up one policy's run.
type Figures struct {
	Policy string
	Needs  int
	// Outcomes.
	MetByNeighbours, ByHotline, Elsewhere, Waiting int
	// Minutes from request to a neighbour's item, over needs neighbours
	// met (NaN if none).
	Median, P90 float64
	// Shares of all needs met by a neighbour within 15 and 60 minutes.
	Within15, Within60 float64
	// Emergencies (critical needs): how many, told to call 120 within a
	// minute, and (of those neighbours did not meet in time) before staff
	// or at the hotline, and at the hotline, within their deadline
	// (linli's critical deadline, plus one pass of the server's jobs).
	Critical, Guided120, CriticalNeedingHotline, CriticalReached, CriticalToHotline int
	// Items received beyond the need: wasted by double answers.
	Wasted int
	// Per group (infant, child, elderly_alone, …): needs, met by
	// neighbours, median minutes.
	Groups []GroupFigures
	// Volunteer trips carried; hotline cases created and closed in the run.
	Trips, Cases, CasesClosed int
}

// GroupFigures are the figures of one group of needs.
type GroupFigures struct {
	Group  string
	Needs  int
	Met    int
	Median float64 // minutes, NaN if none met
}

// figureGroups are the groups reported, in order.
var figureGroups = []string{"infant", "child", "elderly_alone", "elderly_without_app", "pregnant", "other"}

// summarize computes a policy's figures from its records. criticalDeadline
// is how long an emergency may wait for the hotline (linli's default
// critical deadline plus one pass of the jobs).
func summarize(policy string, recs []*NeedRecord, trips int, criticalDeadline, end time.Duration) Figures {
	f := Figures{Policy: policy, Needs: len(recs), Trips: trips}
	var mins []float64
	byGroup := map[string][]float64{}
	groupN := map[string]int{}
	for _, r := range recs {
		switch r.Outcome {
		case OutcomeNeighbours:
			f.MetByNeighbours++
			m := minutes(r.Neighbour - r.Posted)
			mins = append(mins, m)
			byGroup[r.Group] = append(byGroup[r.Group], m)
			if m <= 15 {
				f.Within15++
			}
			if m <= 60 {
				f.Within60++
			}
		case OutcomeHotline:
			f.ByHotline++
		case OutcomeElsewhere:
			f.Elsewhere++
		default:
			f.Waiting++
		}
		groupN[r.Group]++
		f.Wasted += r.Extra
		if r.CaseAt >= 0 {
			f.Cases++
			if r.ClosedAt >= 0 && r.ClosedAt < end {
				f.CasesClosed++
			}
		}
		if r.Emergency {
			f.Critical++
			if r.Guided120 >= 0 && r.Guided120-r.Posted <= time.Minute {
				f.Guided120++
			}
			deadline := r.Posted + criticalDeadline
			if r.Neighbour < 0 || r.Neighbour > deadline {
				f.CriticalNeedingHotline++
				if r.CaseAt >= 0 && r.CaseAt <= deadline {
					f.CriticalToHotline++
				}
				if (r.Reached >= 0 && r.Reached <= deadline) || (r.CaseAt >= 0 && r.CaseAt <= deadline) {
					f.CriticalReached++
				}
			}
		}
	}
	f.Median, f.P90 = quantile(mins, 0.5), quantile(mins, 0.9)
	if f.Needs > 0 {
		f.Within15 /= float64(f.Needs)
		f.Within60 /= float64(f.Needs)
	}
	for _, g := range figureGroups {
		f.Groups = append(f.Groups, GroupFigures{Group: g, Needs: groupN[g], Met: len(byGroup[g]), Median: quantile(byGroup[g], 0.5)})
	}
	return f
}

func minutes(d time.Duration) float64 { return d.Minutes() }

// quantile is the q-quantile of xs (nearest rank), NaN if xs is empty.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// share formats n of total as a percentage with the counts.
func share(n, total int) string {
	if total == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f%% (%d/%d)", 100*float64(n)/float64(total), n, total)
}

// fmtMinutes formats minutes for the table ("–" for NaN).
func fmtMinutes(m float64) string {
	switch {
	case math.IsNaN(m):
		return "–"
	case m < 60:
		return fmt.Sprintf("%.0f min", m)
	default:
		return fmt.Sprintf("%.1f h", m/60)
	}
}
