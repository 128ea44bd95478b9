package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// The bench scenarios, in the order they run.
var benchScenarios = []string{"push", "push-batch", "catchup", "subscribers"}

type benchFlags struct {
	scenarios       string
	duration        time.Duration
	json            bool
	addr            string
	data            string
	subscribers     int
	catchupEntities int
	protocol        string
}

// runBench is `linli bench`: a load generator over real HTTP that measures
// the server against baselines taken in the same run on the same machine
// (a bare Connect echo server, raw Pebble), and prints one row per figure.
//
// By default it starts its own server in a temporary folder; with --addr it
// drives a running server and mints tokens with the keys in --data. The echo
// baseline server always runs in this process.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f benchFlags
	fs := newFlagSet("linli bench", stderr)
	fs.StringVar(&f.scenarios, "scenarios", "all", "comma-separated scenarios to run: "+strings.Join(benchScenarios, ", ")+" (or all)")
	fs.DurationVar(&f.duration, "duration", 3*time.Second, "how long each scenario (and each of its baselines) runs")
	fs.BoolVar(&f.json, "json", false, "print one JSON object instead of a table")
	fs.StringVar(&f.addr, "addr", "", "host:port of a running server to measure (default: start one in-process)")
	fs.StringVar(&f.data, "data", "", "with --addr: the server's data folder, whose keys sign the bench's tokens (ignored without --addr)")
	fs.IntVar(&f.subscribers, "subscribers", 10_000, "Subscribe streams to hold open in the subscribers scenario")
	fs.IntVar(&f.catchupEntities, "catchup-entities", 100_000, "entities to load into one community for the catchup scenario")
	fs.StringVar(&f.protocol, "protocol", "http1", "client protocol for push, push-batch and catchup: http1 or h2c (subscribers always use h2c)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	scenarios, err := f.validate()
	if err != nil {
		fmt.Fprintf(stderr, "linli bench: %v\n", err)
		return errUsage
	}

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	progress := func(format string, args ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", args...) }

	tgt, err := openTarget(ctx, f, log)
	if err != nil {
		return err
	}
	echo, err := startEcho(ctx, log)
	if err != nil {
		return errors.Join(err, tgt.close())
	}
	b := &bench{flags: f, target: tgt, echo: echo, runID: newRunID(), progress: progress}
	report := benchReport{
		Target: tgt.name, Protocol: f.protocol, Duration: f.duration.String(),
		Started: time.Now().UTC().Format(time.RFC3339),
	}
	progress("target %s, run %s, %s per scenario", tgt.name, b.runID, f.duration)
	for _, sc := range scenarios {
		var rows []benchResult
		if _, err = tgt.settle(ctx); err != nil {
			break
		}
		switch sc {
		case "push":
			rows, err = b.push(ctx)
		case "push-batch":
			rows, err = b.pushBatch(ctx)
		case "catchup":
			rows, err = b.catchup(ctx)
		case "subscribers":
			rows, err = b.subscribe(ctx)
		}
		if err != nil {
			err = fmt.Errorf("%s: %w", sc, err)
			break
		}
		for _, r := range rows {
			progress("%s: %s", sc, r.summary())
		}
		report.Results = append(report.Results, rows...)
	}
	err = errors.Join(err, echo.close(), tgt.close())
	if len(report.Results) == 0 {
		return err
	}
	// Print what was measured, even if a later scenario failed.
	if f.json {
		return errors.Join(err, report.writeJSON(stdout))
	}
	return errors.Join(err, report.writeTable(stdout))
}

func (f *benchFlags) validate() ([]string, error) {
	var scenarios []string
	for _, s := range strings.Split(f.scenarios, ",") {
		s = strings.TrimSpace(s)
		switch {
		case s == "all":
			scenarios = append(scenarios, benchScenarios...)
		case slices.Contains(benchScenarios, s):
			scenarios = append(scenarios, s)
		case s != "":
			return nil, fmt.Errorf("--scenarios: unknown scenario %q (want %s or all)", s, strings.Join(benchScenarios, ", "))
		}
	}
	// Run each once, in the canonical order.
	scenarios = slices.DeleteFunc(slices.Clone(benchScenarios), func(s string) bool { return !slices.Contains(scenarios, s) })
	switch {
	case len(scenarios) == 0:
		return nil, errors.New("--scenarios: none given")
	case f.duration <= 0 || f.duration > time.Hour:
		return nil, errors.New("--duration must be between 1ns and 1h")
	case f.subscribers < 1 || f.subscribers > 1_000_000:
		return nil, errors.New("--subscribers must be between 1 and 1,000,000")
	case f.catchupEntities < 1 || f.catchupEntities > 10_000_000:
		return nil, errors.New("--catchup-entities must be between 1 and 10,000,000")
	case f.protocol != "http1" && f.protocol != "h2c":
		return nil, fmt.Errorf("--protocol %q: want http1 or h2c", f.protocol)
	case f.addr != "" && f.data == "":
		return nil, errors.New("--addr needs --data: the folder holding the server's signing keys")
	}
	return scenarios, nil
}

// bench holds what every scenario shares.
type bench struct {
	flags    benchFlags
	target   *benchTarget
	echo     *echoServer
	runID    string // makes users, clients, posts and communities unique to this run
	progress func(format string, args ...any)
}

// newRunID returns 8 random hex characters.
func newRunID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// user names the bench's i-th user of a kind, unique to this run.
func (b *bench) user(kind string, i int) string {
	return fmt.Sprintf("bench-%s-%s%d", b.runID, kind, i)
}
