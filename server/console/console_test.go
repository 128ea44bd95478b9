package console_test

import (
	"bufio"
	"context"
	"io/fs"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/server"
	"github.com/linli/linli/server/console"
)

// TestSignIn: staff sign in with a device code from their app; the
// session cookie is HttpOnly and SameSite=Strict (Secure only over https),
// the device is listed with the member's devices, and sign-out ends it.
func TestSignIn(t *testing.T) {
	t.Parallel()
	w := newWorld(t, server.Config{})
	b := w.browser(t)
	if s, _, h := b.do("GET", "/console/c/yuqiao/queue", nil); s != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/console/signin") {
		t.Fatalf("queue before sign-in: %d → %q, want a redirect to sign in", s, h.Get("Location"))
	}
	s, _, h := b.signIn(w.deviceCode(t, "u-zhao", "yuqiao", mutualaid.RoleStaff), "")
	if s != http.StatusSeeOther || h.Get("Location") != "/console/" {
		t.Fatalf("sign-in: %d → %q", s, h.Get("Location"))
	}
	var sc string
	for _, c := range h.Values("Set-Cookie") {
		if strings.HasPrefix(c, "linli_console=") {
			sc = c
		}
	}
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/console/"} {
		if !strings.Contains(sc, want) {
			t.Errorf("session cookie %q lacks %s", sc, want)
		}
	}
	if strings.Contains(sc, "Secure") {
		t.Errorf("session cookie %q is Secure over plain http", sc)
	}
	if s, _, h := b.do("GET", "/console/", nil); s != http.StatusFound || h.Get("Location") != "/console/c/yuqiao/queue" {
		t.Fatalf("home: %d → %q, want the queue", s, h.Get("Location"))
	}
	if s, page := b.get("/console/c/yuqiao/queue"); s != http.StatusOK || !strings.Contains(page, "待办队列") {
		t.Fatalf("queue: %d\n%s", s, page)
	}
	devices, err := w.Service().Devices("u-zhao")
	if err != nil || len(devices) != 1 || !strings.HasPrefix(devices[0].GetClientId(), "console-") {
		t.Fatalf("devices = %v, %v; want the console's", devices, err)
	}
	if s, page := b.get("/console/sessions"); s != http.StatusOK || !strings.Contains(page, devices[0].GetClientId()) {
		t.Fatalf("sessions page: %d\n%s", s, page)
	}
	// The same code works once.
	b2 := w.browser(t)
	code := w.deviceCode(t, "u-zhao", "yuqiao", mutualaid.RoleStaff)
	if s, _, _ := b2.signIn(code, ""); s != http.StatusSeeOther {
		t.Fatalf("second browser: %d", s)
	}
	if s, page, _ := w.browser(t).signIn(code, ""); s != http.StatusUnauthorized || !strings.Contains(page, "登录码无效") {
		t.Fatalf("a used code: %d\n%s", s, page)
	}

	tok := b.csrf("/console/c/yuqiao/queue")
	if s, _, _ := b.do("POST", "/console/signout", url.Values{"csrf": {tok}}); s != http.StatusSeeOther {
		t.Fatalf("sign out: %d", s)
	}
	if s, _, h := b.do("GET", "/console/c/yuqiao/queue", nil); s != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/console/signin") {
		t.Fatalf("queue after sign-out: %d → %q", s, h.Get("Location"))
	}
	if s, _ := b2.get("/console/c/yuqiao/queue"); s != http.StatusOK {
		t.Fatalf("the other browser was signed out too: %d", s)
	}
}

