package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/linli/linli/internal/hotlinesim"
	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid/hotline"
)

// startHotlineSim runs `linli hotline-sim` on :0 with args and returns its
// GeoReport v2 base URL, its output and a func that stops it and returns
// its exit code.
func startHotlineSim(t *testing.T, args ...string) (string, *syncBuffer, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, append([]string{"hotline-sim", "--listen", "127.0.0.1:0"}, args...), &stdout, &stderr)
	}()
	t.Cleanup(cancel)
	base := "http://" + waitFor(t, &stdout, "GeoReport v2 at http://", "/open311/v2/")
	stop := func() int {
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(10 * time.Second):
			t.Fatalf("hotline-sim did not stop within 10s:\n%s", stderr.String())
			return -1
		}
	}
	return base, &stdout, stop
}

func simCall(t *testing.T, method, u string, form url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestHotlineSimControl: the control API printed at start injects failures
// into GeoReport v2 calls and lists the cases, and a POST held by hold=1
// does not keep the simulator from stopping.
func TestHotlineSimControl(t *testing.T) {
	base, stdout, stop := startHotlineSim(t, "--log-level", "warn")
	control := waitFor(t, stdout, "control API at ", " ")
	if control != base+"/sim/v1/" {
		t.Fatalf("control URL %q, want %q", control, base+"/sim/v1/")
	}
	if code, body := simCall(t, "POST", control+"faults", url.Values{"fail": {"1"}}); code != 200 {
		t.Fatalf("POST faults: %d %s", code, body)
	}
	if code, _ := simCall(t, "GET", base+"/open311/v2/services.json", nil); code != 500 {
		t.Errorf("services.json with fail=1: %d, want 500", code)
	}
	if code, _ := simCall(t, "GET", base+"/open311/v2/services.json", nil); code != 200 {
		t.Errorf("services.json after the failure: %d, want 200", code)
	}
	if code, body := simCall(t, "POST", control+"faults", url.Values{"hold": {"x"}}); code != 400 || !strings.Contains(body, `"code":400`) {
		t.Errorf("POST faults hold=x: %d %s, want 400 with an error array", code, body)
	}

	if code, body := simCall(t, "POST", control+"faults", url.Values{"hold": {"1"}}); code != 200 {
		t.Fatalf("POST faults: %d %s", code, body)
	}
	held := make(chan error, 1)
	go func() { // no timeout: only the simulator stopping ends it
		c := hotline.NewClient(base+"/open311/v2", "demo", "yuqiao", &http.Client{})
		_, err := c.Create(context.Background(), hotline.CaseRequest{ServiceCode: "food", Description: "缺少食品"})
		held <- err
	}()
	var cases []hotlinesim.ControlCase
	linlitest.WaitFor(t, "the held POST to create its case", func() bool {
		_, body := simCall(t, "GET", control+"cases", nil)
		if err := json.Unmarshal([]byte(body), &cases); err != nil {
			t.Fatalf("GET cases: %s: %v", body, err)
		}
		return len(cases) > 0
	})
	if c := cases[0]; c.ServiceCode != "food" || c.Description != "缺少食品" || c.Agency != "玉桥街道办事处" {
		t.Errorf("GET cases: %+v", c)
	}
	if code := stop(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	select {
	case err := <-held:
		if err == nil {
			t.Error("the held POST was answered, want the connection closed")
		}
	case <-time.After(10 * time.Second):
		t.Error("the held POST was still held 10s after the simulator stopped")
	}
}

func TestHotlineSimNoControl(t *testing.T) {
	base, stdout, stop := startHotlineSim(t, "--control=false")
	if code, _ := simCall(t, "POST", base+"/sim/v1/faults", url.Values{"fail": {"1"}}); code != 404 {
		t.Errorf("POST /sim/v1/faults with --control=false: %d, want 404", code)
	}
	if code, _ := simCall(t, "GET", base+"/open311/v2/services.json", nil); code != 200 {
		t.Errorf("services.json: %d, want 200 (no fault set)", code)
	}
	if code := stop(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if strings.Contains(stdout.String(), "control API") {
		t.Errorf("printed a control URL with --control=false:\n%s", stdout.String())
	}
}
