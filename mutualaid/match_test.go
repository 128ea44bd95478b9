package mutualaid_test

import (
	"cmp"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/linli/linli/mutualaid"
	"github.com/linli/linli/mutualaid/catalog"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

var updateMatchGolden = flag.Bool("update-match", false, "rewrite testdata/match/*.golden from the ranking")

// The 玉桥 community on the night of 15 December 2022 (night, 23:40): three
// buildings (3号楼, 5号楼, 7号楼), six needs and ten offers, in the order they
// were posted.
func yuqiaoPosts() []*linliv1.Post {
	return []*linliv1.Post{
		// Offers.
		mxOffer("off-meilin", "u-lucy", "bldg-3", // Lucy, 3号楼 11楼: half a bottle of 美林
			mxItem("ibuprofen-suspension-child", "美林", 1, "2023-06-30")),
		mxOffer("off-tylenol-child", "u-zhang", "bldg-5", // 张伟, 5号楼: children's 泰诺林
			mxItem("acetaminophen-suspension-child", "泰诺林", 1, "2023-01-31")),
		mxOffer("off-adult-ibuprofen", "u-wu", "bldg-3", // adult tablets: never for a child
			mxItem("ibuprofen-tablet", "布洛芬片", 2, "2024-03-31")),
		mxOffer("off-expired-drops", "u-zheng", "bldg-3", // expired last month: never matches
			mxItem("acetaminophen-drops-infant", "对乙酰氨基酚滴剂", 1, "2022-11-30")),
		mxOffer("off-antigen", "u-feng", "bldg-5", // 5 kits, 2 already promised
			mxReserved(mxItem("antigen-test", "抗原检测试剂", 5, ""), 2)),
		mxOffer("off-thermometers", "u-he", "bldg-7",
			mxItem("thermometer-electronic", "体温计", 2, "")),
		mxOffer("off-antigen-gone", "u-gao", "bldg-7", // both kits promised: nothing left
			mxReserved(mxItem("antigen-test", "抗原", 2, ""), 2)),
		mxOffer("off-oximeter", "u-ma", "bldg-3",
			mxItem("pulse-oximeter", "血氧仪", 1, "")),
		mxOffer("off-mixed", "u-guo", "bldg-7", // drops about to expire, and one test kit
			mxItem("acetaminophen-drops-infant", "小儿对乙酰氨基酚滴剂", 1, "2022-12-31"),
			mxItem("antigen-test", "抗原", 1, "")),
		mxOffer("off-forehead", "u-lin", "bldg-3",
			mxItem("thermometer-forehead", "额温枪", 1, "")),

		// Requests.
		mxRequest("req-fever-2340", "u-wang", "bldg-3", linliv1.Urgency_URGENCY_URGENT, // 王芳 at 23:40
			&linliv1.ForWhom{Recipient: linliv1.Recipient_RECIPIENT_CHILD, AgeMonths: 8},
			mxItem("ibuprofen-suspension-child", "美林", 1, "")),
		mxRequest("req-oximeter", "u-li", "bldg-5", linliv1.Urgency_URGENCY_URGENT, // 李大爷, 78, alone
			&linliv1.ForWhom{Recipient: linliv1.Recipient_RECIPIENT_ELDERLY, LivesAlone: true},
			mxItem("pulse-oximeter", "血氧仪", 1, "")),
		mxRequest("req-antigen", "u-sun", "bldg-7", linliv1.Urgency_URGENCY_ROUTINE, // 孙女士, 7 months pregnant
			&linliv1.ForWhom{Recipient: linliv1.Recipient_RECIPIENT_PREGNANT},
			mxItem("antigen-test", "抗原", 2, "")),
		mxRequest("req-thermometer", "u-chen", "bldg-3", linliv1.Urgency_URGENCY_ROUTINE, nil,
			mxItem("thermometer-electronic", "体温计", 1, "")),
		mxRequest("req-fever-adult", "u-zhou", "bldg-5", linliv1.Urgency_URGENCY_ROUTINE,
			&linliv1.ForWhom{Recipient: linliv1.Recipient_RECIPIENT_SELF},
			mxItem("acetaminophen-tablet", "对乙酰氨基酚片", 1, "")),
		mxRequest("req-diapers", "u-qian", "bldg-5", linliv1.Urgency_URGENCY_ROUTINE, nil, // nobody has any
			mxItem("diapers", "纸尿裤", 1, "")),
	}
}

// mxScored is an offer (or request) id and its match's score.
type mxScored struct {
	id    string
	score int32
}

// yuqiaoRanking is the expected top list of each request, worked out by
// hand from the score table on scoreMatch (night is 2022-12-15):
//
//	req-fever-2340 (child, 8 months, 3号楼, urgent; 美林 ×1): base +15 urgent +20 child
//	  off-meilin         50 same item + 15 enough + 4 (197 days) + 25 same building = 94+35 = 129
//	  off-mixed          30 child-safe drops + 15 + 10 (16 days)                    = 55+35 = 90
//	  off-tylenol-child  30 child-safe suspension + 15 + 9 (47 days)                = 54+35 = 89
//	  (adult tablets: not child-safe; expired drops: expired)
//	req-oximeter (elderly alone, urgent): off-oximeter 50+15 +15 +20 = 100
//	req-antigen (pregnant, 7号楼; 抗原 ×2): off-mixed 50 + 5 (1 of 2) + 25 + 20 = 100;
//	  off-antigen 50 + 15 (3 of 5 left) + 20 = 85; off-antigen-gone has none left
//	req-thermometer (3号楼): off-forehead 30 + 15 + 25 = 70; off-thermometers 50 + 15 = 65
//	req-fever-adult (5号楼; adult acetaminophen tablets): every unexpired fever reducer fits
//	  off-tylenol-child 30+15+9+25 = 79; off-mixed 30+15+10 = 55; off-meilin 30+15+4 = 49;
//	  off-adult-ibuprofen 30+15+0 (472 days) = 45
//	req-diapers: nothing
var yuqiaoRanking = []struct {
	request string
	want    []mxScored
}{
	{"req-fever-2340", []mxScored{{"off-meilin", 129}, {"off-mixed", 90}, {"off-tylenol-child", 89}}},
	{"req-oximeter", []mxScored{{"off-oximeter", 100}}},
	{"req-antigen", []mxScored{{"off-mixed", 100}, {"off-antigen", 85}}},
	{"req-thermometer", []mxScored{{"off-forehead", 70}, {"off-thermometers", 65}}},
	{"req-fever-adult", []mxScored{{"off-tylenol-child", 79}, {"off-mixed", 55}, {"off-meilin", 49}, {"off-adult-ibuprofen", 45}}},
	{"req-diapers", nil},
}

func TestRankOffersYuqiao(t *testing.T) {
	t.Parallel()
	posts := yuqiaoPosts()
	offers := mxOfKind(posts, linliv1.PostKind_POST_KIND_OFFER)
	var golden strings.Builder
	for _, tc := range yuqiaoRanking {
		req := mxFind(posts, tc.request)
		got := mutualaid.MatchRankOffers(req, offers, catalog.Default(), night)
		t.Run(tc.request, func(t *testing.T) {
			if g := mxScores(got, false); !slices.Equal(g, tc.want) {
				t.Errorf("got %v,\nwant %v", g, tc.want)
			}
		})
		fmt.Fprintf(&golden, "%s\n", tc.request)
		for _, m := range got {
			fmt.Fprintf(&golden, "  %3d %-20s %s ×%d: %s\n", m.GetScore(), m.GetOfferPostId(), m.GetOfferItemCode(), m.GetAvailable(), strings.Join(m.GetReasons(), " | "))
		}
	}
	mxGolden(t, "yuqiao.golden", golden.String())
}

func TestRankOffersReasons(t *testing.T) {
	t.Parallel()
	posts := yuqiaoPosts()
	offers := mxOfKind(posts, linliv1.PostKind_POST_KIND_OFFER)
	for _, tc := range []struct {
		request, offer string
		code           string
		available      int32
		reasons        []string
	}{
		{"req-fever-2340", "off-meilin", "ibuprofen-suspension-child", 1,
			[]string{"same item: 美林", "same building", "urgent", "for a child of 8 months", "expires 2023-06-30", "1 available"}},
		{"req-fever-2340", "off-mixed", "acetaminophen-drops-infant", 1,
			[]string{"child-safe fever reducer", "urgent", "for a child of 8 months", "expires 2022-12-31", "1 available"}},
		{"req-oximeter", "off-oximeter", "pulse-oximeter", 1,
			[]string{"same item: 血氧仪", "urgent", "for an elderly person living alone", "1 available"}},
		{"req-antigen", "off-mixed", "antigen-test", 1,
			[]string{"same item: 抗原", "same building", "for a pregnant woman", "only 1 of 2 needed"}},
		{"req-antigen", "off-antigen", "antigen-test", 3,
			[]string{"same item: 抗原检测试剂", "for a pregnant woman", "3 of 5 left"}},
		{"req-thermometer", "off-forehead", "thermometer-forehead", 1,
			[]string{"same category: thermometer", "same building", "1 available"}},
		{"req-fever-adult", "off-tylenol-child", "acetaminophen-suspension-child", 1,
			[]string{"same category: fever reducer", "same building", "expires 2023-01-31", "1 available"}},
	} {
		t.Run(tc.request+"/"+tc.offer, func(t *testing.T) {
			req := mxFind(posts, tc.request)
			got := mutualaid.MatchRankOffers(req, offers, catalog.Default(), night)
			i := slices.IndexFunc(got, func(m *linliv1.Match) bool { return m.GetOfferPostId() == tc.offer })
			if i < 0 {
				t.Fatalf("no match with %s", tc.offer)
			}
			m := got[i]
			if !slices.Equal(m.GetReasons(), tc.reasons) {
				t.Errorf("reasons: got %q,\nwant %q", m.GetReasons(), tc.reasons)
			}
			if m.GetOfferItemCode() != tc.code || m.GetAvailable() != tc.available {
				t.Errorf("got item %s ×%d, want %s ×%d", m.GetOfferItemCode(), m.GetAvailable(), tc.code, tc.available)
			}
			off := mxFind(posts, tc.offer)
			if m.GetId() != tc.request+"/"+tc.offer || m.GetCommunityId() != "yuqiao" ||
				m.GetRequestPostId() != tc.request || m.GetOfferPostId() != tc.offer ||
				m.GetRequestAuthorId() != req.GetAuthorId() || m.GetOfferAuthorId() != off.GetAuthorId() {
				t.Errorf("got ids %q %q %q %q %q %q", m.GetId(), m.GetCommunityId(), m.GetRequestPostId(), m.GetOfferPostId(), m.GetRequestAuthorId(), m.GetOfferAuthorId())
			}
		})
	}
}

func TestRankRequestsYuqiao(t *testing.T) {
	t.Parallel()
	posts := yuqiaoPosts()
	requests := mxOfKind(posts, linliv1.PostKind_POST_KIND_REQUEST)
	for _, tc := range []struct {
		offer string
		want  []mxScored
	}{
		{"off-mixed", []mxScored{{"req-antigen", 100}, {"req-fever-2340", 90}, {"req-fever-adult", 55}}},
		{"off-meilin", []mxScored{{"req-fever-2340", 129}, {"req-fever-adult", 49}}},
		{"off-adult-ibuprofen", []mxScored{{"req-fever-adult", 45}}},
		{"off-expired-drops", nil},
		{"off-antigen-gone", nil},
	} {
		t.Run(tc.offer, func(t *testing.T) {
			var got []*linliv1.Match
			for _, r := range requests {
				if m, ok := mutualaid.MatchScore(r, mxFind(posts, tc.offer), catalog.Default(), night); ok {
					got = append(got, m)
				}
			}
			slices.SortFunc(got, func(a, b *linliv1.Match) int {
				return cmp.Or(cmp.Compare(b.GetScore(), a.GetScore()), cmp.Compare(a.GetRequestPostId(), b.GetRequestPostId()))
			})
			if g := mxScores(got, true); !slices.Equal(g, tc.want) {
				t.Errorf("got %v, want %v", g, tc.want)
			}
		})
	}
}

// TestRankScore pins each line of the score table: a routine request of an
// adult for one thermometer, against an offer of another building with two
// of the same, scores 50+15 = 65; each case changes one thing.
func TestRankScore(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(req, off *linliv1.Post)
		score  int32
		reason string // the reason the change adds, if any
	}{
		{"Base", func(req, off *linliv1.Post) {}, 65, "2 available"},
		{"CategoryFit", func(req, off *linliv1.Post) { off.Items[0].ItemCode = "thermometer-ear" }, 45, "same category: thermometer"},
		{"Partial", func(req, off *linliv1.Post) { req.Items[0].Quantity = 3 }, 55, "only 2 of 3 needed"},
		{"SomeReserved", func(req, off *linliv1.Post) { off.Items[0].Reserved = 1 }, 65, "1 of 2 left"},
		{"SameBuilding", func(req, off *linliv1.Post) { off.BuildingId = req.BuildingId }, 90, "same building"},
		{"Urgent", func(req, off *linliv1.Post) { req.Urgency = linliv1.Urgency_URGENCY_URGENT }, 80, "urgent"},
		{"Critical", func(req, off *linliv1.Post) { req.Urgency = linliv1.Urgency_URGENCY_CRITICAL }, 95, "critical"},
		{"Infant", func(req, off *linliv1.Post) { req.ForWhom = mxFor(linliv1.Recipient_RECIPIENT_INFANT, 2, false) }, 85, "for an infant of 2 months"},
		{"ChildUnder3", func(req, off *linliv1.Post) { req.ForWhom = mxFor(linliv1.Recipient_RECIPIENT_CHILD, 35, false) }, 85, "for a child of 35 months"},
		{"ChildOf3", func(req, off *linliv1.Post) { req.ForWhom = mxFor(linliv1.Recipient_RECIPIENT_CHILD, 36, false) }, 65, ""},
		{"ElderlyAlone", func(req, off *linliv1.Post) { req.ForWhom = mxFor(linliv1.Recipient_RECIPIENT_ELDERLY, 0, true) }, 85, "for an elderly person living alone"},
		{"ElderlyWithFamily", func(req, off *linliv1.Post) { req.ForWhom = mxFor(linliv1.Recipient_RECIPIENT_ELDERLY, 0, false) }, 65, ""},
		{"Pregnant", func(req, off *linliv1.Post) { req.ForWhom = mxFor(linliv1.Recipient_RECIPIENT_PREGNANT, 0, false) }, 85, "for a pregnant woman"},
		{"ChronicIllness", func(req, off *linliv1.Post) {
			req.ForWhom = mxFor(linliv1.Recipient_RECIPIENT_CHRONIC_ILLNESS, 0, false)
		}, 85, "for someone with a chronic illness"},
		{"ExpiresToday", func(req, off *linliv1.Post) { off.Items[0].ExpiryDate = "2022-12-15" }, 75, "expires 2022-12-15"},
		{"Expires29Days", func(req, off *linliv1.Post) { off.Items[0].ExpiryDate = "2023-01-13" }, 75, "expires 2023-01-13"},
		{"Expires30Days", func(req, off *linliv1.Post) { off.Items[0].ExpiryDate = "2023-01-14" }, 74, "expires 2023-01-14"},
		{"Expires299Days", func(req, off *linliv1.Post) { off.Items[0].ExpiryDate = "2023-10-10" }, 66, "expires 2023-10-10"},
		{"Expires300Days", func(req, off *linliv1.Post) { off.Items[0].ExpiryDate = "2023-10-11" }, 65, "expires 2023-10-11"},
		{"Everything", func(req, off *linliv1.Post) {
			off.BuildingId = req.BuildingId
			off.Items[0].ExpiryDate = "2022-12-20"
			req.Urgency = linliv1.Urgency_URGENCY_CRITICAL
			req.ForWhom = mxFor(linliv1.Recipient_RECIPIENT_INFANT, 5, false)
		}, 150, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := mxRequest("req", "u-a", "bldg-3", linliv1.Urgency_URGENCY_ROUTINE, nil, mxItem("thermometer-electronic", "体温计", 1, ""))
			off := mxOffer("off", "u-b", "bldg-5", mxItem("thermometer-electronic", "体温计", 2, ""))
			tc.change(req, off)
			got := mutualaid.MatchRankOffers(req, []*linliv1.Post{off}, catalog.Default(), night)
			if len(got) != 1 {
				t.Fatalf("got %d matches, want 1", len(got))
			}
			if got[0].GetScore() != tc.score {
				t.Errorf("score: got %d, want %d (reasons %q)", got[0].GetScore(), tc.score, got[0].GetReasons())
			}
			if tc.reason != "" && !slices.Contains(got[0].GetReasons(), tc.reason) {
				t.Errorf("reasons %q lack %q", got[0].GetReasons(), tc.reason)
			}
		})
	}
}

