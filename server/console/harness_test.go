package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/linli/linli/internal/bearer"
	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server"
)

// world is a real server with the 玉桥 community: building 3, resident
// 王芳 (u-wang), staff member 赵主任 (u-zhao) and an admin (u-admin), and
// 北苑 next door with its own staff (u-sun).
type world struct {
	*linlitest.Server
	clk *linlitest.Clock
}

var cst = time.FixedZone("CST", 8*3600)

func newWorld(t testing.TB, cfg server.Config) *world {
	t.Helper()
	clk := linlitest.NewClock(time.Date(2022, 12, 15, 23, 40, 0, 0, cst))
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	cfg.ConsoleLocation = cst
	cfg.RateLimits.Join.Rate = -1
	h := linlitest.NewServer(t, cfg)
	w := &world{Server: h, clk: clk}
	svc := h.Service()
	h.Member(t, "u-wang", "yuqiao", mutualaid.RoleResident)
	for _, c := range []string{"yuqiao", "beiyuan"} {
		h.Member(t, "u-seed-"+c, c, mutualaid.RoleResident)
		if _, err := svc.PutBuilding(context.Background(), mutualaid.Operator, &linliv1.Building{Id: "b3", CommunityId: c, Name: "3号楼", DropPoints: []string{"15楼电梯口窗台"}}); err != nil {
			t.Fatal(err)
		}
	}
	w.member(t, "u-zhao", "yuqiao", "赵主任", mutualaid.RoleStaff)
	w.member(t, "u-admin", "yuqiao", "管理员", mutualaid.RoleAdmin)
	w.member(t, "u-sun", "beiyuan", "孙主任", mutualaid.RoleStaff)
	return w
}

func (w *world) member(t testing.TB, user, c, name string, role mutualaid.Role) {
	t.Helper()
	if _, err := w.Service().AddMember(context.Background(), &linliv1.Member{UserId: user, CommunityId: c, Role: role.Proto(), DisplayName: name, BuildingId: "b3"}); err != nil {
		t.Fatal(err)
	}
}

// apiToken is an access token for user that outlives the clock's jumps.
func (w *world) apiToken(t testing.TB, user, c string, role mutualaid.Role) string {
	t.Helper()
	tok, err := w.Tokens().Mint(server.Principal{UserID: user, CommunityID: c, Role: role, ClientID: "phone-1"}, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// deviceCode is what the member's app makes for the console
// (AuthService.CreateDeviceCode).
func (w *world) deviceCode(t testing.TB, user, c string, role mutualaid.Role) string {
	t.Helper()
	auth := linliv1connect.NewAuthServiceClient(w.HTTP, w.URL, connect.WithInterceptors(bearer.Token(w.apiToken(t, user, c, role))))
	res, err := auth.CreateDeviceCode(context.Background(), &linliv1.CreateDeviceCodeRequest{ProtocolVersion: 1})
	if err != nil {
		t.Fatalf("CreateDeviceCode: %v", err)
	}
	return res.GetCode()
}

// push sends mutations as user's phone.
func (w *world) push(t testing.TB, user, c string, muts ...*linliv1.Mutation) {
	t.Helper()
	res, err := w.SyncClient(w.apiToken(t, user, c, mutualaid.RoleResident)).Push(context.Background(),
		&linliv1.PushRequest{ProtocolVersion: 1, ClientId: "phone-1", Mutations: muts})
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	for _, r := range res.GetResults() {
		if r.GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_APPLIED {
			t.Fatalf("push: %v", r)
		}
	}
}

// request is 王芳's request for a children's fever reducer.
func request(id uint64, postID, note string, u linliv1.Urgency) *linliv1.Mutation {
	return &linliv1.Mutation{Id: id, Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{
		PostId: postID, Draft: &linliv1.PostDraft{
			Items:   []*linliv1.PostItem{{ItemCode: "ibuprofen-suspension-child", Name: "美林", Quantity: 1, Unit: "瓶"}},
			Urgency: u, Note: note, BuildingId: "b3", Floor: 15, Unit: "1502", Phone: "+86 138-0013-8000", DisplayName: "王芳",
			ForWhom:               &linliv1.ForWhom{Recipient: linliv1.Recipient_RECIPIENT_CHILD, AgeMonths: 30},
			SharePhoneWithHotline: true,
		},
	}}}
}

// overdue makes a request overdue and waits until it is in the queue.
func (w *world) overdue(t testing.TB, postID string) {
	t.Helper()
	w.clk.Advance(3 * time.Hour)
	linlitest.WaitFor(t, postID+" in the staff queue", func() bool {
		if _, err := w.Service().EscalateOverdue(context.Background()); err != nil {
			t.Fatal(err)
		}
		q, err := w.Service().ListQueue(context.Background(), mutualaid.Operator, "yuqiao", false, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range q.Items {
			if it.GetPostId() == postID {
				return true
			}
		}
		return false
	})
}

// browser is an HTTP client with a cookie jar: a browser without script.
type browser struct {
	t    testing.TB
	w    *world
	http *http.Client
}

func (w *world) browser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, w: w, http: &http.Client{Jar: jar, Transport: w.HTTP.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a request like a page of the console would (same origin).
func (b *browser) do(method, path string, form url.Values, hdr ...string) (int, string, http.Header) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.w.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.w.URL)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := b.http.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(out), res.Header
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	s, body, _ := b.do("GET", path, nil)
	return s, body
}

var (
	nonceRe = regexp.MustCompile(`name="nonce" value="([^"]+)"`)
	csrfRe  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

// signIn signs in with code (and a name for a new staff member) and
// returns the status of the answer to the form.
func (b *browser) signIn(code, name string) (int, string, http.Header) {
	b.t.Helper()
	_, page := b.get("/console/signin")
	m := nonceRe.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no nonce in the sign-in page:\n%s", page)
	}
	return b.do("POST", "/console/signin", url.Values{"code": {code}, "name": {name}, "nonce": {m[1]}})
}

// csrf reads the form token from a page.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	status, page := b.get(path)
	m := csrfRe.FindStringSubmatch(page)
	if status != http.StatusOK || m == nil {
		b.t.Fatalf("GET %s: %d, no csrf token:\n%s", path, status, page)
	}
	return m[1]
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
