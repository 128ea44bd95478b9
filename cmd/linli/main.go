// Command linli is the linli server and its tools: serve, admin, bench,
// demo, sim, hotline-sim and push-sim.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `linli — offline-first sync backend for neighbourhood mutual aid

Usage:
  linli serve [flags]          run the server (Pebble in ./linli-data by default)
  linli admin <command>        init, community, building, join-code, rotate-key,
                               backup, restore, check, report, token ("linli admin" lists them)
  linli bench [flags]          measure the server against same-run baselines
  linli demo [flags]           play the 23:40 fever story through the API
  linli sim [flags]            convergence simulation: residents, bad networks, server kills
  linli sim surge [flags]      72 hours of a surge through linli and through chat groups: does it help?
  linli hotline-sim [flags]    Open311 GeoReport v2 hotline simulator (12345) for demos and tests
  linli push-sim [flags]       Matrix push gateway simulator: prints the notifications phones would get

Run "linli <command> -h" for a command's flags. Every flag can also be set
through the environment as LINLI_<FLAG> (e.g. LINLI_LISTEN); the flag wins.
`

// Run runs one linli command and returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = runServe(ctx, args[1:], stdout, stderr)
	case "admin":
		err = runAdmin(ctx, args[1:], stdout, stderr)
	case "bench":
		err = runBench(ctx, args[1:], stdout, stderr)
	case "demo":
		err = runDemo(ctx, args[1:], stdout, stderr)
	case "sim":
		err = runSim(ctx, args[1:], stdout, stderr)
	case "hotline-sim":
		err = runHotlineSim(ctx, args[1:], stdout, stderr)
	case "push-sim":
		err = runPushSim(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "linli: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err == nil {
		return 0
	}
	if err == errUsage {
		return 2
	}
	fmt.Fprintf(stderr, "linli %s: %v\n", args[0], err)
	return 1
}
