package hotline_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linli/linli/internal/linlitest"
	linlisync "github.com/linli/linli/sync"

	"github.com/linli/linli/internal/hotlinesim"
	"github.com/linli/linli/mutualaid/hotline"
)

// mustOpen opens a real store in dir, closed at the end of the test.
func mustOpen(tb testing.TB, dir string) *linlisync.Store {
	tb.Helper()
	s, err := linlisync.Open(dir, linlisync.Options{DropInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// simFinder finds cases in sim by their hotline.AttrPostID attribute.
func simFinder(sim *hotlinesim.Sim) func(context.Context, hotline.OutboxEntry) (string, bool, error) {
	return func(_ context.Context, e hotline.OutboxEntry) (string, bool, error) {
		ids := sim.FindByAttribute(hotline.AttrPostID, e.PostKey)
		if len(ids) == 0 {
			return "", false, nil
		}
		return ids[0], true, nil
	}
}

func outboxOpts(clk *linlitest.Clock, find func(context.Context, hotline.OutboxEntry) (string, bool, error)) hotline.OutboxOptions {
	return hotline.OutboxOptions{
		Now: clk.Now, MinBackoff: time.Second, MaxBackoff: time.Minute,
		Rand: rand.New(rand.NewPCG(1, 2)), Logger: slog.New(slog.DiscardHandler), Find: find,
	}
}

// drain runs passes, advancing clk past any backoff, until nothing is
// pending or max passes ran; it returns the passes run.
func drain(t *testing.T, ob *hotline.Outbox, clk *linlitest.Clock, max int) int {
	t.Helper()
	ctx := context.Background()
	for i := 1; i <= max; i++ {
		if _, err := ob.RunOnce(ctx); err != nil {
			t.Logf("pass %d: %v", i, err)
		}
		n, err := ob.Pending(ctx)
		if err != nil {
			t.Fatalf("Pending: %v", err)
		}
		if n == 0 {
			return i
		}
		clk.Advance(2 * time.Minute)
	}
	t.Fatalf("still pending after %d passes", max)
	return max
}

func assertOnce(t *testing.T, sim *hotlinesim.Sim, ob *hotline.Outbox, keys ...string) {
	t.Helper()
	if got, want := sim.Count(), len(keys); got != want {
		t.Errorf("sim holds %d cases, want %d", got, want)
	}
	for _, k := range keys {
		ids := sim.FindByAttribute(hotline.AttrPostID, k)
		if len(ids) != 1 {
			t.Errorf("post %s: sim holds cases %v, want exactly one", k, ids)
			continue
		}
		id, ok, err := ob.Created(k)
		if err != nil || !ok || id != ids[0] {
			t.Errorf("Created(%s) = %q, %v, %v; want %q, true, nil", k, id, ok, err, ids[0])
		}
	}
}

func TestOutbox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("HotlineDown", func(t *testing.T) {
		t.Parallel()
		sim, c, clk := newSim(t, nil)
		opts := outboxOpts(clk, simFinder(sim))
		opts.StuckAfter = 30
		ob := hotline.NewOutbox(mustOpen(t, t.TempDir()), c, opts)
		keys := []string{"yuqiao/req-1", "yuqiao/req-2", "yuqiao/req-3"}
		sim.FailNext(20)
		sim.TimeoutNext(3, time.Second)
		for _, k := range keys {
			if err := ob.Enqueue(ctx, k, feverCase()); err != nil {
				t.Fatalf("Enqueue %s: %v", k, err)
			}
		}
		if err := ob.Enqueue(ctx, keys[0], feverCase()); err != nil { // idempotent
			t.Fatalf("Enqueue again: %v", err)
		}
		if n, err := ob.Pending(ctx); err != nil || n != 3 {
			t.Fatalf("Pending = %d, %v; want 3", n, err)
		}
		// Not due before its backoff: a pass right after a failure posts nothing.
		if _, err := ob.RunOnce(ctx); err == nil {
			t.Fatal("first pass: got no error, want the hotline's 500s")
		}
		if _, err := ob.RunOnce(ctx); err != nil {
			t.Fatalf("pass before backoff: %v, want nothing due", err)
		}
		passes := drain(t, ob, clk, 30)
		if passes < 5 {
			t.Errorf("drained in %d passes; the outage should have lasted longer", passes)
		}
		assertOnce(t, sim, ob, keys...)
		if _, err := ob.RunOnce(ctx); err != nil || sim.Count() != 3 {
			t.Errorf("pass after creation: err %v, %d cases; want nil, 3", err, sim.Count())
		}
	})

	// An outage longer than StuckAfter attempts: staff see the cases as
	// stuck meanwhile, and each is still created exactly once when the
	// hotline returns.
	t.Run("LongOutage", func(t *testing.T) {
		t.Parallel()
		sim, c, clk := newSim(t, nil)
		ob := hotline.NewOutbox(mustOpen(t, t.TempDir()), c, outboxOpts(clk, simFinder(sim))) // StuckAfter 10
		keys := []string{"yuqiao/req-1", "yuqiao/req-2"}
		sim.FailNext(60) // 30 failed attempts each
		for _, k := range keys {
			if err := ob.Enqueue(ctx, k, feverCase()); err != nil {
				t.Fatal(err)
			}
		}
		for range 20 {
			ob.RunOnce(ctx)
			clk.Advance(2 * time.Minute)
		}
		if stuck, err := ob.Stuck(ctx); err != nil || len(stuck) != 2 {
			t.Fatalf("during the outage: stuck = %d, %v; want both shown to staff", len(stuck), err)
		}
		drain(t, ob, clk, 60)
		assertOnce(t, sim, ob, keys...)
		if stuck, err := ob.Stuck(ctx); err != nil || len(stuck) != 0 {
			t.Errorf("after the outage: stuck = %d, %v; want none", len(stuck), err)
		}
	})

	t.Run("Tokens", func(t *testing.T) {
		t.Parallel()
		sim, c, clk := newSim(t, func(s *hotlinesim.Sim) { s.UseTokens = true })
		ob := hotline.NewOutbox(mustOpen(t, t.TempDir()), c, outboxOpts(clk, simFinder(sim)))
		if err := ob.Enqueue(ctx, "yuqiao/req-7", feverCase()); err != nil {
			t.Fatal(err)
		}
		if n, err := ob.RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("RunOnce = %d, %v; want 1, nil", n, err)
		}
		assertOnce(t, sim, ob, "yuqiao/req-7")
	})

	t.Run("BatchSizeSkipsDone", func(t *testing.T) {
		t.Parallel()
		sim, c, clk := newSim(t, nil)
		opts := outboxOpts(clk, simFinder(sim))
		opts.BatchSize = 2
		ob := hotline.NewOutbox(mustOpen(t, t.TempDir()), c, opts)
		var keys []string
		for i := range 5 {
			keys = append(keys, fmt.Sprintf("yuqiao/req-%d", i))
			if err := ob.Enqueue(ctx, keys[i], feverCase()); err != nil {
				t.Fatal(err)
			}
		}
		if passes := drain(t, ob, clk, 10); passes != 3 {
			t.Errorf("drained in %d passes, want 3 (2 per pass)", passes)
		}
		assertOnce(t, sim, ob, keys...)
	})

	t.Run("LostResponse", func(t *testing.T) {
		t.Parallel()
		sim, c, clk := newSim(t, nil)
		ob := hotline.NewOutbox(mustOpen(t, t.TempDir()), c, outboxOpts(clk, simFinder(sim)))
		if err := ob.Enqueue(ctx, "yuqiao/req-2340", feverCase()); err != nil {
			t.Fatal(err)
		}
		sim.LoseNext(1)
		if n, err := ob.RunOnce(ctx); err == nil || n != 0 {
			t.Fatalf("RunOnce = %d, %v; want 0 and the lost response", n, err)
		}
		e, _, err := ob.Entry("yuqiao/req-2340")
		if err != nil || e.State != hotline.OutboxPosting || e.Attempts != 1 {
			t.Fatalf("entry %+v (%v); want posting after 1 attempt", e, err)
		}
		clk.Advance(time.Hour)
		if n, err := ob.RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("RunOnce = %d, %v; want 1, nil", n, err)
		}
		assertOnce(t, sim, ob, "yuqiao/req-2340")
	})

	t.Run("LostResponseNoFinder", func(t *testing.T) {
		t.Parallel()
		sim, c, clk := newSim(t, nil)
		ob := hotline.NewOutbox(mustOpen(t, t.TempDir()), c, outboxOpts(clk, nil))
		if err := ob.Enqueue(ctx, "yuqiao/req-1", feverCase()); err != nil {
			t.Fatal(err)
		}
		sim.LoseNext(1)
		ob.RunOnce(ctx)
		clk.Advance(time.Hour)
		if _, err := ob.RunOnce(ctx); !errors.Is(err, hotline.ErrOutcomeUnknown) {
			t.Fatalf("got %v, want ErrOutcomeUnknown", err)
		}
		stuck, err := ob.Stuck(ctx)
		if err != nil || len(stuck) != 1 || sim.Count() != 1 {
			t.Fatalf("stuck %+v (%v), %d cases; want one stuck, one case", stuck, err, sim.Count())
		}
	})

	t.Run("KilledMidForward", func(t *testing.T) {
		t.Parallel()
		for _, reached := range []bool{false, true} {
			t.Run(fmt.Sprintf("PostReachedHotline=%v", reached), func(t *testing.T) {
				t.Parallel()
				sim, c, clk := newSim(t, nil)
				dir := t.TempDir()
				s1 := mustOpen(t, dir)
				ob1 := hotline.NewOutbox(s1, c, outboxOpts(clk, simFinder(sim)))
				key := "yuqiao/req-9"
				if err := ob1.Enqueue(ctx, key, feverCase()); err != nil {
					t.Fatal(err)
				}
				e, _, err := ob1.Entry(key)
				if err != nil {
					t.Fatal(err)
				}
				if err := ob1.MarkPosting(ctx, &e); err != nil {
					t.Fatal(err)
				}
				if reached { // the POST got through; the process died before recording it
					if _, err := c.Create(ctx, e.Request.CaseRequest()); err != nil {
						t.Fatal(err)
					}
				}
				if err := s1.Close(); err != nil {
					t.Fatal(err)
				}
				ob2 := hotline.NewOutbox(mustOpen(t, dir), c, outboxOpts(clk, simFinder(sim)))
				if n, err := ob2.RunOnce(ctx); err != nil || n != 1 {
					t.Fatalf("RunOnce after restart = %d, %v; want 1, nil", n, err)
				}
				assertOnce(t, sim, ob2, key)
			})
		}
	})

	t.Run("StuckPermanent", func(t *testing.T) {
		t.Parallel()
		sim, c, clk := newSim(t, nil)
		ob := hotline.NewOutbox(mustOpen(t, t.TempDir()), c, outboxOpts(clk, simFinder(sim)))
		req := feverCase()
		req.ServiceCode = "no_such_service"
		if err := ob.Enqueue(ctx, "yuqiao/req-5", req); err != nil {
			t.Fatal(err)
		}
		_, err := ob.RunOnce(ctx)
		var ae *hotline.APIError
		if !errors.As(err, &ae) || ae.HTTPStatus != http.StatusBadRequest {
			t.Fatalf("got %v, want a 400 *APIError", err)
		}
		stuck, err := ob.Stuck(ctx)
		if err != nil || len(stuck) != 1 || stuck[0].Attempts != 1 || !strings.Contains(stuck[0].LastError, "no_such_service") {
			t.Fatalf("stuck = %+v, %v; want one entry after 1 attempt with the hotline's error", stuck, err)
		}
		if n, _ := ob.Pending(ctx); n != 0 || sim.Count() != 0 {
			t.Errorf("pending %d, %d cases; want 0, 0", n, sim.Count())
		}
	})

	t.Run("StuckAfterRetries", func(t *testing.T) {
		t.Parallel()
		sim, c, clk := newSim(t, nil)
		opts := outboxOpts(clk, simFinder(sim))
		opts.StuckAfter = 3
		ob := hotline.NewOutbox(mustOpen(t, t.TempDir()), c, opts)
		if err := ob.Enqueue(ctx, "yuqiao/req-6", feverCase()); err != nil {
			t.Fatal(err)
		}
		sim.FailNext(100)
		for range 5 {
			ob.RunOnce(ctx)
			clk.Advance(time.Hour)
		}
		stuck, err := ob.Stuck(ctx)
		if err != nil || len(stuck) != 1 || stuck[0].Attempts != 5 || !stuck[0].Failing || !strings.Contains(stuck[0].LastError, "500") {
			t.Fatalf("stuck = %+v, %v; want one failing entry, retried 5 times, with HTTP 500", stuck, err)
		}
		// The hotline comes back: the entry is still retried, and created once.
		sim.FailNext(0)
		ob.RunOnce(ctx)
		assertOnce(t, sim, ob, "yuqiao/req-6")
		if stuck, err := ob.Stuck(ctx); err != nil || len(stuck) != 0 {
			t.Errorf("stuck after creation = %+v, %v; want none", stuck, err)
		}
	})

	t.Run("Malformed", func(t *testing.T) {
		t.Parallel()
		bodies := map[string]string{
			"BadJSON":    `{not json`,
			"WrongTypes": `[{"service_request_id": 5}]`,
			"EmptyArray": `[]`,
			"Null":       `null`,
			"HugeBody":   `["` + strings.Repeat("x", hotline.MaxResponseBytes+10) + `"]`,
		}
		for name, body := range bodies {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				var posts atomic.Int32
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					posts.Add(1)
					w.Header().Set("Content-Type", "application/json")
					w.Write([]byte(body))
				}))
				t.Cleanup(srv.Close)
				clk := linlitest.NewClock(time.Date(2022, 12, 18, 23, 40, 0, 0, time.UTC))
				notFound := func(context.Context, hotline.OutboxEntry) (string, bool, error) { return "", false, nil }
				opts := outboxOpts(clk, notFound)
				opts.StuckAfter = 3
				ob := hotline.NewOutbox(mustOpen(t, t.TempDir()), hotline.NewClient(srv.URL, "k", "yuqiao", nil), opts)
				if err := ob.Enqueue(ctx, "yuqiao/req-8", feverCase()); err != nil {
					t.Fatal(err)
				}
				for range 4 {
					ob.RunOnce(ctx)
					clk.Advance(time.Hour)
				}
				stuck, err := ob.Stuck(ctx)
				if err != nil || len(stuck) != 1 || stuck[0].Attempts != 4 || !stuck[0].Failing {
					t.Fatalf("stuck = %+v, %v; want one failing entry after 4 attempts", stuck, err)
				}
				if got := posts.Load(); got != 4 {
					t.Errorf("got %d posts, want one per attempt (4): the lookup finds nothing", got)
				}
			})
		}
	})

	t.Run("EnqueueInvalid", func(t *testing.T) {
		t.Parallel()
		_, c, clk := newSim(t, nil)
		ob := hotline.NewOutbox(mustOpen(t, t.TempDir()), c, outboxOpts(clk, nil))
		long := feverCase()
		long.Description = strings.Repeat("药", hotline.MaxDescription+1)
		var dl *hotline.DescriptionTooLongError
		if err := ob.Enqueue(ctx, "k", long); !errors.As(err, &dl) {
			t.Errorf("long description: got %v, want *DescriptionTooLongError", err)
		}
		if err := ob.Enqueue(ctx, "", feverCase()); !errors.Is(err, hotline.ErrInvalid) {
			t.Errorf("empty key: got %v, want ErrInvalid", err)
		}
		if err := ob.Enqueue(ctx, "k", hotline.CaseRequest{ServiceCode: "food"}); !errors.Is(err, hotline.ErrInvalid) {
			t.Errorf("no description: got %v, want ErrInvalid", err)
		}
	})
}

