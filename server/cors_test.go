package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/linli/linli/internal/browsertest"
	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid"
	"github.com/linli/linli/server"
)

// TestCORSPreflight: a preflight from an allowed origin is answered before
// authentication with the methods and headers Connect, gRPC-Web, streams
// and the bearer token need; calls from it get the CORS headers, refusals
// included; other origins, the staff console and a server allowing no
// origin get none.
func TestCORSPreflight(t *testing.T) {
	t.Parallel()
	const app = "https://app.example.org"
	h := linlitest.NewServer(t, server.Config{CORSOrigins: []string{app}})
	tok := h.Token(t, "u1", "c1", mutualaid.RoleResident)
	none := linlitest.NewServer(t, server.Config{})
	do := func(h *linlitest.Server, method, path, origin string, header map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, h.URL+path, strings.NewReader(`{"protocolVersion":1}`))
		req.Header.Set("Origin", origin)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		res, err := h.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	preflight := func(h *linlitest.Server, path, origin, headers string) *http.Response {
		return do(h, http.MethodOptions, path, origin, map[string]string{
			"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": headers})
	}
	list := func(v string) []string {
		var out []string
		for f := range strings.SplitSeq(v, ",") {
			out = append(out, strings.ToLower(strings.TrimSpace(f)))
		}
		return out
	}
	noCORS := func(name string, res *http.Response) {
		t.Helper()
		for k := range res.Header {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("%s: answered with %s: %q", name, k, res.Header.Get(k))
			}
		}
	}

	for _, tc := range []struct{ name, path, headers string }{
		{"Connect", "/linli.v1.SyncService/Pull", "authorization,connect-protocol-version,connect-timeout-ms,content-type"},
		{"ConnectStream", "/linli.v1.SyncService/Subscribe", "authorization,connect-accept-encoding,connect-content-encoding,connect-protocol-version,content-type"},
		{"GRPCWeb", "/linli.v1.SyncService/Push", "authorization,content-type,grpc-timeout,x-grpc-web,x-user-agent"},
		{"PublicJoin", "/linli.v1.AuthService/Join", "connect-protocol-version,content-type"},
	} {
		t.Run("Allowed/"+tc.name, func(t *testing.T) {
			res := preflight(h, tc.path, app, tc.headers)
			if res.StatusCode != http.StatusNoContent {
				t.Fatalf("preflight = %d, want 204 (answered before authentication)", res.StatusCode)
			}
			if got := res.Header.Get("Access-Control-Allow-Origin"); got != app {
				t.Fatalf("Access-Control-Allow-Origin = %q, want %q", got, app)
			}
			if got := list(res.Header.Get("Access-Control-Allow-Methods")); !slices.Contains(got, "post") {
				t.Errorf("Access-Control-Allow-Methods = %q, want POST", got)
			}
			allowed := list(res.Header.Get("Access-Control-Allow-Headers"))
			for _, want := range list(tc.headers) {
				if !slices.Contains(allowed, want) {
					t.Errorf("Access-Control-Allow-Headers = %q, lacks %s", allowed, want)
				}
			}
			if got := res.Header.Get("Access-Control-Max-Age"); got != "7200" {
				t.Errorf("Access-Control-Max-Age = %q, want 7200", got)
			}
			if res.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("credentials allowed: the API takes bearer tokens, never cookies")
			}
		})
	}
	t.Run("AllowedCalls", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			header map[string]string
			status int
		}{
			{"WithToken", map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + tok}, http.StatusOK},
			{"RefusedWithoutToken", map[string]string{"Content-Type": "application/json"}, http.StatusUnauthorized},
		} {
			res := do(h, http.MethodPost, "/linli.v1.SyncService/Pull", app, tc.header)
			if res.StatusCode != tc.status {
				t.Fatalf("%s: %d, want %d", tc.name, res.StatusCode, tc.status)
			}
			if got := res.Header.Get("Access-Control-Allow-Origin"); got != app {
				t.Errorf("%s: Access-Control-Allow-Origin = %q, want %q", tc.name, got, app)
			}
			exposed := list(res.Header.Get("Access-Control-Expose-Headers"))
			for _, want := range []string{"grpc-status", "grpc-message", "grpc-status-details-bin", "retry-after", "www-authenticate"} {
				if !slices.Contains(exposed, want) {
					t.Errorf("%s: Access-Control-Expose-Headers = %q, lacks %s", tc.name, exposed, want)
				}
			}
		}
	})
	t.Run("OtherOrigin", func(t *testing.T) {
		for _, origin := range []string{"https://evil.example", "http://app.example.org", "https://app.example.org:8443", "null"} {
			res := preflight(h, "/linli.v1.SyncService/Pull", origin, "authorization,content-type")
			noCORS("preflight from "+origin, res)
			res = do(h, http.MethodPost, "/linli.v1.SyncService/Pull", origin, map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + tok})
			noCORS("call from "+origin, res)
		}
	})
	t.Run("Console", func(t *testing.T) {
		noCORS("console page", do(h, http.MethodGet, "/console/", app, nil))
		noCORS("console preflight", preflight(h, "/console/signin", app, "content-type"))
	})
	t.Run("NoOriginAllowed", func(t *testing.T) {
		noCORS("preflight", preflight(none, "/linli.v1.SyncService/Pull", app, "authorization,content-type"))
	})
}

