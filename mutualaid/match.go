package mutualaid

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/linli/linli/mutualaid/catalog"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// Matching suggests offers to requests. A Match is a suggestion, not a
// commitment: accepting one is a handoff, which reserves the quantity.
//
// Which posts take part: requests and offers while they are OPEN or
// MATCHED (a handoff under way may cover part of a request, and a partly
// reserved offer may still serve others; handoffs may be proposed on both),
// offers for the items they have free. A resident's own posts are never
// matched with each other. Only posts of the same community meet.
const (
	// MatchesPerRequest is how many offers are suggested to one request.
	MatchesPerRequest = 5
	// maxMatchCandidates bounds the counterpart posts one post write ranks.
	maxMatchCandidates = 500
	// maxMatchRefills bounds how many requests one offer write re-ranks in
	// full after the offer left their (full) top list.
	maxMatchRefills = 16
)

// Components of a match's score; see scoreMatch.
const (
	scoreExactItem    = 50
	scoreCategoryFit  = 30
	scoreEnough       = 15
	scorePartial      = 5
	scoreSameBuilding = 25
	scoreCritical     = 30
	scoreUrgent       = 15
	scoreVulnerable   = 20
	maxExpiryBonus    = 10
	expiryBonusDays   = 30 // the expiry bonus drops by one per this many days
	vulnerableChildMo = 36 // children under three years are vulnerable
)

// MatchEntityID names a match's entity in the sync store:
// "match/<community id>/<request post id>/<offer post id>". Its Match.Id is
// "<request post id>/<offer post id>".
func MatchEntityID(communityID, requestID, offerID string) string {
	return "match/" + communityID + "/" + requestID + "/" + offerID
}

// MatchViews returns a match's projection in each scope that may see it,
// the same deterministically marshalled linliv1.Entity{Match} in each: the
// request author's and the offer author's user scopes, and the community's
// staff scope. Never the community scope: a match tells who needs what.
func MatchViews(m *linliv1.Match) (map[string][]byte, error) {
	b, err := marshalMatch(m)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		UserScope(m.GetRequestAuthorId()): b,
		UserScope(m.GetOfferAuthorId()):   b,
		StaffScope(m.GetCommunityId()):    b,
	}, nil
}

var matchMarshal = proto.MarshalOptions{Deterministic: true}

// marshalMatch marshals linliv1.Entity{Match: m} deterministically.
func marshalMatch(m *linliv1.Match) ([]byte, error) {
	b, err := matchMarshal.Marshal(&linliv1.Entity{Kind: &linliv1.Entity_Match{Match: m}})
	if err != nil {
		return nil, fmt.Errorf("mutualaid: marshal match %s: %w", m.GetId(), err)
	}
	return b, nil
}

// postActive reports whether a post takes part in matching: OPEN or
// MATCHED. The other statuses are final.
func postActive(p *linliv1.Post) bool {
	s := p.GetStatus()
	return s == linliv1.PostStatus_POST_STATUS_OPEN || s == linliv1.PostStatus_POST_STATUS_MATCHED
}

// requestMatchable reports whether a request is asking for suggestions.
func requestMatchable(p *linliv1.Post) bool {
	return p.GetKind() == linliv1.PostKind_POST_KIND_REQUEST && postActive(p)
}

// offerMatchable reports whether an offer may be suggested (if it has
// anything free left).
func offerMatchable(p *linliv1.Post) bool {
	return p.GetKind() == linliv1.PostKind_POST_KIND_OFFER && postActive(p)
}

// rankOffers scores every offer against req (see scoreMatch) and returns
// the matches of the offers that fit, best first: by score, then by offer
// post id. Offers that do not fit are left out; the caller keeps the top
// MatchesPerRequest. now decides which medicines have expired.
func rankOffers(req *linliv1.Post, offers []*linliv1.Post, cat *catalog.Catalog, now time.Time) []*linliv1.Match {
	var out []*linliv1.Match
	for _, o := range offers {
		if m, ok := scoreMatch(req, o, cat, now); ok {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b *linliv1.Match) int {
		return cmp.Or(cmp.Compare(b.GetScore(), a.GetScore()), cmp.Compare(a.GetOfferPostId(), b.GetOfferPostId()))
	})
	return out
}

