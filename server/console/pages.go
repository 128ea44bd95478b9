package console

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// Page sizes.
const (
	queuePageSize   = 50
	casesPageSize   = 50
	membersPageSize = 100
)

// pager is the position of a paged list.
type pager struct {
	Page, Pages, Total int
	Prev, Next         string // links, "" at the ends
}

func newPager(path string, q url.Values, page, size, total int) pager {
	pages := max(1, (total+size-1)/size)
	p := pager{Page: page, Pages: pages, Total: total}
	link := func(n int) string {
		v := url.Values{}
		for k, vs := range q {
			if k != "page" && k != "ok" && k != "lang" {
				v[k] = vs
			}
		}
		v.Set("page", fmt.Sprint(n))
		return path + "?" + v.Encode()
	}
	if page > 1 {
		p.Prev = link(page - 1)
	}
	if page < pages {
		p.Next = link(page + 1)
	}
	return p
}

// pageNumber reads ?page= (1 if absent).
func pageNumber(r *http.Request) int { return max(1, atoi(r.URL.Query().Get("page"))) }

// buildingNames maps the community's building ids to their names.
func (c *Console) buildingNames(r *http.Request, p *page) (map[string]string, []*linliv1.Building, error) {
	bs, err := c.svc.Buildings(r.Context(), p.Actor, p.Community.GetId())
	if err != nil {
		return nil, nil, err
	}
	names := make(map[string]string, len(bs))
	for _, b := range bs {
		names[b.GetId()] = b.GetName()
	}
	return names, bs, nil
}

// queueData is the queue as the live part of the page shows it.
func (c *Console) queueData(r *http.Request, p *page) (map[string]any, error) {
	ctx, id := r.Context(), p.Community.GetId()
	n := pageNumber(r)
	waiting, err := c.svc.StaffQueue(ctx, p.Actor, mutualaid.QueueQuery{
		Community: id, Filter: mutualaid.QueueWaiting, Offset: (n - 1) * queuePageSize, Limit: queuePageSize,
	})
	if err != nil {
		return nil, err
	}
	stuck, err := c.svc.StaffQueue(ctx, p.Actor, mutualaid.QueueQuery{Community: id, Filter: mutualaid.QueueStuck, Limit: queuePageSize})
	if err != nil {
		return nil, err
	}
	emergencies, err := c.svc.Emergencies(ctx, p.Actor, id)
	if err != nil {
		return nil, err
	}
	names, _, err := c.buildingNames(r, p)
	if err != nil {
		return nil, err
	}
	notice := waiting.HotlineNotice
	return map[string]any{
		"Waiting": waiting.Entries, "Stuck": stuck.Entries, "StuckTotal": stuck.Total, "Emergencies": emergencies,
		"NoHotline": notice == mutualaid.NoHotlineReason, "Notice": notice, "BuildingNames": names,
		"Pager":   newPager(p.Base+"queue", r.URL.Query(), n, queuePageSize, waiting.Total),
		"ListURL": p.Base + "queue/list?page=" + fmt.Sprint(n), "LiveURL": p.Base + "live",
	}, nil
}

// queuePage: overdue requests most urgent first, emergencies on top, stuck
// cases, and the hotline's notice; kept live (see live.go).
func (c *Console) queuePage(w http.ResponseWriter, r *http.Request, p *page) {
	d, err := c.queueData(r, p)
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	p.Title = "queue.title"
	c.render(w, r, p, http.StatusOK, "queue", d)
}

// queueList is the queue's live part alone, fetched again on every change.
func (c *Console) queueList(w http.ResponseWriter, r *http.Request, p *page) {
	d, err := c.queueData(r, p)
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	c.renderPart(w, r, p, "queue", "queuelist", d)
}

// forwardPage shows a request with the description linli would send,
// for staff to edit, and the phone consent.
func (c *Console) forwardPage(w http.ResponseWriter, r *http.Request, p *page) {
	c.renderForward(w, r, p, http.StatusOK, "", false)
}

