package mutualaid

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/linli/linli/mutualaid/catalog"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// Matching keeps, for every active request, its top MatchesPerRequest
// fitting offers as Match entities (ranked as scoreMatch describes), and
// maintains them as posts change: postChanged re-ranks only the post that
// was written against the active counterparts of its community that share
// a key with it.
//
// Entities (ON-DISK FORMAT: never change or reuse an id layout or a
// record's JSON field names; "index/open-posts/<c>", one list of all open
// posts, is retired and must not be reused):
//
//	entity id                                    canonical value         published in
//	match/<c>/<request id>/<offer id>            linliv1.Entity{Match}   see MatchViews
//	idx/post/<c>/<post id>                       openPost (JSON)         nowhere
//	idx/open/<c>/<kind>/<key>/<since>/<post id>  openEntry (JSON)        nowhere
//	idx/refresh/<c>/<day>/<offer id>             "{}"                    nowhere
//	index/matches/<c>/<post id>                  matchList (JSON)        nowhere
//
// Every active (OPEN or MATCHED) post has its own small index entities,
// written only when that post or its own match list changes: idx/post
// (what matching knows of it, and so which other entities it owns), one
// idx/open entry per key (see openPost.Keys), and for an offer with
// matches that time will change, one idx/refresh entry. <kind> is "offer"
// or "request"; <since> is the post's created_at as 16 lower-case hex digits
// of 2^64−1 − unix milliseconds, so that a scan of one key meets the
// newest posts first; <day> is openPost.Refresh. A post write finds its
// candidate counterparts with one bounded Tx.Scan per key of the other
// kind's entries, never by reading every post. index/matches lists, for a
// request, the offers it is matched with, and for an offer, the requests
// it is matched with, each with the match's score, best first.
// Invariants, after every postChanged:
//
//   - a post has an idx/post record and an idx/open entry per key exactly
//     while it is active, and an offer an idx/refresh entry exactly while
//     it is active, matched and has a Refresh day; every entry agrees with
//     its post's idx/post record;
//   - a Match entity exists exactly when its pair is in both posts' lists,
//     and only between active posts that share a key (so a community with
//     no indexed request, or no indexed offer, has no matches);
//   - a request's list holds at most MatchesPerRequest offers; when it
//     holds fewer, it holds every fitting active offer among the candidates
//     (so only a full list can hide a better offer, and only full lists are
//     re-ranked when one of their offers drops out or scores lower);
//   - a request's idx/post record and idx/open entries hold the last of
//     its list when the list is full (Floor), so an offer write skips,
//     without loading them, the requests whose fifth match it could not
//     beat even at best.
//
// Cost of one post write: a read of its idx/post record, a write of each
// of its index entities that changed, one scan (limit 1) of the other
// kind's entries, and only if that finds one: one scan per key of at most
// maxMatchCandidates entries, the loading and scoring of those candidates
// not skipped by their floor, the match lists they touch, and the refresh
// below. An offer in a community with no open request costs its own index
// entities and one empty scan.
//
// Matches follow the clock too: a matched offer's idx/refresh entry names
// the day its matches change by themselves (an item expires, or its expiry
// bonus steps), and every postChanged of a community with posts of both kinds
// re-ranks up to maxRefreshPerWrite offers whose day has come (earliest
// day first), as RefreshMatches does for all of them. Until then a match
// may outlive its medicine by the time it takes for someone in the
// community to write or for the daily refresh.

// Private entity ids of matching.
func postIndexID(c, postID string) string  { return "idx/post/" + c + "/" + postID }
func openKindPrefix(c, kind string) string { return "idx/open/" + c + "/" + kind + "/" }
func openKeyPrefix(c, kind, key string) string {
	return openKindPrefix(c, kind) + key + "/"
}
func openEntryID(c, kind, key, since, postID string) string {
	return openKeyPrefix(c, kind, key) + since + "/" + postID
}
func refreshPrefix(c string) string                { return "idx/refresh/" + c + "/" }
func refreshEntryID(c, day, offerID string) string { return refreshPrefix(c) + day + "/" + offerID }
func matchListID(c, postID string) string          { return "index/matches/" + c + "/" + postID }

// refreshEntryValue is the canonical value of every idx/refresh entry:
// its id says it all.
var refreshEntryValue = []byte("{}")