func TestParseCORSOrigins(t *testing.T) {
	t.Parallel()
	got, err := server.ParseCORSOrigins(" https://App.Example.org , http://127.0.0.1:5173,https://h5.example.org/ ,")
	want := []string{"https://app.example.org", "http://127.0.0.1:5173", "https://h5.example.org"}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("ParseCORSOrigins = %q, %v; want %q", got, err, want)
	}
	if got, err := server.ParseCORSOrigins(""); err != nil || len(got) != 0 {
		t.Fatalf("ParseCORSOrigins(\"\") = %q, %v; want none", got, err)
	}
	for _, bad := range []string{"*", "https://*.example.org", "app.example.org", "ftp://app.example.org", "https://app.example.org/path", "https://user@app.example.org", "https://app.example.org?x=1"} {
		if _, err := server.ParseCORSOrigins(bad); err == nil {
			t.Errorf("ParseCORSOrigins(%q) accepted it", bad)
		}
	}
}

// TestBrowserCrossOrigin: a web app served from one origin calls the API
// on another from headless Chromium, as Connect-Web does: it subscribes
// (Connect's streaming protocol read from a ReadableStream), pushes a post,
// sees the poke, pulls the post and reads a refusal's reason. The same
// page from an origin the server does not allow is kept from the answers.
func TestBrowserCrossOrigin(t *testing.T) {
	page, err := os.ReadFile("testdata/webapp.html")
	if err != nil {
		t.Fatal(err)
	}
	serve := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	}
	app := httptest.NewServer(http.HandlerFunc(serve))
	t.Cleanup(app.Close)
	other := httptest.NewServer(http.HandlerFunc(serve))
	t.Cleanup(other.Close)
	h := linlitest.NewServer(t, server.Config{CORSOrigins: []string{app.URL}})
	tok := h.Token(t, "u-li", "c1", mutualaid.RoleResident)
	b := browsertest.New(t, 800, 600)
	defer b.Check()

	fragment := "#api=" + h.URL + "&token=" + tok
	b.Run("open the app", chromedp.Navigate(app.URL+"/"+fragment), chromedp.WaitVisible("#out", chromedp.ByID))
	var out struct {
		FirstPoke, PokeAfterPush, PushStatus, PullStatus, RefusedStatus int
		PushResult, RefusedReason                                       string
		PulledPost                                                      bool
	}
	ctx, cancel := context.WithTimeout(b.Ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, chromedp.Evaluate(`run("web-offer-1")`, &out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	})); err != nil {
		t.Fatalf("the app's calls: %v", err)
	}
	b.Screenshot("app")
	if out.FirstPoke != 2 || out.PokeAfterPush < 1 {
		t.Errorf("Subscribe: first poke with %d heads, then %d; want 2, then at least 1", out.FirstPoke, out.PokeAfterPush)
	}
	if out.PushStatus != 200 || out.PushResult != "MUTATION_STATUS_APPLIED" {
		t.Errorf("Push: %d %s, want 200 applied", out.PushStatus, out.PushResult)
	}
	if out.PullStatus != 200 || !out.PulledPost {
		t.Errorf("Pull: %d, post pulled %v; want 200 with the post", out.PullStatus, out.PulledPost)
	}
	if out.RefusedStatus != http.StatusBadRequest || out.RefusedReason != "protocol_version_unsupported" {
		t.Errorf("a refusal: %d %q, want 400 protocol_version_unsupported readable by the page", out.RefusedStatus, out.RefusedReason)
	}

	// The same app from an origin the server does not allow.
	b.Allow(`blocked by CORS policy`)
	b.Allow(`Failed to load resource`)
	b.Run("open the app from another origin", chromedp.Navigate(other.URL+"/"+fragment), chromedp.WaitVisible("#out", chromedp.ByID))
	var outcome string
	b.Run("pull from another origin", chromedp.Evaluate(`tryPull()`, &outcome, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	}))
	if !strings.HasPrefix(outcome, "blocked") {
		t.Errorf("a pull from an origin not allowed: %s, want it blocked", outcome)
	}
}