// TestRankNeverFits lists offers that must never be suggested.
func TestRankNeverFits(t *testing.T) {
	t.Parallel()
	child8 := mxFor(linliv1.Recipient_RECIPIENT_CHILD, 8, false)
	feverChild := func() *linliv1.Post {
		return mxRequest("req", "u-a", "bldg-3", linliv1.Urgency_URGENCY_URGENT, child8, mxItem("ibuprofen-suspension-child", "美林", 1, ""))
	}
	for _, tc := range []struct {
		name string
		req  *linliv1.Post
		off  *linliv1.Post
	}{
		{"AdultTabletsForAChild", feverChild(), mxOffer("off", "u-b", "bldg-3", mxItem("ibuprofen-tablet", "布洛芬片", 2, "2024-01-31"))},
		{"AdultAcetaminophenForAChild", feverChild(), mxOffer("off", "u-b", "bldg-3", mxItem("acetaminophen-tablet", "对乙酰氨基酚片", 2, "2024-01-31"))},
		{"SustainedReleaseForAChild", feverChild(), mxOffer("off", "u-b", "bldg-3", mxItem("ibuprofen-capsule-sr", "芬必得", 1, "2024-01-31"))},
		{"AdultTabletsAskedForAChild", mxRequest("req", "u-a", "bldg-3", linliv1.Urgency_URGENCY_URGENT, child8, mxItem("ibuprofen-tablet", "布洛芬", 1, "")),
			mxOffer("off", "u-b", "bldg-3", mxItem("ibuprofen-tablet", "布洛芬片", 2, "2024-01-31"))},
		{"TooYoungForIbuprofen", mxRequest("req", "u-a", "bldg-3", linliv1.Urgency_URGENCY_URGENT, mxFor(linliv1.Recipient_RECIPIENT_INFANT, 4, false), mxItem("acetaminophen-drops-infant", "滴剂", 1, "")),
			mxOffer("off", "u-b", "bldg-3", mxItem("ibuprofen-suspension-child", "美林", 1, "2024-01-31"))},
		{"TooYoungForTheSameItem", mxRequest("req", "u-a", "bldg-3", linliv1.Urgency_URGENCY_URGENT, mxFor(linliv1.Recipient_RECIPIENT_INFANT, 4, false), mxItem("ibuprofen-suspension-child", "美林", 1, "")),
			mxOffer("off", "u-b", "bldg-3", mxItem("ibuprofen-suspension-child", "美林", 1, "2024-01-31"))},
		{"ExpiredYesterday", feverChild(), mxOffer("off", "u-b", "bldg-3", mxItem("ibuprofen-suspension-child", "美林", 1, "2022-12-14"))},
		{"ExpiryUnreadable", feverChild(), mxOffer("off", "u-b", "bldg-3", mxItem("ibuprofen-suspension-child", "美林", 1, "2023-02-30"))},
		{"FullyReserved", feverChild(), mxOffer("off", "u-b", "bldg-3", mxReserved(mxItem("ibuprofen-suspension-child", "美林", 2, "2024-01-31"), 2))},
		{"OtherCategory", feverChild(), mxOffer("off", "u-b", "bldg-3", mxItem("antigen-test", "抗原", 5, ""))},
		{"OtherGroup", mxRequest("req", "u-a", "bldg-3", linliv1.Urgency_URGENCY_ROUTINE, nil, mxItem("diapers", "纸尿裤", 1, "")),
			mxOffer("off", "u-b", "bldg-3", mxItem("infant-formula-stage1", "奶粉", 1, ""))},
		{"UnknownCodeOnlyItself", mxRequest("req", "u-a", "bldg-3", linliv1.Urgency_URGENCY_ROUTINE, nil, mxItem("pear-soup", "冰糖雪梨", 1, "")),
			mxOffer("off", "u-b", "bldg-3", mxItem("pears", "梨", 5, ""))},
		{"Prescription", mxRequest("req", "u-a", "bldg-3", linliv1.Urgency_URGENCY_ROUTINE, nil, mxItem("paxlovid", "Paxlovid", 1, "")),
			mxOffer("off", "u-b", "bldg-3", mxItem("paxlovid", "Paxlovid", 1, "2024-01-31"))},
		{"OwnOffer", feverChild(), mxOffer("off", "u-a", "bldg-3", mxItem("ibuprofen-suspension-child", "美林", 1, "2024-01-31"))},
		{"OtherCommunity", feverChild(), func() *linliv1.Post {
			p := mxOffer("off", "u-b", "bldg-3", mxItem("ibuprofen-suspension-child", "美林", 1, "2024-01-31"))
			p.CommunityId = "beiyuan"
			return p
		}()},
		{"OfferCancelled", feverChild(), mxStatus(mxOffer("off", "u-b", "bldg-3", mxItem("ibuprofen-suspension-child", "美林", 1, "2024-01-31")), linliv1.PostStatus_POST_STATUS_CANCELLED)},
		{"OfferFulfilled", feverChild(), mxStatus(mxOffer("off", "u-b", "bldg-3", mxItem("ibuprofen-suspension-child", "美林", 1, "2024-01-31")), linliv1.PostStatus_POST_STATUS_FULFILLED)},
		{"RequestEscalated", mxStatus(feverChild(), linliv1.PostStatus_POST_STATUS_ESCALATED), mxOffer("off", "u-b", "bldg-3", mxItem("ibuprofen-suspension-child", "美林", 1, "2024-01-31"))},
		{"TwoRequests", feverChild(), mxRequest("off", "u-b", "bldg-3", linliv1.Urgency_URGENCY_URGENT, nil, mxItem("ibuprofen-suspension-child", "美林", 1, ""))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mutualaid.MatchRankOffers(tc.req, []*linliv1.Post{tc.off}, catalog.Default(), night); len(got) != 0 {
				t.Errorf("got %d matches (%q), want none", len(got), got[0].GetReasons())
			}
		})
	}
}

