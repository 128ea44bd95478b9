package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// benchReport is everything `linli bench` measured, as printed with --json.
type benchReport struct {
	Target   string        `json:"target"`   // "in-process" or the --addr
	Protocol string        `json:"protocol"` // client protocol of push, push-batch, catchup
	Duration string        `json:"duration"` // per scenario
	Started  string        `json:"started"`
	Results  []benchResult `json:"results"`
}

// benchResult is one figure and its same-run baseline. Ratio is
// Figure / Baseline. A nil Figure, Baseline or Ratio could not be measured
// (printed as n/a).
type benchResult struct {
	Scenario     string   `json:"scenario"`
	Metric       string   `json:"metric"` // the figure's unit, e.g. "pushes/s"
	Figure       *float64 `json:"figure"`
	Baseline     *float64 `json:"baseline"`
	BaselineUnit string   `json:"baseline_unit"` // what the baseline measures, e.g. "echo req/s"
	Ratio        *float64 `json:"ratio"`
	// CPUPerOp and BaselineCPUPerOp are this process's CPU microseconds
	// per unit of the figure (client and, in process, server together),
	// in the scenario and in its baseline; BytesPerOp is what the server's
	// writer put into Pebble batches per mutation (in process only).
	CPUPerOp         *float64           `json:"cpu_us_per_op,omitempty"`
	BaselineCPUPerOp *float64           `json:"baseline_cpu_us_per_op,omitempty"`
	BytesPerOp       *float64           `json:"bytes_per_op,omitempty"`
	Notes            string             `json:"notes"`
	Extra            map[string]float64 `json:"extra,omitempty"`
}

func newResult(scenario, metric string, figure float64, baselineUnit string, baseline float64) benchResult {
	r := benchResult{Scenario: scenario, Metric: metric, BaselineUnit: baselineUnit, Extra: map[string]float64{}}
	r.Figure = &figure
	r.Baseline = &baseline
	r.setRatio()
	return r
}

func (r *benchResult) setRatio() {
	r.Ratio = nil
	if r.Figure != nil && r.Baseline != nil && *r.Baseline != 0 {
		ratio := *r.Figure / *r.Baseline
		r.Ratio = &ratio
	}
}

func (r benchResult) figureText() string   { return quantity(r.Figure, r.Metric) }
func (r benchResult) baselineText() string { return quantity(r.Baseline, r.BaselineUnit) }

func (r benchResult) ratioText() string {
	if r.Ratio == nil {
		return "n/a"
	}
	return strconv.FormatFloat(*r.Ratio, 'f', 2, 64) + "×"
}

func (r benchResult) cpuText() string {
	if r.CPUPerOp == nil {
		return "n/a"
	}
	return humanNumber(*r.CPUPerOp) + " (" + optional(r.BaselineCPUPerOp) + ")"
}

func optional(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return humanNumber(*v)
}

func (r benchResult) summary() string {
	return fmt.Sprintf("%s; baseline %s; ratio %s", r.figureText(), r.baselineText(), r.ratioText())
}

func quantity(v *float64, unit string) string {
	if v == nil {
		return "n/a"
	}
	return humanNumber(*v) + " " + unit
}

// humanNumber prints large numbers as integers with thousands separators
// and small ones with three significant digits.
func humanNumber(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return strconv.FormatFloat(v, 'f', -1, 64)
	case math.Abs(v) >= 100:
		return thousands(int64(math.Round(v)))
	case math.Abs(v) >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func (rep benchReport) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// writeTable prints the results as a Markdown table.
func (rep benchReport) writeTable(w io.Writer) error {
	rows := [][]string{{"scenario", "figure", "baseline", "ratio", "CPU µs/op (baseline)", "bytes/op", "notes"}}
	for _, r := range rep.Results {
		rows = append(rows, []string{r.Scenario, r.figureText(), r.baselineText(), r.ratioText(), r.cpuText(), optional(r.BytesPerOp), r.Notes})
	}
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, cell := range row {
			width[i] = max(width[i], utf8.RuneCountInString(cell))
		}
	}
	var b strings.Builder
	line := func(row []string) {
		b.WriteString("|")
		for i, cell := range row {
			b.WriteString(" " + cell + strings.Repeat(" ", width[i]-utf8.RuneCountInString(cell)) + " |")
		}
		b.WriteString("\n")
	}
	line(rows[0])
	sep := make([]string, len(width))
	for i, n := range width {
		sep[i] = strings.Repeat("-", n)
	}
	line(sep)
	for _, row := range rows[1:] {
		line(row)
	}
	fmt.Fprintf(&b, "\n%s server, %s clients, %s per scenario; ratio = figure ÷ baseline, both measured in this run; CPU is this process's (clients and, in process, the server) per unit of the figure; bytes/op is what the server's writer put into Pebble batches per mutation.\n",
		rep.Target, rep.Protocol, rep.Duration)
	_, err := io.WriteString(w, b.String())
	return err
}

// latencies are call durations, summarised by percentile.
type latencies []time.Duration

// percentile returns the p-th percentile (0 < p ≤ 100) by nearest rank, or
// 0 for no samples. It sorts l.
func (l latencies) percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	slices.Sort(l)
	rank := int(math.Ceil(p / 100 * float64(len(l))))
	return l[min(max(rank, 1), len(l))-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fmtMS prints a duration in milliseconds with three significant digits.
func fmtMS(d time.Duration) string {
	v := ms(d)
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
}
