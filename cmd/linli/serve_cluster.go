package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/linli/linli/cluster"
	"github.com/linli/linli/server"
	linlisync "github.com/linli/linli/sync"
)

// clusterFlags are `linli serve`'s cluster flags.
type clusterFlags struct {
	enabled        bool
	node           string
	advertise      string
	nats           string
	listen         string
	routes         string
	routeAdvertise string
	natsClient     string
	natsConfig     string
	name           string
	replicas       int
	lease          time.Duration
}

func (c *clusterFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.enabled, "cluster", false, "run as one node of a linli cluster on NATS JetStream (see docs/cluster.md)")
	fs.StringVar(&c.node, "cluster-node", "", "this node's name, unique in the cluster (default: the host name)")
	fs.StringVar(&c.advertise, "cluster-advertise", "", "base URL the other nodes forward writes to (default: http://<--listen>)")
	fs.StringVar(&c.nats, "cluster-nats", "", "an existing NATS cluster with JetStream (nats://host:4222,…); empty: run NATS inside this process")
	fs.StringVar(&c.listen, "cluster-listen", "127.0.0.1:6222", "embedded NATS: address for the other nodes' routes")
	fs.StringVar(&c.routes, "cluster-routes", "", "embedded NATS: the nodes' route addresses, comma-separated (host:port,…)")
	fs.StringVar(&c.routeAdvertise, "cluster-route-advertise", "", "embedded NATS: route address the other nodes are told (default: --cluster-listen)")
	fs.StringVar(&c.natsClient, "cluster-nats-client", "", "embedded NATS: also accept NATS clients (the nats tool) on this address")
	fs.StringVar(&c.natsConfig, "cluster-nats-config", "", "embedded NATS: a nats-server configuration file read first (TLS, authorization)")
	fs.StringVar(&c.name, "cluster-name", "linli", "embedded NATS: the cluster's name, the same on every node")
	fs.IntVar(&c.replicas, "cluster-replicas", 3, "copies JetStream keeps of the log (3: one node may be lost)")
	fs.DurationVar(&c.lease, "cluster-lease", 3*time.Second, "the writer's lease: a writer not heard from for this long is replaced")
}

// check validates the cluster flags.
func (c *clusterFlags) check(listen string) error {
	if !c.enabled {
		return nil
	}
	if c.node == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("--cluster-node: not set and no host name: %w", err)
		}
		c.node = h
	}
	if c.advertise == "" {
		c.advertise = "http://" + listen
	}
	if !strings.HasPrefix(c.advertise, "http://") && !strings.HasPrefix(c.advertise, "https://") {
		return fmt.Errorf("--cluster-advertise %q: want a URL such as http://10.0.0.2:8080", c.advertise)
	}
	if c.replicas < 1 {
		return fmt.Errorf("--cluster-replicas %d: must be at least 1", c.replicas)
	}
	if c.lease < 500*time.Millisecond {
		return fmt.Errorf("--cluster-lease %v: must be at least 500ms", c.lease)
	}
	if c.nats == "" {
		if _, _, err := net.SplitHostPort(c.listen); err != nil {
			return fmt.Errorf("--cluster-listen %q: want host:port", c.listen)
		}
	}
	return nil
}

// config is the cluster.Config the flags describe, for data folder data.
func (c *clusterFlags) config(data string, log *slog.Logger, onLead func()) cluster.Config {
	var routes []string
	for r := range strings.SplitSeq(c.routes, ",") {
		if r = strings.TrimSpace(r); r != "" {
			routes = append(routes, r)
		}
	}
	return cluster.Config{
		Node: c.node, Advertise: c.advertise, NATSURL: c.nats, Replicas: c.replicas, Lease: c.lease,
		Logger: log, OnLead: onLead,
		Embedded: cluster.Embedded{
			Dir: filepath.Join(data, "nats"), ClusterName: c.name, Listen: c.listen, Advertise: c.routeAdvertise,
			Routes: routes, ClientListen: c.natsClient, ConfigFile: c.natsConfig,
		},
	}
}

// startClusterNode starts this node's part of the cluster (its embedded
// NATS, if any), waiting for the other nodes if they are not up yet.
func startClusterNode(ctx context.Context, f *serveFlags, log *slog.Logger, onLead func()) (*cluster.Node, error) {
	log.Info("joining the cluster", "node", f.cluster.node, "nats", cmpOr(f.cluster.nats, "embedded"), "routes", f.cluster.routes)
	n, err := cluster.Start(ctx, f.cluster.config(f.data, log, onLead))
	if err != nil {
		return nil, err
	}
	return n, nil
}

// explainEpoch adds what to do to an error opening a store that belongs
// to another history than the cluster's.
func explainEpoch(err error, data string) error {
	if errors.Is(err, linlisync.ErrEpochMismatch) {
		return fmt.Errorf("%w\n%s/store belongs to another linli (a single node, or another cluster): move it aside "+
			"and start again to join this cluster as a new node (it is rebuilt from the cluster's log)", err, data)
	}
	return err
}

// bootstrapOnLead makes the first start's community when this node
// becomes the writer of a cluster that has none, and prints its admin code.
func bootstrapOnLead(ctx context.Context, srv *server.Server, f *serveFlags, scheme, addr string, stdout io.Writer, log *slog.Logger) {
	communities, err := srv.Service().Communities()
	if err != nil || len(communities) > 0 {
		return
	}
	code, err := srv.Service().Bootstrap(ctx, f.first.community())
	if err != nil {
		log.Error("create the first community", "err", err)
		return
	}
	printWelcome(stdout, scheme, addr, f.first.id, code)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
