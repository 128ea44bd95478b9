package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/internal/quotafs"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server"
	linlisync "github.com/linli/linli/sync"
)

// TestFullDisk runs a real server on a small file system that fills up,
// first at the worst moment (another program takes the last byte just
// before a push's WAL write), then through linli's own writes, and shows:
// no panic; the push that met the full disk is retried into the ballast's
// space and acknowledged; later pushes are refused with UNAVAILABLE /
// disk_full, consuming no mutation id, in Connect and gRPC; Pull, Subscribe
// and health are served, and health, /readyz and metrics say that writes
// are refused; writes resume by themselves once space is freed; and every
// acknowledged mutation is there after a restart.
func TestFullDisk(t *testing.T) {
	t.Parallel()
	const reserve, ballast = 4 << 20, 1 << 20
	fs := quotafs.New(vfs.NewMem(), 64<<20)
	cfg := server.Config{
		Domain:     mutualaid.Config{Store: linlisync.Options{FS: fs, DiskReserve: reserve, DiskBallast: ballast}},
		RateLimits: server.RateLimits{Push: server.Limit{Rate: -1}},
	}
	h := linlitest.NewServer(t, cfg)
	tok := h.Token(t, "u1", "c1", mutualaid.RoleResident)
	clients := map[string]linliv1connect.SyncServiceClient{"Connect": h.SyncClient(tok), "GRPC": h.GRPCSyncClient(tok)}
	c := clients["Connect"]
	acked := map[string]bool{}
	next := uint64(1)
	// pushNext pushes the next offer and records it if acknowledged.
	pushNext := func(c linliv1connect.SyncServiceClient) error {
		id := fmt.Sprint("p", next)
		res, err := push(t.Context(), c, "phone", offer(next, id))
		if err != nil {
			return err
		}
		if st := res.GetResults()[0].GetStatus(); st != linliv1.MutationStatus_MUTATION_STATUS_APPLIED {
			t.Fatalf("push %d: %v, want applied", next, st)
		}
		acked[id] = true
		next++
		return nil
	}
	for range 3 {
		if err := pushNext(c); err != nil {
			t.Fatalf("push with room to spare: %v", err)
		}
	}
	writes := func() string { return grpcHealthOf(t, h, server.WritesHealthService) }
	if got := writes(); got != "serving" {
		t.Fatalf("writes health with room to spare = %s, want SERVING", got)
	}

	// Another program takes the last byte just before the WAL is written:
	// the write meets ENOSPC, the ballast is deleted and the write retried.
	fs.FillAt(func(name string) bool { return strings.HasSuffix(name, ".log") })
	if err := pushNext(c); err != nil {
		t.Fatalf("the push whose WAL write met a full disk: %v, want it acknowledged (retried into the ballast's space)", err)
	}
	if fs.Refused() == 0 {
		t.Fatal("no write met the full disk")
	}
	for name, c := range clients {
		err := pushNext(c)
		detail := wantError(t, err, connect.CodeUnavailable, "disk_full")
		if detail.GetRetryAfterSeconds() == 0 {
			t.Errorf("%s: disk_full without retry_after_seconds", name)
		}
	}
	checkRefusingWrites(t, h, tok, acked)

	// Space returns: writes resume by themselves, from the refused id.
	fs.Fill(48 << 20)
	if err := pushNext(c); err != nil {
		t.Fatalf("push after space was freed: %v", err)
	}
	if code, body, _ := get(t, h, "/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Fatalf("readyz after space was freed = %d %q, want 200 ready", code, body)
	}
	if got := writes(); got != "serving" {
		t.Fatalf("writes health after space was freed = %s, want SERVING", got)
	}
	if m := scrapeMetrics(t, h, ""); m.value(t, "linli_sync_disk_full") != 0 {
		t.Fatal("linli_sync_disk_full is still 1 after space was freed")
	}

	// linli's own writes fill the disk down to the reserve.
	fs.Fill(reserve + 256<<10)
	var err error
	for i := 0; err == nil; i++ {
		if i == 10_000 {
			t.Fatal("10,000 pushes into a disk with 256 KiB above the reserve were all accepted")
		}
		err = pushNext(c)
	}
	wantError(t, err, connect.CodeUnavailable, "disk_full")
	checkRefusingWrites(t, h, tok, acked)
	fs.Fill(48 << 20)
	if err := pushNext(c); err != nil {
		t.Fatalf("push after space was freed again: %v", err)
	}

	// Nothing acknowledged is lost across a restart.
	h.Close()
	cfg.DataDir = h.Dir
	h = linlitest.NewServer(t, cfg)
	changes, _ := linlitest.PullAll(t, h.SyncClient(tok), "")
	got := map[string]bool{}
	for _, ch := range changes {
		if ch.GetScope() == "user/u1" && !ch.GetDeleted() {
			got[strings.TrimPrefix(ch.GetEntityId(), "post/c1/")] = true
		}
	}
	for id := range acked {
		if !got[id] {
			t.Errorf("acknowledged post %s is missing after the restart", id)
		}
	}
	t.Logf("%d pushes acknowledged, %d writes met a full disk", len(acked), fs.Refused())
}

