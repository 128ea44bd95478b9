package bench

import (
	"context"
	"fmt"
	gosync "sync"
	"time"

	"connectrpc.com/connect"
	"github.com/cockroachdb/pebble/v2"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// loadRun is what runLoad measured.
type loadRun struct {
	ops     int           // completed calls in the timed window
	elapsed time.Duration // from the start until the last worker stopped
	lat     latencies     // one per completed call
	cpu     time.Duration // CPU time of this process in the timed window
}

func (r loadRun) perSecond(unitsPerOp int) float64 {
	return float64(r.ops*unitsPerOp) / r.elapsed.Seconds()
}

// runLoad calls op from workers goroutines: first once each, untimed (to
// open connections and warm caches), then over and over for d. A worker
// finishes the call in flight when d has passed, so nothing is cut short.
// The first error stops every worker and is returned.
func runLoad(ctx context.Context, workers int, d time.Duration, op func(ctx context.Context, worker int) error) (loadRun, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg gosync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			if err := op(ctx, w); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return loadRun{}, context.Cause(ctx)
	}
	lats := make([]latencies, workers)
	cpu0 := processCPU()
	start := time.Now()
	deadline := start.Add(d)
	for w := range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				if err := op(ctx, w); err != nil {
					cancel(err)
					return
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	run := loadRun{elapsed: time.Since(start), cpu: processCPU() - cpu0}
	if ctx.Err() != nil {
		return loadRun{}, context.Cause(ctx)
	}
	for _, l := range lats {
		run.lat = append(run.lat, l...)
	}
	run.ops = len(run.lat)
	return run, nil
}

// pushClient is one bench member on its device: its user and community,
// its access token and when it expires, and its next mutation id. It is
// used by one goroutine at a time.
type pushClient struct {
	user, community string
	building        string // where the member lives
	token           string
	expires         time.Time
	next            uint64
}

// echoClients are n users for the echo server, which checks no token.
func (b *bench) echoClients(n int) []*pushClient {
	out := make([]*pushClient, n)
	for i := range out {
		out[i] = &pushClient{user: b.user("echo", i), next: 1}
	}
	return out
}

// request builds the client's next push of n new offers and advances its ids.
func (c *pushClient) request(n int) *linliv1.PushRequest {
	req := &linliv1.PushRequest{ProtocolVersion: 1, ClientId: benchClientID, Mutations: make([]*linliv1.Mutation, n)}
	for i := range n {
		req.Mutations[i] = offerMutation(c.next, fmt.Sprintf("%s-%d", c.user, c.next))
		if c.building != "" {
			req.Mutations[i].GetPostOffer().GetDraft().BuildingId = c.building // where the member lives
		}
		c.next++
	}
	return req
}

// push sends the client's next n offers and checks that all were applied.
func (c *pushClient) push(ctx context.Context, sc *syncClient, n int) error {
	req := c.request(n)
	resp, err := sc.Push(ctx, c.token, req)
	if connect.CodeOf(err) == connect.CodeResourceExhausted {
		return fmt.Errorf("push as %s: %w\nthe server limits pushes per member: start it with --push-rate -1 to bench it", c.user, err)
	}
	if err != nil {
		return fmt.Errorf("push as %s: %w", c.user, err)
	}
	if len(resp.GetResults()) != n {
		return fmt.Errorf("push as %s: %d results for %d mutations", c.user, len(resp.GetResults()), n)
	}
	for _, r := range resp.GetResults() {
		if r.GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_APPLIED {
			return fmt.Errorf("push as %s: mutation %d: %s %s: %s", c.user, r.GetId(), r.GetStatus(), r.GetReason(), r.GetMessage())
		}
	}
	return nil
}

// benchExpiry is a medicine expiry date a year from now.
var benchExpiry = time.Now().AddDate(1, 0, 0).Format(time.DateOnly)

// offerMutation is a typical offer: a bottle of children's ibuprofen
// suspension, left at a drop point.
func offerMutation(id uint64, postID string) *linliv1.Mutation {
	return &linliv1.Mutation{Id: id, Kind: &linliv1.Mutation_PostOffer{PostOffer: &linliv1.PostOfferMutation{
		PostId: postID,
		Draft: &linliv1.PostDraft{
			Items: []*linliv1.PostItem{{
				ItemCode: "ibuprofen-suspension-child", Name: "美林 布洛芬混悬液", Quantity: 1, Unit: "bottle", ExpiryDate: benchExpiry,
			}},
			Note:        "Unopened. I can leave it on the elevator windowsill of your floor.",
			BuildingId:  "b3",
			Floor:       15,
			Unit:        "1502",
			Phone:       "138 0013 8000",
			DisplayName: "王芳",
		},
	}}}
}

// benchPebble is a bare Pebble database in a temporary folder, opened with
// the store's cache size, for the raw-storage baselines.
type benchPebble struct {
	db  *pebble.DB
	dir string
}

func openBenchPebble(dir string) (*benchPebble, error) {
	cache := pebble.NewCache(64 << 20) // sync.Options' default CacheSize
	defer cache.Unref()
	db, err := pebble.Open(dir, &pebble.Options{Cache: cache, Logger: quietPebbleLogger{}})
	if err != nil {
		return nil, fmt.Errorf("open pebble baseline: %w", err)
	}
	return &benchPebble{db: db, dir: dir}, nil
}

func (p *benchPebble) close() error { return p.db.Close() }

// quietPebbleLogger drops Pebble's informational logs; errors surface
// through the calls that fail.
type quietPebbleLogger struct{}

func (quietPebbleLogger) Infof(string, ...any)  {}
func (quietPebbleLogger) Errorf(string, ...any) {}
func (quietPebbleLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// metrics are the baseline database's metrics.
func (p *benchPebble) metrics() (*pebble.Metrics, error) { return p.db.Metrics(), nil }

// settleCompactions waits until the database whose metrics are read by
// metrics has run no flush or compaction for a few polls in a row, or until
// max has passed, so that one measurement does not pay for the compaction
// debt of the writes before it. It returns how long it waited.
func settleCompactions(ctx context.Context, metrics func() (*pebble.Metrics, error), max time.Duration) (time.Duration, error) {
	start := time.Now()
	for quiet := 0; quiet < 3 && time.Since(start) < max; {
		m, err := metrics()
		if err != nil {
			return time.Since(start), err
		}
		if m.Compact.NumInProgress == 0 && m.Flush.NumInProgress == 0 {
			quiet++
		} else {
			quiet = 0
		}
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return time.Since(start), nil
}
