package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	gosync "sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/cockroachdb/pebble/v2"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server"
	linlisync "github.com/linli/linli/sync"
)

// benchTarget is the server under measurement: started in-process, or a
// running one reached at --addr.
type benchTarget struct {
	name    string // "in-process" or the address
	baseURL string
	// community is where push, push-batch and subscribers run: c1 in
	// process, the join code's community with --addr.
	community string
	// inProcess is true when the server runs in this process, so that its
	// memory can be read from /proc/self.
	inProcess bool
	// dbMetrics reads the in-process server's database metrics (nil with
	// --addr), to let its compactions settle between scenarios.
	dbMetrics func() (*pebble.Metrics, error)
	// writes counts the in-process server's commit groups (off with
	// --addr: nothing feeds it).
	writes writeMeter
	close  func() error

	// In process, members are added to the server's directory and their
	// tokens minted with its keys.
	svc    *mutualaid.Service
	tokens *server.Tokens
	// With --addr, members join with joinCode; first is the member joined
	// to check the code and learn its community.
	joinCode string
	auth     linliv1connect.AuthServiceClient
	first    *pushClient
	needed   int // members the run needs, for error messages
}

// benchTokenTTL is how long in-process tokens live: longer than any run.
const benchTokenTTL = 2 * time.Hour

// benchJoiners is how many members are added or joined at once: the
// store's group commit makes concurrent joins cheap.
const benchJoiners = 32

// openTarget starts the in-process server with community c1, or checks
// that --addr answers and that --join-code lets a member join.
// needed is how many members the run will need.
func openTarget(ctx context.Context, f benchFlags, needed int, log *slog.Logger) (*benchTarget, error) {
	if f.addr != "" {
		return remoteTarget(ctx, f, needed)
	}
	dir, err := os.MkdirTemp("", "linli-bench-")
	if err != nil {
		return nil, fmt.Errorf("temp folder: %w", err)
	}
	unlimited := server.Limit{Rate: -1}
	t := &benchTarget{}
	srv, err := server.New(server.Config{
		DataDir: dir, Logger: log,
		RateLimits: server.RateLimits{Join: unlimited, Refresh: unlimited, Push: unlimited},
		Domain:     mutualaid.Config{Store: linlisync.Options{OnGroup: t.writes.observe}},
	})
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, errors.Join(fmt.Errorf("listen: %w", err), srv.Close(), os.RemoveAll(dir))
	}
	sctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln) }()
	t.name, t.baseURL, t.community, t.inProcess = "in-process", "http://"+ln.Addr().String(), benchCommunity, true
	t.dbMetrics, t.svc, t.tokens = srv.Service().DBMetrics, srv.Service(), srv.Tokens()
	t.close = func() error {
		cancel()
		err := <-served
		return errors.Join(err, srv.Close(), os.RemoveAll(dir))
	}
	if err := t.createCommunity(ctx, benchCommunity); err != nil {
		return nil, errors.Join(err, t.close())
	}
	return t, nil
}

func remoteTarget(ctx context.Context, f benchFlags, needed int) (*benchTarget, error) {
	base := "http://" + f.addr
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(hctx, http.MethodGet, base+"/healthz", nil)
	if err != nil {
		return nil, fmt.Errorf("--addr %s: %w", f.addr, err)
	}
	tr := newBenchTransport("http1")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		tr.CloseIdleConnections()
		return nil, fmt.Errorf("--addr %s: %w", f.addr, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tr.CloseIdleConnections()
		return nil, fmt.Errorf("--addr %s: /healthz answered %s", f.addr, resp.Status)
	}
	t := &benchTarget{
		name: f.addr, baseURL: base, joinCode: f.joinCode, needed: needed,
		auth:  linliv1connect.NewAuthServiceClient(&http.Client{Transport: tr}, base, benchClientOptions...),
		close: func() error { tr.CloseIdleConnections(); return nil },
	}
	if t.first, err = t.join(ctx, "bench"); err != nil {
		return nil, errors.Join(err, t.close())
	}
	t.community = t.first.community
	return t, nil
}

