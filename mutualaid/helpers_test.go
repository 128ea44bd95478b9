package mutualaid_test

import (
	"context"
	"log/slog"
	gosync "sync"
	"testing"
	"time"

	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// 23:40 on a December night in Beijing, when 王芳's child ran a fever.
var (
	beijing = time.FixedZone("CST", 8*60*60)
	night   = time.Date(2022, 12, 15, 23, 40, 0, 0, beijing)
)

// Members of the 玉桥 community used throughout the tests.
var (
	wang  = mutualaid.Member{UserID: "u-wang", CommunityID: "yuqiao", Role: mutualaid.RoleResident}   // 王芳, child with fever
	lucy  = mutualaid.Member{UserID: "u-lucy", CommunityID: "yuqiao", Role: mutualaid.RoleResident}   // Lucy Chen, has 美林 to spare
	zhang = mutualaid.Member{UserID: "u-zhang", CommunityID: "yuqiao", Role: mutualaid.RoleVolunteer} // 张伟, a neighbour
	zhao  = mutualaid.Member{UserID: "u-zhao", CommunityID: "yuqiao", Role: mutualaid.RoleStaff}      // 赵主任, community staff
)

// clock is the store's clock; tests move it forward.
type clock struct {
	mu  gosync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// mustOpen opens a real store in a temporary directory, as the service
// opens it, closed at cleanup.
// The store has the 玉桥 and 北苑 communities and their buildings, where
// the tests' posts are made.
func mustOpen(tb testing.TB, clk *clock) *linlisync.Store {
	tb.Helper()
	svc := mustOpenIn(tb, tb.TempDir(), clk)
	seedPlaces(tb, svc)
	return svc.Store()
}

// seedPlaces creates the 玉桥 and 北苑 communities and their buildings.
func seedPlaces(tb testing.TB, svc *mutualaid.Service) {
	tb.Helper()
	for _, c := range []*linliv1.Community{yuqiao, beiyuan} {
		if _, err := svc.CreateCommunity(context.Background(), mutualaid.Operator, c); err != nil {
			tb.Fatalf("CreateCommunity %s: %v", c.GetId(), err)
		}
	}
	for _, b := range []*linliv1.Building{bldg3, bldg5, {Id: "bldg-1", CommunityId: "beiyuan", Name: "1号楼"}} {
		if _, err := svc.PutBuilding(context.Background(), mutualaid.Operator, b); err != nil {
			tb.Fatalf("PutBuilding %s: %v", b.GetId(), err)
		}
	}
}

// mustOpenIn opens the service over a real store in dir, without its
// background jobs (tests run their passes), closed at cleanup.
func mustOpenIn(tb testing.TB, dir string, clk *clock) *mutualaid.Service {
	tb.Helper()
	s, err := mutualaid.Open(mutualaid.Config{
		Dir: dir, Now: clk.Now, Logger: slog.New(slog.DiscardHandler),
		Store: linlisync.Options{DropInterval: -1},
	})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

// device is one member's phone: it numbers its mutations 1, 2, 3…
type device struct {
	t      *testing.T
	store  *linlisync.Store
	member mutualaid.Member
	next   uint64
}

func newDevice(t *testing.T, s *linlisync.Store, m mutualaid.Member) *device {
	return &device{t: t, store: s, member: m}
}

func (d *device) client() linlisync.ClientID {
	return linlisync.ClientID{User: d.member.UserID, Client: "phone-1"}
}

// push sends one mutation and returns its outcome.
func (d *device) push(m *linliv1.Mutation) linlisync.Result {
	d.t.Helper()
	d.next++
	m.Id = d.next
	mut, err := mutualaid.NewMutationAt(d.member, m, time.Now())
	if err != nil {
		d.t.Fatalf("NewMutationAt: %v", err)
	}
	res, last, err := d.store.Push(context.Background(), d.client(), []linlisync.Mutation{mut})
	if err != nil {
		d.t.Fatalf("Push: %v", err)
	}
	if len(res) != 1 || last != d.next {
		d.t.Fatalf("Push: got %d results, last %d; want 1, %d", len(res), last, d.next)
	}
	return res[0]
}

// mustApply pushes m and fails unless it was applied.
func (d *device) mustApply(m *linliv1.Mutation) {
	d.t.Helper()
	if r := d.push(m); r.Status != linlisync.StatusApplied {
		d.t.Fatalf("push: got status %d (%s: %s), want applied", r.Status, r.Reason, r.Message)
	}
}

// view is what a Pull from zero shows: scope → entity id → entity.
type view linlitest.State

// pull reads the member's scopes from zero and decodes every change.
func (d *device) pull() view {
	d.t.Helper()
	page, err := d.store.Pull(context.Background(), mutualaid.Scopes(d.member), linlisync.Cursor{},
		linlisync.Limits{MaxChanges: 1000, MaxBytes: 1 << 20})
	if err != nil {
		d.t.Fatalf("Pull: %v", err)
	}
	if page.HasMore {
		d.t.Fatalf("Pull: unexpected has_more")
	}
	for _, c := range page.Changes {
		if c.Deleted {
			d.t.Fatalf("Pull from zero returned a tombstone for %s in %s", c.EntityID, c.Scope)
		}
	}
	v := linlitest.State{}
	if err := v.ApplyPage(page); err != nil {
		d.t.Fatal(err)
	}
	return view(v)
}

// post returns the post with entity id in scope, failing if absent.
func (v view) post(t *testing.T, scope, id string) *linliv1.Post {
	t.Helper()
	p := v[scope][id].GetPost()
	if p == nil {
		t.Fatalf("no post %s in scope %s", id, scope)
	}
	return p
}

// feverRequest is 王芳's request at 23:40: children's fever reducer.
func feverRequest(postID string) *linliv1.Mutation {
	return &linliv1.Mutation{Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{
		PostId: postID,
		Draft: &linliv1.PostDraft{
			Items: []*linliv1.PostItem{
				{ItemCode: "ibuprofen-suspension-child", Name: "美林", Quantity: 1, Unit: "瓶"},
				{ItemCode: "antigen-test", Name: "抗原", Quantity: 2, Unit: "人份"},
			},
			Urgency:     linliv1.Urgency_URGENCY_URGENT,
			Note:        "孩子发烧39度，外卖送不进来，急需儿童退烧药！\n美林或者泰诺林都可以。",
			BuildingId:  "bldg-3",
			Floor:       15,
			Unit:        "1502",
			Phone:       "+86 138-0013-8000",
			DisplayName: "王芳",
		},
	}}}
}

// medicineOffer is Lucy's offer of 美林, 泰诺林 and antigen tests.
func medicineOffer(postID string) *linliv1.Mutation {
	return &linliv1.Mutation{Kind: &linliv1.Mutation_PostOffer{PostOffer: &linliv1.PostOfferMutation{
		PostId: postID,
		Draft: &linliv1.PostDraft{
			Items: []*linliv1.PostItem{
				{ItemCode: "ibuprofen-suspension-child", Name: "美林", Quantity: 1, Unit: "bottle", ExpiryDate: "2027-05-31"},
				{ItemCode: "acetaminophen-suspension-child", Name: "泰诺林", Quantity: 1, Unit: "bottle", ExpiryDate: "2027-09-30"},
				{ItemCode: "antigen-test", Name: "antigen test", Quantity: 5, Unit: "kit"},
			},
			Note:        "I'll leave it on the windowsill by the 15th-floor elevator. Wear a mask.",
			BuildingId:  "bldg-3",
			Floor:       11,
			Unit:        "1103",
			Phone:       "139 1000 2000",
			DisplayName: "Lucy Chen",
		},
	}}}
}

func editMutation(postID string, d *linliv1.PostDraft) *linliv1.Mutation {
	return &linliv1.Mutation{Kind: &linliv1.Mutation_EditPost{EditPost: &linliv1.EditPostMutation{PostId: postID, Draft: d}}}
}

func cancelMutation(postID, reason string) *linliv1.Mutation {
	return &linliv1.Mutation{Kind: &linliv1.Mutation_CancelPost{CancelPost: &linliv1.CancelPostMutation{PostId: postID, Reason: reason}}}
}
