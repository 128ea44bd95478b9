package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/linli/linli/internal/pushsim"
	"github.com/linli/linli/mutualaid/notify"
)

// runPushSim is `linli push-sim`: a push gateway speaking the Matrix Push
// Gateway API at http://<listen>/_matrix/push/v1/notify that prints every
// notification it takes (what a phone would be woken with). With --control
// (the default), tests in another process inject failures and read the
// notifications taken through the control API at http://<listen>/sim/v1/
// (see pushsim.ControlPath). Point `linli serve --push-gateway` at it.
func runPushSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("push-sim", stderr)
	listen := fs.String("listen", "127.0.0.1:8390", "address to listen on")
	control := fs.Bool("control", true, "serve the control API at /sim/v1/ (POST faults: fail=N hang=DURATION lose=N hold=N reject=KEY accept=KEY; GET faults; GET notifications); never expose it beyond tests")
	var lf logFlags
	lf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	log = log.With("component", "push-sim")
	var outMu sync.Mutex
	sim := &pushsim.Sim{Control: *control, OnReceive: func(r pushsim.Received) {
		outMu.Lock()
		defer outMu.Unlock()
		note := ""
		switch {
		case r.Duplicate:
			note = " (duplicate: shown once)"
		case r.Rejected:
			note = " (push key rejected)"
		case r.Lost:
			note = " (answer lost)"
		}
		fmt.Fprintf(stdout, "push-sim: %s → %s/%s: %s ×%d, prio %s, id %s%s\n",
			r.At.Format("15:04:05"), r.AppID, r.Pushkey, r.Type, r.Count, r.Prio, r.EventID, note)
	}}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	fmt.Fprintf(stdout, "push-sim: Matrix push gateway at http://%s%s\n", ln.Addr(), notify.NotifyPath)
	if *control {
		fmt.Fprintf(stdout, "push-sim: control API at http://%s%s (POST faults, GET faults, GET notifications)\n", ln.Addr(), pushsim.ControlPath)
	}
	log.Info("serving", "addr", ln.Addr().String(), "control", *control)
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
