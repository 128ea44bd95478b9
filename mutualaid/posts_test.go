package mutualaid_test

import (
	"errors"
	"maps"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

const feverPost = "post/yuqiao/req-2340"

var (
	community = mutualaid.CommunityScope("yuqiao")
	staff     = mutualaid.StaffScope("yuqiao")
)

// setup opens a store where 王芳 has posted her 23:40 request.
func setup(t *testing.T) (*clock, *linlisync.Store, *device) {
	t.Helper()
	clk := &clock{now: night}
	s := mustOpen(t, clk)
	author := newDevice(t, s, wang)
	author.mustApply(feverRequest("req-2340"))
	return clk, s, author
}

func TestPostRequest(t *testing.T) {
	t.Parallel()
	_, s, author := setup(t)
	want := feverRequest("req-2340").GetPostRequest().GetDraft()

	t.Run("AuthorSeesUnitAndPhone", func(t *testing.T) {
		p := author.pull().post(t, mutualaid.UserScope("u-wang"), feverPost)
		if p.GetUnit() != "1502" || p.GetPhone() != "+86 138-0013-8000" || p.GetAuthorName() != "王芳" {
			t.Errorf("user scope: got unit %q phone %q name %q; want 1502, +86 138-0013-8000, 王芳", p.GetUnit(), p.GetPhone(), p.GetAuthorName())
		}
		assertPost(t, p, want)
	})
	t.Run("ResidentSeesRedacted", func(t *testing.T) {
		v := newDevice(t, s, zhang).pull()
		if _, ok := v[mutualaid.UserScope("u-wang")]; ok {
			t.Fatalf("a neighbour pulled the author's user scope")
		}
		p := v.post(t, community, feverPost)
		if p.GetAuthorName() != "王**" || p.GetUnit() != "" || p.GetPhone() != "" {
			t.Errorf("community scope: got name %q unit %q phone %q; want 王**, empty, empty", p.GetAuthorName(), p.GetUnit(), p.GetPhone())
		}
		if p.GetAuthorId() != "u-wang" {
			t.Errorf("community scope: got author id %q, want u-wang", p.GetAuthorId())
		}
		assertPost(t, p, want)
	})
	t.Run("StaffSeesEverything", func(t *testing.T) {
		v := newDevice(t, s, zhao).pull()
		p := v.post(t, staff, feverPost)
		if p.GetUnit() != "1502" || p.GetPhone() != "+86 138-0013-8000" || p.GetAuthorName() != "王芳" {
			t.Errorf("staff scope: got unit %q phone %q name %q", p.GetUnit(), p.GetPhone(), p.GetAuthorName())
		}
		if p := v.post(t, community, feverPost); p.GetPhone() != "" {
			t.Errorf("staff's community scope shows phone %q", p.GetPhone())
		}
	})
}

// assertPost checks the fields every scope sees.
func assertPost(t *testing.T, p *linliv1.Post, d *linliv1.PostDraft) {
	t.Helper()
	if p.GetId() != "req-2340" || p.GetKind() != linliv1.PostKind_POST_KIND_REQUEST || p.GetCommunityId() != "yuqiao" {
		t.Errorf("got id %q kind %v community %q", p.GetId(), p.GetKind(), p.GetCommunityId())
	}
	if p.GetStatus() != linliv1.PostStatus_POST_STATUS_OPEN || p.GetUrgency() != linliv1.Urgency_URGENCY_URGENT {
		t.Errorf("got status %v urgency %v, want open, urgent", p.GetStatus(), p.GetUrgency())
	}
	if p.GetNote() != d.GetNote() || p.GetBuildingId() != "bldg-3" || p.GetFloor() != 15 {
		t.Errorf("got note %q building %q floor %d", p.GetNote(), p.GetBuildingId(), p.GetFloor())
	}
	if len(p.GetItems()) != len(d.GetItems()) || !proto.Equal(p.GetItems()[0], d.GetItems()[0]) {
		t.Errorf("got items %v, want %v", p.GetItems(), d.GetItems())
	}
	if !p.GetCreatedAt().AsTime().Equal(night) || !p.GetUpdatedAt().AsTime().Equal(night) {
		t.Errorf("got created %v updated %v, want %v", p.GetCreatedAt().AsTime(), p.GetUpdatedAt().AsTime(), night)
	}
}

func TestPostOffer(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, &clock{now: night})
	d := newDevice(t, s, lucy)
	d.mustApply(medicineOffer("offer-1"))

	p := d.pull().post(t, community, "post/yuqiao/offer-1")
	if p.GetKind() != linliv1.PostKind_POST_KIND_OFFER || p.GetUrgency() != linliv1.Urgency_URGENCY_ROUTINE {
		t.Errorf("got kind %v urgency %v, want offer, routine", p.GetKind(), p.GetUrgency())
	}
	if p.GetAuthorName() != "L**" || p.GetUnit() != "" || p.GetPhone() != "" {
		t.Errorf("community scope: got name %q unit %q phone %q; want L**, empty, empty", p.GetAuthorName(), p.GetUnit(), p.GetPhone())
	}
	if got := p.GetItems()[1].GetExpiryDate(); got != "2027-09-30" {
		t.Errorf("泰诺林 expiry: got %q, want 2027-09-30", got)
	}
}