// TestRankFits lists the substitutions that must be suggested.
func TestRankFits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		req    *linliv1.Post
		off    *linliv1.Post
		reason string
	}{
		{"ChildFeverReducerTakesAcetaminophenDrops",
			mxRequest("req", "u-a", "bldg-3", linliv1.Urgency_URGENCY_URGENT, mxFor(linliv1.Recipient_RECIPIENT_CHILD, 8, false), mxItem("ibuprofen-suspension-child", "美林", 1, "")),
			mxOffer("off", "u-b", "bldg-5", mxItem("acetaminophen-drops-infant", "滴剂", 1, "2023-03-31")), "child-safe fever reducer"},
		{"InfantOf4MonthsTakesAcetaminophen",
			mxRequest("req", "u-a", "bldg-3", linliv1.Urgency_URGENCY_URGENT, mxFor(linliv1.Recipient_RECIPIENT_INFANT, 4, false), mxItem("ibuprofen-suspension-child", "美林", 1, "")),
			mxOffer("off", "u-b", "bldg-5", mxItem("acetaminophen-suspension-child", "泰诺林", 1, "2023-03-31")), "child-safe fever reducer"},
		{"AdultTakesAdultTablets",
			mxRequest("req", "u-a", "bldg-3", linliv1.Urgency_URGENCY_URGENT, mxFor(linliv1.Recipient_RECIPIENT_SELF, 0, false), mxItem("acetaminophen-tablet", "对乙酰氨基酚", 1, "")),
			mxOffer("off", "u-b", "bldg-5", mxItem("ibuprofen-tablet", "布洛芬片", 1, "2023-03-31")), "same category: fever reducer"},
		{"UnknownCodeFitsItself",
			mxRequest("req", "u-a", "bldg-3", linliv1.Urgency_URGENCY_ROUTINE, nil, mxItem("pear-soup", "冰糖雪梨", 1, "")),
			mxOffer("off", "u-b", "bldg-5", mxItem("pear-soup", "冰糖雪梨汤", 1, "")), "same item: 冰糖雪梨汤"},
		{"UnnamedItemUsesTheCatalogName",
			mxRequest("req", "u-a", "bldg-3", linliv1.Urgency_URGENCY_ROUTINE, nil, mxItem("pulse-oximeter", "", 1, "")),
			mxOffer("off", "u-b", "bldg-5", mxItem("pulse-oximeter", "", 1, "")), "same item: 指夹式血氧仪"},
		{"MatchedOfferWithSomeLeft",
			mxRequest("req", "u-a", "bldg-3", linliv1.Urgency_URGENCY_ROUTINE, nil, mxItem("antigen-test", "抗原", 1, "")),
			mxStatus(mxOffer("off", "u-b", "bldg-5", mxReserved(mxItem("antigen-test", "抗原", 3, ""), 1)), linliv1.PostStatus_POST_STATUS_MATCHED), "2 of 3 left"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mutualaid.MatchRankOffers(tc.req, []*linliv1.Post{tc.off}, catalog.Default(), night)
			if len(got) != 1 {
				t.Fatalf("got %d matches, want 1", len(got))
			}
			if !slices.Contains(got[0].GetReasons(), tc.reason) {
				t.Errorf("reasons %q lack %q", got[0].GetReasons(), tc.reason)
			}
		})
	}
}

