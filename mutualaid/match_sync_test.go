package mutualaid_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/linli/linli/mutualaid"
	"github.com/linli/linli/mutualaid/catalog"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// matchWorld is a real store in which posts are written as the mutations
// write them (putPost, then postChanged), one transaction per post.
type matchWorld struct {
	t     *testing.T
	clk   *clock
	store *linlisync.Store
	ids   []string // every post written, in order
}

func newMatchWorld(t *testing.T) *matchWorld {
	t.Helper()
	clk := &clock{now: night}
	return &matchWorld{t: t, clk: clk, store: mustOpen(t, clk)}
}

// write stores p and updates matching, as a post mutation does.
func (w *matchWorld) write(p *linliv1.Post) {
	w.t.Helper()
	err := w.store.Update(context.Background(), func(tx *linlisync.Tx) error {
		if err := mutualaid.MatchPutPost(tx, mutualaid.PostEntityID(p.GetCommunityId(), p.GetId()), p); err != nil {
			return err
		}
		return mutualaid.MatchPostChanged(tx, p)
	})
	if err != nil {
		w.t.Fatalf("write %s: %v", p.GetId(), err)
	}
	if !slices.Contains(w.ids, p.GetId()) {
		w.ids = append(w.ids, p.GetId())
	}
}

// changed runs postChanged for posts written by a mutation, in case putPost
// does not (yet) call it itself; when it does, this changes nothing.
func (w *matchWorld) changed(ids ...string) {
	w.t.Helper()
	err := w.store.Update(context.Background(), func(tx *linlisync.Tx) error {
		for _, id := range ids {
			p, ok, err := mutualaid.MatchLoadPost(tx, mutualaid.PostEntityID("yuqiao", id))
			if err != nil || !ok {
				w.t.Errorf("load %s: %v, %v", id, ok, err)
				continue
			}
			if err := mutualaid.MatchPostChanged(tx, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		w.t.Fatalf("changed: %v", err)
	}
}

// refresh runs the daily refresh of matches.
func (w *matchWorld) refresh() int {
	w.t.Helper()
	n, err := mutualaid.RefreshMatches(context.Background(), w.store, "yuqiao")
	if err != nil {
		w.t.Fatalf("RefreshMatches: %v", err)
	}
	return n
}

// post reads a post's canonical value.
func (w *matchWorld) post(id string) *linliv1.Post {
	w.t.Helper()
	b, ok, err := w.store.Get(mutualaid.PostEntityID("yuqiao", id))
	if err != nil || !ok {
		w.t.Fatalf("get %s: %v, %v", id, ok, err)
	}
	var e linliv1.Entity
	if err := proto.Unmarshal(b, &e); err != nil {
		w.t.Fatal(err)
	}
	return e.GetPost()
}

// pull reads scopes after cur.
func (w *matchWorld) pull(cur linlisync.Cursor, scopes ...string) linlisync.Page {
	w.t.Helper()
	page, err := w.store.Pull(context.Background(), scopes, cur, linlisync.Limits{MaxChanges: 10_000, MaxBytes: 16 << 20})
	if err != nil || page.HasMore {
		w.t.Fatalf("Pull: %v (has_more %v)", err, page.HasMore)
	}
	return page
}

// matches pulls scope from zero and returns its matches by entity id,
// failing on any entity of matching's private indexes.
func (w *matchWorld) matches(scope string) map[string]*linliv1.Match {
	w.t.Helper()
	out := map[string]*linliv1.Match{}
	for _, c := range w.pull(linlisync.Cursor{}, scope).Changes {
		if strings.HasPrefix(c.EntityID, "index/") || strings.HasPrefix(c.EntityID, "idx/") {
			w.t.Errorf("private %s published in %s", c.EntityID, scope)
		}
		var e linliv1.Entity
		if err := proto.Unmarshal(c.Value, &e); err != nil {
			w.t.Fatalf("decode %s: %v", c.EntityID, err)
		}
		if m := e.GetMatch(); m != nil {
			out[c.EntityID] = m
		} else if strings.HasPrefix(c.EntityID, "match/") {
			w.t.Errorf("%s in %s is not a match", c.EntityID, scope)
		}
	}
	return out
}

// wantConsistent checks the published matches against the suggestions
// from scratch (the stable matching of package matching among all posts),
// in the staff scope and in both authors' user scopes, nowhere else.
func (w *matchWorld) wantConsistent() {
	w.t.Helper()
	var posts []*linliv1.Post
	for _, id := range w.ids {
		posts = append(posts, w.post(id))
	}
	want := map[string]*linliv1.Match{}
	for _, m := range mutualaid.MatchGreedy(posts, w.clk.Now()) {
		want[mutualaid.MatchEntityID("yuqiao", m.GetRequestPostId(), m.GetOfferPostId())] = m
	}
	got := w.matches(staff)
	if g, wnt := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)); !slices.Equal(g, wnt) {
		w.t.Fatalf("staff scope matches:\ngot  %v\nwant %v", g, wnt)
	}
	users := map[string]map[string]*linliv1.Match{}
	for id, m := range got {
		if m.GetCreatedAt() == nil {
			w.t.Errorf("%s: no created_at", id)
		}
		stripped := proto.CloneOf(m)
		stripped.CreatedAt = nil
		if !proto.Equal(stripped, want[id]) {
			w.t.Errorf("%s:\ngot  %v\nwant %v", id, stripped, want[id])
		}
		for _, u := range []string{m.GetRequestAuthorId(), m.GetOfferAuthorId()} {
			if users[u] == nil {
				users[u] = w.matches(mutualaid.UserScope(u))
			}
			if !proto.Equal(users[u][id], m) {
				w.t.Errorf("%s: user/%s has %v, want it as in staff", id, u, users[u][id])
			}
		}
	}
	for u, ms := range users {
		for id, m := range ms {
			if m.GetRequestAuthorId() != u && m.GetOfferAuthorId() != u || got[id] == nil {
				w.t.Errorf("user/%s holds %s, which is not theirs or not current", u, id)
			}
		}
	}
	if ms := w.matches(community); len(ms) != 0 {
		w.t.Errorf("community scope holds %d matches", len(ms))
	}
}

// tombstones returns the entity ids deleted in scope after cur.
func (w *matchWorld) tombstones(cur linlisync.Cursor, scope string) []string {
	w.t.Helper()
	var out []string
	for _, c := range w.pull(cur, scope).Changes {
		if c.Deleted {
			out = append(out, c.EntityID)
		}
	}
	slices.Sort(out)
	return out
}

// index lists the ids of the live entities under prefix (matching's
// private index entities), in id order.
func (w *matchWorld) index(prefix string) []string {
	w.t.Helper()
	var ids []string
	err := w.store.Update(context.Background(), func(tx *linlisync.Tx) error {
		return tx.Scan(prefix, 1_000_000, func(id string, _ []byte) error {
			ids = append(ids, id)
			return nil
		})
	})
	if err != nil {
		w.t.Fatalf("scan %s: %v", prefix, err)
	}
	return ids
}

func TestMatchSync(t *testing.T) {
	t.Parallel()
	w := newMatchWorld(t)
	for _, p := range yuqiaoPosts() {
		w.clk.Advance(time.Minute)
		w.write(p)
		w.wantConsistent()
	}
	const fever = "match/yuqiao/req-fever-2340/"

	t.Run("RequesterSeesRankedSuggestionsWithReasons", func(t *testing.T) {
		got := w.matches(mutualaid.UserScope("u-wang"))
		want := []string{fever + "off-meilin", fever + "off-mixed", fever + "off-tylenol-child"}
		if ids := slices.Sorted(maps.Keys(got)); !slices.Equal(ids, want) {
			t.Fatalf("user/u-wang: got %v, want %v", ids, want)
		}
		m := got[fever+"off-meilin"]
		wantReasons := []string{"same item: 美林", "same building", "urgent", "for a child of 8 months", "expires 2023-06-30", "1 available"}
		if m.GetScore() != 129 || !slices.Equal(m.GetReasons(), wantReasons) || m.GetOfferItemCode() != "ibuprofen-suspension-child" || m.GetAvailable() != 1 {
			t.Errorf("got %v", m)
		}
		// Suggested when 王芳 posted, after the offers.
		if at := m.GetCreatedAt().AsTime(); !at.Equal(night.Add(11 * time.Minute)) {
			t.Errorf("created at %v, want %v", at, night.Add(11*time.Minute))
		}
	})
	t.Run("OfferAuthorSeesTheNeedsTheyCanMeet", func(t *testing.T) {
		got := slices.Sorted(maps.Keys(w.matches(mutualaid.UserScope("u-lucy"))))
		want := []string{fever + "off-meilin", "match/yuqiao/req-fever-adult/off-meilin"}
		if !slices.Equal(got, want) {
			t.Errorf("user/u-lucy: got %v, want %v", got, want)
		}
	})
	t.Run("NeighboursSeeNoMatches", func(t *testing.T) {
		if ms := w.matches(mutualaid.UserScope("u-li")); len(ms) != 1 {
			t.Errorf("user/u-li (one request) holds %d matches, want 1", len(ms))
		}
		if ms := w.matches(mutualaid.UserScope("u-zheng")); len(ms) != 0 {
			t.Errorf("user/u-zheng (expired drops) holds %d matches", len(ms))
		}
		if ms := w.matches(community); len(ms) != 0 {
			t.Errorf("community/yuqiao holds %d matches", len(ms))
		}
	})
	t.Run("RewritingChangesNothing", func(t *testing.T) {
		scopes := []string{community, staff, mutualaid.UserScope("u-wang"), mutualaid.UserScope("u-lucy")}
		before := w.store.Heads(scopes)
		w.changed(w.ids...)
		if after := w.store.Heads(scopes); !maps.Equal(before, after) {
			t.Errorf("heads moved from %v to %v", before, after)
		}
	})

	// Lucy gives her 美林 to someone at the door and cancels her offer.
	cur := w.pull(linlisync.Cursor{}, staff, mutualaid.UserScope("u-wang"), mutualaid.UserScope("u-lucy")).Cursor
	w.clk.Advance(10 * time.Minute)
	newDevice(t, w.store, lucy).mustApply(cancelMutation("off-meilin", "已经送给楼下邻居了"))
	w.changed("off-meilin")
	w.wantConsistent()

	t.Run("CancelledOfferIsTombstoned", func(t *testing.T) {
		gone := []string{fever + "off-meilin", "match/yuqiao/req-fever-adult/off-meilin"}
		if got := w.tombstones(cur, mutualaid.UserScope("u-lucy")); !slices.Equal(got, gone) {
			t.Errorf("user/u-lucy tombstones: got %v, want %v", got, gone)
		}
		if got := w.tombstones(cur, mutualaid.UserScope("u-wang")); !slices.Equal(got, gone[:1]) {
			t.Errorf("user/u-wang tombstones: got %v, want %v", got, gone[:1])
		}
		if got := w.tombstones(cur, staff); !slices.Equal(got, gone) {
			t.Errorf("staff tombstones: got %v, want %v", got, gone)
		}
		want := []string{fever + "off-mixed", fever + "off-tylenol-child"}
		if got := slices.Sorted(maps.Keys(w.matches(mutualaid.UserScope("u-wang")))); !slices.Equal(got, want) {
			t.Errorf("user/u-wang: got %v, want %v", got, want)
		}
	})
	t.Run("NoPrivateIndexEntities", func(t *testing.T) {
		for _, prefix := range []string{"idx/post/", "idx/open/", "idx/refresh/", "index/matches/"} {
			if ids := w.index(prefix); len(ids) != 0 {
				t.Errorf("matching stored private entities: %v", ids)
			}
		}
	})

	// Someone takes the last 3 antigen kits of 冯's offer.
	cur = w.pull(linlisync.Cursor{}, mutualaid.UserScope("u-sun")).Cursor
	p := w.post("off-antigen")
	p.Items[0].Reserved = 5
	p.Status = linliv1.PostStatus_POST_STATUS_MATCHED
	w.write(p)
	w.wantConsistent()
	t.Run("UsedUpOfferIsTombstoned", func(t *testing.T) {
		want := []string{"match/yuqiao/req-antigen/off-antigen"}
		if got := w.tombstones(cur, mutualaid.UserScope("u-sun")); !slices.Equal(got, want) {
			t.Errorf("user/u-sun tombstones: got %v, want %v", got, want)
		}
	})

	// 王芳 gets medicine from family and cancels her request.
	cur = w.pull(linlisync.Cursor{}, mutualaid.UserScope("u-guo")).Cursor
	newDevice(t, w.store, wang).mustApply(cancelMutation("req-fever-2340", "家人送来了"))
	w.changed("req-fever-2340")
	w.wantConsistent()
	t.Run("CancelledRequestIsTombstoned", func(t *testing.T) {
		if got := w.matches(mutualaid.UserScope("u-wang")); len(got) != 0 {
			t.Errorf("user/u-wang still holds %d matches", len(got))
		}
		want := []string{fever + "off-mixed"}
		if got := w.tombstones(cur, mutualaid.UserScope("u-guo")); !slices.Equal(got, want) {
			t.Errorf("user/u-guo tombstones: got %v, want %v", got, want)
		}
	})
}

// TestMatchTopList: a request keeps its best MatchesPerRequest offers as
// offers come, change and go.
func TestMatchTopList(t *testing.T) {
	t.Parallel()
	w := newMatchWorld(t)
	// Antigen kits expiring a month apart: the sooner, the better (75 … 69).
	expiries := []string{"2023-06-20", "2023-05-20", "2023-04-20"} // offered before the request
	for i, exp := range expiries {
		w.write(mxOffer(mxKitID(i), "u-kit"+mxKitID(i), "bldg-5", mxItem("antigen-test", "抗原", 1, exp)))
	}
	w.write(mxRequest("req", "u-sun", "bldg-7", linliv1.Urgency_URGENCY_ROUTINE, nil, mxItem("antigen-test", "抗原", 1, "")))
	w.wantConsistent()
	for i, exp := range []string{"2023-03-20", "2023-02-20", "2023-01-20", "2022-12-20"} { // and after
		i += len(expiries)
		w.write(mxOffer(mxKitID(i), "u-kit"+mxKitID(i), "bldg-5", mxItem("antigen-test", "抗原", 1, exp)))
		w.wantConsistent()
	}
	top := func() []mxScored {
		var out []mxScored
		for _, m := range w.matches(mutualaid.UserScope("u-sun")) {
			out = append(out, mxScored{m.GetOfferPostId(), m.GetScore()})
		}
		slices.SortFunc(out, func(a, b mxScored) int { return int(b.score - a.score) })
		return out
	}
	want := []mxScored{{"kit-6", 75}, {"kit-5", 74}, {"kit-4", 73}, {"kit-3", 72}, {"kit-2", 71}}
	if got := top(); !slices.Equal(got, want) {
		t.Fatalf("top list: got %v, want %v", got, want)
	}

	t.Run("BetterOfferPushesOutTheWorst", func(t *testing.T) {
		w.write(mxOffer("kit-near", "u-near", "bldg-7", mxItem("antigen-test", "抗原", 1, "2024-01-01"))) // 50+15+25 = 90
		w.wantConsistent()
		if got := top(); got[0] != (mxScored{"kit-near", 90}) || slices.Contains(got, mxScored{"kit-2", 71}) {
			t.Errorf("top list: %v", got)
		}
	})
	t.Run("LeavingOfferMakesRoom", func(t *testing.T) {
		w.write(mxStatus(w.post("kit-6"), linliv1.PostStatus_POST_STATUS_CANCELLED))
		w.wantConsistent()
		if got := top(); !slices.Contains(got, mxScored{"kit-2", 71}) || len(got) != 5 {
			t.Errorf("top list: %v", got)
		}
	})
	t.Run("WorseOfferMakesRoom", func(t *testing.T) {
		p := w.post("kit-5")
		p.Items[0].ExpiryDate = "2024-06-01" // 65 now, below kit-1 (70)
		w.write(p)
		w.wantConsistent()
		if got := top(); slices.ContainsFunc(got, func(s mxScored) bool { return s.id == "kit-5" }) || !slices.Contains(got, mxScored{"kit-1", 70}) {
			t.Errorf("top list: %v", got)
		}
	})
	t.Run("EditedRequestIsReranked", func(t *testing.T) {
		p := w.post("req")
		p.BuildingId = "bldg-5" // now the kits of 5号楼 are in the same building
		p.Items[0].Quantity = 1
		w.write(p)
		w.wantConsistent()
		if got := top(); len(got) != 5 || got[0] != (mxScored{"kit-4", 98}) {
			t.Errorf("top list: %v", got)
		}
	})
	t.Run("HopelessOfferIsSkipped", func(t *testing.T) {
		// At most 50+15+10 = 75 from another building: below the request's
		// fifth match (kit-0, 94).
		before := top()
		w.write(mxOffer("kit-far", "u-far", "bldg-7", mxItem("antigen-test", "抗原", 9, "2022-12-16")))
		w.wantConsistent()
		if got := top(); !slices.Equal(got, before) || got[len(got)-1] != (mxScored{"kit-0", 94}) {
			t.Errorf("top list: got %v, want it unchanged: %v", got, before)
		}
	})
	t.Run("RequestForSomethingElse", func(t *testing.T) {
		p := w.post("req")
		p.Items = []*linliv1.PostItem{mxItem("pulse-oximeter", "血氧仪", 1, "")}
		w.write(p)
		w.wantConsistent()
		if got := top(); len(got) != 0 {
			t.Errorf("top list: %v", got)
		}
	})
}

func mxKitID(i int) string { return "kit-" + string(rune('0'+i)) }

// TestMatchRandomHistory writes random posts, edits, reservations and
// closings in a crowded community and checks after every write that the
// published matches are what ranking every request from scratch gives.
func TestMatchRandomHistory(t *testing.T) {
	t.Parallel()
	for seed := range uint64(3) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			w := newMatchWorld(t)
			rng := rand.New(rand.NewPCG(seed, 2340))
			codes := []string{"antigen-test", "ibuprofen-suspension-child", "acetaminophen-drops-infant", "ibuprofen-tablet",
				"thermometer-electronic", "thermometer-forehead", "pear-soup"}
			expiries := []string{"", "2022-12-01", "2022-12-15", "2022-12-17", "2022-12-31", "2023-01-16", "2023-03-31", "2023-10-12", "2024-12-31"}
			pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
			items := func(offer bool) []*linliv1.PostItem {
				var out []*linliv1.PostItem
				for range 1 + rng.IntN(2) {
					it := mxItem(pick(codes), "", 1+rng.Int32N(3), "")
					if offer {
						it.ExpiryDate = pick(expiries)
						it.Reserved = rng.Int32N(it.Quantity + 1)
					}
					out = append(out, it)
				}
				return out
			}
			shape := func(p *linliv1.Post) {
				p.BuildingId = fmt.Sprintf("bldg-%d", 1+rng.IntN(3))
				p.Items = items(p.GetKind() == linliv1.PostKind_POST_KIND_OFFER)
				if p.GetKind() == linliv1.PostKind_POST_KIND_REQUEST {
					p.Urgency = linliv1.Urgency(1 + rng.IntN(3))
					p.ForWhom = []*linliv1.ForWhom{nil,
						mxFor(linliv1.Recipient_RECIPIENT_CHILD, 1+rng.Uint32N(60), false),
						mxFor(linliv1.Recipient_RECIPIENT_ELDERLY, 0, rng.IntN(2) == 0),
						mxFor(linliv1.Recipient_RECIPIENT_PREGNANT, 0, false)}[rng.IntN(4)]
				}
			}
			var ids []string
			for step := range 150 {
				w.clk.Advance(time.Duration(rng.IntN(4*60)) * time.Minute) // about 9 days in all
				if len(ids) < 8 || rng.IntN(3) == 0 {
					id := fmt.Sprintf("p%03d", step)
					p := mxOffer(id, fmt.Sprintf("u-%d", rng.IntN(6)), "", nil...)
					if rng.IntN(3) == 0 {
						p.Kind = linliv1.PostKind_POST_KIND_REQUEST
					}
					shape(p)
					w.write(p)
					ids = append(ids, id)
				} else {
					p := w.post(ids[rng.IntN(len(ids))])
					switch rng.IntN(5) {
					case 0:
						shape(p)
					case 1:
						p.Status = []linliv1.PostStatus{linliv1.PostStatus_POST_STATUS_CANCELLED, linliv1.PostStatus_POST_STATUS_FULFILLED,
							linliv1.PostStatus_POST_STATUS_ESCALATED}[rng.IntN(3)]
					case 2:
						p.Status = linliv1.PostStatus_POST_STATUS_OPEN
					default:
						p.Status = linliv1.PostStatus_POST_STATUS_MATCHED
						for _, it := range p.GetItems() {
							it.Reserved = rng.Int32N(it.GetQuantity() + 1)
						}
					}
					w.write(p)
				}
				w.refresh()
				w.wantConsistent()
				if t.Failed() {
					t.Fatalf("inconsistent after step %d", step)
				}
			}
		})
	}
}

