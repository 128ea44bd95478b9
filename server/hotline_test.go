package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/linli/linli/internal/hotlinesim"
	"github.com/linli/linli/mutualaid/hotline"
	"github.com/linli/linli/server"
)

// TestOutboxForwardsAndReports: a case queued in the server's outbox is
// forwarded to the configured hotline exactly once, and /metrics shows the
// outbox's depth before and after.
func TestOutboxForwardsAndReports(t *testing.T) {
	t.Parallel()
	sim := &hotlinesim.Sim{APIKey: "demo"}
	hot := httptest.NewServer(http.StripPrefix("/open311/v2", sim))
	defer hot.Close()
	h := newHarness(t, server.Config{Hotline: server.HotlineConfig{
		URL: hot.URL + "/open311/v2", APIKey: "demo", JurisdictionID: "yuqiao", Every: time.Hour,
	}})
	sim.FailNext(1) // the first attempt fails: the case waits and shows in the depth
	err := h.srv.Outbox().Enqueue(t.Context(), "yuqiao/req-2340", hotline.CaseRequest{
		ServiceCode: "fever_reducer", AddressString: "玉桥街道 3号楼", Description: "8个月婴儿发烧，邻居未能提供儿童退烧药",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := outboxMetric(t, h, "linli_hotline_outbox_pending"); got != "1" {
		t.Fatalf("pending before forwarding = %s, want 1", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for sim.Count() == 0 && time.Now().Before(deadline) {
		// The injected failure may strike this pass or the server's own
		// loop; either way the case is retried after its backoff.
		_, _ = h.srv.Outbox().RunOnce(t.Context())
		time.Sleep(50 * time.Millisecond)
	}
	for range 2 {
		if _, err := h.srv.Outbox().RunOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if sim.Count() != 1 {
		t.Fatalf("the hotline holds %d cases, want exactly 1", sim.Count())
	}
	if got := outboxMetric(t, h, "linli_hotline_outbox_pending"); got != "0" {
		t.Fatalf("pending after forwarding = %s, want 0", got)
	}
	if got := outboxMetric(t, h, "linli_hotline_outbox_stuck"); got != "0" {
		t.Fatalf("stuck = %s, want 0", got)
	}
	if got := outboxMetric(t, h, `linli_hotline_attempts_total{outcome="created"}`); got != "1" {
		t.Fatalf("created attempts = %s, want 1", got)
	}
	if got := outboxMetric(t, h, `linli_hotline_attempts_total{outcome="retry"}`); got != "1" {
		t.Fatalf("retried attempts = %s, want 1 (the injected failure)", got)
	}
}

// outboxMetric returns the value of an unlabelled metric from /metrics.
func outboxMetric(t *testing.T, h *harness, name string) string {
	t.Helper()
	res, err := h.http.Get(h.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return ""
}
