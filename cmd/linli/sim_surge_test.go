package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSimSurge runs `linli sim surge` on a few households for a few hours:
// it prints the table and writes the report, charts and CSV; and
// --print-scenario prints a scenario --scenario reads back.
func TestSimSurge(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := Run(t.Context(), []string{"sim", "surge", "--print-scenario", "--households", "40"}, &stdout, &stderr); code != 0 {
		t.Fatalf("print-scenario: exit %d: %s", code, stderr.String())
	}
	var sc map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &sc); err != nil || sc["households"] != 40.0 {
		t.Fatalf("print-scenario: %v, households %v", err, sc["households"])
	}
	file := filepath.Join(dir, "scenario.json")
	if err := os.WriteFile(file, stdout.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	out := filepath.Join(dir, "report")
	args := []string{"sim", "surge", "--scenario", file, "--hours", "8", "--seed", "2", "--seeds", "2", "--out", out}
	if code := Run(t.Context(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("linli sim surge: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "| met by neighbours |") {
		t.Errorf("no figures table in the output:\n%s", stdout.String())
	}
	for _, f := range []string{"report.md", "needs.csv", "time-to-help.svg", "needs-over-time.svg"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if code := Run(t.Context(), []string{"sim", "surge", "--scenario", filepath.Join(dir, "missing.json")}, &stdout, &stderr); code == 0 {
		t.Error("a missing scenario file: exit 0")
	}
}
