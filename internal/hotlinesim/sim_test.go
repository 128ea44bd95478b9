package hotlinesim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid/hotline"
)

// ids lists the service_request_ids of cs.
func ids(cs []hotline.CaseStatus) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.ServiceRequestID)
	}
	return out
}

func TestSearch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sim, c, clk := newSim(t, nil)
	t0 := clk.Now()
	seedCases(sim, 1, "fever_reducer", "很久以前", t0.Add(-100*24*time.Hour)) // 000001: over 90 days ago
	seedCases(sim, 1, "fever_reducer", "一小时前", t0.Add(-time.Hour))        // 000002: closed by now
	seedCases(sim, 1, "mask", "口罩", t0.Add(-time.Minute))                 // 000003
	seedCases(sim, 1, "fever_reducer", "刚才", t0)                          // 000004
	for _, tc := range []struct {
		name string
		q    hotline.SearchQuery
		want []string
	}{
		{"Defaults", hotline.SearchQuery{}, []string{"12345-000002", "12345-000003", "12345-000004"}},
		{"ServiceCode", hotline.SearchQuery{ServiceCode: "fever_reducer"}, []string{"12345-000002", "12345-000004"}},
		{"ServiceCodes", hotline.SearchQuery{ServiceCode: "mask,oximeter"}, []string{"12345-000003"}},
		{"Open", hotline.SearchQuery{Status: hotline.StatusOpen}, []string{"12345-000003", "12345-000004"}},
		{"Closed", hotline.SearchQuery{Status: hotline.StatusClosed}, []string{"12345-000002"}},
		{"Both", hotline.SearchQuery{Status: "open,closed", ServiceCode: "fever_reducer"}, []string{"12345-000002", "12345-000004"}},
		{"Range", hotline.SearchQuery{Start: t0.Add(-2 * time.Hour), End: t0.Add(-time.Minute)}, []string{"12345-000002", "12345-000003"}},
		{"RangeInclusive", hotline.SearchQuery{Start: t0.Add(-time.Hour), End: t0.Add(-time.Hour)}, []string{"12345-000002"}},
		{"StartOnly", hotline.SearchQuery{Start: t0.Add(-101 * 24 * time.Hour)}, []string{"12345-000001"}},
		{"EndOnly", hotline.SearchQuery{End: t0.Add(-time.Minute)}, []string{"12345-000002", "12345-000003"}},
		{"Empty", hotline.SearchQuery{ServiceCode: "baby"}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := c.Search(ctx, tc.q)
			if err != nil {
				t.Fatalf("Search: %v", err)
			}
			if got := ids(cs); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	cs, err := c.Search(ctx, hotline.SearchQuery{ServiceCode: "mask"})
	if err != nil || len(cs) != 1 || cs[0].Description != "口罩" || cs[0].RequestedDatetime == "" {
		t.Errorf("got %+v, %v; want the case with its description and requested_datetime", cs, err)
	}
}

func TestSearchJurisdiction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sim := &Sim{APIKey: "demo"}
	srv := httptest.NewServer(http.StripPrefix("/open311/v2", sim))
	t.Cleanup(srv.Close)
	base := srv.URL + "/open311/v2"
	c := hotline.NewClient(base, "demo", "yuqiao", nil)
	if _, err := c.Create(ctx, feverCase()); err != nil {
		t.Fatal(err)
	}
	other := hotline.NewClient(base, "demo", "beiyuan", nil)
	if cs, err := other.Search(ctx, hotline.SearchQuery{}); err != nil || len(cs) != 0 {
		t.Errorf("beiyuan: got %v, %v; want no cases of yuqiao", ids(cs), err)
	}
	if _, err := hotline.NewClient(base, "demo", "atlantis", nil).Search(ctx, hotline.SearchQuery{}); !errors.As(err, new(*hotline.APIError)) {
		t.Errorf("unknown jurisdiction: got %v, want *APIError", err)
	}
	if cs, err := c.Search(ctx, hotline.SearchQuery{}); err != nil || len(cs) != 1 || sim.Count() != 1 {
		t.Errorf("yuqiao: got %v, %v; want its case", ids(cs), err)
	}
}

