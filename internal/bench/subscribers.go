package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	gosync "sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

const (
	streamsPerConn = 200 // below net/http's default of 250 concurrent streams per HTTP/2 connection
	openChunk      = 500 // streams opened before waiting for their first poke
	minPokeRounds  = 3
	maxPokeRounds  = 50
)

// subscribe holds --subscribers Subscribe streams of members of the
// bench's community open over h2c, and measures the resident memory each
// costs and how long a push (by the first of them) takes to poke all of
// them, against the echo server's bare streams that block and are poked by
// a plain fan-out.
func (b *bench) subscribe(ctx context.Context) ([]benchResult, error) {
	n := b.flags.subscribers
	b.progress("subscribers: %d members of %s", n, b.target.community)
	members, err := b.members(ctx, b.target.community, n)
	if err != nil {
		return nil, err
	}
	tokens := make([]string, n)
	for i, m := range members {
		tokens[i] = m.token
	}
	scope := "community/" + b.target.community // every subscriber's: a push there pokes them all

	b.progress("subscribers: %d bare streams on the echo server", n)
	bare, err := b.measureStreams(ctx, b.echo.baseURL, scope, tokens, true, func(context.Context) error {
		b.echo.fan.fire()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("echo baseline: %w", err)
	}

	b.progress("subscribers: %d Subscribe streams on the server", n)
	tr := newBenchTransport(b.flags.protocol)
	defer tr.CloseIdleConnections()
	sc := newSyncClient(&http.Client{Transport: tr}, b.target.baseURL)
	run, err := b.measureStreams(ctx, b.target.baseURL, scope, tokens, b.target.inProcess, func(ctx context.Context) error {
		return members[0].push(ctx, sc, 1)
	})
	if err != nil {
		return nil, err
	}

	const kb = 1024.0
	mem := benchResult{Scenario: "subscribers", Metric: "KB RSS/stream", BaselineUnit: "KB RSS/bare stream", Extra: map[string]float64{}}
	if bare.rssOK {
		v := bare.rssPerStream / kb
		mem.Baseline = &v
	}
	if run.rssOK {
		v := run.rssPerStream / kb
		mem.Figure = &v
		mem.Notes = fmt.Sprintf("%d streams on %d h2c connections; VmRSS of this process, so client and server sides both count (in the baseline too)", n, run.conns)
	} else {
		mem.Notes = fmt.Sprintf("%d streams; the server runs elsewhere: its RSS cannot be read from here", n)
	}
	mem.setRatio()
	mem.Extra["streams"], mem.Extra["connections"] = float64(n), float64(run.conns)

	p50, p99 := run.lat.percentile(50), run.lat.percentile(99)
	b50, b99 := bare.lat.percentile(50), bare.lat.percentile(99)
	poke := newResult("subscribers", "ms push→poke p99", ms(p99), "ms bare fan-out p99", ms(b99))
	poke.Notes = fmt.Sprintf("p50 %s (bare %s); %d pushes after an untimed one, each timed until all %d streams had their poke", fmtMS(p50), fmtMS(b50), run.rounds, n)
	if run.missed > 0 || bare.missed > 0 {
		poke.Notes += fmt.Sprintf("; MISSED %d pokes (bare %d)", run.missed, bare.missed)
	}
	poke.Extra["p50_ms"], poke.Extra["p99_ms"] = ms(p50), ms(p99)
	poke.Extra["baseline_p50_ms"], poke.Extra["baseline_p99_ms"] = ms(b50), ms(b99)
	poke.Extra["rounds"], poke.Extra["missed"] = float64(run.rounds), float64(run.missed)
	rows := []benchResult{mem, poke}
	if b.target.inProcess && len(b.flags.serverCommand) > 0 {
		own, err := b.serverStreamMemory(ctx, n)
		if err != nil {
			return rows, fmt.Errorf("server in its own process: %w", err)
		}
		rows = append(rows, own)
	}
	return rows, nil
}

// maxServerStreamBytes is what a Subscribe stream may cost the server.
const maxServerStreamBytes = 24 << 10

// serverStreamMemory runs linli serve in a process of its own, holds n
// Subscribe streams open on it and returns the memory each costs it: the
// growth of its resident set, read from /proc while the clients live in
// this process.
func (b *bench) serverStreamMemory(ctx context.Context, n int) (benchResult, error) {
	b.progress("subscribers: linli serve in a process of its own; %d members join", n)
	p, err := startServerProcess(ctx, b.flags.serverCommand, n)
	if err != nil {
		return benchResult{}, err
	}
	defer p.stop()
	t, err := remoteTarget(ctx, benchFlags{addr: p.addr, joinCode: p.joinCode}, n)
	if err != nil {
		return benchResult{}, err
	}
	defer t.close()
	members := []*pushClient{t.first}
	names := make([]string, n-1)
	for i := range names {
		names[i] = b.user("own", i)
	}
	more, err := t.newMembers(ctx, t.community, names)
	if err != nil {
		return benchResult{}, err
	}
	members = append(members, more...)
	tokens := make([]string, n)
	for i, m := range members {
		tokens[i] = m.token
	}
	rss0, err := p.rss()
	if err != nil {
		return benchResult{}, err
	}
	heap0, stack0, err := p.goMemory(ctx)
	if err != nil {
		return benchResult{}, err
	}
	goroutines := runtime.NumGoroutine()
	ss, err := openStreams(ctx, t.baseURL, "community/"+t.community, tokens)
	if err != nil {
		return benchResult{}, err
	}
	defer func() {
		ss.close()
		waitGoroutines(goroutines, 10*time.Second)
	}()
	rss1, err := p.rss()
	if err != nil {
		return benchResult{}, err
	}
	heap1, stack1, err := p.goMemory(ctx)
	if err != nil {
		return benchResult{}, err
	}
	per := float64(rss1-rss0) / float64(n) / 1024
	target := float64(maxServerStreamBytes) / 1024
	r := newResult("subscribers", "KB server RSS/stream", per, "KB target", target)
	r.Notes = fmt.Sprintf("linli serve in a process of its own: VmRSS %s MB with %d streams open, %s MB before; per stream %.1f KB of Go heap in use, %.1f KB of goroutine stacks",
		humanNumber(float64(rss1)/(1<<20)), n, humanNumber(float64(rss0)/(1<<20)), (heap1-heap0)/float64(n)/1024, (stack1-stack0)/float64(n)/1024)
	r.Extra["rss_before_bytes"], r.Extra["rss_after_bytes"] = float64(rss0), float64(rss1)
	return r, nil
}

type streamStats struct {
	rssPerStream float64 // bytes
	rssOK        bool
	conns        int
	lat          latencies // push→poke, one per stream per round
	rounds       int
	missed       int // pokes that did not arrive in time
}

// measureStreams opens one stream per token at baseURL, poked when scope
// moves, reads the process's
// RSS before and after (if measureRSS), then runs poke rounds for the
// scenario's duration (after one untimed round), each calling fire and
// timing every stream's poke.
// It closes the streams and waits for their goroutines to end.
func (b *bench) measureStreams(ctx context.Context, baseURL, scope string, tokens []string, measureRSS bool, fire func(context.Context) error) (st streamStats, err error) {
	goroutines := runtime.NumGoroutine()
	var rss0 int64
	if measureRSS {
		if rss0, err = settledRSS(); err != nil {
			return st, err
		}
	}
	ss, err := openStreams(ctx, baseURL, scope, tokens)
	if err != nil {
		return st, err
	}
	defer func() {
		ss.close()
		waitGoroutines(goroutines, 10*time.Second)
	}()
	st.conns = len(ss.transports)
	if measureRSS {
		rss1, err := settledRSS()
		if err != nil {
			return st, err
		}
		st.rssPerStream, st.rssOK = float64(rss1-rss0)/float64(len(tokens)), true
	}
	timeout := 10*time.Second + time.Duration(len(tokens))*time.Millisecond
	// One untimed round first: the memory the RSS reading gave back to the
	// OS is faulted in again here, not in the first timed round.
	if _, _, err := ss.pokeRound(ctx, fire, timeout); err != nil {
		return st, err
	}
	start := time.Now()
	for st.rounds < minPokeRounds || (st.rounds < maxPokeRounds && time.Since(start) < b.flags.duration) {
		lat, missed, err := ss.pokeRound(ctx, fire, timeout)
		if err != nil {
			return st, err
		}
		st.lat = append(st.lat, lat...)
		st.missed += missed
		st.rounds++
	}
	return st, nil
}

// waitGoroutines waits until at most n goroutines (plus a little slack)
// remain, so that one measurement does not count the last one's leftovers.
func waitGoroutines(n int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for runtime.NumGoroutine() > n+16 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// streamSet is a set of open Subscribe streams, each read by its own
// goroutine that times the pokes of the current round.
type streamSet struct {
	n          int
	scope      string // the scope whose head the pokes are timed by
	transports []*http.Transport
	cancel     context.CancelFunc
	wg         gosync.WaitGroup
	ready      chan error    // one per stream: nil on its first message, or why it ended before
	maxHead    atomic.Uint64 // highest head of scope any stream has seen

	mu    gosync.Mutex
	round *pokeRound
}

// pokeRound times one push's pokes.
type pokeRound struct {
	start  time.Time
	minSeq uint64 // a poke of the set's scope at or above this is the round's
	seen   []bool
	lat    latencies
	done   chan struct{} // closed when every stream has its poke
}

// openStreams opens a Subscribe stream per token, streamsPerConn to an h2c
// connection, and returns once every stream has received its first poke.
// Pokes are timed by the head of scope.
func openStreams(ctx context.Context, baseURL, scope string, tokens []string) (*streamSet, error) {
	sctx, cancel := context.WithCancel(ctx)
	n := len(tokens)
	ss := &streamSet{n: n, scope: scope, cancel: cancel, ready: make(chan error, n)}
	var clients []*syncClient
	for i := 0; i < n; i += streamsPerConn {
		tr := newBenchTransport("h2c")
		ss.transports = append(ss.transports, tr)
		clients = append(clients, newSyncClient(&http.Client{Transport: tr}, baseURL))
	}
	for from := 0; from < n; from += openChunk {
		to := min(from+openChunk, n)
		for i := from; i < to; i++ {
			stream, err := clients[i/streamsPerConn].Subscribe(sctx, tokens[i], &linliv1.SubscribeRequest{ProtocolVersion: 1})
			if err != nil {
				ss.close()
				return nil, fmt.Errorf("subscribe %d: %w", i, err)
			}
			ss.wg.Go(func() { ss.receive(i, stream) })
		}
		for i := from; i < to; i++ {
			var err error
			select {
			case err = <-ss.ready:
			case <-time.After(30 * time.Second):
				err = fmt.Errorf("streams %d to %d: no first poke within 30 s", from, to-1)
			case <-ctx.Done():
				err = ctx.Err()
			}
			if err != nil {
				ss.close()
				return nil, err
			}
		}
	}
	return ss, nil
}

// receive reads stream i until it ends.
func (ss *streamSet) receive(i int, stream *connect.ServerStreamForClient[linliv1.SubscribeResponse]) {
	defer stream.Close()
	first := true
	for stream.Receive() {
		now := time.Now()
		if first {
			first = false
			ss.ready <- nil
		}
		seq, ok := headOf(stream.Msg(), ss.scope)
		if !ok {
			continue
		}
		for cur := ss.maxHead.Load(); seq > cur && !ss.maxHead.CompareAndSwap(cur, seq); cur = ss.maxHead.Load() {
		}
		ss.mu.Lock()
		if r := ss.round; r != nil && seq >= r.minSeq && !r.seen[i] {
			r.seen[i] = true
			r.lat = append(r.lat, now.Sub(r.start))
			if len(r.lat) == ss.n {
				close(r.done)
			}
		}
		ss.mu.Unlock()
	}
	if first {
		err := stream.Err()
		if err == nil {
			err = errors.New("stream ended before its first message")
		}
		ss.ready <- fmt.Errorf("stream %d: %w", i, err)
	}
}

// headOf returns the head of scope in a poke.
func headOf(msg *linliv1.SubscribeResponse, scope string) (uint64, bool) {
	for _, h := range msg.GetPoke().GetHeads() {
		if h.GetScope() == scope {
			return h.GetSeq(), true
		}
	}
	return 0, false
}

// pokeRound calls fire and waits until every stream has seen its scope
// move past the highest head seen before, or timeout. It returns each
// stream's delay and how many streams missed the poke.
func (ss *streamSet) pokeRound(ctx context.Context, fire func(context.Context) error, timeout time.Duration) (latencies, int, error) {
	r := &pokeRound{minSeq: ss.maxHead.Load() + 1, seen: make([]bool, ss.n), done: make(chan struct{})}
	ss.mu.Lock()
	ss.round = r
	r.start = time.Now()
	ss.mu.Unlock()
	end := func() (latencies, int) {
		ss.mu.Lock()
		defer ss.mu.Unlock()
		ss.round = nil
		return r.lat, ss.n - len(r.lat)
	}
	if err := fire(ctx); err != nil {
		end()
		return nil, 0, err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-r.done:
	case <-t.C:
	case <-ctx.Done():
		end()
		return nil, 0, ctx.Err()
	}
	lat, missed := end()
	return lat, missed, nil
}

// close ends every stream and its connection and waits for the readers.
func (ss *streamSet) close() {
	ss.cancel()
	ss.wg.Wait()
	for _, tr := range ss.transports {
		tr.CloseIdleConnections()
	}
}
