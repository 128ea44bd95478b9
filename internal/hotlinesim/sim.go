package hotlinesim

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/linli/linli/mutualaid/hotline"
)

// Services the simulator offers: one per item category, named in Chinese.
var simServices = []hotline.Service{
	{ServiceCode: "fever_reducer", ServiceName: "退烧药", Description: "布洛芬、对乙酰氨基酚等退烧药短缺", Group: "药品"},
	{ServiceCode: "antigen_test", ServiceName: "抗原检测试剂", Description: "新冠抗原检测试剂短缺", Group: "检测"},
	{ServiceCode: "thermometer", ServiceName: "体温计", Group: "器械"},
	{ServiceCode: "oximeter", ServiceName: "血氧仪", Group: "器械"},
	{ServiceCode: "cold_medicine", ServiceName: "感冒药", Group: "药品"},
	{ServiceCode: "electrolyte", ServiceName: "电解质补液", Group: "药品"},
	{ServiceCode: "disinfectant", ServiceName: "消毒用品", Group: "防护"},
	{ServiceCode: "mask", ServiceName: "口罩", Group: "防护"},
	{ServiceCode: "gloves", ServiceName: "手套", Group: "防护"},
	{ServiceCode: "baby", ServiceName: "婴幼儿用品", Group: "生活"},
	{ServiceCode: "food", ServiceName: "食品", Group: "生活"},
	{ServiceCode: "other", ServiceName: "其他", Group: "其他"},
}

// DefaultJurisdictions maps jurisdiction_id to the street office (or town
// government) that cases in it are dispatched to.
var DefaultJurisdictions = map[string]string{
	"yuqiao":   "玉桥街道办事处",
	"beiyuan":  "北苑街道办事处",
	"majuqiao": "马驹桥镇人民政府",
}

// SimCase is a case held by the simulator.
type SimCase struct {
	ID           string
	Token        string
	Jurisdiction string
	ServiceCode  string
	Address      string
	Description  string
	Phone        string // the caller's phone, if the case carried one
	Attributes   map[string]string
	Agency       string
	Requested    time.Time
}

// Sim is a GeoReport v2 server (an http.Handler, paths relative to its
// root: services.json, requests.json, requests/{id}.json, tokens/{token}.json).
// It dispatches each case to the street office of its jurisdiction and
// closes it ResolveAfter its creation. Failures can be injected at run time
// with FailNext, TimeoutNext, LoseNext and HoldNext, or, if Control is set,
// over HTTP (see ControlPath).
//
// GET requests.json without service_request_id searches as GeoReport v2
// says: by jurisdiction_id, service_code and status (each comma-separated
// lists), and start_date and end_date (RFC 3339, inclusive, compared with
// the case's creation time; without them the last 90 days, and at most
// hotline.MaxSearchSpan apart), answering at most the hotline.MaxSearchResults most recent
// matches, oldest first.
//
// Configure the exported fields before serving; the methods are safe for
// concurrent use.
type Sim struct {
	APIKey        string            // required api_key on POST; empty accepts any
	Jurisdictions map[string]string // jurisdiction_id → agency; nil means DefaultJurisdictions
	ResolveAfter  time.Duration     // open → closed after this long
	UseTokens     bool              // answer POST with a token instead of an id
	Now           func() time.Time  // clock; nil means time.Now
	Control       bool              // serve the control API under ControlPath

	once sync.Once
	mux  *http.ServeMux
	ctl  *http.ServeMux // control API, under ControlPath

	mu      sync.Mutex
	seq     int
	cases   map[string]*SimCase
	order   []string          // case ids, oldest first
	tokens  map[string]string // token → id
	fail    int               // next calls answered 500
	timeout int               // next calls that hang
	hang    time.Duration
	lose    int // next creates whose answer is lost
	hold    int // next creates held unanswered until the client goes away
	calls   int // GeoReport calls received (not control calls)
}

// FailNext makes the next n calls answer HTTP 500 with an error array.
func (s *Sim) FailNext(n int) { s.mu.Lock(); s.fail = n; s.mu.Unlock() }

