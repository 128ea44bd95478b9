package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server"
	linlisync "github.com/linli/linli/sync"
)

// benchParallelism × GOMAXPROCS callers push at once.
const benchParallelism = 32

// BenchmarkPushRPC pushes one offer per call over real HTTP (httptest,
// h2c and HTTP/1.1 as in production, HTTP/1.1 clients, gzip off), each
// caller a distinct user, through auth, validation and the durable engine.
// Echo is the same call to a SyncService whose Push answers at once. The
// server's callers are members of c1, without rate limits.
func BenchmarkPushRPC(b *testing.B) {
	b.Run("Server", func(b *testing.B) {
		srv, token := newBenchServer(b)
		benchPushRPC(b, srv.Handler(), token)
	})
	b.Run("Echo", func(b *testing.B) {
		mux := http.NewServeMux()
		mux.Handle(linliv1connect.NewSyncServiceHandler(benchEcho{}, connect.WithReadMaxBytes(4<<20), connect.WithCompressMinBytes(1024)))
		benchPushRPC(b, mux, func(string) string { return "not-checked" })
	})
}

// newBenchServer is a server with community c1 and no rate limits, and a
// function that makes user a resident of c1 and returns their token.
func newBenchServer(b *testing.B) (*server.Server, func(user string) string) {
	unlimited := server.Limit{Rate: -1}
	srv, err := server.New(server.Config{
		DataDir:    b.TempDir(),
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Domain:     mutualaid.Config{Store: linlisync.Options{DropInterval: -1}},
		RateLimits: server.RateLimits{Join: unlimited, Refresh: unlimited, Push: unlimited},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	dir := srv.Service()
	if _, err := dir.CreateCommunity(b.Context(), mutualaid.Operator, &linliv1.Community{Id: "c1", Name: "玉桥社区", District: "通州区", StreetOffice: "玉桥街道"}); err != nil {
		b.Fatal(err)
	}
	if _, err := dir.PutBuilding(b.Context(), mutualaid.Operator, &linliv1.Building{Id: "b3", CommunityId: "c1", Name: "3号楼", DropPoints: []string{"15楼电梯口窗台"}}); err != nil {
		b.Fatal(err)
	}
	return srv, func(user string) string {
		// Only members may call: the server checks the store on every RPC.
		if _, err := dir.AddMember(b.Context(), &linliv1.Member{
			UserId: user, CommunityId: "c1", Role: linliv1.Role_ROLE_RESIDENT, DisplayName: "王芳", BuildingId: "b3",
		}); err != nil {
			b.Fatal(err)
		}
		tok, err := srv.Tokens().Mint(server.Principal{UserID: user, CommunityID: "c1", Role: mutualaid.RoleResident}, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		return tok
	}
}

// BenchmarkPokedPullRPC measures what each open app costs when a
// neighbour posts: the Pull a poke causes, from a cursor one post behind,
// by 300 members of a community of 1,000 posts, over real HTTP. It
// reports the process's CPU per pull (callers included).
func BenchmarkPokedPullRPC(b *testing.B) {
	srv, token := newBenchServer(b)
	client := benchClient(b, srv.Handler())
	call := func(tok string) context.Context {
		ctx, c := connect.NewClientContext(context.Background())
		c.RequestHeader().Set("Authorization", "Bearer "+tok)
		return ctx
	}
	poster := token("u-poster")
	post := func(id uint64, postID string) {
		res, err := client.Push(call(poster), &linliv1.PushRequest{ProtocolVersion: 1, ClientId: "phone", Mutations: []*linliv1.Mutation{benchOffer(id, postID)}})
		if err != nil {
			b.Fatal(err)
		}
		if r := res.GetResults(); len(r) != 1 || r[0].GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_APPLIED {
			b.Fatalf("push: %v", r)
		}
	}
	for i := range 1000 {
		post(uint64(i+1), fmt.Sprintf("off-%d", i))
	}
	const apps = 300
	tokens, cursors := make([]string, apps), make([]string, apps)
	for i := range apps {
		tokens[i] = token(fmt.Sprintf("u%d", i))
		cur := ""
		for more := true; more; {
			res, err := client.Pull(call(tokens[i]), &linliv1.PullRequest{ProtocolVersion: 1, Cursor: cur})
			if err != nil {
				b.Fatal(err)
			}
			cur, more = res.GetCursor(), res.GetHasMore()
		}
		cursors[i] = cur
	}
	post(1001, "off-new")
	var next atomic.Int64
	cpu := processCPU()
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1)) % apps
			res, err := client.Pull(call(tokens[i]), &linliv1.PullRequest{ProtocolVersion: 1, Cursor: cursors[i]})
			if err != nil {
				b.Errorf("pull: %v", err)
				return
			}
			if len(res.GetChanges()) == 0 {
				b.Error("a poked pull brought nothing")
				return
			}
		}
	})
	b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/pull")
}

