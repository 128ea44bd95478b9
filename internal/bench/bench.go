package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/linli/linli/server"
)

// The bench scenarios, in the order they run.
var benchScenarios = []string{"push", "push-batch", "surge", "catchup", "subscribers"}

// Scenarios lists the bench's scenarios in the order they run.
func Scenarios() []string { return slices.Clone(benchScenarios) }

// benchFlags is a Config as the scenarios read it.
type benchFlags struct {
	scenarios       string
	duration        time.Duration
	json            bool
	addr            string
	joinCode        string
	subscribers     int
	catchupEntities int
	surgePosts      int
	protocol        string
	serverCommand   []string
}

// Config is one run of the bench, as `linli bench` takes it from its flags.
type Config struct {
	Scenarios       string        // comma-separated scenarios to run (or all)
	Duration        time.Duration // how long each scenario (and each of its baselines) runs
	JSON            bool          // print one JSON object instead of a table
	Addr            string        // host:port of a running server; empty: start one in-process
	JoinCode        string        // with Addr: a resident join code with enough uses
	Subscribers     int           // Subscribe streams held open in the subscribers scenario
	CatchupEntities int           // entities loaded into one community for the catchup scenario
	SurgePosts      int           // open posts loaded before the surge scenario's timed run
	Protocol        string        // client protocol for push, push-batch and catchup: http1 or h2c
	CPUProfile      string        // if set, a CPU profile of the whole run is written there
	// ServerCommand runs linli (with "serve" and its flags appended), for
	// figures of the server in a process of its own (its memory per
	// stream); empty leaves them out.
	ServerCommand []string
}

func (c Config) flags() benchFlags {
	return benchFlags{
		scenarios: c.Scenarios, duration: c.Duration, json: c.JSON, addr: c.Addr, joinCode: c.JoinCode,
		subscribers: c.Subscribers, catchupEntities: c.CatchupEntities, surgePosts: c.SurgePosts, protocol: c.Protocol,
		serverCommand: c.ServerCommand,
	}
}

// Validate checks cfg and returns the scenarios to run, in order, each once.
func (c Config) Validate() ([]string, error) { f := c.flags(); return f.validate() }

