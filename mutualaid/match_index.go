package mutualaid

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/linli/linli/mutualaid/catalog"
	"github.com/linli/linli/mutualaid/matching"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// Matching keeps each community's suggestions as package matching
// describes them: every active request holds at most MatchesPerRequest
// suggested offers and every offer is suggested to at most
// MatchesPerOffer requests, the best pairs first (scoreMatch), so that a
// post write costs the same however many neighbours ask for the same
// medicine. The suggestions are the only thing matching stores:
//
//	entity id                              canonical value         published in
//	match/<c>/<request id>/<offer id>      linliv1.Entity{Match}   see MatchViews
//
// What it needs besides (the active posts prepared for scoring, who holds
// which suggestion, who has room, which offers' scores change with the
// date) it keeps in memory in the writer (linlisync.Tx.Local), built from
// the posts and the Match entities the first time a community is written
// after the store opens, and rebuilt if a transaction that changed it does
// not commit. Stores written before kept that state as private entities;
// the first build deletes them. ON-DISK FORMAT: these id prefixes are
// retired and must never be reused: "idx/post/<c>/", "idx/open/<c>/",
// "idx/refresh/<c>/", "index/matches/<c>/", "index/open-posts/<c>".

// retiredMatchPrefixes are the id prefixes of the private entities older
// stores kept for matching in community c.
func retiredMatchPrefixes(c string) []string {
	return []string{"idx/post/" + c + "/", "idx/open/" + c + "/", "idx/refresh/" + c + "/", "index/matches/" + c + "/"}
}

// matchLocal is the linlisync.Tx.Local key of matching's state.
type matchLocal struct{}

// matchIndex is matching's state of every community written so far.
type matchIndex struct {
	communities map[string]*communityMatches
}

// communityMatches is one community's matching state.
type communityMatches struct {
	c      string
	cat    *catalog.Catalog
	now    time.Time
	day    int64 // civilDay(now): the day pairs are scored for
	graph  *matching.Graph
	active map[string]*scoring     // active posts by id
	stored map[matching.Pair]match // what each Match entity holds
	due    dueOffers               // active offers by the day time changes their scores
}

// match is a Match entity as stored.
type match struct {
	raw     []byte
	created *timestamppb.Timestamp
}

// dueOffers files offers under the day their scores next change by
// themselves. Days are few (a medicine's expiry date, or the day its
// expiry bonus steps), so a map of days and their sorted list serve.
type dueOffers struct {
	byDay map[string]map[string]struct{}
	days  []string // the keys of byDay, sorted
	dayOf map[string]string
	// sorted holds a due day's offers in id order, made when the day first
	// comes due: no offer is filed under a day that has come (nextRefresh
	// is always after today), so the order only loses offers after that.
	sorted map[string][]string
}

func (d *dueOffers) set(id, day string) {
	if old, ok := d.dayOf[id]; ok {
		if old == day {
			return
		}
		d.remove(id)
	}
	if day == "" {
		return
	}
	set := d.byDay[day]
	if set == nil {
		set = map[string]struct{}{}
		d.byDay[day] = set
		i, _ := slices.BinarySearch(d.days, day)
		d.days = slices.Insert(d.days, i, day)
	}
	set[id] = struct{}{}
	d.dayOf[id] = day
}

func (d *dueOffers) remove(id string) {
	day, ok := d.dayOf[id]
	if !ok {
		return
	}
	delete(d.dayOf, id)
	set := d.byDay[day]
	delete(set, id)
	if len(set) == 0 {
		delete(d.byDay, day)
		delete(d.sorted, day)
		i, _ := slices.BinarySearch(d.days, day)
		d.days = slices.Delete(d.days, i, i+1)
	}
}

