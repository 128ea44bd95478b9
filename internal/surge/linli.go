package surge

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/linli/linli/internal/bearer"
	"github.com/linli/linli/internal/hotlinesim"
	"github.com/linli/linli/mutualaid"
	"github.com/linli/linli/mutualaid/hotline"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server"
)

// The simulated community.
const (
	communityID  = "surge"
	jurisdiction = "yuqiao"
	hotlineKey   = "surge"
	appClientID  = "app"
	staffUser    = "staff"
	auditorUser  = "auditor"
)

// linliRun plays the population through linli: a real server (Pebble,
// auth, the domain) behind HTTP on the simulated clock, with the hotline
// simulator on the same clock. People push and pull through the API;
// the server's background passes run on the simulated clock; linli
// decides everything it decides.
type linliRun struct {
	pop   *population
	sc    *Scenario
	seed  uint64
	ctx   context.Context
	clock *Clock
	loop  *loop

	srv      *server.Server
	ts       *httptest.Server
	hotSrv   *httptest.Server
	hot      *hotlinesim.Sim
	httpc    *http.Client
	staffAPI linliv1connect.StaffServiceClient

	people   []*lperson // by household index
	staff    *lperson
	auditor  *auditor
	recs     []*NeedRecord // by need index
	byPost   map[string]*need
	selfHelp []time.Duration // by need index: when the need was met elsewhere (never if it was not)

	// Deadlines to check: each request's due time as linli set it (read
	// from its author's view), checked after the first pass that follows.
	dues    []dueCheck
	dueSeen map[string]bool

	trips       int
	stats       Stats
	fp120       int         // non-emergencies told to call 120
	stepMinutes [][]float64 // by step of stepNames: minutes, over needs met by neighbours
}

// dueCheck is a request's deadline, to check after the pass that follows it.
type dueCheck struct {
	at  time.Duration
	idx int
}

// lperson is one member's app: its mutation counter, cursor, and what
// its Pulls showed (its own posts, suggestions and handoffs; the
// building's board for a volunteer; every post's status as the
// community scope shows it).
type lperson struct {
	r         *linliRun
	h         *household // nil for staff
	user      string
	building  string // the member's building id ("" for staff)
	volunteer string // the building they volunteer for
	api       linliv1connect.SyncServiceClient
	rng       *rand.Rand
	next      uint64
	cursor    string
	handoffN  int

	posts    map[string]*linliv1.Post    // own, full (user scope)
	matches  map[string]*linliv1.Match   // "<request>/<offer>" (user scope)
	handoffs map[string]*linliv1.Handoff // user scope
	board    map[string]*linliv1.Handoff // building scope
	brief    map[string]brief            // community scope

	look     time.Duration // when the next look is scheduled (never: none)
	lookGen  int
	tried    map[string]bool // "<request>/<offer>" pairs proposed once
	onTrip   map[string]bool // handoffs they are carrying
	carrying bool            // a volunteer on a courier trip
	offered  bool
}

// brief is a post as the community scope shows it, as far as people act on it.
type brief struct {
	status   linliv1.PostStatus
	building string
	qty      int32
}

func buildingID(b int) string { return fmt.Sprintf("b%02d", b+1) }

// dropPoint is every building's drop point: contactless handoffs are
// left there.
const dropPoint = "1楼大堂窗台"

