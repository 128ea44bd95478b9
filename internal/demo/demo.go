package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/linli/linli/client"
	"github.com/linli/linli/internal/bearer"
	"github.com/linli/linli/internal/hotlinesim"
	"github.com/linli/linli/internal/pushsim"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server"
)

// Config is one run of the demo, as `linli demo` takes it from its flags.
type Config struct {
	// Addr is a running server (host:port); empty: an in-process one, with
	// a hotline simulator.
	Addr string
	// AdminCode, with Addr, is the one-time admin join code the server
	// printed on first start.
	AdminCode string
}

// Run plays the 23:40 story through the public API, narrating it to out: a
// parent asks for a child's fever reducer, a neighbour's offer is
// suggested, a volunteer carries it to the 15th-floor elevator windowsill,
// the parent confirms — and another neighbour sees neither unit nor phone.
// Each character syncs through package client, with a store of their own
// under the demo's temporary folder (removed at the end, with the
// in-process server's data).
//
// Errors: Addr without AdminCode; the first step of the story that does
// not go as told.
func Run(ctx context.Context, cfg Config, out io.Writer) (err error) {
	dir, err := os.MkdirTemp("", "linli-demo-")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
	base, adminCode, gateway, stop, err := demoServer(ctx, cfg.Addr, cfg.AdminCode, filepath.Join(dir, "server"))
	if err != nil {
		return err
	}
	defer stop()
	d := &demo{ctx: ctx, out: out, base: base, dir: filepath.Join(dir, "clients"), http: &http.Client{Timeout: 30 * time.Second}, gateway: gateway}
	defer func() { err = errors.Join(err, d.close()) }()
	return d.run(adminCode)
}

// demoServer returns the base URL and admin code to use, starting an
// in-process server with its data in dir when addr is empty, with a
// hotline simulator and a push gateway simulator (returned; nil for a
// server at addr). The caller removes dir after calling stop.
func demoServer(ctx context.Context, addr, code, dir string) (base, adminCode string, gateway *pushsim.Sim, stop func(), err error) {
	if addr != "" {
		if code == "" {
			return "", "", nil, nil, errors.New("--addr needs --admin-code (printed by the server's first start)")
		}
		return "http://" + addr, code, nil, func() {}, nil
	}
	hotURL, stopHotline, err := demoHotline()
	if err != nil {
		return "", "", nil, nil, err
	}
	gateway = &pushsim.Sim{}
	pushURL, stopPush, err := serveLocal(gateway)
	if err != nil {
		stopHotline()
		return "", "", nil, nil, err
	}
	stopSims := func() { stopHotline(); stopPush() }
	srv, err := server.New(server.Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler), Domain: mutualaid.Config{
		Hotline: mutualaid.HotlineConfig{URL: hotURL, APIKey: "demo", JurisdictionID: "yuqiao", Every: 200 * time.Millisecond},
		Push:    mutualaid.PushConfig{GatewayURL: pushURL, Every: 200 * time.Millisecond},
	}})
	if err != nil {
		stopSims()
		return "", "", nil, nil, err
	}
	code, err = srv.Service().Bootstrap(ctx, &linliv1.Community{Id: "yuqiao", Name: "玉桥社区", District: "通州区", StreetOffice: "玉桥街道"})
	ln, lerr := net.Listen("tcp", "127.0.0.1:0")
	if err = errors.Join(err, lerr); err != nil {
		stopSims()
		return "", "", nil, nil, errors.Join(err, srv.Close())
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(sctx, ln) }()
	stop = func() { cancel(); <-done; srv.Close(); stopSims() }
	return "http://" + ln.Addr().String(), code, gateway, stop, nil
}

// serveLocal serves h on a loopback port and returns its base URL.
func serveLocal(h http.Handler) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = hs.Close() }, nil
}

// demoHotline serves a hotline simulator that resolves cases after two
// seconds, for the in-process demo, and returns its GeoReport base URL.
func demoHotline() (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/open311/v2/", http.StripPrefix("/open311/v2", &hotlinesim.Sim{APIKey: "demo", ResolveAfter: 2 * time.Second}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/open311/v2/", func() { _ = hs.Close() }, nil
}

// demo is one run of the story.
type demo struct {
	ctx    context.Context
	out    io.Writer
	base   string
	dir    string // the characters' client stores, one folder each
	http   *http.Client
	step   int
	people []*person
	staff  linliv1connect.StaffServiceClient // as the community's admin
	// gateway is the push gateway simulator phones are reached through;
	// nil when the demo runs against a server of its own.
	gateway *pushsim.Sim
}

// person is a demo character signed in on their own device, which syncs
// through package client.
type person struct {
	name, user, device string
	c                  *client.Client
	token              string
}

// close closes every character's client.
func (d *demo) close() error {
	var errs []error
	for _, p := range d.people {
		errs = append(errs, p.c.Close())
	}
	return errors.Join(errs...)
}

func (d *demo) say(format string, args ...any) {
	d.step++
	fmt.Fprintf(d.out, "\n%2d. %s\n", d.step, fmt.Sprintf(format, args...))
}

func (d *demo) show(format string, args ...any) {
	fmt.Fprintf(d.out, "    %s\n", fmt.Sprintf(format, args...))
}

