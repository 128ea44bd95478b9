package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMemoryUnderOversizedBodies runs `linli serve` as a process of its own
// and sends it 256 concurrent 10 MB bodies, without a token, to every kind
// of endpoint (public and authenticated procedures, in Connect, gRPC-Web
// and plain HTTP; half with a Content-Length, half chunked). The server's
// resident memory, at its peak and after, stays under 200 MB, and it
// answers health afterwards.
func TestMemoryUnderOversizedBodies(t *testing.T) {
	if testing.Short() {
		t.Skip("builds linli and sends 2.5 GB of bodies")
	}
	bin := filepath.Join(t.TempDir(), "linli")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--listen", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "data"), "--log-format", "json", "--join-rate", "-1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "linli listening" {
				addr <- line.Addr
			}
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not start")
	}
	pid := cmd.Process.Pid

	targets := []struct{ path, ctype string }{
		{"/linli.v1.AuthService/Join", "application/json"},
		{"/linli.v1.AuthService/Refresh", "application/proto"},
		{"/linli.v1.SyncService/Push", "application/json"},
		{"/linli.v1.SyncService/Pull", "application/grpc-web+proto"},
		{"/linli.v1.SyncService/Subscribe", "application/connect+json"},
		{"/grpc.health.v1.Health/Check", "application/json"},
		{"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", "application/grpc-web+proto"},
		{"/admin/v1/backup", "application/json"},
		{"/metrics", "text/plain"},
		{"/no/such/path", "application/octet-stream"},
	}
	const n, size = 256, 10 << 20
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DisableKeepAlives: true, MaxConnsPerHost: 0}}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			tg := targets[i%len(targets)]
			var body io.Reader = io.LimitReader(zeros{}, size)
			if i%2 == 1 {
				body = io.MultiReader(body) // no length: chunked
			}
			req, err := http.NewRequest(http.MethodPost, base+tg.path, body)
			if err != nil {
				t.Error(err)
				return
			}
			if i%2 == 0 {
				req.ContentLength = size
			}
			req.Header.Set("Content-Type", tg.ctype)
			res, err := client.Do(req)
			if err != nil {
				return // the server may close the connection before the body is sent
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
			res.Body.Close()
		})
	}
	wg.Wait()
	peak, now := memoryOf(t, pid)
	t.Logf("server resident memory: peak %d MB, now %d MB", peak>>20, now>>20)
	if peak >= 200<<20 || now >= 200<<20 {
		t.Errorf("server resident memory peak %d MB, now %d MB; want both under 200 MB", peak>>20, now>>20)
	}
	res, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("readyz after the load: %d", res.StatusCode)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// memoryOf reads the peak (VmHWM) and current (VmRSS) resident memory of
// process pid, in bytes.
func memoryOf(t *testing.T, pid int) (peak, now int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmHWM:":
			peak = kb << 10
		case "VmRSS:":
			now = kb << 10
		}
	}
	return peak, now
}