func (c *Console) renderForward(w http.ResponseWriter, r *http.Request, p *page, status int, desc string, phone bool) {
	d, err := c.svc.ForwardDraft(r.Context(), p.Actor, p.Community.GetId(), r.PathValue("post"))
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	names, _, err := c.buildingNames(r, p)
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	if desc == "" {
		desc = d.Description
	}
	p.Title = "forward.title"
	c.render(w, r, p, status, "forward", map[string]any{"Draft": d, "Post": d.Post, "Description": desc, "Phone": phone, "BuildingNames": names})
}

// forward calls the domain's Forward exactly as StaffService.ForwardPost
// does: the description as staff left it, the phone only if asked (and the
// resident consented: the domain checks).
func (c *Console) forward(w http.ResponseWriter, r *http.Request, p *page) {
	desc := strings.ReplaceAll(r.PostFormValue("description"), "\r\n", "\n")
	phone := r.PostFormValue("include_phone") == "on"
	_, _, err := c.svc.Forward(r.Context(), p.Actor, mutualaid.ForwardInput{
		Community: p.Community.GetId(), PostID: r.PathValue("post"), Description: desc, IncludePhone: phone,
	})
	if err != nil {
		if mutualaid.ErrorCode(err) == mutualaid.Invalid || mutualaid.ErrorReason(err) == "no_phone_consent" {
			p.Err = domainMessage(p.Lang, err)
			c.renderForward(w, r, p, http.StatusBadRequest, desc, phone)
			return
		}
		c.fail(w, r, p, err)
		return
	}
	c.log.InfoContext(r.Context(), "forwarded from the console", "community", p.Community.GetId(), "post", r.PathValue("post"), "by", p.Actor.UserID)
	http.Redirect(w, r, p.Base+"queue?ok=queue.forwarded", http.StatusSeeOther)
}

// dismiss takes a request out of the queue with a reason.
func (c *Console) dismiss(w http.ResponseWriter, r *http.Request, p *page) {
	_, err := c.svc.Dismiss(r.Context(), p.Actor, p.Community.GetId(), r.PathValue("post"), r.PostFormValue("reason"))
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	http.Redirect(w, r, p.Base+"queue?ok=queue.dismissed", http.StatusSeeOther)
}

// retry sends a stuck case again.
func (c *Console) retry(w http.ResponseWriter, r *http.Request, p *page) {
	if _, err := c.svc.RetryCase(r.Context(), p.Actor, p.Community.GetId(), r.PathValue("post")); err != nil {
		c.fail(w, r, p, err)
		return
	}
	http.Redirect(w, r, p.Base+"queue?ok=queue.retried", http.StatusSeeOther)
}

// casesPage lists the forwarded cases, newest first, with the hotline's
// status and the resident's rating.
func (c *Console) casesPage(w http.ResponseWriter, r *http.Request, p *page) {
	n := pageNumber(r)
	q, err := c.svc.StaffQueue(r.Context(), p.Actor, mutualaid.QueueQuery{
		Community: p.Community.GetId(), Filter: mutualaid.QueueForwarded, Offset: (n - 1) * casesPageSize, Limit: casesPageSize,
	})
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	names, _, err := c.buildingNames(r, p)
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	p.Title = "cases.title"
	c.render(w, r, p, http.StatusOK, "cases", map[string]any{
		"Cases": q.Entries, "Notice": q.HotlineNotice, "NoHotline": q.HotlineNotice == mutualaid.NoHotlineReason,
		"BuildingNames": names, "Pager": newPager(p.Base+"cases", r.URL.Query(), n, casesPageSize, q.Total),
	})
}

// reportPeriod reads ?from= and ?to= (dates, to inclusive) in the
// console's zone: by default the last 30 days up to today.
func (c *Console) reportPeriod(r *http.Request) (from, to time.Time, ok bool) {
	loc := c.cfg.Location
	today := c.now().In(loc)
	to = time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, loc).AddDate(0, 0, 1)
	from = to.AddDate(0, 0, -30)
	q := r.URL.Query()
	if s := q.Get("from"); s != "" {
		t, err := time.ParseInLocation(time.DateOnly, s, loc)
		if err != nil {
			return from, to, false
		}
		from = t
	}
	if s := q.Get("to"); s != "" {
		t, err := time.ParseInLocation(time.DateOnly, s, loc)
		if err != nil {
			return from, to, false
		}
		to = t.AddDate(0, 0, 1)
	}
	return from, to, to.After(from)
}

