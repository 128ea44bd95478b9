package hotline_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linli/linli/internal/hotlinesim"
	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid/hotline"
)

// newSim starts a simulator and a client pointed at it.
func newSim(t *testing.T, mod func(*hotlinesim.Sim)) (*hotlinesim.Sim, *hotline.Client, *linlitest.Clock) {
	t.Helper()
	clk := linlitest.NewClock(time.Date(2022, 12, 18, 23, 40, 0, 0, time.FixedZone("CST", 8*3600)))
	sim := &hotlinesim.Sim{APIKey: "demo", ResolveAfter: 30 * time.Minute, Now: clk.Now}
	if mod != nil {
		mod(sim)
	}
	srv := httptest.NewServer(http.StripPrefix("/open311/v2", sim))
	t.Cleanup(srv.Close)
	// Short enough that a hung call (TimeoutNext) fails fast, long enough
	// for an answer of 1,000 cases under the race detector.
	c := hotline.NewClient(srv.URL+"/open311/v2", "demo", "yuqiao", &http.Client{Timeout: 1500 * time.Millisecond})
	return sim, c, clk
}

func feverCase() hotline.CaseRequest {
	return hotline.CaseRequest{
		ServiceCode:   "fever_reducer",
		AddressString: "玉桥街道 某小区 3号楼",
		Description:   "3号楼一名婴儿发烧，需要儿童退烧药（美林），邻里未能满足",
		Attributes:    map[string]string{"linli_post_id": "post-42", "urgency": "urgent"},
	}
}

func TestServices(t *testing.T) {
	t.Parallel()
	_, c, _ := newSim(t, nil)
	ss, err := c.Services(context.Background())
	if err != nil {
		t.Fatalf("Services: %v", err)
	}
	if got, want := len(ss), 12; got != want {
		t.Fatalf("got %d services, want %d", got, want)
	}
	if got, want := ss[0].ServiceName, "退烧药"; ss[0].ServiceCode != "fever_reducer" || got != want {
		t.Errorf("got %+v, want fever_reducer %s", ss[0], want)
	}
}

func TestCreateStatusResolves(t *testing.T) {
	t.Parallel()
	sim, c, clk := newSim(t, nil)
	ctx := context.Background()
	res, err := c.Create(ctx, feverCase())
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if got, want := res.ServiceRequestID, "12345-000001"; got != want {
		t.Fatalf("got id %q, want %q", got, want)
	}
	held, ok := sim.Case(res.ServiceRequestID)
	if !ok || held.Attributes["linli_post_id"] != "post-42" || held.Address != "玉桥街道 某小区 3号楼" {
		t.Fatalf("sim holds %+v (ok=%v), want the attributes and address sent", held, ok)
	}
	st, err := c.Status(ctx, res.ServiceRequestID, "12345-999999")
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if len(st) != 1 {
		t.Fatalf("got %d statuses, want 1 (unknown ids omitted)", len(st))
	}
	if got, want := st[0].Status, hotline.StatusOpen; got != want {
		t.Errorf("status: got %q, want %q", got, want)
	}
	if got, want := st[0].AgencyResponsible, "玉桥街道办事处"; got != want {
		t.Errorf("agency: got %q, want %q", got, want)
	}
	if !strings.Contains(st[0].StatusNotes, "正在办理") || st[0].ExpectedDatetime == "" {
		t.Errorf("open case: notes %q expected %q", st[0].StatusNotes, st[0].ExpectedDatetime)
	}
	clk.Advance(30 * time.Minute)
	cs, err := c.Lookup(ctx, res.ServiceRequestID)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if got, want := cs.Status, hotline.StatusClosed; got != want {
		t.Errorf("after the delay: got %q, want %q", got, want)
	}
	if !strings.Contains(cs.StatusNotes, "已办结") || cs.UpdatedDatetime == cs.RequestedDatetime {
		t.Errorf("closed case: notes %q updated %q", cs.StatusNotes, cs.UpdatedDatetime)
	}
}

