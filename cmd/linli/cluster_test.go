package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server"
)

// TestClusterChaos runs three real `linli serve --cluster` processes, each
// with its NATS server inside, on loopback; 32 residents push to all of
// them (each request to a node picked at random) and follow their feed
// with one cursor across nodes, while the test
//
//   - cuts the writer off from the other nodes (every NATS route of it goes
//     through a proxy the test closes) and heals it;
//   - SIGKILLs the writer again and again (LINLI_CLUSTER_KILLS times, 20 in
//     the full run; 3 by default; skipped in -short unless the variable is
//     set) and restarts it, timing how long the cluster was without a
//     writer;
//   - SIGKILLs a node that does not write, and restarts it;
//   - deletes a node's data folder and restarts it: it rebuilds its store
//     from the log.
//
// Then every resident re-pushes what it has in doubt, and the test checks:
//   - every acknowledged mutation is present exactly once on every node
//     (its post in the community's and the author's scope, every id up to
//     the client's last acknowledged counted in its client state, no
//     mutation refused as a gap or applied twice: a re-pushed id always
//     comes back APPLIED, its stored outcome);
//   - no two nodes accepted conflicting mutations: every node's store is the
//     same byte for byte at the same log position (digests);
//   - every scope's feed is gap-free and identical across nodes (pulled from
//     zero in small pages on each node, compared entry by entry);
//   - a resident following one cursor across nodes never saw a change twice
//     or out of order and, caught up, holds exactly what a fresh pull holds.
//
// It is not parallel: it wants the two cores.
func TestClusterChaos(t *testing.T) {
	kills := 3
	v := os.Getenv("LINLI_CLUSTER_KILLS")
	if testing.Short() && v == "" {
		t.Skip("runs three linli processes for a minute or two; LINLI_CLUSTER_KILLS=20 runs the full test")
	}
	if v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("LINLI_CLUSTER_KILLS=%q: want a positive count", v)
		}
		kills = n
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %d writer kills", seed, kills)
	rng := rand.New(rand.NewPCG(seed, 0x636c7573746572))

	bin := crashBuildLinli(t)
	hc := crashHTTPClient(t)
	hc.Timeout = 20 * time.Second
	cl := startTestCluster(t, bin, hc)

	admin := cl.joinAdmin(t)
	code := cl.prepare(t, admin)
	clients := make([]*clusterClient, clusterUsers)
	for i := range clients {
		clients[i] = cl.joinResident(t, code, i, rand.New(rand.NewPCG(seed, uint64(i)+1)))
	}

	// The load: every resident pushes and pulls until stop.
	loadCtx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() { c.run(loadCtx, t, cl) })
	}
	time.Sleep(2 * time.Second)

	var failovers []time.Duration
	// A cut: the writer loses every route to the others.
	{
		w := cl.waitWriter(t, nil)
		start := time.Now()
		cl.cut(w)
		nw := cl.waitWriter(t, w)
		failovers = append(failovers, time.Since(start))
		t.Logf("cut %s off: %s writes after %v", w.name, nw.name, time.Since(start).Round(time.Millisecond))
		time.Sleep(2 * time.Second) // pushes reach the cut node meanwhile
		cl.heal(w)
		cl.waitCaughtUp(t)
		t.Logf("healed %s: caught up", w.name)
	}
	// The writer killed again and again; once, a node that does not write.
	for k := 1; k <= kills; k++ {
		time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
		w := cl.waitWriter(t, nil)
		start := time.Now()
		w.kill(t)
		nw := cl.waitWriter(t, w)
		failovers = append(failovers, time.Since(start))
		t.Logf("kill %d: SIGKILLed writer %s; %s writes after %v", k, w.name, nw.name, time.Since(start).Round(time.Millisecond))
		w.start(t)
		if k == (kills+1)/2 {
			f := cl.follower(t)
			f.kill(t)
			time.Sleep(500 * time.Millisecond)
			f.start(t)
			t.Logf("SIGKILLed %s, which did not write, and restarted it", f.name)
		}
	}
	// A node loses its data folder and rebuilds from the log.
	{
		f := cl.follower(t)
		f.kill(t)
		if err := os.RemoveAll(f.data); err != nil {
			t.Fatal(err)
		}
		f.start(t)
		t.Logf("deleted %s's data folder and restarted it", f.name)
	}
	time.Sleep(time.Second)
	stop()
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// Every resident re-pushes what it has in doubt, as an app does.
	for _, c := range clients {
		c.settle(t, cl)
	}
	cl.waitCaughtUp(t)
	acked, pushes, doubts := 0, 0, 0
	for _, c := range clients {
		acked += int(c.acked)
		pushes += c.pushes
		doubts += c.doubts
	}
	slices.Sort(failovers)
	t.Logf("%d mutations acknowledged in %d pushes (%d in doubt at some point, re-pushed); %d writer kills, 1 cut; time without a writer: min %v, median %v, max %v",
		acked, pushes, doubts, kills, failovers[0].Round(time.Millisecond),
		failovers[len(failovers)/2].Round(time.Millisecond), failovers[len(failovers)-1].Round(time.Millisecond))

	cl.checkDigests(t)
	cl.checkFeeds(t, admin, clients)
}

