package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/linli/linli/internal/hotlinesim"
	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/server"
)

// TestOutboxForwardsAndReports: a case staff forward waits in the
// server's outbox and is forwarded to the configured hotline exactly once,
// and /metrics shows the outbox's depth before and after.
func TestOutboxForwardsAndReports(t *testing.T) {
	t.Parallel()
	sim := &hotlinesim.Sim{APIKey: "demo"}
	hot := httptest.NewServer(http.StripPrefix("/open311/v2", sim))
	defer hot.Close()
	h := linlitest.NewServer(t, server.Config{Domain: mutualaid.Config{Hotline: mutualaid.HotlineConfig{
		URL: hot.URL + "/open311/v2", APIKey: "demo", JurisdictionID: "yuqiao", Every: time.Hour,
	}}})
	svc := h.Service()
	wang := h.SyncClient(h.Token(t, "u-wang", "yuqiao", mutualaid.RoleResident))
	if _, err := push(t.Context(), wang, "phone", request(1, "req-2340", "8个月婴儿发烧，邻居未能提供儿童退烧药", linliv1.Urgency_URGENCY_URGENT)); err != nil {
		t.Fatal(err)
	}
	sim.FailNext(1) // the first attempt fails: the case waits and shows in the depth
	if _, _, err := svc.Forward(t.Context(), mutualaid.Operator, mutualaid.ForwardInput{Community: "yuqiao", PostID: "req-2340"}); err != nil {
		t.Fatal(err)
	}
	if got := outboxMetric(t, h, "linli_hotline_outbox_pending"); got != "1" {
		t.Fatalf("pending before forwarding = %s, want 1", got)
	}
	waitFor(t, "the hotline to hold the case", func() bool {
		// The injected failure may strike this pass or the server's own
		// loop; either way the case is retried after its backoff.
		_, _ = svc.ForwardCases(t.Context())
		return sim.Count() > 0
	})
	for range 2 {
		if _, err := svc.ForwardCases(t.Context()); err != nil {
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
func outboxMetric(t *testing.T, h *linlitest.Server, name string) string {
	t.Helper()
	res, err := h.HTTP.Get(h.URL + "/metrics")
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