// openPost is the canonical value of idx/post/<c>/<post id>: one active
// post as matching needs to know it.
type openPost struct {
	Kind     string `json:"kind"` // "offer" or "request"
	Author   string `json:"author"`
	Building string `json:"building,omitempty"`
	// Since is the <since> of the post's idx/open entries (see above).
	Since string `json:"since"`
	// Keys are what the post asks for, or has free, one per item:
	// "cat:<category>/<group>" for a catalog item outside CategoryOther,
	// else "code:<item code>". Two posts can match only if they share a
	// key (a catalog item fits only itself or, by Fits, an item of its
	// category and group; any other item only its own code). The post has
	// one idx/open entry per key.
	Keys []string `json:"keys"`
	// Requests only: their requestBonus, and the last of their matches
	// when they have MatchesPerRequest (an offer that cannot beat it need
	// not be looked at).
	Bonus int       `json:"bonus,omitempty"`
	Floor *matchRef `json:"floor,omitempty"`
	// Offers only: the day ("YYYY-MM-DD") from which the passing of time
	// changes its matches (an item expires, or its expiry bonus steps up);
	// empty if never. See nextRefresh and RefreshMatches. Matched says
	// whether the offer has matches: only then can time change anything
	// published, and only then has it an idx/refresh entry (if Refresh is
	// set). Refresh may be past while the offer has no matches; the first
	// refresh after it gains one brings it up to date.
	Refresh string `json:"refresh,omitempty"`
	Matched bool   `json:"matched,omitempty"`
}

// refreshDay returns the <day> of o's idx/refresh entry, or "" if it has
// none.
func (o *openPost) refreshDay() string {
	if o == nil || !o.Matched {
		return ""
	}
	return o.Refresh
}

// entry returns the canonical value of o's idx/open entries.
func (o *openPost) entry() openEntry {
	return openEntry{Author: o.Author, Building: o.Building, Bonus: o.Bonus, Floor: o.Floor}
}

// openEntry is the canonical value of an idx/open entry: what a write of a
// counterpart needs to know of a post before loading it.
type openEntry struct {
	Author   string    `json:"author"`
	Building string    `json:"building,omitempty"`
	Bonus    int       `json:"bonus,omitempty"`
	Floor    *matchRef `json:"floor,omitempty"`
}

func (e openEntry) equal(f openEntry) bool {
	return e.Author == f.Author && e.Building == f.Building && e.Bonus == f.Bonus &&
		(e.Floor == nil) == (f.Floor == nil) && (e.Floor == nil || *e.Floor == *f.Floor)
}

// candidate is a post of the other kind found in the idx/open entries.
type candidate struct {
	id, since string
	openEntry
}