// TimeoutNext makes the next n calls hang for d (or until the client
// goes away) without answering.
func (s *Sim) TimeoutNext(n int, d time.Duration) {
	s.mu.Lock()
	s.timeout, s.hang = n, d
	s.mu.Unlock()
}

// LoseNext makes the next n POST requests.json create their case and then
// close the connection without answering.
func (s *Sim) LoseNext(n int) { s.mu.Lock(); s.lose = n; s.mu.Unlock() }

// HoldNext makes the next n POST requests.json create their case and then
// hold the connection open, answering nothing, until the client goes away
// (as when the sender is killed while a POST is in flight). When it does,
// the connection is closed. Pending LoseNext failures are used up first.
func (s *Sim) HoldNext(n int) { s.mu.Lock(); s.hold = n; s.mu.Unlock() }

// Case returns a copy of the case with the given id.
func (s *Sim) Case(id string) (SimCase, bool) {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cases[id]
	if !ok {
		return SimCase{}, false
	}
	return copyCase(c), true
}

// Cases returns copies of every case held, oldest first.
func (s *Sim) Cases() []SimCase {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SimCase, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, copyCase(s.cases[id]))
	}
	return out
}

func copyCase(c *SimCase) SimCase {
	cp := *c
	cp.Attributes = maps.Clone(c.Attributes)
	return cp
}

// FindByAttribute returns the ids of cases whose attribute key equals value,
// oldest first. (Not part of GeoReport v2: for tests and demos.)
func (s *Sim) FindByAttribute(key, value string) []string {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, id := range s.order {
		if s.cases[id].Attributes[key] == value {
			ids = append(ids, id)
		}
	}
	return ids
}

// Calls returns how many GeoReport calls the simulator has received
// (answered, failed or held; not control calls). A test waits for it to
// grow to know that a client's loop has run.
func (s *Sim) Calls() int { s.init(); s.mu.Lock(); defer s.mu.Unlock(); return s.calls }

// Count returns how many cases the simulator holds.
func (s *Sim) Count() int { s.init(); s.mu.Lock(); defer s.mu.Unlock(); return len(s.cases) }

// add stores c as the newest case. REQUIRES: s.mu held.
// Seed stores c as if the hotline had created it at c.Requested (a past or
// future time), without a call: for tests that need cases the simulator
// did not make. An empty ID gets the next one ("12345-000001", …); nil
// Attributes become empty. It returns the id.
func (s *Sim) Seed(c SimCase) string {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.ID == "" {
		s.seq++
		c.ID = fmt.Sprintf("12345-%06d", s.seq)
	}
	if c.Attributes == nil {
		c.Attributes = map[string]string{}
	}
	s.add(&c)
	return c.ID
}

func (s *Sim) add(c *SimCase) {
	s.cases[c.ID] = c
	s.order = append(s.order, c.ID)
}

func (s *Sim) init() {
	s.once.Do(func() {
		s.cases = map[string]*SimCase{}
		s.tokens = map[string]string{}
		if s.Jurisdictions == nil {
			s.Jurisdictions = DefaultJurisdictions
		}
		m := http.NewServeMux()
		m.HandleFunc("GET /services.json", s.services)
		m.HandleFunc("POST /requests.json", s.create)
		m.HandleFunc("GET /requests.json", s.list)
		m.HandleFunc("GET /requests/{file}", s.lookup)
		m.HandleFunc("GET /tokens/{file}", s.token)
		m.HandleFunc("/", notFound)
		s.mux = m
		s.ctl = s.controlMux()
	})
}

func (s *Sim) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeErr(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
}

// ServeHTTP serves GeoReport v2, applying injected failures first. If
// Control is set, paths under ControlPath go to the control API instead,
// which no injected failure affects.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.init()
	if s.Control && strings.HasPrefix(r.URL.Path, ControlPath) {
		s.ctl.ServeHTTP(w, r)
		return
	}
	s.mu.Lock()
	s.calls++
	fail, hang := false, time.Duration(0)
	switch {
	case s.fail > 0:
		s.fail--
		fail = true
	case s.timeout > 0:
		s.timeout--
		hang = s.hang
	}
	s.mu.Unlock()
	if fail {
		writeErr(w, http.StatusInternalServerError, "服务暂时不可用")
		return
	}
	if hang > 0 {
		t := time.NewTimer(hang)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
		}
		abort(w)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// abort closes the connection without an answer.
