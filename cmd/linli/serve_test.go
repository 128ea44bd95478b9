package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestServeRunsAndStops: serve on :0 in a temp dir answers health, prints
// the first-start help, and returns 0 when its context ends.
func TestServeRunsAndStops(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data", dir, "--log-format", "json"}, &stdout, &stderr)
	}()
	addr := waitFor(t, &stderr, `"addr":"`, `"`)
	res, err := http.Get("http://" + addr + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", res, err)
	}
	res.Body.Close()
	if !strings.Contains(stdout.String(), "admin token --data "+dir) {
		t.Errorf("first start did not print how to mint a token:\n%s", stdout.String())
	}
	if fi, err := os.Stat(filepath.Join(dir, "keys")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("keys folder: %v %v", fi, err)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d: %s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func TestAdminTokenValidates(t *testing.T) {
	var out, errb bytes.Buffer
	dir := t.TempDir()
	if code := Run(t.Context(), []string{"admin", "token", "--data", dir, "--user", "u1"}, &out, &errb); code == 0 {
		t.Error("token without --community succeeded")
	}
	if code := Run(t.Context(), []string{"admin", "token", "--data", dir, "--user", "u1", "--community", "c1", "--role", "mayor"}, &out, &errb); code == 0 {
		t.Error("token with an unknown role succeeded")
	}
	out.Reset()
	if code := Run(t.Context(), []string{"admin", "token", "--data", dir, "--user", "u1", "--community", "c1"}, &out, &errb); code != 0 {
		t.Fatalf("token: exit %d: %s", code, errb.String())
	}
	if tok := strings.TrimSpace(out.String()); strings.Count(tok, ".") != 2 {
		t.Fatalf("stdout = %q, want just a JWT", tok)
	}
}

// waitFor waits until buf holds prefix and returns what follows it up to end.
func waitFor(t *testing.T, buf *syncBuffer, prefix, end string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s := buf.String()
		if i := strings.Index(s, prefix); i >= 0 {
			rest := s[i+len(prefix):]
			if j := strings.Index(rest, end); j >= 0 {
				return rest[:j]
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("never saw %q in:\n%s", prefix, buf.String())
	return ""
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