func TestCreatePost(t *testing.T) {
	t.Parallel()
	t.Run("DuplicateIDRejected", func(t *testing.T) {
		_, s, author := setup(t)
		before := s.Heads([]string{community, staff})
		want := newDevice(t, s, zhao).pull().post(t, staff, feverPost)
		for _, d := range []*device{author, newDevice(t, s, lucy)} {
			r := d.push(medicineOffer("req-2340"))
			assertRejected(t, r, mutualaid.ReasonPostExists)
		}
		assertUnchanged(t, s, before, want)
	})
	t.Run("SameIDInAnotherCommunity", func(t *testing.T) {
		_, s, _ := setup(t)
		other := mutualaid.Member{UserID: "u-liu", CommunityID: "beiyuan", Role: mutualaid.RoleResident}
		d := newDevice(t, s, other)
		m := feverRequest("req-2340")
		m.GetPostRequest().GetDraft().BuildingId = "bldg-1"
		d.mustApply(m)
		v := d.pull()
		if _, ok := v[community]; ok {
			t.Fatalf("a member of beiyuan pulled yuqiao's community scope")
		}
		v.post(t, mutualaid.CommunityScope("beiyuan"), "post/beiyuan/req-2340")
		assertRejected(t, d.push(cancelMutation("req-2340-x", "")), mutualaid.ReasonPostNotFound)
	})
}

func TestEditPost(t *testing.T) {
	t.Parallel()
	t.Run("AuthorReplacesDraft", func(t *testing.T) {
		clk, _, author := setup(t)
		clk.Advance(5 * time.Minute)
		d := feverRequest("").GetPostRequest().GetDraft()
		d.Items = d.Items[:1]
		d.Urgency = linliv1.Urgency_URGENCY_CRITICAL
		d.Note = "孩子烧到40度了，有没有邻居能帮忙？"
		author.mustApply(editMutation("req-2340", d))

		v := author.pull()
		for _, scope := range []string{community, mutualaid.UserScope("u-wang")} {
			p := v.post(t, scope, feverPost)
			if p.GetNote() != d.GetNote() || len(p.GetItems()) != 1 || p.GetUrgency() != linliv1.Urgency_URGENCY_CRITICAL {
				t.Errorf("%s: got note %q, %d items, urgency %v", scope, p.GetNote(), len(p.GetItems()), p.GetUrgency())
			}
			if !p.GetCreatedAt().AsTime().Equal(night) || !p.GetUpdatedAt().AsTime().Equal(night.Add(5*time.Minute)) {
				t.Errorf("%s: got created %v updated %v", scope, p.GetCreatedAt().AsTime(), p.GetUpdatedAt().AsTime())
			}
		}
	})
	t.Run("OthersAreRejected", func(t *testing.T) {
		_, s, _ := setup(t)
		before := s.Heads([]string{community, staff})
		want := newDevice(t, s, zhao).pull().post(t, staff, feverPost)
		for _, m := range []mutualaid.Member{zhang, zhao} {
			d := feverRequest("").GetPostRequest().GetDraft()
			d.Note = "已经有人送了"
			assertRejected(t, newDevice(t, s, m).push(editMutation("req-2340", d)), mutualaid.ReasonNotAuthor)
		}
		assertUnchanged(t, s, before, want)
	})
	t.Run("UnknownPost", func(t *testing.T) {
		_, _, author := setup(t)
		d := feverRequest("").GetPostRequest().GetDraft()
		assertRejected(t, author.push(editMutation("req-0000", d)), mutualaid.ReasonPostNotFound)
	})
	t.Run("CancelledPostIsNotOpen", func(t *testing.T) {
		_, _, author := setup(t)
		author.mustApply(cancelMutation("req-2340", ""))
		d := feverRequest("").GetPostRequest().GetDraft()
		assertRejected(t, author.push(editMutation("req-2340", d)), mutualaid.ReasonPostNotOpen)
		assertRejected(t, author.push(cancelMutation("req-2340", "")), mutualaid.ReasonPostNotOpen)
	})
	t.Run("RequestKeepsAnUrgency", func(t *testing.T) {
		_, _, author := setup(t)
		d := feverRequest("").GetPostRequest().GetDraft()
		d.Urgency = linliv1.Urgency_URGENCY_UNSPECIFIED
		assertRejected(t, author.push(editMutation("req-2340", d)), mutualaid.ReasonUrgencyRequired)
	})
	t.Run("OfferWithoutUrgencyIsRoutine", func(t *testing.T) {
		s := mustOpen(t, &clock{now: night})
		d := newDevice(t, s, lucy)
		offer := medicineOffer("offer-1")
		offer.GetPostOffer().GetDraft().Urgency = linliv1.Urgency_URGENCY_URGENT
		d.mustApply(offer)
		d.mustApply(editMutation("offer-1", medicineOffer("").GetPostOffer().GetDraft()))
		if got := d.pull().post(t, community, "post/yuqiao/offer-1").GetUrgency(); got != linliv1.Urgency_URGENCY_ROUTINE {
			t.Errorf("got urgency %v, want routine", got)
		}
	})
}