// processCPU is the CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchClient serves h over HTTP/1.1 and h2c, as in production, and
// returns a SyncService client of it (HTTP/1.1, gzip off), both closed
// when b ends.
func benchClient(b *testing.B, h http.Handler) linliv1connect.SyncServiceClient {
	ts := httptest.NewUnstartedServer(h)
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	ts.Config.Protocols = &protocols
	ts.Start()
	tr := &http.Transport{MaxIdleConnsPerHost: 1024}
	b.Cleanup(func() {
		tr.CloseIdleConnections()
		ts.Close()
	})
	return linliv1connect.NewSyncServiceClient(&http.Client{Transport: tr}, ts.URL, connect.WithAcceptCompression("gzip", nil, nil))
}

// benchPushRPC serves h and pushes b.N single-offer requests to it from
// benchParallelism × GOMAXPROCS callers.
func benchPushRPC(b *testing.B, h http.Handler, token func(user string) string) {
	client := benchClient(b, h)
	callers := benchParallelism * runtime.GOMAXPROCS(0)
	tokens := make([]string, callers)
	for i := range tokens {
		tokens[i] = token(fmt.Sprintf("u%d", i))
	}
	var next atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := int(next.Add(1) - 1)
		for id := uint64(1); pb.Next(); id++ {
			ctx, call := connect.NewClientContext(context.Background())
			call.RequestHeader().Set("Authorization", "Bearer "+tokens[w%callers])
			res, err := client.Push(ctx, &linliv1.PushRequest{ProtocolVersion: 1, ClientId: fmt.Sprintf("bench%d", w), Mutations: []*linliv1.Mutation{
				benchOffer(id, fmt.Sprintf("w%d-%d", w, id)),
			}})
			if err != nil {
				b.Errorf("push: %v", err)
				return
			}
			if r := res.GetResults(); len(r) == 1 && r[0].GetStatus() == linliv1.MutationStatus_MUTATION_STATUS_REJECTED {
				b.Errorf("push rejected: %s", r[0].GetReason())
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pushes/s")
}

// benchEcho answers Push with an empty response at once.
type benchEcho struct {
	linliv1connect.UnimplementedSyncServiceHandler
}

func (benchEcho) Push(context.Context, *linliv1.PushRequest) (*linliv1.PushResponse, error) {
	return &linliv1.PushResponse{}, nil
}

// benchOffer is a typical offer: a bottle of children's ibuprofen.
func benchOffer(id uint64, postID string) *linliv1.Mutation {
	return &linliv1.Mutation{Id: id, Kind: &linliv1.Mutation_PostOffer{PostOffer: &linliv1.PostOfferMutation{
		PostId: postID,
		Draft: &linliv1.PostDraft{
			Items: []*linliv1.PostItem{{
				ItemCode: "ibuprofen-suspension-child", Name: "美林", Quantity: 1, Unit: "bottle",
				ExpiryDate: time.Now().AddDate(1, 0, 0).Format(time.DateOnly),
			}},
			Note:        "Unopened; left on the 15th-floor elevator windowsill.",
			BuildingId:  "b3",
			Floor:       15,
			Unit:        "1502",
			Phone:       "138 0013 8000",
			DisplayName: "王芳",
		},
	}}}
}
