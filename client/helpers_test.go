package client

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server"
	linlisync "github.com/linli/linli/sync"
)

const (
	testCommunity = "yuqiao"
	testBuilding  = "b3"
)

// harness is a real server (real Pebble, real auth) on a fixed address,
// which may be started after the clients.
type harness struct {
	t    *testing.T
	addr string
	srv  *server.Server
	ts   *httptest.Server
}

// newHarness reserves an address; start serves on it.
func newHarness(t *testing.T) *harness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, addr: addr}
}

func (h *harness) url() string { return "http://" + h.addr }

// start creates the server over a fresh store with one community and
// building, and serves it on the harness's address.
func (h *harness) start() {
	t := h.t
	t.Helper()
	srv, err := server.New(server.Config{
		DataDir:    t.TempDir(),
		Logger:     slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		Domain:     mutualaid.Config{Store: linlisync.Options{DropInterval: -1}},
		RateLimits: server.RateLimits{Join: server.Limit{Rate: -1}, Push: server.Limit{Rate: -1}, Refresh: server.Limit{Rate: -1}},
	})
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	dir := srv.Service()
	if _, err := dir.CreateCommunity(t.Context(), mutualaid.Operator, &linliv1.Community{Id: testCommunity, Name: "玉桥社区", District: "通州区", StreetOffice: "玉桥街道"}); err != nil {
		t.Fatalf("create community: %v", err)
	}
	if _, err := dir.PutBuilding(t.Context(), mutualaid.Operator, &linliv1.Building{Id: testBuilding, CommunityId: testCommunity, Name: "3号楼", DropPoints: []string{"15楼电梯口窗台"}}); err != nil {
		t.Fatalf("put building: %v", err)
	}
	ln, err := net.Listen("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	ts := &httptest.Server{Listener: ln, Config: &http.Server{Handler: srv.Handler()}}
	ts.Start()
	h.srv, h.ts = srv, ts
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
}

// member makes user a resident of the test community and returns a token.
func (h *harness) member(user string) string {
	t := h.t
	t.Helper()
	if _, err := h.srv.Service().AddMember(t.Context(), &linliv1.Member{
		UserId: user, CommunityId: testCommunity, Role: linliv1.Role_ROLE_RESIDENT, DisplayName: "王芳", BuildingId: testBuilding, Unit: "1502",
	}); err != nil {
		t.Fatalf("add member %s: %v", user, err)
	}
	tok, err := h.srv.Tokens().Mint(server.Principal{UserID: user, CommunityID: testCommunity, Role: mutualaid.RoleResident}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// admin is an actor allowed to change anyone's role.
var admin = mutualaid.Member{UserID: "admin", CommunityID: testCommunity, Role: mutualaid.RoleAdmin}

// open opens a client over dir sending tok.
func open(t *testing.T, dir, url, tok string, rt http.RoundTripper, mod ...func(*Config)) *Client {
	t.Helper()
	if rt == nil {
		rt = http.DefaultTransport
	}
	cfg := Config{
		BaseURL:     url,
		HTTPClient:  &http.Client{Transport: rt},
		ClientID:    "phone",
		AccessToken: func(context.Context) (string, error) { return tok, nil },
		Logger:      slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		MinBackoff:  5 * time.Millisecond,
		MaxBackoff:  50 * time.Millisecond,
		MaxAttempts: 4,
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := Open(dir, cfg)
	if err != nil {
		t.Fatalf("open client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// offer is a neighbour offering children's ibuprofen.
func offer(postID string) *linliv1.Mutation {
	return &linliv1.Mutation{Kind: &linliv1.Mutation_PostOffer{PostOffer: &linliv1.PostOfferMutation{
		PostId: postID,
		Draft: &linliv1.PostDraft{
			Items: []*linliv1.PostItem{{
				ItemCode: "ibuprofen-suspension-child", Name: "美林", Quantity: 1, Unit: "bottle",
				ExpiryDate: time.Now().AddDate(1, 0, 0).Format(time.DateOnly),
			}},
			Note:       "left on the 15th-floor elevator windowsill",
			BuildingId: testBuilding, Floor: 15, Unit: "1502", Phone: "138 0000 1502", DisplayName: "王芳",
		},
	}}}
}

func mustEnqueue(t *testing.T, c *Client, m *linliv1.Mutation) uint64 {
	t.Helper()
	id, err := c.Enqueue(t.Context(), m)
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	return id
}

// serverView pulls from zero as tok: scope → entity id → entity.
func serverView(t *testing.T, url, tok string) map[string]map[string]*linliv1.Entity {
	t.Helper()
	api := linliv1connect.NewSyncServiceClient(http.DefaultClient, url, connect.WithInterceptors(authInterceptor{&Client{cfg: Config{
		AccessToken: func(context.Context) (string, error) { return tok, nil }}}}))
	out := map[string]map[string]*linliv1.Entity{}
	cursor := ""
	for {
		res, err := api.Pull(t.Context(), &linliv1.PullRequest{ProtocolVersion: ProtocolVersion, Cursor: cursor})
		if err != nil {
			t.Fatalf("pull: %v", err)
		}
		for _, ch := range res.GetChanges() {
			if out[ch.GetScope()] == nil {
				out[ch.GetScope()] = map[string]*linliv1.Entity{}
			}
			if ch.GetDeleted() {
				delete(out[ch.GetScope()], ch.GetEntityId())
			} else {
				out[ch.GetScope()][ch.GetEntityId()] = ch.GetEntity()
			}
		}
		cursor = res.GetCursor()
		if !res.GetHasMore() {
			return out
		}
	}
}

// dropFirst lets the server handle the first request whose path ends with
// suffix, then drops its response.
type dropFirst struct {
	suffix string
	mu     sync.Mutex
	done   bool
	next   http.RoundTripper
}

func (d *dropFirst) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := d.next.RoundTrip(r)
	if err != nil || !strings.HasSuffix(r.URL.Path, d.suffix) {
		return res, err
	}
	d.mu.Lock()
	drop := !d.done
	d.done = true
	d.mu.Unlock()
	if !drop {
		return res, nil
	}
	// Read the whole answer, so the server has certainly finished.
	_, _ = readAll(res)
	return nil, errors.New("connection reset (test: response dropped)")
}

func readAll(res *http.Response) ([]byte, error) {
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return []byte(b.String()), nil
		}
	}
}