// sinceKey is the <since> of a post created at t: newest first in id order.
func sinceKey(t time.Time) string {
	ms := max(t.UnixMilli(), 0)
	return fmt.Sprintf("%016x", ^uint64(ms))
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

// otherKind is the kind of the posts that posts of kind k meet.
func otherKind(k string) string {
	if k == kindOffer {
		return kindRequest
	}
	return kindOffer
}

// postChanged keeps matching up to date after p was written (created,
// edited, cancelled, its reservations or status changed). putPost calls it
// after every write of a post; it is idempotent.
//
// It updates p's own index entities, then, unless the community has no
// active post of the other kind (then p has no matches and there is
// nothing more to do), re-ranks p alone: a request gets its top
// MatchesPerRequest offers among at most 500 candidates; an offer is
// scored against every candidate request (at most 500) and enters, moves
// in or leaves each one's top list. Candidates are the newest active posts
// of the other kind, by other authors, that share a key with p (at most
// maxMatchCandidates scanned per key). Matches that no longer hold (a post
// closed, an item used up or changed, a better offer pushed it out) are
// deleted, which tombstones them in the scopes that saw them; a full top
// list that lost an offer is re-ranked in full to refill it (at most 16
// such requests per write: beyond that a request shows fewer suggestions
// until it is next written). Then it refreshes up to maxRefreshPerWrite
// offers whose day has come (see RefreshMatches). Unchanged entities are
// not rewritten. See the entity table above for what it costs.
//
// REQUIRES: p is the post as just stored, with its community and id set.
// Errors are internal: storage, or a stored record that does not decode.
func postChanged(tx *linlisync.Tx, p *linliv1.Post) error {
	if p.GetCommunityId() == "" || p.GetId() == "" {
		return errors.New("mutualaid: match: post without community or id")
	}
	kind := kindName(p.GetKind())
	if kind == "" {
		return nil
	}
	m := newMatcher(tx, p.GetCommunityId())
	if err := m.indexPost(p); err != nil {
		return err
	}
	if ok, err := m.anyActive(otherKind(kind)); err != nil || !ok {
		return err
	}
	var err error
	if kind == kindRequest {
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

// newMatcher starts the matching work of one transaction in community c.
func newMatcher(tx *linlisync.Tx, c string) *matcher {
	m := &matcher{tx: tx, c: c, now: tx.Now(), cat: catalog.Default(),
		posts: map[string]*indexedPost{}, lists: map[string]*loadedList{}}
	m.today = startOfDay(m.now).Format(dateLayout)
	return m
}

// matcher is one postChanged's working state: the idx/post records and
// the match lists it read. Index entities are written as soon as a post
// is (re)indexed, so that the scans that follow see them; match lists, and
// the floors that follow from them, are written once at the end (flush).
type matcher struct {
	tx      *linlisync.Tx
	c       string
	now     time.Time
	today   string // now's date, "YYYY-MM-DD"
	cat     *catalog.Catalog
	posts   map[string]*indexedPost // post id → its idx/post record
	lists   map[string]*loadedList  // post id → its list
	refills int
}

// indexedPost is a post's idx/post record as the Tx holds it now.
type indexedPost struct {
	rec *openPost // nil if the post is not indexed
	raw []byte    // rec as stored
}

type loadedList struct {
	matchList
	raw   []byte // as stored; nil if absent
	dirty bool
}

// indexed returns the idx/post record of post id, loading it on first use.
func (m *matcher) indexed(id string) (*indexedPost, error) {
	if ip, ok := m.posts[id]; ok {
		return ip, nil
	}
	ip := &indexedPost{}
	raw, ok, err := m.tx.Get(postIndexID(m.c, id))
	if err != nil {
		return nil, err
	}
	if ok {
		ip.raw, ip.rec = raw, &openPost{}
		if err := json.Unmarshal(raw, ip.rec); err != nil {
			return nil, fmt.Errorf("mutualaid: decode %s: %w", postIndexID(m.c, id), err)
		}
	}
	m.posts[id] = ip
	return ip, nil
}

// indexPost makes p's index entities describe it if p is active (keeping
// its floor), and deletes them otherwise.
func (m *matcher) indexPost(p *linliv1.Post) error {
	ip, err := m.indexed(p.GetId())
	if err != nil {
		return err
	}
	var next *openPost
	if postActive(p) {
		next = &openPost{Kind: kindName(p.GetKind()), Author: p.GetAuthorId(), Building: p.GetBuildingId(),
			Since: sinceKey(p.GetCreatedAt().AsTime()), Keys: m.keys(p)}
		if ip.rec != nil {
			next.Since = ip.rec.Since // entry ids stay put
		}
		if next.Kind == kindRequest {
			next.Bonus, _ = requestBonus(p)
			if ip.rec != nil {
				next.Floor = ip.rec.Floor // until flush updates it
			}
		} else {
			next.Refresh = nextRefresh(p, m.now)
			if ip.rec != nil {
				next.Matched = ip.rec.Matched // until flush updates it
			}
		}
	}
	return m.setIndexed(p.GetId(), ip, next)
}

// setIndexed replaces post id's idx/post record ip with next (nil: none),
// writing, deleting or leaving alone each of its index entities as the
// change requires.
func (m *matcher) setIndexed(id string, ip *indexedPost, next *openPost) error {
	prev := ip.rec
	entries := func(o *openPost) map[string]openEntry {
		out := map[string]openEntry{}
		if o == nil {
			return out
		}
		for _, k := range o.Keys {
			out[openEntryID(m.c, o.Kind, k, o.Since, id)] = o.entry()
		}
		return out
	}
	old, cur := entries(prev), entries(next)
	for _, eid := range slices.Sorted(maps.Keys(old)) {
		if _, ok := cur[eid]; !ok {
			if err := m.tx.Delete(eid); err != nil {
				return err
			}
		}
	}
	for _, eid := range slices.Sorted(maps.Keys(cur)) {
		e := cur[eid]
		if o, ok := old[eid]; ok && o.equal(e) {
			continue
		}
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("mutualaid: encode %s: %w", eid, err)
		}
		if err := m.tx.Put(eid, b, nil); err != nil {
			return err
		}
	}
	if was, now := prev.refreshDay(), next.refreshDay(); was != now {
		if was != "" {
			if err := m.tx.Delete(refreshEntryID(m.c, was, id)); err != nil {
				return err
			}
		}
		if now != "" {
			if err := m.tx.Put(refreshEntryID(m.c, now, id), refreshEntryValue, nil); err != nil {
				return err
			}
		}
	}
	ip.rec = next
	if next == nil {
		if ip.raw == nil {
			return nil
		}
		ip.raw = nil
		return m.tx.Delete(postIndexID(m.c, id))
	}
	b, err := json.Marshal(next)
	if err != nil {
		return fmt.Errorf("mutualaid: encode %s: %w", postIndexID(m.c, id), err)
	}
	if bytes.Equal(b, ip.raw) {
		return nil
	}
	ip.raw = b
	return m.tx.Put(postIndexID(m.c, id), b, nil)
}

// anyActive reports whether the community has an indexed post of kind
// with at least one key: one scan of at most one entry.
func (m *matcher) anyActive(kind string) (bool, error) {
	found := false
	err := m.tx.Scan(openKindPrefix(m.c, kind), 1, func(string, []byte) error {
		found = true
		return nil
	})
	return found, err
}

// keys returns the index keys of p (see openPost.Keys), sorted: of every
// item of a request, of the items an offer has free.
func (m *matcher) keys(p *linliv1.Post) []string {
	keys := []string{}
	for _, it := range p.GetItems() {
		if p.GetKind() == linliv1.PostKind_POST_KIND_OFFER && it.GetQuantity()-it.GetReserved() <= 0 {
			continue
		}
		keys = append(keys, m.key(it.GetItemCode()))
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// key returns the index key of an item code (see openPost.Keys).
func (m *matcher) key(code string) string {
	if item, ok := m.cat.Item(code); ok && item.Category != catalog.CategoryOther {
		return "cat:" + string(item.Category) + "/" + item.Group
	}
	return "code:" + code
}

// candidateEntries returns the idx/open entries of the active posts of the
// other kind that share a key with p and are not p's author's: the newest
// at most maxMatchCandidates of those met by scanning at most
// maxMatchCandidates entries of each of p's keys, in post id order.
func (m *matcher) candidateEntries(p *linliv1.Post) ([]candidate, error) {
	want := otherKind(kindName(p.GetKind()))
	seen := map[string]bool{}
	var cs []candidate
	for _, key := range m.keys(p) {
		prefix := openKeyPrefix(m.c, want, key)
		err := m.tx.Scan(prefix, maxMatchCandidates, func(id string, v []byte) error {
			since, pid, ok := strings.Cut(id[len(prefix):], "/")
			if !ok || pid == "" {
				return fmt.Errorf("mutualaid: malformed index entry %s", id)
			}
			if seen[pid] {
				return nil
			}
			seen[pid] = true
			var e openEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("mutualaid: decode %s: %w", id, err)
			}
			if e.Author != p.GetAuthorId() {
				cs = append(cs, candidate{id: pid, since: since, openEntry: e})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(cs) > maxMatchCandidates {
		slices.SortFunc(cs, func(a, b candidate) int { return cmp.Or(cmp.Compare(a.since, b.since), cmp.Compare(a.id, b.id)) })
		cs = cs[:maxMatchCandidates]
	}
	slices.SortFunc(cs, func(a, b candidate) int { return cmp.Compare(a.id, b.id) })
	return cs, nil
}

// candidates loads the posts of candidateEntries(p).
func (m *matcher) candidates(p *linliv1.Post) ([]*linliv1.Post, error) {
	cs, err := m.candidateEntries(p)
	if err != nil {
		return nil, err
	}
	posts := make([]*linliv1.Post, 0, len(cs))
	for _, c := range cs {
		q, ok, err := loadPost(m.tx, PostEntityID(m.c, c.id))
		if err != nil {
			return nil, err
		}
		if ok {
			posts = append(posts, q)
		}
	}
	return posts, nil
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
		cs, err := m.candidateEntries(offer)
		if err != nil {
			return err
		}
		for _, c := range cs {
			best := matchRef{ID: offer.GetId(), Score: maxMatchScore(c.Bonus, c.Building != "" && c.Building == offer.GetBuildingId())}
			if c.Floor != nil && compareRefs(best, *c.Floor) > 0 {
				continue // cannot enter; if it is in the list, ol has it
			}
			ids = append(ids, c.id)
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

// flush writes the match lists that changed, and what follows from them
// into their posts' index entities: a request's floor, whether an offer is
// matched (and so has an idx/refresh entry).
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
		ip, err := m.indexed(id)
		if err != nil {
			return err
		}
		if ip.rec == nil {
			continue
		}
		next := *ip.rec
		if next.Kind == kindOffer {
			next.Matched = len(l.With) > 0
		} else {
			next.Floor = nil
			if n := len(l.With); n >= MatchesPerRequest {
				last := l.With[n-1]
				next.Floor = &last
			}
		}
		if err := m.setIndexed(id, ip, &next); err != nil {
			return err
		}
	}
	return nil
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
