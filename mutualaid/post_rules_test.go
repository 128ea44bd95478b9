package mutualaid_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// today is the clock the catalog rules are checked against.
var today = time.Date(2026, 11, 25, 23, 40, 0, 0, beijing)

// TestPostRules: catalog, expiry, prescription, recipient and on-behalf
// rules, each a REJECTED outcome with a clear reason that consumes the id
// (so a mutation queued offline that a rule now refuses never blocks the
// queue).
func TestPostRules(t *testing.T) {
	t.Parallel()
	volunteer := mutualaid.Member{UserID: "u-zhang", CommunityID: "yuqiao", Role: mutualaid.RoleVolunteer, Buildings: []string{"bldg-3"}}
	item := func(edit func(*linliv1.PostItem)) *linliv1.Mutation {
		m := medicineOffer("o")
		edit(m.GetPostOffer().GetDraft().GetItems()[0])
		return m
	}
	draft := func(m *linliv1.Mutation, edit func(*linliv1.PostDraft)) *linliv1.Mutation {
		if r := m.GetPostRequest(); r != nil {
			edit(r.GetDraft())
		} else {
			edit(m.GetPostOffer().GetDraft())
		}
		return m
	}
	consent := &linliv1.OnBehalf{ResidentName: "孙奶奶", Consent: true, ConsentNote: "phoned the office at 09:10"}
	tests := []struct {
		name   string
		member mutualaid.Member
		m      *linliv1.Mutation
		reason string
	}{
		{"UnknownItem", wang, item(func(it *linliv1.PostItem) { it.ItemCode = "unicorn-tears" }), "item_unknown"},
		{"MedicineWithoutExpiry", wang, item(func(it *linliv1.PostItem) { it.ExpiryDate = "" }), "expiry_required"},
		{"ExpiredMedicine", wang, item(func(it *linliv1.PostItem) { it.ExpiryDate = "2026-11-24" }), "item_expired"},
		{"PrescriptionOffered", wang, item(func(it *linliv1.PostItem) { it.ItemCode = "amoxicillin-capsule" }), "prescription_not_offerable"},
		{"ResidentOnBehalf", wang, draft(feverRequest("r"), func(d *linliv1.PostDraft) { d.OnBehalf = consent }), "not_allowed_on_behalf"},
		{"VolunteerOfAnotherBuilding", volunteer, draft(feverRequest("r"), func(d *linliv1.PostDraft) {
			d.OnBehalf, d.BuildingId = consent, "bldg-9"
		}), "not_allowed_on_behalf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Well-formed, so queued; refused when applied, consuming its id.
			mut, err := mutualaid.NewMutationAt(tt.member, tt.m, today)
			if err != nil {
				t.Fatalf("NewMutationAt: %v, want a mutation that is rejected", err)
			}
			rej, ok := errors.AsType[*linlisync.Rejection](mut.Apply(nil))
			if !ok || rej.Reason != tt.reason || rej.Message == "" || mut.ID != tt.m.GetId() || mut.Name == "" {
				t.Errorf("mutation %q id %d applies as %v, want rejected %s with a message", mut.Name, mut.ID, rej, tt.reason)
			}
		})
	}
	// Whom a post is for and on whose behalf are its form, not rules:
	// malformed, refused before anything is queued, field named.
	t.Run("Malformed", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct {
			name          string
			member        mutualaid.Member
			m             *linliv1.Mutation
			reason, field string
		}{
			{"ChildWithoutAge", wang, draft(feverRequest("r"), func(d *linliv1.PostDraft) {
				d.ForWhom = &linliv1.ForWhom{Recipient: linliv1.Recipient_RECIPIENT_CHILD}
			}), "age_out_of_range", "post_request.draft.for_whom.age_months"},
			{"OnBehalfWithoutConsent", zhao, draft(feverRequest("r"), func(d *linliv1.PostDraft) {
				d.OnBehalf = &linliv1.OnBehalf{ResidentName: "孙奶奶"}
			}), "consent_required", "post_request.draft.on_behalf.consent"},
			{"ResidentNameTooLong", zhao, draft(feverRequest("r"), func(d *linliv1.PostDraft) {
				d.OnBehalf = &linliv1.OnBehalf{ResidentName: strings.Repeat("孙", 41), Consent: true}
			}), "display_name_too_long", "post_request.draft.on_behalf.resident_name"},
			{"ConsentNoteTooLong", zhao, draft(feverRequest("r"), func(d *linliv1.PostDraft) {
				d.OnBehalf = &linliv1.OnBehalf{ResidentName: "孙奶奶", Consent: true, ConsentNote: strings.Repeat("电", 201)}
			}), "consent_note_too_long", "post_request.draft.on_behalf.consent_note"},
		} {
			_, err := mutualaid.NewMutationAt(c.member, c.m, today)
			e, ok := errors.AsType[*mutualaid.Error](err)
			if !ok || e.Code != mutualaid.Invalid || e.Reason != c.reason || e.Field != c.field {
				t.Errorf("%s: %v, want Invalid %s at %s", c.name, err, c.reason, c.field)
			}
		}
	})
	t.Run("Allowed", func(t *testing.T) {
		t.Parallel()
		for name, c := range map[string]struct {
			member mutualaid.Member
			m      *linliv1.Mutation
		}{
			"ExpiresToday":         {wang, item(func(it *linliv1.PostItem) { it.ExpiryDate = "2026-11-25" })},
			"PrescriptionWanted":   {wang, draft(feverRequest("r"), func(d *linliv1.PostDraft) { d.Items[0].ItemCode = "amoxicillin-capsule" })},
			"StaffOnBehalf":        {zhao, draft(feverRequest("r"), func(d *linliv1.PostDraft) { d.OnBehalf = consent })},
			"VolunteerOwnBuilding": {volunteer, draft(feverRequest("r"), func(d *linliv1.PostDraft) { d.OnBehalf = consent })},
		} {
			if _, err := mutualaid.NewMutationAt(c.member, c.m, today); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	})
}