// start opens the server and the hotline simulator and provisions the
// community, its buildings and members, each member with a token for
// the whole run.
func (r *linliRun) start(dir string) error {
	r.hot = &hotlinesim.Sim{APIKey: hotlineKey, ResolveAfter: time.Duration(r.sc.Hotline.ResolveHours * float64(time.Hour)), Now: r.clock.Now}
	r.hotSrv = httptest.NewServer(r.hot)
	jobs := time.Duration(r.sc.Linli.JobsEveryMinutes * float64(time.Minute))
	cfg := server.Config{
		DataDir: filepath.Join(dir, "linli"), Logger: slog.New(slog.DiscardHandler), Now: r.clock.Now,
		KeyReload: -1, ManualJobs: true,
		RateLimits: server.RateLimits{Join: server.Limit{Rate: -1}, Refresh: server.Limit{Rate: -1}, Push: server.Limit{Rate: -1}},
		Domain: mutualaid.Config{
			Hotline: mutualaid.HotlineConfig{URL: r.hotSrv.URL + "/", APIKey: hotlineKey, JurisdictionID: jurisdiction, Every: jobs},
		},
	}
	cfg.Domain.Store.DropInterval = -1
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	r.srv = srv
	r.ts = httptest.NewServer(srv.Handler())
	r.httpc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	svc := srv.Service()
	ctx := r.ctx
	if _, err := svc.CreateCommunity(ctx, mutualaid.Operator, &linliv1.Community{
		Id: communityID, Name: "玉桥社区", District: "通州区", StreetOffice: "玉桥街道",
	}); err != nil {
		return fmt.Errorf("create community: %w", err)
	}
	for b := range r.sc.Buildings {
		if _, err := svc.PutBuilding(ctx, mutualaid.Operator, &linliv1.Building{
			Id: buildingID(b), CommunityId: communityID, Name: fmt.Sprintf("%d号楼", b+1), DropPoints: []string{dropPoint},
		}); err != nil {
			return fmt.Errorf("put building: %w", err)
		}
	}
	ttl := time.Duration(r.sc.Hours)*time.Hour + day
	mint := func(user string, role mutualaid.Role) (linliv1connect.SyncServiceClient, string, error) {
		tok, err := srv.Tokens().Mint(server.Principal{UserID: user, CommunityID: communityID, Role: role, ClientID: appClientID}, ttl)
		if err != nil {
			return nil, "", err
		}
		return linliv1connect.NewSyncServiceClient(r.httpc, r.ts.URL, connect.WithInterceptors(bearer.Token(tok))), tok, nil
	}
	for _, h := range r.pop.households {
		m := &linliv1.Member{
			UserId: "u" + h.id, CommunityId: communityID, Role: linliv1.Role_ROLE_RESIDENT, DisplayName: h.name,
			BuildingId: buildingID(h.building), Unit: h.unit, Phone: fmt.Sprintf("1380000%04d", h.idx),
		}
		role := mutualaid.RoleResident
		if h.volunteer {
			m.Role, m.VolunteerBuildingIds, role = linliv1.Role_ROLE_VOLUNTEER, []string{buildingID(h.building)}, mutualaid.RoleVolunteer
		}
		if _, err := svc.AddMember(ctx, m); err != nil {
			return fmt.Errorf("add member %s: %w", m.GetUserId(), err)
		}
		api, _, err := mint(m.GetUserId(), role)
		if err != nil {
			return err
		}
		p := r.newPerson(h, m.GetUserId(), api)
		p.building = buildingID(h.building)
		if h.volunteer {
			p.volunteer = p.building
		}
		r.people = append(r.people, p)
	}
	for _, u := range []string{staffUser, auditorUser} {
		if _, err := svc.AddMember(ctx, &linliv1.Member{UserId: u, CommunityId: communityID, Role: linliv1.Role_ROLE_STAFF, DisplayName: "社区工作人员"}); err != nil {
			return fmt.Errorf("add staff: %w", err)
		}
	}
	api, tok, err := mint(staffUser, mutualaid.RoleStaff)
	if err != nil {
		return err
	}
	r.staff = r.newPerson(nil, staffUser, api)
	r.staffAPI = linliv1connect.NewStaffServiceClient(r.httpc, r.ts.URL, connect.WithInterceptors(bearer.Token(tok)))
	aapi, _, err := mint(auditorUser, mutualaid.RoleStaff)
	if err != nil {
		return err
	}
	r.auditor = newAuditor(aapi)
	return nil
}

func (r *linliRun) newPerson(h *household, user string, api linliv1connect.SyncServiceClient) *lperson {
	idx := uint64(1 << 20)
	if h != nil {
		idx = uint64(h.idx)
	}
	return &lperson{
		r: r, h: h, user: user, api: api, rng: rand.New(rand.NewPCG(r.seed, idx<<8|1)),
		posts: map[string]*linliv1.Post{}, matches: map[string]*linliv1.Match{}, handoffs: map[string]*linliv1.Handoff{},
		board: map[string]*linliv1.Handoff{}, brief: map[string]brief{}, tried: map[string]bool{}, onTrip: map[string]bool{},
		look: never,
	}
}

// close stops the servers and closes the store.
func (r *linliRun) close() error {
	var err error
	if r.ts != nil {
		r.ts.Close()
	}
	if r.srv != nil {
		err = r.srv.Close()
	}
	if r.hotSrv != nil {
		r.hotSrv.Close()
	}
	if r.httpc != nil {
		r.httpc.CloseIdleConnections()
	}
	return err
}

// schedule puts the run's first events on the loop: each need's post (or
// phone call to a relay), each willing holder's offer, the jobs, staff.
func (r *linliRun) schedule() {
	sc := r.sc
	for _, n := range r.pop.needs {
		r.recs = append(r.recs, newRecord(PolicyLinli, n))
		r.byPost[n.id] = n
		r.selfHelp = append(r.selfHelp, never)
		if n.relayed {
			author := r.staff
			if n.relayVol >= 0 {
				author = r.people[n.relayVol]
			}
			r.loop.at(n.relayAt, func() { author.postNeed(n) })
		} else {
			p := r.people[n.hh.idx]
			r.loop.at(n.post, func() { p.postNeed(n) })
		}
		r.loop.at(n.selfHelp, func() { r.selfHelped(n) })
	}
	for _, p := range r.people {
		h := p.h
		if h.willing && len(h.spares) > 0 {
			// The community asked everyone with spares to post them:
			// they do at their first look.
			r.loop.at(r.pop.nextLook(p.rng, h, 0, sc.People.LookMinutes, 0), p.postOffer)
		}
		if p.volunteer != "" {
			p.wake()
		}
	}
	jobs := time.Duration(sc.Linli.JobsEveryMinutes * float64(time.Minute))
	var tick func()
	tick = func() {
		r.jobs()
		r.loop.at(r.clock.since()+jobs, tick)
	}
	r.loop.at(jobs, tick)
	var refresh func()
	refresh = func() {
		if _, err := r.srv.Service().RefreshMatches(r.ctx); err != nil {
			r.loop.fail(fmt.Errorf("refresh matches: %w", err))
		}
		r.loop.at(r.clock.since()+time.Hour, refresh)
	}
	r.loop.at(time.Hour, refresh)
	r.loop.at(r.pop.nextOffice(0)+expDuration(r.staff.rng, sc.Staff.LookMinutes), r.staffLook)
	var audit func()
	audit = func() {
		if err := r.auditor.pass(r); err != nil {
			r.loop.fail(err)
		}
		r.loop.at(r.clock.since()+time.Hour, audit)
	}
	r.loop.at(time.Hour, audit)
}

