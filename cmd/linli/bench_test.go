package main

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestBench runs every scenario briefly and checks that each reports a
// positive figure, baseline and ratio, and that nothing is left running.
func TestBench(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server and load for a few seconds")
	}
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	args := []string{"bench", "--duration", "300ms", "--subscribers", "200", "--catchup-entities", "2000", "--json"}
	if code := Run(ctx, args, &out, &errb); code != 0 {
		t.Fatalf("linli bench exited %d; stderr:\n%s", code, errb.String())
	}
	var rep benchReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not one JSON report: %v\n%s", err, out.String())
	}
	if rep.Target != "in-process" {
		t.Errorf("target = %q, want in-process", rep.Target)
	}
	seen := map[string]int{}
	for _, r := range rep.Results {
		seen[r.Scenario]++
		for name, v := range map[string]*float64{"figure": r.Figure, "baseline": r.Baseline, "ratio": r.Ratio} {
			if v == nil || !(*v > 0) {
				t.Errorf("%s (%s): %s = %v, want > 0", r.Scenario, r.Metric, name, benchDeref(v))
			}
		}
		if strings.Contains(r.Notes, "MISSED") {
			t.Errorf("%s (%s): %s", r.Scenario, r.Metric, r.Notes)
		}
	}
	for _, sc := range benchScenarios {
		if seen[sc] == 0 {
			t.Errorf("no result for scenario %q; got %v", sc, seen)
		}
	}
	if seen["subscribers"] != 2 {
		t.Errorf("subscribers reported %d rows, want 2 (memory and poke latency)", seen["subscribers"])
	}
	for _, sc := range benchScenarios {
		if !strings.Contains(errb.String(), "bench: "+sc+": ") {
			t.Errorf("no progress line for %s on stderr:\n%s", sc, errb.String())
		}
	}

	// Everything the bench started has ended.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before the bench, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestBenchFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"UnknownScenario", []string{"--scenarios", "push,nope"}},
		{"AddrWithoutData", []string{"--addr", "127.0.0.1:1"}},
		{"BadProtocol", []string{"--protocol", "h3"}},
		{"NoSubscribers", []string{"--subscribers", "0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := Run(t.Context(), append([]string{"bench"}, tc.args...), &out, &errb); code != 2 {
				t.Errorf("exit code = %d, want 2 (usage); stderr:\n%s", code, errb.String())
			}
		})
	}
	t.Run("ScenariosInOrderOnce", func(t *testing.T) {
		f := benchFlags{scenarios: "subscribers, push,push", duration: time.Second, subscribers: 1, catchupEntities: 1, protocol: "h2c"}
		got, err := f.validate()
		if want := []string{"push", "subscribers"}; err != nil || !slices.Equal(got, want) {
			t.Errorf("validate() = %v, %v; want %v", got, err, want)
		}
	})
	t.Run("AddrWithoutKeys", func(t *testing.T) {
		var out, errb bytes.Buffer
		args := []string{"bench", "--addr", "127.0.0.1:1", "--data", t.TempDir()}
		if code := Run(t.Context(), args, &out, &errb); code != 1 || !strings.Contains(errb.String(), "no signing keys") {
			t.Errorf("exit code = %d, want 1 with \"no signing keys\"; stderr:\n%s", code, errb.String())
		}
	})
}

func benchDeref(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}
