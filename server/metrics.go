package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/linli/linli/mutualaid"
	"github.com/linli/linli/mutualaid/hotline"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
)

// metrics are one Server's Prometheus metrics, in a registry of its own (no
// global state: many servers may live in one process, as in tests). They
// are served in the Prometheus text format at GET /metrics.
//
// Exposed, besides the Go runtime's (go_*) and the process's (process_*):
//
//	linli_rpc_requests_total{procedure, code}  counter: finished RPCs; code is
//	                                           the Connect code ("ok" for none).
//	                                           Streams count when they end.
//	linli_rpc_duration_seconds{procedure}      histogram: RPC handling time
//	                                           (a stream's whole life).
//	linli_rate_limited_total{limit}            counter: calls refused by a rate
//	                                           limit; limit is join, refresh or push.
//	linli_sync_commit_mutations                histogram: mutations per group commit.
//	linli_sync_commit_pushes                   histogram: requests (pushes and
//	                                           engine jobs) per group commit.
//	linli_sync_commit_seconds                  histogram: batch commit (fsync) time.
//	linli_sync_scopes                          gauge: scopes with at least one change.
//	linli_sync_log_head_seq_total              counter: sum of the scopes' head seqs
//	                                           (log entries ever published).
//	linli_sync_log_low_water_seq_total         counter: sum of the scopes' low-water
//	                                           marks (rises as old tombstones are dropped).
//	linli_subscribers                          gauge: open Subscribe streams.
//	linli_sync_disk_full                       gauge: 1 while pushes are refused for
//	                                           want of disk space (disk_full), else 0.
//	linli_sync_disk_free_bytes                 gauge: free space on the store's disk
//	                                           (absent if the file system does not say).
//	linli_sync_disk_reserve_bytes              gauge: the free space writes keep
//	                                           (--disk-reserve).
//	linli_sync_write_failed                    gauge: 1 once a commit has failed and
//	                                           every write is refused until a restart.
//	linli_pebble_disk_bytes                    gauge: Pebble's disk usage.
//	linli_pebble_compactions_total             counter: Pebble compactions.
//	linli_pebble_l0_files                      gauge: sstables in L0.
//	linli_pebble_read_amplification            gauge: Pebble's read amplification.
//	linli_pebble_compaction_debt_bytes         gauge: bytes Pebble estimates it
//	                                           must compact to reach a stable shape.
//	linli_hotline_attempts_total{outcome}      counter: attempts to forward a case:
//	                                           created, retry (failed, retried) or
//	                                           stuck (given up).
//	linli_hotline_outbox_pending               gauge: cases waiting to be forwarded.
//	linli_hotline_outbox_stuck                 gauge: cases given up on.
//
// Requests refused by authentication never reach a Connect handler and are
// not counted in linli_rpc_*.
type metrics struct {
	reg *prometheus.Registry

	rpcRequests *prometheus.CounterVec
	rpcDuration *prometheus.HistogramVec
	rateLimited *prometheus.CounterVec
	hotline     *prometheus.CounterVec

	commitMutations prometheus.Histogram
	commitPushes    prometheus.Histogram
	commitSeconds   prometheus.Histogram

	forwarded prometheus.Counter // in a cluster: writes forwarded to the writer
}

// latencyBuckets span 100 µs to 10 s.
var latencyBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// rateLimitedProcedures names, for each rate-limited procedure, the limit
// reported in linli_rate_limited_total.
var rateLimitedProcedures = map[string]string{
	linliv1connect.AuthServiceJoinProcedure:    "join",
	linliv1connect.AuthServiceRefreshProcedure: "refresh",
	linliv1connect.SyncServicePushProcedure:    "push",
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		rpcRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linli_rpc_requests_total",
			Help: "RPCs finished, by procedure and Connect code (ok for success). Streams count when they end.",
		}, []string{"procedure", "code"}),
		rpcDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "linli_rpc_duration_seconds",
			Help:    "Time to handle an RPC (for a stream, its whole life), by procedure.",
			Buckets: latencyBuckets,
		}, []string{"procedure"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linli_rate_limited_total",
			Help: "Calls refused by a rate limit, by limit (join, refresh, push).",
		}, []string{"limit"}),
		hotline: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linli_hotline_attempts_total",
			Help: "Attempts to forward a case to the hotline, by outcome (created, retry, stuck).",
		}, []string{"outcome"}),
		commitMutations: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "linli_sync_commit_mutations",
			Help:    "Mutations applied per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 15), // 1 … 16384
		}),
		commitPushes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "linli_sync_commit_pushes",
			Help:    "Requests (pushes and engine jobs) per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11), // 1 … 1024
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "linli_sync_commit_seconds",
			Help:    "Time to commit one group's batch, fsync included.",
			Buckets: latencyBuckets,
		}),
	}
	for _, limit := range rateLimitedProcedures {
		m.rateLimited.WithLabelValues(limit) // present at zero
	}
	for _, o := range []string{hotline.OutcomeCreated, hotline.OutcomeRetry, hotline.OutcomeStuck} {
		m.hotline.WithLabelValues(o)
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.rpcRequests, m.rpcDuration, m.rateLimited, m.hotline,
		m.commitMutations, m.commitPushes, m.commitSeconds,
	)
	return m
}