// first returns up to limit offers due on or before today, earliest day
// first, then by id.
func (d *dueOffers) first(today string, limit int) []string {
	var ids []string
	for _, day := range d.days {
		if day > today || len(ids) >= limit {
			break
		}
		order, ok := d.sorted[day]
		if !ok {
			order = slices.Sorted(maps.Keys(d.byDay[day]))
		}
		for len(order) > 0 && len(ids) < limit {
			if _, still := d.byDay[day][order[0]]; still {
				ids = append(ids, order[0])
			}
			order = order[1:]
		}
		d.sorted[day] = order
	}
	return ids
}

// matchScorer scores pairs of prepared posts for the community's day.
type matchScorer struct{ cm *communityMatches }

func (s matchScorer) Score(r, o *matching.Node) (int32, bool) {
	return pairScore(r.Value.(*scoring), o.Value.(*scoring), s.cm.day)
}

// communityMatchesOf returns the matching state of community c as tx sees
// it, building it on first use. With changing, a transaction that does not
// commit makes the state be rebuilt.
func communityMatchesOf(tx *linlisync.Tx, c string, changing bool) (*communityMatches, error) {
	idx := tx.Local(matchLocal{}, func() any { return &matchIndex{communities: map[string]*communityMatches{}} }).(*matchIndex)
	cm := idx.communities[c]
	if changing || cm == nil {
		// A build may already delete retired entities and stale matches.
		tx.OnAbort(func() { delete(idx.communities, c) })
	}
	cm.setNow(tx.Now())
	if cm != nil {
		return cm, nil
	}
	cm, err := buildCommunityMatches(tx, c)
	if err != nil {
		return nil, err
	}
	idx.communities[c] = cm
	return cm, nil
}

func newCommunityMatches(c string) *communityMatches {
	cm := &communityMatches{
		c: c, cat: catalog.Default(), active: map[string]*scoring{}, stored: map[matching.Pair]match{},
		due: dueOffers{byDay: map[string]map[string]struct{}{}, dayOf: map[string]string{}, sorted: map[string][]string{}},
	}
	cm.graph = matching.New(matching.DefaultConfig(matchScorer{cm}, maxPairScore))
	return cm
}

func (cm *communityMatches) setNow(now time.Time) {
	if cm != nil {
		cm.now, cm.day = now, civilDay(now)
	}
}