// checkRefusingWrites asserts what a server refusing writes for want of
// disk space serves: Pull (with every acknowledged post), Subscribe,
// health and readiness (both up, saying writes are refused), and metrics.
func checkRefusingWrites(t *testing.T, h *linlitest.Server, tok string, acked map[string]bool) {
	t.Helper()
	for name, c := range map[string]linliv1connect.SyncServiceClient{"Connect": h.SyncClient(tok), "GRPC": h.GRPCSyncClient(tok)} {
		changes, _ := linlitest.PullAll(t, c, "")
		if got := countEntities(changes, "user/u1", "post/"); got != len(acked) {
			t.Fatalf("%s pull while the disk is full: %d posts, want the %d acknowledged", name, got, len(acked))
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		stream, err := c.Subscribe(ctx, &linliv1.SubscribeRequest{ProtocolVersion: 1})
		if err != nil {
			t.Fatalf("%s subscribe while the disk is full: %v", name, err)
		}
		if !stream.Receive() || len(stream.Msg().GetPoke().GetHeads()) == 0 {
			t.Fatalf("%s subscribe while the disk is full: no first poke (%v)", name, stream.Err())
		}
		_ = stream.Close()
		cancel()
	}
	code, body, _ := get(t, h, "/readyz")
	if code != http.StatusOK || !strings.HasPrefix(body, "ready\nwrites refused: disk nearly full") {
		t.Fatalf("readyz while the disk is full = %d %q, want 200 ready with writes refused", code, body)
	}
	if got := grpcHealthOf(t, h, linliv1connect.SyncServiceName); got != "serving" {
		t.Fatalf("SyncService health while the disk is full = %s, want SERVING (reads are served)", got)
	}
	if got := grpcHealthOf(t, h, server.WritesHealthService); got != "not_serving" {
		t.Fatalf("writes health while the disk is full = %s, want NOT_SERVING", got)
	}
	m := scrapeMetrics(t, h, "")
	if m.value(t, "linli_sync_disk_full") != 1 {
		t.Fatal("linli_sync_disk_full is not 1 while the disk is full")
	}
	if free, reserve := m.value(t, "linli_sync_disk_free_bytes"), m.value(t, "linli_sync_disk_reserve_bytes"); free >= reserve {
		t.Fatalf("free %v ≥ reserve %v while the disk is full", free, reserve)
	}
	if m.value(t, "linli_sync_write_failed") != 0 {
		t.Fatal("linli_sync_write_failed is 1: a commit failed")
	}
}

// grpcHealthOf asks grpc.health.v1.Health/Check for service's status.
func grpcHealthOf(t *testing.T, h *linlitest.Server, service string) string {
	t.Helper()
	res, err := grpchealth.NewClient(h.HTTP, h.URL).Check(t.Context(), &grpchealth.CheckRequest{Service: service})
	if err != nil {
		t.Fatalf("health check of %s: %v", service, err)
	}
	return res.Status.String()
}
