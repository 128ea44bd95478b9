package hotline_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/linli/linli/internal/hotlinesim"
	"github.com/linli/linli/mutualaid/hotline"
)

func TestReference(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ key, want string }{
		{"yuqiao/req-2340", "\n[linli:yuqiao/req-2340]"},
		{"玉桥/求助-1", "\n[linli:玉桥/求助-1]"},
		{"a]", "\n[linli:a%5D]"},
		{"[x", "\n[linli:%5Bx]"},
		{"50%", "\n[linli:50%25]"},
		{"a b\nc", "\n[linli:a%20b%0Ac]"},
		{"\xff", "\n[linli:%FF]"},
		{"\u3000", "\n[linli:%E3%80%80]"}, // ideographic space
	} {
		if got := hotline.Reference(tc.key); got != tc.want {
			t.Errorf("Reference(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}

// FuzzReference: a case's description holds the reference of its own post
// only, however the post keys look.
func FuzzReference(f *testing.F) {
	for _, s := range [][2]string{
		{"yuqiao/req-1", "yuqiao/req-10"}, {"a]", "a"}, {"a", "[linli:a]"}, {"%5D", "]"}, {"\xff", "\xfe"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if a == b {
			return
		}
		desc := hotline.WithReference("求助", b)
		if strings.Contains(desc, hotline.RefMarker(a)) {
			t.Errorf("the description for %q %q holds the reference of %q", b, desc, a)
		}
		if !strings.Contains(desc, hotline.Reference(b)) {
			t.Errorf("the description for %q %q lacks its reference", b, desc)
		}
	})
}

func TestWithReference(t *testing.T) {
	t.Parallel()
	const key = "yuqiao/req-2340"
	ref := hotline.Reference(key)
	room := hotline.MaxDescription - utf8.RuneCountInString(ref)
	for _, tc := range []struct {
		name string
		desc string
		want string
	}{
		{"Short", "需要退烧药", "需要退烧药" + ref},
		{"FitsExactly", strings.Repeat("药", room), strings.Repeat("药", room) + ref},
		{"OneOver", strings.Repeat("药", room+1), strings.Repeat("药", room-1) + "…" + ref},
		{"Longest", strings.Repeat("药", hotline.MaxDescription), strings.Repeat("药", room-1) + "…" + ref},
		{"AlreadyThere", "需要退烧药" + ref, "需要退烧药" + ref},
		{"AlreadyThereLineBreakRewritten", "需要退烧药 " + ref[1:], "需要退烧药 " + ref[1:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := hotline.WithReference(tc.desc, key)
			if got != tc.want {
				t.Errorf("got %d characters ending %q, want %d ending %q", utf8.RuneCountInString(got),
					tail(got), utf8.RuneCountInString(tc.want), tail(tc.want))
			}
			if n := utf8.RuneCountInString(got); n > hotline.MaxDescription {
				t.Errorf("got %d characters, over %d", n, hotline.MaxDescription)
			}
			if again := hotline.WithReference(got, key); again != got {
				t.Errorf("not idempotent: a second call changed %q to %q", tail(got), tail(again))
			}
		})
	}
}

func tail(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[len(r)-40:])
	}
	return s
}

// seedCases stores n cases directly in sim, all requested at at.
func seedCases(sim *hotlinesim.Sim, n int, code, desc string, at time.Time) {
	for range n {
		sim.Seed(hotlinesim.SimCase{Jurisdiction: "yuqiao", ServiceCode: code, Description: desc, Agency: "玉桥街道办事处", Requested: at})
	}
}

func TestFindByReference(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const key = "yuqiao/req-1"
	entry := func(enqueued, updated time.Time) hotline.OutboxEntry {
		return hotline.OutboxEntry{PostKey: key, Enqueued: enqueued, Updated: updated,
			Request: hotline.OutboxRecord{ServiceCode: "fever_reducer", Description: hotline.WithReference("发烧", key)}}
	}
	for _, tc := range []struct {
		name   string
		seed   func(sim *hotlinesim.Sim, t0 time.Time)
		last   time.Duration // after t0, when the entry was last saved
		wantID string        // "" means not found
		want   error
	}{
		{"NoCase", func(sim *hotlinesim.Sim, t0 time.Time) {
			seedCases(sim, 1, "fever_reducer", hotline.WithReference("发烧", "yuqiao/req-10"), t0) // another post
			seedCases(sim, 1, "mask", hotline.WithReference("口罩", key), t0)                      // another service
		}, time.Minute, "", nil},
		{"Found", func(sim *hotlinesim.Sim, t0 time.Time) {
			seedCases(sim, 1, "fever_reducer", hotline.WithReference("发烧", "yuqiao/req-10"), t0)
			seedCases(sim, 1, "fever_reducer", hotline.WithReference("发烧", key), t0)
		}, time.Minute, "12345-000002", nil},
		{"OldestOfThree", func(sim *hotlinesim.Sim, t0 time.Time) { // listed neither first nor last
			seedCases(sim, 1, "fever_reducer", hotline.WithReference("发烧", key), t0.Add(2*time.Minute))
			seedCases(sim, 1, "fever_reducer", hotline.WithReference("发烧", key), t0.Add(time.Minute))
			seedCases(sim, 1, "fever_reducer", hotline.WithReference("发烧", key), t0.Add(3*time.Minute))
		}, 10 * time.Minute, "12345-000002", nil},
		{"ClosedCase", func(sim *hotlinesim.Sim, t0 time.Time) {
			seedCases(sim, 1, "fever_reducer", hotline.WithReference("发烧", key), t0)
		}, 24 * time.Hour, "12345-000001", nil},
		{"HotlineClockAnHourBehind", func(sim *hotlinesim.Sim, t0 time.Time) {
			seedCases(sim, 1, "fever_reducer", hotline.WithReference("发烧", key), t0.Add(-59*time.Minute))
		}, time.Minute, "12345-000001", nil},
		{"BeforeTheWindow", func(sim *hotlinesim.Sim, t0 time.Time) {
			seedCases(sim, 1, "fever_reducer", hotline.WithReference("发烧", key), t0.Add(-61*time.Minute))
		}, time.Minute, "", nil},
		{"AfterTheWindow", func(sim *hotlinesim.Sim, t0 time.Time) {
			seedCases(sim, 1, "fever_reducer", hotline.WithReference("发烧", key), t0.Add(62*time.Minute))
		}, time.Minute, "", nil},
		{"HotlineClockAnHourAhead", func(sim *hotlinesim.Sim, t0 time.Time) {
			seedCases(sim, 1, "fever_reducer", hotline.WithReference("发烧", key), t0.Add(60*time.Minute))
		}, time.Minute, "12345-000001", nil},
		{"LongOutage", func(sim *hotlinesim.Sim, t0 time.Time) { // the window spans more than 90 days
			seedCases(sim, 1, "fever_reducer", hotline.WithReference("发烧", key), t0.Add(100*24*time.Hour))
		}, 200 * 24 * time.Hour, "12345-000001", nil},
		{"TruncatedBehindNewerCases", func(sim *hotlinesim.Sim, t0 time.Time) {
			seedCases(sim, 1, "fever_reducer", hotline.WithReference("发烧", key), t0)
			seedCases(sim, hotline.MaxSearchResults+5, "fever_reducer", "别的求助", t0.Add(time.Minute))
		}, 10 * time.Minute, "12345-000001", nil},
		{"TruncatedWithinASecond", func(sim *hotlinesim.Sim, t0 time.Time) {
			seedCases(sim, hotline.MaxSearchResults, "fever_reducer", "别的求助", t0)
		}, time.Minute, "", hotline.ErrSearchTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim, c, clk := newSim(t, nil)
			t0 := clk.Now()
			tc.seed(sim, t0)
			id, found, err := hotline.FindByReference(c)(ctx, entry(t0, t0.Add(tc.last)))
			if tc.want != nil {
				if !errors.Is(err, tc.want) || found {
					t.Fatalf("got %q, %v, %v; want %v", id, found, err, tc.want)
				}
				return
			}
			if err != nil || found != (tc.wantID != "") || id != tc.wantID {
				t.Fatalf("got %q, %v, %v; want %q", id, found, err, tc.wantID)
			}
		})
	}
}

func TestFindByReferenceSearchError(t *testing.T) {
	t.Parallel()
	sim, c, clk := newSim(t, nil)
	sim.FailNext(1)
	_, found, err := hotline.FindByReference(c)(context.Background(), hotline.OutboxEntry{
		PostKey: "k", Enqueued: clk.Now(), Updated: clk.Now(), Request: hotline.OutboxRecord{ServiceCode: "food"}})
	var ae *hotline.APIError
	if !errors.As(err, &ae) || ae.HTTPStatus != 500 || found {
		t.Fatalf("got %v, %v; want the hotline's 500, not found", found, err)
	}
}