func TestOutboxBackoff(t *testing.T) {
	t.Parallel()
	ob := hotline.NewOutbox(nil, nil, hotline.OutboxOptions{Jitter: -1, MinBackoff: time.Second, MaxBackoff: 5 * time.Minute})
	for _, tc := range []struct {
		attempts int
		want     time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {4, 8 * time.Second}, {9, 256 * time.Second}, {10, 5 * time.Minute}, {60, 5 * time.Minute}} {
		if got := ob.Backoff(tc.attempts); got != tc.want {
			t.Errorf("backoff(%d) = %v, want %v", tc.attempts, got, tc.want)
		}
	}
	ob = hotline.NewOutbox(nil, nil, hotline.OutboxOptions{Rand: rand.New(rand.NewPCG(3, 4))})
	for range 100 {
		if got := ob.Backoff(3); got < 3200*time.Millisecond || got > 4800*time.Millisecond {
			t.Fatalf("backoff(3) = %v, want 4s ± 20%%", got)
		}
	}
}

func TestEnqueueTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2022, 12, 18, 23, 40, 0, 0, time.UTC)
	const key = "yuqiao/req-2340"

	t.Run("WithTheCallersChange", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, t.TempDir())
		err := s.Update(ctx, func(tx *linlisync.Tx) error {
			created, err := hotline.EnqueueTx(tx, key, feverCase(), now)
			if err != nil || !created {
				return fmt.Errorf("EnqueueTx = %v, %v; want created", created, err)
			}
			e, ok, err := hotline.EntryTx(tx, key) // seen before commit
			if err != nil || !ok || e.State != hotline.OutboxPending || !e.Enqueued.Equal(now) || !e.NextAttempt.Equal(now) {
				return fmt.Errorf("EntryTx = %+v, %v, %v; want the pending entry", e, ok, err)
			}
			return tx.Put("post/req-2340", []byte(`{"escalated":true}`), nil)
		})
		if err != nil {
			t.Fatal(err)
		}
		e, ok, err := hotline.NewOutbox(s, nil, hotline.OutboxOptions{}).Entry(key)
		if err != nil || !ok {
			t.Fatalf("Entry = %v, %v; want the committed entry", ok, err)
		}
		if want := feverCase().Description + hotline.Reference(key); e.Request.Description != want {
			t.Errorf("description %q, want %q", e.Request.Description, want)
		}
		if e.Request.Attributes[hotline.AttrPostID] != key || e.Request.Attributes["urgency"] != "urgent" {
			t.Errorf("attributes %v, want the request's and %s=%s", e.Request.Attributes, hotline.AttrPostID, key)
		}
	})

	t.Run("RolledBackWithTheCallersChange", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, t.TempDir())
		refused := errors.New("refused")
		err := s.Update(ctx, func(tx *linlisync.Tx) error {
			if _, err := hotline.EnqueueTx(tx, key, feverCase(), now); err != nil {
				return err
			}
			return refused
		})
		if !errors.Is(err, refused) {
			t.Fatalf("Update = %v, want %v", err, refused)
		}
		ob := hotline.NewOutbox(s, nil, hotline.OutboxOptions{})
		if _, ok, err := ob.Entry(key); ok || err != nil {
			t.Errorf("Entry = %v, %v; want nothing enqueued", ok, err)
		}
		if n, err := ob.Pending(ctx); n != 0 || err != nil {
			t.Errorf("Pending = %d, %v; want 0 (no index marker either)", n, err)
		}
	})

	t.Run("FirstRequestWins", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, t.TempDir())
		second := feverCase()
		second.Description = "第二次"
		for i, req := range []hotline.CaseRequest{feverCase(), second} {
			err := s.Update(ctx, func(tx *linlisync.Tx) error {
				created, err := hotline.EnqueueTx(tx, key, req, now.Add(time.Duration(i)*time.Hour))
				if err != nil || created != (i == 0) {
					return fmt.Errorf("EnqueueTx #%d = %v, %v; want created=%v", i, created, err, i == 0)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		e, _, err := hotline.NewOutbox(s, nil, hotline.OutboxOptions{}).Entry(key)
		if err != nil || !strings.HasPrefix(e.Request.Description, feverCase().Description) || !e.Enqueued.Equal(now) {
			t.Errorf("entry %+v, %v; want the first request", e, err)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, t.TempDir())
		for _, tc := range []struct {
			name string
			key  string
			req  hotline.CaseRequest
		}{
			{"EmptyKey", "", feverCase()},
			{"LongKey", strings.Repeat("k", linlisync.MaxNameLen), feverCase()},
			{"BlankDescription", key, hotline.CaseRequest{ServiceCode: "food", Description: " \n"}},
			{"NoServiceCode", key, hotline.CaseRequest{Description: "x"}},
		} {
			err := s.Update(ctx, func(tx *linlisync.Tx) error {
				_, err := hotline.EnqueueTx(tx, tc.key, tc.req, now)
				return err
			})
			if !errors.Is(err, hotline.ErrInvalid) {
				t.Errorf("%s: got %v, want ErrInvalid", tc.name, err)
			}
		}
	})
}

// TestOutboxLongDescription: a description of hotline.MaxDescription characters
// is cut to make room for the reference, and the hotline accepts it.
func TestOutboxLongDescription(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sim, c, clk := newSim(t, nil)
	ob := hotline.NewOutbox(mustOpen(t, t.TempDir()), c, outboxOpts(clk, simFinder(sim)))
	req := feverCase()
	req.Description = strings.Repeat("药", hotline.MaxDescription)
	if err := ob.Enqueue(ctx, "yuqiao/req-3", req); err != nil {
		t.Fatal(err)
	}
	if n, err := ob.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce = %d, %v; want 1, nil", n, err)
	}
	cs := sim.Cases()
	if len(cs) != 1 || !strings.HasSuffix(cs[0].Description, "…"+hotline.Reference("yuqiao/req-3")) {
		t.Fatalf("sim holds %d cases; want one whose cut description ends with the reference", len(cs))
	}
}