// TestEmergencyTriage: an emergency post turns critical, its author is told
// to call 120 in the push result, and staff see the verdict at once.
func TestEmergencyTriage(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, &clock{now: night})
	parent := newDevice(t, s, wang)
	m := feverRequest("infant")
	d := m.GetPostRequest().GetDraft()
	d.Note = "宝宝两个月大，发烧38.5度，一直哭"
	d.ForWhom = &linliv1.ForWhom{Recipient: linliv1.Recipient_RECIPIENT_INFANT, AgeMonths: 2}
	r := parent.push(m)
	if r.Status != linlisync.StatusApplied || r.Reason != "emergency_call_120" || !strings.Contains(r.Message, "120") {
		t.Fatalf("result = %+v, want applied with the 120 notice", r)
	}
	staff := newDevice(t, s, zhao).pull()
	p := staff.post(t, mutualaid.StaffScope("yuqiao"), mutualaid.PostEntityID("yuqiao", "infant"))
	if p.GetUrgency() != linliv1.Urgency_URGENCY_CRITICAL || !p.GetTriage().GetEmergency() || len(p.GetTriage().GetSigns()) == 0 {
		t.Fatalf("staff see %v, want a critical post with the triage verdict", p)
	}
	ordinary := parent.push(feverRequest("toddler"))
	if ordinary.Reason != "" {
		t.Fatalf("an ordinary fever request got notice %q", ordinary.Reason)
	}
}

// TestEditOfferRules: an edit of an offer meets the offer rules when it is
// applied: no prescription drug, no expired medicine slipped in by an edit.
func TestEditOfferRules(t *testing.T) {
	t.Parallel()
	clk := &clock{now: today}
	s := mustOpen(t, clk)
	wang := newDevice(t, s, wang)
	wang.mustApply(medicineOffer("o"))
	for _, c := range []struct {
		edit   func(*linliv1.PostItem)
		reason string
	}{
		{func(it *linliv1.PostItem) { it.ItemCode = "amoxicillin-capsule" }, "prescription_not_offerable"},
		{func(it *linliv1.PostItem) { it.ExpiryDate = "2026-11-24" }, "item_expired"},
	} {
		d := medicineOffer("x").GetPostOffer().GetDraft()
		c.edit(d.GetItems()[0])
		if r := wang.push(editMutation("o", d)); r.Status != linlisync.StatusRejected || r.Reason != c.reason {
			t.Errorf("edit to %s: status %d reason %q", c.reason, r.Status, r.Reason)
		}
	}
	// A request may still name a prescription drug it needs.
	wang.mustApply(feverRequest("r"))
	d := feverRequest("x").GetPostRequest().GetDraft()
	d.Items[0].ItemCode = "amoxicillin-capsule"
	wang.mustApply(editMutation("r", d))
}