func (d *demo) run(adminCode string) error {
	admin, err := d.join(adminCode, "社区 刘敏", "staff-phone", "")
	if err != nil {
		return fmt.Errorf("join as admin: %w", err)
	}
	community := linliv1connect.NewCommunityServiceClient(d.http, d.base, connect.WithInterceptors(bearer.Token(admin.token)))
	d.staff = linliv1connect.NewStaffServiceClient(d.http, d.base, connect.WithInterceptors(bearer.Token(admin.token)))
	d.say("Staff 刘敏 sets up building 3 with its drop point and invites residents.")
	if _, err := community.CreateBuilding(d.ctx, &linliv1.CreateBuildingRequest{ProtocolVersion: 1, CommunityId: admin.community,
		Building: &linliv1.Building{Id: "b3", Name: "3号楼", DropPoints: []string{"15楼电梯口窗台", "1楼大堂"}}}); err != nil {
		return fmt.Errorf("create building: %w", err)
	}
	codes, err := d.codes(community, admin.community)
	if err != nil {
		return err
	}
	return d.story(community, admin.community, codes)
}

// codes makes the join codes the characters use.
func (d *demo) codes(cs linliv1connect.CommunityServiceClient, community string) (map[linliv1.Role]string, error) {
	out := map[linliv1.Role]string{}
	for _, role := range []linliv1.Role{linliv1.Role_ROLE_RESIDENT, linliv1.Role_ROLE_VOLUNTEER} {
		res, err := cs.CreateJoinCode(d.ctx, &linliv1.CreateJoinCodeRequest{ProtocolVersion: 1, CommunityId: community, BuildingId: "b3", Role: role, MaxUses: 5})
		if err != nil {
			return nil, fmt.Errorf("create join code: %w", err)
		}
		out[role] = res.GetCode()
	}
	d.show("resident code %s, volunteer code %s", out[linliv1.Role_ROLE_RESIDENT], out[linliv1.Role_ROLE_VOLUNTEER])
	return out, nil
}

// signedIn is the result of a Join.
type signedIn struct {
	user, community, token string
}

func (d *demo) join(code, name, client, unit string) (signedIn, error) {
	auth := linliv1connect.NewAuthServiceClient(d.http, d.base)
	res, err := auth.Join(d.ctx, &linliv1.JoinRequest{ProtocolVersion: 1, Code: code, ClientId: client, DisplayName: name,
		Unit: unit, Phone: demoPhone(unit)})
	if err != nil {
		return signedIn{}, err
	}
	return signedIn{user: res.GetMember().GetUserId(), community: res.GetMember().GetCommunityId(), token: res.GetTokens().GetAccessToken()}, nil
}

func demoPhone(unit string) string {
	if unit == "" {
		return ""
	}
	return "138 0000 " + unit
}

func (d *demo) person(code, name, device, unit string) (*person, error) {
	s, err := d.join(code, name, device, unit)
	if err != nil {
		return nil, fmt.Errorf("join as %s: %w", name, err)
	}
	d.show("%s joined as %s", name, s.user)
	c, err := client.Open(filepath.Join(d.dir, device), client.Config{
		BaseURL: d.base, HTTPClient: d.http, ClientID: device, Logger: slog.New(slog.DiscardHandler),
		AccessToken: func(context.Context) (string, error) { return s.token, nil },
	})
	if err != nil {
		return nil, fmt.Errorf("%s's client: %w", name, err)
	}
	p := &person{name: name, user: s.user, device: device, c: c, token: s.token}
	d.people = append(d.people, p)
	return p, nil
}

// push queues one mutation on p's device, syncs, and returns its outcome.
// An APPLIED outcome may carry a notice (e.g. emergency_call_120).
func (d *demo) push(p *person, m *linliv1.Mutation) (*linliv1.MutationResult, error) {
	id, err := p.c.Enqueue(d.ctx, m)
	if err != nil {
		return nil, fmt.Errorf("%s enqueue: %w", p.name, err)
	}
	if err := p.c.Sync(d.ctx); err != nil {
		return nil, fmt.Errorf("%s sync: %w", p.name, err)
	}
	r, ok, err := p.c.Outcome(id)
	if err != nil {
		return nil, fmt.Errorf("%s outcome: %w", p.name, err)
	}
	if !ok {
		return nil, fmt.Errorf("%s: mutation %d still pending after a sync", p.name, id)
	}
	if r.GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_APPLIED {
		return r, fmt.Errorf("%s: %s: %s", p.name, r.GetReason(), r.GetMessage())
	}
	return r, nil
}

// synced syncs p's device and returns what it holds: scope → entity id →
// entity.
func (d *demo) synced(p *person) (map[string]map[string]*linliv1.Entity, error) {
	if err := p.c.Sync(d.ctx); err != nil {
		return nil, fmt.Errorf("%s sync: %w", p.name, err)
	}
	all, err := p.c.Synced()
	if err != nil {
		return nil, fmt.Errorf("%s synced state: %w", p.name, err)
	}
	return all, nil
}

// describePost renders a post as the viewer sees it.
func describePost(p *linliv1.Post) string {
	var items []string
	for _, it := range p.GetItems() {
		items = append(items, fmt.Sprintf("%s ×%d", it.GetName(), it.GetQuantity()))
	}
	who := p.GetAuthorName()
	where := fmt.Sprintf("building %s, floor %d", p.GetBuildingId(), p.GetFloor())
	if p.GetUnit() != "" {
		where += ", unit " + p.GetUnit()
	}
	if p.GetPhone() != "" {
		where += ", phone " + p.GetPhone()
	}
	return fmt.Sprintf("%s %s: %s (%s; %s; %s)", strings.ToLower(strings.TrimPrefix(p.GetKind().String(), "POST_KIND_")),
		p.GetId(), strings.Join(items, ", "), who, where, strings.TrimPrefix(p.GetStatus().String(), "POST_STATUS_"))
}
