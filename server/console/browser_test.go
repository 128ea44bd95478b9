package console_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	_ "image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/linli/linli/internal/browsertest"
	"github.com/linli/linli/internal/hotlinesim"
	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/server"
)

// hotlineConfig points a server at a hotline simulator on clk's time.
func hotlineConfig(t *testing.T, clk *linlitest.Clock) (server.Config, *hotlinesim.Sim) {
	sim := &hotlinesim.Sim{APIKey: "demo", ResolveAfter: 3 * time.Hour, Now: clk.Now}
	hot := httptest.NewServer(http.StripPrefix("/open311/v2", sim))
	t.Cleanup(hot.Close)
	return server.Config{Now: clk.Now, ConsoleHeartbeat: time.Second, Domain: mutualaid.Config{Hotline: mutualaid.HotlineConfig{
		URL: hot.URL + "/open311/v2", APIKey: "demo", JurisdictionID: "yuqiao", Every: 20 * time.Millisecond,
	}}}, sim
}

// signInBrowser signs staff member user in through the sign-in page with a
// device code from their app, screenshotting the form as "name".
func signInBrowser(t *testing.T, w *world, b *browsertest.Browser, user string, shot string) {
	t.Helper()
	code := w.deviceCode(t, user, "yuqiao", mutualaid.RoleStaff)
	b.Run("open the sign-in page", chromedp.Navigate(w.URL+"/console/"), chromedp.WaitVisible("#code", chromedp.ByID))
	b.Run("type the code", chromedp.SendKeys("#code", code, chromedp.ByID))
	if shot != "" {
		b.Screenshot(shot)
	}
	b.Run("sign in", chromedp.Click("#signin", chromedp.ByID), chromedp.WaitVisible("#queue-live", chromedp.ByID))
}