// TestPostPlaceRules: the building a post names must be one of the
// community's, and the right to post on someone's behalf is the member's
// right as stored when the mutation is applied, not when it was queued.
// Both are REJECTED outcomes that consume the id.
func TestPostPlaceRules(t *testing.T) {
	t.Parallel()
	clk := &clock{now: night}
	svc := mustOpenIn(t, t.TempDir(), clk)
	seedPlaces(t, svc)
	s := svc.Store()
	ctx := t.Context()
	add := func(m *linliv1.Member) {
		t.Helper()
		if _, err := svc.AddMember(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	add(&linliv1.Member{UserId: "u-wang", CommunityId: "yuqiao", Role: linliv1.Role_ROLE_RESIDENT, DisplayName: "王芳", BuildingId: "bldg-3"})
	add(&linliv1.Member{UserId: "u-zhang", CommunityId: "yuqiao", Role: linliv1.Role_ROLE_VOLUNTEER, DisplayName: "张伟", BuildingId: "bldg-3", VolunteerBuildingIds: []string{"bldg-3"}})
	consent := &linliv1.OnBehalf{ResidentName: "孙奶奶", Consent: true}
	onBehalf := func(id string) *linliv1.Mutation {
		m := feverRequest(id)
		m.GetPostRequest().GetDraft().OnBehalf = consent
		return m
	}

	wangPhone := newDevice(t, s, wang)
	t.Run("UnknownBuilding", func(t *testing.T) {
		m := feverRequest("nowhere")
		m.GetPostRequest().GetDraft().BuildingId = "no-such-building"
		assertRejected(t, wangPhone.push(m), mutualaid.ReasonBuildingUnknown)
	})
	t.Run("AnotherCommunitysBuilding", func(t *testing.T) {
		m := feverRequest("elsewhere")
		m.GetPostRequest().GetDraft().BuildingId = "bldg-1" // 北苑's
		assertRejected(t, wangPhone.push(m), mutualaid.ReasonBuildingUnknown)
	})
	t.Run("EditToUnknownBuilding", func(t *testing.T) {
		wangPhone.mustApply(feverRequest("req-edit"))
		edit := feverRequest("req-edit").GetPostRequest().GetDraft()
		edit.BuildingId = "bldg-9"
		assertRejected(t, wangPhone.push(&linliv1.Mutation{Kind: &linliv1.Mutation_EditPost{EditPost: &linliv1.EditPostMutation{PostId: "req-edit", Draft: edit}}}), mutualaid.ReasonBuildingUnknown)
	})
	t.Run("OnBehalfRightCheckedWhenApplied", func(t *testing.T) {
		// 张伟 queued the post as a volunteer of building 3 …
		volunteer := mutualaid.Member{UserID: "u-zhang", CommunityID: "yuqiao", Role: mutualaid.RoleVolunteer, Buildings: []string{"bldg-3"}}
		zhangPhone := newDevice(t, s, volunteer)
		zhangPhone.mustApply(onBehalf("for-sun-1"))
		m := onBehalf("for-sun-2")
		m.Id = 2
		mut, err := mutualaid.NewMutationAt(volunteer, m, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		// … and staff made him a resident before it was applied.
		add(&linliv1.Member{UserId: "u-zhang", CommunityId: "yuqiao", Role: linliv1.Role_ROLE_RESIDENT, DisplayName: "张伟", BuildingId: "bldg-3"})
		res, _, err := s.Push(ctx, zhangPhone.client(), []linlisync.Mutation{mut})
		if err != nil {
			t.Fatal(err)
		}
		assertRejected(t, res[0], mutualaid.ReasonNotOnBehalf)
	})
}
