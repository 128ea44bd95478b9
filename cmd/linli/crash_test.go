package main_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
)

// The crash test's world: one community with one building, sixteen
// residents who joined with a code, each pushing from their phone.
const (
	crashCommunity   = "c1"
	crashBuilding    = "b1"
	crashClientID    = "phone"
	crashUsers       = 16
	crashMaxBatch    = 5  // mutations per Push: 1 to crashMaxBatch
	crashMinThinkMS  = 5  // pause between a client's pushes: crashMinThinkMS to
	crashMaxThinkMS  = 40 // crashMaxThinkMS ms (also bounds the data to check)
	crashSmallPage   = 7  // max_changes of the paged Pull compared with one big page
	crashBigPage     = 10_000
	crashHealthLimit = 20 * time.Second
	// crashTokenMargin: a client whose access token has less left than this
	// before a round refreshes it (tokens last 15 minutes; the test ~30 s).
	crashTokenMargin = 2 * time.Minute
)

// TestCrashSafety sets a community up with `linli admin`, runs the real
// binary, lets sixteen residents join with a code, kills the server with
// SIGKILL while they push, restarts it on the same data folder, and checks
// the sync protocol's promises against what the clients saw:
//
//   - durable ack: every acknowledged mutation's post survives every kill;
//   - exactly once: a batch whose Push died with the server is re-pushed with
//     the same ids and never applied twice, never refused as a gap;
//   - atomic mutations: each mutation in doubt is either wholly applied (its
//     post in the author's scope and the community's, its id counted in the
//     client's last_mutation_id) or not at all, and mutations apply in order;
//   - gap-free feed: within a scope Pull returns strictly increasing seqs,
//     each entity once, and small pages add up to one big page.
//
// It is not parallel: it is a load test of its own and wants the two cores.
func TestCrashSafety(t *testing.T) {
	rounds := 3
	if testing.Short() {
		rounds = 1
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x6c696e6c69))

	bin := crashBuildLinli(t)
	dataDir := t.TempDir() // the same store every round
	logDir := t.TempDir()

	// The admin commands open the store: they run before the first start.
	crashAdmin(t, bin, "init", "--data", dataDir, "--community", crashCommunity,
		"--name", "玉桥社区", "--district", "通州区", "--street-office", "玉桥街道")
	crashAdmin(t, bin, "building", "--data", dataDir, "--community", crashCommunity,
		"--id", crashBuilding, "--name", "1号楼", "--drop-point", "15楼电梯口窗台")
	code := crashAdmin(t, bin, "join-code", "--data", dataDir, "--community", crashCommunity, "--uses", "100")

	hc := crashHTTPClient(t)
	srv := crashStartServer(t, bin, dataDir, logDir, 0, hc)

	// Every resident joins with the code, as the app does on first launch.
	auth := linliv1connect.NewAuthServiceClient(hc, srv.baseURL)
	clients := make([]*crashClient, crashUsers)
	users := make(map[string]bool, crashUsers)
	for i := range clients {
		clients[i] = crashJoin(t, auth, code, i, rand.New(rand.NewPCG(seed, uint64(i)+1)))
		if users[clients[i].user] {
			t.Fatalf("%s: joined as %s, a user id another resident already has", clients[i].name, clients[i].user)
		}
		users[clients[i].user] = true
	}

	for round := 1; round <= rounds; round++ {
		auth := linliv1connect.NewAuthServiceClient(hc, srv.baseURL)
		for _, c := range clients {
			c.fresh(t, auth)
		}
		killAfter := time.Duration(200+rng.IntN(1301)) * time.Millisecond
		st := crashRunRound(t, srv, hc, clients, killAfter)
		srv = crashStartServer(t, bin, dataDir, logDir, round, hc)
		t.Logf("round %d: killed after %v; %d mutations acknowledged (%d re-pushed from the previous crash); %d clients with %d mutations in doubt",
			round, killAfter, st.acked, st.repushed, st.doubtClients, st.doubtMutations)
	}

	// First look at the store with the last crash's batches still in doubt
	// (and, if a round failed, to see what was lost): each mutation in doubt
	// must be wholly applied or wholly absent.
	crashCheckStore(t, srv, hc, clients, false)
	if t.Failed() {
		t.FailNow()
	}

	// Then let every client re-push its batch in doubt, as an app does when
	// it comes back online, and check that everything is there exactly once.
	api := linliv1connect.NewSyncServiceClient(hc, srv.baseURL)
	repushed := 0
	for _, c := range clients {
		if c.inDoubt == nil || c.failed {
			continue
		}
		n := len(c.inDoubt)
		if err := c.pushOnce(t.Context(), api, c.inDoubt, true); err != nil {
			t.Errorf("%s: re-push after the last restart: %v", c.name, err)
		}
		repushed += n
	}
	t.Logf("after the last restart: %d mutations in doubt re-pushed", repushed)
	crashCheckStore(t, srv, hc, clients, true)
}

