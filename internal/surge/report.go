package surge

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// groupNames are the groups as the report names them.
var groupNames = map[string]string{
	"infant": "infants (under 1)", "child": "children 1–5", "elderly_alone": "elderly living alone (with the app)",
	"elderly_without_app": "elderly living alone without the app", "pregnant": "pregnant women", "other": "everyone else",
}

// tableRow is one line of the figures table.
type tableRow struct {
	name string
	cell func(f Figures) string
}

func tableRows(fs []Figures) []tableRow {
	rows := []tableRow{
		{"needs posted", func(f Figures) string { return strconv.Itoa(f.Needs) }},
		{"met by neighbours", func(f Figures) string { return share(f.MetByNeighbours, f.Needs) }},
		{"time to help (request → received), median", func(f Figures) string { return fmtMinutes(f.Median) }},
		{"time to help, p90", func(f Figures) string { return fmtMinutes(f.P90) }},
		{"met by neighbours within 15 min / 1 h (of all needs)", func(f Figures) string {
			return fmt.Sprintf("%.0f%% / %.0f%%", 100*f.Within15, 100*f.Within60)
		}},
		{"helped by the hotline first", func(f Figures) string { return share(f.ByHotline, f.Needs) }},
		{"met some other way first (pharmacy, family)", func(f Figures) string { return share(f.Elsewhere, f.Needs) }},
		{"still waiting at the end", func(f Figures) string { return share(f.Waiting, f.Needs) }},
		{"emergencies told to call 120 at once (≤ 1 min)", func(f Figures) string { return share(f.Guided120, f.Critical) }},
		{"emergencies before staff or at the hotline within 30 min (of those neighbours did not meet by then)", func(f Figures) string {
			return share(f.CriticalReached, f.CriticalNeedingHotline)
		}},
		{"emergencies at the hotline within 30 min (of those)", func(f Figures) string {
			return share(f.CriticalToHotline, f.CriticalNeedingHotline)
		}},
		{"items wasted by double answers", func(f Figures) string { return strconv.Itoa(f.Wasted) }},
	}
	for gi, g := range figureGroups {
		rows = append(rows, tableRow{"median time to help: " + groupNames[g], func(f Figures) string {
			gf := f.Groups[gi]
			return fmt.Sprintf("%s (met %s)", fmtMinutes(gf.Median), share(gf.Met, gf.Needs))
		}})
	}
	rows = append(rows,
		tableRow{"volunteer courier trips", func(f Figures) string { return strconv.Itoa(f.Trips) }},
		tableRow{"hotline cases (closed within the run)", func(f Figures) string { return fmt.Sprintf("%d (%d)", f.Cases, f.CasesClosed) }},
	)
	return rows
}

// Table writes the figures of every policy as a Markdown table.
func (r *Result) Table(w io.Writer) {
	fmt.Fprintf(w, "| figure |")
	for _, f := range r.Figures {
		fmt.Fprintf(w, " %s |", f.Policy)
	}
	fmt.Fprintf(w, "\n| --- |")
	for range r.Figures {
		fmt.Fprintf(w, " --- |")
	}
	fmt.Fprintln(w)
	for _, row := range tableRows(r.Figures) {
		fmt.Fprintf(w, "| %s |", row.name)
		for _, f := range r.Figures {
			fmt.Fprintf(w, " %s |", row.cell(f))
		}
		fmt.Fprintln(w)
	}
}

// Summary is the population and the run in a few lines.
func (r *Result) Summary(w io.Writer) {
	peak := 0.0
	for _, s := range r.Sick {
		peak = math.Max(peak, s)
	}
	seeds := fmt.Sprintf("seed %d", r.Seed)
	if r.Seeds > 1 {
		seeds = fmt.Sprintf("seeds %d to %d pooled (counts are totals over the %d runs)", r.Seed, r.Seed+uint64(r.Seeds)-1, r.Seeds)
	}
	fmt.Fprintf(w, "%s, %s: %d households in %d buildings; %d fall ill (at most %.0f%% ill at once); %d needs, %d of them emergencies; %d households hold %d spare items they will give; %d volunteers.\n",
		r.Scenario.Name, seeds, r.Households, r.Scenario.Buildings, r.Ill, 100*peak, r.Needs, r.Emergencies, r.Holders, r.SparesHeld, r.Volunteers)
}

// Timing says where the linli run's time went.
func (r *Result) Timing(w io.Writer) {
	s := r.Stats
	per := func(d time.Duration, n int) string {
		if n == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f ms each", float64(d)/float64(n)/1e6)
	}
	fmt.Fprintf(w, "linli run %.1f s: %d pushes (%d mutations) %.1f s, %s; %d pulls (%d changes) %.1f s, %s; server passes %.1f s; staff calls %.1f s. Chat-group run %.2f s.\n",
		r.LinliElapsed.Seconds(), s.Pushes, s.Mutations, s.Push.Seconds(), per(s.Push, s.Pushes), s.Pulls, s.Changes, s.Pull.Seconds(), per(s.Pull, s.Pulls),
		s.Jobs.Seconds(), s.Staff.Seconds(), r.ChatElapsed.Seconds())
}

