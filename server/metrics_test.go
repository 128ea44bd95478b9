package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server"
)

const (
	pushProc      = linliv1connect.SyncServicePushProcedure
	pullProc      = linliv1connect.SyncServicePullProcedure
	subscribeProc = linliv1connect.SyncServiceSubscribeProcedure
	joinProc      = linliv1connect.AuthServiceJoinProcedure
)

// TestMetrics: RPCs (unary and streaming, Connect and gRPC), rate-limit
// refusals, group commits, scope logs, subscribers and Pebble show up at
// /metrics with the values the calls imply.
func TestMetrics(t *testing.T) {
	t.Parallel()
	h := linlitest.NewServer(t, server.Config{RateLimits: server.RateLimits{
		Join: server.Limit{Rate: 1e-6, Burst: 1},
		Push: server.Limit{Rate: 1e-6, Burst: 3},
	}})
	ctx := t.Context()
	tok := h.Token(t, "u1", "c1", mutualaid.RoleResident)
	c := h.SyncClient(tok)

	for i := range 3 {
		if _, err := push(ctx, c, "phone", offer(uint64(i+1), fmt.Sprintf("p%d", i))); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}
	_, err := push(ctx, c, "phone", offer(4, "p3"))
	wantError(t, err, connect.CodeResourceExhausted, "rate_limited")
	for range 2 {
		if _, err := c.Pull(ctx, &linliv1.PullRequest{ProtocolVersion: 1}); err != nil {
			t.Fatalf("pull: %v", err)
		}
	}
	_, err = c.Pull(ctx, &linliv1.PullRequest{ProtocolVersion: 1, Cursor: "not a cursor"})
	wantError(t, err, connect.CodeInvalidArgument, "cursor_malformed")
	auth := linliv1connect.NewAuthServiceClient(h.HTTP, h.URL)
	for range 2 {
		_, err = auth.Join(ctx, &linliv1.JoinRequest{ProtocolVersion: 1, Code: "GUESS2345678ABCDEFGH", ClientId: "phone", DisplayName: "x"})
	}
	wantError(t, err, connect.CodeResourceExhausted, "rate_limited")

	// Two live streams, one over Connect and one over gRPC.
	streamCtx, endStreams := context.WithCancel(ctx)
	defer endStreams()
	oneCtx, endOne := context.WithCancel(streamCtx)
	defer endOne()
	for i, sc := range []linliv1connect.SyncServiceClient{c, h.GRPCSyncClient(tok)} {
		sctx := streamCtx
		if i == 0 {
			sctx = oneCtx
		}
		stream, err := sc.Subscribe(sctx, &linliv1.SubscribeRequest{ProtocolVersion: 1})
		if err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		defer stream.Close()
		if !stream.Receive() {
			t.Fatalf("subscribe %d: no first poke: %v", i, stream.Err())
		}
	}

	m := scrapeMetrics(t, h, "")
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"linli_rpc_requests_total", []string{"procedure", pushProc, "code", "ok"}, 3},
		{"linli_rpc_requests_total", []string{"procedure", pushProc, "code", "resource_exhausted"}, 1},
		{"linli_rpc_requests_total", []string{"procedure", pullProc, "code", "ok"}, 2},
		{"linli_rpc_requests_total", []string{"procedure", pullProc, "code", "invalid_argument"}, 1},
		{"linli_rpc_requests_total", []string{"procedure", joinProc, "code", "invalid_argument"}, 1},
		{"linli_rpc_requests_total", []string{"procedure", joinProc, "code", "resource_exhausted"}, 1},
		{"linli_rate_limited_total", []string{"limit", "push"}, 1},
		{"linli_rate_limited_total", []string{"limit", "join"}, 1},
		{"linli_rate_limited_total", []string{"limit", "refresh"}, 0},
		{"linli_subscribers", nil, 2},
	} {
		if got := m.value(t, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if got := m.histogram(t, "linli_rpc_duration_seconds", "procedure", pushProc).GetSampleCount(); got != 4 {
		t.Errorf("linli_rpc_duration_seconds{Push} count = %d, want 4", got)
	}
	if m.has("linli_rpc_requests_total", "procedure", subscribeProc, "code", "ok") {
		t.Error("a stream still open was counted")
	}
	muts := m.histogram(t, "linli_sync_commit_mutations")
	if muts.GetSampleCount() < 1 || muts.GetSampleSum() != 3 {
		t.Errorf("linli_sync_commit_mutations count = %d, sum = %v; want ≥ 1 and 3", muts.GetSampleCount(), muts.GetSampleSum())
	}
	if got := m.histogram(t, "linli_sync_commit_pushes").GetSampleSum(); got < 3 {
		t.Errorf("linli_sync_commit_pushes sum = %v, want ≥ 3", got)
	}
	// Background work (match refresh, the outbox) may commit while a scrape
	// gathers, so compare the two histograms in one quiet scrape.
	waitScrape(t, h, func(m scrape) bool {
		return m.histogram(t, "linli_sync_commit_seconds").GetSampleCount() == m.histogram(t, "linli_sync_commit_mutations").GetSampleCount()
	})
	if got := m.value(t, "linli_sync_scopes"); got < 2 { // community/c1, user/u1, …
		t.Errorf("linli_sync_scopes = %v, want ≥ 2", got)
	}
	// Each push publishes the post in community/c1 and user/u1, and the
	// client state in user/u1.
	if got := m.value(t, "linli_sync_log_head_seq_total"); got < 6 {
		t.Errorf("linli_sync_log_head_seq_total = %v, want ≥ 6", got)
	}
	if got := m.value(t, "linli_pebble_disk_bytes"); got <= 0 {
		t.Errorf("linli_pebble_disk_bytes = %v, want > 0", got)
	}
	for _, name := range []string{"linli_pebble_compactions_total", "linli_pebble_l0_files", "linli_sync_log_low_water_seq_total", "go_goroutines"} {
		m.value(t, name)
	}

	// A stream counts when it ends.
	endOne()
	m = waitScrape(t, h, func(m scrape) bool {
		return m.value(t, "linli_subscribers") == 1 && m.has("linli_rpc_requests_total", "procedure", subscribeProc, "code", "ok")
	})
	if got := m.value(t, "linli_rpc_requests_total", "procedure", subscribeProc, "code", "ok"); got != 1 {
		t.Errorf("Subscribe ok = %v, want 1", got)
	}
	endStreams()
	waitScrape(t, h, func(m scrape) bool { return m.value(t, "linli_subscribers") == 0 })
}

// TestMetricsToken: with Config.MetricsToken set, /metrics wants exactly
// that bearer token; a member's access token is not enough.
func TestMetricsToken(t *testing.T) {
	t.Parallel()
	h := linlitest.NewServer(t, server.Config{MetricsToken: "s3cret-metrics"})
	member := h.Token(t, "u1", "c1", mutualaid.RoleResident)
	for _, tc := range []struct {
		name   string
		header []string
		want   int
	}{
		{"Missing", nil, http.StatusUnauthorized},
		{"Wrong", []string{"Bearer s3cret-metric"}, http.StatusUnauthorized},
		{"MemberToken", []string{"Bearer " + member}, http.StatusUnauthorized},
		{"NotBearer", []string{"Basic s3cret-metrics"}, http.StatusUnauthorized},
		{"Twice", []string{"Bearer s3cret-metrics", "Bearer s3cret-metrics"}, http.StatusUnauthorized},
		{"Right", []string{"Bearer s3cret-metrics"}, http.StatusOK},
		{"SchemeCase", []string{"bearer s3cret-metrics"}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, hdr := get(t, h, "/metrics", tc.header...)
			if code != tc.want {
				t.Fatalf("status = %d, want %d (%s)", code, tc.want, body)
			}
			if code == http.StatusUnauthorized && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", hdr.Get("WWW-Authenticate"))
			}
			if code == http.StatusOK && !strings.Contains(body, "linli_subscribers") {
				t.Errorf("body lacks linli metrics:\n%.500s", body)
			}
		})
	}
	t.Run("MetricsHandler", func(t *testing.T) {
		rec := httptest.NewRecorder()
		h.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("status = %d, want 401", rec.Code)
		}
	})
}