func TestTokenFlow(t *testing.T) {
	t.Parallel()
	_, c, _ := newSim(t, func(s *hotlinesim.Sim) { s.UseTokens = true })
	ctx := context.Background()
	res, err := c.Create(ctx, feverCase())
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if res.ServiceRequestID != "" || res.Token == "" {
		t.Fatalf("got %+v, want only a token", res)
	}
	id, err := c.ResolveToken(ctx, res.Token)
	if err != nil {
		t.Fatalf("ResolveToken: %v", err)
	}
	if got, want := id, "12345-000001"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := c.ResolveToken(ctx, "tok-nope"); !errors.As(err, new(*hotline.APIError)) || hotline.IsRetryable(err) {
		t.Errorf("unknown token: got %v, want a permanent *APIError", err)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		client    func(c *hotline.Client) *hotline.Client
		req       func(r *hotline.CaseRequest)
		sim       func(s *hotlinesim.Sim)
		wantAPI   int // HTTP status of the *hotline.APIError; 0 means none
		retryable bool
	}{
		{name: "BadAPIKey", client: func(c *hotline.Client) *hotline.Client { c.SetAPIKey("wrong"); return c }, wantAPI: 403},
		{name: "UnknownJurisdiction", client: func(c *hotline.Client) *hotline.Client { c.SetJurisdiction("atlantis"); return c }, wantAPI: 404},
		{name: "UnknownServiceCode", req: func(r *hotline.CaseRequest) { r.ServiceCode = "unicorn" }, wantAPI: 400},
		{name: "ServerError", sim: func(s *hotlinesim.Sim) { s.FailNext(1) }, wantAPI: 500, retryable: true},
		{name: "Timeout", sim: func(s *hotlinesim.Sim) { s.TimeoutNext(1, 2*time.Second) }, retryable: true},
		{name: "LostResponse", sim: func(s *hotlinesim.Sim) { s.LoseNext(1) }, retryable: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim, c, _ := newSim(t, tc.sim)
			if tc.client != nil {
				c = tc.client(c)
			}
			req := feverCase()
			if tc.req != nil {
				tc.req(&req)
			}
			_, err := c.Create(ctx, req)
			if err == nil {
				t.Fatal("Create: got nil error")
			}
			var ae *hotline.APIError
			if got := errors.As(err, &ae); got != (tc.wantAPI != 0) || (got && ae.HTTPStatus != tc.wantAPI) {
				t.Errorf("got %v, want *hotline.APIError with HTTP %d", err, tc.wantAPI)
			}
			if got := hotline.IsRetryable(err); got != tc.retryable {
				t.Errorf("IsRetryable(%v): got %v, want %v", err, got, tc.retryable)
			}
			// The failure is transient: the next call goes through.
			if tc.retryable {
				if _, err := c.Services(ctx); err != nil {
					t.Errorf("after the failure: %v", err)
				}
			}
			if tc.name == "LostResponse" {
				ids := sim.FindByAttribute("linli_post_id", "post-42")
				if len(ids) != 1 {
					t.Fatalf("sim holds %v, want the one case created before the answer was lost", ids)
				}
				cs, err := c.Lookup(ctx, ids[0])
				if err != nil || cs.Status != hotline.StatusOpen {
					t.Errorf("Lookup(%s): got %+v, %v; want the open case", ids[0], cs, err)
				}
			}
		})
	}
}

func TestLookupNotFound(t *testing.T) {
	t.Parallel()
	_, c, _ := newSim(t, nil)
	_, err := c.Lookup(context.Background(), "12345-000404")
	if !errors.Is(err, hotline.ErrNotFound) || hotline.IsRetryable(err) {
		t.Errorf("got %v, want permanent ErrNotFound", err)
	}
}

func TestCreateRefusesBeforeSending(t *testing.T) {
	t.Parallel()
	var calls int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	c := hotline.NewClient(srv.URL, "k", "yuqiao", nil)
	for _, tc := range []struct {
		name string
		req  hotline.CaseRequest
	}{
		{"DescriptionTooLong", hotline.CaseRequest{ServiceCode: "food", Description: strings.Repeat("药", hotline.MaxDescription+1)}},
		{"NoServiceCode", hotline.CaseRequest{Description: "x"}},
		{"NoDescription", hotline.CaseRequest{ServiceCode: "food", Description: "  "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Create(context.Background(), tc.req)
			if err == nil || hotline.IsRetryable(err) {
				t.Fatalf("got %v, want a permanent error", err)
			}
			if tc.name == "DescriptionTooLong" {
				var tl *hotline.DescriptionTooLongError
				if !errors.As(err, &tl) || tl.Len != hotline.MaxDescription+1 {
					t.Errorf("got %v, want *hotline.DescriptionTooLongError{%d}", err, hotline.MaxDescription+1)
				}
			}
		})
	}
	// Exactly hotline.MaxDescription characters is allowed.
	if _, err := c.Create(context.Background(), hotline.CaseRequest{ServiceCode: "food", Description: strings.Repeat("药", hotline.MaxDescription)}); errors.As(err, new(*hotline.DescriptionTooLongError)) {
		t.Errorf("4000 characters: got %v, want it sent", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got, want := calls, 1; got != want {
		t.Errorf("server saw %d requests, want %d", got, want)
	}
}

func TestFormEncoding(t *testing.T) {
	t.Parallel()
	got := make(chan url.Values, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		got <- r.PostForm
		w.Write([]byte(`[{"service_request_id":"A-1"}]`))
	}))
	t.Cleanup(srv.Close)
	req := feverCase()
	req.Phone = "+86 138-0013-8000"
	res, err := hotline.NewClient(srv.URL, "key", "yuqiao", nil).Create(context.Background(), req)
	if err != nil || res.ServiceRequestID != "A-1" {
		t.Fatalf("Create: got %+v, %v", res, err)
	}
	f := <-got
	for k, want := range map[string]string{
		"api_key": "key", "jurisdiction_id": "yuqiao", "service_code": "fever_reducer",
		"address_string": "玉桥街道 某小区 3号楼", "attribute[linli_post_id]": "post-42",
		"phone": "+86 138-0013-8000",
	} {
		if f.Get(k) != want {
			t.Errorf("form %s: got %q, want %q", k, f.Get(k), want)
		}
	}
}