// TestSignInStaffJoinCode: a new staff member joins with a staff join
// code at the console (asked for their name); a resident's code is refused
// and not used up.
func TestSignInStaffJoinCode(t *testing.T) {
	t.Parallel()
	w := newWorld(t, server.Config{})
	code, _, err := w.Service().CreateJoinCode(context.Background(), mutualaid.Operator, mutualaid.JoinCodeSpec{CommunityID: "yuqiao", Role: linliv1.Role_ROLE_STAFF})
	if err != nil {
		t.Fatal(err)
	}
	b := w.browser(t)
	if s, page, _ := b.signIn(code, ""); s != http.StatusUnauthorized || !strings.Contains(page, "请填写您的姓名") {
		t.Fatalf("staff code without a name: %d\n%s", s, page)
	}
	if s, _, _ := b.signIn(code, "钱社工"); s != http.StatusSeeOther {
		t.Fatalf("staff code with a name: %d", s)
	}
	res, _, err := w.Service().CreateJoinCode(context.Background(), mutualaid.Operator, mutualaid.JoinCodeSpec{CommunityID: "yuqiao", BuildingID: "b3"})
	if err != nil {
		t.Fatal(err)
	}
	if s, page, _ := w.browser(t).signIn(res, "王芳"); s != http.StatusUnauthorized || !strings.Contains(page, "只有社区工作人员") {
		t.Fatalf("resident code: %d\n%s", s, page)
	}
	if _, err := w.Service().Join(context.Background(), mutualaid.JoinForm{Code: res, DisplayName: "王芳", BuildingID: "b3"}); err != nil {
		t.Fatalf("the refused resident code was used up: %v", err)
	}
}

// TestSecureCookieBehindTrustedProxy: behind a trusted proxy that reached
// by https, the cookies are Secure; a client's own header is not believed.
func TestSecureCookieBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	w := newWorld(t, server.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	_, _, h := w.browser(t).do("GET", "/console/signin", nil, "X-Forwarded-Proto", "https")
	if c := h.Get("Set-Cookie"); !strings.Contains(c, "Secure") {
		t.Errorf("cookie via a trusted https proxy: %q, want Secure", c)
	}
	w2 := newWorld(t, server.Config{})
	_, _, h = w2.browser(t).do("GET", "/console/signin", nil, "X-Forwarded-Proto", "https")
	if c := h.Get("Set-Cookie"); strings.Contains(c, "Secure") {
		t.Errorf("cookie with an untrusted X-Forwarded-Proto: %q, want not Secure", c)
	}
}

