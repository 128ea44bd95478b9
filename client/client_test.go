package client

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/cockroachdb/pebble/v2"
	"google.golang.org/protobuf/proto"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	linlisync "github.com/linli/linli/sync"
)

// wantConverged checks that c's synced scopes equal a pull from zero.
func wantConverged(t *testing.T, c *Client, url, tok string) {
	t.Helper()
	got, err := c.Synced()
	if err != nil {
		t.Fatal(err)
	}
	want := serverView(t, url, tok)
	for sc, ents := range want {
		for id, e := range ents {
			if !proto.Equal(got[sc][id], e) {
				t.Errorf("%s %s: client has %v, server %v", sc, id, got[sc][id], e)
			}
		}
		if len(got[sc]) != len(ents) {
			t.Errorf("%s: client has %d entities, server %d", sc, len(got[sc]), len(ents))
		}
	}
	for sc := range got {
		if _, ok := want[sc]; !ok && len(got[sc]) > 0 {
			t.Errorf("client holds scope %s the server does not give it", sc)
		}
	}
}

func wantPending(t *testing.T, c *Client, n int) {
	t.Helper()
	p, err := c.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != n {
		t.Fatalf("pending = %d mutations, want %d", len(p), n)
	}
}

func wantApplied(t *testing.T, c *Client, ids ...uint64) {
	t.Helper()
	for _, id := range ids {
		r, ok, err := c.Outcome(id)
		if err != nil || !ok || r.GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_APPLIED {
			t.Errorf("outcome(%d) = %v, %v, %v; want APPLIED", id, r, ok, err)
		}
	}
}

// TestEnqueueOfflineThenSync: mutations queued while the server is down are
// durable across a restart of the client and reach the server once it is up.
func TestEnqueueOfflineThenSync(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	c := open(t, dir, h.url(), "", nil)
	for i, post := range []string{"p1", "p2", "p3"} {
		if id := mustEnqueue(t, c, offer(post)); id != uint64(i+1) {
			t.Fatalf("enqueue %s: id %d, want %d", post, id, i+1)
		}
	}
	if err := c.Sync(t.Context()); err == nil || fatal(err) {
		t.Fatalf("sync with the server down: %v, want a transport error", err)
	}
	wantPending(t, c, 3)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	h.start()
	tok := h.member("u1")
	c = open(t, dir, h.url(), tok, nil)
	wantPending(t, c, 3)
	if id := mustEnqueue(t, c, offer("p4")); id != 4 {
		t.Fatalf("after reopen: id %d, want 4", id)
	}
	if err := c.Sync(t.Context()); err != nil {
		t.Fatalf("sync: %v", err)
	}
	wantPending(t, c, 0)
	wantApplied(t, c, 1, 2, 3, 4)
	if acked, _ := c.Acked(); acked != 4 {
		t.Errorf("acked = %d, want 4", acked)
	}
	user, err := c.Scope("user/u1")
	if err != nil {
		t.Fatal(err)
	}
	if cs := user["client/u1/phone"].GetClientState(); cs.GetLastMutationId() != 4 {
		t.Errorf("client state = %v, want last_mutation_id 4", cs)
	}
	for _, p := range []string{"p1", "p2", "p3", "p4"} {
		if user["post/"+testCommunity+"/"+p].GetPost().GetUnit() != "1502" {
			t.Errorf("post %s missing from the user's scope (or unit hidden): %v", p, user["post/"+testCommunity+"/"+p])
		}
	}
	wantConverged(t, c, h.url(), tok)
}