// hotlineAttempt records one outbox attempt's outcome.
func (m *metrics) hotlineAttempt(outcome string) { m.hotline.WithLabelValues(outcome).Inc() }

// onCommit returns a linlisync.Options.OnCommit that records each group
// commit and then calls next (if not nil).
func (m *metrics) onCommit(next func(mutations, pushes int, latency time.Duration)) func(int, int, time.Duration) {
	return func(mutations, pushes int, latency time.Duration) {
		m.commitMutations.Observe(float64(mutations))
		m.commitPushes.Observe(float64(pushes))
		m.commitSeconds.Observe(latency.Seconds())
		if next != nil {
			next(mutations, pushes, latency)
		}
	}
}

// watch registers the metrics computed from the service at scrape time:
// the engine's and the hotline outbox's.
func (m *metrics) watch(svc *mutualaid.Service) {
	m.reg.MustRegister(storeCollector{svc}, newOutboxGauges(svc))
}

// observe records one finished RPC.
func (m *metrics) observe(procedure string, start time.Time, err error) {
	code := "ok"
	if err != nil {
		code = connect.CodeOf(err).String()
	}
	m.rpcRequests.WithLabelValues(procedure, code).Inc()
	m.rpcDuration.WithLabelValues(procedure).Observe(time.Since(start).Seconds())
	if limit, ok := rateLimitedProcedures[procedure]; ok && isRateLimited(err) {
		m.rateLimited.WithLabelValues(limit).Inc()
	}
}

// isRateLimited reports whether err is a refusal by a limiter (see
// limiter.check): ResourceExhausted with reason rate_limited.
func isRateLimited(err error) bool {
	var cerr *connect.Error
	if !errors.As(err, &cerr) || cerr.Code() != connect.CodeResourceExhausted {
		return false
	}
	for _, d := range cerr.Details() {
		v, derr := d.Value()
		if detail, ok := v.(*linliv1.ErrorDetail); derr == nil && ok && detail.GetReason() == "rate_limited" {
			return true
		}
	}
	return false
}

// interceptor records every unary and streaming RPC the handlers serve.
func (m *metrics) interceptor() connect.Interceptor { return rpcMetrics{m} }

type rpcMetrics struct{ m *metrics }

func (i rpcMetrics) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		start := time.Now()
		res, err := next(ctx, req)
		i.m.observe(req.Spec().Procedure, start, err)
		return res, err
	}
}

func (rpcMetrics) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i rpcMetrics) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		start := time.Now()
		err := next(ctx, conn)
		i.m.observe(conn.Spec().Procedure, start, err)
		return err
	}
}

// handler serves the metrics in the Prometheus text format. If token is not
// empty, it requires "Authorization: Bearer <token>" (compared in constant
// time) and answers 401 otherwise.
func (m *metrics) handler(token string, log *slog.Logger) http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(log.Handler(), slog.LevelError),
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            m.reg,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
	if token == "" {
		return h
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !bearerMatches(r.Header.Values("Authorization"), want) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "metrics token required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// bearerMatches reports whether values hold exactly one "Bearer <token>"
// whose SHA-256 is want. Hashing first keeps the comparison constant-time
// whatever the lengths.
func bearerMatches(values []string, want [sha256.Size]byte) bool {
	if len(values) != 1 {
		return false
	}
	scheme, token, _ := strings.Cut(values[0], " ")
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	ok := subtle.ConstantTimeCompare(got[:], want[:]) == 1
	return ok && strings.EqualFold(scheme, "Bearer")
}

// MetricsHandler serves the same metrics as GET /metrics on Handler (and
// requires Config.MetricsToken the same way), for mounting on a separate,
// internal listener.
func (s *Server) MetricsHandler() http.Handler {
	return s.metrics.handler(s.cfg.MetricsToken, s.log)
}

// storeCollector computes the engine's metrics at scrape time.
type storeCollector struct{ store *mutualaid.Service }

var (
	descScopes = prometheus.NewDesc("linli_sync_scopes",
		"Scopes with at least one change.", nil, nil)
	descHeadSeq = prometheus.NewDesc("linli_sync_log_head_seq_total",
		"Sum of the scopes' head seqs: log entries ever published, compacted ones included.", nil, nil)
	descLowWater = prometheus.NewDesc("linli_sync_log_low_water_seq_total",
		"Sum of the scopes' low-water marks: rises as old tombstones are dropped.", nil, nil)
	descSubscribers = prometheus.NewDesc("linli_subscribers",
		"Open Subscribe streams.", nil, nil)
	descDiskFull = prometheus.NewDesc("linli_sync_disk_full",
		"1 while pushes are refused because the store's disk has less free space than the reserve (disk_full), else 0.", nil, nil)
	descDiskFree = prometheus.NewDesc("linli_sync_disk_free_bytes",
		"Free space on the store's disk.", nil, nil)
	descDiskReserve = prometheus.NewDesc("linli_sync_disk_reserve_bytes",
		"Free disk space writes keep (--disk-reserve): pushes are refused below it.", nil, nil)
	descWriteFailed = prometheus.NewDesc("linli_sync_write_failed",
		"1 once a commit has failed: every write is refused until linli is restarted.", nil, nil)
	descDiskBytes = prometheus.NewDesc("linli_pebble_disk_bytes",
		"Disk space used by Pebble (sstables, WAL, blob files, obsolete files not yet deleted).", nil, nil)
	descCompactions = prometheus.NewDesc("linli_pebble_compactions_total",
		"Compactions Pebble has run since the store opened.", nil, nil)
	descL0Files = prometheus.NewDesc("linli_pebble_l0_files",
		"Sstables in Pebble's level 0 (many means compactions lag writes).", nil, nil)
	descReadAmp = prometheus.NewDesc("linli_pebble_read_amplification",
		"Pebble's read amplification: sublevels of L0 plus non-empty lower levels.", nil, nil)
	descCompactionDebt = prometheus.NewDesc("linli_pebble_compaction_debt_bytes",
		"Bytes Pebble estimates it must compact to reach a stable shape.", nil, nil)
)

func (storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descScopes, descHeadSeq, descLowWater, descSubscribers,
		descDiskFull, descDiskFree, descDiskReserve, descWriteFailed,
		descDiskBytes, descCompactions, descL0Files, descReadAmp, descCompactionDebt,
	} {
		ch <- d
	}
}