// crashClient is one resident's phone. It is used by one goroutine at a time.
type crashClient struct {
	// name is the client's index, "c3": its posts are "c3-<mutation id>".
	name string
	// user is the id the server gave the resident when they joined.
	user string
	// token is the access token, valid until expires; refresh trades for
	// the next pair.
	token, refresh string
	expires        time.Time
	rng            *rand.Rand

	// acked is the highest acknowledged mutation id: mutations 1..acked were
	// answered APPLIED (directly or on re-push).
	acked uint64
	// inDoubt is the batch whose Push failed (ids acked+1…): it may or may
	// not have been applied. Nil when nothing is in doubt.
	inDoubt []*linliv1.Mutation
	// pushedMax is the highest id ever sent: acked + len(inDoubt).
	pushedMax uint64

	// failed is set once the client met an error the test reported: it
	// pushes no more, and its state is what it was then.
	failed bool

	// per-round counters
	roundAcked, roundRepushed int
}

// pushOnce sends batch and records the outcome: acknowledged if every
// result is APPLIED, in doubt if the Push fails (a *crashPushError). Any
// other outcome is an error the test reports: a mutation not APPLIED, a
// response that does not match the batch.
func (c *crashClient) pushOnce(ctx context.Context, api linliv1connect.SyncServiceClient, batch []*linliv1.Mutation, repush bool) error {
	c.inDoubt = batch // in doubt from the moment it may reach the server
	last := batch[len(batch)-1].GetId()
	c.pushedMax = max(c.pushedMax, last)
	resp, err := api.Push(c.authContext(ctx), &linliv1.PushRequest{
		ProtocolVersion: 1,
		ClientId:        crashClientID,
		Mutations:       batch,
	})
	if err != nil {
		return &crashPushError{err: err}
	}
	if got := resp.GetLastMutationId(); got != last {
		return fmt.Errorf("push of mutations %d..%d: last_mutation_id = %d, want %d", batch[0].GetId(), last, got, last)
	}
	if got, want := len(resp.GetResults()), len(batch); got != want {
		return fmt.Errorf("push of mutations %d..%d: %d results, want %d", batch[0].GetId(), last, got, want)
	}
	for i, r := range resp.GetResults() {
		if r.GetId() != batch[i].GetId() || r.GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_APPLIED {
			return fmt.Errorf("push of mutations %d..%d (re-push: %v): result[%d] = {id %d, %v, reason %q}, want {id %d, APPLIED}",
				batch[0].GetId(), last, repush, i, r.GetId(), r.GetStatus(), r.GetReason(), batch[i].GetId())
		}
	}
	c.acked = last
	c.inDoubt = nil
	c.roundAcked += len(batch)
	if repush {
		c.roundRepushed += len(batch)
	}
	return nil
}

// crashPushError is a Push that failed on the wire: its batch is in doubt.
type crashPushError struct{ err error }

func (e *crashPushError) Error() string { return e.err.Error() }
func (e *crashPushError) Unwrap() error { return e.err }

