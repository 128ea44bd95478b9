package main

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linli/linli/internal/bench"
)

// TestBench runs every scenario briefly and checks that each reports a
// positive figure, baseline and ratio, and that nothing is left running.
func TestBench(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server and load for a few seconds")
	}
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute) // a loaded CI machine is slow; the run takes seconds
	defer cancel()
	var out, errb bytes.Buffer
	args := []string{"bench", "--duration", "300ms", "--subscribers", "200", "--catchup-entities", "2000", "--surge-posts", "1000", "--json"}
	if code := Run(ctx, args, &out, &errb); code != 0 {
		t.Fatalf("linli bench exited %d; stderr:\n%s", code, errb.String())
	}
	var rep benchJSON
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
	for _, sc := range bench.Scenarios() {
		if seen[sc] == 0 {
			t.Errorf("no result for scenario %q; got %v", sc, seen)
		}
	}
	if seen["subscribers"] != 2 {
		t.Errorf("subscribers reported %d rows, want 2 (memory and poke latency)", seen["subscribers"])
	}
	for _, sc := range bench.Scenarios() {
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

// TestBenchCluster runs `linli bench --scenarios cluster`: three cluster
// nodes in process beside the single node, and checks that it reports push
// to the writer, push through another node and catch-up from another node,
// each with a positive figure, baseline and ratio.
func TestBenchCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three cluster nodes with NATS inside")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	args := []string{"bench", "--scenarios", "cluster", "--duration", "300ms", "--catchup-entities", "500", "--json"}
	if code := Run(ctx, args, &out, &errb); code != 0 {
		t.Fatalf("linli bench exited %d; stderr:\n%s", code, errb.String())
	}
	var rep benchJSON
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not one JSON report: %v\n%s", err, out.String())
	}
	var got []string
	for _, r := range rep.Results {
		got = append(got, r.Scenario)
		for name, v := range map[string]*float64{"figure": r.Figure, "baseline": r.Baseline, "ratio": r.Ratio} {
			if v == nil || !(*v > 0) {
				t.Errorf("%s (%s): %s = %v, want > 0", r.Scenario, r.Metric, name, benchDeref(v))
			}
		}
	}
	if want := []string{"cluster-push", "cluster-forward", "cluster-catchup"}; !slices.Equal(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
}

func TestBenchFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"UnknownScenario", []string{"--scenarios", "push,nope"}},
		{"AddrWithoutJoinCode", []string{"--addr", "127.0.0.1:1"}},
		{"JoinCodeWithoutAddr", []string{"--join-code", "ABCDEFGHJKLMNPQRSTUV"}},
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
	t.Run("DataIsIgnored", func(t *testing.T) {
		var out, errb bytes.Buffer
		args := []string{"bench", "--addr", "127.0.0.1:1", "--join-code", "ABCDEFGHJKLMNPQRSTUV", "--data", t.TempDir()}
		if code := Run(t.Context(), args, &out, &errb); code != 1 || !strings.Contains(errb.String(), "--data is deprecated and ignored") {
			t.Errorf("exit code = %d, want 1 (nothing at the address) with a deprecation note; stderr:\n%s", code, errb.String())
		}
	})
}

