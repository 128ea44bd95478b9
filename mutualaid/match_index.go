package mutualaid

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// Matching keeps, for every active request, its top MatchesPerRequest
// fitting offers as Match entities (ranked as scoreMatch describes), and
// maintains them as posts change: postChanged re-ranks only the post that
// was written against the active counterparts of its community.
//
// Entities (ON-DISK FORMAT: never change or reuse an id layout or a
// record's JSON field names):
//
//	entity id                          canonical value           published in
//	match/<c>/<request id>/<offer id>  linliv1.Entity{Match}     see MatchViews
//	index/open-posts/<c>               openPostIndex (JSON)      nowhere
//	index/matches/<c>/<post id>        matchList (JSON)          nowhere
//
// index/open-posts lists the community's OPEN and MATCHED posts with what
// each asks for or has free, so that a post write finds its candidate
// counterparts without scanning every post. index/matches lists, for a
// request, the offers it is matched with, and for an offer, the requests
// it is matched with, each with the match's score, best first. Invariants,
// after every postChanged:
//
//   - a Match entity exists exactly when its pair is in both posts' lists;
//   - a request's list holds at most MatchesPerRequest offers; when it
//     holds fewer, it holds every fitting active offer among the candidates
//     (so only a full list can hide a better offer, and only full lists are
//     re-ranked when one of their offers drops out or scores lower);
//   - a request's index entry holds the last of its list when the list is
//     full (Floor), so an offer write skips, without loading them, the
//     requests whose fifth match it could not beat even at best.
//
// Matches follow the clock too: an offer's index entry names the day its
// matches change by themselves (an item expires, or its expiry bonus
// steps), and every postChanged of the community re-ranks up to
// maxRefreshPerWrite offers whose day has come, as RefreshMatches does for
// all of them. Until then a match may outlive its medicine by the time it
// takes for someone in the community to write or for the daily refresh.

// Private entity ids of matching.
func openPostsIndexID(c string) string    { return "index/open-posts/" + c }
func matchListID(c, postID string) string { return "index/matches/" + c + "/" + postID }

// openPostIndex is the canonical value of index/open-posts/<c>: the
// community's active posts, oldest first.
type openPostIndex struct {
	Posts []openPost `json:"posts"`
}

// openPost is one active post as matching needs to know it.
type openPost struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"` // "offer" or "request"
	Author   string `json:"author"`
	Building string `json:"building,omitempty"`
	// Keys are what the post asks for, or has free: "code:<item code>" for
	// every item, and "cat:<category>/<group>" for catalog items outside
	// CategoryOther. Two posts can match only if they share a key.
	Keys []string `json:"keys"`
	// Requests only: their requestBonus, and the last of their matches
	// when they have MatchesPerRequest (an offer that cannot beat it need
	// not be looked at).
	Bonus int       `json:"bonus,omitempty"`
	Floor *matchRef `json:"floor,omitempty"`
	// Offers only: the day ("YYYY-MM-DD") from which the passing of time
	// changes its matches (an item expires, or its expiry bonus steps up);
	// empty if never. See nextRefresh and RefreshMatches.
	Refresh string `json:"refresh,omitempty"`
}

// matchList is the canonical value of index/matches/<c>/<post id>.
type matchList struct {
	With []matchRef `json:"with"` // best first: by score, then id
}

// matchRef is one counterpart post of a match and the match's score.
type matchRef struct {
	ID    string `json:"id"`
	Score int32  `json:"score"`
}

func (l *matchList) find(id string) int {
	return slices.IndexFunc(l.With, func(r matchRef) bool { return r.ID == id })
}

func (l *matchList) set(id string, score int32) {
	if i := l.find(id); i >= 0 {
		l.With[i].Score = score
	} else {
		l.With = append(l.With, matchRef{ID: id, Score: score})
	}
	slices.SortFunc(l.With, compareRefs)
}

func (l *matchList) remove(id string) {
	if i := l.find(id); i >= 0 {
		l.With = slices.Delete(l.With, i, i+1)
	}
}

func compareRefs(a, b matchRef) int {
	return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.ID, b.ID))
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

