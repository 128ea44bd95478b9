package mutualaid

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// ReportRow is one figure of a report: a machine-readable key, an English
// label and the value as people read it.
type ReportRow struct {
	Key, Label, Value string
}

// ReportRows are a report's figures in order, as `linli admin report` and
// the staff console show and export them.
func ReportRows(r *linliv1.Report) []ReportRow {
	n := func(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
	pct := func(v float64) string { return strconv.FormatFloat(100*v, 'f', 1, 64) + "%" }
	median := "-"
	if d := r.GetMedianTimeToHelp(); d != nil {
		median = RoundDuration(d.AsDuration()).String()
	}
	return []ReportRow{
		{"requests", "requests", n(r.GetRequests())},
		{"met_by_neighbours", "met by neighbours", n(r.GetMetByNeighbours())},
		{"overdue", "overdue (staff queue)", n(r.GetOverdue())},
		{"escalated", "forwarded to the hotline", n(r.GetEscalated())},
		{"closed", "resolved by the hotline (case closed)", n(r.GetClosed())},
		{"rated", "rated by residents", n(r.GetRated())},
		{"solved", "  solved", n(r.GetSolved())},
		{"satisfied", "  satisfied", n(r.GetSatisfied())},
		{"basically_satisfied", "  basically satisfied", n(r.GetBasicallySatisfied())},
		{"unsatisfied", "  unsatisfied", n(r.GetUnsatisfied())},
		{"resolution_rate", "resolution rate", pct(r.GetResolutionRate())},
		{"satisfaction_rate", "satisfaction rate", pct(r.GetSatisfactionRate())},
		{"median_time_to_help", "median time to help", median},
	}
}

// RoundDuration rounds to the second below an hour (85 s stays "1m25s",
// where rounding to the minute would say "1m0s") and to the minute above.
func RoundDuration(d time.Duration) time.Duration {
	if d < time.Hour {
		return d.Round(time.Second)
	}
	return d.Round(time.Minute)
}

// WriteReportCSV writes r as CSV rows "section,key,value": the period,
// the summary (ReportRows' keys) and the unmet needs by category and by
// building. days, if any, add one "day" row per day and figure, keyed
// "YYYY-MM-DD/<figure key>".
func WriteReportCSV(w io.Writer, r *linliv1.Report, days []DayReport) error {
	cw := csv.NewWriter(w)
	rows := [][]string{{"section", "key", "value"},
		{"period", "community", r.GetCommunityId()},
		{"period", "from", r.GetFrom().AsTime().Format(time.RFC3339)},
		{"period", "to", r.GetTo().AsTime().Format(time.RFC3339)},
	}
	for _, row := range ReportRows(r) {
		rows = append(rows, []string{"summary", row.Key, row.Value})
	}
	for _, nc := range r.GetUnmetByCategory() {
		rows = append(rows, []string{"unmet_by_category", nc.GetKey(), strconv.FormatUint(uint64(nc.GetCount()), 10)})
	}
	for _, nc := range r.GetUnmetByBuilding() {
		rows = append(rows, []string{"unmet_by_building", nc.GetKey(), strconv.FormatUint(uint64(nc.GetCount()), 10)})
	}
	for _, d := range days {
		day := d.Day.Format(time.DateOnly)
		for _, row := range ReportRows(d.Report) {
			rows = append(rows, []string{"day", day + "/" + row.Key, row.Value})
		}
	}
	if err := cw.WriteAll(rows); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}