// run pushes until the server dies: first the batch left in doubt by the
// previous crash, then new batches of 1 to 5 offers with a short pause
// between them. It returns nil once a Push fails on the wire after killed is
// set (the batch stays in doubt), and an error for anything the test must
// report: an error the server sent, a failure while it was up.
func (c *crashClient) run(ctx context.Context, api linliv1connect.SyncServiceClient, killed *atomic.Bool) (err error) {
	c.roundAcked, c.roundRepushed = 0, 0
	if c.failed {
		return nil
	}
	defer func() { c.failed = err != nil }()
	for ctx.Err() == nil {
		batch, repush := c.inDoubt, c.inDoubt != nil
		if !repush {
			batch = c.newBatch()
		}
		pushErr := c.pushOnce(ctx, api, batch, repush)
		var wireErr *crashPushError
		switch {
		case pushErr == nil:
		case !errors.As(pushErr, &wireErr):
			return pushErr
		case connect.CodeOf(pushErr) == connect.CodeFailedPrecondition:
			d := crashErrorDetail(pushErr)
			return fmt.Errorf("push of mutations %d..%d (re-push: %v) refused: %v (reason %q, server's last_mutation_id %d; client acked %d)",
				batch[0].GetId(), batch[len(batch)-1].GetId(), repush, pushErr, d.GetReason(), d.GetLastMutationId(), c.acked)
		case killed.Load() && !connect.IsWireError(pushErr):
			return nil // the server is gone; the batch stays in doubt
		default:
			return fmt.Errorf("push of mutations %d..%d (re-push: %v) failed while the server was up: %w",
				batch[0].GetId(), batch[len(batch)-1].GetId(), repush, pushErr)
		}
		think := time.NewTimer(time.Duration(crashMinThinkMS+c.rng.IntN(crashMaxThinkMS-crashMinThinkMS+1)) * time.Millisecond)
		select {
		case <-ctx.Done():
			think.Stop()
		case <-think.C:
		}
	}
	return nil
}

// newBatch returns 1 to crashMaxBatch new offers numbered from acked+1.
//
// REQUIRES: nothing in doubt.
func (c *crashClient) newBatch() []*linliv1.Mutation {
	n := 1 + c.rng.IntN(crashMaxBatch)
	batch := make([]*linliv1.Mutation, n)
	for i := range batch {
		id := c.acked + 1 + uint64(i)
		batch[i] = &linliv1.Mutation{
			Id:         id,
			ClientTime: timestamppb.Now(),
			Kind: &linliv1.Mutation_PostOffer{PostOffer: &linliv1.PostOfferMutation{
				PostId: crashPostID(c.name, id),
				Draft:  crashDraft(),
			}},
		}
	}
	return batch
}

func (c *crashClient) authContext(ctx context.Context) context.Context {
	ctx, info := connect.NewClientContext(ctx)
	info.RequestHeader().Set("Authorization", "Bearer "+c.token)
	return ctx
}

// crashPostID is the post the client named name creates with a mutation
// id: "c3-17".
func crashPostID(name string, id uint64) string { return fmt.Sprintf("%s-%d", name, id) }

// crashMutationID is the mutation id that created the post postID of the
// client named name, or 0 if postID is not one of its posts.
func crashMutationID(name, postID string) uint64 {
	rest, ok := strings.CutPrefix(postID, name+"-")
	if !ok {
		return 0
	}
	id, err := strconv.ParseUint(rest, 10, 64)
	if err != nil || crashPostID(name, id) != postID {
		return 0
	}
	return id
}

// crashJoin signs resident i in with the join code from the client
// "phone", as a resident of building b1.
func crashJoin(t *testing.T, auth linliv1connect.AuthServiceClient, code string, i int, rng *rand.Rand) *crashClient {
	t.Helper()
	name := fmt.Sprintf("c%d", i)
	resp, err := auth.Join(t.Context(), &linliv1.JoinRequest{
		ProtocolVersion: 1, Code: code, ClientId: crashClientID,
		DisplayName: fmt.Sprintf("邻居%d", i), BuildingId: crashBuilding,
	})
	if err != nil {
		t.Fatalf("%s: join: %v (detail %v)", name, err, crashErrorDetail(err))
	}
	m, tok := resp.GetMember(), resp.GetTokens()
	if m.GetUserId() == "" || m.GetCommunityId() != crashCommunity || m.GetBuildingId() != crashBuilding ||
		m.GetRole() != linliv1.Role_ROLE_RESIDENT || m.GetRemoved() {
		t.Fatalf("%s: joined as %v, want a resident of %s in %s", name, m, crashBuilding, crashCommunity)
	}
	if tok.GetAccessToken() == "" || tok.GetRefreshToken() == "" || tok.GetAccessExpiresAt() == nil {
		t.Fatalf("%s: join returned tokens %v, want an access and a refresh token", name, tok)
	}
	return &crashClient{
		name: name, user: m.GetUserId(), rng: rng,
		token: tok.GetAccessToken(), refresh: tok.GetRefreshToken(), expires: tok.GetAccessExpiresAt().AsTime(),
	}
}