// TestOutboxFindByReference: on a hotline that GeoReport v2 lets us search
// only by service code and dates, a case whose creation answer was lost,
// or whose sender was killed mid-POST, is found and not created twice.
func TestOutboxFindByReference(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const key = "yuqiao/req-2340"

	t.Run("LostResponse", func(t *testing.T) {
		t.Parallel()
		sim, c, clk := newSim(t, nil)
		ob := hotline.NewOutbox(mustOpen(t, t.TempDir()), c, outboxOpts(clk, hotline.FindByReference(c)))
		other := feverCase()
		other.Description = "另一个求助" + hotline.Reference("yuqiao/req-23400")
		if _, err := c.Create(ctx, other); err != nil { // same service, another post
			t.Fatal(err)
		}
		if err := ob.Enqueue(ctx, key, feverCase()); err != nil {
			t.Fatal(err)
		}
		sim.LoseNext(1)
		if n, err := ob.RunOnce(ctx); err == nil || n != 0 {
			t.Fatalf("RunOnce = %d, %v; want 0 and the lost response", n, err)
		}
		clk.Advance(time.Minute)
		if n, err := ob.RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("RunOnce = %d, %v; want 1, nil", n, err)
		}
		if got := sim.FindByAttribute(hotline.AttrPostID, key); len(got) != 1 || sim.Count() != 2 {
			t.Fatalf("sim holds %v for the post and %d cases; want one, two", got, sim.Count())
		}
		if id, ok, err := ob.Created(key); err != nil || !ok || id != "12345-000002" {
			t.Errorf("Created = %q, %v, %v; want the case created by the lost POST", id, ok, err)
		}
	})

	t.Run("KilledMidForward", func(t *testing.T) {
		t.Parallel()
		sim, c, clk := newSim(t, nil)
		dir := t.TempDir()
		s1 := mustOpen(t, dir)
		ob1 := hotline.NewOutbox(s1, c, outboxOpts(clk, hotline.FindByReference(c)))
		if err := ob1.Enqueue(ctx, key, feverCase()); err != nil {
			t.Fatal(err)
		}
		sim.HoldNext(1)
		kctx, kill := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { _, err := ob1.RunOnce(kctx); done <- err }()
		linlitest.WaitFor(t, "the POST to reach the hotline", func() bool { return sim.Count() > 0 })
		kill() // the POST is in flight, the case created, no answer yet
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("RunOnce = %v, want context.Canceled", err)
		}
		if err := s1.Close(); err != nil {
			t.Fatal(err)
		}
		ob2 := hotline.NewOutbox(mustOpen(t, dir), c, outboxOpts(clk, hotline.FindByReference(c)))
		if e, _, err := ob2.Entry(key); err != nil || e.State != hotline.OutboxPosting {
			t.Fatalf("after restart: %+v, %v; want posting", e, err)
		}
		if n, err := ob2.RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("RunOnce after restart = %d, %v; want 1, nil", n, err)
		}
		assertOnce(t, sim, ob2, key)
	})
}

