package hotline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrSearchTruncated means a search for a case kept returning
// MaxSearchResults cases, however narrow its dates, so a case it did not
// find may still exist.
var ErrSearchTruncated = errors.New("hotline: search results truncated")

// Reference is the line the Outbox appends to the description of every case
// it forwards, "\n[linli:<postKey>]", so that a case whose creation answer
// was lost can be found again by searching (GeoReport v2 has no attribute
// search). In postKey, '%', '[', ']', spaces, control characters and
// invalid UTF-8 are percent-encoded: distinct post keys give references
// neither of which contains the other.
func Reference(postKey string) string { return "\n" + refMarker(postKey) }

// refMarker is Reference without its line break: what a search matches, so
// that a hotline rewriting line breaks does not hide the case.
func refMarker(postKey string) string { return "[linli:" + refEscape(postKey) + "]" }

func refEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		if r == '%' || r == '[' || r == ']' || r == utf8.RuneError || unicode.IsSpace(r) || unicode.IsControl(r) {
			for _, c := range []byte(s[i : i+w]) {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		} else {
			b.WriteString(s[i : i+w])
		}
		i += w
	}
	return b.String()
}

// withReference returns desc followed by Reference(postKey), cutting the
// end of desc's own text (marked "…") so that the whole is at most
// MaxDescription characters. A desc that already holds the reference is
// returned unchanged.
//
// REQUIRES: desc is at most MaxDescription characters.
func withReference(desc, postKey string) string {
	if strings.Contains(desc, refMarker(postKey)) {
		return desc
	}
	ref := Reference(postKey)
	room := MaxDescription - utf8.RuneCountInString(ref)
	if utf8.RuneCountInString(desc) > room {
		desc = cutRunes(desc, room-1) + "…"
	}
	return desc + ref
}

// cutRunes returns the first n characters of s.
func cutRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// clockSlack widens a search's dates both ways: the hotline's clock and
// ours may disagree.
const clockSlack = time.Hour

// maxRefSearches bounds the searches one lookup by reference may make.
const maxRefSearches = 64

// FindByReference returns an OutboxOptions.Find for a GeoReport v2 hotline.
// It searches c for cases of the entry's service code requested between
// e.Enqueued − 1h and e.Updated + 1h, and returns the oldest one whose
// description contains the entry's Reference (without its line break).
// Every POST of an entry happens between its enqueueing and its last save
// (the Outbox saves an entry as posting just before each POST), both read
// on the Outbox's clock, so the window holds them all; the hour each way
// allows for the hotline's clock disagreeing with ours. A date range longer than MaxSearchSpan, or a search
// returning MaxSearchResults cases with no match (it may have left the
// case out), is split in halves, the earlier searched first; if results
// were truncated and held a match, the oldest match among them is returned.
//
// REQUIRES: the hotline returns descriptions in GET requests.json
// (GeoReport v2 makes them optional).
//
// Errors: ErrSearchTruncated (the case could not be ruled out within
// maxRefSearches searches), and Client.Search's errors.
func FindByReference(c *Client) func(ctx context.Context, e OutboxEntry) (string, bool, error) {
	return func(ctx context.Context, e OutboxEntry) (string, bool, error) {
		last := e.Updated
		if last.Before(e.Enqueued) {
			last = e.Enqueued
		}
		q := SearchQuery{ServiceCode: e.Request.ServiceCode, Start: e.Enqueued.Add(-clockSlack), End: last.Add(clockSlack)}
		s := &refSearch{c: c, marker: refMarker(e.PostKey), budget: maxRefSearches}
		cs, found, err := s.find(ctx, q)
		if err != nil {
			return "", false, fmt.Errorf("hotline: find %s by reference: %w", e.PostKey, err)
		}
		return cs.ServiceRequestID, found, nil
	}
}

// refSearch looks for the oldest case whose description holds marker.
type refSearch struct {
	c      *Client
	marker string
	budget int // searches left
}

func (s *refSearch) find(ctx context.Context, q SearchQuery) (CaseStatus, bool, error) {
	span := q.End.Sub(q.Start)
	if span <= MaxSearchSpan {
		if s.budget == 0 {
			return CaseStatus{}, false, fmt.Errorf("%w: no answer within %d searches", ErrSearchTruncated, maxRefSearches)
		}
		s.budget--
		cs, err := s.c.Search(ctx, q)
		if err != nil {
			return CaseStatus{}, false, err
		}
		if c, ok := oldestWith(cs, s.marker); ok || len(cs) < MaxSearchResults {
			return c, ok, nil
		}
		if span < 2*time.Second {
			return CaseStatus{}, false, fmt.Errorf("%w: %d cases around %v", ErrSearchTruncated, len(cs), q.Start)
		}
	}
	mid := q.Start.Add(span / 2)
	early, late := q, q
	early.End, late.Start = mid, mid
	for _, half := range []SearchQuery{early, late} {
		if c, ok, err := s.find(ctx, half); err != nil || ok {
			return c, ok, err
		}
	}
	return CaseStatus{}, false, nil
}

// oldestWith returns the case with the earliest requested_datetime among
// those whose description holds marker; cases with unreadable datetimes
// count as the newest, ties go to the first listed.
func oldestWith(cs []CaseStatus, marker string) (CaseStatus, bool) {
	var best CaseStatus
	var bestAt time.Time
	found := false
	for _, c := range cs {
		if !strings.Contains(c.Description, marker) {
			continue
		}
		at, err := time.Parse(time.RFC3339, c.RequestedDatetime)
		if err != nil {
			at = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
		}
		if !found || at.Before(bestAt) {
			best, bestAt, found = c, at, true
		}
	}
	return best, found
}
