package server_test

import (
	"slices"
	"testing"

	"connectrpc.com/connect"

	"github.com/linli/linli/internal/bearer"
	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server"
)

// TestGetCatalog: a member's app reads the catalog, over Connect and gRPC:
// the items, and the needs a request may name in Chinese or English with
// the items that fit them; without a token it is refused.
func TestGetCatalog(t *testing.T) {
	t.Parallel()
	h := linlitest.NewServer(t, server.Config{})
	tok := h.Token(t, "u-wang", "yuqiao", mutualaid.RoleResident)
	ctx := t.Context()
	for name, c := range map[string]linliv1connect.CatalogServiceClient{
		"Connect": linliv1connect.NewCatalogServiceClient(h.HTTP, h.URL, connect.WithInterceptors(bearer.Token(tok))),
		"GRPC":    linliv1connect.NewCatalogServiceClient(h.H2C, h.URL, connect.WithGRPC(), connect.WithInterceptors(bearer.Token(tok))),
	} {
		t.Run(name, func(t *testing.T) {
			res, err := c.GetCatalog(ctx, &linliv1.GetCatalogRequest{ProtocolVersion: 1})
			if err != nil {
				t.Fatal(err)
			}
			if res.GetVersion() == "" || len(res.GetItems()) < 20 {
				t.Fatalf("version %q, %d items: want a version and the whole catalog", res.GetVersion(), len(res.GetItems()))
			}
			i := slices.IndexFunc(res.GetNeeds(), func(n *linliv1.CatalogNeed) bool { return n.GetCode() == "child-fever-reducer" })
			if i < 0 {
				t.Fatalf("needs %v: no child-fever-reducer", res.GetNeeds())
			}
			n := res.GetNeeds()[i]
			if n.GetNameZh() != "儿童退烧药" || n.GetNameEn() != "children's fever reducer" || !n.GetChild() ||
				!slices.Contains(n.GetItemCodes(), "ibuprofen-suspension-child") || !slices.Contains(n.GetItemCodes(), "acetaminophen-suspension-child") ||
				slices.Contains(n.GetItemCodes(), "ibuprofen-tablet") {
				t.Errorf("child-fever-reducer = %v", n)
			}
		})
	}
	_, err := linliv1connect.NewCatalogServiceClient(h.HTTP, h.URL).GetCatalog(ctx, &linliv1.GetCatalogRequest{ProtocolVersion: 1})
	wantError(t, err, connect.CodeUnauthenticated, "token_missing")
}