// fresh refreshes the client's tokens if its access token would expire
// within crashTokenMargin. A client that failed keeps what it has.
func (c *crashClient) fresh(t *testing.T, auth linliv1connect.AuthServiceClient) {
	t.Helper()
	if c.failed || time.Until(c.expires) > crashTokenMargin {
		return
	}
	resp, err := auth.Refresh(t.Context(), &linliv1.RefreshRequest{ProtocolVersion: 1, RefreshToken: c.refresh})
	if err != nil {
		t.Fatalf("%s: refresh: %v", c.name, err)
	}
	tok := resp.GetTokens()
	c.token, c.refresh, c.expires = tok.GetAccessToken(), tok.GetRefreshToken(), tok.GetAccessExpiresAt().AsTime()
}

// crashDraft is a neighbour offering children's ibuprofen the way residents
// did in December 2022: contactless, on the elevator windowsill.
func crashDraft() *linliv1.PostDraft {
	return &linliv1.PostDraft{
		Items: []*linliv1.PostItem{{
			ItemCode:   "ibuprofen-suspension-child",
			Name:       "美林",
			Quantity:   1,
			Unit:       "bottle",
			ExpiryDate: "2027-06-30",
		}},
		BuildingId:  "b1",
		Floor:       15,
		DisplayName: "王芳",
		Note:        "left on the 15th-floor elevator windowsill",
	}
}

// crashRoundStats sums up one round for the log.
type crashRoundStats struct {
	acked, repushed              int
	doubtClients, doubtMutations int
}

// crashRunRound lets every client push against srv, SIGKILLs srv after
// killAfter, and waits for every client to stop.
func crashRunRound(t *testing.T, srv *crashServer, hc *http.Client, clients []*crashClient, killAfter time.Duration) crashRoundStats {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	api := linliv1connect.NewSyncServiceClient(hc, srv.baseURL)
	var (
		killed atomic.Bool
		wg     sync.WaitGroup
		errs   = make([]error, len(clients))
	)
	for i, c := range clients {
		wg.Go(func() { errs[i] = c.run(ctx, api, &killed) })
	}
	time.Sleep(killAfter)
	killed.Store(true)
	srv.kill(t)
	cancel() // clients between pushes stop too
	wg.Wait()

	var st crashRoundStats
	for i, c := range clients {
		if errs[i] != nil {
			t.Errorf("%s (%s): %v", c.name, c.user, errs[i])
		}
		st.acked += c.roundAcked
		st.repushed += c.roundRepushed
		if c.inDoubt != nil {
			st.doubtClients++
			st.doubtMutations += len(c.inDoubt)
		}
	}
	return st
}