func TestSearchAtMost1000(t *testing.T) {
	t.Parallel()
	sim, c, clk := newSim(t, nil)
	seedCases(sim, 1, "food", "最早", clk.Now().Add(-time.Minute))
	seedCases(sim, hotline.MaxSearchResults, "food", "后来", clk.Now())
	cs, err := c.Search(context.Background(), hotline.SearchQuery{ServiceCode: "food"})
	if err != nil || len(cs) != hotline.MaxSearchResults {
		t.Fatalf("got %d cases, %v; want %d", len(cs), err, hotline.MaxSearchResults)
	}
	if cs[0].ServiceRequestID != "12345-000002" {
		t.Errorf("first case %s, want the oldest of the most recent 1000 (12345-000002)", cs[0].ServiceRequestID)
	}
}

func TestSearchRefusedBeforeSending(t *testing.T) {
	t.Parallel()
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls++ }))
	t.Cleanup(srv.Close)
	c := hotline.NewClient(srv.URL, "", "", nil)
	t0 := time.Date(2022, 12, 18, 0, 0, 0, 0, time.UTC)
	for _, q := range []hotline.SearchQuery{
		{Status: "pending"},
		{Status: "open,"},
		{Start: t0, End: t0.Add(-time.Second)},
		{Start: t0, End: t0.Add(hotline.MaxSearchSpan + time.Second)},
	} {
		if _, err := c.Search(context.Background(), q); !errors.Is(err, hotline.ErrInvalid) {
			t.Errorf("Search(%+v): got %v, want ErrInvalid", q, err)
		}
	}
	if calls != 0 {
		t.Errorf("server saw %d requests, want 0", calls)
	}
}

func TestSearchQueryEncoding(t *testing.T) {
	t.Parallel()
	got := make(chan url.Values, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.Query()
		w.Write([]byte(`[]`))
	}))
	t.Cleanup(srv.Close)
	cst := time.FixedZone("CST", 8*3600)
	_, err := hotline.NewClient(srv.URL, "key", "yuqiao", nil).Search(context.Background(), hotline.SearchQuery{
		ServiceCode: "fever_reducer", Status: hotline.StatusOpen,
		Start: time.Date(2022, 12, 18, 22, 40, 0, 500, cst), End: time.Date(2022, 12, 19, 0, 40, 0, 500, cst),
	})
	if err != nil {
		t.Fatal(err)
	}
	q := <-got
	for k, want := range map[string]string{
		"jurisdiction_id": "yuqiao", "service_code": "fever_reducer", "status": "open",
		"start_date": "2022-12-18T14:40:00Z", "end_date": "2022-12-18T16:40:01Z",
	} {
		if q.Get(k) != want {
			t.Errorf("%s: got %q, want %q", k, q.Get(k), want)
		}
	}
}

// TestSimSearchBadInput: the simulator answers bad search parameters with a
// 400 error array.
func TestSimSearchBadInput(t *testing.T) {
	t.Parallel()
	sim := &Sim{}
	for _, q := range []string{
		"start_date=yesterday",
		"end_date=2022-12-18",
		"start_date=2022-12-18T00:00:00Z&end_date=2022-12-17T00:00:00Z",
		"start_date=2022-01-01T00:00:00Z&end_date=2022-12-17T00:00:00Z",
		"status=pending",
	} {
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, httptest.NewRequest("GET", "/requests.json?jurisdiction_id=yuqiao&"+q, nil))
		if ok := isErrorArray(rec.Body.Bytes()); rec.Code != 400 || !ok {
			t.Errorf("%s: got %d %s, want 400 with an error array", q, rec.Code, rec.Body)
		}
	}
}

func TestHoldNext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sim, c, _ := newSim(t, nil)
	sim.HoldNext(1)
	start := time.Now()
	_, err := c.Create(ctx, feverCase())
	if err == nil || !hotline.IsRetryable(err) || errors.As(err, new(*hotline.APIError)) {
		t.Fatalf("held create: got %v, want a retryable transport error", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("answered after %v; want it held until the client's 300ms timeout", d)
	}
	if sim.Count() != 1 {
		t.Fatalf("sim holds %d cases, want the one created before holding", sim.Count())
	}
	if res, err := c.Create(ctx, feverCase()); err != nil || res.ServiceRequestID != "12345-000002" {
		t.Errorf("next create: got %+v, %v; want it answered", res, err)
	}
}