func abort(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, desc string) {
	writeJSON(w, status, []hotline.APIErrorItem{{Code: status, Description: desc}})
}

func (s *Sim) checkJurisdiction(w http.ResponseWriter, j string) (agency string, ok bool) {
	if j == "" && len(s.Jurisdictions) == 1 {
		for _, a := range s.Jurisdictions {
			return a, true
		}
	}
	a, ok := s.Jurisdictions[j]
	if !ok {
		writeErr(w, http.StatusNotFound, fmt.Sprintf("jurisdiction_id %q not found", j))
		return "", false
	}
	return a, true
}

// dispatch picks the office a case goes to by its location, as the city's
// hotline does: the office whose street office or town the address names,
// else the jurisdiction's own.
func (s *Sim) dispatch(address, jurisdictionAgency string) string {
	for _, agency := range s.Jurisdictions {
		place := strings.TrimSuffix(strings.TrimSuffix(agency, "办事处"), "人民政府")
		if place != "" && strings.Contains(address, place) {
			return agency
		}
	}
	return jurisdictionAgency
}

func (s *Sim) services(w http.ResponseWriter, r *http.Request) {
	// Every jurisdiction offers the same services; jurisdiction_id is
	// optional here, but a given one must exist.
	if j := r.URL.Query().Get("jurisdiction_id"); j != "" {
		if _, ok := s.checkJurisdiction(w, j); !ok {
			return
		}
	}
	out := make([]hotline.Service, len(simServices))
	for i, sv := range simServices {
		sv.Type = "realtime"
		sv.Keywords = sv.ServiceName
		out[i] = sv
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) create(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeErr(w, http.StatusBadRequest, "bad form: "+err.Error())
		return
	}
	f := r.PostForm
	if s.APIKey != "" && f.Get("api_key") != s.APIKey {
		writeErr(w, http.StatusForbidden, "api_key 无效")
		return
	}
	agency, ok := s.checkJurisdiction(w, f.Get("jurisdiction_id"))
	if !ok {
		return
	}
	agency = s.dispatch(f.Get("address_string"), agency)
	code := f.Get("service_code")
	if !slices.ContainsFunc(simServices, func(sv hotline.Service) bool { return sv.ServiceCode == code }) {
		writeErr(w, http.StatusBadRequest, fmt.Sprintf("service_code %q 不存在", code))
		return
	}
	desc := f.Get("description")
	if strings.TrimSpace(desc) == "" {
		writeErr(w, http.StatusBadRequest, "description 不能为空")
		return
	}
	if utf8.RuneCountInString(desc) > hotline.MaxDescription {
		writeErr(w, http.StatusBadRequest, fmt.Sprintf("description 超过 %d 字", hotline.MaxDescription))
		return
	}
	attrs := map[string]string{}
	for k, v := range f {
		if strings.HasPrefix(k, "attribute[") && strings.HasSuffix(k, "]") && len(v) > 0 {
			attrs[k[len("attribute["):len(k)-1]] = v[0]
		}
	}
	s.mu.Lock()
	s.seq++
	c := &SimCase{
		ID:           fmt.Sprintf("12345-%06d", s.seq),
		Jurisdiction: f.Get("jurisdiction_id"),
		ServiceCode:  code,
		Address:      f.Get("address_string"),
		Description:  desc,
		Phone:        f.Get("phone"),
		Attributes:   attrs,
		Agency:       agency,
		Requested:    s.now(),
	}
	if s.UseTokens {
		c.Token = fmt.Sprintf("tok-%06d", s.seq)
		s.tokens[c.Token] = c.ID
	}
	s.add(c)
	lose, hold := s.lose > 0, s.lose == 0 && s.hold > 0
	if lose {
		s.lose--
	} else if hold {
		s.hold--
	}
	s.mu.Unlock()
	if hold {
		<-r.Context().Done()
	}
	if lose || hold {
		abort(w)
		return
	}
	res := hotline.CreateResult{ServiceNotice: "已受理，将派至" + agency + "办理"}
	if s.UseTokens {
		res.Token = c.Token
	} else {
		res.ServiceRequestID = c.ID
	}
	writeJSON(w, http.StatusCreated, []hotline.CreateResult{res})
}