// TestRankBestItem: of several fitting items the best pair counts, and
// equal scores are ordered by post id.
func TestRankBestItem(t *testing.T) {
	t.Parallel()
	req := mxRequest("req", "u-a", "bldg-3", linliv1.Urgency_URGENCY_ROUTINE, mxFor(linliv1.Recipient_RECIPIENT_CHILD, 60, false),
		mxItem("antigen-test", "抗原", 1, ""), mxItem("acetaminophen-suspension-child", "泰诺林", 1, ""))
	t.Run("ExactBeatsCategory", func(t *testing.T) {
		off := mxOffer("off", "u-b", "bldg-5",
			mxItem("ibuprofen-suspension-child", "美林", 1, "2023-01-01"),      // category fit, soon: 30+15+10
			mxItem("acetaminophen-suspension-child", "泰诺林", 4, "2024-01-01"), // exact, later: 50+15+0
		)
		got := mutualaid.MatchRankOffers(req, []*linliv1.Post{off}, catalog.Default(), night)
		if len(got) != 1 || got[0].GetOfferItemCode() != "acetaminophen-suspension-child" || got[0].GetAvailable() != 4 || got[0].GetScore() != 65 {
			t.Fatalf("got %v, want acetaminophen-suspension-child ×4 scoring 65", got)
		}
	})
	t.Run("TiesByPostID", func(t *testing.T) {
		var offers []*linliv1.Post
		for _, id := range []string{"off-c", "off-a", "off-b"} {
			offers = append(offers, mxOffer(id, "u-"+id, "bldg-5", mxItem("antigen-test", "抗原", 1, "")))
		}
		got := mutualaid.MatchRankOffers(req, offers, catalog.Default(), night)
		want := []mxScored{{"off-a", 65}, {"off-b", 65}, {"off-c", 65}}
		if g := mxScores(got, false); !slices.Equal(g, want) {
			t.Errorf("got %v, want %v", g, want)
		}
	})
}