// TestRetryTx: staff retry a stuck entry; one whose earlier outcome was
// unknown is looked up first, so the retry never makes a second case.
func TestRetryTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sim, c, clk := newSim(t, nil)
	store := mustOpen(t, t.TempDir())
	blind := hotline.NewOutbox(store, c, outboxOpts(clk, nil)) // no lookup
	const key = "yuqiao/req-9"
	if err := blind.Enqueue(ctx, key, feverCase()); err != nil {
		t.Fatal(err)
	}
	sim.LoseNext(1)
	blind.RunOnce(ctx) // created, answer lost: posting
	clk.Advance(time.Hour)
	blind.RunOnce(ctx) // cannot look it up: stuck
	if e, _, _ := blind.Entry(key); e.State != hotline.OutboxStuck || e.Failure != hotline.FailureOutcomeUnknown {
		t.Fatalf("entry = %+v, want stuck with an unknown outcome", e)
	}
	retry := func() bool {
		t.Helper()
		var ok bool
		err := store.Update(ctx, func(tx *linlisync.Tx) error {
			var err error
			ok, err = hotline.RetryTx(tx, key, clk.Now())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !retry() {
		t.Fatal("RetryTx found nothing stuck")
	}
	if e, _, _ := blind.Entry(key); e.State != hotline.OutboxPosting || e.Attempts != 0 {
		t.Fatalf("after retry: %+v, want posting (to be looked up) with no attempts", e)
	}
	seeing := hotline.NewOutbox(store, c, outboxOpts(clk, hotline.FindByReference(c)))
	if n, err := seeing.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce after retry: %d, %v", n, err)
	}
	assertOnce(t, sim, seeing, key)
	if retry() {
		t.Error("RetryTx retried a created entry")
	}
}
