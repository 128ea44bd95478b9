package mutualaid_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// needItem is a request line naming a need, as a parent types it.
func needItem(need string, q int32) *linliv1.PostItem {
	return &linliv1.PostItem{Need: need, Quantity: q}
}

// adultIbuprofenItem is adult-only ibuprofen tablets (布洛芬片).
func adultIbuprofenItem(q int32) *linliv1.PostItem {
	return &linliv1.PostItem{ItemCode: "ibuprofen-tablet", Name: "布洛芬片", Quantity: q, Unit: "box", ExpiryDate: "2030-03-31"}
}

// suggestedOffers returns which of offers (default: off-meilin,
// off-tylenol, off-adult) are suggested to request req, with their Match
// entities, by offer post id.
func (f *handoffFixture) suggestedOffers(req string, offers ...string) map[string]*linliv1.Match {
	f.t.Helper()
	if len(offers) == 0 {
		offers = []string{"off-meilin", "off-tylenol", "off-adult"}
	}
	out := map[string]*linliv1.Match{}
	for _, off := range offers {
		_, ok, err := f.store.Get(mutualaid.MatchEntityID("yuqiao", req, off))
		if err != nil {
			f.t.Fatal(err)
		}
		if ok {
			out[off] = f.entity(mutualaid.MatchEntityID("yuqiao", req, off)).GetMatch()
		}
	}
	return out
}

// TestRequestByNeed: 王芳 asks for "儿童退烧药" (a children's fever
// reducer), 陈静 for "children's fever reducer" in English. Lucy offers
// 美林, 李娜 泰诺林 and 吴磊 adult ibuprofen tablets. Each request is
// suggested both 美林 and 泰诺林, never the adult tablets; the request
// stores the need's code; taking 美林 reserves it as for a request by
// item; and unmet needs count under their category in the report.
func TestRequestByNeed(t *testing.T) {
	t.Parallel()
	f := newHandoffFixture(t)
	from := f.clk.Now()
	f.offer("u-lucy", "off-meilin", meilinItem(2))
	f.offer("u-li", "off-tylenol", tylenolItem(2))
	f.offer("u-wu", "off-adult", adultIbuprofenItem(3))
	f.request("u-wang", "req-zh", needItem("儿童退烧药", 1))
	f.request("u-chen", "req-en", needItem("children's fever reducer", 1))

	for _, req := range []string{"req-zh", "req-en"} {
		if got := f.post(req).GetItems()[0].GetNeed(); got != "child-fever-reducer" {
			t.Errorf("%s: stored need %q, want the code child-fever-reducer", req, got)
		}
		got := f.suggestedOffers(req)
		for _, off := range []string{"off-meilin", "off-tylenol"} {
			m := got[off]
			if m == nil {
				t.Errorf("%s: %s not suggested (suggestions %v)", req, off, slices.Collect(mapKeys(got)))
				continue
			}
			if !slices.ContainsFunc(m.GetReasons(), func(r string) bool {
				return r == "children's fever reducer: 美林" || r == "children's fever reducer: 泰诺林"
			}) {
				t.Errorf("%s × %s: reasons %q do not name the need and the item", req, off, m.GetReasons())
			}
		}
		if _, ok := got["off-adult"]; ok {
			t.Errorf("%s: adult-only ibuprofen tablets suggested for a children's fever reducer", req)
		}
	}

	// Taking 美林 for the need reserves it like any request.
	f.phone("u-wang").mustApply(proposeH("h-1", "req-zh", "off-meilin", handoffItemMeilin, 1, false, ""))
	wantOfferItem(t, f.post("off-meilin"), handoffItemMeilin, 2, 1)
	wantPostStatus(t, f.post("req-zh"), linliv1.PostStatus_POST_STATUS_MATCHED)

	// Both needs go unmet past their deadline (王芳's handoff is still
	// only proposed): the report counts them as fever reducers.
	f.clk.Advance(2 * time.Hour)
	f.escalate(2)
	r, err := f.svc.Report(context.Background(), mutualaid.Operator, "yuqiao", from, f.clk.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cats := map[string]uint32{}
	for _, n := range r.GetUnmetByCategory() {
		cats[n.GetKey()] = n.GetCount()
	}
	if cats["fever_reducer"] != 2 || len(cats) != 1 {
		t.Errorf("unmet by category = %v, want fever_reducer 2", cats)
	}
}

// TestRequestByNeedAdultOnlyNeverFits: with only adult tablets and a
// children's cold medicine on offer, a request for a children's fever
// reducer gets no suggestion at all, and an adult's "退烧药" gets the
// tablets.
func TestRequestByNeedAdultOnlyNeverFits(t *testing.T) {
	t.Parallel()
	f := newHandoffFixture(t)
	f.offer("u-wu", "off-adult", adultIbuprofenItem(3))
	f.request("u-wang", "req-child", needItem("child-fever-reducer", 1))
	f.request("u-chen", "req-adult", needItem("退烧药", 1))
	if got := f.suggestedOffers("req-child"); len(got) != 0 {
		t.Errorf("children's fever reducer: got suggestions %v, want none", slices.Collect(mapKeys(got)))
	}
	if _, ok := f.suggestedOffers("req-adult")["off-adult"]; !ok {
		t.Errorf("an adult's fever reducer: the adult tablets are not suggested")
	}
}

// TestRequestByNeedRefused: a need the catalog does not know, a need on an
// offer, and a line naming both an item and a need are refused.
func TestRequestByNeedRefused(t *testing.T) {
	t.Parallel()
	f := newHandoffFixture(t)
	req := func(id string, it *linliv1.PostItem) *linliv1.Mutation {
		return &linliv1.Mutation{Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{
			PostId: id, Draft: handoffDraft(f.members["u-wang"], "孩子发烧", it)}}}
	}
	f.phone("u-wang").mustReject(req("r1", needItem("退烧", 1)), "need_unknown")
	off := &linliv1.Mutation{Kind: &linliv1.Mutation_PostOffer{PostOffer: &linliv1.PostOfferMutation{
		PostId: "o1", Draft: handoffDraft(f.members["u-lucy"], "", needItem("儿童退烧药", 1))}}}
	f.phone("u-lucy").mustReject(off, "need_not_offerable")

	both := needItem("儿童退烧药", 1)
	both.ItemCode = handoffItemMeilin
	_, err := f.phone("u-wang").send(req("r2", both))
	var e *mutualaid.Error
	if !errors.As(err, &e) || e.Reason != "need_with_item_code" {
		t.Errorf("item and need: got %v, want need_with_item_code", err)
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