// TestSimDispatchesByAddress: the simulator sends a case to the street
// office its address names, else to its jurisdiction's.
func TestSimDispatchesByAddress(t *testing.T) {
	t.Parallel()
	sim := &hotlinesim.Sim{}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c := hotline.NewClient(srv.URL, "", "yuqiao", srv.Client())
	for addr, want := range map[string]string{
		"朝阳区 北苑街道 北苑家园社区 1号楼": "北苑街道办事处",
		"通州区 马驹桥镇 某村 5号楼":     "马驹桥镇人民政府",
		"某小区 3号楼":             "玉桥街道办事处",
	} {
		req := feverCase()
		req.AddressString = addr
		res, err := c.Create(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := sim.Case(res.ServiceRequestID); got.Agency != want {
			t.Errorf("address %q went to %q, want %q", addr, got.Agency, want)
		}
	}
}

func TestMalformedResponses(t *testing.T) {
	t.Parallel()
	huge := `[{"service_request_id":"` + strings.Repeat("x", 5<<20) + `"}]`
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   error // errors.Is target; nil means any non-nil error
	}{
		{"BadJSON", 200, `[{"service_request_id":`, hotline.ErrMalformed},
		{"NotJSON", 200, `<html>oops</html>`, hotline.ErrMalformed},
		{"WrongType", 200, `[{"service_request_id":123}]`, hotline.ErrMalformed},
		{"Object", 200, `{"service_request_id":"1"}`, hotline.ErrMalformed},
		{"Null", 200, `null`, hotline.ErrMalformed},
		{"EmptyArray", 200, `[]`, hotline.ErrMalformed},
		{"NoIDNoToken", 200, `[{"service_notice":"hi"}]`, hotline.ErrMalformed},
		{"Huge", 200, huge, hotline.ErrTooLarge},
		{"HugeError", 500, huge, hotline.ErrTooLarge},
		{"Empty", 200, ``, hotline.ErrMalformed},
		{"GatewayHTML", 502, `<html>bad gateway</html>`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			c := hotline.NewClient(srv.URL, "k", "", nil)
			ctx := context.Background()
			_, err := c.Create(ctx, feverCase())
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("Create: got %v, want %v", err, tc.want)
			}
			if !hotline.IsRetryable(err) {
				t.Errorf("Create: hotline.IsRetryable(%v) = false, want true", err)
			}
			// The other decoders must fail cleanly too (some bodies are valid for them).
			_, _ = c.Services(ctx)
			_, _ = c.Status(ctx, "1")
			_, _ = c.Lookup(ctx, "1")
			_, _ = c.ResolveToken(ctx, "t")
		})
	}
}

func TestStatusMalformed(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`[{"service_request_id":"1","status":"pending"}]`,
		`[{"service_request_id":"1","status":7}]`,
		`[{"status":"open"}]`,
		`[{"service_request_id":"1","status":"open","updated_datetime":false}]`,
	} {
		if _, err := hotline.DecodeStatuses([]byte(body)); !errors.Is(err, hotline.ErrMalformed) {
			t.Errorf("DecodeStatuses(%s): got %v, want ErrMalformed", body, err)
		}
	}
}

func TestCancelledContextNotRetryable(t *testing.T) {
	t.Parallel()
	_, c, _ := newSim(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Services(ctx)
	if err == nil || hotline.IsRetryable(err) {
		t.Errorf("got %v (retryable %v), want a non-retryable error", err, hotline.IsRetryable(err))
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`[{"service_request_id":"12345-000001","service_notice":"ok"}]`,
		`[{"token":"tok-1"}]`,
		`[{"service_request_id":123}]`,
		`[]`, `null`, `{}`, `[{"code":400,"description":"bad"}]`,
		`[{"service_request_id":"1","status":"closed","status_notes":"已办结","agency_responsible":"玉桥街道办事处"}]`,
		`[{"service_code":"mask","service_name":"口罩","metadata":false,"type":"realtime"}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := hotline.DecodeCreate(b); err == nil && r.ServiceRequestID == "" && r.Token == "" {
			t.Errorf("DecodeCreate(%q) accepted %+v with no id or token", b, r)
		}
		if id, err := hotline.DecodeToken(b); err == nil && id == "" {
			t.Errorf("DecodeToken(%q) accepted an empty id", b)
		}
		if cs, err := hotline.DecodeStatuses(b); err == nil {
			for _, c := range cs {
				if c.Status != hotline.StatusOpen && c.Status != hotline.StatusClosed {
					t.Errorf("DecodeStatuses(%q) accepted status %q", b, c.Status)
				}
			}
		}
		_, _ = hotline.DecodeServices(b)
		_, _ = hotline.DecodeError(500, b)
	})
}