// jobs runs one pass of the server's background jobs at the simulated
// time: deadlines, then the hotline outbox and case following.
func (r *linliRun) jobs() {
	svc := r.srv.Service()
	t0 := time.Now()
	defer func() { r.stats.Jobs += time.Since(t0) }()
	passStart := r.clock.since()
	defer func() {
		if err := r.checkDeadlines(passStart); err != nil {
			r.loop.fail(err)
		}
	}()
	if _, err := svc.EscalateOverdue(r.ctx); err != nil {
		r.loop.fail(fmt.Errorf("escalate overdue: %w", err))
		return
	}
	if _, err := svc.ForwardCases(r.ctx); err != nil {
		r.loop.fail(fmt.Errorf("forward cases: %w", err))
		return
	}
	if _, err := svc.FollowCases(r.ctx); err != nil {
		r.loop.fail(fmt.Errorf("follow cases: %w", err))
	}
}

// noteDue remembers request post's deadline, as linli set it, for the
// check after the pass that follows it.
func (r *linliRun) noteDue(post *linliv1.Post) {
	n := r.byPost[post.GetId()]
	due := post.GetEscalation().GetDueAt()
	if n == nil || due == nil || r.dueSeen[n.id] {
		return
	}
	r.dueSeen[n.id] = true
	r.dues = append(r.dues, dueCheck{at: due.AsTime().Sub(r.pop.start), idx: n.idx})
}

// checkDeadlines runs after a pass of the jobs: every request whose
// deadline passed before the pass and that was still waiting for
// neighbours must now be overdue, and in the staff queue or at the
// hotline. An emergency's record notes when it got there.
func (r *linliRun) checkDeadlines(passStart time.Duration) error {
	var due []dueCheck
	rest := r.dues[:0]
	for _, d := range r.dues {
		if d.at < passStart {
			due = append(due, d)
		} else {
			rest = append(rest, d)
		}
	}
	r.dues = rest
	if len(due) == 0 {
		return nil
	}
	a := r.auditor
	if err := a.pass(r); err != nil {
		return err
	}
	now := r.clock.since()
	for _, d := range due {
		n := r.pop.needs[d.idx]
		post := a.post(n.id)
		e := post.GetEscalation()
		switch post.GetStatus() {
		case linliv1.PostStatus_POST_STATUS_OPEN, linliv1.PostStatus_POST_STATUS_MATCHED:
		default:
			if e.GetHotlineCase() != nil && r.recs[d.idx].Reached < 0 {
				r.recs[d.idx].Reached = now
			}
			continue // met, withdrawn or forwarded before its deadline
		}
		if e.GetOverdueAt() == nil {
			a.violate(now, "request %s: still waiting after its deadline (hour %.2f) and the pass that followed, but not overdue", n.id, d.at.Hours())
			continue
		}
		if _, queued := a.staffScope()["queue/"+communityID+"/"+n.id]; !queued && e.GetHotlineCase() == nil {
			a.violate(now, "request %s: overdue but neither in the staff queue nor at the hotline", n.id)
			continue
		}
		if r.recs[d.idx].Reached < 0 {
			r.recs[d.idx].Reached = now
		}
	}
	return nil
}

// staffLook: staff go through the queue and forward every request still
// waiting (a neighbour's handoff under way: linli refuses, they leave it),
// then act on the requests they posted for residents without the app.
func (r *linliRun) staffLook() {
	defer func() {
		next := r.clock.since() + expDuration(r.staff.rng, r.sc.Staff.LookMinutes)
		r.loop.at(r.pop.nextOffice(next), r.staffLook)
	}()
	t0 := time.Now()
	q, err := r.staffAPI.ListQueue(r.ctx, &linliv1.ListQueueRequest{ProtocolVersion: 1})
	if err != nil {
		r.loop.fail(fmt.Errorf("list queue: %w", err))
		return
	}
	for _, it := range q.GetItems() {
		if it.GetState() != linliv1.QueueState_QUEUE_STATE_WAITING {
			continue
		}
		_, err := r.staffAPI.ForwardPost(r.ctx, &linliv1.ForwardPostRequest{ProtocolVersion: 1, PostId: it.GetPostId()})
		switch {
		case err == nil:
			r.stats.Forwarded++
		case connect.CodeOf(err) == connect.CodeAborted || connect.CodeOf(err) == connect.CodeAlreadyExists || connect.CodeOf(err) == connect.CodeFailedPrecondition:
			r.stats.ForwardRefused++
		default:
			r.loop.fail(fmt.Errorf("forward %s: %w", it.GetPostId(), err))
			return
		}
	}
	r.stats.Staff += time.Since(t0)
	if len(r.staff.posts) > 0 {
		r.staff.act()
	}
}

// selfHelped: the need is met some other way. If its request is still
// open or forwarded (not while a neighbour's handoff is under way), its
// author withdraws it.
func (r *linliRun) selfHelped(n *need) {
	rec := r.recs[n.idx]
	if rec.Neighbour >= 0 {
		return
	}
	author := r.people[n.hh.idx]
	if n.relayed {
		author = r.staff
		if n.relayVol >= 0 {
			author = r.people[n.relayVol]
		}
	}
	p, ok := author.posts[n.id]
	if !ok {
		// Not posted yet (a relay still to come): met before it was.
		r.selfHelp[n.idx] = r.clock.since()
		return
	}
	switch p.GetStatus() {
	case linliv1.PostStatus_POST_STATUS_OPEN, linliv1.PostStatus_POST_STATUS_ESCALATED:
	default:
		return
	}
	r.selfHelp[n.idx] = r.clock.since()
	author.do(action{m: &linliv1.Mutation{Kind: &linliv1.Mutation_CancelPost{CancelPost: &linliv1.CancelPostMutation{
		PostId: n.id, Reason: "已经买到了",
	}}}})
}

