package hotlinesim

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ControlPath is where a Sim with Control set serves its control API,
// relative to wherever the Sim is mounted (`linli hotline-sim` mounts the
// Sim at /sim/v1/ for it, beside /open311/v2/). No injected failure
// affects it. Its endpoints:
//
//	POST faults  sets the injected failures from form or query values
//	             fail=N, timeout=N, hang=DURATION, lose=N and hold=N (as
//	             FailNext, TimeoutNext, LoseNext and HoldNext; values not
//	             given are kept) and answers the ControlFaults now set.
//	             A bad or unknown value answers 400 with an error array
//	             and changes nothing.
//	GET  faults  answers the ControlFaults pending.
//	GET  cases   answers every case held, oldest first, as []ControlCase.
const ControlPath = "/sim/v1/"

// ControlFaults is the injected failures still to come, as the control API
// reports them. Hang is a Go duration ("30s").
type ControlFaults struct {
	Fail    int    `json:"fail"`
	Timeout int    `json:"timeout"`
	Hang    string `json:"hang"`
	Lose    int    `json:"lose"`
	Hold    int    `json:"hold"`
}

// ControlCase is a case held by the simulator, as the control API reports
// it. Attributes is never null.
type ControlCase struct {
	ID          string            `json:"id"`
	ServiceCode string            `json:"service_code"`
	Description string            `json:"description"`
	Address     string            `json:"address"`
	Agency      string            `json:"agency"`
	Requested   time.Time         `json:"requested"`
	Attributes  map[string]string `json:"attributes"`
}

func (s *Sim) controlMux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("POST "+ControlPath+"faults", s.setFaults)
	m.HandleFunc("GET "+ControlPath+"faults", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		f := s.faults()
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, f)
	})
	m.HandleFunc("GET "+ControlPath+"cases", s.controlCases)
	m.HandleFunc("/", notFound)
	return m
}

// faults reports the pending failures. REQUIRES: s.mu held.
func (s *Sim) faults() ControlFaults {
	return ControlFaults{Fail: s.fail, Timeout: s.timeout, Hang: s.hang.String(), Lose: s.lose, Hold: s.hold}
}

// counters maps the control API's names to the fault counters.
// REQUIRES: s.mu held while the pointers are used.
func (s *Sim) counters() map[string]*int {
	return map[string]*int{"fail": &s.fail, "timeout": &s.timeout, "lose": &s.lose, "hold": &s.hold}
}

// faultUpdate is a parsed POST faults: the values given.
type faultUpdate struct {
	counts map[string]int
	hang   *time.Duration
}

func parseFaults(v url.Values) (faultUpdate, error) {
	u := faultUpdate{counts: map[string]int{}}
	for k, vs := range v {
		if len(vs) != 1 {
			return faultUpdate{}, fmt.Errorf("%s: give it once", k)
		}
		switch k {
		case "fail", "timeout", "lose", "hold":
			n, err := strconv.Atoi(vs[0])
			if err != nil || n < 0 {
				return faultUpdate{}, fmt.Errorf("%s=%q: want a count, 0 or more", k, vs[0])
			}
			u.counts[k] = n
		case "hang":
			d, err := time.ParseDuration(vs[0])
			if err != nil || d < 0 {
				return faultUpdate{}, fmt.Errorf("hang=%q: want a duration such as 30s", vs[0])
			}
			u.hang = &d
		default:
			return faultUpdate{}, fmt.Errorf("unknown fault %q: want fail, timeout, hang, lose or hold", k)
		}
	}
	return u, nil
}

func (s *Sim) setFaults(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeErr(w, http.StatusBadRequest, "bad form: "+err.Error())
		return
	}
	u, err := parseFaults(r.Form)
	if err != nil {
		writeErr(w, http.StatusBadRequest, err.Error())
		return
	}
	f, err := s.applyFaults(u)
	if err != nil {
		writeErr(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, f)
}

// applyFaults sets the values in u, all or none, and returns the faults
// now pending.
//
// Errors: timeouts pending with no hang to apply.
func (s *Sim) applyFaults(u faultUpdate) (ControlFaults, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hang, timeout := s.hang, s.timeout
	if u.hang != nil {
		hang = *u.hang
	}
	if n, ok := u.counts["timeout"]; ok {
		timeout = n
	}
	if timeout > 0 && hang <= 0 {
		return ControlFaults{}, fmt.Errorf("timeout=%d needs hang, e.g. hang=30s", timeout)
	}
	ptrs := s.counters()
	for k, n := range u.counts {
		*ptrs[k] = n
	}
	s.hang = hang
	return s.faults(), nil
}

func (s *Sim) controlCases(w http.ResponseWriter, _ *http.Request) {
	cs := s.Cases()
	out := make([]ControlCase, len(cs))
	for i, c := range cs {
		attrs := c.Attributes
		if attrs == nil {
			attrs = map[string]string{}
		}
		out[i] = ControlCase{ID: c.ID, ServiceCode: c.ServiceCode, Description: c.Description,
			Address: c.Address, Agency: c.Agency, Requested: c.Requested, Attributes: attrs}
	}
	writeJSON(w, http.StatusOK, out)
}