// residentSession is a console session cookie of a resident, as if one
// had been made (the sign-in refuses residents, so it is made directly).
func (w *world) residentSession(t testing.TB, b *browser) {
	t.Helper()
	tok, _, err := w.Service().StartSessionFor(context.Background(), "yuqiao", "u-wang", "console-forged", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(w.URL + "/console/")
	b.http.Jar.SetCookies(u, []*http.Cookie{{Name: "linli_console", Value: tok, Path: "/console/"}})
}

// consolePaths are every page and form of the console, for community c.
func consolePaths(c string) (gets, posts []string) {
	base := "/console/c/" + c + "/"
	gets = []string{"/console/sessions", "/console/communities", base + "queue", base + "queue/list", base + "live",
		base + "queue/req-1/forward", base + "cases", base + "report", base + "report.csv", base + "buildings",
		base + "joincodes", base + "members", base + "policy"}
	posts = []string{"/console/signout", "/console/sessions/revoke", base + "queue/req-1/forward", base + "queue/req-1/dismiss",
		base + "queue/req-1/retry", base + "buildings", base + "joincodes", base + "members/u-wang/role",
		base + "members/u-wang/remove", base + "policy"}
	return gets, posts
}

// TestResidentAndRemovedAreOut: a resident's session cookie reaches no
// page or form; a removed member and a demoted one are out on their next
// click; staff of another community see none of this one.
func TestResidentAndRemovedAreOut(t *testing.T) {
	t.Parallel()
	w := newWorld(t, server.Config{})
	w.push(t, "u-wang", "yuqiao", request(1, "req-1", "孩子发烧39度", linliv1.Urgency_URGENCY_URGENT))
	w.overdue(t, "req-1")
	gets, posts := consolePaths("yuqiao")

	res := w.browser(t)
	w.residentSession(t, res)
	for _, p := range gets {
		if s, body := res.get(p); s == http.StatusOK || strings.Contains(body, "孩子发烧") {
			t.Errorf("resident GET %s: %d", p, s)
		}
		w.residentSession(t, res)
	}
	for _, p := range posts {
		if s, _, _ := res.do("POST", p, url.Values{"csrf": {"x"}, "reason": {"x"}}); s < 300 || s == http.StatusOK {
			t.Errorf("resident POST %s: %d", p, s)
		}
		w.residentSession(t, res)
	}

	sun := w.browser(t)
	if s, _, _ := sun.signIn(w.deviceCode(t, "u-sun", "beiyuan", mutualaid.RoleStaff), ""); s != http.StatusSeeOther {
		t.Fatal(s)
	}
	tok := sun.csrf("/console/c/beiyuan/queue")
	for _, p := range gets[2:] {
		if s, body := sun.get(p); s != http.StatusForbidden || strings.Contains(body, "孩子发烧") {
			t.Errorf("other community's staff GET %s: %d", p, s)
		}
	}
	for _, p := range posts[2:] {
		if s, _, _ := sun.do("POST", p, url.Values{"csrf": {tok}, "reason": {"x"}, "role": {"ROLE_ADMIN"}}); s != http.StatusForbidden {
			t.Errorf("other community's staff POST %s: %d", p, s)
		}
	}

	zhao := w.browser(t)
	if s, _, _ := zhao.signIn(w.deviceCode(t, "u-zhao", "yuqiao", mutualaid.RoleStaff), ""); s != http.StatusSeeOther {
		t.Fatal(s)
	}
	if s, _ := zhao.get("/console/c/yuqiao/queue"); s != http.StatusOK {
		t.Fatal(s)
	}
	if _, err := w.Service().SetRole(context.Background(), mutualaid.Operator, "yuqiao", "u-zhao", linliv1.Role_ROLE_RESIDENT, nil); err != nil {
		t.Fatal(err)
	}
	if s, _, h := zhao.do("GET", "/console/c/yuqiao/queue", nil); s != http.StatusSeeOther || !strings.Contains(h.Get("Location"), "signin.notstaff") {
		t.Fatalf("demoted: %d → %q", s, h.Get("Location"))
	}
	if _, err := w.Service().SetRole(context.Background(), mutualaid.Operator, "yuqiao", "u-zhao", linliv1.Role_ROLE_STAFF, nil); err != nil {
		t.Fatal(err)
	}
	if s, _ := zhao.get("/console/c/yuqiao/queue"); s == http.StatusOK {
		t.Fatalf("promoted again, the demoted console session came back: %d", s)
	}

	admin := w.browser(t)
	if s, _, _ := admin.signIn(w.deviceCode(t, "u-admin", "yuqiao", mutualaid.RoleAdmin), ""); s != http.StatusSeeOther {
		t.Fatal(s)
	}
	if s, page := admin.get("/console/communities"); s != http.StatusOK || !strings.Contains(page, "/console/c/beiyuan/queue") {
		t.Fatalf("admin's communities: %d\n%s", s, page)
	}
	if s, _ := admin.get("/console/c/beiyuan/queue"); s != http.StatusOK {
		t.Fatalf("admin in another community: %d", s)
	}
	if err := w.Service().RemoveMember(context.Background(), mutualaid.Operator, "yuqiao", "u-admin"); err != nil {
		t.Fatal(err)
	}
	if s, _, h := admin.do("GET", "/console/c/yuqiao/queue", nil); s != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/console/signin") {
		t.Fatalf("removed: %d → %q", s, h.Get("Location"))
	}
}