// action is a mutation and what to do with its outcome.
type action struct {
	m    *linliv1.Mutation
	then func(res *linliv1.MutationResult)
}

// do pushes actions as one batch and hands each its outcome.
func (p *lperson) do(acts ...action) {
	if len(acts) == 0 {
		return
	}
	r := p.r
	muts := make([]*linliv1.Mutation, len(acts))
	now := timestamppb.New(r.clock.Now())
	for i, a := range acts {
		p.next++
		a.m.Id, a.m.ClientTime = p.next, now
		muts[i] = a.m
	}
	t0 := time.Now()
	res, err := p.api.Push(r.ctx, &linliv1.PushRequest{ProtocolVersion: 1, ClientId: appClientID, Mutations: muts})
	r.stats.Push += time.Since(t0)
	r.stats.Pushes++
	r.stats.Mutations += len(muts)
	if err != nil {
		r.loop.fail(fmt.Errorf("push by %s: %w", p.user, err))
		return
	}
	if len(res.GetResults()) != len(acts) {
		r.loop.fail(fmt.Errorf("push by %s: %d results for %d mutations", p.user, len(res.GetResults()), len(acts)))
		return
	}
	for i, a := range acts {
		out := res.GetResults()[i]
		if out.GetStatus() == linliv1.MutationStatus_MUTATION_STATUS_REJECTED {
			r.stats.Rejected[out.GetReason()]++
		}
		if a.then != nil {
			a.then(out)
		}
	}
}

// pull folds the member's changes into what its app shows.
func (p *lperson) pull() error {
	r := p.r
	t0 := time.Now()
	defer func() { r.stats.Pull += time.Since(t0) }()
	for range 1000 {
		res, err := p.api.Pull(r.ctx, &linliv1.PullRequest{ProtocolVersion: 1, Cursor: p.cursor})
		r.stats.Pulls++
		if err != nil {
			return fmt.Errorf("pull by %s: %w", p.user, err)
		}
		r.stats.Changes += len(res.GetChanges())
		p.apply(res)
		p.cursor = res.GetCursor()
		if !res.GetHasMore() {
			return nil
		}
	}
	return fmt.Errorf("pull by %s never ends", p.user)
}

func (p *lperson) apply(res *linliv1.PullResponse) {
	for _, sc := range append(slices.Clone(res.GetDroppedScopes()), scopesOf(res.GetResets())...) {
		switch {
		case strings.HasPrefix(sc, "user/"):
			clear(p.posts)
			clear(p.matches)
			clear(p.handoffs)
		case strings.HasPrefix(sc, "building/"):
			clear(p.board)
		case strings.HasPrefix(sc, "community/"):
			clear(p.brief)
		}
	}
	for _, ch := range res.GetChanges() {
		sc, id := ch.GetScope(), ch.GetEntityId()
		parts := strings.Split(id, "/")
		switch {
		case strings.HasPrefix(sc, "user/"):
			switch parts[0] {
			case "post":
				if ch.GetDeleted() {
					delete(p.posts, parts[len(parts)-1])
				} else if post := ch.GetEntity().GetPost(); post != nil {
					p.posts[post.GetId()] = post
					p.r.noteDue(post)
				}
			case "match":
				if len(parts) == 4 {
					key := parts[2] + "/" + parts[3]
					if ch.GetDeleted() {
						delete(p.matches, key)
					} else if m := ch.GetEntity().GetMatch(); m != nil {
						p.matches[key] = m
					}
				}
			case "handoff":
				if ch.GetDeleted() {
					delete(p.handoffs, parts[len(parts)-1])
				} else if h := ch.GetEntity().GetHandoff(); h != nil {
					p.handoffs[h.GetId()] = h
				}
			}
		case strings.HasPrefix(sc, "building/"):
			if parts[0] == "handoff" {
				if ch.GetDeleted() {
					delete(p.board, parts[len(parts)-1])
				} else if h := ch.GetEntity().GetHandoff(); h != nil {
					p.board[h.GetId()] = h
				}
			}
		case strings.HasPrefix(sc, "community/"):
			if parts[0] == "post" {
				if ch.GetDeleted() {
					delete(p.brief, parts[len(parts)-1])
				} else if post := ch.GetEntity().GetPost(); post != nil {
					b := brief{status: post.GetStatus(), building: post.GetBuildingId()}
					if len(post.GetItems()) > 0 {
						b.qty = post.GetItems()[0].GetQuantity()
					}
					p.brief[post.GetId()] = b
				}
			}
		}
	}
}

func scopesOf(rs []*linliv1.ScopeReset) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.GetScope())
	}
	return out
}

