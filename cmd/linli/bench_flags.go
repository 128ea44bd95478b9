package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/linli/linli/internal/bench"
)

// runBench is `linli bench`: flags for bench.Run.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg bench.Config
	var data string
	fs := newFlagSet("linli bench", stderr)
	fs.StringVar(&cfg.Scenarios, "scenarios", "all", "comma-separated scenarios to run: "+strings.Join(bench.Scenarios(), ", ")+" (or all); and cluster (not in all): push and catch-up on three nodes in process beside the single node")
	fs.DurationVar(&cfg.Duration, "duration", 3*time.Second, "how long each scenario (and each of its baselines) runs")
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object instead of a table")
	fs.StringVar(&cfg.Addr, "addr", "", "host:port of a running server to measure (default: start one in-process)")
	fs.StringVar(&cfg.JoinCode, "join-code", "", "with --addr (required): a resident join code with enough uses for every simulated user, from linli admin join-code --building B --uses 10000")
	fs.StringVar(&data, "data", "", "deprecated and ignored: with --addr, simulated users join with --join-code")
	fs.IntVar(&cfg.Subscribers, "subscribers", 10_000, "Subscribe streams to hold open in the subscribers scenario")
	fs.IntVar(&cfg.CatchupEntities, "catchup-entities", 100_000, "entities to load into one community for the catchup scenario")
	fs.IntVar(&cfg.SurgePosts, "surge-posts", 10_000, "open posts (70% requests, 30% offers of the same few items) loaded before the surge scenario's timed run")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the whole run (clients and the in-process server) to this file")
	fs.StringVar(&cfg.Protocol, "protocol", "http1", "client protocol for push, push-batch and catchup: http1 or h2c (subscribers always use h2c)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if _, err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "linli bench: %v\n", err)
		return errUsage
	}
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "data" {
			fmt.Fprintln(stderr, "bench: --data is deprecated and ignored: with --addr, simulated users join with --join-code")
		}
	})
	// This binary serves too: the bench can run a server of its own for
	// figures of the server alone (not from a test binary, which does not).
	if exe, err := os.Executable(); err == nil && !strings.HasSuffix(exe, ".test") {
		cfg.ServerCommand = []string{exe}
	}
	return bench.Run(ctx, cfg, stdout, stderr)
}
