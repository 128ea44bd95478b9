package server_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/linli/linli/internal/bearer"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server"
)

// harness is a real server (real Pebble, real auth) behind httptest.
type harness struct {
	srv  *server.Server
	dir  string // data folder
	url  string
	http *http.Client // HTTP/1.1
	h2c  *http.Client // HTTP/2 without TLS, for gRPC
	stop func()       // closes the server once
}

// close stops the server and closes its store, as a shutdown does.
func (h *harness) close() { h.stop() }

func newHarness(t *testing.T, cfg server.Config) *harness {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	cfg.Domain.Store.DropInterval = -1
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.EnableHTTP2 = true
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	ts.Config.Protocols = &protocols
	ts.Start()
	stop := sync.OnceFunc(func() {
		ts.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	t.Cleanup(stop)
	var only2 http.Protocols
	only2.SetUnencryptedHTTP2(true)
	h2c := &http.Client{Transport: &http.Transport{Protocols: &only2}}
	return &harness{srv: srv, dir: cfg.DataDir, url: ts.URL, http: ts.Client(), h2c: h2c, stop: stop}
}

// token makes user a member of community with role (creating the
// community if needed) and mints a token for them.
func (h *harness) token(t *testing.T, user, community string, role mutualaid.Role) string {
	t.Helper()
	h.member(t, user, community, role)
	tok, err := h.srv.Tokens().Mint(server.Principal{UserID: user, CommunityID: community, Role: role}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// client is a SyncService client that sends tok on every call.
func (h *harness) client(tok string, opts ...connect.ClientOption) linliv1connect.SyncServiceClient {
	opts = append(opts, connect.WithInterceptors(bearer.Token(tok)))
	return linliv1connect.NewSyncServiceClient(h.http, h.url, opts...)
}

func (h *harness) grpcClient(tok string) linliv1connect.SyncServiceClient {
	return linliv1connect.NewSyncServiceClient(h.h2c, h.url, connect.WithGRPC(), connect.WithInterceptors(bearer.Token(tok)))
}

// offer is a valid mutation: a neighbour offering children's ibuprofen.
func offer(id uint64, postID string) *linliv1.Mutation {
	return &linliv1.Mutation{Id: id, Kind: &linliv1.Mutation_PostOffer{PostOffer: &linliv1.PostOfferMutation{
		PostId: postID,
		Draft: &linliv1.PostDraft{
			Items: []*linliv1.PostItem{{
				ItemCode: "ibuprofen-suspension-child", Name: "美林", Quantity: 1, Unit: "bottle", ExpiryDate: "2027-06-30",
			}},
			Note:        "放在15楼电梯口窗台上 — left on the 15th-floor elevator windowsill",
			BuildingId:  "b3",
			Floor:       15,
			Unit:        "1502",
			Phone:       "138 0000 1234",
			DisplayName: "王芳",
		},
	}}}
}

func push(ctx context.Context, c linliv1connect.SyncServiceClient, client string, muts ...*linliv1.Mutation) (*linliv1.PushResponse, error) {
	return c.Push(ctx, &linliv1.PushRequest{ProtocolVersion: 1, ClientId: client, Mutations: muts})
}

// pullAll follows has_more and returns every change.
func pullAll(t *testing.T, c linliv1connect.SyncServiceClient, cursor string) ([]*linliv1.Change, string) {
	t.Helper()
	var all []*linliv1.Change
	for range 1000 {
		res, err := c.Pull(t.Context(), &linliv1.PullRequest{ProtocolVersion: 1, Cursor: cursor})
		if err != nil {
			t.Fatalf("pull: %v", err)
		}
		all = append(all, res.GetChanges()...)
		cursor = res.GetCursor()
		if !res.GetHasMore() {
			return all, cursor
		}
	}
	t.Fatal("pull never finished")
	return nil, ""
}

// wantError asserts err is a Connect error with code and detail reason.
func wantError(t *testing.T, err error, code connect.Code, reason string) *linliv1.ErrorDetail {
	t.Helper()
	var cerr *connect.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("err = %v, want %v/%s", err, code, reason)
	}
	if cerr.Code() != code {
		t.Fatalf("code = %v (%v), want %v", cerr.Code(), cerr.Message(), code)
	}
	for _, d := range cerr.Details() {
		v, derr := d.Value()
		if detail, ok := v.(*linliv1.ErrorDetail); derr == nil && ok {
			if detail.GetReason() != reason {
				t.Fatalf("reason = %q, want %q", detail.GetReason(), reason)
			}
			return detail
		}
	}
	t.Fatalf("no ErrorDetail in %v, want reason %q", err, reason)
	return nil
}

// describe prints changes compactly for failure messages.
func describe(changes []*linliv1.Change) string {
	var b strings.Builder
	for _, c := range changes {
		fmt.Fprintf(&b, "%s@%d %s deleted=%v; ", c.GetScope(), c.GetSeq(), c.GetEntityId(), c.GetDeleted())
	}
	return b.String()
}

// member creates or replaces a membership in the store.
func (h *harness) member(t *testing.T, user, community string, role mutualaid.Role) *linliv1.Member {
	t.Helper()
	dir := h.srv.Service()
	if _, found, err := dir.Community(community); err != nil || !found {
		_, err := dir.CreateCommunity(t.Context(), mutualaid.Operator, &linliv1.Community{Id: community, Name: community, District: "通州区", StreetOffice: "玉桥街道"})
		if err != nil && mutualaid.ErrorReason(err) != "community_exists" {
			t.Fatalf("create community: %v", err)
		}
	}
	m, err := dir.AddMember(t.Context(), &linliv1.Member{
		UserId: user, CommunityId: community, Role: role.Proto(), DisplayName: "王芳", BuildingId: "b3", Unit: "1502",
	})
	if err != nil {
		t.Fatalf("add member %s: %v", user, err)
	}
	return m
}
