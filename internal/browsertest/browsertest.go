// Package browsertest drives a headless Chromium from Go tests (with
// chromedp): it finds the browser, starts it with a throw-away profile,
// fails the test on any error the page logs, and writes screenshots and
// other artifacts where the test's log says.
//
// Chromium is the Debian package `chromium` (.ci/run installs it). Where it
// is missing a test is skipped, except in CI (CI=true) or with
// LINLI_REQUIRE_BROWSER=1, where it fails: there these tests must run.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Executable returns the path of Chromium, skipping t (or failing it in
// CI) if there is none.
func Executable(t testing.TB) string {
	t.Helper()
	for _, name := range []string{os.Getenv("LINLI_CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" || os.Getenv("LINLI_REQUIRE_BROWSER") == "1" {
		t.Fatalf("no Chromium on PATH: install the Debian package chromium (.ci/run does)")
	}
	t.Skip("no Chromium on PATH (apt-get install chromium); CI runs this test")
	return ""
}

// Browser is one headless Chromium with one tab, closed when the test
// ends. Every console error, uncaught exception and error logged by the
// page (a failed load included) is recorded; Check fails the test on any
// that Allow did not excuse.
type Browser struct {
	// Ctx drives the tab: pass it to chromedp.Run.
	Ctx context.Context
	// Dir is the folder artifacts are written to (see ArtifactDir).
	Dir string

	t       testing.TB
	mu      gosync.Mutex
	errs    []string
	allowed []*regexp.Regexp
}

// New starts Chromium (headless, no sandbox, no GPU, no background
// networking, updates, first-run or sync, a temporary profile) with a
// window of width×height.
func New(t testing.TB, width, height int) *Browser {
	t.Helper()
	exe := Executable(t)
	profile, err := os.MkdirTemp("", "linli-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(width, height),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &Browser{Ctx: ctx, Dir: ArtifactDir(t), t: t}
	chromedp.ListenTarget(ctx, b.listen)
	if err := chromedp.Run(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		cancel()
		cancelAlloc()
		_ = os.RemoveAll(profile)
		t.Fatalf("start Chromium: %v", err)
	}
	t.Cleanup(func() {
		_ = chromedp.Cancel(ctx) // closes the browser and waits for it
		cancel()
		cancelAlloc()
		_ = os.RemoveAll(profile) // best effort: Chromium may leave a late file
	})
	return b
}

// listen records what the page reports as errors.
func (b *Browser) listen(ev any) {
	var msg string
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type != runtime.APITypeError && e.Type != runtime.APITypeAssert {
			return
		}
		var parts []string
		for _, a := range e.Args {
			parts = append(parts, strings.Trim(string(a.Value), `"`)+a.Description)
		}
		msg = "console." + string(e.Type) + ": " + strings.Join(parts, " ")
	case *runtime.EventExceptionThrown:
		msg = "exception: " + e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			msg += " " + e.ExceptionDetails.Exception.Description
		}
	case *cdplog.EventEntryAdded:
		if e.Entry.Level != cdplog.LevelError {
			return
		}
		msg = fmt.Sprintf("log (%s): %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL)
	default:
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errs = append(b.errs, msg)
}

// Allow excuses errors matching pattern from Check (a test that expects
// the server to refuse a request: the browser logs the failed load).
func (b *Browser) Allow(pattern string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.allowed = append(b.allowed, regexp.MustCompile(pattern))
}

// Check fails the test for every error the page logged since the last
// Check that Allow does not excuse.
func (b *Browser) Check() {
	b.t.Helper()
	b.mu.Lock()
	errs := b.errs
	b.errs = nil
	allowed := slices.Clone(b.allowed)
	b.mu.Unlock()
	for _, e := range errs {
		if !slices.ContainsFunc(allowed, func(re *regexp.Regexp) bool { return re.MatchString(e) }) {
			b.t.Errorf("the page logged an error: %s", e)
		}
	}
}

// Run runs actions in the tab, failing the test (with a screenshot of the
// page as it was, under "failed-<what>.png") if they fail.
func (b *Browser) Run(what string, actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		b.screenshotQuiet("failed-" + what)
		var url string
		_ = chromedp.Run(b.Ctx, chromedp.Location(&url))
		b.t.Fatalf("%s (at %s): %v", what, url, err)
	}
}

// Screenshot writes a full-page PNG screenshot as <name>.png in Dir and
// returns its path.
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	var png []byte
	b.Run("screenshot "+name, chromedp.FullScreenshot(&png, 100))
	return b.Write(name+".png", png)
}

func (b *Browser) screenshotQuiet(name string) {
	var png []byte
	ctx, cancel := context.WithTimeout(b.Ctx, 5*time.Second)
	defer cancel()
	if chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)) == nil {
		_ = os.WriteFile(filepath.Join(b.Dir, name+".png"), png, 0o644)
	}
}

// Write writes an artifact into Dir and returns its path.
func (b *Browser) Write(name string, data []byte) string {
	b.t.Helper()
	p := filepath.Join(b.Dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return p
}

// NodeText is an action reading the text of the first node matching sel.
func NodeText(sel string, out *string) chromedp.Action {
	return chromedp.Text(sel, out, chromedp.ByQuery, chromedp.NodeVisible)
}

// ArtifactDir is the folder a test writes its artifacts to, created and
// named in the test's log: $LINLI_ARTIFACTS/<test name> if that is set,
// else artifacts/<test name> at the root of the module (a folder git
// ignores).
func ArtifactDir(t testing.TB) string {
	t.Helper()
	root := os.Getenv("LINLI_ARTIFACTS")
	if root == "" {
		root = filepath.Join(moduleRoot(), "artifacts")
	}
	dir := filepath.Join(root, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts: %v", err)
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	t.Logf("artifacts (screenshots) in %s", dir)
	return dir
}

// moduleRoot is the nearest folder above the working directory with a
// go.mod (the working directory if none).
func moduleRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return wd
		}
	}
}