// status renders a case as seen now. REQUIRES: s.mu held.
func (s *Sim) status(c *SimCase) hotline.CaseStatus {
	now := s.now()
	done := c.Requested.Add(s.ResolveAfter)
	cs := hotline.CaseStatus{
		ServiceRequestID:  c.ID,
		ServiceCode:       c.ServiceCode,
		Description:       c.Description,
		Address:           c.Address,
		AgencyResponsible: c.Agency,
		ServiceNotice:     "接诉即办",
		RequestedDatetime: c.Requested.Format(time.RFC3339),
		ExpectedDatetime:  done.Format(time.RFC3339),
	}
	if i := slices.IndexFunc(simServices, func(sv hotline.Service) bool { return sv.ServiceCode == c.ServiceCode }); i >= 0 {
		cs.ServiceName = simServices[i].ServiceName
	}
	if !now.Before(done) {
		cs.Status = hotline.StatusClosed
		cs.StatusNotes = "已办结：" + c.Agency + "已协调社区将物资送达居民"
		cs.UpdatedDatetime = done.Format(time.RFC3339)
	} else {
		cs.Status = hotline.StatusOpen
		cs.StatusNotes = "已派单至" + c.Agency + "，正在办理"
		cs.UpdatedDatetime = c.Requested.Format(time.RFC3339)
	}
	return cs
}

func (s *Sim) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if v := q.Get("service_request_id"); v != "" {
		// GeoReport v2: the other filters are ignored.
		s.listIDs(w, strings.Split(v, ","))
		return
	}
	f, err := parseSimFilter(q, s.now())
	if err != nil {
		writeErr(w, http.StatusBadRequest, err.Error())
		return
	}
	if f.jurisdiction != "" {
		if _, ok := s.checkJurisdiction(w, f.jurisdiction); !ok {
			return
		}
	}
	s.mu.Lock()
	out := []hotline.CaseStatus{}
	for _, id := range s.order {
		if c := s.cases[id]; f.match(c) {
			if cs := s.status(c); f.matchStatus(cs.Status) {
				out = append(out, cs)
			}
		}
	}
	s.mu.Unlock()
	if len(out) > hotline.MaxSearchResults {
		out = out[len(out)-hotline.MaxSearchResults:]
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) listIDs(w http.ResponseWriter, ids []string) {
	s.mu.Lock()
	out := []hotline.CaseStatus{}
	for _, id := range ids {
		if c, ok := s.cases[strings.TrimSpace(id)]; ok {
			out = append(out, s.status(c))
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) lookup(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("file"), ".json")
	if !ok {
		writeErr(w, http.StatusNotFound, "want requests/{id}.json")
		return
	}
	s.mu.Lock()
	c, found := s.cases[id]
	var cs hotline.CaseStatus
	if found {
		cs = s.status(c)
	}
	s.mu.Unlock()
	if !found {
		writeErr(w, http.StatusNotFound, fmt.Sprintf("service_request_id %q 不存在", id))
		return
	}
	writeJSON(w, http.StatusOK, []hotline.CaseStatus{cs})
}

func (s *Sim) token(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutSuffix(r.PathValue("file"), ".json")
	if !ok {
		writeErr(w, http.StatusNotFound, "want tokens/{token}.json")
		return
	}
	s.mu.Lock()
	id, found := s.tokens[tok]
	s.mu.Unlock()
	if !found {
		writeErr(w, http.StatusNotFound, fmt.Sprintf("token %q 不存在", tok))
		return
	}
	writeJSON(w, http.StatusOK, []map[string]string{{"service_request_id": id, "token": tok}})
}