// crashCheckStore pulls as every user and checks the store against what the
// clients know. With final set, nothing is in doubt any more: every pushed
// mutation must be applied; it also compares small pages with one big page.
func crashCheckStore(t *testing.T, srv *crashServer, hc *http.Client, clients []*crashClient, final bool) {
	t.Helper()
	api := linliv1connect.NewSyncServiceClient(hc, srv.baseURL)
	ctx := t.Context()
	community := "community/" + crashCommunity

	// applied[user] is the set of mutation ids whose post is in the user's scope.
	applied := make(map[string]map[uint64]bool, len(clients))
	byUser := make(map[string]*crashClient, len(clients))
	var communityView map[string]map[string]*linliv1.Change
	for i, c := range clients {
		byUser[c.user] = c
		if final && c.inDoubt != nil {
			t.Errorf("%s: still in doubt after the final re-push", c.name)
		}
		view := crashPullAll(t, ctx, api, c, crashBigPage)
		userScope := "user/" + c.user
		for sc := range view {
			if sc != community && sc != userScope {
				t.Errorf("%s: pulled scope %q, want only %q and %q", c.name, sc, community, userScope)
			}
		}
		if i == 0 {
			communityView = view
		}
		applied[c.user] = crashCheckUserScope(t, c, view[userScope], final)
	}

	// The community scope holds the community, its building, and exactly
	// the posts of the user scopes.
	directory := crashDirectoryEntities()
	seen := make(map[string]int)
	for id, ch := range communityView[community] {
		e := ch.GetEntity()
		if check, ok := directory[id]; ok {
			if ch.GetDeleted() || !check(e) {
				t.Errorf("%s: %s is %v, want the %s as created by linli admin", community, id, ch, id)
			}
			delete(directory, id)
			continue
		}
		p := e.GetPost()
		if ch.GetDeleted() || p == nil {
			t.Errorf("%s: %s is %v, want a post", community, id, ch)
			continue
		}
		c := byUser[p.GetAuthorId()]
		var mid uint64
		if c != nil {
			mid = crashMutationID(c.name, p.GetId())
		}
		switch {
		case c == nil || mid == 0 || id != "post/"+crashCommunity+"/"+crashPostID(c.name, mid):
			t.Errorf("%s: %s (post %q by %q) was never pushed", community, id, p.GetId(), p.GetAuthorId())
			continue
		case !applied[c.user][mid]:
			t.Errorf("%s: %s is there but not in user/%s: mutation %d of %s half-applied", community, id, c.user, mid, c.name)
		}
		seen[c.user]++
		if p.GetAuthorName() == "王芳" {
			t.Errorf("%s: %s shows the author's full name; want it masked", community, id)
		}
		if p.GetCommunityId() != crashCommunity || p.GetKind() != linliv1.PostKind_POST_KIND_OFFER ||
			len(p.GetItems()) != 1 || !proto.Equal(p.GetItems()[0], crashDraft().GetItems()[0]) {
			t.Errorf("%s: %s = %v, want an offer of %v", community, id, p, crashDraft().GetItems())
		}
	}
	for id := range directory {
		t.Errorf("%s: no %s", community, id)
	}
	total, doubtApplied, doubt := 0, 0, 0
	for _, c := range clients {
		if got, want := seen[c.user], len(applied[c.user]); got != want {
			t.Errorf("%s: %d posts by %s (%s), want %d (those in user/%s): mutations half-applied", community, got, c.name, c.user, want, c.user)
		}
		total += len(applied[c.user])
		doubt += len(c.inDoubt)
		doubtApplied += len(applied[c.user]) - int(c.acked)
	}
	t.Logf("check (final %v): %d posts in %s, each once and in its author's scope; of %d mutations in doubt, %d applied",
		final, total, community, doubt, doubtApplied)

	if final {
		// Small pages add up to the big page, change for change.
		paged := crashPullAll(t, ctx, api, clients[0], crashSmallPage)
		crashCompareViews(t, communityView, paged)
	}
}

// crashDirectoryEntities are the entities `linli admin` put in the
// community scope, each with a check of its content.
func crashDirectoryEntities() map[string]func(*linliv1.Entity) bool {
	return map[string]func(*linliv1.Entity) bool{
		"community/" + crashCommunity: func(e *linliv1.Entity) bool {
			c := e.GetCommunity()
			return c.GetId() == crashCommunity && c.GetName() == "玉桥社区" && c.GetDistrict() == "通州区" && c.GetStreetOffice() == "玉桥街道"
		},
		"building/" + crashCommunity + "/" + crashBuilding: func(e *linliv1.Entity) bool {
			b := e.GetBuilding()
			return b.GetId() == crashBuilding && b.GetCommunityId() == crashCommunity && b.GetName() == "1号楼" &&
				len(b.GetDropPoints()) == 1 && b.GetDropPoints()[0] == "15楼电梯口窗台"
		},
	}
}