// WriteCSV writes every need of every policy, one row each; times are
// minutes since the start ("" when it did not happen).
func (r *Result) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"policy", "need", "household", "building", "floor", "kind", "item", "group", "urgency", "emergency", "relayed",
		"posted_min", "guided_120_min", "outcome", "helped_min", "neighbour_min", "minutes_to_help", "overdue_min", "queued_min", "hotline_case_min",
		"hotline_closed_min", "wasted_items", "courier"})
	m := func(d time.Duration) string {
		if d < 0 {
			return ""
		}
		return strconv.FormatFloat(d.Minutes(), 'f', 1, 64)
	}
	for _, rec := range r.Records {
		toHelp := ""
		if rec.Outcome == OutcomeNeighbours {
			toHelp = m(rec.Neighbour - rec.Posted)
		}
		_ = cw.Write([]string{rec.Policy, rec.Need, rec.Household, strconv.Itoa(rec.Building), strconv.Itoa(rec.Floor), rec.Kind, rec.Item,
			rec.Group, rec.Urgency, strconv.FormatBool(rec.Emergency), strconv.FormatBool(rec.Relayed),
			m(rec.Posted), m(rec.Guided120), rec.Outcome, m(rec.HelpedAt), m(rec.Neighbour), toHelp, m(rec.Overdue), m(rec.Reached),
			m(rec.CaseAt), m(rec.ClosedAt), strconv.Itoa(rec.Extra), strconv.FormatBool(rec.Courier)})
	}
	cw.Flush()
	return cw.Error()
}

// Files names what WriteFiles writes in its folder.
const (
	ReportFile     = "report.md"
	NeedsFile      = "needs.csv"
	TimeToHelpFile = "time-to-help.svg"
	OverTimeFile   = "needs-over-time.svg"
)

// WriteFiles writes the report (Markdown), its two charts (SVG) and the
// CSV of every need into dir, with sensitivity results if given.
func (r *Result) WriteFiles(dir string, sens []Sensitivity) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var csvb strings.Builder
	if err := r.WriteCSV(&csvb); err != nil {
		return err
	}
	files := map[string]string{
		NeedsFile:      csvb.String(),
		TimeToHelpFile: r.timeToHelpSVG(),
		OverTimeFile:   r.overTimeSVG(),
		ReportFile:     r.markdown(sens),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// markdown is the report.
func (r *Result) markdown(sens []Sensitivity) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Surge simulation: %s\n\n", r.Scenario.Name)
	r.Summary(&b)
	fmt.Fprintf(&b, "\nThe same households, needs and spares, played through linli (the real server, on a simulated clock) and through chat groups. Times to help count from the request to the moment the item is in the asker's hands; a need neighbours did not meet counts as not met, however it ended.\n\n")
	r.Table(&b)
	fmt.Fprintf(&b, "\n![Time to help](%s)\n\n![Needs met and waiting](%s)\n\n", TimeToHelpFile, OverTimeFile)
	if len(r.LinliSteps) > 0 {
		fmt.Fprintf(&b, "Where linli's time to help goes, over needs neighbours met (each step waits for someone to look at their phone, or walk):\n\n| step | median | p90 |\n| --- | --- | --- |\n")
		for _, st := range r.LinliSteps {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", st.Name, fmtMinutes(st.Median), fmtMinutes(st.P90))
		}
		b.WriteString("\n")
	}
	if len(r.Violations) == 0 {
		fmt.Fprintf(&b, "linli's promises held: no item promised to two handoffs, every emergency told to call 120, every overdue request in the staff queue or at the hotline, every hotline case exactly once.\n")
	} else {
		fmt.Fprintf(&b, "**linli's promises broken (%d):**\n\n", len(r.Violations))
		for _, v := range r.Violations {
			fmt.Fprintf(&b, "- %s\n", v)
		}
	}
	if r.NotEmergencyTold120 > 0 {
		fmt.Fprintf(&b, "\nlinli's triage also told %d needs that the scenario does not count as emergencies to call 120.\n", r.NotEmergencyTold120)
	}
	if rep := r.LinliReport; rep != nil {
		fmt.Fprintf(&b, "\nlinli's own report of the run (what staff read; the first seed's): %d requests, %d met by neighbours, %d overdue, %d forwarded to the hotline, %d closed there, resolution rate %.0f%%, satisfaction rate %.0f%%, median time to help %s.\n",
			rep.GetRequests(), rep.GetMetByNeighbours(), rep.GetOverdue(), rep.GetEscalated(), rep.GetClosed(),
			100*rep.GetResolutionRate(), 100*rep.GetSatisfactionRate(), rep.GetMedianTimeToHelp().AsDuration().Round(time.Second))
	}
	if len(sens) > 0 {
		fmt.Fprintf(&b, "\n## Sensitivity\n\n")
		fmt.Fprintf(&b, "The same seed with one assumption moved (each run draws the same households, illness and needs except where the assumption changes them):\n\n")
		writeSensitivity(&b, r.Figures, sens)
	}
	fmt.Fprintf(&b, "\n## The run\n\n")
	r.Timing(&b)
	if len(r.Stats.Rejected) > 0 {
		fmt.Fprintf(&b, "\nMutations linli refused (people acting on what they saw, a moment late): ")
		for i, k := range sortedKeys(r.Stats.Rejected) {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s %d", k, r.Stats.Rejected[k])
		}
		fmt.Fprintf(&b, ". Staff forwarded %d requests; linli refused %d forwards (a neighbour's handoff was under way).\n", r.Stats.Forwarded, r.Stats.ForwardRefused)
	}
	fmt.Fprintf(&b, "\nEvery need is a row of [%s](%s). The scenario:\n\n```json\n%s```\n", NeedsFile, NeedsFile, r.Scenario.JSON())
	return b.String()
}
