package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// The surge: the night when half a community has a feverish child and
// everybody asks for and offers the same few medicines.
const (
	surgeResidents = 128 // residents posting, one post per push
	surgeWatchers  = 16  // residents whose app is open: they Subscribe and Pull
	surgeBuildings = 12
	surgeLoadBatch = 500 // posts per loading push
)

// surgeItems are what everybody asks for and offers: children's fever
// reducers (one item key) and antigen tests (another).
var surgeItems = []struct{ code, name string }{
	{"ibuprofen-suspension-child", "美林"},
	{"acetaminophen-suspension-child", "泰诺林"},
	{"acetaminophen-drops-infant", "泰诺林滴剂"},
	{"antigen-test", "抗原"},
}

// surge measures a surge: a community with --surge-posts open posts over the
// same few item keys (70% requests, 30% offers), then surgeResidents
// residents each posting (the same mix) as fast as they are answered,
// while surgeWatchers of them keep their app open (Subscribe, and Pull on
// every poke). It reports posts per second, what the writer puts into
// Pebble per post, the writer's time per post, and how long after a
// post's ack a suggestion it made reaches the other resident's Pull. The
// baseline is the same load in a community where no post has a
// counterpart (requests only).
func (b *bench) surge(ctx context.Context) ([]benchResult, error) {
	b.progress("surge: %d open posts, then %d residents posting for %s (%d with the app open); first without counterparts (requests only), then 70%% requests and 30%% offers of the same items",
		b.flags.surgePosts, surgeResidents, b.flags.duration, surgeWatchers)
	base, err := b.surgeRun(ctx, "surge-base-"+b.runID, false)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	run, err := b.surgeRun(ctx, "surge-"+b.runID, true)
	if err != nil {
		return nil, err
	}
	posts := newResult("surge", "posts/s", run.perSecond(), "posts/s without counterparts", base.perSecond())
	posts.CPUPerOp, posts.BaselineCPUPerOp = cpuPer(run.cpu, run.posts), cpuPer(base.cpu, base.posts)
	posts.BytesPerOp = run.writes.bytesPer()
	s50, s99 := run.suggested.percentile(50), run.suggested.percentile(99)
	posts.Notes = fmt.Sprintf("%d posts in %s; %d suggestions seen by the other resident's Pull: p50 %s, p99 %s after the post's ack%s",
		run.posts, run.elapsed.Round(time.Millisecond), len(run.suggested), fmtMS(s50), fmtMS(s99), run.writes.note())
	posts.Extra["suggestion_p50_ms"], posts.Extra["suggestion_p99_ms"] = ms(s50), ms(s99)
	posts.Extra["suggestions_seen"] = float64(len(run.suggested))
	rows := []benchResult{posts}
	if run.writes.groups > 0 && base.writes.groups > 0 {
		bytes := newResult("surge", "batch bytes/post", *run.writes.bytesPer(), "bytes/post without counterparts", *base.writes.bytesPer())
		bytes.Notes = "what the writer put into Pebble batches per post, matching included (before the WAL and compactions multiply it)"
		writer := newResult("surge", "writer µs/post p99", float64(run.writes.p99.Microseconds()), "µs without counterparts", float64(base.writes.p99.Microseconds()))
		writer.Notes = fmt.Sprintf("p50 %s (without counterparts %s)", fmtUS(run.writes.p50), fmtUS(base.writes.p50))
		rows = append(rows, bytes, writer)
	}
	return rows, nil
}

// surgeStats is what one surge run measured.
type surgeStats struct {
	posts     int
	elapsed   time.Duration
	cpu       time.Duration
	writes    writes
	suggested latencies // post's ack → a suggestion it made in the other resident's Pull
}

func (s surgeStats) perSecond() float64 { return float64(s.posts) / s.elapsed.Seconds() }

