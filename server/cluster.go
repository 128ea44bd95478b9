package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/linli/linli/cluster"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
)

// In a cluster every node serves reads from its own copy of the log, and
// one node, the writer, applies every write. A request that may write and
// reaches another node is forwarded to the writer, whole, before anything
// runs here: it is proxied (HTTP/2 without TLS, Connect, gRPC and gRPC-Web
// alike, and the console's forms), and the client gets the writer's answer
// as if it had asked it. While no node may write (a failover), writes wait
// up to Config.WriterWait, then fail with Unavailable (reason
// writer_unavailable), which clients retry like any Unavailable. Reads
// never move: a node that lags serves what it holds, and its Pull waits
// (briefly) for a cursor from further along the log rather than resetting
// it.

// forwardedHeader marks a request one node forwarded to another: it is
// never forwarded again.
const forwardedHeader = "Linli-Forwarded-By"

// readProcedures are the POST procedures that only read: they are served
// by any node.
var readProcedures = map[string]bool{
	linliv1connect.SyncServicePullProcedure:                               true,
	linliv1connect.SyncServiceSubscribeProcedure:                          true,
	linliv1connect.AuthServiceListDevicesProcedure:                        true,
	linliv1connect.StaffServiceListQueueProcedure:                         true,
	linliv1connect.StaffServiceGetReportProcedure:                         true,
	"/" + grpchealth.HealthV1ServiceName + "/Check":                       true,
	"/" + grpchealth.HealthV1ServiceName + "/Watch":                       true,
	"/" + grpcreflect.ReflectV1ServiceName + "/ServerReflectionInfo":      true,
	"/" + grpcreflect.ReflectV1AlphaServiceName + "/ServerReflectionInfo": true,
	BackupPath: true, // a copy of this node's store
}

// mayWrite reports whether r may change the store.
func mayWrite(r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions {
		return false
	}
	return !readProcedures[r.URL.Path]
}

// forwardWrites wraps next, in a cluster, with the forwarding of writes to
// the writer.
func (s *Server) forwardWrites(next http.Handler) http.Handler {
	c := s.cfg.Cluster
	if c == nil {
		return next
	}
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	transport := &http.Transport{
		Protocols:           &protocols,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
	errors := connect.NewErrorWriter()
	unavailable := func(w http.ResponseWriter, r *http.Request, msg string) {
		err := newError(connect.CodeUnavailable, msg, &linliv1.ErrorDetail{Reason: "writer_unavailable"})
		if errors.IsSupported(r) {
			_ = errors.Write(w, r, err)
			return
		}
		w.Header().Set("Retry-After", "1")
		http.Error(w, msg, http.StatusServiceUnavailable)
	}
	type target struct{}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(pr.In.Context().Value(target{}).(*url.URL))
			pr.Out.Host = pr.In.Host // the console checks Origin against it
			pr.SetXForwarded()
			pr.Out.Header.Set(forwardedHeader, "1")
		},
		Transport:     transport,
		FlushInterval: -1,
		ErrorLog:      nil,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.WarnContext(r.Context(), "forward to the writer", "err", err, "path", r.URL.Path)
			unavailable(w, r, "the node that writes could not be reached: try again")
		},
	}
	var (
		mu      sync.Mutex
		targets = map[string]*url.URL{}
	)
	parse := func(raw string) (*url.URL, error) {
		mu.Lock()
		defer mu.Unlock()
		if u, ok := targets[raw]; ok {
			return u, nil
		}
		u, err := url.Parse(raw)
		if err == nil {
			targets[raw] = u
		}
		return u, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !mayWrite(r) {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.WriterWait)
		writer, self, err := c.WaitWriter(ctx)
		cancel()
		switch {
		case err != nil:
			unavailable(w, r, "no node can write now (a failover): try again")
		case self:
			next.ServeHTTP(w, r)
		case r.Header.Get(forwardedHeader) != "":
			unavailable(w, r, "the node that writes changed: try again")
		default:
			u, err := parse(writer)
			if err != nil {
				s.log.ErrorContext(r.Context(), "malformed writer URL", "url", writer, "err", err)
				unavailable(w, r, "the node that writes could not be reached: try again")
				return
			}
			s.metrics.forwarded.Inc()
			proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), target{}, u)))
		}
	})
}

