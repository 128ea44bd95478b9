package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/linli/linli/cluster"
	"github.com/linli/linli/server"
)

// The cluster scenario is not part of "all": it starts three more servers
// and three NATS servers in this process, and is asked for by name
// (--scenarios push,catchup,cluster or --scenarios cluster).
const clusterScenario = "cluster"

// clusterNodes is how many nodes the cluster scenario runs.
const clusterNodes = 3

// benchCluster is three linli nodes of one cluster in this process, each
// with its NATS server inside, on loopback: the same code `linli serve
// --cluster` runs, without the processes.
type benchCluster struct {
	dir   string
	nodes []*benchNode
}

// benchNode is one node of the bench's cluster.
type benchNode struct {
	name    string
	node    *cluster.Node
	srv     *server.Server
	baseURL string
	stop    func() error
}

// startCluster starts the three nodes and waits until one of them writes.
func startCluster(ctx context.Context, log *slog.Logger) (*benchCluster, error) {
	dir, err := os.MkdirTemp("", "linli-bench-cluster-")
	if err != nil {
		return nil, fmt.Errorf("temp folder: %w", err)
	}
	c := &benchCluster{dir: dir}
	routes := make([]string, clusterNodes)
	for i := range routes {
		if routes[i], err = freeAddr(); err != nil {
			return nil, errors.Join(err, os.RemoveAll(dir))
		}
	}
	// The nodes wait for each other: start them at once.
	nodes := make([]*cluster.Node, clusterNodes)
	errs := make([]error, clusterNodes)
	lns := make([]net.Listener, clusterNodes)
	done := make(chan int, clusterNodes)
	for i := range clusterNodes {
		go func() {
			defer func() { done <- i }()
			if lns[i], errs[i] = net.Listen("tcp", "127.0.0.1:0"); errs[i] != nil {
				return
			}
			sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			nodes[i], errs[i] = cluster.Start(sctx, cluster.Config{
				Node: fmt.Sprintf("n%d", i+1), Advertise: "http://" + lns[i].Addr().String(), Logger: log,
				Embedded: cluster.Embedded{Dir: filepath.Join(dir, fmt.Sprintf("n%d", i+1), "nats"), Listen: routes[i], Routes: routes},
			})
		}()
	}
	for range clusterNodes {
		<-done
	}
	if err := errors.Join(errs...); err != nil {
		for i := range clusterNodes {
			if nodes[i] != nil {
				err = errors.Join(err, nodes[i].Close())
			}
			if lns[i] != nil {
				lns[i].Close()
			}
		}
		return nil, errors.Join(fmt.Errorf("start the cluster: %w", err), os.RemoveAll(dir))
	}
	unlimited := server.Limit{Rate: -1}
	for i, n := range nodes {
		srv, err := server.New(server.Config{
			DataDir: filepath.Join(dir, n.Name()), Logger: log, Cluster: n,
			RateLimits: server.RateLimits{Join: unlimited, Refresh: unlimited, Push: unlimited},
		})
		if err != nil {
			for _, ln := range lns[i:] {
				ln.Close()
			}
			for _, n := range nodes[i:] {
				err = errors.Join(err, n.Close())
			}
			return nil, errors.Join(err, c.close())
		}
		sctx, cancel := context.WithCancel(ctx)
		served := make(chan error, 1)
		go func() { served <- srv.Serve(sctx, lns[i]) }()
		c.nodes = append(c.nodes, &benchNode{
			name: n.Name(), node: n, srv: srv, baseURL: "http://" + lns[i].Addr().String(),
			stop: func() error {
				cancel()
				err := <-served
				return errors.Join(err, srv.Close(), n.Close())
			},
		})
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if _, _, err := c.nodes[0].node.WaitWriter(wctx); err != nil {
		return nil, errors.Join(fmt.Errorf("no writer: %w", err), c.close())
	}
	return c, nil
}

// writer returns the node that writes now, and one that does not.
func (c *benchCluster) writer(ctx context.Context) (w, f *benchNode, err error) {
	for _, n := range c.nodes {
		if n.node.Writable() == nil {
			w = n
		} else if f == nil {
			f = n
		}
	}
	if w == nil {
		return nil, nil, errors.New("no node writes")
	}
	return w, f, nil
}

func (c *benchCluster) close() error {
	var err error
	for _, n := range c.nodes {
		err = errors.Join(err, n.stop())
	}
	return errors.Join(err, os.RemoveAll(c.dir))
}

// freeAddr returns a loopback host:port nothing listens on (now).
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// clusterTarget is a benchTarget whose writes go to the cluster's writer:
// members are added through its store and signed with its keys (the other
// nodes fetch the key when they first meet it).
func (c *benchCluster) target(w *benchNode) *benchTarget {
	return &benchTarget{
		name: "cluster", baseURL: w.baseURL, community: benchCommunity, inProcess: true,
		svc: w.srv.Service(), tokens: w.srv.Tokens(), close: func() error { return nil },
	}
}

// cluster measures, in one run, pushes and a client's catch-up on the
// single node (the bench's target) and on a cluster of three nodes in this
// process: pushes sent to the writer, pushes sent to another node (which
// forwards them), how long the other nodes take to hold a load the writer
// acknowledged, and a catch-up pulled from a node that does not write.
func (b *bench) cluster(ctx context.Context) ([]benchResult, error) {
	if !b.target.inProcess {
		return nil, errors.New("the cluster scenario runs in process only (without --addr)")
	}
	b.progress("cluster: push on the single node, %d clients, %s", pushClients, b.flags.duration)
	members, err := b.members(ctx, b.target.community, pushClients)
	if err != nil {
		return nil, err
	}
	single, err := b.pushLoad(ctx, b.target.baseURL, members, 1, true)
	if err != nil {
		return nil, fmt.Errorf("single node push: %w", err)
	}
	n := min(b.flags.catchupEntities, 20_000)
	b.progress("cluster: catch-up of %d posts on the single node", n)
	singleCatchup, err := b.catchupOn(ctx, b.target, n)
	if err != nil {
		return nil, fmt.Errorf("single node catch-up: %w", err)
	}

	b.progress("cluster: starting %d nodes (NATS JetStream inside each, R3)", clusterNodes)
	t0 := time.Now()
	cl, err := startCluster(ctx, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, cl.close()) }()
	w, f, err := cl.writer(ctx)
	if err != nil {
		return nil, err
	}
	b.progress("cluster: %s writes, after %s", w.name, time.Since(t0).Round(time.Millisecond))
	tgt := cl.target(w)
	if err := tgt.createCommunity(ctx, benchCommunity); err != nil {
		return nil, err
	}
	cb := &bench{flags: b.flags, target: tgt, runID: b.runID, progress: b.progress, pools: map[string][]*pushClient{}}
	cmembers, err := cb.members(ctx, benchCommunity, pushClients)
	if err != nil {
		return nil, err
	}
	var rows []benchResult
	for _, to := range []*benchNode{w, f} {
		via := "the writer"
		if to != w {
			via = "a node that forwards to the writer"
		}
		b.progress("cluster: push to %s (%s), %d clients, %s", to.name, via, pushClients, b.flags.duration)
		st0 := w.node.Stats()
		run, err := cb.pushLoad(ctx, to.baseURL, cmembers, 1, true)
		if err != nil {
			return nil, fmt.Errorf("cluster push to %s: %w", to.name, err)
		}
		st := w.node.Stats()
		appends := st.Commits - st0.Commits
		scenario, name := "cluster-push", "push to the writer"
		if to != w {
			scenario, name = "cluster-forward", "push to a node that forwards it to the writer"
		}
		r := newResult(scenario, "pushes/s", run.perSecond(1), "single-node pushes/s", single.perSecond(1))
		r.CPUPerOp, r.BaselineCPUPerOp = cpuPer(run.cpu, run.ops), cpuPer(single.cpu, single.ops)
		var appendMean time.Duration
		if appends > 0 {
			appendMean = (st.CommitTime - st0.CommitTime) / time.Duration(appends)
		}
		r.Notes = fmt.Sprintf("%s: %d clients, 1 mutation per push, 3 nodes, R3; p50 %s, p99 %s (single node p50 %s, p99 %s); %d appends to the log, %.1f pushes each, mean append %s",
			name, pushClients, fmtMS(run.lat.percentile(50)), fmtMS(run.lat.percentile(99)),
			fmtMS(single.lat.percentile(50)), fmtMS(single.lat.percentile(99)),
			appends, float64(run.ops)/float64(max(appends, 1)), fmtMS(appendMean))
		r.Extra["p50_ms"], r.Extra["p99_ms"] = ms(run.lat.percentile(50)), ms(run.lat.percentile(99))
		r.Extra["appends"], r.Extra["append_mean_ms"] = float64(appends), ms(appendMean)
		rows = append(rows, r)
	}

	b.progress("cluster: catch-up of %d posts from %s, which does not write", n, f.name)
	tgt.baseURL = f.baseURL // the catch-up reads from a node that does not write
	cc, err := cb.catchupOnFrom(ctx, tgt, w.baseURL, n, cl)
	if err != nil {
		return nil, fmt.Errorf("cluster catch-up: %w", err)
	}
	r := newResult("cluster-catchup", "changes/s", cc.perSec, "single-node changes/s", singleCatchup.perSec)
	r.CPUPerOp, r.BaselineCPUPerOp = cc.cpuPer, singleCatchup.cpuPer
	r.Notes = fmt.Sprintf("catch-up from a node that does not write: %d changes in %s (single node %s); the load of %d posts through the writer took %s (single node %s), and the last node held it %s after the writer acknowledged it",
		cc.changes, fmtMS(cc.took), fmtMS(singleCatchup.took), n, cc.load.Round(time.Millisecond), singleCatchup.load.Round(time.Millisecond), fmtMS(cc.lag))
	r.Extra["catchup_ms"], r.Extra["single_catchup_ms"] = ms(cc.took), ms(singleCatchup.took)
	r.Extra["load_s"], r.Extra["single_load_s"], r.Extra["replication_lag_ms"] = cc.load.Seconds(), singleCatchup.load.Seconds(), ms(cc.lag)
	rows = append(rows, r)
	return rows, nil
}

