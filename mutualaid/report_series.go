package mutualaid

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// MaxReportDays bounds the days of a ReportSeries.
const MaxReportDays = 366

// TimeToHelpBounds are the upper bounds of the time-to-help histogram's
// buckets; a last bucket holds the longer times.
var TimeToHelpBounds = []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour, 24 * time.Hour, 72 * time.Hour}

// ReportSeries is a report cut into days, for charts.
type ReportSeries struct {
	// Total is Report's report of the whole period.
	Total *linliv1.Report
	// Days are the reports of the requests posted on each day of the
	// period (in the period's time zone), in order; the first and last may
	// be partial days.
	Days []DayReport
	// TimeToHelp counts the requests that got help by how long they waited
	// for it: TimeToHelp[i] those up to TimeToHelpBounds[i] (and above the
	// bound before), the last entry those above every bound.
	TimeToHelp []int
}

// DayReport is the report of one day's requests.
type DayReport struct {
	Day    time.Time // midnight, in the period's time zone
	Report *linliv1.Report
}

// ReportSeries is Report (the same figures, the same rules, one scan)
// with the period's requests also counted per day, days starting at
// midnight in from's time zone, and the time-to-help histogram. The
// period may span at most MaxReportDays days. Staff of c (empty: the
// actor's community) or admins.
//
// Errors: those of Report, and Invalid period_too_long.
func (s *Service) ReportSeries(ctx context.Context, actor Member, c string, from, to time.Time) (*ReportSeries, error) {
	c = cmp.Or(c, actor.CommunityID)
	if err := authorizeStaff(actor, c); err != nil {
		return nil, err
	}
	if !to.After(from) {
		return nil, Invalidf("to", "period_invalid", "The end of the period must come after its start.")
	}
	loc := from.Location()
	first := midnight(from)
	var days []time.Time
	for d := first; d.Before(to); d = midnight(d.AddDate(0, 0, 1)) {
		if len(days) == MaxReportDays {
			return nil, Invalidf("from", "period_too_long", "A report with days spans at most %d days.", MaxReportDays)
		}
		days = append(days, d)
	}
	if _, ok, err := loadCommunity(s.store.Get, c); err != nil || !ok {
		return nil, cmp.Or(err, error(Errorf(NotFound, "community_not_found", "This community does not exist.")))
	}
	total, perDay := newTally(), make([]*tally, len(days))
	for i := range perDay {
		perDay[i] = newTally()
	}
	err := s.store.Scan(ctx, PostEntityID(c, ""), func(id string, v []byte) error {
		var e linliv1.Entity
		if err := proto.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("decode %s: %w", id, err)
		}
		p := e.GetPost()
		at := p.GetCreatedAt().AsTime()
		if p.GetKind() != linliv1.PostKind_POST_KIND_REQUEST || !inPeriod(at, from, to) {
			return nil
		}
		total.add(p)
		day := midnight(at.In(loc))
		for i := len(days) - 1; i >= 0; i-- { // usually the last days
			if !day.Before(days[i]) {
				perDay[i].add(p)
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mutualaid: report of %s: %w", c, err)
	}
	out := &ReportSeries{Total: total.report(), TimeToHelp: make([]int, len(TimeToHelpBounds)+1)}
	out.Total.CommunityId, out.Total.From, out.Total.To = c, timestamppb.New(from), timestamppb.New(to)
	for i, d := range days {
		r := perDay[i].report()
		end := midnight(d.AddDate(0, 0, 1))
		r.CommunityId, r.From, r.To = c, timestamppb.New(maxTime(d, from)), timestamppb.New(minTime(end, to))
		out.Days = append(out.Days, DayReport{Day: d, Report: r})
	}
	for _, d := range total.toHelp {
		i := 0
		for i < len(TimeToHelpBounds) && d > TimeToHelpBounds[i] {
			i++
		}
		out.TimeToHelp[i]++
	}
	return out, nil
}

// midnight is the start of t's day in t's time zone.
func midnight(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
