package mutualaid_test

import (
	"bytes"
	"maps"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

func TestMaskName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"王芳": "王**", "王": "王**", "欧阳娜娜": "欧**", "Lucy Chen": "L**", "": "",
	} {
		if got := mutualaid.MaskName(name); got != want {
			t.Errorf("MaskName(%q): got %q, want %q", name, got, want)
		}
	}
}

// TestPostViewsHideDetails: what someone posted for a neighbour, the
// medical signs triage found and the hotline's notes stay out of the
// community scope; the author and staff see them.
func TestPostViewsHideDetails(t *testing.T) {
	t.Parallel()
	p := &linliv1.Post{
		Id: "req-1", Kind: linliv1.PostKind_POST_KIND_REQUEST, CommunityId: "yuqiao", AuthorId: "u-zhao", AuthorName: "赵主任",
		OnBehalf: &linliv1.OnBehalf{ResidentName: "孙奶奶", Consent: true, ConsentNote: "09:10来电，住1502"},
		Triage:   &linliv1.TriageVerdict{Emergency: true, Signs: []string{"chest_pain"}, AdviceZh: "请立即拨打120", AdviceEn: "Call 120 now"},
		Escalation: &linliv1.Escalation{HotlineCase: &linliv1.HotlineCase{
			State: linliv1.CaseState_CASE_STATE_OPEN, StatusNotes: "已派单", ServiceRequestId: "12345-000001",
		}},
	}
	views, err := mutualaid.PostViews(p)
	if err != nil {
		t.Fatal(err)
	}
	c := decodePost(t, views["community/yuqiao"])
	if o := c.GetOnBehalf(); o.GetResidentName() != "孙**" || o.GetConsentNote() != "" || !o.GetConsent() {
		t.Errorf("community sees on_behalf %v, want the masked name and the consent only", o)
	}
	if tr := c.GetTriage(); !tr.GetEmergency() || len(tr.GetSigns()) > 0 || tr.GetAdviceZh() != "" {
		t.Errorf("community sees triage %v, want only that it is an emergency", tr)
	}
	if hc := c.GetEscalation().GetHotlineCase(); hc.GetStatusNotes() != "" || hc.GetServiceRequestId() != "" {
		t.Errorf("community sees the case %v, want its state only", hc)
	}
	for _, sc := range []string{"user/u-zhao", "staff/yuqiao"} {
		if got := decodePost(t, views[sc]); !proto.Equal(got, p) {
			t.Errorf("%s: got %v, want the full post", sc, got)
		}
	}
}

func TestPostViews(t *testing.T) {
	t.Parallel()
	p := &linliv1.Post{
		Id: "req-2340", Kind: linliv1.PostKind_POST_KIND_REQUEST, CommunityId: "yuqiao", AuthorId: "u-wang",
		AuthorName: "王芳", Items: feverRequest("").GetPostRequest().GetDraft().GetItems(),
		Urgency: linliv1.Urgency_URGENCY_URGENT, Note: "急需儿童退烧药", BuildingId: "bldg-3", Floor: 15,
		Unit: "1502", Phone: "+86 138-0013-8000", Status: linliv1.PostStatus_POST_STATUS_OPEN,
		CreatedAt: timestamppb.New(night), UpdatedAt: timestamppb.New(night),
	}
	views, err := mutualaid.PostViews(p)
	if err != nil {
		t.Fatalf("PostViews: %v", err)
	}
	scopes := slices.Sorted(maps.Keys(views))
	if want := []string{"community/yuqiao", "staff/yuqiao", "user/u-wang"}; !slices.Equal(scopes, want) {
		t.Fatalf("got scopes %v, want %v", scopes, want)
	}
	for _, sc := range []string{"user/u-wang", "staff/yuqiao"} {
		if got := decodePost(t, views[sc]); !proto.Equal(got, p) {
			t.Errorf("%s: got %v, want the full post", sc, got)
		}
	}
	want := proto.CloneOf(p)
	want.AuthorName, want.Unit, want.Phone = "王**", "", ""
	if got := decodePost(t, views["community/yuqiao"]); !proto.Equal(got, want) {
		t.Errorf("community: got %v, want %v", got, want)
	}
	if p.GetPhone() == "" || p.GetAuthorName() != "王芳" {
		t.Errorf("PostViews modified its argument")
	}
	again, _ := mutualaid.PostViews(p)
	if !bytes.Equal(again["community/yuqiao"], views["community/yuqiao"]) {
		t.Errorf("views are not deterministic")
	}
}

func decodePost(t *testing.T, b []byte) *linliv1.Post {
	t.Helper()
	var e linliv1.Entity
	if err := proto.Unmarshal(b, &e); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return e.GetPost()
}