// postNeed posts need n's request (for its household, or, by a volunteer
// or staff, on behalf of a resident without the app), then looks at the
// suggestions at once, as the app shows them.
func (p *lperson) postNeed(n *need) {
	r := p.r
	h := n.hh
	u := linliv1.Urgency_URGENCY_ROUTINE
	if n.urgent || n.emergency {
		u = linliv1.Urgency_URGENCY_URGENT
	}
	d := &linliv1.PostDraft{
		Items:   []*linliv1.PostItem{{ItemCode: n.item, Name: n.name, Quantity: int32(n.qty)}},
		Urgency: u, Note: n.note, BuildingId: buildingID(h.building), Floor: int32(h.floor), Unit: h.unit,
		Phone: fmt.Sprintf("1380000%04d", h.idx), DisplayName: h.name, ForWhom: n.forWhom, SharePhoneWithHotline: true,
	}
	if n.relayed {
		d.OnBehalf = &linliv1.OnBehalf{ResidentName: h.name, Consent: true, ConsentNote: "老人电话求助，同意代发"}
	}
	rec := r.recs[n.idx]
	p.do(action{
		m: &linliv1.Mutation{Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{PostId: n.id, Draft: d}}},
		then: func(res *linliv1.MutationResult) {
			if res.GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_APPLIED {
				r.loop.fail(fmt.Errorf("request %s refused: %s %s", n.id, res.GetReason(), res.GetMessage()))
				return
			}
			if res.GetReason() == "emergency_call_120" {
				rec.Guided120 = r.clock.since()
				if !n.emergency {
					r.fp120++
				}
			}
		},
	})
	p.act()
}

// postOffer posts the household's spares as one offer.
func (p *lperson) postOffer() {
	h := p.h
	d := &linliv1.PostDraft{
		Urgency: linliv1.Urgency_URGENCY_ROUTINE, Note: "有多余的，邻居需要可以拿，放门把手上",
		BuildingId: p.building, Floor: int32(h.floor), Unit: h.unit, Phone: fmt.Sprintf("1380000%04d", h.idx), DisplayName: h.name,
	}
	for _, s := range h.spares {
		d.Items = append(d.Items, &linliv1.PostItem{ItemCode: s.item, Name: s.name, Quantity: int32(s.qty), ExpiryDate: s.expiry})
	}
	p.do(action{
		m: &linliv1.Mutation{Kind: &linliv1.Mutation_PostOffer{PostOffer: &linliv1.PostOfferMutation{PostId: "o" + h.id, Draft: d}}},
		then: func(res *linliv1.MutationResult) {
			if res.GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_APPLIED {
				p.r.loop.fail(fmt.Errorf("offer of %s refused: %s %s", h.id, res.GetReason(), res.GetMessage()))
			}
		},
	})
	p.offered = true
	p.act()
}

// act is one look at the app: pull, then do what the person would do
// with what it shows, in one push; a volunteer who claimed a handoff
// pulls again for its pickup code. Then the next look is scheduled.
func (p *lperson) act() {
	r := p.r
	if r.loop.err != nil {
		return
	}
	if err := p.pull(); err != nil {
		r.loop.fail(err)
		return
	}
	var acts []action
	acts = append(acts, p.asReceiver()...)
	acts = append(acts, p.asGiver()...)
	claimed := ""
	if c, ok := p.asCourier(); ok {
		acts = append(acts, action{m: c, then: func(res *linliv1.MutationResult) {
			if res.GetStatus() == linliv1.MutationStatus_MUTATION_STATUS_APPLIED {
				claimed = c.GetClaimCourier().GetHandoffId()
			}
		}})
	}
	p.do(acts...)
	if claimed != "" {
		p.startCourierTrip(claimed)
	}
	p.wake()
}

// lookMinutes is how often the person looks now, and at night (0:
// asleep), from what they are waiting for.
func (p *lperson) lookMinutes() (mean, night float64) {
	sc := p.r.sc
	mean = 0
	pick := func(m float64) {
		if mean == 0 || m < mean {
			mean = m
		}
	}
	for _, post := range p.posts {
		switch post.GetStatus() {
		case linliv1.PostStatus_POST_STATUS_OPEN, linliv1.PostStatus_POST_STATUS_MATCHED:
			if post.GetKind() == linliv1.PostKind_POST_KIND_REQUEST {
				pick(sc.People.WaitingLookMinutes)
				fw := post.GetForWhom()
				if post.GetUrgency() != linliv1.Urgency_URGENCY_ROUTINE || fw.GetAgeMonths() > 0 {
					night = sc.People.NightLookMinutes
				}
			} else {
				pick(sc.People.LookMinutes)
			}
		case linliv1.PostStatus_POST_STATUS_ESCALATED:
			pick(sc.People.LookMinutes)
		}
	}
	for _, h := range p.handoffs {
		if live(h) {
			pick(sc.People.LookMinutes)
		}
	}
	if p.volunteer != "" && !p.r.pop.illAt(p.h, p.r.clock.since()) {
		pick(sc.Volunteers.LookMinutes)
	}
	if len(p.onTrip) > 0 || p.carrying {
		pick(sc.People.LookMinutes)
	}
	return mean, night
}

// wake schedules the person's next look if they have anything to look
// for (a sooner draw replaces a later one: looks are memoryless).
func (p *lperson) wake() {
	r := p.r
	if p.h == nil {
		return // staff look on their own schedule
	}
	mean, night := p.lookMinutes()
	if mean == 0 {
		p.look = never
		return
	}
	at := r.pop.nextLook(p.rng, p.h, r.clock.since(), mean, night)
	if p.look >= 0 && p.look > r.clock.since() && p.look <= at {
		return
	}
	p.lookGen++
	gen := p.lookGen
	p.look = at
	r.loop.at(at, func() {
		if p.lookGen != gen {
			return
		}
		p.look = never
		p.act()
	})
}

// live reports whether a handoff is under way.
func live(h *linliv1.Handoff) bool {
	switch h.GetState() {
	case linliv1.HandoffState_HANDOFF_STATE_RECEIVED, linliv1.HandoffState_HANDOFF_STATE_CANCELLED:
		return false
	}
	return true
}

