package hotlinesim

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/linli/linli/mutualaid/hotline"
)

// simFilter is a GET requests.json search: the cases it selects.
type simFilter struct {
	jurisdiction string
	codes        []string // empty: any
	statuses     []string // empty: any
	start, end   time.Time
}

// parseSimFilter reads a search's parameters as GeoReport v2 defines them,
// now being the simulator's clock.
//
// Errors: a message for a 400 answer: bad dates or status.
func parseSimFilter(q url.Values, now time.Time) (simFilter, error) {
	f := simFilter{jurisdiction: q.Get("jurisdiction_id"), codes: splitList(q.Get("service_code")),
		statuses: splitList(q.Get("status"))}
	for _, st := range f.statuses {
		if st != hotline.StatusOpen && st != hotline.StatusClosed {
			return simFilter{}, fmt.Errorf("status %q: want open or closed", st)
		}
	}
	var err error
	if f.start, err = parseDate(q, "start_date"); err != nil {
		return simFilter{}, err
	}
	if f.end, err = parseDate(q, "end_date"); err != nil {
		return simFilter{}, err
	}
	switch {
	case f.start.IsZero() && f.end.IsZero():
		f.start, f.end = now.Add(-hotline.MaxSearchSpan), now
	case f.end.IsZero():
		f.end = f.start.Add(hotline.MaxSearchSpan)
	case f.start.IsZero():
		f.start = f.end.Add(-hotline.MaxSearchSpan)
	}
	if f.end.Before(f.start) {
		return simFilter{}, fmt.Errorf("end_date %s is before start_date %s", q.Get("end_date"), q.Get("start_date"))
	}
	if f.end.Sub(f.start) > hotline.MaxSearchSpan {
		return simFilter{}, errors.New("start_date and end_date may not span more than 90 days")
	}
	return f, nil
}

func parseDate(q url.Values, key string) (time.Time, error) {
	v := q.Get(key)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: want RFC 3339, e.g. 2022-12-18T23:40:00+08:00", key, v)
	}
	return t, nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(v string) []string {
	var out []string
	for it := range strings.SplitSeq(v, ",") {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}

// match reports whether c is selected by everything but its status.
func (f simFilter) match(c *SimCase) bool {
	if f.jurisdiction != "" && c.Jurisdiction != "" && c.Jurisdiction != f.jurisdiction {
		return false
	}
	if len(f.codes) > 0 && !slices.Contains(f.codes, c.ServiceCode) {
		return false
	}
	return !c.Requested.Before(f.start) && !c.Requested.After(f.end)
}

func (f simFilter) matchStatus(status string) bool {
	return len(f.statuses) == 0 || slices.Contains(f.statuses, status)
}