// postChanged keeps matching up to date after p was written (created,
// edited, cancelled, its reservations or status changed). putPost calls it
// after every write of a post; it is idempotent.
//
// It updates the community's open-posts index, then re-ranks p alone: a
// request gets its top MatchesPerRequest offers among at most 500
// candidates; an offer is scored against every candidate request (at most
// 500) and enters, moves in or leaves each one's top list. Matches that no
// longer hold (a post closed, an item used up or changed, a better offer
// pushed it out) are deleted, which tombstones them in the scopes that saw
// them; a full top list that lost an offer is re-ranked in full to refill
// it (at most 16 such requests per write: beyond that a request shows
// fewer suggestions until it is next written). Then it refreshes up to
// maxRefreshPerWrite offers whose day has come (see RefreshMatches).
// Unchanged entities are not rewritten.
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
	m, err := newMatcher(tx, p.GetCommunityId())
	if err != nil {
		return err
	}
	m.indexPost(p)
	if p.GetKind() == linliv1.PostKind_POST_KIND_REQUEST {
		err = m.rerankRequest(p)
	} else {
		err = m.offerChanged(p)
	}
	if err != nil {
		return err
	}
	if _, err := m.refresh(maxRefreshPerWrite); err != nil {
		return err
	}
	return m.flush()
}

// newMatcher loads community c's open-posts index.
func newMatcher(tx *linlisync.Tx, c string) (*matcher, error) {
	m := &matcher{tx: tx, c: c, now: tx.Now(), cat: DefaultCatalog(), lists: map[string]*loadedList{}}
	m.today = startOfDay(m.now).Format(dateLayout)
	if err := m.loadIndex(); err != nil {
		return nil, err
	}
	return m, nil
}

// matcher is one postChanged's working state: the index and the match
// lists it read, changed in memory and written once at the end.
type matcher struct {
	tx      *linlisync.Tx
	c       string
	now     time.Time
	today   string // now's date, "YYYY-MM-DD"
	cat     *Catalog
	idx     openPostIndex
	idxRaw  []byte
	lists   map[string]*loadedList // post id → its list
	refills int
}

type loadedList struct {
	matchList
	raw   []byte // as stored; nil if absent
	dirty bool
}

func (m *matcher) loadIndex() error {
	raw, ok, err := m.tx.Get(openPostsIndexID(m.c))
	if err != nil || !ok {
		return err
	}
	m.idxRaw = raw
	if err := json.Unmarshal(raw, &m.idx); err != nil {
		return fmt.Errorf("mutualaid: decode %s: %w", openPostsIndexID(m.c), err)
	}
	return nil
}

// indexPost puts p's entry in the index (keeping its place) if p is active,
// and takes it out otherwise.
func (m *matcher) indexPost(p *linliv1.Post) {
	i := slices.IndexFunc(m.idx.Posts, func(e openPost) bool { return e.ID == p.GetId() })
	if !postActive(p) {
		if i >= 0 {
			m.idx.Posts = slices.Delete(m.idx.Posts, i, i+1)
		}
		return
	}
	e := openPost{ID: p.GetId(), Kind: kindName(p.GetKind()), Author: p.GetAuthorId(), Building: p.GetBuildingId(), Keys: m.keys(p)}
	if p.GetKind() == linliv1.PostKind_POST_KIND_REQUEST {
		e.Bonus, _ = requestBonus(p)
	} else {
		e.Refresh = nextRefresh(p, m.now)
	}
	if i >= 0 {
		e.Floor = m.idx.Posts[i].Floor // until flush updates it
		m.idx.Posts[i] = e
	} else {
		m.idx.Posts = append(m.idx.Posts, e)
	}
}

