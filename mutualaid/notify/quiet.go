package notify

import (
	"errors"
	"fmt"
	"time"
)

// QuietHours hold back a device's notifications that are not critical.
// ON-DISK FORMAT.
type QuietHours struct {
	// Start and End are "HH:MM" on a 24-hour clock; Start after End spans
	// midnight ("22:30" to "07:00").
	Start string `json:"start"`
	End   string `json:"end"`
	// Zone is an IANA time zone ("Asia/Shanghai"); empty means the
	// server's local time.
	Zone string `json:"zone,omitempty"`
}

// ErrBadQuietHours is wrapped by Check's errors.
var ErrBadQuietHours = errors.New("notify: bad quiet hours")

// Check reports whether q is well formed: both times "HH:MM", different,
// and a zone the system knows.
func (q QuietHours) Check() error {
	s, err1 := clockMinutes(q.Start)
	e, err2 := clockMinutes(q.End)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("%w: %v", ErrBadQuietHours, err)
	}
	if s == e {
		return fmt.Errorf("%w: start and end are the same", ErrBadQuietHours)
	}
	if _, err := q.location(); err != nil {
		return fmt.Errorf("%w: time zone %q: %v", ErrBadQuietHours, q.Zone, err)
	}
	return nil
}

func (q QuietHours) location() (*time.Location, error) {
	if q.Zone == "" {
		return time.Local, nil
	}
	return time.LoadLocation(q.Zone)
}

// clockMinutes parses "HH:MM" into minutes after midnight.
func clockMinutes(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// Until reports whether now falls in the quiet hours and, if so, when
// they end. A malformed q (which Check rules out) is never quiet.
func (q QuietHours) Until(now time.Time) (time.Time, bool) {
	s, err1 := clockMinutes(q.Start)
	e, err2 := clockMinutes(q.End)
	loc, err3 := q.location()
	if errors.Join(err1, err2, err3) != nil || s == e {
		return time.Time{}, false
	}
	local := now.In(loc)
	m := local.Hour()*60 + local.Minute()
	in := s <= m && m < e
	if s > e {
		in = m >= s || m < e
	}
	if !in {
		return time.Time{}, false
	}
	y, mo, d := local.Date()
	end := time.Date(y, mo, d, e/60, e%60, 0, 0, loc)
	if !end.After(local) {
		end = time.Date(y, mo, d+1, e/60, e%60, 0, 0, loc)
	}
	return end, true
}