// reportPage: the community's figures over a period, with charts.
func (c *Console) reportPage(w http.ResponseWriter, r *http.Request, p *page) {
	from, to, ok := c.reportPeriod(r)
	status := http.StatusOK
	if !ok {
		p.Err, status = p.T("report.badperiod"), http.StatusBadRequest
		from, to, _ = c.reportPeriod(&http.Request{URL: &url.URL{}})
	}
	s, err := c.svc.ReportSeries(r.Context(), p.Actor, p.Community.GetId(), from, to)
	if mutualaid.ErrorCode(err) == mutualaid.Invalid {
		p.Err, status = p.T("report.badperiod"), http.StatusBadRequest
		from, to, _ = c.reportPeriod(&http.Request{URL: &url.URL{}})
		s, err = c.svc.ReportSeries(r.Context(), p.Actor, p.Community.GetId(), from, to)
	}
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	names, _, err := c.buildingNames(r, p)
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	q := url.Values{"from": {from.Format(time.DateOnly)}, "to": {to.AddDate(0, 0, -1).Format(time.DateOnly)}}
	p.Title = "report.title"
	c.render(w, r, p, status, "report", map[string]any{
		"Report": s.Total, "Rows": mutualaid.ReportRows(s.Total), "BuildingNames": names,
		"From": q.Get("from"), "To": q.Get("to"), "CSV": p.Base + "report.csv?" + q.Encode(),
		"MetChart": metChart(p, s.Days), "HelpChart": helpChart(p, s.TimeToHelp),
	})
}

// reportCSV downloads the period's report and its days as CSV (the format
// of `linli admin report --csv`, with a row per day and figure).
func (c *Console) reportCSV(w http.ResponseWriter, r *http.Request, p *page) {
	from, to, ok := c.reportPeriod(r)
	if !ok {
		c.renderError(w, r, p, http.StatusBadRequest, "report.badperiod")
		return
	}
	s, err := c.svc.ReportSeries(r.Context(), p.Actor, p.Community.GetId(), from, to)
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	var b bytes.Buffer
	b.WriteString("\ufeff") // spreadsheet programs then read the file as UTF-8
	if err := mutualaid.WriteReportCSV(&b, s.Total, s.Days); err != nil {
		c.internal(w, r, p, err)
		return
	}
	name := fmt.Sprintf("linli-report-%s-%s-%s.csv", p.Community.GetId(), from.Format("20060102"), to.AddDate(0, 0, -1).Format("20060102"))
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(b.Bytes())
}

// buildingsPage lists buildings and their drop points, with a form to add
// or change one (?edit=<id> fills it in).
func (c *Console) buildingsPage(w http.ResponseWriter, r *http.Request, p *page) {
	c.renderBuildings(w, r, p, http.StatusOK, nil)
}

func (c *Console) renderBuildings(w http.ResponseWriter, r *http.Request, p *page, status int, form *linliv1.Building) {
	_, bs, err := c.buildingNames(r, p)
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	if form == nil {
		form = &linliv1.Building{}
		for _, b := range bs {
			if b.GetId() == r.URL.Query().Get("edit") {
				form = b
			}
		}
	}
	p.Title = "buildings.title"
	c.render(w, r, p, status, "buildings", map[string]any{
		"Buildings": bs, "Form": form, "Drops": strings.Join(form.GetDropPoints(), "\n"),
	})
}

