package cluster

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Embedded configures the NATS server a node runs inside its own process,
// so that three `linli serve` processes are a cluster with nothing else to
// install.
type Embedded struct {
	// Dir holds JetStream's files (the log and the lease bucket's
	// replicas on this node). Required.
	Dir string
	// ClusterName names the NATS cluster; every node uses the same.
	// Default: "linli".
	ClusterName string
	// Listen is the host:port this node's NATS listens on for the other
	// nodes' routes. Required.
	Listen string
	// Advertise is the route address the other nodes are told to reach
	// this one at, when it is not Listen (NAT, a proxy). Default: Listen.
	Advertise string
	// Routes are the other nodes' route addresses (host:port); this node's
	// own may be listed too.
	Routes []string
	// ClientListen, if set, is a host:port on which the embedded NATS also
	// accepts clients (the nats command line tool, monitoring); the node
	// itself connects in process. Default: a loopback port of the
	// system's choosing.
	ClientListen string
	// ConfigFile, if set, is a nats-server configuration file read first;
	// the fields above then override what it sets (for TLS, authorization
	// and the like, which linli has no flags for).
	ConfigFile string
	// MaxPayload is the largest message the server takes. Default: 8 MiB.
	MaxPayload int32
}

// startEmbedded starts the NATS server of e, named node, and waits until
// it accepts connections.
func startEmbedded(e Embedded, node string, log *slog.Logger) (*server.Server, error) {
	if e.Dir == "" || e.Listen == "" {
		return nil, fmt.Errorf("cluster: embedded NATS needs a folder and a route address")
	}
	opts := &server.Options{}
	if e.ConfigFile != "" {
		var err error
		if opts, err = server.ProcessConfigFile(e.ConfigFile); err != nil {
			return nil, fmt.Errorf("cluster: NATS configuration %s: %w", e.ConfigFile, err)
		}
	}
	opts.ServerName = node
	opts.JetStream = true
	opts.StoreDir = e.Dir
	opts.NoSigs = true
	opts.MaxPayload = e.MaxPayload
	if opts.MaxPayload <= 0 {
		opts.MaxPayload = 8 << 20
	}
	if e.ClientListen != "" {
		host, port, err := splitHostPort(e.ClientListen)
		if err != nil {
			return nil, fmt.Errorf("cluster: client address %q: %w", e.ClientListen, err)
		}
		opts.Host, opts.Port = host, port
	} else {
		// Routing waits for the client listener: a loopback one on a port
		// of the system's choosing, that nothing else is told of.
		opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	}
	host, port, err := splitHostPort(e.Listen)
	if err != nil {
		return nil, fmt.Errorf("cluster: route address %q: %w", e.Listen, err)
	}
	opts.Cluster.Name = e.ClusterName
	if opts.Cluster.Name == "" {
		opts.Cluster.Name = "linli"
	}
	opts.Cluster.Host, opts.Cluster.Port = host, port
	if e.Advertise != "" {
		opts.Cluster.Advertise = e.Advertise
	}
	// Other nodes learn of a third through the second; clients are linli
	// itself, in process: no need to tell them of every server.
	opts.Cluster.NoAdvertise = true
	if len(e.Routes) > 0 {
		var routes []string
		for _, r := range e.Routes {
			routes = append(routes, "nats-route://"+r)
		}
		opts.Routes = server.RoutesFromStr(strings.Join(routes, ","))
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("cluster: NATS server: %w", err)
	}
	ns.SetLoggerV2(natsLogger{log.With("component", "nats")}, false, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("cluster: NATS server did not start (route address %s)", e.Listen)
	}
	return ns, nil
}

func splitHostPort(hp string) (string, int, error) {
	host, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, err
	}
	return host, port, nil
}

// natsLogger routes the embedded server's logs to slog: its notices at
// debug level (it is chatty about routes coming and going), warnings and
// errors as they are.
type natsLogger struct{ l *slog.Logger }

func (n natsLogger) Noticef(format string, v ...any) { n.l.Debug(fmt.Sprintf(format, v...)) }
func (n natsLogger) Fatalf(format string, v ...any)  { n.l.Error(fmt.Sprintf(format, v...)) }

func (n natsLogger) Warnf(format string, v ...any) {
	if strings.HasPrefix(format, "Waiting for routing") {
		n.l.Debug(fmt.Sprintf(format, v...)) // every 2 s until the other nodes are up
		return
	}
	n.l.Warn(fmt.Sprintf(format, v...))
}

func (n natsLogger) Errorf(format string, v ...any) {
	if strings.HasPrefix(format, "Error trying to connect to route") {
		n.l.Debug(fmt.Sprintf(format, v...)) // every second while another node is down
		return
	}
	n.l.Error(fmt.Sprintf(format, v...))
}
func (n natsLogger) Debugf(format string, v ...any) {}
func (n natsLogger) Tracef(format string, v ...any) {}
