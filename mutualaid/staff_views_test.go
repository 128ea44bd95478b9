package mutualaid_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// TestJoinStaffOnly: the staff console's sign-in admits staff and admins,
// by a new member's code or a device code, and refuses anyone else with
// nothing used up.
func TestJoinStaffOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newDirFixture(t)
	resCode := f.code(mutualaid.JoinCodeSpec{CommunityID: "yuqiao", Role: linliv1.Role_ROLE_RESIDENT})
	_, err := f.svc.Join(ctx, mutualaid.JoinForm{Code: resCode, DisplayName: "王芳", BuildingID: "bldg-3", StaffOnly: true})
	wantError(t, err, mutualaid.Forbidden, "not_staff")
	if _, err := f.svc.Join(ctx, mutualaid.JoinForm{Code: resCode, DisplayName: "王芳", BuildingID: "bldg-3"}); err != nil {
		t.Fatalf("the refused staff-only join used the resident code up: %v", err)
	}

	staffCode := f.code(mutualaid.JoinCodeSpec{CommunityID: "yuqiao", Role: linliv1.Role_ROLE_STAFF})
	zhao, err := f.svc.Join(ctx, mutualaid.JoinForm{Code: staffCode, DisplayName: "赵主任", StaffOnly: true})
	if err != nil || zhao.GetRole() != linliv1.Role_ROLE_STAFF {
		t.Fatalf("staff join: %v %v", zhao, err)
	}
	dc, _, err := f.svc.CreateDeviceCode(ctx, "yuqiao", zhao.GetUserId())
	if err != nil {
		t.Fatal(err)
	}
	if m, err := f.svc.Join(ctx, mutualaid.JoinForm{Code: dc, StaffOnly: true}); err != nil || m.GetUserId() != zhao.GetUserId() {
		t.Fatalf("device code of staff: %v %v", m, err)
	}

	wang := f.resident("王芳")
	dc, _, err = f.svc.CreateDeviceCode(ctx, "yuqiao", wang.GetUserId())
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Join(ctx, mutualaid.JoinForm{Code: dc, StaffOnly: true})
	wantError(t, err, mutualaid.Forbidden, "not_staff")
	if m, err := f.svc.Join(ctx, mutualaid.JoinForm{Code: dc}); err != nil || m.GetUserId() != wang.GetUserId() {
		t.Fatalf("the refused device code was used up: %v %v", m, err)
	}
}

// TestSessionOf: a browser session's token is checked without being spent,
// ends with sign-out, removal and its lifetime, and a copy traded with
// Refresh revokes it.
func TestSessionOf(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newDirFixture(t)
	zhao := f.join("yuqiao", linliv1.Role_ROLE_STAFF, mutualaid.JoinForm{DisplayName: "赵主任"})
	tok, exp, err := f.svc.StartSessionFor(ctx, "yuqiao", zhao.GetUserId(), "console-1", 12*time.Hour)
	if err != nil || !exp.Equal(f.clk.Now().Add(12*time.Hour)) {
		t.Fatalf("StartSessionFor: %v, expires %v", err, exp)
	}
	for range 3 {
		s, err := f.svc.SessionOf(ctx, tok)
		if err != nil || s.UserID != zhao.GetUserId() || s.ClientID != "console-1" || s.CommunityID != "yuqiao" {
			t.Fatalf("SessionOf = %+v, %v", s, err)
		}
	}
	f.clk.Advance(12 * time.Hour)
	_, err = f.svc.SessionOf(ctx, tok)
	wantError(t, err, mutualaid.Unauthenticated, "refresh_token_invalid")

	tok = f.sessionFor(zhao, "console-2")
	if err := f.svc.SignOut(ctx, zhao.GetUserId(), "console-2"); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.SessionOf(ctx, tok)
	wantError(t, err, mutualaid.Unauthenticated, "session_revoked")

	tok = f.sessionFor(zhao, "console-3")
	if _, _, _, err := f.svc.Refresh(ctx, tok); err != nil { // a stolen copy, traded
		t.Fatal(err)
	}
	_, err = f.svc.SessionOf(ctx, tok)
	wantError(t, err, mutualaid.Unauthenticated, "session_revoked")
	if d, _, _ := f.svc.Device(zhao.GetUserId(), "console-3"); !d.GetRevoked() {
		t.Errorf("the device whose token was traded is not revoked: %v", d)
	}

	tok = f.sessionFor(zhao, "console-4")
	if err := f.svc.RemoveMember(ctx, mutualaid.Operator, "yuqiao", zhao.GetUserId()); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.SessionOf(ctx, tok)
	wantError(t, err, mutualaid.Unauthenticated, "member_removed")
	_, err = f.svc.SessionOf(ctx, "not-a-token")
	wantError(t, err, mutualaid.Unauthenticated, "refresh_token_invalid")
}