// mxRequest is an open request of the 玉桥 community.
func mxRequest(id, author, building string, u linliv1.Urgency, f *linliv1.ForWhom, items ...*linliv1.PostItem) *linliv1.Post {
	p := mxOffer(id, author, building, items...)
	p.Kind, p.Urgency, p.ForWhom = linliv1.PostKind_POST_KIND_REQUEST, u, f
	return p
}

// mxOffer is an open offer of the 玉桥 community.
func mxOffer(id, author, building string, items ...*linliv1.PostItem) *linliv1.Post {
	return &linliv1.Post{
		Id: id, Kind: linliv1.PostKind_POST_KIND_OFFER, CommunityId: "yuqiao", AuthorId: author,
		AuthorName: "邻居" + author, Items: items, Urgency: linliv1.Urgency_URGENCY_ROUTINE,
		BuildingId: building, Floor: 6, Unit: "601", Phone: "138 0000 0000",
		Status: linliv1.PostStatus_POST_STATUS_OPEN,
	}
}

func mxItem(code, name string, qty int32, expiry string) *linliv1.PostItem {
	return &linliv1.PostItem{ItemCode: code, Name: name, Quantity: qty, Unit: "个", ExpiryDate: expiry}
}

func mxReserved(it *linliv1.PostItem, n int32) *linliv1.PostItem {
	it.Reserved = n
	return it
}

