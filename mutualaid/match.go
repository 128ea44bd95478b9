package mutualaid

import (
	"cmp"
	"fmt"
	"math"
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
	// MatchesPerOffer is how many requests one offer is suggested to: in a
	// surge, a bottle is shown to the few who need it most, not to every
	// parent asking (see package matching). Three keeps the churn of
	// suggestions when more urgent requests arrive (and what a post write
	// stores) at about a third of five's, measured in linli bench's surge.
	MatchesPerOffer = 3
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
// post id. Offers that do not fit are left out. now decides which
// medicines have expired.
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
//   - by need, when the requested line names a need instead of an item and
//     FitsNeed(need, offered, child's age in months) says so: the
//     children's fever reducer need fits 美林 and 泰诺林, never adult
//     tablets or a prescription drug. It scores as a category fit, with
//     the reason "children's fever reducer: 美林".
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
	return buildMatch(prepareScoring(req, cat), prepareScoring(offer, cat), civilDay(now))
}

// scoring is a post prepared for scoring: its items looked up in the
// catalog and their expiry dates read once, not at every pair.
type scoring struct {
	post  *linliv1.Post
	items []scoringItem
	age   int // of the child a request is for, in months; 0 if none
	bonus int // a request's requestBonus
}

type scoringItem struct {
	pi     *linliv1.PostItem
	cat    catalog.Item
	known  bool
	expiry int64 // civil day of the expiry date; noExpiry, or badExpiry if it does not parse
	// need is the catalog's need a requested line names instead of an
	// item (isNeed), which any item of its category fits (catalog.FitsNeed).
	need   catalog.Need
	isNeed bool
}

const (
	noExpiry  = math.MaxInt64
	badExpiry = math.MinInt64
)

// prepareScoring prepares p for scoring against many counterparts.
func prepareScoring(p *linliv1.Post, cat *catalog.Catalog) *scoring {
	s := &scoring{post: p, age: ageMonths(p.GetForWhom()), items: make([]scoringItem, len(p.GetItems()))}
	if p.GetKind() == linliv1.PostKind_POST_KIND_REQUEST {
		s.bonus, _ = requestBonus(p)
	}
	for i, it := range p.GetItems() {
		si := scoringItem{pi: it, expiry: noExpiry}
		if n := it.GetNeed(); n != "" {
			si.need, si.isNeed = cat.Need(n)
		} else {
			si.cat, si.known = cat.Item(it.GetItemCode())
		}
		if exp := it.GetExpiryDate(); exp != "" {
			si.expiry = badExpiry
			if d, err := time.Parse(dateLayout, exp); err == nil {
				si.expiry = civilDay(d)
			}
		}
		s.items[i] = si
	}
	return s
}