// Collect reads the heads in memory, the disk's free space (one statfs)
// and Pebble's counters. Once the store is closing, Pebble's metrics are
// left out.
func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.store.LogStats()
	ch <- prometheus.MustNewConstMetric(descScopes, prometheus.GaugeValue, float64(st.Scopes))
	ch <- prometheus.MustNewConstMetric(descHeadSeq, prometheus.CounterValue, float64(st.HeadSum))
	ch <- prometheus.MustNewConstMetric(descLowWater, prometheus.CounterValue, float64(st.LowWaterSum))
	ch <- prometheus.MustNewConstMetric(descSubscribers, prometheus.GaugeValue, float64(c.store.Subscribers()))
	disk := c.store.DiskStatus()
	ch <- prometheus.MustNewConstMetric(descDiskFull, prometheus.GaugeValue, flag(disk.Full))
	if disk.Known {
		ch <- prometheus.MustNewConstMetric(descDiskFree, prometheus.GaugeValue, float64(disk.Available))
	}
	ch <- prometheus.MustNewConstMetric(descDiskReserve, prometheus.GaugeValue, float64(disk.Reserve))
	ch <- prometheus.MustNewConstMetric(descWriteFailed, prometheus.GaugeValue, flag(disk.Failed != nil))
	pm, err := c.store.DBMetrics()
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(descDiskBytes, prometheus.GaugeValue, float64(pm.DiskSpaceUsage()))
	ch <- prometheus.MustNewConstMetric(descCompactions, prometheus.CounterValue, float64(pm.Compact.Count))
	ch <- prometheus.MustNewConstMetric(descL0Files, prometheus.GaugeValue, float64(pm.Levels[0].TablesCount))
	ch <- prometheus.MustNewConstMetric(descReadAmp, prometheus.GaugeValue, float64(pm.ReadAmp()))
	ch <- prometheus.MustNewConstMetric(descCompactionDebt, prometheus.GaugeValue, float64(pm.Compact.EstimatedDebt))
}

// outboxGauges exposes the hotline outbox's depth and its stuck cases.
type outboxGauges struct {
	svc   *mutualaid.Service
	depth *prometheus.Desc
	stuck *prometheus.Desc
}

func newOutboxGauges(svc *mutualaid.Service) *outboxGauges {
	return &outboxGauges{
		svc:   svc,
		depth: prometheus.NewDesc("linli_hotline_outbox_pending", "Cases waiting to be forwarded to the hotline.", nil, nil),
		stuck: prometheus.NewDesc("linli_hotline_outbox_stuck", "Cases the outbox gave up on (shown to staff, never dropped).", nil, nil),
	}
}

func (g *outboxGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.depth
	ch <- g.stuck
}

func (g *outboxGauges) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n, err := g.svc.OutboxPending(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(g.depth, prometheus.GaugeValue, float64(n))
	}
	if n, err := g.svc.OutboxStuck(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(g.stuck, prometheus.GaugeValue, float64(n))
	}
}

// flag is 1 for true, 0 for false: a gauge of a condition.
func flag(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
