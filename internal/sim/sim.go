package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/linli/linli/client"
	"github.com/linli/linli/internal/bearer"
	"github.com/linli/linli/internal/linlitest"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
)

// Config is one convergence simulation.
type Config struct {
	Seed      uint64
	Residents int
	Duration  time.Duration // of the chaotic phase
	Kills     int           // SIGKILLs of the server during it
	Bin       string        // the linli binary to run as the server
	Dir       string        // work folder: server data, client folders, logs
	Out       io.Writer     // progress lines
	Log       *slog.Logger  // the clients' logs
}

// Report sums up a run.
type Report struct {
	Enqueued, Applied, Rejected     int
	Posts, Handoffs, Received       int
	Restarts, Offline, Drops, Kills int
	SyncErrors                      int
	Elapsed                         time.Duration
}

// String sums the run up in one line.
func (r Report) String() string {
	return fmt.Sprintf("%d mutations (%d applied, %d rejected); %d posts, %d handoffs (%d received); %d client restarts, %d offline spells, %d responses dropped, %d server kills, %d failed syncs; %v",
		r.Enqueued, r.Applied, r.Rejected, r.Posts, r.Handoffs, r.Received, r.Restarts, r.Offline, r.Drops, r.Kills, r.SyncErrors, r.Elapsed.Round(time.Millisecond))
}

// The simulated community.
const (
	simCommunity = "sim"
	simCodeUses  = 10_000
)

var simBuildings = []struct{ id, name, drop string }{
	{"b1", "1号楼", "1楼大堂"},
	{"b2", "2号楼", "15楼电梯口窗台"},
	{"b3", "3号楼", "11楼窗台"},
}

// simItems are what neighbours shared in December 2022.
var simItems = []struct {
	code, name, unit string
	medicine         bool
}{
	{"ibuprofen-suspension-child", "美林", "瓶", true},
	{"acetaminophen-suspension-child", "小儿对乙酰氨基酚", "瓶", true},
	{"antigen-test", "抗原", "kit", false},
	{"pulse-oximeter", "血氧仪", "台", false},
	{"thermometer-electronic", "体温计", "支", false},
}

// Run runs the convergence simulation against the linli binary cfg.Bin:
// cfg.Residents residents post, match, accept and hand off through flaky
// networks, lost responses and app restarts while the server is SIGKILLed
// and restarted cfg.Kills times; then it checks the end state: every
// client's synced state equals a pull from zero, every mutation applied
// exactly once, and no unit or phone reached a client that may not see
// it. The error lists every violation found.
func Run(ctx context.Context, cfg Config) (Report, error) {
	start := time.Now()
	var rep Report
	if err := simSetup(ctx, cfg); err != nil {
		return rep, err
	}
	addr, err := simFreeAddr()
	if err != nil {
		return rep, err
	}
	srv, err := simStartServer(ctx, cfg, addr, 0)
	if err != nil {
		return rep, err
	}
	defer func() { srv.kill() }()
	base := "http://" + addr

	rng := rand.New(rand.NewPCG(cfg.Seed, 0x73696d))
	code, err := os.ReadFile(filepath.Join(cfg.Dir, "join-code"))
	if err != nil {
		return rep, err
	}
	residents := make([]*simResident, cfg.Residents)
	auth := linliv1connect.NewAuthServiceClient(&http.Client{Timeout: 10 * time.Second}, base)
	for i := range residents {
		r, err := simJoin(ctx, cfg, auth, base, strings.TrimSpace(string(code)), i)
		if err != nil {
			return rep, err
		}
		residents[i] = r
	}
	defer func() {
		for _, r := range residents {
			if r.c != nil {
				r.c.Close()
			}
		}
	}()
	fmt.Fprintf(cfg.Out, "sim: seed %d, %d residents joined, chaos for %v with %d server kills\n", cfg.Seed, cfg.Residents, cfg.Duration, cfg.Kills)

	// The chaotic phase: residents act; the server is killed and restarted.
	chaos, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()
	var wg sync.WaitGroup
	for _, r := range residents {
		wg.Go(func() { r.run(chaos) })
	}
	killAt := make([]time.Duration, cfg.Kills)
	for k := range killAt {
		// Spread over 10%..80% of the run, in order.
		lo := cfg.Duration/10 + time.Duration(k)*cfg.Duration*7/10/time.Duration(max(cfg.Kills, 1))
		killAt[k] = lo + time.Duration(rng.Int64N(int64(cfg.Duration*7/10/time.Duration(max(cfg.Kills, 1)))+1))
	}
	downFor := make([]time.Duration, cfg.Kills)
	for k := range downFor {
		downFor[k] = time.Duration(200+rng.IntN(1300)) * time.Millisecond
	}
	for k, at := range killAt {
		if err := sleepUntil(chaos, start.Add(at)); err != nil {
			break
		}
		srv.kill()
		rep.Kills++
		fmt.Fprintf(cfg.Out, "sim: %v: server SIGKILLed, down for %v\n", time.Since(start).Round(time.Millisecond), downFor[k])
		time.Sleep(downFor[k])
		if srv, err = simStartServer(ctx, cfg, addr, k+1); err != nil {
			stop()
			wg.Wait()
			return rep, err
		}
	}
	wg.Wait()
	fmt.Fprintf(cfg.Out, "sim: %v: chaos over; syncing everyone\n", time.Since(start).Round(time.Millisecond))

	// The end: server up, everyone online and synced, twice (the second
	// round brings in what others pushed after one's first sync).
	for round := range 2 {
		for _, r := range residents {
			if err := r.finalSync(ctx); err != nil {
				return rep, fmt.Errorf("final sync %d of %s: %w", round+1, r.name, err)
			}
		}
	}
	var errs []error
	for _, r := range residents {
		errs = append(errs, r.check(ctx, base, &rep)...)
		rep.Restarts += r.restarts
		rep.Offline += r.offline
		rep.Drops += int(r.net.dropped.Load())
		rep.SyncErrors += r.syncErrors
	}
	rep.Elapsed = time.Since(start)
	if len(errs) > 20 {
		errs = append(errs[:20], fmt.Errorf("… and %d more", len(errs)-20))
	}
	return rep, errors.Join(errs...)
}