// civilDay numbers t's date (in t's location) in days since 1970-01-01.
func civilDay(t time.Time) int64 {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// pairScore is scoreMatch's score alone, without building the match.
func pairScore(req, offer *scoring, today int64) (int32, bool) {
	f, ok := bestFit(req, offer, today)
	if !ok {
		return 0, false
	}
	score := f.score() + req.bonus
	if b := req.post.GetBuildingId(); b != "" && b == offer.post.GetBuildingId() {
		score += scoreSameBuilding
	}
	return int32(score), true
}

// buildMatch is scoreMatch on prepared posts.
func buildMatch(req, offer *scoring, today int64) (*linliv1.Match, bool) {
	best, ok := bestFit(req, offer, today)
	if !ok {
		return nil, false
	}
	r, o := req.post, offer.post
	score := best.score()
	reasons := []string{best.fitReason(req.age)}
	if b := r.GetBuildingId(); b != "" && b == o.GetBuildingId() {
		score += scoreSameBuilding
		reasons = append(reasons, "same building")
	}
	bonus, why := requestBonus(r)
	score += bonus
	reasons = append(reasons, why...)
	if best.oi.expiry != noExpiry {
		reasons = append(reasons, "expires "+best.oi.pi.GetExpiryDate())
	}
	reasons = append(reasons, best.quantityReason())
	return &linliv1.Match{
		Id:              r.GetId() + "/" + o.GetId(),
		CommunityId:     r.GetCommunityId(),
		RequestPostId:   r.GetId(),
		OfferPostId:     o.GetId(),
		RequestAuthorId: r.GetAuthorId(),
		OfferAuthorId:   o.GetAuthorId(),
		Score:           int32(score),
		Reasons:         reasons,
		OfferItemCode:   best.oi.pi.GetItemCode(),
		Available:       best.free,
	}, true
}

// bestFit returns the best fitting item pair of req and offer (see
// scoreMatch); ok is false if the two cannot meet at all.
func bestFit(req, offer *scoring, today int64) (itemFit, bool) {
	r, o := req.post, offer.post
	if !requestMatchable(r) || !offerMatchable(o) || r.GetCommunityId() != o.GetCommunityId() || r.GetAuthorId() == o.GetAuthorId() {
		return itemFit{}, false
	}
	var best itemFit
	found := false
	for i := range req.items {
		for j := range offer.items {
			f, ok := fitItems(&req.items[i], &offer.items[j], req.age, today)
			if ok && (!found || f.score() > best.score()) {
				best, found = f, true
			}
		}
	}
	return best, found
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

// maxPairScore bounds a match's score minus its request's bonus.
const maxPairScore = scoreExactItem + scoreEnough + maxExpiryBonus + scoreSameBuilding

// itemFit is how one offered item meets one requested item.
type itemFit struct {
	ri, oi        *scoringItem
	free          int32
	fit, quantity int
	expiry        int
}

func (f itemFit) score() int { return f.fit + f.quantity + f.expiry }

// fitReason names the fit: "same item: 美林", "child-safe fever reducer",
// "same category: pulse oximeter", or for a need the need and the offered
// item, "children's fever reducer: 美林".
func (f itemFit) fitReason(age int) string {
	switch {
	case f.ri.isNeed:
		return f.ri.need.NameEN + ": " + itemName(f.oi.pi, f.oi.cat, f.oi.known)
	case f.fit == scoreExactItem:
		return "same item: " + itemName(f.oi.pi, f.oi.cat, f.oi.known)
	case age > 0:
		return "child-safe " + f.oi.cat.Category.DisplayEN()
	}
	return "same category: " + f.oi.cat.Category.DisplayEN()
}

func (f itemFit) quantityReason() string {
	need := f.ri.pi.GetQuantity()
	switch {
	case f.free < need:
		return fmt.Sprintf("only %d of %d needed", f.free, need)
	case f.oi.pi.GetReserved() > 0:
		return fmt.Sprintf("%d of %d left", f.free, f.oi.pi.GetQuantity())
	}
	return fmt.Sprintf("%d available", f.free)
}

// fitItems scores the offered item oi against the requested item ri; ok is
// false if it cannot meet it (see scoreMatch).
func fitItems(ri, oi *scoringItem, age int, today int64) (itemFit, bool) {
	free := oi.pi.GetQuantity() - oi.pi.GetReserved()
	if free <= 0 {
		return itemFit{}, false
	}
	f := itemFit{ri: ri, oi: oi, free: free}
	if oi.expiry != noExpiry {
		if oi.expiry == badExpiry || oi.expiry < today {
			return itemFit{}, false // expired, or a date we cannot trust
		}
		f.expiry = max(0, maxExpiryBonus-int(oi.expiry-today)/expiryBonusDays)
	}
	switch {
	case oi.known && oi.cat.Prescription:
		return itemFit{}, false
	case ri.pi.GetNeed() != "":
		if !ri.isNeed || !oi.known {
			return itemFit{}, false
		}
		if ok, _ := catalog.FitsNeed(ri.need, oi.cat, age); !ok {
			return itemFit{}, false
		}
		f.fit = scoreCategoryFit
	case ri.pi.GetItemCode() == oi.pi.GetItemCode():
		if oi.known && age > 0 && (!oi.cat.ChildSafe || oi.cat.MinAgeMonths > age) {
			return itemFit{}, false
		}
		f.fit = scoreExactItem
	case ri.known && oi.known:
		if ok, _ := catalog.Fits(ri.cat, oi.cat, age); !ok {
			return itemFit{}, false
		}
		f.fit = scoreCategoryFit
	default:
		return itemFit{}, false
	}
	if free < ri.pi.GetQuantity() {
		f.quantity = scorePartial
	} else {
		f.quantity = scoreEnough
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
