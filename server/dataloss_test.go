package server_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/server"
)

// TestDamagedTableIsDataLoss: a table damaged on disk makes reads fail
// with DATA_LOSS / data_loss (never a crash, never INTERNAL), and the
// server keeps answering health.
func TestDamagedTableIsDataLoss(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := linlitest.NewServer(t, server.Config{DataDir: dir})
	c := h.SyncClient(h.Token(t, "u1", "c1", mutualaid.RoleResident))
	for i := range 40 {
		m := offer(uint64(i+1), fmt.Sprint("p", i))
		m.GetPostOffer().GetDraft().Note = strings.Repeat("放在15楼电梯口窗台上 ", 30)
		if _, err := push(t.Context(), c, "phone", m); err != nil {
			t.Fatal(err)
		}
	}
	h.Close()
	// Opening again replays the log into tables.
	linlitest.NewServer(t, server.Config{DataDir: dir}).Close()
	tables, _ := filepath.Glob(filepath.Join(dir, "store", "*.sst"))
	if len(tables) == 0 {
		t.Fatal("no table written")
	}
	for _, p := range tables {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i := 64; i < len(b)/3; i += 97 {
			b[i] ^= 0x5a
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	h = linlitest.NewServer(t, server.Config{DataDir: dir})
	tok, err := h.Tokens().Mint(server.Principal{UserID: "u1", CommunityID: "c1", Role: mutualaid.RoleResident}, 3600e9)
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.SyncClient(tok).Pull(t.Context(), &linliv1.PullRequest{ProtocolVersion: 1})
	wantError(t, err, connect.CodeDataLoss, "data_loss")
	res, err := h.HTTP.Get(h.URL + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz after data loss: %v %v", res, err)
	}
	res.Body.Close()
}