const clusterUsers = 32

// testCluster is three linli processes and the proxies their NATS routes
// go through.
type testCluster struct {
	hc      *http.Client
	nodes   []*clusterProcess
	proxies map[[2]int]*tcpProxy // [from, to]: node from's route to node to
	cutOff  *clusterProcess      // the node cut off from the others, if any
}

// clusterProcess is one `linli serve --cluster` process, restarted at will.
type clusterProcess struct {
	i       int
	name    string
	api     string // host:port
	data    string
	args    []string
	logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func startTestCluster(t *testing.T, bin string, hc *http.Client) *testCluster {
	t.Helper()
	cl := &testCluster{hc: hc, proxies: map[[2]int]*tcpProxy{}}
	const n = 3
	routes := make([]string, n)
	for i := range routes {
		routes[i] = crashFreeAddr(t)
	}
	for from := range n {
		for to := range n {
			if from != to {
				cl.proxies[[2]int{from, to}] = newTCPProxy(t, routes[to])
			}
		}
	}
	logDir := t.TempDir()
	for i := range n {
		var via []string
		for to := range n {
			if to != i {
				via = append(via, cl.proxies[[2]int{i, to}].addr())
			}
		}
		p := &clusterProcess{
			i: i, name: fmt.Sprintf("n%d", i+1), api: crashFreeAddr(t), data: filepath.Join(t.TempDir(), "data"),
			logPath: filepath.Join(logDir, fmt.Sprintf("n%d.log", i+1)),
		}
		p.args = []string{"serve", "--listen", p.api, "--data", p.data,
			"--join-rate", "-1", "--refresh-rate", "-1", "--push-rate", "-1",
			"--cluster", "--cluster-node", p.name, "--cluster-listen", routes[i],
			"--cluster-routes", strings.Join(via, ","),
			// Every route goes through the proxies: no node is told another's
			// real address (nothing listens on port 1).
			"--cluster-route-advertise", "127.0.0.1:1",
			"--cluster-lease", "2s",
			"--init-community", crashCommunity, "--init-name", "玉桥社区",
		}
		p.binary(bin)
		cl.nodes = append(cl.nodes, p)
	}
	var wg sync.WaitGroup
	for _, p := range cl.nodes {
		wg.Go(func() { p.start(t) })
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, p := range cl.nodes {
			p.kill(t)
			if t.Failed() {
				t.Logf("log of %s:\n%s", p.name, crashLogTail(p.logPath, 6<<10))
			}
		}
	})
	return cl
}

func (p *clusterProcess) binary(bin string) { p.args = append([]string{bin}, p.args...) }

// start starts the process and waits until it answers /readyz.
func (p *clusterProcess) start(t *testing.T) {
	t.Helper()
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Error(err)
		return
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "\n=== start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Errorf("start %s: %v", p.name, err)
		return
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			t.Errorf("%s exited while starting:\n%s", p.name, crashLogTail(p.logPath, 4<<10))
			return
		default:
		}
		if ready(p.api) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("%s not ready within 90 s:\n%s", p.name, crashLogTail(p.logPath, 4<<10))
}

