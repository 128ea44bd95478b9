package main

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/linli/linli/internal/sim"
)

var (
	simSeeds = flag.Int("sim.seeds", 1, "TestConvergence: run seeds 1..N")
	simLong  = flag.Bool("sim.long", false, "TestConvergence: the long run (60 s of chaos, 3 server kills per seed)")
)

// TestConvergence runs the convergence simulation against the real binary:
// 50 residents post, match, accept and hand off through flaky networks,
// lost responses and app restarts while the server is SIGKILLed and
// restarted; at the end every client's synced state equals a pull from
// zero, every mutation applied exactly once, and no unit or phone reached
// a client that may not see it. The short mode (the default, for CI) runs
// seed 1 with 20 s of chaos; -sim.long -sim.seeds=N runs seeds 1..N for
// 60 s each.
func TestConvergence(t *testing.T) {
	duration, kills := 20*time.Second, 2
	if *simLong {
		duration, kills = 60*time.Second, 3
	}
	bin := simBuild(t)
	for seed := uint64(1); seed <= uint64(max(*simSeeds, 1)); seed++ {
		cfg := sim.Config{
			Seed: seed, Residents: 50, Duration: duration, Kills: kills, Bin: bin, Dir: t.TempDir(),
			Out: t.Output(), Log: discardLogger(),
		}
		rep, err := sim.Run(t.Context(), cfg)
		if err != nil {
			t.Fatalf("seed %d (replay: go test -run TestConvergence -sim.seeds=%d, or linli sim --seed %d --duration %v --kills %d): %v",
				seed, seed, seed, duration, kills, err)
		}
		t.Logf("seed %d: %v", seed, rep)
		if rep.Applied == 0 || rep.Received == 0 || rep.Kills != kills {
			t.Errorf("seed %d: the run exercised too little: %v", seed, rep)
		}
	}
}

// simBuild builds ./cmd/linli (without -race, to be fast) into a temp dir.
func simBuild(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go tool not found: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "linli")
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Dir = wd
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