// crashCheckUserScope checks one user's scope: the membership and the
// phone's device from the join, the client state, and exactly the posts of
// mutations 1..last_mutation_id, each as pushed. It returns the ids of the
// mutations whose post is there.
func crashCheckUserScope(t *testing.T, c *crashClient, changes map[string]*linliv1.Change, final bool) map[uint64]bool {
	t.Helper()
	scope := "user/" + c.user
	memberID := "member/" + crashCommunity + "/" + c.user
	if ch := changes[memberID]; ch == nil || ch.GetDeleted() {
		t.Errorf("%s: no %s (%v): the membership from the join is missing", scope, memberID, ch)
	} else if m := ch.GetEntity().GetMember(); m.GetUserId() != c.user || m.GetCommunityId() != crashCommunity ||
		m.GetBuildingId() != crashBuilding || m.GetRole() != linliv1.Role_ROLE_RESIDENT || m.GetRemoved() {
		t.Errorf("%s: %s = %v, want %s's membership as a resident of %s", scope, memberID, ch, c.name, crashBuilding)
	}
	deviceID := "device/" + c.user + "/" + crashClientID
	if ch := changes[deviceID]; ch == nil || ch.GetDeleted() {
		t.Errorf("%s: no %s (%v): the device from the join is missing", scope, deviceID, ch)
	} else if d := ch.GetEntity().GetDevice(); d.GetClientId() != crashClientID || d.GetRevoked() {
		t.Errorf("%s: %s = %v, want the signed-in device %q", scope, deviceID, ch, crashClientID)
	}

	stateID := "client/" + c.user + "/" + crashClientID
	var last uint64
	switch ch := changes[stateID]; {
	case ch == nil && c.pushedMax > 0:
		t.Errorf("%s: no %s after %d mutations pushed", scope, stateID, c.pushedMax)
	case ch != nil:
		cs := ch.GetEntity().GetClientState()
		if cs == nil || cs.GetClientId() != crashClientID {
			t.Errorf("%s: %s = %v, want the client state of %q", scope, stateID, ch, crashClientID)
		}
		last = cs.GetLastMutationId()
	}
	lo, hi := c.acked, c.acked+uint64(len(c.inDoubt))
	if last < lo || last > hi {
		t.Errorf("%s: last_mutation_id = %d, want %d..%d (acknowledged %d, %d in doubt)", scope, last, lo, hi, c.acked, len(c.inDoubt))
	}
	if final && last != c.acked {
		t.Errorf("%s: last_mutation_id = %d after the final re-push, want %d", scope, last, c.acked)
	}

	applied := make(map[uint64]bool)
	for id := uint64(1); id <= hi; id++ { // posts beyond hi are caught below
		postID := crashPostID(c.name, id)
		ch, ok := changes["post/"+crashCommunity+"/"+postID]
		switch {
		case !ok && id <= c.acked:
			t.Errorf("%s: acknowledged post %s (mutation %d) is lost", scope, postID, id)
		case !ok && id <= last:
			t.Errorf("%s: mutation %d counted in last_mutation_id %d but post %s is missing: half-applied", scope, id, last, postID)
		case ok && id > last:
			t.Errorf("%s: post %s present but last_mutation_id is %d: mutation %d half-applied", scope, postID, last, id)
		}
		if !ok {
			continue
		}
		applied[id] = true
		p := ch.GetEntity().GetPost()
		want := crashDraft()
		if ch.GetDeleted() || p == nil || p.GetId() != postID || p.GetKind() != linliv1.PostKind_POST_KIND_OFFER ||
			p.GetCommunityId() != crashCommunity || p.GetAuthorId() != c.user || p.GetAuthorName() != want.GetDisplayName() ||
			p.GetStatus() != linliv1.PostStatus_POST_STATUS_OPEN || p.GetNote() != want.GetNote() ||
			p.GetBuildingId() != want.GetBuildingId() || p.GetFloor() != want.GetFloor() ||
			len(p.GetItems()) != 1 || !proto.Equal(p.GetItems()[0], want.GetItems()[0]) {
			t.Errorf("%s: post %s = %v, want %s's open offer %v", scope, postID, ch, c.name, want)
		}
	}
	for id := range changes {
		if id == stateID || id == memberID || id == deviceID {
			continue
		}
		mid := crashMutationID(c.name, strings.TrimPrefix(id, "post/"+crashCommunity+"/"))
		if mid == 0 || id != "post/"+crashCommunity+"/"+crashPostID(c.name, mid) || !applied[mid] {
			t.Errorf("%s: unexpected entity %s (never pushed by %s)", scope, id, c.name)
		}
	}
	return applied
}