// surgeRun loads a community and times its residents posting. With
// matching, 30% of posts are offers; without, all are requests.
func (b *bench) surgeRun(ctx context.Context, id string, matching bool) (surgeStats, error) {
	community, err := b.target.newCommunity(ctx, id)
	if err != nil {
		return surgeStats{}, err
	}
	buildings, err := b.target.surgeBuildings(ctx, community)
	if err != nil {
		return surgeStats{}, err
	}
	members, err := b.members(ctx, community, surgeResidents)
	if err != nil {
		return surgeStats{}, err
	}
	tr := newBenchTransport(b.flags.protocol)
	defer tr.CloseIdleConnections()
	sc := newSyncClient(&http.Client{Transport: tr}, b.target.baseURL)
	gen := &surgePosts{matching: matching, buildings: buildings, prefix: id, acks: &gosync.Map{}}

	start := time.Now()
	if err := parallel(ctx, surgeResidents, 8, func(ctx context.Context, i int) error {
		per := b.flags.surgePosts / surgeResidents
		for n := 0; n < per; n += surgeLoadBatch {
			if err := gen.push(ctx, sc, members[i], i, min(surgeLoadBatch, per-n), false); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return surgeStats{}, fmt.Errorf("load: %w", err)
	}
	b.progress("surge: %s: loaded %d posts in %s", community, b.flags.surgePosts/surgeResidents*surgeResidents, time.Since(start).Round(time.Millisecond))
	if _, err := b.target.settle(ctx); err != nil {
		return surgeStats{}, err
	}

	watch, err := startWatchers(ctx, b.target.baseURL, members[:surgeWatchers], gen)
	if err != nil {
		return surgeStats{}, err
	}
	b.target.writes.start()
	run, err := runLoad(ctx, surgeResidents, b.flags.duration, func(ctx context.Context, w int) error {
		return gen.push(ctx, sc, members[w], w, 1, true)
	})
	wr := b.target.writes.stop()
	// Let the watchers see what the last posts suggested.
	time.Sleep(min(2*time.Second, b.flags.duration))
	suggested, werr := watch.stop()
	if err != nil {
		return surgeStats{}, err
	}
	if werr != nil {
		return surgeStats{}, fmt.Errorf("watchers: %w", werr)
	}
	return surgeStats{posts: run.ops, elapsed: run.elapsed, cpu: run.cpu, writes: wr, suggested: suggested}, nil
}

// surgeBuildings creates the surge's buildings in process (b1…b12); with
// --addr it uses the join code's community as it is, each resident posting
// in its own building (nil).
func (t *benchTarget) surgeBuildings(ctx context.Context, community string) ([]string, error) {
	if !t.inProcess {
		return nil, nil
	}
	var out []string
	for i := 1; i <= surgeBuildings; i++ {
		id := fmt.Sprintf("b%d", i)
		if _, err := t.svc.PutBuilding(ctx, mutualaid.Operator, &linliv1.Building{Id: id, CommunityId: community, Name: fmt.Sprintf("%d号楼", i), DropPoints: []string{"一楼大厅"}}); err != nil {
			return nil, fmt.Errorf("create building %s of %s: %w", id, community, err)
		}
		out = append(out, id)
	}
	return out, nil
}

// surgePosts makes the surge's posts and remembers when each was acked.
type surgePosts struct {
	matching  bool
	buildings []string
	prefix    string      // of post ids, unique to the run
	acks      *gosync.Map // post id → time.Time of its ack, for timed posts
	seq       atomic.Int64
}

// push sends n new posts of resident c (the w-th) in one push; timed posts'
// acks are remembered.
func (g *surgePosts) push(ctx context.Context, sc *syncClient, c *pushClient, w, n int, timed bool) error {
	rng := rand.New(rand.NewPCG(uint64(w), uint64(c.next)))
	req := &linliv1.PushRequest{ProtocolVersion: 1, ClientId: benchClientID}
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("%s-%d", g.prefix, g.seq.Add(1))
		building := c.building
		if len(g.buildings) > 0 {
			building = g.buildings[w%len(g.buildings)]
		}
		req.Mutations = append(req.Mutations, g.post(rng, c.next, ids[i], building))
		c.next++
	}
	resp, err := sc.Push(ctx, c.token, req)
	if err != nil {
		return fmt.Errorf("push as %s: %w", c.user, err)
	}
	acked := time.Now()
	for i, r := range resp.GetResults() {
		if r.GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_APPLIED {
			return fmt.Errorf("push as %s: %s: %s %s", c.user, r.GetStatus(), r.GetReason(), r.GetMessage())
		}
		if timed {
			g.acks.Store(ids[i], acked)
		}
	}
	return nil
}

// post is one resident's post: 70% requests (routine, urgent, critical;
// for a child or not), 30% offers of one to three, expiring in months.
func (g *surgePosts) post(rng *rand.Rand, id uint64, postID, building string) *linliv1.Mutation {
	item := surgeItems[rng.IntN(len(surgeItems))]
	draft := &linliv1.PostDraft{BuildingId: building, Floor: 1 + rng.Int32N(18), Unit: "1502", Phone: "138 0013 8000", DisplayName: "王芳"}
	if g.matching && rng.Float64() >= 0.7 {
		draft.Items = []*linliv1.PostItem{{ItemCode: item.code, Name: item.name, Quantity: 1 + rng.Int32N(3), Unit: "瓶", ExpiryDate: benchExpiry}}
		draft.Note = "多的一瓶，放电梯口窗台，自取"
		return &linliv1.Mutation{Id: id, Kind: &linliv1.Mutation_PostOffer{PostOffer: &linliv1.PostOfferMutation{PostId: postID, Draft: draft}}}
	}
	draft.Items = []*linliv1.PostItem{{ItemCode: item.code, Name: item.name, Quantity: 1, Unit: "瓶"}}
	draft.Urgency = []linliv1.Urgency{linliv1.Urgency_URGENCY_ROUTINE, linliv1.Urgency_URGENCY_ROUTINE, linliv1.Urgency_URGENCY_URGENT, linliv1.Urgency_URGENCY_CRITICAL}[rng.IntN(4)]
	if item.code != "antigen-test" {
		draft.ForWhom = &linliv1.ForWhom{Recipient: linliv1.Recipient_RECIPIENT_CHILD, AgeMonths: 12 + rng.Uint32N(48)}
	}
	draft.Note = "孩子发烧，外卖送不进来"
	return &linliv1.Mutation{Id: id, Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{PostId: postID, Draft: draft}}}
}

