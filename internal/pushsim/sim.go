// Package pushsim is a push gateway simulator speaking the Matrix Push
// Gateway API (POST /_matrix/push/v1/notify), for demos and tests: it
// records every notification it takes, flags copies of an event_id it has
// already taken (a real gateway drops them), and can be told to fail,
// hang, lose its answers or reject push keys. It stands where an
// operator's gateway (Sygnal, or one speaking to APNs, FCM or a phone
// maker's push service) would.
package pushsim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/linli/linli/mutualaid/notify"
)

// ControlPath is where a Sim serves its control API. No injected failure
// affects it. Its endpoints:
//
//	POST faults         sets the failures to inject from form or query values:
//	                    fail=N (answer 503 to the next N notifications), hang=DURATION
//	                    (hold the next one that long, or until the sender gives up),
//	                    lose=N (take the next N, then cut the connection before
//	                    answering), hold=N (take the next N and never answer, until
//	                    the sender gives up or dies), reject=KEY (answer that push key as rejected;
//	                    repeatable), accept=KEY (stop rejecting it). Answers the
//	                    Faults now set; a bad value answers 400 and changes nothing.
//	GET  faults         answers the Faults pending.
//	GET  notifications  answers every notification taken, oldest first, as
//	                    []Received.
const ControlPath = "/sim/v1/"

// Faults are the injected failures still to come.
type Faults struct {
	Fail   int      `json:"fail"`
	Hang   string   `json:"hang"`
	Lose   int      `json:"lose"`
	Hold   int      `json:"hold"`
	Reject []string `json:"reject"`
}

// Received is a notification the simulator took, as the control API
// reports it.
type Received struct {
	At      time.Time `json:"at"`
	EventID string    `json:"event_id"`
	Type    string    `json:"type"`
	Prio    string    `json:"prio"`
	Count   int       `json:"count"`
	AppID   string    `json:"app_id"`
	Pushkey string    `json:"pushkey"`
	Lang    string    `json:"lang"`
	// Duplicate is set on a copy of an event_id taken before: a gateway
	// shows it once.
	Duplicate bool `json:"duplicate"`
	// Rejected is set when the push key was answered as rejected.
	Rejected bool `json:"rejected"`
	// Lost is set when the answer was cut (lose) or held back (hold).
	Lost bool `json:"lost"`
	// Body is the request body as it arrived.
	Body json.RawMessage `json:"body"`
}

// Sim is the simulator. The zero value is ready; it is safe for concurrent
// use. Serve it at the root of a listener: it answers NotifyPath and, if
// Control is set, ControlPath.
type Sim struct {
	// Control serves the control API.
	Control bool
	// OnReceive, if set, is told of every notification taken (e.g. to print
	// it).
	OnReceive func(Received)

	mu       sync.Mutex
	fail     int
	hang     time.Duration
	lose     int
	hold     int
	reject   map[string]bool
	received []Received
	seen     map[string]bool
}

// maxBody bounds a notification's body.
const maxBody = 64 << 10

// ServeHTTP serves the push gateway and the control API.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == notify.NotifyPath && r.Method == http.MethodPost:
		s.notify(w, r)
	case s.Control && r.URL.Path == ControlPath+"faults" && r.Method == http.MethodPost:
		s.setFaults(w, r)
	case s.Control && r.URL.Path == ControlPath+"faults" && r.Method == http.MethodGet:
		s.mu.Lock()
		f := s.faults()
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, f)
	case s.Control && r.URL.Path == ControlPath+"notifications" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, s.Received())
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"errcode": "M_UNRECOGNIZED", "error": "not found"})
	}
}

// Received returns every notification taken, oldest first.
func (s *Sim) Received() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Received, len(s.received))
	copy(out, s.received)
	return out
}