// TestBrowserStaffConsole is the console in headless Chromium against a
// real server and the hotline simulator: a staff member signs in with a
// device code from their app, sees an overdue request appear live (no
// reload), forwards it with an edited description and the phone, watches
// the case close, reads the report, downloads the CSV, and prints a
// join-code poster whose QR code decodes to the code. Every page is
// screenshotted (artifacts named in the log), at desktop and phone width,
// and any error the pages log fails the test.
func TestBrowserStaffConsole(t *testing.T) {
	clk := linlitest.NewClock(time.Date(2022, 12, 15, 23, 40, 0, 0, cst))
	cfg, sim := hotlineConfig(t, clk)
	w := newWorld(t, cfg)
	w.clk = clk
	b := browsertest.New(t, 1280, 900)
	defer b.Check()

	signInBrowser(t, w, b, "u-zhao", "01-signin")
	b.Screenshot("02-queue-empty")

	// The page marks itself; a reload would lose the mark.
	b.Run("mark the page", chromedp.Evaluate(`window.linliMark = 7`, nil),
		chromedp.WaitVisible(`#live-status.live`, chromedp.ByQuery))
	w.push(t, "u-wang", "yuqiao", request(1, "req-2340", "孩子发烧39度，外卖送不进来", linliv1.Urgency_URGENCY_URGENT))
	clk.Advance(2*time.Hour + time.Minute)
	b.Run("see the overdue request appear live", chromedp.WaitVisible(`[data-post="req-2340"]`, chromedp.ByQuery))
	var mark int
	b.Run("read the mark", chromedp.Evaluate(`window.linliMark`, &mark))
	if mark != 7 {
		t.Fatalf("the page was reloaded (mark %d): the request did not arrive live", mark)
	}
	b.Screenshot("03-queue")

	b.Run("open the forward form",
		chromedp.Click(`[data-post="req-2340"] a.primary`, chromedp.ByQuery),
		chromedp.WaitVisible("#description", chromedp.ByID))
	b.Run("edit the description and include the phone",
		chromedp.SendKeys("#description", "\n社区已电话确认：3号楼居民家中孩子高烧，急需儿童退烧药。", chromedp.ByID),
		chromedp.Click("#include_phone", chromedp.ByID))
	b.Screenshot("04-forward")
	b.Run("forward", chromedp.Click("#forward", chromedp.ByID), chromedp.WaitVisible(`.flash`, chromedp.ByQuery))
	linlitest.WaitFor(t, "the hotline to hold the case", func() bool { return sim.Count() == 1 })
	c := sim.Cases()[0]
	if !strings.Contains(c.Description, "社区已电话确认") || c.Phone == "" {
		t.Errorf("the hotline's case: description %q, phone %q; want the edited description and the phone", c.Description, c.Phone)
	}
	b.Screenshot("05-queue-after-forward")

	clk.Advance(3*time.Hour + time.Minute)
	for range 200 {
		var n int
		b.Run("look at the cases", chromedp.Navigate(w.URL+"/console/c/yuqiao/cases"), chromedp.WaitVisible("#cases", chromedp.ByID),
			chromedp.Evaluate(`document.querySelectorAll('[data-state="CASE_STATE_CLOSED"]').length`, &n))
		if n == 1 {
			break
		}
		time.Sleep(50 * time.Millisecond) // the hotline job follows cases every 20 ms
	}
	b.Run("see the case closed", chromedp.WaitVisible(`[data-post="req-2340"][data-state="CASE_STATE_CLOSED"]`, chromedp.ByQuery))
	w.push(t, "u-wang", "yuqiao", &linliv1.Mutation{Id: 2, Kind: &linliv1.Mutation_RateCase{RateCase: &linliv1.RateCaseMutation{
		PostId: "req-2340", Solved: true, Satisfaction: linliv1.Satisfaction_SATISFACTION_SATISFIED}}})
	b.Run("see the rating", chromedp.Reload(), chromedp.WaitVisible(`[data-post="req-2340"] .rating`, chromedp.ByQuery))
	b.Screenshot("06-cases")

	var requests string
	b.Run("read the report", chromedp.Navigate(w.URL+"/console/c/yuqiao/report"),
		chromedp.WaitVisible("svg.chart", chromedp.ByQuery),
		chromedp.Text(`#figures tr[data-key="requests"] td`, &requests, chromedp.ByQuery))
	if requests != "1" {
		t.Errorf("report: %s requests, want 1", requests)
	}
	var resolution string
	b.Run("read the resolution rate", chromedp.Text(`#figures tr[data-key="resolution_rate"] td`, &resolution, chromedp.ByQuery))
	if resolution != "100.0%" {
		t.Errorf("resolution rate %q, want 100.0%%", resolution)
	}
	b.Screenshot("07-report")

	downloads := t.TempDir()
	b.Run("allow downloads", cdpbrowser.SetDownloadBehavior(cdpbrowser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(downloads).WithEventsEnabled(true))
	b.Run("download the CSV", chromedp.Click("#csv", chromedp.ByID))
	var csv []byte
	linlitest.WaitFor(t, "the CSV download", func() bool {
		files, _ := filepath.Glob(filepath.Join(downloads, "*.csv"))
		if len(files) == 1 {
			csv, _ = os.ReadFile(files[0])
		}
		return bytes.Contains(csv, []byte("unmet_by_building"))
	})
	b.Write("report.csv", csv)
	for _, want := range []string{"summary,requests,1", "summary,resolution_rate,100.0%", "period,community,yuqiao"} {
		if !bytes.Contains(csv, []byte(want)) {
			t.Errorf("CSV lacks %q:\n%s", want, csv)
		}
	}

	b.Run("make a join code for building 3", chromedp.Navigate(w.URL+"/console/c/yuqiao/joincodes"),
		chromedp.WaitVisible("#make-code", chromedp.ByID),
		chromedp.SetValue("#building", "b3", chromedp.ByID))
	b.Screenshot("08-joincodes")
	var code string
	b.Run("see the poster", chromedp.Submit("#make-code", chromedp.ByID), chromedp.WaitVisible("#qr", chromedp.ByID),
		chromedp.Text("#code", &code, chromedp.ByID))
	code = strings.ReplaceAll(strings.TrimSpace(code), "-", "")
	b.Screenshot("09-poster")
	var qrShot []byte
	var src string
	var ok bool
	b.Run("capture the QR code", chromedp.Screenshot("#qr", &qrShot, chromedp.ByID), chromedp.AttributeValue("#qr", "src", &src, &ok, chromedp.ByID))
	b.Write("poster-qr.png", qrShot)
	if got := decodeQR(t, qrShot); got != code {
		t.Errorf("the poster's QR code (screenshot) reads %q, want the join code %q", got, code)
	}
	served, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(src, "data:image/png;base64,"))
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeQR(t, served); got != code {
		t.Errorf("the served QR image reads %q, want %q", got, code)
	}
	var pdf []byte
	b.Run("print the poster", chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		pdf, _, err = page.PrintToPDF().WithPrintBackground(true).Do(ctx)
		return err
	}))
	b.Write("poster.pdf", pdf)
	if _, err := w.Service().Join(context.Background(), mutualaid.JoinForm{Code: code, DisplayName: "新邻居"}); err != nil {
		t.Errorf("the poster's code does not admit a neighbour: %v", err)
	}

	for _, pg := range []struct{ path, wait, shot string }{
		{"buildings", "#buildings", "10-buildings"},
		{"members", "#members", "11-members"},
		{"policy", "#policy", "12-policy"},
	} {
		b.Run("open "+pg.path, chromedp.Navigate(w.URL+"/console/c/yuqiao/"+pg.path), chromedp.WaitVisible(pg.wait, chromedp.ByQuery))
		b.Screenshot(pg.shot)
	}
	b.Run("open the sessions", chromedp.Navigate(w.URL+"/console/sessions"), chromedp.WaitVisible("#devices", chromedp.ByID))
	b.Screenshot("13-sessions")
	b.Run("switch to English", chromedp.Navigate(w.URL+"/console/c/yuqiao/queue?lang=en"), chromedp.WaitVisible("#queue-live", chromedp.ByID))
	var title string
	b.Run("read the title", chromedp.Text("h1", &title, chromedp.ByQuery))
	if title != "Queue" {
		t.Errorf("English title %q, want Queue", title)
	}
	b.Screenshot("14-queue-english")
	b.Run("phone width", chromedp.EmulateViewport(390, 844), chromedp.Navigate(w.URL+"/console/c/yuqiao/cases?lang=zh"),
		chromedp.WaitVisible("#cases", chromedp.ByID))
	b.Screenshot("15-cases-phone")
	b.Run("leave", chromedp.Navigate("about:blank"))
}