// TestLostPushResponse: the server applies a Push whose response never
// arrives; the retry gets the stored outcomes and nothing applies twice.
func TestLostPushResponse(t *testing.T) {
	h := newHarness(t)
	h.start()
	tok := h.member("u1")

	t.Run("RetriedPush", func(t *testing.T) {
		drop := &dropFirst{suffix: "/Push", next: http.DefaultTransport}
		c := open(t, t.TempDir(), h.url(), tok, drop, func(cfg *Config) { cfg.ClientID = "phone-a" })
		for _, p := range []string{"a1", "a2", "a3"} {
			mustEnqueue(t, c, offer(p))
		}
		if err := c.Sync(t.Context()); err != nil {
			t.Fatalf("sync: %v", err)
		}
		if !drop.done {
			t.Fatal("no Push response was dropped")
		}
		wantPending(t, c, 0)
		wantApplied(t, c, 1, 2, 3)
		cs := serverView(t, h.url(), tok)["user/u1"]["client/u1/phone-a"].GetClientState()
		if cs.GetLastMutationId() != 3 {
			t.Errorf("server's client state %v, want last_mutation_id 3", cs)
		}
		for _, r := range cs.GetRecentResults() {
			if r.GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_APPLIED {
				t.Errorf("server result %v, want APPLIED", r)
			}
		}
		wantConverged(t, c, h.url(), tok)
	})

	t.Run("LearnedThroughPull", func(t *testing.T) {
		// One try only: the Push fails; the client restarts and learns the
		// outcome from its client state in the feed, not by pushing again.
		drop := &dropFirst{suffix: "/Push", next: http.DefaultTransport}
		dir := t.TempDir()
		c := open(t, dir, h.url(), tok, drop, func(cfg *Config) { cfg.ClientID = "phone-b"; cfg.MaxAttempts = 1 })
		mustEnqueue(t, c, offer("b1"))
		mustEnqueue(t, c, &linliv1.Mutation{Kind: &linliv1.Mutation_AcceptHandoff{AcceptHandoff: &linliv1.AcceptHandoffMutation{HandoffId: "nope"}}})
		if err := c.Push(t.Context()); err == nil {
			t.Fatal("push with its response dropped succeeded")
		}
		wantPending(t, c, 2)
		c.Close()
		c = open(t, dir, h.url(), tok, nil, func(cfg *Config) { cfg.ClientID = "phone-b" })
		if err := c.Pull(t.Context()); err != nil {
			t.Fatalf("pull: %v", err)
		}
		wantPending(t, c, 0)
		wantApplied(t, c, 1)
		r, ok, err := c.Outcome(2)
		if err != nil || !ok || r.GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_REJECTED || r.GetReason() == "" {
			t.Errorf("outcome(2) = %v, %v, %v; want REJECTED with a reason", r, ok, err)
		}
		if id := mustEnqueue(t, c, offer("b3")); id != 3 {
			t.Errorf("next id %d, want 3", id)
		}
		if err := c.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
		wantApplied(t, c, 3)
		posts := 0
		for id := range serverView(t, h.url(), tok)["user/u1"] {
			if strings.HasPrefix(id, "post/"+testCommunity+"/b") {
				posts++
			}
		}
		if posts != 2 {
			t.Errorf("%d posts b*, want 2 (b1, b3)", posts)
		}
	})
}

// TestRejectedOutcome: a refused mutation leaves the queue and its reason
// stays retrievable.
func TestRejectedOutcome(t *testing.T) {
	h := newHarness(t)
	h.start()
	tok := h.member("u1")
	c := open(t, t.TempDir(), h.url(), tok, nil)
	bad := mustEnqueue(t, c, &linliv1.Mutation{Kind: &linliv1.Mutation_ConfirmReceived{ConfirmReceived: &linliv1.ConfirmReceivedMutation{HandoffId: "missing"}}})
	good := mustEnqueue(t, c, offer("p1"))
	if err := c.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantPending(t, c, 0)
	r, ok, err := c.Outcome(bad)
	if err != nil || !ok || r.GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_REJECTED || r.GetReason() == "" {
		t.Errorf("outcome(%d) = %v, %v, %v; want REJECTED with a reason", bad, r, ok, err)
	}
	wantApplied(t, c, good)
	if _, ok, _ := c.Outcome(99); ok {
		t.Error("outcome of an unknown id is known")
	}
}