func mxStatus(p *linliv1.Post, s linliv1.PostStatus) *linliv1.Post {
	p.Status = s
	return p
}

func mxFor(r linliv1.Recipient, ageMonths uint32, alone bool) *linliv1.ForWhom {
	return &linliv1.ForWhom{Recipient: r, AgeMonths: ageMonths, LivesAlone: alone}
}

func mxFind(posts []*linliv1.Post, id string) *linliv1.Post {
	for _, p := range posts {
		if p.GetId() == id {
			return proto.CloneOf(p)
		}
	}
	panic("no post " + id)
}

func mxOfKind(posts []*linliv1.Post, k linliv1.PostKind) []*linliv1.Post {
	var out []*linliv1.Post
	for _, p := range posts {
		if p.GetKind() == k {
			out = append(out, p)
		}
	}
	return out
}

// mxScores lists the counterpart (offer, or request if byRequest) and score
// of each match.
func mxScores(ms []*linliv1.Match, byRequest bool) []mxScored {
	var out []mxScored
	for _, m := range ms {
		id := m.GetOfferPostId()
		if byRequest {
			id = m.GetRequestPostId()
		}
		out = append(out, mxScored{id, m.GetScore()})
	}
	return out
}

// mxGolden compares got with testdata/match/name, rewriting it with -update-match.
func mxGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "match", name)
	if *updateMatchGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-match to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update-match to rewrite it):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