// TestHealth: /healthz is always 200; /readyz is 200 while the store
// answers and 503 once the server is closed. /metrics still answers.
func TestHealth(t *testing.T) {
	t.Parallel()
	h := linlitest.NewServer(t, server.Config{})
	if code, body, _ := get(t, h, "/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Fatalf("readyz = %d %q, want 200 ready", code, body)
	}
	if got := grpcHealth(t, h); got != "SERVING_STATUS_SERVING" {
		t.Fatalf("gRPC health = %s, want SERVING", got)
	}
	events := grpchealth.NewClient(h.HTTP, h.URL).Watch(t.Context(), &grpchealth.CheckRequest{Service: linliv1connect.SyncServiceName})
	if ev := <-events; ev.Err != nil || ev.Response.Status != grpchealth.StatusServing {
		t.Fatalf("health Watch: %+v, want serving", ev)
	}
	if err := h.Server.Close(); err != nil {
		t.Fatal(err)
	}
	// A Watch stream ends when shutdown begins: it never holds it up.
	for ended := time.After(5 * time.Second); ; {
		select {
		case _, open := <-events:
			if open {
				continue
			}
		case <-ended:
			t.Fatal("a health Watch stream outlived the shutdown")
		}
		break
	}
	if code, body, _ := get(t, h, "/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz after Close = %d %q, want 503", code, body)
	}
	if got := grpcHealth(t, h); got != "SERVING_STATUS_NOT_SERVING" {
		t.Fatalf("gRPC health after Close = %s, want NOT_SERVING", got)
	}
	if code, _, _ := get(t, h, "/healthz"); code != http.StatusOK {
		t.Fatalf("healthz after Close = %d, want 200", code)
	}
	m := scrapeMetrics(t, h, "")
	if m.has("linli_pebble_disk_bytes") {
		t.Error("Pebble metrics scraped from a closed store")
	}
	m.value(t, "linli_sync_scopes")
}