// crashPullAll pulls c's scopes from zero in pages of maxChanges until has_more
// is false, checking that within each scope seqs strictly increase and every
// entity comes once. It returns scope → entity id → change.
func crashPullAll(t *testing.T, ctx context.Context, api linliv1connect.SyncServiceClient, c *crashClient, maxChanges uint32) map[string]map[string]*linliv1.Change {
	t.Helper()
	view := make(map[string]map[string]*linliv1.Change)
	lastSeq := make(map[string]uint64)
	cursor := ""
	for page := 0; ; page++ {
		resp, err := api.Pull(c.authContext(ctx), &linliv1.PullRequest{ProtocolVersion: 1, Cursor: cursor, MaxChanges: maxChanges})
		if err != nil {
			t.Fatalf("%s: pull page %d (max_changes %d): %v", c.name, page, maxChanges, err)
		}
		if len(resp.GetDroppedScopes()) > 0 {
			t.Errorf("%s: pull page %d: dropped scopes %v", c.name, page, resp.GetDroppedScopes())
		}
		for _, r := range resp.GetResets() {
			if cursor != "" {
				t.Errorf("%s: pull page %d: unexpected reset of %s (%v) while paging", c.name, page, r.GetScope(), r.GetReason())
			}
			delete(view, r.GetScope())
			delete(lastSeq, r.GetScope())
		}
		if n := len(resp.GetChanges()); n > int(maxChanges) {
			t.Errorf("%s: pull page %d: %d changes, want at most %d", c.name, page, n, maxChanges)
		}
		for _, ch := range resp.GetChanges() {
			sc := ch.GetScope()
			if ch.GetSeq() <= lastSeq[sc] {
				t.Errorf("%s: pull page %d: %s seq %d (%s) after seq %d: not increasing", c.name, page, sc, ch.GetSeq(), ch.GetEntityId(), lastSeq[sc])
			}
			lastSeq[sc] = ch.GetSeq()
			if view[sc] == nil {
				view[sc] = make(map[string]*linliv1.Change)
			}
			if prev, dup := view[sc][ch.GetEntityId()]; dup {
				t.Errorf("%s: pull page %d: %s has %s twice (seq %d and %d)", c.name, page, sc, ch.GetEntityId(), prev.GetSeq(), ch.GetSeq())
			}
			view[sc][ch.GetEntityId()] = ch
		}
		cursor = resp.GetCursor()
		if !resp.GetHasMore() {
			break
		}
		if len(resp.GetChanges()) == 0 {
			t.Fatalf("%s: pull page %d: has_more with no changes", c.name, page)
		}
	}
	// Nothing is being written: the cursor is at the head.
	resp, err := api.Pull(c.authContext(ctx), &linliv1.PullRequest{ProtocolVersion: 1, Cursor: cursor})
	if err != nil {
		t.Fatalf("%s: pull at the head: %v", c.name, err)
	}
	if n := len(resp.GetChanges()); n > 0 || resp.GetHasMore() || len(resp.GetResets()) > 0 {
		t.Errorf("%s: pull at the head: %d changes, has_more %v, resets %v; want nothing", c.name, n, resp.GetHasMore(), resp.GetResets())
	}
	return view
}