// decodeQR reads the QR code in a PNG image.
func decodeQR(t *testing.T, png []byte) string {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(png))
	if err != nil {
		t.Fatalf("decode image: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("read QR code: %v", err)
	}
	return res.GetText()
}

// TestBrowserOutsidersRefused: in Chromium, a resident's session cookie
// and a removed member reach no page (they land on the sign-in page), and
// a forged cross-site form POST is refused: the browser does not send the
// SameSite=Strict cookie, the server refuses the form, and the request
// stays in the queue.
func TestBrowserOutsidersRefused(t *testing.T) {
	clk := linlitest.NewClock(time.Date(2022, 12, 15, 23, 40, 0, 0, cst))
	cfg := server.Config{Now: clk.Now, ConsoleHeartbeat: time.Second}
	w := newWorld(t, cfg)
	w.clk = clk
	w.push(t, "u-wang", "yuqiao", request(1, "req-1", "孩子发烧39度", linliv1.Urgency_URGENCY_URGENT))
	w.overdue(t, "req-1")
	b := browsertest.New(t, 1280, 900)
	defer b.Check()

	// A resident's console session (the sign-in refuses residents, so it is
	// made directly) reaches nothing.
	tok, _, err := w.Service().StartSessionFor(context.Background(), "yuqiao", "u-wang", "console-forged", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(w.URL)
	b.Run("set the resident's cookie", network.SetCookie("linli_console", tok).WithDomain(u.Hostname()).WithPath("/console/").WithHTTPOnly(true))
	gets, _ := consolePaths("yuqiao")
	for _, p := range gets {
		if strings.HasSuffix(p, "/live") || strings.HasSuffix(p, "/list") || strings.HasSuffix(p, ".csv") {
			continue
		}
		var loc, body string
		b.Run("resident opens "+p, chromedp.Navigate(w.URL+p), chromedp.WaitReady("body", chromedp.ByQuery),
			chromedp.Location(&loc), chromedp.Text("body", &body, chromedp.ByQuery))
		if !strings.Contains(loc, "/console/signin") || strings.Contains(body, "孩子发烧") {
			t.Errorf("resident at %s ended on %s", p, loc)
		}
		b.Run("set the resident's cookie again", network.SetCookie("linli_console", tok).WithDomain(u.Hostname()).WithPath("/console/").WithHTTPOnly(true))
	}
	b.Screenshot("01-resident-refused")

	// Staff sign in; a page of another site posts a form to the console.
	signInBrowser(t, w, b, "u-zhao", "")
	evil := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(rw, `<!doctype html><html><head><title>evil</title><link rel="icon" href="data:,"></head><body>
<form id="f" method="post" action="%s/console/c/yuqiao/queue/req-1/dismiss">
<input name="reason" value="forged"><input name="csrf" value="guess"></form>
<script>document.getElementById("f").submit()</script></body></html>`, w.URL)
	}))
	defer evil.Close()
	// localhost is another site than 127.0.0.1: the cookie stays home.
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)
	b.Allow(`status of 40[13]`)
	var loc string
	b.Run("visit the other site", chromedp.Navigate(evilURL), chromedp.WaitReady("body", chromedp.ByQuery))
	linlitest.WaitFor(t, "the forged form to be answered", func() bool {
		_ = chromedp.Run(b.Ctx, chromedp.Location(&loc))
		return strings.Contains(loc, "/dismiss")
	})
	b.Screenshot("02-forged-post-refused")
	q, err := w.Service().ListQueue(context.Background(), mutualaid.Operator, "yuqiao", false, 0)
	if err != nil || len(q.Items) != 1 || q.Items[0].GetPostId() != "req-1" {
		t.Fatalf("after the forged post the queue is %v, %v; want req-1 still waiting", q, err)
	}

	// Removed: out on the next click. (An open queue page leaves by
	// itself within a heartbeat: its live stream says so.)
	b.Run("open the members", chromedp.Navigate(w.URL+"/console/c/yuqiao/members"), chromedp.WaitVisible("#members", chromedp.ByID))
	if err := w.Service().RemoveMember(context.Background(), mutualaid.Operator, "yuqiao", "u-zhao"); err != nil {
		t.Fatal(err)
	}
	b.Run("click Escalation", chromedp.Click(`nav a[href$="/policy"]`, chromedp.ByQuery), chromedp.WaitVisible("#code", chromedp.ByID),
		chromedp.Location(&loc))
	if !strings.Contains(loc, "/console/signin") {
		t.Errorf("removed member's click ended on %s, want the sign-in page", loc)
	}
	b.Screenshot("03-removed-signed-out")
	b.Run("leave", chromedp.Navigate("about:blank"))
}
