package notify

import (
	"testing"
	"time"
)

// TestQuietHoursUntil: quiet hours that span midnight, in Beijing time.
func TestQuietHoursUntil(t *testing.T) {
	t.Parallel()
	bj, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	q := QuietHours{Start: "22:30", End: "07:00", Zone: "Asia/Shanghai"}
	if err := q.Check(); err != nil {
		t.Fatal(err)
	}
	at := func(d, h, m int) time.Time { return time.Date(2022, 12, d, h, m, 0, 0, bj) }
	for _, tc := range []struct {
		now       time.Time
		quiet     bool
		wantUntil time.Time
	}{
		{at(15, 23, 40), true, at(16, 7, 0)},
		{at(16, 6, 59), true, at(16, 7, 0)},
		{at(16, 7, 0), false, time.Time{}},
		{at(16, 22, 29), false, time.Time{}},
		{at(16, 22, 30).UTC(), true, at(17, 7, 0)},
	} {
		until, quiet := q.Until(tc.now)
		if quiet != tc.quiet || !until.Equal(tc.wantUntil) {
			t.Errorf("Until(%v) = %v, %v; want %v, %v", tc.now, until, quiet, tc.wantUntil, tc.quiet)
		}
	}
	for _, bad := range []QuietHours{{Start: "7:00", End: "08:00"}, {Start: "08:00", End: "08:00"}, {Start: "22:00", End: "07:00", Zone: "Mars/Olympus"}} {
		if bad.Check() == nil {
			t.Errorf("Check(%+v): no error", bad)
		}
	}
}

// TestCoalesce: one notification for what waits, of the newest critical
// event's type if there is one, else the newest's.
func TestCoalesce(t *testing.T) {
	t.Parallel()
	now := time.Now()
	n := coalesce([]queued{
		{Event: "a", Type: TypeSuggestion}, {Event: "b", Type: TypeEmergency, Critical: true}, {Event: "c", Type: TypeHandoffAccepted},
	}, now)
	if n.Count != 3 || n.Type != TypeEmergency || !n.Critical || len(n.Events) != 3 || len(n.ID) != 32 {
		t.Errorf("coalesce = %+v", n)
	}
	n = coalesce([]queued{{Event: "a", Type: TypeSuggestion}, {Event: "c", Type: TypeHandoffAccepted}}, now)
	if n.Type != TypeHandoffAccepted || n.Critical || n.Count != 2 {
		t.Errorf("coalesce = %+v", n)
	}
}