// buildCommunityMatches reads community c's active posts and suggestions,
// deletes the suggestions that no longer hold and the retired private
// entities, and publishes what that changes.
func buildCommunityMatches(tx *linlisync.Tx, c string) (*communityMatches, error) {
	cm := newCommunityMatches(c)
	cm.setNow(tx.Now())
	err := tx.Scan(PostEntityID(c, ""), math.MaxInt, func(id string, v []byte) error {
		var e linliv1.Entity
		if err := proto.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("mutualaid: decode %s: %w", id, err)
		}
		if p := e.GetPost(); p != nil && postActive(p) && kindName(p.GetKind()) != "" {
			cm.load(p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var gone []string
	err = tx.Scan("match/"+c+"/", math.MaxInt, func(id string, v []byte) error {
		var e linliv1.Entity
		if err := proto.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("mutualaid: decode %s: %w", id, err)
		}
		m := e.GetMatch()
		pair := matching.Pair{Request: m.GetRequestPostId(), Offer: m.GetOfferPostId()}
		if m == nil || MatchEntityID(c, pair.Request, pair.Offer) != id || !cm.graph.LoadSuggestion(pair) {
			gone = append(gone, id)
			return nil
		}
		cm.stored[pair] = match{raw: bytes.Clone(v), created: m.GetCreatedAt()}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, prefix := range retiredMatchPrefixes(c) {
		err := tx.Scan(prefix, math.MaxInt, func(id string, _ []byte) error {
			gone = append(gone, id)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for _, id := range gone {
		if err := tx.Delete(id); err != nil {
			return nil, err
		}
	}
	return cm, cm.publish(tx, nil)
}

// load adds an active post as stored, without looking for suggestions.
func (cm *communityMatches) load(p *linliv1.Post) {
	s := prepareScoring(p, cm.cat)
	cm.active[p.GetId()] = s
	cm.graph.Load(cm.node(s))
	cm.schedule(p)
}

// node is how matching sees a prepared post.
func (cm *communityMatches) node(s *scoring) matching.Node {
	p := s.post
	n := matching.Node{
		ID: p.GetId(), Author: p.GetAuthorId(), Building: p.GetBuildingId(), Keys: cm.keys(p),
		Since: p.GetCreatedAt().AsTime().UnixMilli(), Value: s,
	}
	if p.GetKind() == linliv1.PostKind_POST_KIND_REQUEST {
		n.Kind, n.Cap, n.Bonus = matching.Request, MatchesPerRequest, int32(s.bonus)
		return n
	}
	n.Kind, n.Cap, n.Rank = matching.Offer, MatchesPerOffer, math.MaxInt64
	for _, it := range s.items {
		if it.pi.GetQuantity() > it.pi.GetReserved() && it.expiry != noExpiry {
			n.Rank = min(n.Rank, it.expiry) // soonest to expire first
		}
	}
	return n
}

// keys returns the item keys of p, sorted: of every item of a request, of
// the items an offer has free. Two posts can meet only if they share one:
// "cat:<category>/<group>" for a catalog item outside catalog.CategoryOther (it
// fits only itself or, by Fits, an item of its category and group) and for
// a need (which only items of its category and group fit, by FitsNeed),
// else "code:<item code>".
func (cm *communityMatches) keys(p *linliv1.Post) []string {
	var keys []string
	for _, it := range p.GetItems() {
		if p.GetKind() == linliv1.PostKind_POST_KIND_OFFER && it.GetQuantity()-it.GetReserved() <= 0 {
			continue
		}
		if n := it.GetNeed(); n != "" {
			if need, ok := cm.cat.Need(n); ok {
				keys = append(keys, "cat:"+string(need.Category)+"/"+need.Group)
			}
			continue
		}
		code := it.GetItemCode()
		if item, ok := cm.cat.Item(code); ok && item.Category != catalog.CategoryOther {
			keys = append(keys, "cat:"+string(item.Category)+"/"+item.Group)
		} else {
			keys = append(keys, "code:"+code)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// schedule files an active offer under the day its scores next change
// (see nextRefresh), or takes it out.
func (cm *communityMatches) schedule(p *linliv1.Post) {
	if p.GetKind() != linliv1.PostKind_POST_KIND_OFFER || !postActive(p) {
		cm.due.remove(p.GetId())
		return
	}
	cm.due.set(p.GetId(), nextRefresh(p, cm.now))
}

// postChanged keeps matching up to date after p was written (created,
// edited, cancelled, its reservations or status changed). putPost calls it
// after every write of a post; it is idempotent: unchanged suggestions are
// not rewritten.
//
// An active post gets its suggestions anew (see package matching); one
// that is no longer active loses them, and its counterparts look again.
// Suggestions that go are deleted, which tombstones them in the scopes
// that saw them. Then up to maxRefreshPerWrite offers whose day has come
// are scored again (see RefreshMatches).
//
// REQUIRES: p is the post as just stored, with its community and id set.
// Errors are internal: storage, or a stored record that does not decode.
func postChanged(tx *linlisync.Tx, p *linliv1.Post) error {
	if p.GetCommunityId() == "" || p.GetId() == "" {
		return errors.New("mutualaid: match: post without community or id")
	}
	if kindName(p.GetKind()) == "" {
		return nil
	}
	cm, err := communityMatchesOf(tx, p.GetCommunityId(), true)
	if err != nil {
		return err
	}
	cm.put(p)
	touched := append([]string{p.GetId()}, cm.refreshDue(maxRefreshPerWrite)...)
	return cm.publish(tx, touched)
}

// put brings the post's suggestions up to date with p.
func (cm *communityMatches) put(p *linliv1.Post) {
	id := p.GetId()
	cm.schedule(p)
	if !postActive(p) {
		delete(cm.active, id)
		cm.graph.Remove(id)
		return
	}
	s := prepareScoring(p, cm.cat)
	cm.active[id] = s
	cm.graph.Put(cm.node(s))
}

// refreshDue scores again up to limit offers whose day has come, earliest
// day first, and returns those that hold suggestions (only their
// suggestions can change). Offers without suggestions move on to their
// next day.
func (cm *communityMatches) refreshDue(limit int) []string {
	today := cm.now.Format(dateLayout)
	var ids []string
	for len(ids) < limit {
		due := cm.due.first(today, limit-len(ids))
		if len(due) == 0 {
			break
		}
		for _, id := range due {
			s := cm.active[id]
			if s == nil {
				cm.due.remove(id)
				continue
			}
			cm.schedule(s.post)
			if len(cm.graph.Suggestions(id)) > 0 {
				cm.graph.Put(cm.node(s))
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// publish writes what changed in the graph: Match entities that appeared
// or changed (every suggestion of the touched posts is rebuilt, since
// their reasons may have changed with them), and deletes those that went.
// New suggestions for urgent requests are notified (notify_events.go).
func (cm *communityMatches) publish(tx *linlisync.Tx, touched []string) error {
	var news suggestionNews
	pairs := map[matching.Pair]bool{}
	for _, ch := range cm.graph.TakeChanges() {
		pairs[ch.Pair] = true
	}
	for _, id := range touched {
		for _, e := range cm.graph.Suggestions(id) {
			pairs[e.Pair] = true
		}
	}
	for _, pair := range slices.SortedFunc(func(yield func(matching.Pair) bool) {
		for p := range pairs {
			if !yield(p) {
				return
			}
		}
	}, func(a, b matching.Pair) int {
		return cmp.Or(cmp.Compare(a.Request, b.Request), cmp.Compare(a.Offer, b.Offer))
	}) {
		if err := cm.publishPair(tx, pair, &news); err != nil {
			return err
		}
	}
	return news.record(tx, cm.c)
}

// publishPair makes the Match entity of pair say what the graph holds,
// noting in news a suggestion that is new.
func (cm *communityMatches) publishPair(tx *linlisync.Tx, pair matching.Pair, news *suggestionNews) error {
	id := MatchEntityID(cm.c, pair.Request, pair.Offer)
	old, stored := cm.stored[pair]
	var mt *linliv1.Match
	if _, ok := cm.graph.Edge(pair); ok {
		mt, ok = buildMatch(cm.active[pair.Request], cm.active[pair.Offer], cm.day)
		if !ok {
			return fmt.Errorf("mutualaid: match %s suggested but does not fit", id)
		}
	}
	if mt == nil {
		if !stored {
			return nil
		}
		delete(cm.stored, pair)
		return tx.Delete(id)
	}
	mt.CreatedAt = timestamppb.New(cm.now)
	if stored && old.created != nil {
		mt.CreatedAt = old.created
	}
	views, err := MatchViews(mt)
	if err != nil {
		return err
	}
	canonical := views[StaffScope(cm.c)]
	if stored && bytes.Equal(old.raw, canonical) {
		return nil
	}
	cm.stored[pair] = match{raw: canonical, created: mt.GetCreatedAt()}
	if !stored {
		news.add(cm.active[pair.Request].post, mt)
	}
	return tx.Put(id, canonical, views)
}

const (
	kindOffer   = "offer"
	kindRequest = "request"
)

func kindName(k linliv1.PostKind) string {
	switch k {
	case linliv1.PostKind_POST_KIND_OFFER:
		return kindOffer
	case linliv1.PostKind_POST_KIND_REQUEST:
		return kindRequest
	}
	return ""
}