// TestReset: a cursor from another store's epoch makes the server reset
// every scope; the client clears them before applying the changes.
func TestReset(t *testing.T) {
	h := newHarness(t)
	h.start()
	tok := h.member("u1")
	c := open(t, t.TempDir(), h.url(), tok, nil)
	mustEnqueue(t, c, offer("p1"))
	if err := c.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	cursor, err := c.Cursor()
	if err != nil || cursor == "" {
		t.Fatalf("cursor %q, %v", cursor, err)
	}
	cur, err := linlisync.DecodeCursor(cursor)
	if err != nil {
		t.Fatal(err)
	}
	cur.Epoch[0] ^= 0xff // as if the store were restored from a backup
	b := c.db.NewBatch()
	_ = b.Set([]byte(keyCursor), []byte(cur.Encode()), nil)
	_ = b.Set(entityKey("community/"+testCommunity, "post/"+testCommunity+"/ghost"), mustMarshal(t, &linliv1.Entity{Kind: &linliv1.Entity_Post{Post: &linliv1.Post{Id: "ghost"}}}), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	community, _ := c.Scope("community/" + testCommunity)
	if _, ok := community["post/"+testCommunity+"/ghost"]; ok {
		t.Error("the scope was not cleared on reset: ghost post still there")
	}
	if _, ok := community["post/"+testCommunity+"/p1"]; !ok {
		t.Error("p1 missing after the reset")
	}
	wantConverged(t, c, h.url(), tok)
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDroppedScope: staff demoted to resident lose the staff scope: the
// client clears it.
func TestDroppedScope(t *testing.T) {
	h := newHarness(t)
	h.start()
	tok := h.member("u1")
	if _, err := h.srv.Service().SetRole(t.Context(), admin, testCommunity, "u1", linliv1.Role_ROLE_STAFF, nil); err != nil {
		t.Fatal(err)
	}
	c := open(t, t.TempDir(), h.url(), tok, nil)
	if err := c.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	board := "staff/" + testCommunity
	all, _ := c.Synced()
	if len(all[board]) == 0 {
		t.Fatalf("volunteer has no %s: scopes %v", board, keys(all))
	}
	if _, err := h.srv.Service().SetRole(t.Context(), admin, testCommunity, "u1", linliv1.Role_ROLE_RESIDENT, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if all, _ = c.Synced(); len(all[board]) != 0 {
		t.Errorf("after demotion the client still holds %d entities of %s", len(all[board]), board)
	}
	wantConverged(t, c, h.url(), tok)
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestRestart: closing and reopening the folder keeps the queue, the next
// id, the cursor and the entities.
func TestRestart(t *testing.T) {
	h := newHarness(t)
	h.start()
	tok := h.member("u1")
	dir := t.TempDir()
	c := open(t, dir, h.url(), tok, nil)
	mustEnqueue(t, c, offer("p1"))
	if err := c.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, c, offer("p2"))
	cursor, _ := c.Cursor()
	before, _ := c.Synced()
	c.Close()
	if err := c.Sync(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("sync after close: %v, want ErrClosed", err)
	}

	c = open(t, dir, h.url(), tok, nil)
	if got, _ := c.Cursor(); got != cursor {
		t.Errorf("cursor after reopen %q, want %q", got, cursor)
	}
	after, _ := c.Synced()
	if len(after) != len(before) || len(after["user/u1"]) != len(before["user/u1"]) {
		t.Errorf("entities after reopen differ: %d scopes, want %d", len(after), len(before))
	}
	wantPending(t, c, 1)
	if id := mustEnqueue(t, c, offer("p3")); id != 3 {
		t.Errorf("next id after reopen %d, want 3", id)
	}
	if err := c.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantApplied(t, c, 1, 2, 3)
	wantConverged(t, c, h.url(), tok)
}

// TestRemoved: a removed member's client clears its store.
func TestRemoved(t *testing.T) {
	h := newHarness(t)
	h.start()
	tok := h.member("u1")
	c := open(t, t.TempDir(), h.url(), tok, nil)
	mustEnqueue(t, c, offer("p1"))
	if err := c.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, c, offer("p2"))
	if err := h.srv.Service().RemoveMember(t.Context(), admin, testCommunity, "u1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(t.Context()); !errors.Is(err, ErrRemoved) {
		t.Fatalf("sync after removal: %v, want ErrRemoved", err)
	}
	all, _ := c.Synced()
	pend, _ := c.Pending()
	cursor, _ := c.Cursor()
	if len(all) != 0 || len(pend) != 0 || cursor != "" {
		t.Errorf("after removal: %d scopes, %d pending, cursor %q; want nothing", len(all), len(pend), cursor)
	}
}

// TestUpgradeRequired: a protocol version the server does not speak is a
// typed error.
func TestUpgradeRequired(t *testing.T) {
	h := newHarness(t)
	h.start()
	tok := h.member("u1")
	future := connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if r, ok := req.Any().(*linliv1.PullRequest); ok {
				r.ProtocolVersion = 99
			}
			return next(ctx, req)
		}
	})
	c := open(t, t.TempDir(), h.url(), tok, nil, func(cfg *Config) { cfg.ClientOptions = []connect.ClientOption{connect.WithInterceptors(future)} })
	err := c.Sync(t.Context())
	var up *UpgradeError
	if !errors.Is(err, ErrUpgradeRequired) || !errors.As(err, &up) || up.Max != 1 {
		t.Fatalf("sync: %v, want *UpgradeError with max 1", err)
	}
}

