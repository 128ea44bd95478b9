package pushsim_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/linli/linli/internal/pushsim"
	"github.com/linli/linli/mutualaid/notify"
)

// TestSim: linli's own gateway client against the simulator: a failure is
// an error to retry, a lost answer an error although the notification was
// taken (its copy is flagged duplicate), a rejected key is reported, and a
// hang holds the answer.
func TestSim(t *testing.T) {
	t.Parallel()
	sim := &pushsim.Sim{Control: true}
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	gw := &notify.Gateway{URL: ts.URL, Client: ts.Client()}
	p := notify.Pusher{Kind: notify.KindHTTP, AppID: "org.linli.app.ios", Pushkey: "key-1", Lang: "zh-CN"}
	n := notify.Notification{ID: strings.Repeat("ab", 16), Type: notify.TypeSuggestion, Count: 2}
	ctx := t.Context()

	faults := func(form url.Values) {
		t.Helper()
		res, err := http.PostForm(ts.URL+pushsim.ControlPath+"faults", form)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("POST faults %v: %v %v", form, res, err)
		}
		res.Body.Close()
	}
	faults(url.Values{"fail": {"1"}, "lose": {"1"}})
	if _, err := gw.Send(ctx, p, n); err == nil {
		t.Fatal("injected failure: no error")
	}
	if got := sim.Received(); len(got) != 0 {
		t.Fatalf("a failed notification was recorded: %v", got)
	}
	if _, err := gw.Send(ctx, p, n); err == nil {
		t.Fatal("lost answer: no error")
	}
	if rejected, err := gw.Send(ctx, p, n); err != nil || rejected {
		t.Fatalf("resend: rejected %v, %v", rejected, err)
	}
	got := sim.Received()
	if len(got) != 2 || !got[0].Lost || got[0].Duplicate || !got[1].Duplicate || got[1].EventID != n.ID || got[1].Count != 2 || got[1].Pushkey != "key-1" {
		t.Fatalf("received %+v: want the lost one, then its duplicate", got)
	}

	faults(url.Values{"reject": {"key-1"}})
	if rejected, err := gw.Send(ctx, p, notify.Notification{ID: strings.Repeat("cd", 16), Type: notify.TypeEmergency, Count: 1}); err != nil || !rejected {
		t.Fatalf("rejected key: rejected %v, %v", rejected, err)
	}

	faults(url.Values{"hang": {"5s"}})
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := gw.Send(short, p, n); err == nil {
		t.Fatal("hang: no timeout")
	}

	res, err := http.PostForm(ts.URL+pushsim.ControlPath+"faults", url.Values{"fail": {"-1"}})
	if err != nil || res.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad fault: %v %v", res, err)
	}
	res.Body.Close()
}