// proposer is who proposed a handoff.
func proposer(h *linliv1.Handoff) string {
	if len(h.GetHistory()) == 0 {
		return ""
	}
	return h.GetHistory()[0].GetByUserId()
}

// since is when a handoff entered its current state.
func enteredAt(h *linliv1.Handoff, state linliv1.HandoffState) time.Time {
	for _, e := range h.GetHistory() {
		if e.GetState() == state {
			return e.GetAt().AsTime()
		}
	}
	return time.Time{}
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
}

func cancelHandoff(id, reason string) *linliv1.Mutation {
	return &linliv1.Mutation{Kind: &linliv1.Mutation_CancelHandoff{CancelHandoff: &linliv1.CancelHandoffMutation{HandoffId: id, Reason: reason}}}
}

// asReceiver: for each of the person's requests still waiting, fetch
// what was dropped off, accept a neighbour's proposal, drop proposals a
// giver sat on, and propose to the best suggestion the app shows.
func (p *lperson) asReceiver() []action {
	r := p.r
	now := r.clock.Now()
	timeout := time.Duration(r.sc.Linli.ProposeTimeoutMinutes * float64(time.Minute))
	var acts []action
	for _, id := range sortedKeys(p.posts) {
		post := p.posts[id]
		if post.GetKind() != linliv1.PostKind_POST_KIND_REQUEST {
			continue
		}
		n := r.byPost[id]
		if n == nil {
			continue
		}
		rec := r.recs[n.idx]
		if post.GetStatus() == linliv1.PostStatus_POST_STATUS_ESCALATED {
			if e := post.GetEscalation(); e.GetFeedbackRequested() && e.GetFeedback() == nil {
				acts = append(acts, action{m: &linliv1.Mutation{Kind: &linliv1.Mutation_RateCase{RateCase: &linliv1.RateCaseMutation{
					PostId: id, Solved: true, Satisfaction: linliv1.Satisfaction_SATISFACTION_SATISFIED,
				}}}})
			}
		}
		var dropped, advanced, byGiver, mine []*linliv1.Handoff
		for _, hid := range sortedKeys(p.handoffs) {
			h := p.handoffs[hid]
			if h.GetRequestPostId() != id || h.GetReceiverId() != p.user || !live(h) {
				continue
			}
			switch h.GetState() {
			case linliv1.HandoffState_HANDOFF_STATE_DROPPED_OFF:
				dropped = append(dropped, h)
			case linliv1.HandoffState_HANDOFF_STATE_PROPOSED:
				if proposer(h) == p.user {
					mine = append(mine, h)
				} else {
					byGiver = append(byGiver, h)
				}
			default:
				advanced = append(advanced, h)
			}
		}
		for _, h := range dropped {
			courier := h.GetCourierId() != ""
			acts = append(acts, action{
				m: &linliv1.Mutation{Kind: &linliv1.Mutation_ConfirmReceived{ConfirmReceived: &linliv1.ConfirmReceivedMutation{HandoffId: h.GetId()}}},
				then: func(res *linliv1.MutationResult) {
					if res.GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_APPLIED {
						return
					}
					if rec.Neighbour < 0 {
						rec.Neighbour, rec.Courier = r.clock.since(), courier
					} else {
						rec.Extra++
					}
				},
			})
		}
		open := post.GetStatus() == linliv1.PostStatus_POST_STATUS_OPEN || post.GetStatus() == linliv1.PostStatus_POST_STATUS_MATCHED
		if !open || len(dropped) > 0 {
			continue
		}
		switch {
		case len(advanced) > 0:
			for _, h := range append(byGiver, mine...) {
				acts = append(acts, action{m: cancelHandoff(h.GetId(), "已有邻居帮忙了")})
			}
			continue
		case len(byGiver) > 0:
			acts = append(acts, action{m: &linliv1.Mutation{Kind: &linliv1.Mutation_AcceptHandoff{AcceptHandoff: &linliv1.AcceptHandoffMutation{HandoffId: byGiver[0].GetId()}}}})
			for _, h := range append(byGiver[1:], mine...) {
				acts = append(acts, action{m: cancelHandoff(h.GetId(), "已有邻居帮忙了")})
			}
			continue
		}
		waiting := false
		for _, h := range mine {
			if now.Sub(enteredAt(h, linliv1.HandoffState_HANDOFF_STATE_PROPOSED)) >= timeout {
				acts = append(acts, action{m: cancelHandoff(h.GetId(), "对方没有回应")})
			} else {
				waiting = true
			}
		}
		if waiting {
			continue
		}
		if m := p.bestSuggestion(id); m != nil {
			acts = append(acts, p.propose(post, m, n.qty))
		}
	}
	return acts
}

// bestSuggestion is the best suggested offer for request id the person
// has not tried yet: highest score first, as the app lists them.
func (p *lperson) bestSuggestion(id string) *linliv1.Match {
	var best *linliv1.Match
	for _, key := range sortedKeys(p.matches) {
		m := p.matches[key]
		if m.GetRequestPostId() != id || m.GetAvailable() <= 0 || p.tried[key] {
			continue
		}
		if best == nil || m.GetScore() > best.GetScore() {
			best = m
		}
	}
	return best
}