// crashCompareViews reports every difference between two pulls of the same store.
func crashCompareViews(t *testing.T, big, paged map[string]map[string]*linliv1.Change) {
	t.Helper()
	for sc, changes := range big {
		if got, want := len(paged[sc]), len(changes); got != want {
			t.Errorf("%s: %d changes in pages of %d, want %d as in one page", sc, got, crashSmallPage, want)
		}
		for id, want := range changes {
			if got := paged[sc][id]; !proto.Equal(got, want) {
				t.Errorf("%s: %s in pages of %d = %v, want %v as in one page", sc, id, crashSmallPage, got, want)
			}
		}
	}
	for sc, changes := range paged {
		for id := range changes {
			if _, ok := big[sc][id]; !ok {
				t.Errorf("%s: %s only in pages of %d, not in one page", sc, id, crashSmallPage)
			}
		}
	}
}

// crashServer is a running `linli serve`.
type crashServer struct {
	cmd     *exec.Cmd
	baseURL string
	logPath string
	done    chan struct{} // closed once the process has exited
	waitErr error         // set before done is closed
}

// crashStartServer starts `linli serve` on a free port over dataDir (with
// extra flags) and waits until /healthz answers 200. The process is killed
// at cleanup.
func crashStartServer(t *testing.T, bin, dataDir, logDir string, round int, hc *http.Client, extra ...string) *crashServer {
	t.Helper()
	addr := crashFreeAddr(t)
	logPath := filepath.Join(logDir, fmt.Sprintf("serve-%d.log", round))
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child keeps its own descriptor
	// Sixteen residents join from one address: no join limit.
	cmd := exec.Command(bin, append([]string{"serve", "--listen", addr, "--data", dataDir, "--join-rate", "-1"}, extra...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start linli serve: %v", err)
	}
	p := &crashServer{cmd: cmd, baseURL: "http://" + addr, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill(t)
		if t.Failed() {
			t.Logf("log of linli serve (start %d):\n%s", round, crashLogTail(logPath, 4<<10))
		}
	})

	deadline := time.Now().Add(crashHealthLimit)
	for {
		select {
		case <-p.done:
			t.Fatalf("linli serve (start %d) exited before it was healthy: %v\n%s", round, p.waitErr, crashLogTail(logPath, 4<<10))
		default:
		}
		if crashHealthy(t.Context(), hc, p.baseURL) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("linli serve (start %d) not healthy after %v\n%s", round, crashHealthLimit, crashLogTail(logPath, 4<<10))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL (if the process still runs) and waits for it to exit.
func (p *crashServer) kill(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("kill linli serve: %v", err)
	}
	<-p.done
}

func crashHealthy(ctx context.Context, hc *http.Client, baseURL string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// crashFreeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func crashFreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// crashHTTPClient is http.DefaultClient with timeouts and enough idle
// connections for every client; its connections close at cleanup.
func crashHTTPClient(t *testing.T) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConns:        4 * crashUsers,
		MaxIdleConnsPerHost: 2 * crashUsers,
		IdleConnTimeout:     30 * time.Second,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 15 * time.Second}
}

// crashBuildLinli builds ./cmd/linli (without -race, to be fast) into a temp dir.
func crashBuildLinli(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go tool not found: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "linli")
	start := time.Now()
	cmd := exec.Command(goTool, "build", "-o", bin, "./cmd/linli")
	cmd.Dir = crashModuleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/linli: %v\n%s", err, out)
	}
	t.Logf("built linli in %v", time.Since(start).Round(time.Millisecond))
	return bin
}

// crashModuleRoot is the nearest folder at or above the working directory that
// holds go.mod.
func crashModuleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// crashAdmin runs `linli admin <args>` and returns its stdout, trimmed.
func crashAdmin(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"admin"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("linli admin %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return strings.TrimSpace(string(out))
}

// crashErrorDetail returns the ErrorDetail attached to a Connect error, if any.
func crashErrorDetail(err error) *linliv1.ErrorDetail {
	var cerr *connect.Error
	if !errors.As(err, &cerr) {
		return nil
	}
	for _, d := range cerr.Details() {
		if v, err := d.Value(); err == nil {
			if ed, ok := v.(*linliv1.ErrorDetail); ok {
				return ed
			}
		}
	}
	return nil
}

// tail returns the last n bytes of a file, for failure messages.
func crashLogTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
