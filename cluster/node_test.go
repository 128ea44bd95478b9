package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	linlisync "github.com/linli/linli/sync"
)

// testNode is one node of an in-process cluster: its NATS server, Node and
// store.
type testNode struct {
	name  string
	dir   string
	emb   Embedded
	node  *Node
	store *linlisync.Store
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startCluster starts n nodes in this process, each with an embedded NATS
// server, and waits until one is the writer.
func startCluster(t *testing.T, count int) []*testNode {
	t.Helper()
	routes := make([]string, count)
	for i := range routes {
		routes[i] = freePort(t)
	}
	nodes := make([]*testNode, count)
	for i := range nodes {
		dir := t.TempDir()
		nodes[i] = &testNode{name: fmt.Sprintf("n%d", i+1), dir: dir, emb: Embedded{
			Dir: filepath.Join(dir, "nats"), Listen: routes[i], Routes: routes,
		}}
	}
	var wg sync.WaitGroup
	for _, tn := range nodes {
		wg.Go(func() { tn.start(t) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	waitWriter(t, nodes)
	return nodes
}

func (tn *testNode) start(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	node, err := Start(ctx, Config{
		Node: tn.name, Advertise: "http://" + tn.name, Embedded: tn.emb,
		// The default lease: a shorter one expires under -race on a busy
		// machine, and the writer changes under the test's feet.
		Lease: 3 * time.Second,
	})
	if err != nil {
		t.Errorf("start %s: %v", tn.name, err)
		return
	}
	epoch := node.Epoch()
	store, err := linlisync.Open(filepath.Join(tn.dir, "store"), linlisync.Options{
		Replica: node, Epoch: &epoch, DropInterval: -1,
	})
	if err != nil {
		node.Close()
		t.Errorf("open store of %s: %v", tn.name, err)
		return
	}
	node.Run(context.Background(), store)
	tn.node, tn.store = node, store
	t.Cleanup(tn.stop)
}

func (tn *testNode) stop() {
	if tn.node == nil {
		return
	}
	tn.store.Close()
	tn.node.Close()
	tn.node, tn.store = nil, nil
}

// waitWriter waits until one running node is the writer, and returns it.
func waitWriter(t *testing.T, nodes []*testNode) *testNode {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, tn := range nodes {
			if tn.node != nil && tn.node.Writable() == nil {
				return tn
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no writer within 30 s")
	return nil
}

// waitSame waits until every running node's store holds the log up to the
// same position, and checks that their stores are then the same byte for
// byte. The log may still grow meanwhile (a new writer's fencing mark):
// it compares again until the positions agree.
func waitSame(t *testing.T, nodes []*testNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var last string
	for ctx.Err() == nil {
		type view struct {
			name   string
			digest [32]byte
			pos    uint64
		}
		var views []view
		for _, tn := range nodes {
			if tn.node == nil {
				continue
			}
			d, pos, err := tn.store.Digest(ctx)
			if err != nil {
				t.Fatal(err)
			}
			views = append(views, view{tn.name, d, pos})
		}
		same := views[0].pos > 0
		for _, v := range views[1:] {
			if v.pos != views[0].pos {
				same = false
				last = fmt.Sprintf("%s at %d, %s at %d", v.name, v.pos, views[0].name, views[0].pos)
			}
		}
		if same {
			for _, v := range views[1:] {
				if v.digest != views[0].digest {
					t.Fatalf("%s's store differs from %s's at log position %d: digest %x, %x", v.name, views[0].name, v.pos, v.digest[:8], views[0].digest[:8])
				}
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the nodes did not reach the same log position within 30 s: %s", last)
}

func put(id uint64, entity, value string, scopes ...string) linlisync.Mutation {
	return linlisync.Mutation{ID: id, Name: "put", Apply: func(tx *linlisync.Tx) error {
		views := map[string][]byte{}
		for _, sc := range scopes {
			views[sc] = []byte(value)
		}
		return tx.Put(entity, []byte(value), views)
	}}
}

func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three NATS servers")
	}
	nodes := startCluster(t, 3)
	ctx := context.Background()
	alice := linlisync.ClientID{User: "alice", Client: "phone"}

	w := waitWriter(t, nodes)
	for i := range uint64(20) {
		if _, _, err := w.store.Push(ctx, alice, []linlisync.Mutation{put(i+1, fmt.Sprintf("post/%d", i), "v", "community/c1", "user/alice")}); err != nil {
			t.Fatalf("push %d: %v", i+1, err)
		}
	}
	// A big group goes in parts.
	big := make([]byte, 3<<20)
	if _, _, err := w.store.Push(ctx, alice, []linlisync.Mutation{put(21, "post/big", string(big), "community/c1")}); err != nil {
		t.Fatalf("big push: %v", err)
	}
	waitSame(t, nodes)

	t.Run("FollowersRefuseWrites", func(t *testing.T) {
		for _, tn := range nodes {
			if tn == w {
				continue
			}
			_, _, err := tn.store.Push(ctx, alice, []linlisync.Mutation{put(22, "post/x", "v", "community/c1")})
			if !errors.Is(err, linlisync.ErrNotWriter) {
				t.Fatalf("push on follower %s: %v, want ErrNotWriter", tn.name, err)
			}
			if url, self, ok := tn.node.Writer(); !ok || self || url != w.node.cfg.Advertise {
				t.Fatalf("%s sees writer %q (self %v, ok %v), want %q", tn.name, url, self, ok, w.node.cfg.Advertise)
			}
		}
	})

	t.Run("DeposedWriterIsFenced", func(t *testing.T) {
		// Another node takes the lease while the writer still believes it
		// holds it: the writer's next append must fail, and leave nothing.
		var other *testNode
		for _, tn := range nodes {
			if tn != w {
				other = tn
				break
			}
		}
		oldTerm := w.node.currentTerm()
		e, err := other.node.kv.Get(ctx, keyWriter)
		if err != nil {
			t.Fatal(err)
		}
		other.node.take(ctx, e.Revision())
		deadline := time.Now().Add(30 * time.Second)
		for other.node.Writable() != nil {
			if time.Now().After(deadline) {
				t.Fatal("the new writer did not fence the log")
			}
			time.Sleep(10 * time.Millisecond)
		}
		// A fence of the old term, late, does not fence the new writer off.
		if _, err := w.node.appendMark(ctx, oldTerm, 5*time.Second); !errors.Is(err, errSuperseded) {
			t.Fatalf("the old term's fencing mark: %v, want errSuperseded", err)
		}
		w.node.mu.Lock()
		w.node.writable, w.node.renewed = true, time.Now() // not yet told
		w.node.mu.Unlock()
		before := w.store.ReplicaPosition()
		_, _, err = w.store.Push(ctx, alice, []linlisync.Mutation{put(22, "post/stale", "v", "community/c1")})
		if !errors.Is(err, linlisync.ErrNotWriter) {
			t.Fatalf("deposed writer's push: %v, want ErrNotWriter", err)
		}
		if w.store.ReplicaPosition() != before {
			t.Fatal("the deposed writer's store moved")
		}
		if _, _, err := other.store.Push(ctx, alice, []linlisync.Mutation{put(22, "post/new", "v", "community/c1")}); err != nil {
			t.Fatalf("push on the new writer: %v", err)
		}
		waitSame(t, nodes)
		for _, tn := range nodes {
			if _, ok, _ := tn.store.Get("post/stale"); ok {
				t.Fatalf("%s has the fenced push's post", tn.name)
			}
			if _, ok, _ := tn.store.Get("post/new"); !ok {
				t.Fatalf("%s lacks the new writer's post", tn.name)
			}
		}
		w = other
	})

	t.Run("Failover", func(t *testing.T) {
		old := w
		start := time.Now()
		old.stop()
		var rest []*testNode
		for _, tn := range nodes {
			if tn != old {
				rest = append(rest, tn)
			}
		}
		w = waitWriter(t, rest)
		t.Logf("failover to %s in %v", w.name, time.Since(start))
		last, err := w.store.LastMutationID(alice)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := w.store.Push(ctx, alice, []linlisync.Mutation{put(last+1, "post/after", "v", "community/c1")}); err != nil {
			t.Fatalf("push after failover: %v", err)
		}
		// The old writer comes back and catches up.
		old.start(t)
		waitSame(t, nodes)
	})

	t.Run("RebuildFromTheLog", func(t *testing.T) {
		var victim *testNode
		for _, tn := range nodes {
			if tn != w {
				victim = tn
				break
			}
		}
		victim.stop()
		if err := removeAll(filepath.Join(victim.dir, "store")); err != nil {
			t.Fatal(err)
		}
		victim.start(t)
		waitSame(t, nodes)
	})
}

func removeAll(dir string) error { return os.RemoveAll(dir) }