func TestCases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sim, c, clk := newSim(t, nil)
	for _, code := range []string{"mask", "food", "baby"} {
		req := feverCase()
		req.ServiceCode = code
		if _, err := c.Create(ctx, req); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
	}
	cs := sim.Cases()
	var codes []string
	for _, sc := range cs {
		codes = append(codes, sc.ServiceCode)
	}
	if want := []string{"mask", "food", "baby"}; !slices.Equal(codes, want) {
		t.Fatalf("got %v, want %v (oldest first)", codes, want)
	}
	cs[0].Attributes["urgency"] = "changed"
	cs[0].Description = "changed"
	if again := sim.Cases(); again[0].Attributes["urgency"] != "urgent" || again[0].Description == "changed" {
		t.Errorf("changing a returned case changed the sim: %+v", again[0])
	}
}

// newControlSim serves a Sim with Control set at the root of a test server.
func newControlSim(t *testing.T, control bool) (*Sim, string) {
	t.Helper()
	sim := &Sim{APIKey: "demo", ResolveAfter: time.Hour, Control: control}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return sim, srv.URL
}

func postForm(t *testing.T, u string, form url.Values) (int, []byte) {
	t.Helper()
	res, err := http.PostForm(u, form)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func get(t *testing.T, u string) (int, []byte) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func TestControl(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("FaultsSkipControl", func(t *testing.T) {
		t.Parallel()
		_, base := newControlSim(t, true)
		c := hotline.NewClient(base, "demo", "yuqiao", &http.Client{Timeout: 300 * time.Millisecond})
		code, body := postForm(t, base+"/sim/v1/faults?fail=2", url.Values{"lose": {"1"}})
		var f ControlFaults
		if err := json.Unmarshal(body, &f); code != 200 || err != nil || f.Fail != 2 || f.Lose != 1 {
			t.Fatalf("POST faults: %d %s; want fail 2, lose 1", code, body)
		}
		for range 3 { // control calls do not use up the failures
			if code, body := get(t, base+"/sim/v1/cases"); code != 200 || string(body) != "[]\n" {
				t.Fatalf("GET cases while failing: %d %s, want 200 []", code, body)
			}
		}
		for i := range 2 {
			if _, err := c.Create(ctx, feverCase()); !errors.As(err, new(*hotline.APIError)) {
				t.Fatalf("create %d: got %v, want the injected 500", i, err)
			}
		}
		if _, err := c.Create(ctx, feverCase()); err == nil || errors.As(err, new(*hotline.APIError)) {
			t.Fatalf("third create: got %v, want the answer lost", err)
		}
		if _, err := c.Create(ctx, feverCase()); err != nil {
			t.Fatalf("fourth create: %v", err)
		}
		code, body = get(t, base+"/sim/v1/faults")
		if err := json.Unmarshal(body, &f); code != 200 || err != nil || f != (ControlFaults{Hang: "0s"}) {
			t.Errorf("GET faults after they ran out: %d %s", code, body)
		}
	})

	t.Run("Cases", func(t *testing.T) {
		t.Parallel()
		_, base := newControlSim(t, true)
		c := hotline.NewClient(base, "demo", "yuqiao", nil)
		if _, err := c.Create(ctx, feverCase()); err != nil {
			t.Fatal(err)
		}
		code, body := get(t, base+"/sim/v1/cases")
		var raw []map[string]any
		if err := json.Unmarshal(body, &raw); code != 200 || err != nil || len(raw) != 1 {
			t.Fatalf("GET cases: %d %s", code, body)
		}
		for _, k := range []string{"id", "service_code", "description", "address", "agency", "requested", "attributes"} {
			if _, ok := raw[0][k]; !ok {
				t.Errorf("case lacks %q: %s", k, body)
			}
		}
		var cs []ControlCase
		if err := json.Unmarshal(body, &cs); err != nil || cs[0].ID != "12345-000001" || cs[0].Agency != "玉桥街道办事处" ||
			cs[0].Attributes["urgency"] != "urgent" || cs[0].Requested.IsZero() {
			t.Errorf("GET cases: %s (%v)", body, err)
		}
	})

	t.Run("Timeout", func(t *testing.T) {
		t.Parallel()
		_, base := newControlSim(t, true)
		c := hotline.NewClient(base, "demo", "yuqiao", &http.Client{Timeout: 200 * time.Millisecond})
		if code, body := postForm(t, base+"/sim/v1/faults", url.Values{"timeout": {"1"}, "hang": {"5s"}}); code != 200 {
			t.Fatalf("POST faults: %d %s", code, body)
		}
		if _, err := c.Services(ctx); err == nil || !hotline.IsRetryable(err) {
			t.Errorf("got %v, want a timeout", err)
		}
		if _, err := c.Services(ctx); err != nil {
			t.Errorf("after the timeout: %v", err)
		}
	})

	t.Run("Hold", func(t *testing.T) {
		t.Parallel()
		sim, base := newControlSim(t, true)
		c := hotline.NewClient(base, "demo", "yuqiao", &http.Client{Timeout: 200 * time.Millisecond})
		if code, body := postForm(t, base+"/sim/v1/faults", url.Values{"hold": {"1"}}); code != 200 {
			t.Fatalf("POST faults: %d %s", code, body)
		}
		if _, err := c.Create(ctx, feverCase()); err == nil || sim.Count() != 1 {
			t.Errorf("got %v and %d cases, want the case created and no answer", err, sim.Count())
		}
	})

	t.Run("BadValues", func(t *testing.T) {
		t.Parallel()
		sim, base := newControlSim(t, true)
		sim.FailNext(1)
		for _, q := range []string{
			"fail=-1", "fail=x", "fail=", "lose=1.5", "hang=abc", "hang=-1s", "timeout=1",
			"bogus=1", "fail=1&fail=2", "lose=1&hang=nope", "lose=1&timeout=1", "hold=99999999999999999999",
		} {
			code, body := postForm(t, base+"/sim/v1/faults?"+q, nil)
			if ok := isErrorArray(body); code != 400 || !ok {
				t.Errorf("%s: got %d %s, want 400 with an error array", q, code, body)
			}
		}
		sim.mu.Lock()
		f := sim.faults()
		sim.mu.Unlock()
		if f != (ControlFaults{Fail: 1, Hang: "0s"}) {
			t.Errorf("bad values changed the faults: %+v", f)
		}
	})

	t.Run("Off", func(t *testing.T) {
		t.Parallel()
		sim, base := newControlSim(t, false)
		if code, body := postForm(t, base+"/sim/v1/faults", url.Values{"fail": {"1"}}); code != 404 {
			t.Errorf("POST faults with Control off: %d %s, want 404", code, body)
		}
		sim.mu.Lock()
		defer sim.mu.Unlock()
		if sim.fail != 0 {
			t.Errorf("faults set with Control off: fail=%d", sim.fail)
		}
	})
}

// isErrorArray reports whether body is a GeoReport v2 error array.
func isErrorArray(body []byte) bool {
	var items []hotline.APIErrorItem
	return json.Unmarshal(body, &items) == nil && len(items) > 0
}

// newSim starts a simulator and a client pointed at it.
func newSim(t *testing.T, mod func(*Sim)) (*Sim, *hotline.Client, *linlitest.Clock) {
	t.Helper()
	clk := linlitest.NewClock(time.Date(2022, 12, 18, 23, 40, 0, 0, time.FixedZone("CST", 8*3600)))
	sim := &Sim{APIKey: "demo", ResolveAfter: 30 * time.Minute, Now: clk.Now}
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

// seedCases stores n cases directly in sim, all requested at at.
func seedCases(sim *Sim, n int, code, desc string, at time.Time) {
	for range n {
		sim.Seed(SimCase{Jurisdiction: "yuqiao", ServiceCode: code, Description: desc, Agency: "玉桥街道办事处", Requested: at})
	}
}
