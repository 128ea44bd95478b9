package linlitest

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/linli/linli/internal/bearer"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server"
)

// Server is a real linli server (real Pebble, real auth, the domain's
// background jobs running) behind httptest, speaking HTTP/1.1 and h2c.
// It is closed when the test ends, or earlier by Close.
type Server struct {
	*server.Server
	// Dir is the data folder.
	Dir string
	// URL is the server's base URL.
	URL string
	// HTTP is an HTTP/1.1 client of the server; H2C speaks HTTP/2 without
	// TLS, for gRPC.
	HTTP, H2C *http.Client

	stop func()
}

// NewServer starts a server with cfg: an empty DataDir is a new temporary
// folder, a nil Logger logs to t, and tombstones are never dropped in the
// background.
func NewServer(t TB, cfg server.Config) *Server {
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
	return &Server{Server: srv, Dir: cfg.DataDir, URL: ts.URL, HTTP: ts.Client(), H2C: h2c, stop: stop}
}

// Close stops the server and closes its store, as a shutdown does. It is
// safe to call more than once.
func (s *Server) Close() { s.stop() }

// Member creates or replaces user's membership of community with role
// (creating the community and its building b3, with the drop point
// 15楼电梯口窗台, if needed), in building b3, unit 1502.
func (s *Server) Member(t TB, user, community string, role mutualaid.Role) *linliv1.Member {
	t.Helper()
	svc := s.Service()
	if _, found, err := svc.Community(community); err != nil || !found {
		_, err := svc.CreateCommunity(t.Context(), mutualaid.Operator, &linliv1.Community{Id: community, Name: community, District: "通州区", StreetOffice: "玉桥街道"})
		if err != nil && mutualaid.ErrorReason(err) != "community_exists" {
			t.Fatalf("create community: %v", err)
		}
	}
	if _, found, err := svc.Building(community, "b3"); err != nil || !found {
		_, err := svc.PutBuilding(t.Context(), mutualaid.Operator, &linliv1.Building{Id: "b3", CommunityId: community, Name: "3号楼", DropPoints: []string{"15楼电梯口窗台"}})
		if err != nil {
			t.Fatalf("create building: %v", err)
		}
	}
	m, err := svc.AddMember(t.Context(), &linliv1.Member{
		UserId: user, CommunityId: community, Role: role.Proto(), DisplayName: "王芳", BuildingId: "b3", Unit: "1502",
	})
	if err != nil {
		t.Fatalf("add member %s: %v", user, err)
	}
	return m
}

// Token makes user a member of community with role (see Member) and mints
// an access token for them, valid for an hour.
func (s *Server) Token(t TB, user, community string, role mutualaid.Role) string {
	t.Helper()
	s.Member(t, user, community, role)
	tok, err := s.Tokens().Mint(server.Principal{UserID: user, CommunityID: community, Role: role}, time.Hour)
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	return tok
}

// SyncClient is a Connect SyncService client over HTTP/1.1 that sends tok
// on every call.
func (s *Server) SyncClient(tok string, opts ...connect.ClientOption) linliv1connect.SyncServiceClient {
	opts = append(opts, connect.WithInterceptors(bearer.Token(tok)))
	return linliv1connect.NewSyncServiceClient(s.HTTP, s.URL, opts...)
}

// GRPCSyncClient is a gRPC SyncService client over h2c that sends tok on
// every call.
func (s *Server) GRPCSyncClient(tok string) linliv1connect.SyncServiceClient {
	return linliv1connect.NewSyncServiceClient(s.H2C, s.URL, connect.WithGRPC(), connect.WithInterceptors(bearer.Token(tok)))
}