// propose proposes a handoff for suggestion m: the asked quantity (or
// what is free), dropped at the request's building's drop point, with a
// courier when the two live in different buildings.
func (p *lperson) propose(req *linliv1.Post, m *linliv1.Match, want int) action {
	r := p.r
	p.tried[m.GetRequestPostId()+"/"+m.GetOfferPostId()] = true
	p.handoffN++
	id := fmt.Sprintf("x%s-%d", p.user, p.handoffN)
	offerBuilding := p.brief[m.GetOfferPostId()].building
	if req.GetAuthorId() != p.user { // the giver proposes: the offer is theirs
		offerBuilding = p.building
	}
	return action{
		m: &linliv1.Mutation{Kind: &linliv1.Mutation_ProposeHandoff{ProposeHandoff: &linliv1.ProposeHandoffMutation{
			HandoffId: id, RequestPostId: m.GetRequestPostId(), OfferPostId: m.GetOfferPostId(), ItemCode: m.GetOfferItemCode(),
			Quantity: min(int32(want), m.GetAvailable()), NeedsCourier: offerBuilding != req.GetBuildingId(),
			DropPoint: dropPoint,
		}}},
		then: func(res *linliv1.MutationResult) {
			if res.GetStatus() == linliv1.MutationStatus_MUTATION_STATUS_APPLIED {
				r.stats.Proposed++
			}
		},
	}
}

// asGiver: for each of the person's offers, accept proposals, carry
// accepted handoffs that need no courier (or whose courier never came),
// drop proposals a requester sat on, and propose to a suggested request
// still waiting for anyone.
func (p *lperson) asGiver() []action {
	r := p.r
	now := r.clock.Now()
	timeout := time.Duration(r.sc.Linli.ProposeTimeoutMinutes * float64(time.Minute))
	var acts []action
	for _, id := range sortedKeys(p.posts) {
		post := p.posts[id]
		if post.GetKind() != linliv1.PostKind_POST_KIND_OFFER {
			continue
		}
		pending := false
		for _, hid := range sortedKeys(p.handoffs) {
			h := p.handoffs[hid]
			if h.GetOfferPostId() != id || h.GetGiverId() != p.user || !live(h) {
				continue
			}
			switch h.GetState() {
			case linliv1.HandoffState_HANDOFF_STATE_PROPOSED:
				if proposer(h) != p.user {
					acts = append(acts, action{
						m: &linliv1.Mutation{Kind: &linliv1.Mutation_AcceptHandoff{AcceptHandoff: &linliv1.AcceptHandoffMutation{HandoffId: hid}}},
						then: func(res *linliv1.MutationResult) {
							if res.GetStatus() == linliv1.MutationStatus_MUTATION_STATUS_APPLIED && !h.GetNeedsCourier() {
								p.startGiverTrip(h)
							}
						},
					})
				} else if now.Sub(enteredAt(h, linliv1.HandoffState_HANDOFF_STATE_PROPOSED)) >= timeout {
					acts = append(acts, action{m: cancelHandoff(hid, "对方没有回应")})
				} else {
					pending = true
				}
			case linliv1.HandoffState_HANDOFF_STATE_ACCEPTED:
				wait := time.Duration(r.sc.Linli.CourierWaitMinutes * float64(time.Minute))
				if !h.GetNeedsCourier() || (h.GetCourierId() == "" && now.Sub(enteredAt(h, linliv1.HandoffState_HANDOFF_STATE_ACCEPTED)) >= wait) {
					p.startGiverTrip(h)
				}
			}
		}
		open := post.GetStatus() == linliv1.PostStatus_POST_STATUS_OPEN || post.GetStatus() == linliv1.PostStatus_POST_STATUS_MATCHED
		if !r.sc.Linli.GiversPropose || pending || !open {
			continue
		}
		var best *linliv1.Match
		for _, key := range sortedKeys(p.matches) {
			m := p.matches[key]
			if m.GetOfferPostId() != id || m.GetAvailable() <= 0 || p.tried[key] {
				continue
			}
			if b, ok := p.brief[m.GetRequestPostId()]; !ok || b.status != linliv1.PostStatus_POST_STATUS_OPEN {
				continue
			}
			if best == nil || m.GetScore() > best.GetScore() {
				best = m
			}
		}
		if best != nil {
			b := p.brief[best.GetRequestPostId()]
			req := &linliv1.Post{Id: best.GetRequestPostId(), BuildingId: b.building, AuthorId: best.GetRequestAuthorId()}
			acts = append(acts, p.propose(req, best, int(max(1, b.qty))))
		}
	}
	return acts
}

// startGiverTrip: the giver takes the item to the drop point and says so.
func (p *lperson) startGiverTrip(h *linliv1.Handoff) {
	r := p.r
	id := h.GetId()
	if p.onTrip[id] {
		return
	}
	p.onTrip[id] = true
	walk := r.sc.People.WalkSameMinutes
	if h.GetBuildingId() != p.building {
		walk = r.sc.People.WalkOtherMinutes
	}
	r.loop.at(r.clock.since()+walkDuration(p.rng, walk), func() {
		delete(p.onTrip, id)
		p.do(action{m: &linliv1.Mutation{Kind: &linliv1.Mutation_DropOff{DropOff: &linliv1.DropOffMutation{HandoffId: id}}}})
	})
}

