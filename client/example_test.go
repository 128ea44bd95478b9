package client_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/linli/linli/client"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server"
)

// A resident's app joins with a code from community staff, queues a
// request while it may be offline (Enqueue is durable at once), and syncs:
// the request is pushed exactly once, and the app learns its outcome and
// holds what the server published for it.
func Example() {
	dir, err := os.MkdirTemp("", "linli-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	base, code, stop := exampleServer(filepath.Join(dir, "server"))
	defer stop()
	ctx := context.Background()

	// Join: redeem the code on this device; the answer carries its tokens.
	auth := linliv1connect.NewAuthServiceClient(http.DefaultClient, base)
	joined, err := auth.Join(ctx, &linliv1.JoinRequest{
		ProtocolVersion: client.ProtocolVersion, Code: code, ClientId: "phone-1", DisplayName: "王芳", BuildingId: "b3",
	})
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.Open(filepath.Join(dir, "phone"), client.Config{
		BaseURL: base, ClientID: "phone-1", Tokens: joined.GetTokens(), Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	id, err := c.Enqueue(ctx, &linliv1.Mutation{Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{
		PostId: "req-2340", Draft: &linliv1.PostDraft{
			Items:   []*linliv1.PostItem{{ItemCode: "ibuprofen-suspension-child", Name: "美林", Quantity: 1, Unit: "瓶"}},
			Urgency: linliv1.Urgency_URGENCY_URGENT, Note: "孩子发烧39度", BuildingId: "b3", Floor: 15, DisplayName: "王芳",
		},
	}}})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Sync(ctx); err != nil {
		log.Fatal(err)
	}
	res, _, err := c.Outcome(id)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("mutation", id, res.GetStatus())
	mine, err := c.Scope(mutualaid.UserScope(joined.GetMember().GetUserId()))
	if err != nil {
		log.Fatal(err)
	}
	p := mine[mutualaid.PostEntityID("yuqiao", "req-2340")].GetPost()
	fmt.Println(p.GetId(), p.GetStatus())
	// Output:
	// mutation 1 MUTATION_STATUS_APPLIED
	// req-2340 POST_STATUS_OPEN
}

// exampleServer starts a linli server with data in dir and community
// yuqiao with building b3, and returns its URL, a resident join code and
// a func that stops it.
func exampleServer(dir string) (base, code string, stop func()) {
	srv, err := server.New(server.Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	svc := srv.Service()
	if _, err := svc.Bootstrap(ctx, &linliv1.Community{Id: "yuqiao", Name: "玉桥社区", District: "通州区", StreetOffice: "玉桥街道"}); err != nil {
		log.Fatal(err)
	}
	if _, err := svc.PutBuilding(ctx, mutualaid.Operator, &linliv1.Building{Id: "b3", CommunityId: "yuqiao", Name: "3号楼"}); err != nil {
		log.Fatal(err)
	}
	code, _, err = svc.CreateJoinCode(ctx, mutualaid.Operator, mutualaid.JoinCodeSpec{CommunityID: "yuqiao", BuildingID: "b3"})
	if err != nil {
		log.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	return ts.URL, code, func() { ts.Close(); srv.Close() }
}