func ready(api string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+api+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// kill SIGKILLs the process (if running) and waits for it to exit.
func (p *clusterProcess) kill(t *testing.T) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

func (p *clusterProcess) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

func (p *clusterProcess) url() string { return "http://" + p.api }

// status asks the process for its cluster status.
func (p *clusterProcess) status(hc *http.Client, digest bool) (server.ClusterStatus, error) {
	var st server.ClusterStatus
	u := p.url() + server.ClusterPath
	if digest {
		u += "?digest=1"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := hc.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return st, fmt.Errorf("%s: %s", resp.Status, b)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// waitWriter waits until a running node other than not says it writes.
func (cl *testCluster) waitWriter(t *testing.T, not *clusterProcess) *clusterProcess {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		for _, p := range cl.nodes {
			if p == not || !p.running() || cl.isCut(p) {
				continue
			}
			if st, err := p.status(cl.hc, false); err == nil && st.Writer {
				return p
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no writer within 60 s")
	return nil
}

// follower returns a running node that does not write.
func (cl *testCluster) follower(t *testing.T) *clusterProcess {
	t.Helper()
	w := cl.waitWriter(t, nil)
	for _, p := range cl.nodes {
		if p != w && p.running() {
			return p
		}
	}
	t.Fatal("no follower")
	return nil
}

// waitCaughtUp waits until every node holds the log up to the same
// position, the writer's.
func (cl *testCluster) waitCaughtUp(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		var pos []uint64
		ok := true
		for _, p := range cl.nodes {
			st, err := p.status(cl.hc, false)
			if err != nil {
				ok = false
				last = err.Error()
				break
			}
			pos = append(pos, st.Position)
		}
		if ok {
			if pos[0] > 0 && pos[0] == pos[1] && pos[1] == pos[2] {
				return
			}
			last = fmt.Sprint(pos)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("nodes did not catch up within 90 s: %s", last)
}

// cut closes every route of p's and refuses new ones; heal lets them be.
// One node at a time is cut off.
func (cl *testCluster) cut(p *clusterProcess) {
	cl.setCut(p, true)
	cl.cutOff = p
}

func (cl *testCluster) heal(p *clusterProcess) {
	cl.setCut(p, false)
	cl.cutOff = nil
}

func (cl *testCluster) setCut(p *clusterProcess, cut bool) {
	for k, px := range cl.proxies {
		if k[0] == p.i || k[1] == p.i {
			px.setCut(cut)
		}
	}
}

// isCut reports whether p is the node cut off from the others (the
// others, which lost only their routes to p, still reach each other).
func (cl *testCluster) isCut(p *clusterProcess) bool { return cl.cutOff == p }

// node returns a node for a request: any running one, at random.
func (cl *testCluster) node(rng *rand.Rand) *clusterProcess {
	for {
		p := cl.nodes[rng.IntN(len(cl.nodes))]
		if p.running() {
			return p
		}
	}
}

var adminCodeRE = regexp.MustCompile(`(?m)^  ([0-9A-Z]{20})$`)

// joinAdmin finds the first community's admin code in the log of the node
// that made it, and joins with it.
func (cl *testCluster) joinAdmin(t *testing.T) *clusterClient {
	t.Helper()
	var code string
	deadline := time.Now().Add(60 * time.Second)
	for code == "" && time.Now().Before(deadline) {
		for _, p := range cl.nodes {
			b, _ := os.ReadFile(p.logPath)
			if m := adminCodeRE.FindSubmatch(b); m != nil {
				code = string(m[1])
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code == "" {
		t.Fatal("no admin code printed by any node")
	}
	auth := linliv1connect.NewAuthServiceClient(cl.hc, cl.nodes[0].url())
	resp, err := auth.Join(t.Context(), &linliv1.JoinRequest{ProtocolVersion: 1, Code: code, ClientId: "laptop", DisplayName: "管理员"})
	if err != nil {
		t.Fatalf("admin join: %v", err)
	}
	return &clusterClient{name: "admin", user: resp.GetMember().GetUserId(), token: resp.GetTokens().GetAccessToken(), seen: map[string]uint64{}, state: map[string]map[string][]byte{}}
}

// prepare makes the building and the residents' join code, through the
// API of nodes that do not write (forwarded to the writer).
func (cl *testCluster) prepare(t *testing.T, admin *clusterClient) string {
	t.Helper()
	ctx := admin.authContext(t.Context())
	com := linliv1connect.NewCommunityServiceClient(cl.hc, cl.nodes[1].url())
	if _, err := com.CreateBuilding(ctx, &linliv1.CreateBuildingRequest{ProtocolVersion: 1, CommunityId: crashCommunity, Building: &linliv1.Building{
		Id: crashBuilding, CommunityId: crashCommunity, Name: "1号楼", DropPoints: []string{"15楼电梯口窗台"},
	}}); err != nil {
		t.Fatalf("create building: %v", err)
	}
	resp, err := linliv1connect.NewCommunityServiceClient(cl.hc, cl.nodes[2].url()).CreateJoinCode(ctx, &linliv1.CreateJoinCodeRequest{
		ProtocolVersion: 1, CommunityId: crashCommunity, BuildingId: crashBuilding, MaxUses: 64,
	})
	if err != nil {
		t.Fatalf("create join code: %v", err)
	}
	return resp.GetCode()
}

func (cl *testCluster) joinResident(t *testing.T, code string, i int, rng *rand.Rand) *clusterClient {
	t.Helper()
	auth := linliv1connect.NewAuthServiceClient(cl.hc, cl.node(rng).url())
	resp, err := auth.Join(t.Context(), &linliv1.JoinRequest{
		ProtocolVersion: 1, Code: code, ClientId: crashClientID, DisplayName: fmt.Sprintf("邻居%d", i), BuildingId: crashBuilding,
	})
	if err != nil {
		t.Fatalf("resident %d: join: %v", i, err)
	}
	return &clusterClient{
		name: fmt.Sprintf("c%d", i), user: resp.GetMember().GetUserId(), token: resp.GetTokens().GetAccessToken(),
		rng: rng, seen: map[string]uint64{}, state: map[string]map[string][]byte{},
	}
}

// clusterClient is one resident's phone: a queue of offers it pushes with
// consecutive ids, and one cursor it follows across nodes.
type clusterClient struct {
	name, user, token string
	rng               *rand.Rand

	acked   uint64              // mutations 1..acked were answered APPLIED
	inDoubt []*linliv1.Mutation // the batch whose push failed, to send again
	pushes  int
	doubts  int

	cursor string
	seen   map[string]uint64            // scope → the last seq the cursor delivered
	state  map[string]map[string][]byte // scope → entity → entity bytes, as followed
}

func (c *clusterClient) authContext(ctx context.Context) context.Context {
	ctx, info := connect.NewClientContext(ctx)
	info.RequestHeader().Set("Authorization", "Bearer "+c.token)
	return ctx
}

// run pushes offers and follows the feed, each call to a node at random,
// until ctx ends. Failures a client must expect while nodes die (a push
// whose answer never came, a node that cannot reach the writer) leave the
// batch in doubt: it is sent again, unchanged.
func (c *clusterClient) run(ctx context.Context, t *testing.T, cl *testCluster) {
	for ctx.Err() == nil {
		if c.inDoubt == nil {
			n := 1 + c.rng.IntN(3)
			for i := range n {
				id := c.acked + 1 + uint64(i)
				c.inDoubt = append(c.inDoubt, &linliv1.Mutation{Id: id, ClientTime: timestamppb.Now(),
					Kind: &linliv1.Mutation_PostOffer{PostOffer: &linliv1.PostOfferMutation{PostId: crashPostID(c.name, id), Draft: crashDraft()}}})
			}
		}
		if err := c.push(ctx, cl.node(c.rng)); err != nil {
			if !expectedFailure(err) {
				t.Errorf("%s: push: %v (detail %v)", c.name, err, crashErrorDetail(err))
				return
			}
			c.doubts++
			sleepCtx(ctx, time.Duration(50+c.rng.IntN(200))*time.Millisecond)
			continue
		}
		if c.rng.IntN(3) == 0 {
			if err := c.follow(ctx, cl.node(c.rng), 50); err != nil && !expectedFailure(err) {
				t.Errorf("%s: pull: %v", c.name, err)
				return
			}
		}
		sleepCtx(ctx, time.Duration(5+c.rng.IntN(40))*time.Millisecond)
	}
}

// push sends the batch in doubt; every result must be APPLIED, whether
// applied now or answered from its stored outcome.
func (c *clusterClient) push(ctx context.Context, p *clusterProcess) error {
	api := linliv1connect.NewSyncServiceClient(sharedHC, p.url())
	c.pushes++
	resp, err := api.Push(c.authContext(ctx), &linliv1.PushRequest{ProtocolVersion: 1, ClientId: crashClientID, Mutations: c.inDoubt})
	if err != nil {
		return err
	}
	last := c.inDoubt[len(c.inDoubt)-1].GetId()
	if resp.GetLastMutationId() != last || len(resp.GetResults()) != len(c.inDoubt) {
		return fmt.Errorf("push of %d..%d: last_mutation_id %d, %d results", c.inDoubt[0].GetId(), last, resp.GetLastMutationId(), len(resp.GetResults()))
	}
	for i, r := range resp.GetResults() {
		if r.GetId() != c.inDoubt[i].GetId() || r.GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_APPLIED {
			return fmt.Errorf("push of %d..%d: result %d = %v, want APPLIED", c.inDoubt[0].GetId(), last, i, r)
		}
	}
	c.acked, c.inDoubt = last, nil
	return nil
}

// follow pulls from p with the client's one cursor until caught up,
// checking that no change comes twice or out of order and that no scope
// resets.
func (c *clusterClient) follow(ctx context.Context, p *clusterProcess, pageSize uint32) error {
	api := linliv1connect.NewSyncServiceClient(sharedHC, p.url())
	for {
		resp, err := api.Pull(c.authContext(ctx), &linliv1.PullRequest{ProtocolVersion: 1, Cursor: c.cursor, MaxChanges: pageSize})
		if err != nil {
			return err
		}
		if len(resp.GetResets()) > 0 || len(resp.GetDroppedScopes()) > 0 {
			return fmt.Errorf("pull on %s: resets %v, dropped %v: a cursor must mean the same on every node", p.name, resp.GetResets(), resp.GetDroppedScopes())
		}
		for _, ch := range resp.GetChanges() {
			if ch.GetSeq() <= c.seen[ch.GetScope()] {
				return fmt.Errorf("pull on %s: %s seq %d after %d: a change repeated or out of order", p.name, ch.GetScope(), ch.GetSeq(), c.seen[ch.GetScope()])
			}
			c.seen[ch.GetScope()] = ch.GetSeq()
			c.apply(ch)
		}
		c.cursor = resp.GetCursor()
		if !resp.GetHasMore() {
			return nil
		}
	}
}

func (c *clusterClient) apply(ch *linliv1.Change) {
	m := c.state[ch.GetScope()]
	if m == nil {
		m = map[string][]byte{}
		c.state[ch.GetScope()] = m
	}
	if ch.GetDeleted() {
		delete(m, ch.GetEntityId())
		return
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(ch.GetEntity())
	m[ch.GetEntityId()] = b
}

// settle re-pushes the batch in doubt until it is answered.
func (c *clusterClient) settle(t *testing.T, cl *testCluster) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for c.inDoubt != nil {
		err := c.push(t.Context(), cl.node(c.rng))
		if err == nil {
			return
		}
		if !expectedFailure(err) || time.Now().After(deadline) {
			t.Fatalf("%s: re-push of %d..: %v", c.name, c.inDoubt[0].GetId(), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// expectedFailure reports whether err is what a client meets while nodes
// die or change roles: it sends the same batch again.
func expectedFailure(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded, connect.CodeCanceled, connect.CodeUnknown:
		return true
	case connect.CodeInternal:
		// A connection cut mid-answer surfaces as a protocol error.
		return !strings.Contains(err.Error(), "internal error")
	}
	return false
}

// checkDigests checks that every node's store is the same, byte for byte,
// at the same log position.
func (cl *testCluster) checkDigests(t *testing.T) {
	t.Helper()
	var first server.ClusterStatus
	for i, p := range cl.nodes {
		st, err := p.status(cl.hc, true)
		if err != nil {
			t.Fatalf("%s: status: %v", p.name, err)
		}
		if i == 0 {
			first = st
			continue
		}
		if st.DigestAt != first.DigestAt || st.Digest != first.Digest {
			t.Errorf("%s's store %s at %d, %s's %s at %d: the nodes diverged", p.name, st.Digest, st.DigestAt, cl.nodes[0].name, first.Digest, first.DigestAt)
		}
	}
	t.Logf("every node's store: digest %.16s… at log position %d", first.Digest, first.DigestAt)
}

// checkFeeds checks every scope's feed, pulled from zero on every node,
// against the other nodes', the acknowledged mutations and what each
// resident followed.
func (cl *testCluster) checkFeeds(t *testing.T, admin *clusterClient, clients []*clusterClient) {
	t.Helper()
	ctx := t.Context()
	pullAll := func(c *clusterClient, p *clusterProcess) []string {
		api := linliv1connect.NewSyncServiceClient(cl.hc, p.url())
		var (
			out    []string
			cursor string
			last   = map[string]uint64{}
		)
		for {
			resp, err := api.Pull(c.authContext(ctx), &linliv1.PullRequest{ProtocolVersion: 1, Cursor: cursor, MaxChanges: 37})
			if err != nil {
				t.Fatalf("%s: pull from %s: %v", c.name, p.name, err)
			}
			for _, ch := range resp.GetChanges() {
				if ch.GetSeq() <= last[ch.GetScope()] {
					t.Fatalf("%s on %s: %s seq %d after %d", c.name, p.name, ch.GetScope(), ch.GetSeq(), last[ch.GetScope()])
				}
				last[ch.GetScope()] = ch.GetSeq()
				b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(ch)
				out = append(out, string(b))
			}
			cursor = resp.GetCursor()
			if !resp.GetHasMore() {
				return out
			}
		}
	}
	// The staff scope and the community's, as the admin reads them: the
	// same entries, in the same order, on every node.
	want := pullAll(admin, cl.nodes[0])
	for _, p := range cl.nodes[1:] {
		if got := pullAll(admin, p); !slices.Equal(got, want) {
			t.Fatalf("the admin's feed on %s (%d entries) differs from %s's (%d)", p.name, len(got), cl.nodes[0].name, len(want))
		}
	}
	posts := map[string]int{}
	for _, e := range want {
		var ch linliv1.Change
		if err := proto.Unmarshal([]byte(e), &ch); err != nil {
			t.Fatal(err)
		}
		if ch.GetScope() == "community/"+crashCommunity && strings.HasPrefix(ch.GetEntityId(), "post/") && !ch.GetDeleted() {
			posts[strings.TrimPrefix(ch.GetEntityId(), "post/"+crashCommunity+"/")]++
		}
	}
	for _, c := range clients {
		for id := uint64(1); id <= c.acked; id++ {
			if n := posts[crashPostID(c.name, id)]; n != 1 {
				t.Errorf("%s's mutation %d (acknowledged): its post is in the community's feed %d times, want once", c.name, id, n)
			}
		}
		// Nothing beyond what was acknowledged (everything in doubt was re-pushed).
		if n := posts[crashPostID(c.name, c.acked+1)]; n != 0 {
			t.Errorf("%s's mutation %d was never acknowledged, yet its post is there", c.name, c.acked+1)
		}
		// Its own feed: identical on every node; and its followed cursor,
		// caught up, holds exactly what a pull from zero holds.
		first := pullAll(c, cl.nodes[0])
		for _, p := range cl.nodes[1:] {
			if got := pullAll(c, p); !slices.Equal(got, first) {
				t.Fatalf("%s's feed on %s differs from %s's", c.name, p.name, cl.nodes[0].name)
			}
		}
		if err := c.follow(ctx, cl.node(c.rng), 1000); err != nil {
			t.Fatalf("%s: final follow: %v", c.name, err)
		}
		fresh := &clusterClient{name: c.name, token: c.token, seen: map[string]uint64{}, state: map[string]map[string][]byte{}}
		if err := fresh.follow(ctx, cl.nodes[0], 1000); err != nil {
			t.Fatal(err)
		}
		for sc, m := range fresh.state {
			for id, v := range m {
				if !bytes.Equal(c.state[sc][id], v) {
					t.Errorf("%s: %s in %s: followed %q, fresh pull %q: a change was missed", c.name, id, sc, c.state[sc][id], v)
				}
			}
			if len(c.state[sc]) != len(m) {
				t.Errorf("%s: %d entities followed in %s, %d in a fresh pull", c.name, len(c.state[sc]), sc, len(m))
			}
		}
		var cs linliv1.ClientState
		found := false
		for id, v := range fresh.state["user/"+c.user] {
			if id == "client/"+c.user+"/"+crashClientID {
				var e linliv1.Entity
				if err := proto.Unmarshal(v, &e); err != nil {
					t.Fatal(err)
				}
				cs, found = *e.GetClientState(), true
			}
		}
		if !found || cs.GetLastMutationId() != c.acked {
			t.Errorf("%s: client state last_mutation_id %d (found %v), want %d acknowledged", c.name, cs.GetLastMutationId(), found, c.acked)
		}
	}
	t.Logf("feeds: %d entries in the admin's scopes, identical on the three nodes; %d residents' feeds identical and followed without a miss or repeat", len(want), len(clients))
}

// sharedHC is the residents' HTTP client (many connections to each node).
var sharedHC = &http.Client{
	Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: clusterUsers,
		IdleConnTimeout:     30 * time.Second,
	},
	Timeout: 20 * time.Second,
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// tcpProxy forwards connections to target until cut: then it closes every
// connection it carries and refuses new ones until healed.
type tcpProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   atomic.Bool
	conns map[net.Conn]struct{}
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.setCut(true) })
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.cut.Load() {
			in.Close()
			continue
		}
		out, err := net.DialTimeout("tcp", p.target, time.Second)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns[in], p.conns[out] = struct{}{}, struct{}{}
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}
		go pipe(in, out)
		go pipe(out, in)
	}
}

func (p *tcpProxy) setCut(cut bool) {
	p.cut.Store(cut)
	if !cut {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}