// asCourier: a volunteer who is well, awake and free claims the oldest
// handoff on the building's board that waits for a courier.
func (p *lperson) asCourier() (*linliv1.Mutation, bool) {
	r := p.r
	if p.volunteer == "" || p.carrying || r.pop.illAt(p.h, r.clock.since()) {
		return nil, false
	}
	var best *linliv1.Handoff
	for _, id := range sortedKeys(p.board) {
		h := p.board[id]
		if h.GetState() != linliv1.HandoffState_HANDOFF_STATE_ACCEPTED || !h.GetNeedsCourier() || h.GetCourierId() != "" {
			continue
		}
		if best == nil || enteredAt(h, linliv1.HandoffState_HANDOFF_STATE_ACCEPTED).Before(enteredAt(best, linliv1.HandoffState_HANDOFF_STATE_ACCEPTED)) {
			best = h
		}
	}
	if best == nil {
		return nil, false
	}
	return &linliv1.Mutation{Kind: &linliv1.Mutation_ClaimCourier{ClaimCourier: &linliv1.ClaimCourierMutation{HandoffId: best.GetId()}}}, true
}

// startCourierTrip: the volunteer, having claimed handoff id, reads its
// pickup code, walks to the giver, picks it up, and leaves it at the drop
// point.
func (p *lperson) startCourierTrip(id string) {
	r := p.r
	if err := p.pull(); err != nil {
		r.loop.fail(err)
		return
	}
	code := p.handoffs[id].GetPickupCode()
	p.carrying = true
	walk := r.sc.People.WalkOtherMinutes
	r.loop.at(r.clock.since()+walkDuration(p.rng, walk), func() {
		p.do(action{
			m: &linliv1.Mutation{Kind: &linliv1.Mutation_PickUp{PickUp: &linliv1.PickUpMutation{HandoffId: id, PickupCode: code}}},
			then: func(res *linliv1.MutationResult) {
				if res.GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_APPLIED {
					p.carrying = false
					return
				}
				r.loop.at(r.clock.since()+walkDuration(p.rng, walk), func() {
					p.carrying = false
					p.do(action{
						m: &linliv1.Mutation{Kind: &linliv1.Mutation_DropOff{DropOff: &linliv1.DropOffMutation{HandoffId: id}}},
						then: func(res *linliv1.MutationResult) {
							if res.GetStatus() == linliv1.MutationStatus_MUTATION_STATUS_APPLIED {
								r.trips++
							}
						},
					})
					p.wake()
				})
			},
		})
	})
}

// finish reads what linli recorded: each request's queue time and its
// hotline case (created and closed at the hotline simulator).
func (r *linliRun) finish(end time.Duration) error {
	if err := r.auditor.pass(r); err != nil {
		return err
	}
	cases := map[string]hotlinesim.SimCase{}
	for _, c := range r.hot.Cases() {
		for _, n := range r.pop.needs {
			if strings.Contains(c.Description, strings.TrimPrefix(referenceOf(n.id), "\n")) {
				cases[n.id] = c
			}
		}
	}
	resolve := time.Duration(r.sc.Hotline.ResolveHours * float64(time.Hour))
	for i, n := range r.pop.needs {
		rec := r.recs[i]
		if post := r.auditor.post(n.id); post != nil {
			rec.Urgency = strings.TrimPrefix(post.GetUrgency().String(), "URGENCY_")
			if o := post.GetEscalation().GetOverdueAt(); o != nil {
				rec.Overdue = o.AsTime().Sub(r.pop.start)
			}
		}
		if h := r.auditor.receivedHandoff(n.id); h != nil && rec.Neighbour >= 0 {
			r.steps(n, h)
		}
		if c, ok := cases[n.id]; ok {
			rec.CaseAt = c.Requested.Sub(r.pop.start)
			rec.ClosedAt = rec.CaseAt + resolve
		}
		settle(rec, r.selfHelp[i], end)
	}
	return nil
}

// Steps of a need met by a neighbour in linli, as its handoff's history
// shows them.
var stepNames = []string{
	"request → the handoff that delivered proposed",
	"proposed → accepted",
	"accepted → dropped off (walk, or courier)",
	"dropped off → received (the asker's next look)",
}

// steps records how long each step of need n's delivery took.
func (r *linliRun) steps(n *need, h *linliv1.Handoff) {
	at := func(s linliv1.HandoffState) time.Duration {
		t := enteredAt(h, s)
		if t.IsZero() {
			return never
		}
		return t.Sub(r.pop.start)
	}
	posted := r.recs[n.idx].Posted
	times := []time.Duration{posted, at(linliv1.HandoffState_HANDOFF_STATE_PROPOSED), at(linliv1.HandoffState_HANDOFF_STATE_ACCEPTED),
		at(linliv1.HandoffState_HANDOFF_STATE_DROPPED_OFF), at(linliv1.HandoffState_HANDOFF_STATE_RECEIVED)}
	if r.stepMinutes == nil {
		r.stepMinutes = make([][]float64, len(stepNames))
	}
	for i := range stepNames {
		if times[i] >= 0 && times[i+1] >= times[i] {
			r.stepMinutes[i] = append(r.stepMinutes[i], (times[i+1] - times[i]).Minutes())
		}
	}
}

// referenceOf is the reference line linli appends to a case's description.
func referenceOf(postID string) string {
	return hotline.Reference(mutualaid.CaseKey(communityID, postID))
}

// report is linli's own report of the run, as staff read it.
func (r *linliRun) report(end time.Duration) (*linliv1.Report, error) {
	res, err := r.staffAPI.GetReport(r.ctx, &linliv1.GetReportRequest{
		ProtocolVersion: 1, From: timestamppb.New(r.pop.start), To: timestamppb.New(r.pop.start.Add(end)),
	})
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return res.GetReport(), nil
}