// putBuilding adds or replaces a building (CommunityService.CreateBuilding).
func (c *Console) putBuilding(w http.ResponseWriter, r *http.Request, p *page) {
	var drops []string
	for _, l := range strings.Split(r.PostFormValue("drop_points"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			drops = append(drops, l)
		}
	}
	b := &linliv1.Building{
		Id: strings.TrimSpace(r.PostFormValue("id")), CommunityId: p.Community.GetId(),
		Name: strings.TrimSpace(r.PostFormValue("name")), DropPoints: drops,
	}
	if _, err := c.svc.PutBuilding(r.Context(), p.Actor, b); err != nil {
		if mutualaid.ErrorCode(err) == mutualaid.Invalid {
			p.Err = domainMessage(p.Lang, err)
			c.renderBuildings(w, r, p, http.StatusBadRequest, b)
			return
		}
		c.fail(w, r, p, err)
		return
	}
	http.Redirect(w, r, p.Base+"buildings?ok=buildings.saved", http.StatusSeeOther)
}

// joinCodesPage lists the community's join codes and makes new ones.
func (c *Console) joinCodesPage(w http.ResponseWriter, r *http.Request, p *page) {
	c.renderJoinCodes(w, r, p, http.StatusOK)
}

func (c *Console) renderJoinCodes(w http.ResponseWriter, r *http.Request, p *page, status int) {
	codes, err := c.svc.JoinCodes(r.Context(), p.Actor, p.Community.GetId())
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	names, bs, err := c.buildingNames(r, p)
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	p.Title = "codes.title"
	c.render(w, r, p, status, "joincodes", map[string]any{
		"Codes": codes, "Buildings": bs, "BuildingNames": names, "Now": p.now,
		"Roles": []linliv1.Role{linliv1.Role_ROLE_RESIDENT, linliv1.Role_ROLE_VOLUNTEER, linliv1.Role_ROLE_STAFF, linliv1.Role_ROLE_ADMIN},
	})
}

// createJoinCode makes a code (CommunityService.CreateJoinCode) and shows
// it once, with its printable poster: the secret is never stored, so the
// poster is this answer (not cached).
func (c *Console) createJoinCode(w http.ResponseWriter, r *http.Request, p *page) {
	role := linliv1.Role(linliv1.Role_value[r.PostFormValue("role")])
	days := atoi(r.PostFormValue("days"))
	code, info, err := c.svc.CreateJoinCode(r.Context(), p.Actor, mutualaid.JoinCodeSpec{
		CommunityID: p.Community.GetId(), BuildingID: r.PostFormValue("building"), Role: role,
		ValidFor: time.Duration(days) * 24 * time.Hour, MaxUses: uint32(min(atoi(r.PostFormValue("uses")), 1<<31)), CreatedBy: p.Actor.UserID,
	})
	if err != nil {
		if mutualaid.ErrorCode(err) == mutualaid.Invalid || mutualaid.ErrorCode(err) == mutualaid.Forbidden {
			p.Err = domainMessage(p.Lang, err)
			c.renderJoinCodes(w, r, p, http.StatusBadRequest)
			return
		}
		c.fail(w, r, p, err)
		return
	}
	png, err := qrcode.Encode(code, qrcode.Medium, 512)
	if err != nil {
		c.internal(w, r, p, err)
		return
	}
	names, _, err := c.buildingNames(r, p)
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	p.Title = "codes.made"
	c.render(w, r, p, http.StatusOK, "poster", map[string]any{
		"Code": code, "Grouped": groupCode(code), "Info": info, "BuildingNames": names,
		// A data: URL the template must not rewrite: linli made it.
		"QR": template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)),
	})
}