func sleepUntil(ctx context.Context, t time.Time) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// simSetup creates the community, its buildings and a join code with
// `linli admin` before the server's first start.
func simSetup(ctx context.Context, cfg Config) error {
	data := filepath.Join(cfg.Dir, "data")
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return err
	}
	if _, err := simAdmin(ctx, cfg.Bin, "init", "--data", data, "--community", simCommunity,
		"--name", "玉桥社区", "--district", "通州区", "--street-office", "玉桥街道"); err != nil {
		return err
	}
	for _, b := range simBuildings {
		if _, err := simAdmin(ctx, cfg.Bin, "building", "--data", data, "--community", simCommunity,
			"--id", b.id, "--name", b.name, "--drop-point", b.drop); err != nil {
			return err
		}
	}
	code, err := simAdmin(ctx, cfg.Bin, "join-code", "--data", data, "--community", simCommunity, "--uses", fmt.Sprint(simCodeUses))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(cfg.Dir, "join-code"), []byte(code), 0o600)
}

func simAdmin(ctx context.Context, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, append([]string{"admin"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("linli admin %s: %w\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return strings.TrimSpace(string(out)), nil
}

func simFreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// simServer is a running `linli serve`.
type simServer struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// simStartServer starts `linli serve` on addr over the sim's data folder
// (no join or push limits) and waits until it is healthy.
func simStartServer(ctx context.Context, cfg Config, addr string, n int) (*simServer, error) {
	logf, err := os.Create(filepath.Join(cfg.Dir, fmt.Sprintf("serve-%d.log", n)))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(cfg.Bin, "serve", "--listen", addr, "--data", filepath.Join(cfg.Dir, "data"),
		"--join-rate", "-1", "--push-rate", "-1", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start linli serve: %w", err)
	}
	s := &simServer{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-s.done:
			return nil, fmt.Errorf("linli serve (start %d) exited; see %s", n, logf.Name())
		default:
		}
		if res, err := hc.Get("http://" + addr + "/healthz"); err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.kill()
			return nil, fmt.Errorf("linli serve (start %d) not healthy; see %s", n, logf.Name())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill SIGKILLs the server and waits for it to exit.
func (s *simServer) kill() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// simNet is a resident's network: it can be offline, and it can lose the
// response of a sync call after the server handled it.
type simNet struct {
	next    http.RoundTripper
	offline atomic.Int64 // unix nanos until which requests fail
	drop    atomic.Int32 // responses of sync calls still to drop
	dropped atomic.Int32
}

func (n *simNet) RoundTrip(r *http.Request) (*http.Response, error) {
	if time.Now().UnixNano() < n.offline.Load() {
		return nil, errors.New("sim: offline")
	}
	res, err := n.next.RoundTrip(r)
	if err != nil || !strings.Contains(r.URL.Path, "SyncService/") || strings.HasSuffix(r.URL.Path, "/Subscribe") {
		return res, err
	}
	if n.drop.Load() > 0 && n.drop.Add(-1) >= 0 {
		_, _ = io.Copy(io.Discard, res.Body) // the server has answered in full
		res.Body.Close()
		n.dropped.Add(1)
		return nil, errors.New("sim: response lost")
	}
	return res, nil
}

// simResident is one neighbour with their phone. It is used by one
// goroutine at a time.
type simResident struct {
	i                 int
	name, user, full  string // full: the display name
	unit, phone       string
	building          string
	dir               string
	cfg               client.Config
	net               *simNet
	c                 *client.Client
	rng               *rand.Rand
	enqueued          map[uint64]*linliv1.Mutation // the oracle: every mutation handed to the client
	maxID             uint64
	acted             map[string]bool // actions already taken (the app's memory)
	restarts, offline int
	syncErrors        int
}

// simJoin signs resident i in with the join code and opens their client.
func simJoin(ctx context.Context, cfg Config, auth linliv1connect.AuthServiceClient, base, code string, i int) (*simResident, error) {
	b := simBuildings[i%len(simBuildings)]
	r := &simResident{
		i: i, name: fmt.Sprintf("r%d", i), full: fmt.Sprintf("邻居%d号", i),
		unit: fmt.Sprintf("%d%02d", 1+i%20, 1+i%4), phone: fmt.Sprintf("138 0000 %04d", i),
		building: b.id, dir: filepath.Join(cfg.Dir, "clients", fmt.Sprintf("r%d", i)),
		rng:      rand.New(rand.NewPCG(cfg.Seed, uint64(i)+1)),
		enqueued: map[uint64]*linliv1.Mutation{}, acted: map[string]bool{},
	}
	res, err := auth.Join(ctx, &linliv1.JoinRequest{ProtocolVersion: client.ProtocolVersion, Code: code, ClientId: "phone",
		DisplayName: r.full, BuildingId: r.building, Unit: r.unit, Phone: r.phone})
	if err != nil {
		return nil, fmt.Errorf("%s: join: %w", r.name, err)
	}
	r.user = res.GetMember().GetUserId()
	r.net = &simNet{next: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 10 * time.Second}}
	r.cfg = client.Config{
		BaseURL: base, HTTPClient: &http.Client{Transport: r.net}, ClientID: "phone", Logger: cfg.Log.With("resident", r.name),
		MaxAttempts: 3, MinBackoff: 20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond, RequestTimeout: 10 * time.Second,
	}
	first := r.cfg
	first.Tokens = res.GetTokens()
	if r.c, err = client.Open(r.dir, first); err != nil {
		return nil, fmt.Errorf("%s: %w", r.name, err)
	}
	return r, nil
}

// run acts until ctx ends: posts, proposes and accepts handoffs on the
// suggestions it sees, hands over and confirms, syncs; now and then it goes
// offline, loses a response or restarts its app.
func (r *simResident) run(ctx context.Context) {
	for ctx.Err() == nil {
		if sleepUntil(ctx, time.Now().Add(time.Duration(30+r.rng.IntN(170))*time.Millisecond)) != nil {
			return
		}
		switch roll := r.rng.IntN(100); {
		case roll < 3:
			d := time.Duration(300+r.rng.IntN(2700)) * time.Millisecond
			r.net.offline.Store(time.Now().Add(d).UnixNano())
			r.offline++
		case roll < 7:
			r.net.drop.Add(1)
		case roll < 9:
			if err := r.restart(); err != nil {
				r.cfg.Logger.Error("restart failed", "err", err)
				return
			}
		default:
			r.act(ctx)
		}
	}
}

func (r *simResident) restart() error {
	if err := r.c.Close(); err != nil {
		return err
	}
	r.restarts++
	var err error
	r.c, err = client.Open(r.dir, r.cfg)
	return err
}

// enqueue hands m to the client and records it in the oracle.
func (r *simResident) enqueue(ctx context.Context, m *linliv1.Mutation) {
	id, err := r.c.Enqueue(ctx, m)
	if err != nil {
		if ctx.Err() == nil {
			r.cfg.Logger.Error("enqueue failed", "err", err)
		}
		return
	}
	r.enqueued[id] = proto.Clone(m).(*linliv1.Mutation)
	r.maxID = max(r.maxID, id)
}

// nextRef is a client-chosen id for a new post or handoff: unique because
// mutation ids are.
func (r *simResident) nextRef(kind string) string {
	return fmt.Sprintf("%s-%s%d", r.name, kind, r.maxID+1)
}

func (r *simResident) act(ctx context.Context) {
	state, err := r.c.ServerState()
	if err != nil {
		return
	}
	if r.rng.IntN(100) < 30 && r.ownPosts(state) < 6 {
		r.post(ctx)
	}
	r.handoffs(ctx, state)
	if err := r.c.Sync(ctx); err != nil && ctx.Err() == nil {
		r.syncErrors++
	}
}

func (r *simResident) ownPosts(state map[string]*linliv1.Entity) int {
	n := 0
	for _, e := range state {
		if p := e.GetPost(); p != nil && p.GetAuthorId() == r.user && p.GetStatus() == linliv1.PostStatus_POST_STATUS_OPEN {
			n++
		}
	}
	return n
}

func (r *simResident) post(ctx context.Context) {
	it := simItems[r.rng.IntN(len(simItems))]
	item := &linliv1.PostItem{ItemCode: it.code, Name: it.name, Quantity: int32(1 + r.rng.IntN(3)), Unit: it.unit}
	draft := &linliv1.PostDraft{
		Items: []*linliv1.PostItem{item}, BuildingId: r.building, Floor: int32(1 + r.i%20), DisplayName: r.full,
		Note: "放在电梯口窗台上，戴口罩来取 — left by the elevator, wear a mask",
	}
	if r.rng.IntN(2) == 0 {
		draft.Unit, draft.Phone = r.unit, r.phone
	}
	if r.rng.IntN(2) == 0 {
		if it.medicine {
			item.ExpiryDate = time.Now().AddDate(0, 6+r.rng.IntN(18), 0).Format(time.DateOnly)
		}
		r.enqueue(ctx, &linliv1.Mutation{Kind: &linliv1.Mutation_PostOffer{PostOffer: &linliv1.PostOfferMutation{PostId: r.nextRef("o"), Draft: draft}}})
		return
	}
	draft.Urgency = linliv1.Urgency(1 + r.rng.IntN(2))
	draft.ForWhom = &linliv1.ForWhom{Recipient: linliv1.Recipient_RECIPIENT_CHILD, AgeMonths: uint32(24 + r.rng.IntN(100))}
	draft.Note = "孩子发烧，外卖送不进来 — delivery can't get through, need it for my child"
	r.enqueue(ctx, &linliv1.Mutation{Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{PostId: r.nextRef("q"), Draft: draft}}})
}

// handoffs proposes on suggestions for one's open requests, accepts
// proposals made to one, drops off what one gives and confirms what one
// receives.
func (r *simResident) handoffs(ctx context.Context, state map[string]*linliv1.Entity) {
	busy := map[string]bool{} // requests with a live handoff
	for _, e := range state {
		if h := e.GetHandoff(); h != nil && h.GetState() != linliv1.HandoffState_HANDOFF_STATE_CANCELLED {
			busy[h.GetRequestPostId()] = true
		}
	}
	for _, id := range slices.Sorted(maps.Keys(state)) {
		e := state[id]
		if m := e.GetMatch(); m != nil && m.GetRequestAuthorId() == r.user && !busy[m.GetRequestPostId()] && m.GetAvailable() > 0 &&
			!r.acted["propose/"+m.GetRequestPostId()] && r.rng.IntN(2) == 0 {
			req := state["post/"+simCommunity+"/"+m.GetRequestPostId()].GetPost()
			if req.GetStatus() != linliv1.PostStatus_POST_STATUS_OPEN {
				continue
			}
			r.acted["propose/"+m.GetRequestPostId()] = true
			busy[m.GetRequestPostId()] = true
			r.enqueue(ctx, &linliv1.Mutation{Kind: &linliv1.Mutation_ProposeHandoff{ProposeHandoff: &linliv1.ProposeHandoffMutation{
				HandoffId: r.nextRef("h"), RequestPostId: m.GetRequestPostId(), OfferPostId: m.GetOfferPostId(),
				ItemCode: m.GetOfferItemCode(), Quantity: 1,
			}}})
			continue
		}
		h := e.GetHandoff()
		if h == nil {
			continue
		}
		key := h.GetId() + "/" + h.GetState().String()
		if r.acted[key] {
			continue
		}
		var m *linliv1.Mutation
		switch {
		case h.GetState() == linliv1.HandoffState_HANDOFF_STATE_PROPOSED && simProposer(h) != r.user &&
			(h.GetGiverId() == r.user || h.GetReceiverId() == r.user):
			m = &linliv1.Mutation{Kind: &linliv1.Mutation_AcceptHandoff{AcceptHandoff: &linliv1.AcceptHandoffMutation{HandoffId: h.GetId()}}}
		case h.GetState() == linliv1.HandoffState_HANDOFF_STATE_ACCEPTED && h.GetGiverId() == r.user:
			b := simBuildings[0]
			for _, x := range simBuildings {
				if x.id == h.GetBuildingId() {
					b = x
				}
			}
			m = &linliv1.Mutation{Kind: &linliv1.Mutation_DropOff{DropOff: &linliv1.DropOffMutation{HandoffId: h.GetId(), DropPoint: b.drop}}}
		case h.GetState() == linliv1.HandoffState_HANDOFF_STATE_DROPPED_OFF && h.GetReceiverId() == r.user:
			m = &linliv1.Mutation{Kind: &linliv1.Mutation_ConfirmReceived{ConfirmReceived: &linliv1.ConfirmReceivedMutation{HandoffId: h.GetId()}}}
		}
		if m != nil {
			r.acted[key] = true
			r.enqueue(ctx, m)
		}
	}
}

// simAccepted reports whether h was ever accepted.
func simAccepted(h *linliv1.Handoff) bool {
	for _, ev := range h.GetHistory() {
		if ev.GetState() == linliv1.HandoffState_HANDOFF_STATE_ACCEPTED {
			return true
		}
	}
	return false
}

func simProposer(h *linliv1.Handoff) string {
	if len(h.GetHistory()) == 0 {
		return ""
	}
	return h.GetHistory()[0].GetByUserId()
}

// finalSync brings the resident online and syncs until it succeeds.
func (r *simResident) finalSync(ctx context.Context) error {
	r.net.offline.Store(0)
	r.net.drop.Store(0)
	var err error
	for range 10 {
		if err = r.c.Sync(ctx); err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return err
}

// check compares the resident's local synced state with a pull from zero
// and checks exactly-once and privacy.
func (r *simResident) check(ctx context.Context, base string, rep *Report) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s (%s): %s", r.name, r.user, fmt.Sprintf(format, args...)))
	}
	local, err := r.c.Synced()
	if err != nil {
		return []error{err}
	}
	tok, err := r.c.Token(ctx)
	if err != nil {
		return []error{err}
	}
	remote, err := simPullAll(ctx, base, tok)
	if err != nil {
		return []error{fmt.Errorf("%s: pull from zero: %w", r.name, err)}
	}
	// Convergence, entity by entity per scope.
	for _, sc := range slices.Sorted(maps.Keys(remote)) {
		for id, want := range remote[sc] {
			if got := local[sc][id]; !proto.Equal(got, want) {
				fail("%s %s: local %v, server %v", sc, id, got, want)
			}
		}
		for id := range local[sc] {
			if _, ok := remote[sc][id]; !ok {
				fail("%s %s: held locally, absent on the server", sc, id)
			}
		}
	}
	for sc, ents := range local {
		if _, ok := remote[sc]; !ok && len(ents) > 0 {
			fail("scope %s held locally (%d entities) but not given by the server", sc, len(ents))
		}
	}

	// Exactly once.
	pend, err := r.c.Pending()
	if err != nil || len(pend) > 0 {
		fail("%d mutations still pending (%v)", len(pend), err)
	}
	cs := local["user/"+r.user]["client/"+r.user+"/phone"].GetClientState()
	if cs.GetLastMutationId() != r.maxID {
		fail("client state last_mutation_id %d, want the highest enqueued id %d", cs.GetLastMutationId(), r.maxID)
	}
	state := client.MergeScopes(local)
	applied := map[string]bool{}
	for id := uint64(1); id <= r.maxID; id++ {
		m := r.enqueued[id]
		res, ok, err := r.c.Outcome(id)
		rep.Enqueued++
		switch {
		case err != nil || !ok:
			fail("mutation %d: no outcome (%v)", id, err)
			continue
		case res.GetStatus() == linliv1.MutationStatus_MUTATION_STATUS_APPLIED:
			rep.Applied++
		case res.GetStatus() == linliv1.MutationStatus_MUTATION_STATUS_REJECTED:
			rep.Rejected++
		}
		postID := m.GetPostOffer().GetPostId() + m.GetPostRequest().GetPostId()
		if postID == "" {
			continue
		}
		p := state["post/"+simCommunity+"/"+postID].GetPost()
		switch res.GetStatus() {
		case linliv1.MutationStatus_MUTATION_STATUS_APPLIED:
			applied[postID] = true
			if p.GetAuthorId() != r.user {
				fail("post %s applied (mutation %d) but not on the server as %s's: %v", postID, id, r.user, p)
			}
		case linliv1.MutationStatus_MUTATION_STATUS_REJECTED:
			if p != nil {
				fail("post %s rejected (%s) but present", postID, res.GetReason())
			}
		}
	}
	for id, e := range state {
		p := e.GetPost()
		if p != nil && p.GetAuthorId() == r.user {
			rep.Posts++
			if !applied[p.GetId()] {
				fail("post %s by %s on the server without an applied mutation", id, r.user)
			}
		}
		if h := e.GetHandoff(); h != nil && h.GetReceiverId() == r.user {
			rep.Handoffs++
			if h.GetState() == linliv1.HandoffState_HANDOFF_STATE_RECEIVED {
				rep.Received++
			}
		}
	}

	// Privacy: nothing of another resident's unit or phone, except a
	// handoff counterpart's after acceptance.
	counterpart := map[string]bool{} // posts of accepted counterparts
	for _, e := range state {
		if h := e.GetHandoff(); h != nil && simAccepted(h) {
			switch r.user {
			case h.GetGiverId():
				counterpart[h.GetRequestPostId()] = true
			case h.GetReceiverId():
				counterpart[h.GetOfferPostId()] = true
			}
		}
	}
	for sc, ents := range local {
		for id, e := range ents {
			if p := e.GetPost(); p != nil {
				if strings.HasPrefix(sc, "community/") && (p.GetUnit() != "" || p.GetPhone() != "" || !strings.Contains(p.GetAuthorName(), "*")) {
					fail("%s %s: community post shows unit %q phone %q name %q", sc, id, p.GetUnit(), p.GetPhone(), p.GetAuthorName())
				}
				if p.GetAuthorId() != r.user && !counterpart[p.GetId()] && (p.GetUnit() != "" || p.GetPhone() != "") {
					fail("%s %s: another resident's post shows unit %q phone %q", sc, id, p.GetUnit(), p.GetPhone())
				}
			}
			if m := e.GetMember(); m != nil && m.GetUserId() != r.user && (m.GetUnit() != "" || m.GetPhone() != "") {
				fail("%s %s: another member's unit %q phone %q", sc, id, m.GetUnit(), m.GetPhone())
			}
			if h := e.GetHandoff(); h != nil {
				errs = append(errs, r.checkHandoff(sc, id, h)...)
			}
		}
	}
	return errs
}

func (r *simResident) checkHandoff(sc, id string, h *linliv1.Handoff) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s (%s): %s %s: %s", r.name, r.user, sc, id, fmt.Sprintf(format, args...)))
	}
	seen := map[linliv1.HandoffState]bool{}
	for _, ev := range h.GetHistory() {
		if seen[ev.GetState()] {
			fail("state %v recorded twice: applied more than once", ev.GetState())
		}
		seen[ev.GetState()] = true
	}
	accepted := simAccepted(h)
	giver, receiver := h.GetGiverId() == r.user, h.GetReceiverId() == r.user
	if (!giver || !accepted) && (h.GetReceiverUnit() != "" || h.GetReceiverPhone() != "") && !receiver {
		fail("receiver's unit %q phone %q visible (giver %v, accepted %v)", h.GetReceiverUnit(), h.GetReceiverPhone(), giver, accepted)
	}
	if (!receiver || !accepted) && (h.GetGiverUnit() != "" || h.GetGiverPhone() != "") && !giver {
		fail("giver's unit %q phone %q visible (receiver %v, accepted %v)", h.GetGiverUnit(), h.GetGiverPhone(), receiver, accepted)
	}
	return errs
}

// simPullAll pulls every scope of tok's member from zero: scope → entity id
// → entity.
func simPullAll(ctx context.Context, base, tok string) (map[string]map[string]*linliv1.Entity, error) {
	api := linliv1connect.NewSyncServiceClient(&http.Client{Timeout: 30 * time.Second}, base, connect.WithInterceptors(bearer.Token(tok)))
	state := linlitest.State{}
	_, err := linlitest.Sync(ctx, api, state, "")
	return state, err
}
