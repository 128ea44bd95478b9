package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/linli/linli/internal/sim"
)

// runSim is `linli sim`: the convergence simulation (sim.Run) against this
// binary; `linli sim surge` is the surge simulation (runSimSurge).
func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "surge" {
		return runSimSurge(ctx, args[1:], stdout, stderr)
	}
	fs := newFlagSet("linli sim", stderr)
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "random seed: the same seed replays the same choices")
	residents := fs.Int("residents", 50, "simulated residents (1 to 1000)")
	duration := fs.Duration("duration", 60*time.Second, "length of the chaotic phase")
	kills := fs.Int("kills", 3, "server SIGKILLs during the run")
	dir := fs.String("dir", "", "work folder (kept); empty: a temporary one, removed on success")
	verbose := fs.Bool("verbose", false, "log the clients' warnings")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *residents < 1 || *residents > 1000 || *duration <= 0 || *kills < 0 {
		return errors.New("--residents must be 1 to 1000, --duration positive, --kills ≥ 0")
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	work, keep := *dir, *dir != ""
	if !keep {
		if work, err = os.MkdirTemp("", "linli-sim-"); err != nil {
			return err
		}
	}
	log := discardLogger()
	if *verbose {
		log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	rep, err := sim.Run(ctx, sim.Config{Seed: *seed, Residents: *residents, Duration: *duration, Kills: *kills, Bin: bin, Dir: work, Out: stdout, Log: log})
	if err != nil {
		return fmt.Errorf("seed %d: %w (work folder %s)", *seed, err, work)
	}
	fmt.Fprintf(stdout, "converged (seed %d): %v\n", *seed, rep)
	if !keep {
		return os.RemoveAll(work)
	}
	return nil
}
