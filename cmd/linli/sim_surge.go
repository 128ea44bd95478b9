package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/linli/linli/internal/surge"
)

// runSimSurge is `linli sim surge`: the surge simulation (surge.Run),
// linli beside a chat-group baseline on one seed, with its report.
func runSimSurge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("linli sim surge", stderr)
	scenario := fs.String("scenario", "", "scenario file (JSON; fields left out keep their defaults); empty: the default scenario")
	printScenario := fs.Bool("print-scenario", false, "print the scenario (the default, or --scenario's with defaults filled in) as JSON and exit")
	seed := fs.Uint64("seed", 1, "random seed: the same seed and scenario give the same figures")
	seeds := fs.Int("seeds", 1, "run this many seeds from --seed and pool their needs (small groups, such as infants and emergencies, are few in one run)")
	households := fs.Int("households", 0, "override the scenario's number of households (0: keep it)")
	hours := fs.Int("hours", 0, "override the scenario's hours (0: keep it)")
	out := fs.String("out", "surge-report", "folder for the report (report.md), its charts (SVG) and the CSV of every need")
	sensitivity := fs.Bool("sensitivity", false, "also run each assumption of the sensitivity table down and up (six more runs)")
	dir := fs.String("dir", "", "work folder for linli's store (kept); empty: a temporary one, removed")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	sc := surge.Default()
	if *scenario != "" {
		var err error
		if sc, err = surge.Load(*scenario); err != nil {
			return err
		}
	}
	if *households > 0 {
		sc.Households = *households
	}
	if *hours > 0 {
		sc.Hours = *hours
	}
	if *printScenario {
		_, err := stdout.Write(sc.JSON())
		return err
	}
	if err := sc.Validate(); err != nil {
		return err
	}
	if *seeds < 1 || *seeds > 100 {
		return errors.New("--seeds must be 1 to 100")
	}
	work, keep := *dir, *dir != ""
	if !keep {
		var err error
		if work, err = os.MkdirTemp("", "linli-surge-"); err != nil {
			return err
		}
		defer os.RemoveAll(work)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	cfg := surge.Config{Scenario: sc, Seed: *seed, Seeds: *seeds, Dir: filepath.Join(work, "main"), Progress: stderr}
	res, err := surge.Run(ctx, cfg)
	if err != nil {
		return err
	}
	var sens []surge.Sensitivity
	if *sensitivity {
		cfg.Dir = work
		if sens, err = surge.RunSensitivity(ctx, cfg, surge.Variants()); err != nil {
			return err
		}
	}
	res.Summary(stdout)
	fmt.Fprintln(stdout)
	res.Table(stdout)
	if len(sens) > 0 {
		fmt.Fprintln(stdout)
		res.WriteSensitivity(stdout, sens)
	}
	fmt.Fprintln(stdout)
	res.Timing(stdout)
	if err := res.WriteFiles(*out, sens); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "report: %s (charts %s, %s; every need: %s); %.1f s in all\n",
		filepath.Join(*out, surge.ReportFile), filepath.Join(*out, surge.TimeToHelpFile), filepath.Join(*out, surge.OverTimeFile),
		filepath.Join(*out, surge.NeedsFile), time.Since(start).Seconds())
	if len(res.Violations) > 0 {
		for _, v := range res.Violations {
			fmt.Fprintf(stderr, "promise broken: %s\n", v)
		}
		return errors.New("linli broke its promises in this run (see above)")
	}
	return nil
}