// scoreMatch decides whether offer can meet req and how well. ok is false
// unless req and offer are open or matched, by different authors, of the
// same community, and some requested item fits some
// offered item that has free quantity (quantity − reserved > 0) and, if it
// has an expiry date, has not expired (the date is the last good day, in
// now's location). An item fits
//
//   - exactly, with the same code; but for a child (ForWhom child or
//     infant, with the age in months) a catalog item must be child-safe and
//     not for older children, as Fits requires of substitutes;
//   - by category, with another code, when both codes are in the catalog
//     and Fits(requested, offered, child's age in months) says so: a
//     child's fever reducer fits ibuprofen suspension or acetaminophen
//     drops, not adult tablets. Unknown codes fit only the same code.
//
// A prescription medicine never fits.
//
// Of the fitting item pairs the best one counts (fit + quantity + expiry
// below; ties go to the earlier requested, then the earlier offered item);
// it names Match.OfferItemCode and Available (its free quantity). The
// score, and the reasons in this order:
//
//	item         +50 same item              "same item: 美林" (the offer's name for it)
//	             +30 category fit           "child-safe fever reducer" (for a child), else
//	                                        "same category: pulse oximeter"
//	building     +25 same building          "same building"
//	urgency      +30 critical, +15 urgent   "critical", "urgent"
//	recipient    +20 vulnerable             "for an infant of 2 months", "for a child of 8 months"
//	                                        (under 3 years), "for an elderly person living alone",
//	                                        "for a pregnant woman", "for someone with a chronic illness"
//	expiry       +0..10                     "expires 2023-01-31": 10 if it expires within 30
//	                                        days, one less per further 30 days, 0 from 300 days
//	quantity     +15 enough free            "3 available", or "3 of 5 left" when some are reserved
//	             +5 fewer than asked        "only 1 of 2 needed"
//
// so among otherwise equal offers the medicine that expires sooner (and
// would otherwise go to waste) comes first.
func scoreMatch(req, offer *linliv1.Post, cat *catalog.Catalog, now time.Time) (*linliv1.Match, bool) {
	if !requestMatchable(req) || !offerMatchable(offer) ||
		req.GetCommunityId() != offer.GetCommunityId() || req.GetAuthorId() == offer.GetAuthorId() {
		return nil, false
	}
	age := ageMonths(req.GetForWhom())
	today := startOfDay(now)
	var best itemFit
	found := false
	for _, ri := range req.GetItems() {
		for _, oi := range offer.GetItems() {
			f, ok := fitItems(ri, oi, cat, age, today)
			if ok && (!found || f.score() > best.score()) {
				best, found = f, true
			}
		}
	}
	if !found {
		return nil, false
	}
	score := best.score()
	reasons := []string{best.fitReason}
	if b := req.GetBuildingId(); b != "" && b == offer.GetBuildingId() {
		score += scoreSameBuilding
		reasons = append(reasons, "same building")
	}
	bonus, why := requestBonus(req)
	score += bonus
	reasons = append(reasons, why...)
	if best.expiryReason != "" {
		reasons = append(reasons, best.expiryReason)
	}
	reasons = append(reasons, best.quantityReason)
	return &linliv1.Match{
		Id:              req.GetId() + "/" + offer.GetId(),
		CommunityId:     req.GetCommunityId(),
		RequestPostId:   req.GetId(),
		OfferPostId:     offer.GetId(),
		RequestAuthorId: req.GetAuthorId(),
		OfferAuthorId:   offer.GetAuthorId(),
		Score:           int32(score),
		Reasons:         reasons,
		OfferItemCode:   best.code,
		Available:       best.free,
	}, true
}

// requestBonus is what a request adds to the score of any of its matches,
// for its urgency and its recipient's vulnerability, with the reasons.
func requestBonus(req *linliv1.Post) (int, []string) {
	bonus, reasons := 0, []string(nil)
	switch req.GetUrgency() {
	case linliv1.Urgency_URGENCY_CRITICAL:
		bonus += scoreCritical
		reasons = append(reasons, "critical")
	case linliv1.Urgency_URGENCY_URGENT:
		bonus += scoreUrgent
		reasons = append(reasons, "urgent")
	}
	if r, ok := vulnerability(req.GetForWhom()); ok {
		bonus += scoreVulnerable
		reasons = append(reasons, r)
	}
	return bonus, reasons
}

// maxMatchScore bounds the score of any match of a request whose
// requestBonus is bonus, in the same building or not.
func maxMatchScore(bonus int, sameBuilding bool) int32 {
	s := scoreExactItem + scoreEnough + maxExpiryBonus + bonus
	if sameBuilding {
		s += scoreSameBuilding
	}
	return int32(s)
}