// watchers are residents with the app open: each Subscribes, Pulls on
// every poke, and times the suggestions that reach it.
type watchers struct {
	cancel context.CancelFunc
	wg     gosync.WaitGroup
	mu     gosync.Mutex
	lat    latencies
	err    error
	tr     []*http.Transport
}

// startWatchers catches each member up (untimed), then keeps them pulling
// on every poke until stop.
func startWatchers(ctx context.Context, baseURL string, members []*pushClient, g *surgePosts) (*watchers, error) {
	wctx, cancel := context.WithCancel(ctx)
	w := &watchers{cancel: cancel}
	tr := newBenchTransport("h2c")
	w.tr = append(w.tr, tr)
	sc := newSyncClient(&http.Client{Transport: tr}, baseURL)
	cursors := make([]string, len(members))
	for i, m := range members {
		cur, err := pullToEnd(wctx, sc, m.token, "", nil)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("catch up %s: %w", m.user, err)
		}
		cursors[i] = cur
	}
	for i, m := range members {
		stream, err := sc.Subscribe(wctx, m.token, &linliv1.SubscribeRequest{ProtocolVersion: 1})
		if err != nil {
			cancel()
			return nil, fmt.Errorf("subscribe %s: %w", m.user, err)
		}
		w.wg.Go(func() { w.watch(wctx, sc, m, cursors[i], stream, g) })
	}
	return w, nil
}

// watch pulls m's feed on every poke and times the suggestions it finds.
func (w *watchers) watch(ctx context.Context, sc *syncClient, m *pushClient, cursor string, stream *connect.ServerStreamForClient[linliv1.SubscribeResponse], g *surgePosts) {
	defer stream.Close()
	for stream.Receive() {
		if stream.Msg().GetPoke() == nil {
			continue
		}
		cur, err := pullToEnd(ctx, sc, m.token, cursor, func(c *linliv1.Change) {
			mt := c.GetEntity().GetMatch()
			if mt == nil || c.GetDeleted() || !strings.HasPrefix(c.GetScope(), "user/") {
				return
			}
			// A suggestion is made by the later of its two posts, and
			// reaches the resident on the other side of that post.
			mine, other := mt.GetRequestPostId(), mt.GetOfferPostId()
			if m.user == mt.GetOfferAuthorId() {
				mine, other = other, mine
			}
			ackOther, ok := g.acks.Load(other)
			if !ok {
				return // made by this resident's own post, or before the timed run
			}
			if ackMine, ok := g.acks.Load(mine); ok && ackMine.(time.Time).After(ackOther.(time.Time)) {
				return // made by this resident's own post
			}
			w.mu.Lock()
			w.lat = append(w.lat, time.Since(ackOther.(time.Time)))
			w.mu.Unlock()
		})
		if err != nil {
			if ctx.Err() == nil {
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
			}
			return
		}
		cursor = cur
	}
}

// stop ends the watchers and returns the suggestion latencies they saw.
func (w *watchers) stop() (latencies, error) {
	w.cancel()
	w.wg.Wait()
	for _, tr := range w.tr {
		tr.CloseIdleConnections()
	}
	return w.lat, w.err
}

// pullToEnd pulls from cursor until has_more is false, handing fn every
// change, and returns the last cursor.
func pullToEnd(ctx context.Context, sc *syncClient, token, cursor string, fn func(*linliv1.Change)) (string, error) {
	for {
		resp, err := sc.Pull(ctx, token, &linliv1.PullRequest{ProtocolVersion: 1, Cursor: cursor, MaxChanges: 10_000})
		if err != nil {
			return "", err
		}
		if fn != nil {
			for _, c := range resp.GetChanges() {
				fn(c)
			}
		}
		cursor = resp.GetCursor()
		if !resp.GetHasMore() {
			return cursor, nil
		}
	}
}