// keys returns the index keys of p (see openPost.Keys), sorted: of every
// item of a request, of the items an offer has free.
func (m *matcher) keys(p *linliv1.Post) []string {
	keys := []string{}
	for _, it := range p.GetItems() {
		if p.GetKind() == linliv1.PostKind_POST_KIND_OFFER && it.GetQuantity()-it.GetReserved() <= 0 {
			continue
		}
		keys = append(keys, "code:"+it.GetItemCode())
		if item, ok := m.cat.Item(it.GetItemCode()); ok && item.Category != CategoryOther {
			keys = append(keys, "cat:"+string(item.Category)+"/"+item.Group)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// candidateEntries returns the index entries of the active posts of the
// other kind that share a key with p and are not p's author's: those of
// p's building first, then the newest, at most maxMatchCandidates,
// returned in id order.
func (m *matcher) candidateEntries(p *linliv1.Post) []openPost {
	want := kindOffer
	if p.GetKind() == linliv1.PostKind_POST_KIND_OFFER {
		want = kindRequest
	}
	keys := m.keys(p)
	var same, other []openPost
	for i := len(m.idx.Posts) - 1; i >= 0; i-- { // newest first
		e := m.idx.Posts[i]
		if e.Kind != want || e.Author == p.GetAuthorId() || !sharesKey(keys, e.Keys) {
			continue
		}
		if e.Building != "" && e.Building == p.GetBuildingId() {
			same = append(same, e)
		} else {
			other = append(other, e)
		}
	}
	es := append(same, other...)
	es = es[:min(len(es), maxMatchCandidates)]
	slices.SortFunc(es, func(a, b openPost) int { return cmp.Compare(a.ID, b.ID) })
	return es
}

// candidates loads the posts of candidateEntries(p).
func (m *matcher) candidates(p *linliv1.Post) ([]*linliv1.Post, error) {
	es := m.candidateEntries(p)
	posts := make([]*linliv1.Post, 0, len(es))
	for _, e := range es {
		q, ok, err := loadPost(m.tx, PostEntityID(m.c, e.ID))
		if err != nil {
			return nil, err
		}
		if ok {
			posts = append(posts, q)
		}
	}
	return posts, nil
}

// sharesKey reports whether the sorted key lists a and b intersect.
func sharesKey(a, b []string) bool {
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch c := cmp.Compare(a[i], b[j]); {
		case c == 0:
			return true
		case c < 0:
			i++
		default:
			j++
		}
	}
	return false
}

// list returns the match list of post id, loading it on first use.
func (m *matcher) list(id string) (*loadedList, error) {
	if l, ok := m.lists[id]; ok {
		return l, nil
	}
	l := &loadedList{}
	raw, ok, err := m.tx.Get(matchListID(m.c, id))
	if err != nil {
		return nil, err
	}
	if ok {
		l.raw = raw
		if err := json.Unmarshal(raw, &l.matchList); err != nil {
			return nil, fmt.Errorf("mutualaid: decode %s: %w", matchListID(m.c, id), err)
		}
	}
	m.lists[id] = l
	return l, nil
}

// rerankRequest replaces req's matches with its current top offers (none
// if req is no longer active).
func (m *matcher) rerankRequest(req *linliv1.Post) error {
	var top []*linliv1.Match
	if requestMatchable(req) {
		offers, err := m.candidates(req)
		if err != nil {
			return err
		}
		top = rankOffers(req, offers, m.cat, m.now)
		top = top[:min(len(top), MatchesPerRequest)]
	}
	l, err := m.list(req.GetId())
	if err != nil {
		return err
	}
	for _, ref := range slices.Clone(l.With) {
		if !slices.ContainsFunc(top, func(mt *linliv1.Match) bool { return mt.GetOfferPostId() == ref.ID }) {
			if err := m.unlink(req.GetId(), ref.ID); err != nil {
				return err
			}
		}
	}
	for _, mt := range top {
		if err := m.link(mt); err != nil {
			return err
		}
	}
	return nil
}

// offerChanged scores offer against the candidate requests and the
// requests it is matched with, and updates each request's top list.
// A candidate whose top list is full with matches the offer cannot beat,
// whatever its items, is not even loaded.
func (m *matcher) offerChanged(offer *linliv1.Post) error {
	ol, err := m.list(offer.GetId())
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(ol.With))
	for _, ref := range ol.With {
		ids = append(ids, ref.ID)
	}
	if offerMatchable(offer) {
		for _, e := range m.candidateEntries(offer) {
			best := matchRef{ID: offer.GetId(), Score: maxMatchScore(e.Bonus, e.Building != "" && e.Building == offer.GetBuildingId())}
			if e.Floor != nil && compareRefs(best, *e.Floor) > 0 {
				continue // cannot enter; if it is in the list, ol has it
			}
			ids = append(ids, e.ID)
		}
	}
	slices.Sort(ids)
	for _, rid := range slices.Compact(ids) {
		req, ok, err := loadPost(m.tx, PostEntityID(m.c, rid))
		if err != nil {
			return err
		}
		if !ok {
			req = nil
		}
		if err := m.offerMeetsRequest(offer, ol.find(rid) >= 0, rid, req); err != nil {
			return err
		}
	}
	return nil
}

// offerMeetsRequest updates the top list of request rid (req, or nil if it
// does not exist) for offer's new version; linked says whether the two are
// matched now.
func (m *matcher) offerMeetsRequest(offer *linliv1.Post, linked bool, rid string, req *linliv1.Post) error {
	var mt *linliv1.Match
	fits := false
	if req != nil {
		mt, fits = scoreMatch(req, offer, m.cat, m.now)
	}
	if !fits && !linked {
		return nil
	}
	rl, err := m.list(rid)
	if err != nil {
		return err
	}
	full := len(rl.With) >= MatchesPerRequest
	pos := rl.find(offer.GetId())
	refill := false
	switch {
	case fits && pos >= 0:
		refill = full && mt.GetScore() < rl.With[pos].Score
		if err := m.link(mt); err != nil {
			return err
		}
	case fits:
		if full && compareRefs(matchRef{ID: offer.GetId(), Score: mt.GetScore()}, rl.With[len(rl.With)-1]) > 0 {
			return nil // not good enough for this request's top list
		}
		if err := m.link(mt); err != nil {
			return err
		}
		for len(rl.With) > MatchesPerRequest {
			if err := m.unlink(rid, rl.With[len(rl.With)-1].ID); err != nil {
				return err
			}
		}
	case pos >= 0:
		refill = full
		if err := m.unlink(rid, offer.GetId()); err != nil {
			return err
		}
	}
	if refill && req != nil && m.refills < maxMatchRefills {
		m.refills++
		return m.rerankRequest(req)
	}
	return nil
}

// link publishes mt (keeping the creation time of the match it replaces;
// nothing is written if it is unchanged) and records it in both lists.
func (m *matcher) link(mt *linliv1.Match) error {
	id := MatchEntityID(m.c, mt.GetRequestPostId(), mt.GetOfferPostId())
	old, exists, err := m.tx.Get(id)
	if err != nil {
		return err
	}
	mt.CreatedAt = timestamppb.New(m.now)
	if exists {
		var e linliv1.Entity
		if err := proto.Unmarshal(old, &e); err != nil {
			return fmt.Errorf("mutualaid: decode %s: %w", id, err)
		}
		if c := e.GetMatch().GetCreatedAt(); c != nil {
			mt.CreatedAt = c
		}
	}
	views, err := MatchViews(mt)
	if err != nil {
		return err
	}
	canonical := views[StaffScope(m.c)]
	if !exists || !bytes.Equal(old, canonical) {
		if err := m.tx.Put(id, canonical, views); err != nil {
			return err
		}
	}
	return m.setRefs(mt.GetRequestPostId(), mt.GetOfferPostId(), mt.GetScore(), true)
}

// unlink deletes the match of request rid and offer oid and takes it out
// of both lists.
func (m *matcher) unlink(rid, oid string) error {
	if err := m.tx.Delete(MatchEntityID(m.c, rid, oid)); err != nil {
		return err
	}
	return m.setRefs(rid, oid, 0, false)
}

func (m *matcher) setRefs(rid, oid string, score int32, linked bool) error {
	for _, pair := range [][2]string{{rid, oid}, {oid, rid}} {
		l, err := m.list(pair[0])
		if err != nil {
			return err
		}
		if linked {
			l.set(pair[1], score)
		} else {
			l.remove(pair[1])
		}
		l.dirty = true
	}
	return nil
}

// flush writes the index and the lists that changed.
func (m *matcher) flush() error {
	ids := make([]string, 0, len(m.lists))
	for id, l := range m.lists {
		if l.dirty {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		l := m.lists[id]
		if err := m.save(matchListID(m.c, id), l.raw, &l.matchList, len(l.With) == 0); err != nil {
			return err
		}
		i := slices.IndexFunc(m.idx.Posts, func(e openPost) bool { return e.ID == id && e.Kind == kindRequest })
		if i < 0 {
			continue
		}
		m.idx.Posts[i].Floor = nil
		if n := len(l.With); n >= MatchesPerRequest {
			last := l.With[n-1]
			m.idx.Posts[i].Floor = &last
		}
	}
	return m.save(openPostsIndexID(m.c), m.idxRaw, &m.idx, len(m.idx.Posts) == 0)
}

// save stores v as private entity id unless it is unchanged from raw;
// an empty v deletes the entity.
func (m *matcher) save(id string, raw []byte, v any, empty bool) error {
	if empty {
		if raw == nil {
			return nil
		}
		return m.tx.Delete(id)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("mutualaid: encode %s: %w", id, err)
	}
	if bytes.Equal(b, raw) {
		return nil
	}
	return m.tx.Put(id, b, nil)
}
