package sync_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	linlisync "github.com/linli/linli/sync"
)

// TestLog runs the scripts under testdata/log, each against a new store on
// a clock the script moves: the change log's behaviour (compaction,
// tombstones, resets, paging, exactly-once) read as a story. Rewrite the
// expected output with: go test ./sync -run TestLog -rewrite
//
// Commands:
//
//	push client=<user>                  one push; a line per mutation:
//	  <id> put <entity> <value> <scope>...    publish value in each scope (and nowhere else)
//	  <id> del <entity>                       delete the entity
//	  <id> reject                             the domain refuses it
//	pull scopes=<a,b> [from=<cursor>] [save=<cursor>] [max=<n>]
//	                                    one page; from names a saved cursor (default: empty)
//	advance by=<duration>               move the clock
//	drop-tombstones older-than=<dur>    drop tombstones older than now minus dur
//	log scope=<scope>                   entries (versions and tombstones) in a scope's log
func TestLog(t *testing.T) {
	datadriven.Walk(t, "testdata/log", func(t *testing.T, path string) {
		clock := newClock()
		s := mustOpen(t, t.TempDir(), linlisync.Options{Now: clock.Now})
		cursors := map[string]linlisync.Cursor{}
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			switch td.Cmd {
			case "push":
				var user string
				td.ScanArgs(t, "client", &user)
				return scriptPush(t, s, user, td.Input)
			case "pull":
				return scriptPull(t, s, td, cursors)
			case "advance":
				clock.Advance(scriptDuration(t, td, "by"))
				return ""
			case "drop-tombstones":
				n, err := s.DropTombstones(context.Background(), clock.Now().Add(-scriptDuration(t, td, "older-than")))
				if err != nil {
					return "error: " + err.Error()
				}
				return fmt.Sprintf("dropped %d", n)
			case "log":
				var scope string
				td.ScanArgs(t, "scope", &scope)
				n, err := linlisync.CountLog(s, scope)
				if err != nil {
					t.Fatal(err)
				}
				return fmt.Sprintf("%d entries", n)
			}
			t.Fatalf("unknown command %q", td.Cmd)
			return ""
		})
	})
}

// scriptPush pushes the mutations of input as user's phone and renders the
// outcomes.
func scriptPush(t *testing.T, s *linlisync.Store, user, input string) string {
	var muts []linlisync.Mutation
	for _, line := range strings.Split(strings.TrimSpace(input), "\n") {
		f := strings.Fields(line)
		id, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil || len(f) < 2 {
			t.Fatalf("bad mutation line %q", line)
		}
		switch {
		case f[1] == "put" && len(f) >= 4:
			muts = append(muts, put(id, f[2], f[3], f[4:]...))
		case f[1] == "del" && len(f) == 3:
			muts = append(muts, del(id, f[2]))
		case f[1] == "reject":
			muts = append(muts, reject(id))
		default:
			t.Fatalf("bad mutation line %q", line)
		}
	}
	res, last, err := s.Push(context.Background(), linlisync.ClientID{User: user, Client: "phone"}, muts)
	if gap, ok := errors.AsType[*linlisync.GapError](err); ok {
		return fmt.Sprintf("gap: last %d, got %d", gap.LastMutationID, gap.Got)
	}
	if err != nil {
		return "error: " + err.Error()
	}
	var b strings.Builder
	for _, r := range res {
		switch r.Status {
		case linlisync.StatusApplied:
			fmt.Fprintf(&b, "%d: applied\n", r.ID)
		case linlisync.StatusRejected:
			fmt.Fprintf(&b, "%d: rejected %s\n", r.ID, r.Reason)
		default:
			fmt.Fprintf(&b, "%d: status %d\n", r.ID, r.Status)
		}
	}
	fmt.Fprintf(&b, "last %d", last)
	return b.String()
}

// scriptPull pulls one page and renders it: each change, the resets and
// dropped scopes, has_more, and the cursor's seq per scope.
func scriptPull(t *testing.T, s *linlisync.Store, td *datadriven.TestData, cursors map[string]linlisync.Cursor) string {
	var scopes, from, save string
	td.ScanArgs(t, "scopes", &scopes)
	td.MaybeScanArgs(t, "from", &from)
	td.MaybeScanArgs(t, "save", &save)
	lim := linlisync.Limits{MaxChanges: 1000, MaxBytes: 1 << 20}
	td.MaybeScanArgs(t, "max", &lim.MaxChanges)
	page, err := s.Pull(context.Background(), strings.Split(scopes, ","), cursors[from], lim)
	if err != nil {
		return "error: " + err.Error()
	}
	if save != "" {
		cursors[save] = page.Cursor
	}
	var b strings.Builder
	for _, r := range page.Resets {
		fmt.Fprintf(&b, "reset %s (%s)\n", r.Scope, resetReason(r.Reason))
	}
	for _, sc := range page.Dropped {
		fmt.Fprintf(&b, "dropped %s\n", sc)
	}
	for _, c := range page.Changes {
		switch {
		case c.Deleted:
			fmt.Fprintf(&b, "%s@%d %s deleted\n", c.Scope, c.Seq, c.EntityID)
		case strings.HasPrefix(c.EntityID, "client/"):
			fmt.Fprintf(&b, "%s@%d %s (the client's progress)\n", c.Scope, c.Seq, c.EntityID)
		default:
			fmt.Fprintf(&b, "%s@%d %s = %q\n", c.Scope, c.Seq, c.EntityID, c.Value)
		}
	}
	if page.HasMore {
		b.WriteString("has more\n")
	}
	b.WriteString("cursor")
	for _, sc := range slices.Sorted(maps.Keys(page.Cursor.Seqs)) {
		fmt.Fprintf(&b, " %s=%d", sc, page.Cursor.Seqs[sc])
	}
	return b.String()
}

func resetReason(r linlisync.ResetReason) string {
	switch r {
	case linlisync.ResetBelowLowWater:
		return "below low-water mark"
	case linlisync.ResetEpochChanged:
		return "epoch changed"
	case linlisync.ResetCursorAhead:
		return "cursor ahead"
	}
	return fmt.Sprintf("reason %d", r)
}

func scriptDuration(t *testing.T, td *datadriven.TestData, key string) time.Duration {
	var s string
	td.ScanArgs(t, key, &s)
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("%s=%s: %v", key, s, err)
	}
	return d
}