func (f *dirFixture) sessionFor(m *linliv1.Member, client string) string {
	f.t.Helper()
	tok, _, err := f.svc.StartSessionFor(context.Background(), m.GetCommunityId(), m.GetUserId(), client, time.Hour)
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

// TestStaffQueuePages: the queue sorted for action (emergencies, then
// urgency, then the longest wait), paged, with forwarded cases apart; and
// only staff of the community read it.
func TestStaffQueuePages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newHandoffFixture(t)
	zhao := actor(f.members["u-zhao"])
	f.phone("u-chen").mustApply(feverRequestBy(f, "u-chen", "req-routine-old"))
	f.clk.Advance(time.Minute)
	f.phone("u-li").mustApply(feverRequestBy(f, "u-li", "req-routine-new"))
	emergency := feverRequestBy(f, "u-wang", "req-emergency")
	emergency.GetPostRequest().Draft.Note = "孩子呼吸困难"
	f.phone("u-wang").mustApply(emergency)

	em, err := f.svc.Emergencies(ctx, zhao, "")
	if err != nil || len(em) != 1 || em[0].GetId() != "req-emergency" || em[0].GetPhone() == "" {
		t.Fatalf("Emergencies = %v, %v; want req-emergency in full", em, err)
	}
	f.clk.Advance(48 * time.Hour)
	f.escalate(3)
	if em, err := f.svc.Emergencies(ctx, zhao, ""); err != nil || len(em) != 0 {
		t.Errorf("Emergencies once overdue = %v, %v; want none (they are in the queue)", em, err)
	}

	page, err := f.svc.StaffQueue(ctx, zhao, mutualaid.QueueQuery{Filter: mutualaid.QueueWaiting, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	// The critical emergency was forwarded by policy at its deadline.
	if page.Total != 2 || len(page.Entries) != 2 || page.Entries[0].Item.GetPostId() != "req-routine-old" ||
		page.Entries[1].Item.GetPostId() != "req-routine-new" || page.Entries[0].Post.GetUnit() == "" {
		t.Fatalf("waiting page = %+v", page)
	}
	page, err = f.svc.StaffQueue(ctx, zhao, mutualaid.QueueQuery{Filter: mutualaid.QueueWaiting, Offset: 1, Limit: 2})
	if err != nil || page.Total != 2 || len(page.Entries) != 1 || page.Entries[0].Item.GetPostId() != "req-routine-new" {
		t.Fatalf("second page = %+v, %v", page, err)
	}
	cases, err := f.svc.StaffQueue(ctx, zhao, mutualaid.QueueQuery{Filter: mutualaid.QueueForwarded})
	if err != nil || cases.Total != 1 || cases.Entries[0].Item.GetPostId() != "req-emergency" {
		t.Fatalf("forwarded = %+v, %v", cases, err)
	}
	if !strings.Contains(cases.HotlineNotice, "no hotline") {
		t.Errorf("notice = %q, want no hotline configured", cases.HotlineNotice)
	}

	sun := mutualaid.Member{UserID: "u-other", CommunityID: "beiyuan", Role: mutualaid.RoleStaff}
	_, err = f.svc.StaffQueue(ctx, sun, mutualaid.QueueQuery{Community: "yuqiao"})
	wantError(t, err, mutualaid.Forbidden, "not_staff_of_community")
	_, err = f.svc.Emergencies(ctx, actor(f.members["u-wang"]), "")
	wantError(t, err, mutualaid.Forbidden, "not_staff_of_community")
	_, err = f.svc.Members(ctx, sun, "yuqiao", 0, 0)
	wantError(t, err, mutualaid.Forbidden, "not_staff_of_community")
	_, err = f.svc.JoinCodes(ctx, sun, "yuqiao")
	wantError(t, err, mutualaid.Forbidden, "not_staff_of_community")

	d, err := f.svc.ForwardDraft(ctx, zhao, "", "req-routine-old")
	if err != nil || !strings.Contains(d.Description, "退烧") && !strings.Contains(d.Description, "布洛芬") {
		t.Errorf("ForwardDraft = %+v, %v", d, err)
	}
}

// TestStaffDirectory: members (staff first), buildings and join codes of
// one community only.
func TestStaffDirectory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newHandoffFixture(t)
	zhao := actor(f.members["u-zhao"])
	ms, err := f.svc.Members(ctx, zhao, "", 0, 3)
	if err != nil || ms.Total != 8 || len(ms.Members) != 3 || ms.Members[0].GetUserId() != "u-zhao" {
		t.Fatalf("Members = %+v, %v; want 8 of yuqiao, staff first", ms, err)
	}
	bs, err := f.svc.Buildings(ctx, zhao, "")
	if err != nil || len(bs) != 2 {
		t.Fatalf("Buildings = %v, %v", bs, err)
	}
	f.code(mutualaid.JoinCodeSpec{CommunityID: "yuqiao", BuildingID: "bldg-3", MaxUses: 50})
	f.code(mutualaid.JoinCodeSpec{CommunityID: "beiyuan"})
	if _, _, err := f.svc.CreateDeviceCode(ctx, "yuqiao", "u-zhao"); err != nil {
		t.Fatal(err)
	}
	codes, err := f.svc.JoinCodes(ctx, zhao, "")
	if err != nil || len(codes) != 1 || codes[0].GetBuildingId() != "bldg-3" || codes[0].GetMaxUses() != 50 {
		t.Fatalf("JoinCodes = %v, %v", codes, err)
	}
	cs, err := f.svc.StaffCommunities(zhao)
	if err != nil || len(cs) != 1 || cs[0].GetId() != "yuqiao" {
		t.Errorf("StaffCommunities(staff) = %v, %v", cs, err)
	}
	cs, err = f.svc.StaffCommunities(mutualaid.Member{UserID: "u-a", CommunityID: "yuqiao", Role: mutualaid.RoleAdmin})
	if err != nil || len(cs) != 2 {
		t.Errorf("StaffCommunities(admin) = %v, %v", cs, err)
	}
	_, err = f.svc.StaffCommunities(actor(f.members["u-wang"]))
	wantError(t, err, mutualaid.Forbidden, "not_staff_of_community")
	p, err := f.svc.EscalationPolicy(zhao, "")
	if err != nil || p.GetCriticalDeadline().AsDuration() != mutualaid.DefaultCriticalDeadline {
		t.Errorf("EscalationPolicy = %v, %v", p, err)
	}
}

// TestReportSeries: the days add up to the period's report, which is
// Report's, and the CSV carries both.
func TestReportSeries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newHandoffFixture(t)
	from := f.clk.Now().Add(-time.Hour)
	f.phone("u-chen").mustApply(feverRequestBy(f, "u-chen", "req-1"))
	f.clk.Advance(26 * time.Hour)
	f.phone("u-li").mustApply(feverRequestBy(f, "u-li", "req-2"))
	f.phone("u-wang").mustApply(feverRequestBy(f, "u-wang", "req-3"))
	to := f.clk.Now().Add(time.Hour)
	s, err := f.svc.ReportSeries(ctx, mutualaid.Operator, "yuqiao", from, to)
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.svc.Report(ctx, mutualaid.Operator, "yuqiao", from, to)
	if err != nil {
		t.Fatal(err)
	}
	if s.Total.GetRequests() != 3 || r.GetRequests() != 3 {
		t.Fatalf("totals: series %d, report %d; want 3", s.Total.GetRequests(), r.GetRequests())
	}
	sum := uint32(0)
	for _, d := range s.Days {
		sum += d.Report.GetRequests()
	}
	if sum != 3 || len(s.Days) < 2 || s.Days[0].Report.GetRequests() != 1 {
		t.Errorf("days %v add to %d, want 3 with 1 on the first", s.Days, sum)
	}
	var b bytes.Buffer
	if err := mutualaid.WriteReportCSV(&b, s.Total, s.Days); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "summary,requests,3\n") || !strings.Contains(b.String(), "day,"+s.Days[0].Day.Format(time.DateOnly)+"/requests,1\n") {
		t.Errorf("CSV:\n%s", b.String())
	}
	_, err = f.svc.ReportSeries(ctx, mutualaid.Operator, "yuqiao", from, from.AddDate(2, 0, 0))
	wantError(t, err, mutualaid.Invalid, "period_too_long")
}