// Run is `linli bench`: a load generator over real HTTP that measures the
// server against baselines taken in the same run on the same machine (a
// bare Connect echo server, raw Pebble), and prints one row per figure to
// stdout, progress to stderr.
//
// By default it starts its own server in a temporary folder, without rate
// limits, and adds its members to the store directly; with Addr it drives
// a running server whose simulated users join with JoinCode (the server
// must run with --join-rate -1 --push-rate -1). Members are reused across
// scenarios. The echo baseline server always runs in this process.
//
// Errors: cfg invalid (see Validate), and whatever stops a scenario; the
// figures measured before are printed all the same.
func Run(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	f := cfg.flags()
	scenarios, err := f.validate()
	if err != nil {
		return err
	}

	if cfg.CPUProfile != "" {
		stop, err := startCPUProfile(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	progress := func(format string, args ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", args...) }

	tgt, err := openTarget(ctx, f, f.membersNeeded(scenarios), log)
	if err != nil {
		return err
	}
	echo, err := startEcho(ctx, log, "community/"+tgt.community)
	if err != nil {
		return errors.Join(err, tgt.close())
	}
	b := &bench{flags: f, target: tgt, echo: echo, runID: newRunID(), progress: progress, pools: map[string][]*pushClient{}}
	if tgt.first != nil {
		b.pools[tgt.community] = []*pushClient{tgt.first}
	}
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
		case "surge":
			rows, err = b.surge(ctx)
		case "catchup":
			rows, err = b.catchup(ctx)
		case "subscribers":
			rows, err = b.subscribe(ctx)
		case clusterScenario:
			rows, err = b.cluster(ctx)
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
		case slices.Contains(benchScenarios, s) || s == clusterScenario:
			scenarios = append(scenarios, s)
		case s != "":
			return nil, fmt.Errorf("--scenarios: unknown scenario %q (want %s or all, or %s)", s, strings.Join(benchScenarios, ", "), clusterScenario)
		}
	}
	// Run each once, in the canonical order.
	scenarios = slices.DeleteFunc(append(slices.Clone(benchScenarios), clusterScenario), func(s string) bool { return !slices.Contains(scenarios, s) })
	switch {
	case len(scenarios) == 0:
		return nil, errors.New("--scenarios: none given")
	case f.duration <= 0 || f.duration > time.Hour:
		return nil, errors.New("--duration must be between 1ns and 1h")
	case f.subscribers < 1 || f.subscribers > 1_000_000:
		return nil, errors.New("--subscribers must be between 1 and 1,000,000")
	case f.surgePosts < surgeResidents || f.surgePosts > 1_000_000:
		return nil, fmt.Errorf("--surge-posts must be between %d and 1,000,000", surgeResidents)
	case f.catchupEntities < 1 || f.catchupEntities > 10_000_000:
		return nil, errors.New("--catchup-entities must be between 1 and 10,000,000")
	case f.protocol != "http1" && f.protocol != "h2c":
		return nil, fmt.Errorf("--protocol %q: want http1 or h2c", f.protocol)
	case f.addr != "" && f.joinCode == "":
		return nil, errors.New("--addr needs --join-code: a resident code with enough uses (linli admin join-code --community C --building B --uses 10000), and the server started with --join-rate -1 --push-rate -1")
	case f.addr != "" && slices.Contains(scenarios, clusterScenario):
		return nil, errors.New("--scenarios cluster starts its own three nodes in process: it does not run with --addr")
	case f.addr == "" && f.joinCode != "":
		return nil, errors.New("--join-code is only for --addr: the in-process server needs none")
	}
	return scenarios, nil
}

// membersNeeded is how many members of one community the scenarios use at
// most (members are reused across scenarios).
func (f *benchFlags) membersNeeded(scenarios []string) int {
	n := 1
	for _, sc := range scenarios {
		switch sc {
		case "push":
			n = max(n, pushClients)
		case "push-batch":
			n = max(n, batchClients)
		case "surge":
			n = max(n, surgeResidents)
		case "catchup":
			n = max(n, catchupLoaders+1)
		case clusterScenario:
			n = max(n, pushClients)
		case "subscribers":
			n = max(n, f.subscribers)
		}
	}
	return n
}

// bench holds what every scenario shares.
type bench struct {
	flags    benchFlags
	target   *benchTarget
	echo     *echoServer
	runID    string // makes users, clients, posts and communities unique to this run
	progress func(format string, args ...any)
	// pools are the members made so far, by community. Scenarios run one
	// after the other and reuse them: each keeps its token and its next
	// mutation id.
	pools map[string][]*pushClient
	made  int // members made so far, in every community
}

// members returns the first n members of community, making the missing
// ones. Every token must outlive the scenario by a margin.
func (b *bench) members(ctx context.Context, community string, n int) ([]*pushClient, error) {
	pool := b.pools[community]
	if k := n - len(pool); k > 0 {
		if k >= 1000 {
			b.progress("adding %d members to %s", k, community)
		}
		names := make([]string, k) // user ids are global: unique across communities
		for i := range names {
			names[i] = b.user("m", b.made+i)
		}
		b.made += k
		start := time.Now()
		more, err := b.target.newMembers(ctx, community, names)
		if err != nil {
			return nil, err
		}
		if k >= 1000 {
			b.progress("added %d members in %s", k, time.Since(start).Round(time.Millisecond))
		}
		pool = append(pool, more...)
		b.pools[community] = pool
	}
	margin := 5*time.Minute + 3*b.flags.duration
	for _, c := range pool[:n] {
		if left := time.Until(c.expires); left < margin {
			return nil, fmt.Errorf("the access token of %s expires in %s, before this scenario could end: tokens from Join last %s; use a shorter --duration or fewer --scenarios",
				c.user, left.Round(time.Second), server.AccessTokenTTL)
		}
	}
	return pool[:n], nil
}

// benchClientID is the client (device) id of every bench member.
const benchClientID = "bench"

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

// startCPUProfile profiles this process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