// itemFit is how one offered item meets one requested item.
type itemFit struct {
	code           string // the offered item's code
	free           int32
	fit, quantity  int
	expiry         int
	fitReason      string
	quantityReason string
	expiryReason   string // empty when the item has no expiry date
}

func (f itemFit) score() int { return f.fit + f.quantity + f.expiry }

// fitItems scores the offered item oi against the requested item ri; ok is
// false if it cannot meet it (see scoreMatch).
func fitItems(ri, oi *linliv1.PostItem, cat *catalog.Catalog, age int, today time.Time) (itemFit, bool) {
	free := oi.GetQuantity() - oi.GetReserved()
	if free <= 0 {
		return itemFit{}, false
	}
	f := itemFit{code: oi.GetItemCode(), free: free}
	if exp := oi.GetExpiryDate(); exp != "" {
		day, err := time.ParseInLocation(dateLayout, exp, today.Location())
		if err != nil || day.Before(today) {
			return itemFit{}, false // expired, or a date we cannot trust
		}
		days := int(day.Sub(today).Round(24*time.Hour) / (24 * time.Hour))
		f.expiry = max(0, maxExpiryBonus-days/expiryBonusDays)
		f.expiryReason = "expires " + exp
	}
	reqItem, reqKnown := cat.Item(ri.GetItemCode())
	offItem, offKnown := cat.Item(oi.GetItemCode())
	switch {
	case offKnown && offItem.Prescription:
		return itemFit{}, false
	case ri.GetItemCode() == oi.GetItemCode():
		if offKnown && age > 0 && (!offItem.ChildSafe || offItem.MinAgeMonths > age) {
			return itemFit{}, false
		}
		f.fit, f.fitReason = scoreExactItem, "same item: "+itemName(oi, offItem, offKnown)
	case reqKnown && offKnown:
		if ok, _ := catalog.Fits(reqItem, offItem, age); !ok {
			return itemFit{}, false
		}
		f.fit, f.fitReason = scoreCategoryFit, "same category: "+offItem.Category.DisplayEN()
		if age > 0 {
			f.fitReason = "child-safe " + offItem.Category.DisplayEN()
		}
	default:
		return itemFit{}, false
	}
	need := ri.GetQuantity()
	switch {
	case free < need:
		f.quantity, f.quantityReason = scorePartial, fmt.Sprintf("only %d of %d needed", free, need)
	case oi.GetReserved() > 0:
		f.quantity, f.quantityReason = scoreEnough, fmt.Sprintf("%d of %d left", free, oi.GetQuantity())
	default:
		f.quantity, f.quantityReason = scoreEnough, fmt.Sprintf("%d available", free)
	}
	return f, true
}

// itemName is how a match names an offered item: as its author wrote it,
// else the catalog's Chinese or English name, else its code.
func itemName(oi *linliv1.PostItem, it catalog.Item, known bool) string {
	if n := strings.TrimSpace(oi.GetName()); n != "" {
		return n
	}
	if known {
		return cmp.Or(it.NameZH, it.NameEN, oi.GetItemCode())
	}
	return oi.GetItemCode()
}

// vulnerability returns the reason a recipient ranks first, if they do.
func vulnerability(f *linliv1.ForWhom) (string, bool) {
	switch f.GetRecipient() {
	case linliv1.Recipient_RECIPIENT_INFANT:
		if f.GetAgeMonths() > 0 {
			return fmt.Sprintf("for an infant of %s", months(f.GetAgeMonths())), true
		}
		return "for an infant", true
	case linliv1.Recipient_RECIPIENT_CHILD:
		if a := f.GetAgeMonths(); a > 0 && a < vulnerableChildMo {
			return fmt.Sprintf("for a child of %s", months(a)), true
		}
	case linliv1.Recipient_RECIPIENT_ELDERLY:
		if f.GetLivesAlone() {
			return "for an elderly person living alone", true
		}
	case linliv1.Recipient_RECIPIENT_PREGNANT:
		return "for a pregnant woman", true
	case linliv1.Recipient_RECIPIENT_CHRONIC_ILLNESS:
		return "for someone with a chronic illness", true
	}
	return "", false
}

func months(n uint32) string {
	if n == 1 {
		return "1 month"
	}
	return fmt.Sprintf("%d months", n)
}

// startOfDay is midnight of t's date in t's location.
func startOfDay(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}