// createCommunity creates community id with building b3 (where the bench's
// offers are left). REQUIRES: in process.
func (t *benchTarget) createCommunity(ctx context.Context, id string) error {
	if _, err := t.svc.CreateCommunity(ctx, mutualaid.Operator, &linliv1.Community{Id: id, Name: "Bench " + id, District: "通州区", StreetOffice: "玉桥街道"}); err != nil {
		return fmt.Errorf("create community %s: %w", id, err)
	}
	if _, err := t.svc.PutBuilding(ctx, mutualaid.Operator, &linliv1.Building{Id: "b3", CommunityId: id, Name: "3号楼", DropPoints: []string{"15楼电梯口窗台"}}); err != nil {
		return fmt.Errorf("create building b3 of %s: %w", id, err)
	}
	return nil
}

// newCommunity returns a community for a scenario that wants one of its
// own: a new one named id in process; with --addr, where the bench cannot
// create one, the join code's.
func (t *benchTarget) newCommunity(ctx context.Context, id string) (string, error) {
	if !t.inProcess {
		return t.community, nil
	}
	return id, t.createCommunity(ctx, id)
}

// newMembers makes one resident of community per name, signed in as
// client "bench", benchJoiners at a time. In process they are added to the
// store with the name as user id; with --addr each joins with the code (in
// the code's community, whatever community says) and the name is its
// display name.
func (t *benchTarget) newMembers(ctx context.Context, community string, names []string) ([]*pushClient, error) {
	out := make([]*pushClient, len(names))
	err := parallel(ctx, len(names), benchJoiners, func(ctx context.Context, i int) error {
		var err error
		if t.inProcess {
			out[i], err = t.addMember(ctx, community, names[i])
		} else {
			out[i], err = t.join(ctx, names[i])
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// addMember adds user to community in the store and mints its token.
func (t *benchTarget) addMember(ctx context.Context, community, user string) (*pushClient, error) {
	_, err := t.svc.AddMember(ctx, &linliv1.Member{
		UserId: user, CommunityId: community, Role: linliv1.Role_ROLE_RESIDENT,
		DisplayName: "王芳", BuildingId: "b3", Unit: "1502",
	})
	if err != nil {
		return nil, fmt.Errorf("add member %s: %w", user, err)
	}
	tok, err := t.tokens.Mint(server.Principal{UserID: user, CommunityID: community, Role: mutualaid.RoleResident, ClientID: benchClientID}, benchTokenTTL)
	if err != nil {
		return nil, fmt.Errorf("mint token: %w", err)
	}
	return &pushClient{user: user, community: community, building: "b3", token: tok, expires: time.Now().Add(benchTokenTTL), next: 1}, nil
}

// join signs a new member in with the join code.
func (t *benchTarget) join(ctx context.Context, name string) (*pushClient, error) {
	resp, err := t.auth.Join(ctx, &linliv1.JoinRequest{ProtocolVersion: 1, Code: t.joinCode, ClientId: benchClientID, DisplayName: name})
	if err != nil {
		switch reason := benchErrorReason(err); {
		case connect.CodeOf(err) == connect.CodeResourceExhausted:
			return nil, fmt.Errorf("join: %w\nthe server limits joins per address: start it with --join-rate -1 (and --push-rate -1) to bench it", err)
		case reason == "join_code_invalid":
			return nil, fmt.Errorf("join: %w\n--join-code is unknown, expired or used up: this run joins %d members; make a resident code with linli admin join-code --community C --building B --uses %d", err, t.needed, t.needed)
		case reason == "building_id_required":
			return nil, fmt.Errorf("join: %w\n--join-code names no building: make it with linli admin join-code --building B", err)
		}
		return nil, fmt.Errorf("join: %w", err)
	}
	m, tok := resp.GetMember(), resp.GetTokens()
	return &pushClient{
		user: m.GetUserId(), community: m.GetCommunityId(), building: m.GetBuildingId(),
		token: tok.GetAccessToken(), expires: tok.GetAccessExpiresAt().AsTime(), next: 1,
	}, nil
}

// parallel calls fn(ctx, i) for i in [0, n) from up to workers goroutines.
// The first error stops the rest and is returned.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		next atomic.Int64
		wg   gosync.WaitGroup
	)
	for range min(workers, n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				if err := fn(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

// settle lets the in-process server's compactions finish (at most 30 s);
// it does nothing with --addr.
func (t *benchTarget) settle(ctx context.Context) (time.Duration, error) {
	if t.dbMetrics == nil {
		return 0, nil
	}
	return settleCompactions(ctx, t.dbMetrics, 30*time.Second)
}

// benchErrorReason is the reason of a Connect error's ErrorDetail, or "".
func benchErrorReason(err error) string {
	var cerr *connect.Error
	if !errors.As(err, &cerr) {
		return ""
	}
	for _, d := range cerr.Details() {
		if v, err := d.Value(); err == nil {
			if ed, ok := v.(*linliv1.ErrorDetail); ok {
				return ed.GetReason()
			}
		}
	}
	return ""
}

// newBenchTransport returns a transport speaking HTTP/1.1 ("http1") or
// HTTP/2 without TLS ("h2c"), keeping enough idle connections that
// concurrent callers never redial.
func newBenchTransport(protocol string) *http.Transport {
	var p http.Protocols
	if protocol == "h2c" {
		p.SetUnencryptedHTTP2(true)
	} else {
		p.SetHTTP1(true)
	}
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
		Protocols:           &p,
	}
}

// benchClientOptions turn gzip off: connect-go asks for gzipped responses
// by default, which costs more than it saves on a fast link (design.md).
var benchClientOptions = []connect.ClientOption{connect.WithAcceptCompression("gzip", nil, nil)}

// syncClient is SyncService through the generic Connect API, so that every
// call can carry its caller's bearer token.
type syncClient struct {
	push      *connect.Client[linliv1.PushRequest, linliv1.PushResponse]
	pull      *connect.Client[linliv1.PullRequest, linliv1.PullResponse]
	subscribe *connect.Client[linliv1.SubscribeRequest, linliv1.SubscribeResponse]
}

func newSyncClient(hc connect.HTTPClient, baseURL string) *syncClient {
	return &syncClient{
		push:      connect.NewClient[linliv1.PushRequest, linliv1.PushResponse](hc, baseURL+linliv1connect.SyncServicePushProcedure, benchClientOptions...),
		pull:      connect.NewClient[linliv1.PullRequest, linliv1.PullResponse](hc, baseURL+linliv1connect.SyncServicePullProcedure, benchClientOptions...),
		subscribe: connect.NewClient[linliv1.SubscribeRequest, linliv1.SubscribeResponse](hc, baseURL+linliv1connect.SyncServiceSubscribeProcedure, benchClientOptions...),
	}
}

func authed[T any](msg *T, token string) *connect.Request[T] {
	r := connect.NewRequest(msg)
	if token != "" {
		r.Header().Set("Authorization", "Bearer "+token)
	}
	return r
}

func (c *syncClient) Push(ctx context.Context, token string, req *linliv1.PushRequest) (*linliv1.PushResponse, error) {
	resp, err := c.push.CallUnary(ctx, authed(req, token))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

func (c *syncClient) Pull(ctx context.Context, token string, req *linliv1.PullRequest) (*linliv1.PullResponse, error) {
	resp, err := c.pull.CallUnary(ctx, authed(req, token))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

func (c *syncClient) Subscribe(ctx context.Context, token string, req *linliv1.SubscribeRequest) (*connect.ServerStreamForClient[linliv1.SubscribeResponse], error) {
	return c.subscribe.CallServerStream(ctx, authed(req, token))
}

// settledRSS returns this process's resident set size in bytes after a
// full garbage collection that returns free memory to the OS.
func settledRSS() (int64, error) {
	runtime.GC()
	debug.FreeOSMemory()
	return processRSS(os.Getpid())
}
