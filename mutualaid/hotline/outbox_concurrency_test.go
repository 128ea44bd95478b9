package hotline_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/linli/linli/internal/hotlinesim"
	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid/hotline"
)

// TestOutboxOneHungCall: one hotline call that hangs holds up no other
// case. Independent cases go out side by side; the others are created
// while the hung call is still waiting; a call's own deadline ends it; and
// the hung case is created exactly once by a later pass (looked up first,
// since its outcome was unknown).
func TestOutboxOneHungCall(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		deadline time.Duration
	}{
		{"OthersGoOnWhileItHangs", time.Minute},
		{"CallDeadlineEndsIt", 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := linlitest.NewClock(time.Date(2022, 12, 18, 23, 40, 0, 0, time.FixedZone("CST", 8*3600)))
			sim := &hotlinesim.Sim{APIKey: "demo", ResolveAfter: 30 * time.Minute, Now: clk.Now}
			srv := httptest.NewServer(http.StripPrefix("/open311/v2", sim))
			t.Cleanup(srv.Close)
			c := hotline.NewClient(srv.URL+"/open311/v2", "demo", "yuqiao", &http.Client{}) // no client timeout: the outbox's deadline counts
			opts := outboxOpts(clk, simFinder(sim))
			opts.CallTimeout = tc.deadline
			ob := hotline.NewOutbox(mustOpen(t, t.TempDir()), c, opts)
			var keys []string
			for i := range 20 {
				k := fmt.Sprintf("yuqiao/req-%02d", i)
				keys = append(keys, k)
				if err := ob.Enqueue(t.Context(), k, feverCase()); err != nil {
					t.Fatal(err)
				}
			}
			// The first call hangs for 4 s (a hung handler of the test's
			// hotline cannot see its client go away, so it must end by itself).
			sim.TimeoutNext(1, 4*time.Second)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan int, 1)
			start := time.Now()
			go func() {
				n, _ := ob.RunOnce(ctx)
				done <- n
			}()
			if tc.deadline == time.Minute {
				linlitest.WaitFor(t, "19 cases created while one call hangs", func() bool { return sim.Count() == 19 })
				select {
				case <-done:
					t.Fatal("the pass ended before the hung call did: nothing was hanging")
				default:
				}
				if n := <-done; n != 19 {
					t.Fatalf("the pass created %d cases, want 19 (one hung)", n)
				}
			} else {
				if n := <-done; n != 19 {
					t.Fatalf("the pass created %d cases, want 19 (one timed out)", n)
				}
				if waited := time.Since(start); waited > 10*time.Second {
					t.Fatalf("the pass took %v: the call deadline did not end the hung call", waited)
				}
			}
			clk.Advance(time.Hour)
			drain(t, ob, clk, 5)
			assertOnce(t, sim, ob, keys...)
		})
	}
}
