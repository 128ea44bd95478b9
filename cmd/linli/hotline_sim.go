package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/linli/linli/internal/hotlinesim"
)

// runHotlineSim is `linli hotline-sim`: a GeoReport v2 endpoint at
// http://<listen>/open311/v2/ that dispatches cases to street offices and
// closes them after --resolve-after. With --control (the default), tests
// in another process inject failures and read the cases held through the
// control API at http://<listen>/sim/v1/ (see hotlinesim.ControlPath).
//
// Requests still in flight when ctx ends (such as POSTs held by hold=N)
// see their context cancelled, so shutdown never waits on them.
func runHotlineSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("hotline-sim", stderr)
	listen := fs.String("listen", "127.0.0.1:8311", "address to listen on")
	resolveAfter := fs.Duration("resolve-after", 30*time.Second, "close each case this long after it is created")
	apiKey := fs.String("api-key", "demo", "api_key the simulator requires on POST (empty accepts any)")
	tokens := fs.Bool("tokens", false, "answer POST requests.json with a token instead of a service_request_id")
	control := fs.Bool("control", true, "serve the control API at /sim/v1/ (POST faults: fail=N timeout=N hang=DURATION lose=N hold=N; GET faults; GET cases); never expose it beyond tests")
	var lf logFlags
	lf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *resolveAfter < 0 {
		return fmt.Errorf("--resolve-after %v: must not be negative", *resolveAfter)
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	log = log.With("component", "hotline-sim")
	sim := &hotlinesim.Sim{APIKey: *apiKey, ResolveAfter: *resolveAfter, UseTokens: *tokens, Control: *control}
	mux := http.NewServeMux()
	mux.Handle("/open311/v2/", http.StripPrefix("/open311/v2", sim))
	if *control {
		mux.Handle(hotlinesim.ControlPath, sim)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	fmt.Fprintf(stdout, "hotline-sim: GeoReport v2 at http://%s/open311/v2/ (jurisdictions yuqiao, beiyuan, majuqiao)\n", ln.Addr())
	if *control {
		fmt.Fprintf(stdout, "hotline-sim: control API at http://%s%s (POST faults, GET faults, GET cases)\n", ln.Addr(), hotlinesim.ControlPath)
	}
	log.Info("serving", "addr", ln.Addr().String(), "resolve_after", *resolveAfter, "control", *control)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
