package mutualaid_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linli/linli/internal/hotlinesim"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// TestServiceJobs: Start runs the deadlines and hotline passes at once; a
// forward wakes the hotline job, which creates the case without waiting
// for its interval; after Close no pass runs.
func TestServiceJobs(t *testing.T) {
	t.Parallel()
	sim := &hotlinesim.Sim{ResolveAfter: time.Hour}
	hot := httptest.NewServer(sim)
	t.Cleanup(hot.Close)
	passes := make(chan mutualaid.Job, 100)
	var closed atomic.Bool
	clk := &clock{now: time.Now()}
	svc, err := mutualaid.Open(mutualaid.Config{
		Dir: t.TempDir(), Now: clk.Now, Logger: slog.New(slog.DiscardHandler), Store: linlisync.Options{DropInterval: -1},
		Hotline: mutualaid.HotlineConfig{URL: hot.URL, JurisdictionID: "yuqiao", Every: time.Hour},
		AfterPass: func(job mutualaid.Job, _ int, err error) {
			if closed.Load() {
				t.Errorf("a %s pass ran after Close", job)
			}
			if err != nil {
				t.Errorf("%s pass: %v", job, err)
			}
			passes <- job
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	seedPlaces(t, svc)
	svc.Start(ctx)
	waitPasses(t, passes, mutualaid.JobDeadlines, mutualaid.JobHotline)

	m := feverRequest("req-1")
	m.Id = 1
	mut, err := svc.Mutation(wang, m)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Push(ctx, linlisync.ClientID{User: wang.UserID, Client: "phone-1"}, []linlisync.Mutation{mut}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Forward(ctx, mutualaid.Operator, mutualaid.ForwardInput{Community: "yuqiao", PostID: "req-1"}); err != nil {
		t.Fatal(err)
	}
	waitPasses(t, passes, mutualaid.JobHotline) // woken by the forward, not by its hourly tick
	if sim.Count() != 1 {
		t.Fatalf("the hotline holds %d cases after the woken pass, want 1", sim.Count())
	}
	q, err := svc.ListQueue(ctx, mutualaid.Operator, "yuqiao", true, 0)
	if err != nil || len(q.Items) != 1 || q.Items[0].GetHotlineCase().GetState() != linliv1.CaseState_CASE_STATE_OPEN {
		t.Errorf("queue after the pass: %v, %v; want the case open", q, err)
	}

	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	closed.Store(true)
	svc.Start(ctx) // after Close: nothing runs
	if err := svc.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// waitPasses waits until a pass of each of jobs has ended.
func waitPasses(t *testing.T, passes <-chan mutualaid.Job, jobs ...mutualaid.Job) {
	t.Helper()
	want := map[mutualaid.Job]bool{}
	for _, j := range jobs {
		want[j] = true
	}
	timeout := time.After(20 * time.Second)
	for len(want) > 0 {
		select {
		case j := <-passes:
			delete(want, j)
		case <-timeout:
			t.Fatalf("no pass of %v within 20 s", want)
		}
	}
}