// TestBenchAddr drives a running `linli serve` whose community was set up
// with `linli admin`: members join with the code.
func TestBenchAddr(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server and load for a few seconds")
	}
	dir, code := benchCommunityFolder(t, 300)
	addr := benchServe(t, dir, "--join-rate", "-1", "--push-rate", "-1")

	t.Run("Runs", func(t *testing.T) {
		var out, errb bytes.Buffer
		args := []string{"bench", "--addr", addr, "--join-code", code, "--duration", "200ms",
			"--subscribers", "150", "--catchup-entities", "1000", "--surge-posts", "500", "--json"}
		if code := Run(t.Context(), args, &out, &errb); code != 0 {
			t.Fatalf("linli bench --addr exited %d; stderr:\n%s", code, errb.String())
		}
		var rep benchJSON
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("stdout is not one JSON report: %v\n%s", err, out.String())
		}
		if rep.Target != addr {
			t.Errorf("target = %q, want %q", rep.Target, addr)
		}
		seen := map[string]int{}
		for _, r := range rep.Results {
			seen[r.Scenario]++
			if r.Metric == "KB RSS/stream" {
				if r.Figure != nil {
					t.Errorf("subscribers: RSS of a server elsewhere = %v, want n/a", *r.Figure)
				}
				continue
			}
			if r.Figure == nil || !(*r.Figure > 0) || r.Ratio == nil || !(*r.Ratio > 0) {
				t.Errorf("%s (%s): figure %v, ratio %v; want > 0", r.Scenario, r.Metric, benchDeref(r.Figure), benchDeref(r.Ratio))
			}
			if strings.Contains(r.Notes, "MISSED") {
				t.Errorf("%s (%s): %s", r.Scenario, r.Metric, r.Notes)
			}
		}
		for _, sc := range bench.Scenarios() {
			if seen[sc] == 0 {
				t.Errorf("no result for scenario %q; got %v", sc, seen)
			}
		}
	})
	t.Run("CodeUsedUp", func(t *testing.T) {
		// 150 of the 300 uses are gone: 200 subscribers cannot all join.
		var out, errb bytes.Buffer
		args := []string{"bench", "--addr", addr, "--join-code", code, "--scenarios", "subscribers", "--subscribers", "200"}
		if code := Run(t.Context(), args, &out, &errb); code != 1 || !strings.Contains(errb.String(), "--uses 200") {
			t.Errorf("exit code = %d, want 1 and a hint to make a code with --uses 200; stderr:\n%s", code, errb.String())
		}
	})
	t.Run("BadCode", func(t *testing.T) {
		var out, errb bytes.Buffer
		args := []string{"bench", "--addr", addr, "--join-code", "ABCDEFGHJKLMNPQRSTUV"}
		if code := Run(t.Context(), args, &out, &errb); code != 1 || !strings.Contains(errb.String(), "--join-code is unknown, expired or used up") {
			t.Errorf("exit code = %d, want 1 saying the code is not valid; stderr:\n%s", code, errb.String())
		}
	})
}

// TestBenchAddrRateLimited: against a server with its default join limit
// the bench stops at once and says how to start the server.
func TestBenchAddrRateLimited(t *testing.T) {
	dir, code := benchCommunityFolder(t, 200)
	addr := benchServe(t, dir)
	var out, errb bytes.Buffer
	args := []string{"bench", "--addr", addr, "--join-code", code, "--scenarios", "push", "--duration", "100ms"}
	if code := Run(t.Context(), args, &out, &errb); code != 1 || !strings.Contains(errb.String(), "--join-rate -1") {
		t.Errorf("exit code = %d, want 1 with a hint to start the server with --join-rate -1; stderr:\n%s", code, errb.String())
	}
}

// benchCommunityFolder sets up community c1 with building b1 in a new
// data folder and returns it with a resident join code of uses uses.
func benchCommunityFolder(t *testing.T, uses int) (dir, code string) {
	t.Helper()
	dir = t.TempDir()
	admin := func(args ...string) string {
		var out, errb bytes.Buffer
		if code := Run(t.Context(), append([]string{"admin"}, args...), &out, &errb); code != 0 {
			t.Fatalf("linli admin %v: exit %d: %s", args, code, errb.String())
		}
		return strings.TrimSpace(out.String())
	}
	admin("init", "--data", dir, "--community", "c1", "--name", "玉桥社区", "--district", "通州区", "--street-office", "玉桥街道")
	admin("building", "--data", dir, "--community", "c1", "--id", "b3", "--name", "3号楼", "--drop-point", "15楼电梯口窗台")
	code = admin("join-code", "--data", dir, "--community", "c1", "--building", "b3", "--uses", strconv.Itoa(uses))
	return dir, code
}

// benchServe runs `linli serve` on 127.0.0.1:0 over dir with extra flags
// until the test ends, and returns its address.
func benchServe(t *testing.T, dir string, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data", dir, "--log-format", "json"}, extra...)
	go func() { done <- Run(ctx, args, &stdout, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited %d: %s", code, stderr.String())
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop")
		}
	})
	return waitFor(t, &stderr, `"addr":"`, `"`)
}

// benchJSON is what `linli bench --json` prints.
type benchJSON struct {
	Target  string `json:"target"`
	Results []struct {
		Scenario string   `json:"scenario"`
		Metric   string   `json:"metric"`
		Figure   *float64 `json:"figure"`
		Baseline *float64 `json:"baseline"`
		Ratio    *float64 `json:"ratio"`
		Notes    string   `json:"notes"`
	} `json:"results"`
}

func benchDeref(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}
