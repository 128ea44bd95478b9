package mutualaid_test

import (
	"slices"
	"testing"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// TestHandoffPrivacy pulls every scope of every member (resident, giver,
// receiver, volunteers of this and another building, staff, a neighbour)
// at each stage of a handoff and checks that units, phones and the pickup
// code appear only where they may: the pickup code to giver, receiver,
// courier and staff; each side's unit and phone to themselves and staff,
// and to the counterpart only once accepted; never in the community scope
// or on the volunteers' board.
func TestHandoffPrivacy(t *testing.T) {
	t.Parallel()
	f := newHandoffFixture(t)
	f.phone("u-wang").mustApply(feverRequest("req-2340"))
	f.offer("u-lucy", "offer-lucy", meilinItem(1))
	f.phone("u-wang").mustApply(proposeH("h", "req-2340", "offer-lucy", handoffItemMeilin, 1, true, windowsill15))
	code := f.handoff("h").GetPickupCode()

	const (
		wangUnit, wangPhone = "1502", "+86 138-0013-8000"
		lucyUnit, lucyPhone = "1103", "139 1000 2000"
	)
	wangSecrets := []string{wangUnit, wangPhone}
	lucySecrets := []string{lucyUnit, lucyPhone}
	all := append(append([]string{code}, wangSecrets...), lucySecrets...)

	// check pulls every scope of every member and compares the secrets
	// found (and whether the handoff is there) with want: scope → secrets.
	check := func(stage string, want map[string][]string, present map[string]bool) {
		t.Helper()
		seen := map[string]bool{}
		for _, m := range handoffPeople {
			for _, sc := range mutualaid.MemberScopes(m) {
				if seen[sc] {
					continue
				}
				seen[sc] = true
				values := f.scope(sc)
				var found []string
				for _, v := range values {
					for _, s := range secretsIn(v, all...) {
						if !slices.Contains(found, s) {
							found = append(found, s)
						}
					}
				}
				allowed := want[sc]
				for _, s := range found {
					if !slices.Contains(allowed, s) {
						t.Errorf("%s: %q leaks into %s (pulled by %s)", stage, s, sc, m.GetUserId())
					}
				}
				_, has := values[mutualaid.HandoffEntityID("yuqiao", "h")]
				if has != present[sc] {
					t.Errorf("%s: handoff in %s: got %v, want %v", stage, sc, has, present[sc])
				}
			}
		}
		for _, sc := range []string{community, staff, boardBldg3, "building/yuqiao/bldg-5", "user/u-wang", "user/u-lucy", "user/u-zhang"} {
			if !seen[sc] {
				t.Fatalf("%s: no member reads %s", stage, sc)
			}
		}
	}
	wang, lucy, zhang := mutualaid.UserScope("u-wang"), mutualaid.UserScope("u-lucy"), mutualaid.UserScope("u-zhang")

	{ // Proposed
		check("proposed", map[string][]string{
			wang:  append([]string{code}, wangSecrets...),
			lucy:  append([]string{code}, lucySecrets...),
			staff: all,
		}, map[string]bool{wang: true, lucy: true, staff: true})
	}

	f.phone("u-lucy").mustApply(acceptH("h"))
	{ // Accepted
		check("accepted", map[string][]string{wang: all, lucy: all, staff: all},
			map[string]bool{wang: true, lucy: true, staff: true, boardBldg3: true})
		board := f.scopeHandoff(boardBldg3, "h")
		if board.GetGiverId() != "u-lucy" || board.GetReceiverId() != "u-wang" || board.GetDropPoint() != windowsill15 {
			t.Errorf("board view: got %v, want giver, receiver and drop point", board)
		}
		if v := f.scopeHandoff(wang, "h"); v.GetGiverUnit() != lucyUnit || v.GetGiverPhone() != lucyPhone || v.GetPickupCode() != code {
			t.Errorf("王芳's view after acceptance: got %v", v)
		}
		if v := f.scopeHandoff(lucy, "h"); v.GetReceiverUnit() != wangUnit || v.GetReceiverPhone() != wangPhone {
			t.Errorf("Lucy's view after acceptance: got %v", v)
		}
	}

	f.phone("u-zhang").mustApply(claimH("h"))
	before := f.pull(linlisync.Cursor{}, boardBldg3).Cursor
	{ // Claimed
		check("claimed", map[string][]string{wang: all, lucy: all, staff: all, zhang: {code}},
			map[string]bool{wang: true, lucy: true, staff: true, boardBldg3: true, zhang: true})
		v := f.scopeHandoff(zhang, "h")
		if v.GetPickupCode() != code || v.GetDropPoint() != windowsill15 || v.GetCourierId() != "u-zhang" {
			t.Errorf("courier's view: got %v, want code, drop point and courier", v)
		}
	}

	f.phone("u-zhang").mustApply(pickUpH("h", code))
	f.phone("u-zhang").mustApply(dropOffH("h", ""))
	f.phone("u-wang").mustApply(confirmH("h"))
	{ // Received
		check("received", map[string][]string{wang: all, lucy: all, staff: all, zhang: {code}},
			map[string]bool{wang: true, lucy: true, staff: true, zhang: true})
		page := f.pull(before, boardBldg3)
		i := slices.IndexFunc(page.Changes, func(c linlisync.Change) bool {
			return c.EntityID == mutualaid.HandoffEntityID("yuqiao", "h")
		})
		if i < 0 || !page.Changes[i].Deleted {
			t.Errorf("board after receipt: got %+v, want a tombstone for the handoff", page.Changes)
		}
	}

	{ // CancelledHidesContacts
		f.request("u-chen", "req-chen", antigenItem(1))
		f.offer("u-li", "off-li", antigenItem(1))
		f.phone("u-chen").mustApply(proposeH("h2", "req-chen", "off-li", handoffItemAntigen, 1, false, ""))
		f.phone("u-li").mustApply(acceptH("h2"))
		f.phone("u-li").mustApply(cancelH("h2", ""))
		if v := f.scopeHandoff(mutualaid.UserScope("u-chen"), "h2"); v.GetGiverUnit() != "" || v.GetGiverPhone() != "" || v.GetReceiverUnit() != "0904" {
			t.Errorf("receiver's view once cancelled: got giver %q %q, own unit %q", v.GetGiverUnit(), v.GetGiverPhone(), v.GetReceiverUnit())
		}
		if v := f.scopeHandoff(staff, "h2"); v.GetGiverUnit() != "1201" {
			t.Errorf("staff view once cancelled: giver unit %q, want 1201", v.GetGiverUnit())
		}
	}
}

// TestHandoffViews checks the projections of one handoff directly.
func TestHandoffViews(t *testing.T) {
	t.Parallel()
	h := &linliv1.Handoff{
		Id: "h", CommunityId: "yuqiao", RequestPostId: "req", OfferPostId: "off", GiverId: "u-lucy", ReceiverId: "u-wang",
		ItemCode: handoffItemMeilin, Quantity: 1, State: linliv1.HandoffState_HANDOFF_STATE_ACCEPTED, NeedsCourier: true,
		BuildingId: "bldg-3", DropPoint: windowsill15, PickupCode: "042137",
		GiverUnit: "1103", GiverPhone: "139 1000 2000", ReceiverUnit: "1502", ReceiverPhone: "+86 138-0013-8000",
		History: []*linliv1.HandoffEvent{{State: linliv1.HandoffState_HANDOFF_STATE_PROPOSED, ByUserId: "u-wang"}},
	}
	views, err := mutualaid.HandoffViews(h)
	if err != nil {
		t.Fatalf("HandoffViews: %v", err)
	}
	want := []string{boardBldg3, staff, "user/u-lucy", "user/u-wang"}
	got := make([]string, 0, len(views))
	for sc := range views {
		got = append(got, sc)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("scopes: got %v, want %v", got, want)
	}
	if s := secretsIn(views[boardBldg3], "042137", "1103", "1502", "139 1000 2000", "+86 138-0013-8000"); len(s) > 0 {
		t.Errorf("board view holds %v", s)
	}
}