// BenchmarkMatchPostWrite measures one offer write (putPost and matching)
// in a community with 400 open requests for antigen tests and 100 offers.
func BenchmarkMatchPostWrite(b *testing.B) {
	clk := &clock{now: night}
	s := mustOpen(b, clk)
	put := func(p *linliv1.Post) {
		err := s.Update(context.Background(), func(tx *linlisync.Tx) error {
			return mutualaid.MatchPutPost(tx, mutualaid.PostEntityID("yuqiao", p.GetId()), p)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	for i := range 100 {
		put(mxOffer(fmt.Sprintf("off-%d", i), fmt.Sprintf("u-o%d", i), fmt.Sprintf("bldg-%d", i%10), mxItem("antigen-test", "抗原", 3, "")))
	}
	for i := range 400 {
		put(mxRequest(fmt.Sprintf("req-%d", i), fmt.Sprintf("u-r%d", i), fmt.Sprintf("bldg-%d", i%10), linliv1.Urgency_URGENCY_ROUTINE, nil, mxItem("antigen-test", "抗原", 1, "")))
	}
	b.ResetTimer()
	for i := range b.N {
		put(mxOffer("off-bench", "u-bench", "bldg-1", mxItem("antigen-test", "抗原", 1+int32(i%2), "")))
	}
}

// TestMatchExpiry: a suggestion of medicine goes away once it expires,
// with the next write in the community or with the daily refresh.
func TestMatchExpiry(t *testing.T) {
	t.Parallel()
	w := newMatchWorld(t)
	child := mxFor(linliv1.Recipient_RECIPIENT_CHILD, 8, false)
	w.write(mxOffer("off-today", "u-lucy", "bldg-3", mxItem("ibuprofen-suspension-child", "美林", 1, "2022-12-15")))
	w.write(mxOffer("off-tomorrow", "u-zhang", "bldg-5", mxItem("acetaminophen-suspension-child", "泰诺林", 1, "2022-12-16")))
	w.write(mxRequest("req-fever-2340", "u-wang", "bldg-3", linliv1.Urgency_URGENCY_URGENT, child, mxItem("ibuprofen-suspension-child", "美林", 1, "")))
	w.wantConsistent()
	if n := w.refresh(); n != 0 {
		t.Errorf("refresh before midnight re-ranked %d offers", n)
	}
	const fever = "match/yuqiao/req-fever-2340/"
	if got := slices.Sorted(maps.Keys(w.matches(mutualaid.UserScope("u-wang")))); !slices.Equal(got, []string{fever + "off-today", fever + "off-tomorrow"}) {
		t.Fatalf("user/u-wang: %v", got)
	}

	t.Run("NextWriteInTheCommunity", func(t *testing.T) {
		cur := w.pull(linlisync.Cursor{}, mutualaid.UserScope("u-wang")).Cursor
		w.clk.Advance(30 * time.Minute) // 00:10 on the 16th
		w.write(mxOffer("off-masks", "u-he", "bldg-7", mxItem("mask-kn95", "口罩", 10, "")))
		w.wantConsistent()
		if got := w.tombstones(cur, mutualaid.UserScope("u-wang")); !slices.Equal(got, []string{fever + "off-today"}) {
			t.Errorf("user/u-wang tombstones: got %v, want the 美林 that expired", got)
		}
	})
	t.Run("DailyRefresh", func(t *testing.T) {
		cur := w.pull(linlisync.Cursor{}, mutualaid.UserScope("u-zhang")).Cursor
		w.clk.Advance(24 * time.Hour) // the 17th
		if n := w.refresh(); n != 1 {
			t.Errorf("refresh re-ranked %d offers, want 1", n)
		}
		w.wantConsistent()
		if got := w.tombstones(cur, mutualaid.UserScope("u-zhang")); !slices.Equal(got, []string{fever + "off-tomorrow"}) {
			t.Errorf("user/u-zhang tombstones: got %v, want the 泰诺林 that expired", got)
		}
		if n := w.refresh(); n != 0 {
			t.Errorf("second refresh re-ranked %d offers", n)
		}
	})
}

// TestMatchRebuild: the first write after a store opens builds matching's
// state from the posts and the Match entities. What older stores kept as
// private index entities is deleted, and stored suggestions that no longer
// hold (a closed post, more than an offer's room) are tombstoned.
func TestMatchRebuild(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clk := &clock{now: night}
	var svc *mutualaid.Service
	open := func() *linlisync.Store {
		var err error
		svc, err = mutualaid.Open(mutualaid.Config{Dir: dir, Now: clk.Now, Logger: slog.New(slog.DiscardHandler), Store: linlisync.Options{DropInterval: -1}})
		if err != nil {
			t.Fatal(err)
		}
		return svc.Store()
	}
	// As an older linli left it: seven requests for antigen kits and one
	// offer of nine, suggested to all seven (more than an offer's room); a cancelled offer still
	// suggested to one; and matching's private index entities.
	var posts []*linliv1.Post
	for i := range 7 {
		posts = append(posts, mxRequest(fmt.Sprintf("req-%d", i), fmt.Sprintf("u-r%d", i), "bldg-5", linliv1.Urgency_URGENCY_ROUTINE, nil, mxItem("antigen-test", "抗原", 1, "")))
	}
	kits := mxOffer("kits", "u-feng", "bldg-5", mxItem("antigen-test", "抗原", 9, ""))
	gone := mxStatus(mxOffer("gone", "u-he", "bldg-5", mxItem("antigen-test", "抗原", 1, "")), linliv1.PostStatus_POST_STATUS_CANCELLED)
	posts = append(posts, kits, gone)
	old := open()
	err := old.Update(context.Background(), func(tx *linlisync.Tx) error {
		for _, p := range posts {
			views, err := mutualaid.PostViews(p)
			if err != nil {
				return err
			}
			if err := tx.Put(mutualaid.PostEntityID("yuqiao", p.GetId()), views[staff], views); err != nil {
				return err
			}
		}
		for i := range 7 {
			for _, off := range []*linliv1.Post{kits, gone} {
				if off == gone && i > 0 {
					continue
				}
				req := posts[i]
				m, ok := mutualaid.MatchScore(req, off, catalog.Default(), clk.Now())
				if !ok { // the cancelled offer, as it was
					m, _ = mutualaid.MatchScore(req, mxStatus(proto.CloneOf(off), linliv1.PostStatus_POST_STATUS_OPEN), catalog.Default(), clk.Now())
				}
				m.CreatedAt = timestamppb.New(clk.Now())
				views, err := mutualaid.MatchViews(m)
				if err != nil {
					return err
				}
				if err := tx.Put(mutualaid.MatchEntityID("yuqiao", req.GetId(), off.GetId()), views[staff], views); err != nil {
					return err
				}
			}
		}
		for _, id := range []string{"idx/post/yuqiao/kits", "idx/open/yuqiao/offer/cat:antigen_test/ffff/kits", "idx/refresh/yuqiao/2023-01-01/kits", "index/matches/yuqiao/kits"} {
			if err := tx.Put(id, []byte("{}"), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}

	w := &matchWorld{t: t, clk: clk, store: open()}
	defer svc.Close()
	for _, p := range posts {
		w.ids = append(w.ids, p.GetId())
	}
	cur := w.pull(linlisync.Cursor{}, staff).Cursor
	w.clk.Advance(time.Minute)
	w.write(mxOffer("masks", "u-he", "bldg-7", mxItem("mask-kn95", "口罩", 10, ""))) // any write builds the state
	for _, prefix := range []string{"idx/post/", "idx/open/", "idx/refresh/", "index/matches/"} {
		if ids := w.index(prefix); len(ids) != 0 {
			t.Errorf("retired entities left: %v", ids)
		}
	}
	tomb := w.tombstones(cur, staff)
	want := []string{"match/yuqiao/req-0/gone"}
	for i := mutualaid.MatchesPerOffer; i < 7; i++ {
		want = append(want, fmt.Sprintf("match/yuqiao/req-%d/kits", i))
	}
	if !slices.Equal(tomb, want) {
		t.Errorf("tombstoned %v, want the closed offer's and those beyond the offer's room: %v", tomb, want)
	}
	w.wantConsistent()
}