func TestCancelPost(t *testing.T) {
	t.Parallel()
	t.Run("StaysVisibleAsCancelled", func(t *testing.T) {
		clk, s, author := setup(t)
		clk.Advance(20 * time.Minute)
		author.mustApply(cancelMutation("req-2340", "邻居已经把美林挂在门把手上了，谢谢！"))
		for _, d := range []*device{newDevice(t, s, zhang), newDevice(t, s, zhao), author} {
			p := d.pull().post(t, community, feverPost)
			if p.GetStatus() != linliv1.PostStatus_POST_STATUS_CANCELLED || p.GetCancelReason() != "邻居已经把美林挂在门把手上了，谢谢！" {
				t.Errorf("%s: got status %v reason %q", d.member.UserID, p.GetStatus(), p.GetCancelReason())
			}
			if !p.GetUpdatedAt().AsTime().Equal(night.Add(20 * time.Minute)) {
				t.Errorf("%s: got updated %v", d.member.UserID, p.GetUpdatedAt().AsTime())
			}
		}
	})
	t.Run("OthersAreRejected", func(t *testing.T) {
		_, s, _ := setup(t)
		before := s.Heads([]string{community, staff})
		want := newDevice(t, s, zhao).pull().post(t, staff, feverPost)
		assertRejected(t, newDevice(t, s, zhang).push(cancelMutation("req-2340", "")), mutualaid.ReasonNotAuthor)
		assertUnchanged(t, s, before, want)
	})
}

func TestNewMutationAt(t *testing.T) {
	t.Parallel()
	t.Run("Names", func(t *testing.T) {
		for want, m := range map[string]*linliv1.Mutation{
			"post_offer":   medicineOffer("o1"),
			"post_request": feverRequest("r1"),
			"edit_post":    editMutation("r1", feverRequest("").GetPostRequest().GetDraft()),
			"cancel_post":  cancelMutation("r1", "不需要了"),
		} {
			m.Id = 7
			mut, err := mutualaid.NewMutationAt(wang, m, time.Now())
			if err != nil || mut.Name != want || mut.ID != 7 || mut.Apply == nil {
				t.Errorf("got %q id %d err %v, want %q id 7", mut.Name, mut.ID, err, want)
			}
		}
	})
	t.Run("InvalidReturnsError", func(t *testing.T) {
		m := feverRequest("req-2340")
		m.GetPostRequest().GetDraft().GetItems()[0].Quantity = 0
		mut, err := mutualaid.NewMutationAt(wang, m, time.Now())
		if e, ok := errors.AsType[*mutualaid.Error](err); !ok || e.Reason != "quantity_out_of_range" {
			t.Fatalf("got %v, want quantity_out_of_range", err)
		}
		if mut.Apply != nil {
			t.Errorf("got a mutation to queue for invalid input")
		}
	})
	t.Run("MemberRequired", func(t *testing.T) {
		if _, err := mutualaid.NewMutationAt(mutualaid.Member{UserID: "u-wang"}, feverRequest("r1"), time.Now()); err == nil {
			t.Errorf("got no error for a member without community")
		}
	})
}

func assertRejected(t *testing.T, r linlisync.Result, reason string) {
	t.Helper()
	if r.Status != linlisync.StatusRejected || r.Reason != reason || r.Message == "" {
		t.Errorf("got status %d reason %q message %q; want rejected %q with a message", r.Status, r.Reason, r.Message, reason)
	}
}

// assertUnchanged checks that neither the community nor the staff scope
// moved and that the post is as it was.
func assertUnchanged(t *testing.T, s *linlisync.Store, heads map[string]uint64, want *linliv1.Post) {
	t.Helper()
	if got := s.Heads([]string{community, staff}); !maps.Equal(got, heads) {
		t.Errorf("heads moved: got %v, want %v", got, heads)
	}
	got := newDevice(t, s, zhao).pull().post(t, staff, feverPost)
	if !proto.Equal(got, want) {
		t.Errorf("post changed:\ngot  %v\nwant %v", got, want)
	}
}