// grpcHealth asks grpc.health.v1.Health/Check (Connect JSON) for the
// server's status.
func grpcHealth(t *testing.T, h *linlitest.Server) string {
	t.Helper()
	res, err := h.HTTP.Post(h.URL+"/grpc.health.v1.Health/Check", "application/json", strings.NewReader(`{"service": "linli.v1.SyncService"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct{ Status string }
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Status
}

// scrape is one parsed /metrics answer.
type scrape map[string]*dto.MetricFamily

// scrapeMetrics GETs h's /metrics (with auth if not empty) and parses it.
func scrapeMetrics(t *testing.T, h *linlitest.Server, auth string) scrape {
	t.Helper()
	var hdr []string
	if auth != "" {
		hdr = append(hdr, auth)
	}
	code, body, resp := get(t, h, "/metrics", hdr...)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d: %s", code, body)
	}
	if ct := resp.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type = %q, want Prometheus text", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams
}

// waitScrape scrapes h's metrics until ok holds.
func waitScrape(t *testing.T, h *linlitest.Server, ok func(scrape) bool) scrape {
	t.Helper()
	var m scrape
	linlitest.WaitFor(t, "the metrics to reach the wanted state", func() bool {
		m = scrapeMetrics(t, h, "")
		return ok(m)
	})
	return m
}

// get GETs h's path with the given Authorization headers.
func get(t *testing.T, h *linlitest.Server, path string, authorization ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, h.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range authorization {
		req.Header.Add("Authorization", a)
	}
	resp, err := h.HTTP.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(body), resp.Header
}

// metric finds the sample of family name whose labels include the given
// name/value pairs.
func (s scrape) metric(name string, labels ...string) *dto.Metric {
	fam := s[name]
	if fam == nil {
		return nil
	}
next:
	for _, m := range fam.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	return nil
}

func (s scrape) has(name string, labels ...string) bool { return s.metric(name, labels...) != nil }

// value returns a counter's, gauge's or untyped sample's value; a missing
// sample fails the test.
func (s scrape) value(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	m := s.metric(name, labels...)
	switch {
	case m == nil:
		t.Fatalf("no sample %s%v", name, labels)
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	t.Fatalf("%s%v is not a counter or gauge", name, labels)
	return 0
}

func (s scrape) histogram(t *testing.T, name string, labels ...string) *dto.Histogram {
	t.Helper()
	m := s.metric(name, labels...)
	if m.GetHistogram() == nil {
		t.Fatalf("no histogram %s%v", name, labels)
	}
	return m.GetHistogram()
}