// barrier, in a cluster, waits (briefly) until this node holds every write
// the cluster acknowledged before it was called: for a caller whose
// membership or session this node does not know yet, made on the writer a
// moment ago. It reports whether it waited for anything.
func (s *Server) barrier(ctx context.Context) bool {
	if s.cfg.Cluster == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return s.cfg.Cluster.Barrier(ctx) == nil
}

// consoleBarrier is the console's Config.Barrier: nil on a single node.
func (s *Server) consoleBarrier() func(context.Context) bool {
	if s.cfg.Cluster == nil {
		return nil
	}
	return s.barrier
}

// loadSharedKeys loads the signing keys (in a cluster, shared through it first,
// and any key made here shared after).
func loadSharedKeys(cfg Config) (*KeySet, error) {
	if cfg.Cluster == nil {
		return LoadOrCreateKeys(cfg.DataDir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cfg.Cluster.ShareKeys(ctx, keysDir(cfg.DataDir)); err != nil {
		return nil, err
	}
	keys, err := LoadOrCreateKeys(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	return keys, cfg.Cluster.ShareKeys(ctx, keysDir(cfg.DataDir))
}

// reloadKeysNow reloads the keys for a token naming one this node lacks, at
// most once a second (within the second it answers as the last reload
// did). Errors: the last reload's, when the cluster could not be reached.
func (s *Server) reloadKeysNow() error {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if time.Since(s.keysAt) < time.Second {
		return s.keysErr
	}
	s.keysAt = time.Now()
	keys, err := loadSharedKeys(s.cfg)
	if err != nil {
		s.log.Warn("reload keys", "err", err)
		s.keysErr = fmt.Errorf("reload keys: %w", err)
		return s.keysErr
	}
	s.keysErr = nil
	s.tokens.SetKeys(keys)
	return nil
}

// clusterCollector exposes a cluster node's figures:
//
//	linli_cluster_writer                 gauge: 1 while this node is the writer
//	linli_cluster_writer_known           gauge: 1 while some node holds the lease
//	linli_cluster_term                   gauge: the lease's term as last seen
//	linli_cluster_log_position           gauge: the log position this node's store holds
//	linli_cluster_log_last               gauge: the log's last position as last seen
//	linli_cluster_replication_lag        gauge: entries of the log not yet applied here
//	linli_cluster_appends_total          counter: groups this node appended
//	linli_cluster_append_seconds_total   counter: time spent appending them
//	linli_cluster_append_bytes_total     counter: their bytes
//	linli_cluster_fenced_total           counter: appends the log refused (another writer)
//	linli_cluster_failovers_total        counter: times this node became the writer
//	linli_cluster_forwarded_total        counter: writes forwarded to the writer
type clusterCollector struct{ n *cluster.Node }

var (
	clusterWriter      = prometheus.NewDesc("linli_cluster_writer", "1 while this node is the writer.", nil, nil)
	clusterWriterKnown = prometheus.NewDesc("linli_cluster_writer_known", "1 while some node holds the writer's lease.", nil, nil)
	clusterTerm        = prometheus.NewDesc("linli_cluster_term", "The writer's lease term as last seen.", nil, nil)
	clusterPosition    = prometheus.NewDesc("linli_cluster_log_position", "The log position this node's store holds.", nil, nil)
	clusterLast        = prometheus.NewDesc("linli_cluster_log_last", "The log's last position as last seen.", nil, nil)
	clusterLag         = prometheus.NewDesc("linli_cluster_replication_lag", "Log entries not yet applied to this node's store.", nil, nil)
	clusterAppends     = prometheus.NewDesc("linli_cluster_appends_total", "Groups this node appended to the log.", nil, nil)
	clusterAppendTime  = prometheus.NewDesc("linli_cluster_append_seconds_total", "Time spent appending groups to the log.", nil, nil)
	clusterAppendBytes = prometheus.NewDesc("linli_cluster_append_bytes_total", "Bytes of the groups appended to the log.", nil, nil)
	clusterFenced      = prometheus.NewDesc("linli_cluster_fenced_total", "Appends the log refused because another node writes.", nil, nil)
	clusterFailovers   = prometheus.NewDesc("linli_cluster_failovers_total", "Times this node became the writer.", nil, nil)
)

func (c clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{clusterWriter, clusterWriterKnown, clusterTerm, clusterPosition, clusterLast,
		clusterLag, clusterAppends, clusterAppendTime, clusterAppendBytes, clusterFenced, clusterFailovers} {
		ch <- d
	}
}

func (c clusterCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.n.Stats()
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	ch <- prometheus.MustNewConstMetric(clusterWriter, prometheus.GaugeValue, b(st.Writer))
	ch <- prometheus.MustNewConstMetric(clusterWriterKnown, prometheus.GaugeValue, b(st.WriterKnown))
	ch <- prometheus.MustNewConstMetric(clusterTerm, prometheus.GaugeValue, float64(st.Term))
	ch <- prometheus.MustNewConstMetric(clusterPosition, prometheus.GaugeValue, float64(st.Applied))
	ch <- prometheus.MustNewConstMetric(clusterLast, prometheus.GaugeValue, float64(st.LogLast))
	ch <- prometheus.MustNewConstMetric(clusterLag, prometheus.GaugeValue, float64(st.LogLast-st.Applied))
	ch <- prometheus.MustNewConstMetric(clusterAppends, prometheus.CounterValue, float64(st.Commits))
	ch <- prometheus.MustNewConstMetric(clusterAppendTime, prometheus.CounterValue, st.CommitTime.Seconds())
	ch <- prometheus.MustNewConstMetric(clusterAppendBytes, prometheus.CounterValue, float64(st.CommitBytes))
	ch <- prometheus.MustNewConstMetric(clusterFenced, prometheus.CounterValue, float64(st.Fenced))
	ch <- prometheus.MustNewConstMetric(clusterFailovers, prometheus.CounterValue, float64(st.Failovers))
}

// watchCluster registers the cluster's metrics.
func (m *metrics) watchCluster(n *cluster.Node) {
	m.forwarded = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "linli_cluster_forwarded_total", Help: "Writes forwarded to the node that writes.",
	})
	m.reg.MustRegister(clusterCollector{n}, m.forwarded)
}

// ClusterPath is a node's status in a cluster (JSON), public like /metrics
// unless Config.MetricsToken is set. With ?digest=1 it also reports a
// SHA-256 of the node's store and the log position it is as of: two nodes
// at one position have the same digest.
const ClusterPath = "/clusterz"

// ClusterStatus is the answer of GET ClusterPath.
type ClusterStatus struct {
	Node        string `json:"node"`
	Writer      bool   `json:"writer"`       // this node writes now
	WriterURL   string `json:"writer_url"`   // the writer as this node last saw the lease ("" while none)
	Term        uint64 `json:"term"`         // the lease's term
	Position    uint64 `json:"position"`     // the log position this node's store holds
	LogLast     uint64 `json:"log_last"`     // the log's last position as last seen
	Digest      string `json:"digest"`       // with ?digest=1: hex SHA-256 of the store
	DigestAt    uint64 `json:"digest_at"`    // the position the digest is as of
	Failovers   uint64 `json:"failovers"`    // times this node became the writer
	FencedTotal uint64 `json:"fenced_total"` // appends the log refused
}

func (s *Server) clusterStatus(w http.ResponseWriter, r *http.Request) {
	n := s.cfg.Cluster
	st := n.Stats()
	url, _, _ := n.Writer()
	out := ClusterStatus{
		Node: n.Name(), Writer: st.Writer, WriterURL: url, Term: st.Term, Position: st.Applied,
		LogLast: st.LogLast, Failovers: st.Failovers, FencedTotal: st.Fenced,
	}
	if r.URL.Query().Get("digest") == "1" {
		sum, pos, err := s.svc.Digest(r.Context())
		if err != nil {
			http.Error(w, "digest: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		out.Digest, out.DigestAt = hex.EncodeToString(sum[:]), pos
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(out)
}

// clusterStatusHandler guards clusterStatus with the metrics token, if set.
func (s *Server) clusterStatusHandler() http.Handler {
	h := http.HandlerFunc(s.clusterStatus)
	if s.cfg.MetricsToken == "" {
		return h
	}
	want := sha256.Sum256([]byte(s.cfg.MetricsToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !bearerMatches(r.Header.Values("Authorization"), want) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "metrics token required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