func (s *Sim) notify(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"errcode": "M_BAD_JSON", "error": err.Error()})
		return
	}
	var req notify.GatewayRequest
	if err := json.Unmarshal(body, &req); err != nil || len(req.Notification.Devices) == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"errcode": "M_BAD_JSON", "error": "want a notification with devices"})
		return
	}
	s.mu.Lock()
	if s.fail > 0 {
		s.fail--
		s.mu.Unlock()
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"errcode": "M_UNKNOWN", "error": "injected failure"})
		return
	}
	hang := s.hang
	s.hang = 0
	s.mu.Unlock()
	if hang > 0 {
		select {
		case <-time.After(hang):
		case <-r.Context().Done():
			return // the sender gave up: nothing taken
		}
	}
	s.mu.Lock()
	lose, hold := s.lose > 0, s.lose == 0 && s.hold > 0
	switch {
	case lose:
		s.lose--
	case hold:
		s.hold--
	}
	n := req.Notification
	var rejected []string
	var taken []Received
	for _, d := range n.Devices {
		rec := Received{At: time.Now(), EventID: n.EventID, Type: n.Type, Prio: n.Prio, Count: n.Counts.Unread,
			AppID: d.AppID, Pushkey: d.Pushkey, Lang: d.Data["lang"], Duplicate: s.seen[n.EventID],
			Rejected: s.reject[d.Pushkey], Lost: lose || hold, Body: body}
		if rec.Rejected {
			rejected = append(rejected, d.Pushkey)
		}
		s.received = append(s.received, rec)
		taken = append(taken, rec)
	}
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	s.seen[n.EventID] = true
	s.mu.Unlock()
	if s.OnReceive != nil {
		for _, rec := range taken {
			s.OnReceive(rec)
		}
	}
	if hold {
		<-r.Context().Done() // taken; the answer never comes
		return
	}
	if lose {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
			return
		}
		panic(http.ErrAbortHandler) // HTTP/2: abort the stream
	}
	writeJSON(w, http.StatusOK, notify.GatewayResponse{Rejected: append([]string{}, rejected...)})
}

// faults reports the pending failures. REQUIRES: s.mu held.
func (s *Sim) faults() Faults {
	f := Faults{Fail: s.fail, Hang: s.hang.String(), Lose: s.lose, Hold: s.hold, Reject: []string{}}
	for k, on := range s.reject {
		if on {
			f.Reject = append(f.Reject, k)
		}
	}
	return f
}

func (s *Sim) setFaults(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string][]string{"errors": {err.Error()}})
		return
	}
	fail, hang, lose, hold, errs := parseFaults(r.Form)
	if len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string][]string{"errors": errs})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if fail != nil {
		s.fail = *fail
	}
	if hang != nil {
		s.hang = *hang
	}
	if lose != nil {
		s.lose = *lose
	}
	if hold != nil {
		s.hold = *hold
	}
	if s.reject == nil {
		s.reject = map[string]bool{}
	}
	for _, k := range r.Form["reject"] {
		s.reject[k] = true
	}
	for _, k := range r.Form["accept"] {
		delete(s.reject, k)
	}
	writeJSON(w, http.StatusOK, s.faults())
}

func parseFaults(v url.Values) (fail *int, hang *time.Duration, lose, hold *int, errs []string) {
	count := func(name string) *int {
		if !v.Has(name) {
			return nil
		}
		n, err := strconv.Atoi(v.Get(name))
		if err != nil || n < 0 {
			errs = append(errs, fmt.Sprintf("%s=%q: want a count ≥ 0", name, v.Get(name)))
			return nil
		}
		return &n
	}
	fail, lose, hold = count("fail"), count("lose"), count("hold")
	if v.Has("hang") {
		d, err := time.ParseDuration(v.Get("hang"))
		if err != nil || d < 0 {
			errs = append(errs, fmt.Sprintf("hang=%q: want a duration such as 30s", v.Get("hang")))
		} else {
			hang = &d
		}
	}
	for name := range v {
		switch name {
		case "fail", "hang", "lose", "hold", "reject", "accept":
		default:
			errs = append(errs, fmt.Sprintf("unknown fault %q", name))
		}
	}
	return fail, hang, lose, hold, errs
}

// HoldNext makes the simulator take the next n notifications and never
// answer them (a server killed mid-send sees no answer).
func (s *Sim) HoldNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold = n
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Wait blocks until cond holds for the notifications taken, or ctx ends.
func (s *Sim) Wait(ctx context.Context, cond func([]Received) bool) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !cond(s.Received()) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