// catchupRun is one load and catch-up of the cluster scenario.
type catchupRun struct {
	changes int
	load    time.Duration // pushing the posts, acknowledged
	lag     time.Duration // then until every node held them (cluster only)
	took    time.Duration // one client catch-up from an empty store
	perSec  float64
	cpuPer  *float64
}

// catchupOn loads n posts into a new community of tgt and times one
// client's catch-up of it.
func (b *bench) catchupOn(ctx context.Context, tgt *benchTarget, n int) (catchupRun, error) {
	return b.catchupOnFrom(ctx, tgt, tgt.baseURL, n, nil)
}

// catchupOnFrom loads n posts into a new community through writeURL, waits
// (in a cluster) until every node holds them, and times one client's
// catch-up from tgt.baseURL.
func (b *bench) catchupOnFrom(ctx context.Context, tgt *benchTarget, writeURL string, n int, cl *benchCluster) (catchupRun, error) {
	var run catchupRun
	saved := b.target
	b.target = tgt
	defer func() { b.target = saved }()
	community, err := tgt.newCommunity(ctx, "bench-"+b.runID+"-cluster")
	if err != nil {
		return run, err
	}
	members, err := b.members(ctx, community, catchupLoaders+1)
	if err != nil {
		return run, err
	}
	loaders, reader := members[:catchupLoaders], members[catchupLoaders]
	tr := newBenchTransport(b.flags.protocol)
	defer tr.CloseIdleConnections()
	start := time.Now()
	if err := loadCommunity(ctx, newSyncClient(&http.Client{Transport: tr}, writeURL), loaders, n); err != nil {
		return run, fmt.Errorf("load: %w", err)
	}
	run.load = time.Since(start)
	if cl != nil {
		t0 := time.Now()
		for _, node := range cl.nodes {
			if err := node.node.Barrier(ctx); err != nil {
				return run, fmt.Errorf("%s: wait for the log: %w", node.name, err)
			}
		}
		run.lag = time.Since(t0)
	}
	var took, cpu time.Duration
	run.changes, _, took, cpu, err = catchupClient(ctx, &http.Client{Transport: tr}, tgt.baseURL, reader.token)
	if err != nil {
		return run, err
	}
	if run.changes < n {
		return run, fmt.Errorf("catch-up from an empty store received %d changes, want at least %d", run.changes, n)
	}
	run.took, run.perSec, run.cpuPer = took, float64(run.changes)/took.Seconds(), cpuPer(cpu, run.changes)
	return run, nil
}