// TestTokenRefresh: managed tokens about to expire are traded with Refresh
// and the new pair is persisted.
func TestTokenRefresh(t *testing.T) {
	h := newHarness(t)
	h.start()
	code, _, err := h.srv.Service().CreateJoinCode(t.Context(), mutualaid.Operator, mutualaid.JoinCodeSpec{CommunityID: testCommunity, BuildingID: testBuilding, MaxUses: 1})
	if err != nil {
		t.Fatal(err)
	}
	auth := linliv1connect.NewAuthServiceClient(http.DefaultClient, h.url())
	res, err := auth.Join(t.Context(), &linliv1.JoinRequest{ProtocolVersion: 1, Code: code, ClientId: "phone", DisplayName: "李伟", Unit: "1101"})
	if err != nil {
		t.Fatal(err)
	}
	toks := res.GetTokens()
	old := toks.GetRefreshToken()
	dir := t.TempDir()
	c := open(t, dir, h.url(), "", nil, func(cfg *Config) { cfg.AccessToken = nil; cfg.Tokens = toks; cfg.RefreshBefore = 16 * time.Minute })
	mustEnqueue(t, c, offer("r1"))
	if err := c.Sync(t.Context()); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if c.tokens.GetRefreshToken() == old {
		t.Fatal("tokens were not refreshed")
	}
	c.Close()
	c = open(t, dir, h.url(), "", nil, func(cfg *Config) { cfg.AccessToken = nil })
	if c.tokens.GetRefreshToken() == old || c.tokens.GetAccessToken() == "" {
		t.Fatal("refreshed tokens not persisted")
	}
	if err := c.Sync(t.Context()); err != nil {
		t.Fatalf("sync after reopen: %v", err)
	}
	wantApplied(t, c, 1)
}

// TestLive: a live client learns of another's post through Subscribe, and
// through polling while Subscribe keeps failing.
func TestLive(t *testing.T) {
	h := newHarness(t)
	h.start()
	tok1, tok2 := h.member("u1"), h.member("u2")
	for _, tc := range []struct {
		name  string
		block bool
	}{{"Subscribe", false}, {"PollingFallback", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var rt http.RoundTripper = http.DefaultTransport
			if tc.block {
				rt = blockPath{suffix: "/Subscribe", next: rt}
			}
			watcher := open(t, t.TempDir(), h.url(), tok1, rt, func(cfg *Config) {
				cfg.LiveFailures = 2
				cfg.PollInterval = 50 * time.Millisecond
			})
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- watcher.Live(ctx) }()
			poster := open(t, t.TempDir(), h.url(), tok2, nil, func(cfg *Config) { cfg.ClientID = "poster-" + tc.name })
			post := "live-" + tc.name
			mustEnqueue(t, poster, offer(post))
			if err := poster.Sync(t.Context()); err != nil {
				t.Fatal(err)
			}
			id := "post/" + testCommunity + "/" + post
			deadline := time.Now().Add(10 * time.Second)
			for {
				sc, err := watcher.Scope("community/" + testCommunity)
				if err != nil {
					t.Fatal(err)
				}
				if p := sc[id].GetPost(); p != nil {
					if p.GetUnit() != "" || p.GetPhone() != "" {
						t.Errorf("community scope shows unit/phone: %v", p)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s never reached the live client", id)
				}
				time.Sleep(20 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("live: %v", err)
			}
		})
	}
}

// blockPath fails requests whose path ends with suffix.
type blockPath struct {
	suffix string
	next   http.RoundTripper
}

func (b blockPath) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, b.suffix) {
		return nil, errors.New("blocked (test)")
	}
	return b.next.RoundTrip(r)
}

// TestGapForgetsLostOutcomes: when the server lost mutations (it was
// replaced by an older store), the queue is renumbered from its
// last_mutation_id, and a renumbered mutation does not inherit the outcome
// stored for a lost one under the same id.
func TestGapForgetsLostOutcomes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	var tok atomic.Value
	tok.Store(h.member("u1"))
	c := open(t, t.TempDir(), h.url(), "", nil, func(cfg *Config) {
		cfg.AccessToken = func(context.Context) (string, error) { return tok.Load().(string), nil }
	})
	lost := mustEnqueue(t, c, &linliv1.Mutation{Kind: &linliv1.Mutation_CancelPost{CancelPost: &linliv1.CancelPostMutation{PostId: "nope"}}})
	if err := c.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r, ok, err := c.Outcome(lost); err != nil || !ok || r.GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_REJECTED {
		t.Fatalf("outcome of %d: %v %v %v, want rejected", lost, r, ok, err)
	}

	h.ts.Close() // the server comes back from a store that never saw mutation 1
	h.srv.Close()
	h.start()
	tok.Store(h.member("u1"))
	mustEnqueue(t, c, offer("p1"))
	if err := c.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r, ok, err := c.Outcome(1); err != nil || !ok || r.GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_APPLIED {
		t.Errorf("outcome of the renumbered mutation 1: %v %v %v, want applied", r, ok, err)
	}
}