// groupCode writes a code in groups of four for reading aloud.
func groupCode(code string) string {
	var b strings.Builder
	for i, r := range code {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// membersPage lists members (roles, volunteer buildings, removal), paged.
func (c *Console) membersPage(w http.ResponseWriter, r *http.Request, p *page) {
	c.renderMembers(w, r, p, http.StatusOK)
}

func (c *Console) renderMembers(w http.ResponseWriter, r *http.Request, p *page, status int) {
	n := pageNumber(r)
	ms, err := c.svc.Members(r.Context(), p.Actor, p.Community.GetId(), (n-1)*membersPageSize, membersPageSize)
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	names, _, err := c.buildingNames(r, p)
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	p.Title = "members.title"
	c.render(w, r, p, status, "members", map[string]any{
		"Members": ms.Members, "BuildingNames": names,
		"Pager": newPager(p.Base+"members", r.URL.Query(), n, membersPageSize, ms.Total),
		"Roles": []linliv1.Role{linliv1.Role_ROLE_RESIDENT, linliv1.Role_ROLE_VOLUNTEER, linliv1.Role_ROLE_STAFF, linliv1.Role_ROLE_ADMIN},
	})
}

// setRole changes a member's role (CommunityService.SetRole).
func (c *Console) setRole(w http.ResponseWriter, r *http.Request, p *page) {
	role := linliv1.Role(linliv1.Role_value[r.PostFormValue("role")])
	buildings := strings.FieldsFunc(r.PostFormValue("buildings"), func(r rune) bool { return r == ',' || r == '，' || r == ' ' })
	user := r.PathValue("user")
	m, err := c.svc.SetRole(r.Context(), p.Actor, p.Community.GetId(), user, role, buildings)
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	c.log.InfoContext(r.Context(), "role changed", "community", p.Community.GetId(), "user", user, "role", mutualaid.MemberOf(m).Role, "by", p.Actor.UserID)
	http.Redirect(w, r, p.Base+"members?ok=members.saved", http.StatusSeeOther)
}

// removeMember removes a member (CommunityService.RemoveMember).
func (c *Console) removeMember(w http.ResponseWriter, r *http.Request, p *page) {
	user := r.PathValue("user")
	if err := c.svc.RemoveMember(r.Context(), p.Actor, p.Community.GetId(), user); err != nil {
		c.fail(w, r, p, err)
		return
	}
	c.log.InfoContext(r.Context(), "member removed", "community", p.Community.GetId(), "user", user, "by", p.Actor.UserID)
	if user == p.Actor.UserID && p.Community.GetId() == p.Actor.CommunityID {
		c.clearSession(w, r)
		http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, p.Base+"members?ok=members.gone", http.StatusSeeOther)
}

// policyPage shows the escalation policy with the deadlines in force.
func (c *Console) policyPage(w http.ResponseWriter, r *http.Request, p *page) {
	pol, err := c.svc.EscalationPolicy(p.Actor, p.Community.GetId())
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	c.renderPolicy(w, r, p, http.StatusOK, pol)
}

func (c *Console) renderPolicy(w http.ResponseWriter, r *http.Request, p *page, status int, pol *linliv1.EscalationPolicy) {
	minutes := func(d *durationpb.Duration) int64 { return int64(d.AsDuration() / time.Minute) }
	p.Title = "policy.title"
	c.render(w, r, p, status, "policy", map[string]any{
		"Critical": minutes(pol.GetCriticalDeadline()), "Urgent": minutes(pol.GetUrgentDeadline()),
		"Routine": minutes(pol.GetRoutineDeadline()), "Hold": pol.GetHoldCriticalForStaff(),
	})
}

// setPolicy replaces the policy (StaffService.SetEscalationPolicy).
func (c *Console) setPolicy(w http.ResponseWriter, r *http.Request, p *page) {
	mins := func(name string) *durationpb.Duration {
		return durationpb.New(time.Duration(min(atoi(r.PostFormValue(name)), 1<<30)) * time.Minute)
	}
	pol := &linliv1.EscalationPolicy{
		CriticalDeadline: mins("critical"), UrgentDeadline: mins("urgent"), RoutineDeadline: mins("routine"),
		HoldCriticalForStaff: r.PostFormValue("hold") == "on",
	}
	if _, err := c.svc.SetEscalationPolicy(r.Context(), p.Actor, p.Community.GetId(), pol); err != nil {
		if mutualaid.ErrorCode(err) == mutualaid.Invalid {
			p.Err = domainMessage(p.Lang, err)
			c.renderPolicy(w, r, p, http.StatusBadRequest, pol)
			return
		}
		c.fail(w, r, p, err)
		return
	}
	http.Redirect(w, r, p.Base+"policy?ok=policy.saved", http.StatusSeeOther)
}