// TestForgedPostsRefused: a form without the session's token, with
// another's, or from another site changes nothing.
func TestForgedPostsRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t, server.Config{})
	w.push(t, "u-wang", "yuqiao", request(1, "req-1", "孩子发烧39度", linliv1.Urgency_URGENCY_URGENT))
	w.overdue(t, "req-1")
	b := w.browser(t)
	if s, _, _ := b.signIn(w.deviceCode(t, "u-zhao", "yuqiao", mutualaid.RoleStaff), ""); s != http.StatusSeeOther {
		t.Fatal(s)
	}
	tok := b.csrf("/console/c/yuqiao/queue")
	other := w.browser(t)
	if s, _, _ := other.signIn(w.deviceCode(t, "u-zhao", "yuqiao", mutualaid.RoleStaff), ""); s != http.StatusSeeOther {
		t.Fatal(s)
	}
	otherTok := other.csrf("/console/c/yuqiao/queue")
	const path = "/console/c/yuqiao/queue/req-1/dismiss"
	for name, try := range map[string]func() int{
		"no token":        func() int { s, _, _ := b.do("POST", path, url.Values{"reason": {"x"}}); return s },
		"another's token": func() int { s, _, _ := b.do("POST", path, url.Values{"reason": {"x"}, "csrf": {otherTok}}); return s },
		"cross-site": func() int {
			s, _, _ := b.do("POST", path, url.Values{"reason": {"x"}, "csrf": {tok}}, "Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site")
			return s
		},
		"no session": func() int {
			s, _, _ := w.browser(t).do("POST", path, url.Values{"reason": {"x"}, "csrf": {tok}})
			return s
		},
	} {
		if s := try(); s != http.StatusForbidden && s != http.StatusUnauthorized {
			t.Errorf("%s: %d, want refused", name, s)
		}
	}
	q, err := w.Service().ListQueue(context.Background(), mutualaid.Operator, "yuqiao", false, 0)
	if err != nil || len(q.Items) != 1 {
		t.Fatalf("queue after forged posts: %v, %v; want req-1 still waiting", q, err)
	}
	if s, _, _ := b.do("POST", path, url.Values{"reason": {"已电话联系"}, "csrf": {tok}}); s != http.StatusSeeOther {
		t.Fatalf("the real form: %d", s)
	}
}

// TestLive: the live stream reports a change when a request goes overdue,
// and tells a removed member's page to leave.
func TestLive(t *testing.T) {
	t.Parallel()
	w := newWorld(t, server.Config{ConsoleHeartbeat: 50 * time.Millisecond})
	b := w.browser(t)
	if s, _, _ := b.signIn(w.deviceCode(t, "u-zhao", "yuqiao", mutualaid.RoleStaff), ""); s != http.StatusSeeOther {
		t.Fatal(s)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", w.URL+"/console/c/yuqiao/live", nil)
	res, err := b.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); res.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("live: %d %s", res.StatusCode, ct)
	}
	events := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if e, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				events <- e
			}
		}
		close(events)
	}()
	next := func(want string) {
		t.Helper()
		timeout := time.After(linlitest.WaitTimeout)
		for {
			select {
			case e, ok := <-events:
				if !ok {
					t.Fatalf("stream ended waiting for %s", want)
				}
				if e == want {
					return
				}
			case <-timeout:
				t.Fatalf("no %s event", want)
			}
		}
	}
	next("beat")
	w.push(t, "u-wang", "yuqiao", request(1, "req-1", "孩子发烧39度", linliv1.Urgency_URGENCY_URGENT))
	next("change")
	if err := w.Service().RemoveMember(context.Background(), mutualaid.Operator, "yuqiao", "u-zhao"); err != nil {
		t.Fatal(err)
	}
	next("signedout")
}

// TestEveryLabelTranslated: every message has both languages, and every
// key the templates use exists.
func TestEveryLabelTranslated(t *testing.T) {
	t.Parallel()
	for _, key := range console.MessageKeys() {
		zh, en := console.Message(key)
		if zh == "" || (en == "" && !strings.HasPrefix(key, "reason.")) {
			t.Errorf("message %q: zh %q, en %q", key, zh, en)
		}
	}
	re := regexp.MustCompile(`\.T(?:f)? "([a-z0-9_.]+)"`)
	err := fs.WalkDir(os.DirFS("templates"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile("templates/" + p)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			if zh, _ := console.Message(m[1]); zh == "" {
				t.Errorf("%s uses %q, which has no translation", p, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
