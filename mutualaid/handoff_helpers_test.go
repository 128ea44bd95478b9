package mutualaid_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// People of the handoff tests, as stored by the directory. 王芳 and Lucy live
// in building 3; 张伟 and 吴磊 volunteer for it, 刘洋 for building 5; 陈静 and
// 李娜 are neighbours of building 3; 孙丽 lives in 北苑, another community.
var handoffPeople = []*linliv1.Member{
	{UserId: "u-wang", CommunityId: "yuqiao", Role: linliv1.Role_ROLE_RESIDENT, DisplayName: "王芳", BuildingId: "bldg-3", Unit: "1502", Phone: "+86 138-0013-8000"},
	{UserId: "u-lucy", CommunityId: "yuqiao", Role: linliv1.Role_ROLE_RESIDENT, DisplayName: "Lucy Chen", BuildingId: "bldg-3", Unit: "1103", Phone: "139 1000 2000"},
	{UserId: "u-zhang", CommunityId: "yuqiao", Role: linliv1.Role_ROLE_VOLUNTEER, DisplayName: "张伟", BuildingId: "bldg-3", Unit: "0801", Phone: "137-0000-0801", VolunteerBuildingIds: []string{"bldg-3"}},
	{UserId: "u-wu", CommunityId: "yuqiao", Role: linliv1.Role_ROLE_VOLUNTEER, DisplayName: "吴磊", BuildingId: "bldg-3", Unit: "0302", Phone: "136-0000-0302", VolunteerBuildingIds: []string{"bldg-3"}},
	{UserId: "u-liu", CommunityId: "yuqiao", Role: linliv1.Role_ROLE_VOLUNTEER, DisplayName: "刘洋", BuildingId: "bldg-5", Unit: "0505", Phone: "135-0000-0505", VolunteerBuildingIds: []string{"bldg-5"}},
	{UserId: "u-zhao", CommunityId: "yuqiao", Role: linliv1.Role_ROLE_STAFF, DisplayName: "赵主任", Phone: "010-6000 1234"},
	{UserId: "u-chen", CommunityId: "yuqiao", Role: linliv1.Role_ROLE_RESIDENT, DisplayName: "陈静", BuildingId: "bldg-3", Unit: "0904", Phone: "133-0000-0904"},
	{UserId: "u-li", CommunityId: "yuqiao", Role: linliv1.Role_ROLE_RESIDENT, DisplayName: "李娜", BuildingId: "bldg-3", Unit: "1201", Phone: "132-0000-1201"},
	{UserId: "u-sun", CommunityId: "beiyuan", Role: linliv1.Role_ROLE_RESIDENT, DisplayName: "孙丽", BuildingId: "bldg-1", Unit: "0101", Phone: "131-0000-0101"},
}

// handoffFixture is the 玉桥 community with its people, each with a phone.
type handoffFixture struct {
	*dirFixture
	members map[string]*linliv1.Member // by user id
	phones  map[string]*handset        // by user id
}

func newHandoffFixture(t *testing.T) *handoffFixture {
	t.Helper()
	f := &handoffFixture{dirFixture: newDirFixture(t), members: map[string]*linliv1.Member{}, phones: map[string]*handset{}}
	for _, m := range handoffPeople {
		if _, err := f.svc.AddMember(context.Background(), m); err != nil {
			t.Fatalf("AddMember %s: %v", m.GetUserId(), err)
		}
		f.members[m.GetUserId()] = m
		f.phones[m.GetUserId()] = &handset{t: t, store: f.store, member: actor(m), client: "phone-1"}
	}
	return f
}

// phone of user id.
func (f *handoffFixture) phone(user string) *handset {
	f.t.Helper()
	p := f.phones[user]
	if p == nil {
		f.t.Fatalf("no phone for %s", user)
	}
	return p
}

// handset is one member's device: it numbers its mutations 1, 2, 3… and
// builds handoff mutations with HandoffMutation, others with NewMutationAt.
type handset struct {
	t      *testing.T
	store  *linlisync.Store
	member mutualaid.Member
	client string
	next   uint64
}

func (p *handset) clientID() linlisync.ClientID {
	return linlisync.ClientID{User: p.member.UserID, Client: p.client}
}

// build turns m, numbered id, into the engine's mutation.
func (p *handset) build(m *linliv1.Mutation, id uint64) (linlisync.Mutation, error) {
	m.Id = id
	if mut, ok, err := mutualaid.HandoffMutation(p.member, m); ok {
		return mut, err
	}
	return mutualaid.NewMutationAt(p.member, m, time.Now())
}

// send pushes m as the next mutation. Safe to call from another goroutine
// (one at a time per phone): it never fails the test itself.
func (p *handset) send(m *linliv1.Mutation) (linlisync.Result, error) {
	mut, err := p.build(m, p.next+1)
	if err != nil {
		return linlisync.Result{}, fmt.Errorf("build: %w", err)
	}
	return p.sendBuilt(mut)
}

// sendBuilt pushes a mutation built earlier (e.g. queued while offline).
func (p *handset) sendBuilt(mut linlisync.Mutation) (linlisync.Result, error) {
	res, last, err := p.store.Push(context.Background(), p.clientID(), []linlisync.Mutation{mut})
	if err != nil {
		return linlisync.Result{}, fmt.Errorf("push: %w", err)
	}
	if len(res) != 1 || last != mut.ID {
		return linlisync.Result{}, fmt.Errorf("push: got %d results, last %d; want 1, %d", len(res), last, mut.ID)
	}
	p.next = mut.ID
	return res[0], nil
}

func (p *handset) push(m *linliv1.Mutation) linlisync.Result {
	p.t.Helper()
	r, err := p.send(m)
	if err != nil {
		p.t.Fatalf("%s: %v", p.member.UserID, err)
	}
	return r
}

func (p *handset) mustApply(m *linliv1.Mutation) {
	p.t.Helper()
	if r := p.push(m); r.Status != linlisync.StatusApplied {
		p.t.Fatalf("%s %s: got status %d (%s: %s), want applied", p.member.UserID, mutationKind(m), r.Status, r.Reason, r.Message)
	}
}

// mustReject pushes m and fails unless it was rejected with reason and a message.
func (p *handset) mustReject(m *linliv1.Mutation, reason string) linlisync.Result {
	p.t.Helper()
	r := p.push(m)
	if r.Status != linlisync.StatusRejected || r.Reason != reason || r.Message == "" {
		p.t.Fatalf("%s %s: got status %d (%s: %q), want rejected %s with a message",
			p.member.UserID, mutationKind(m), r.Status, r.Reason, r.Message, reason)
	}
	return r
}

func mutationKind(m *linliv1.Mutation) string {
	return string(m.ProtoReflect().WhichOneof(m.ProtoReflect().Descriptor().Oneofs().ByName("kind")).Name())
}

// Mutations.

func proposeH(hid, req, off, item string, q int32, courier bool, drop string) *linliv1.Mutation {
	return &linliv1.Mutation{Kind: &linliv1.Mutation_ProposeHandoff{ProposeHandoff: &linliv1.ProposeHandoffMutation{
		HandoffId: hid, RequestPostId: req, OfferPostId: off, ItemCode: item, Quantity: q, NeedsCourier: courier, DropPoint: drop,
	}}}
}

func acceptH(hid string) *linliv1.Mutation {
	return &linliv1.Mutation{Kind: &linliv1.Mutation_AcceptHandoff{AcceptHandoff: &linliv1.AcceptHandoffMutation{HandoffId: hid}}}
}

func claimH(hid string) *linliv1.Mutation {
	return &linliv1.Mutation{Kind: &linliv1.Mutation_ClaimCourier{ClaimCourier: &linliv1.ClaimCourierMutation{HandoffId: hid}}}
}

func pickUpH(hid, code string) *linliv1.Mutation {
	return &linliv1.Mutation{Kind: &linliv1.Mutation_PickUp{PickUp: &linliv1.PickUpMutation{HandoffId: hid, PickupCode: code}}}
}

func dropOffH(hid, point string) *linliv1.Mutation {
	return &linliv1.Mutation{Kind: &linliv1.Mutation_DropOff{DropOff: &linliv1.DropOffMutation{HandoffId: hid, DropPoint: point}}}
}

func confirmH(hid string) *linliv1.Mutation {
	return &linliv1.Mutation{Kind: &linliv1.Mutation_ConfirmReceived{ConfirmReceived: &linliv1.ConfirmReceivedMutation{HandoffId: hid}}}
}

func cancelH(hid, reason string) *linliv1.Mutation {
	return &linliv1.Mutation{Kind: &linliv1.Mutation_CancelHandoff{CancelHandoff: &linliv1.CancelHandoffMutation{HandoffId: hid, Reason: reason}}}
}

// Posts.

const (
	handoffItemMeilin  = "ibuprofen-suspension-child"
	handoffItemAntigen = "antigen-test"
)

func meilinItem(q int32) *linliv1.PostItem {
	return &linliv1.PostItem{ItemCode: handoffItemMeilin, Name: "美林", Quantity: q, Unit: "bottle", ExpiryDate: "2030-05-31"}
}

func antigenItem(q int32) *linliv1.PostItem {
	return &linliv1.PostItem{ItemCode: handoffItemAntigen, Name: "抗原", Quantity: q, Unit: "kit"}
}

func tylenolItem(q int32) *linliv1.PostItem {
	return &linliv1.PostItem{ItemCode: "acetaminophen-suspension-child", Name: "泰诺林", Quantity: q, Unit: "bottle", ExpiryDate: "2030-09-30"}
}

// handoffDraft is a draft in the member's building, with their unit and phone.
func handoffDraft(m *linliv1.Member, note string, items ...*linliv1.PostItem) *linliv1.PostDraft {
	return &linliv1.PostDraft{
		Items: items, Urgency: linliv1.Urgency_URGENCY_URGENT, Note: note,
		BuildingId: m.GetBuildingId(), Floor: 9, Unit: m.GetUnit(), Phone: m.GetPhone(), DisplayName: m.GetDisplayName(),
	}
}

// offer posts an offer by user with items.
func (f *handoffFixture) offer(user, postID string, items ...*linliv1.PostItem) {
	f.t.Helper()
	d := handoffDraft(f.members[user], "可以放在电梯口窗台", items...)
	d.Urgency = linliv1.Urgency_URGENCY_ROUTINE
	f.phone(user).mustApply(&linliv1.Mutation{Kind: &linliv1.Mutation_PostOffer{PostOffer: &linliv1.PostOfferMutation{PostId: postID, Draft: d}}})
}

// request posts a request by user with items.
func (f *handoffFixture) request(user, postID string, items ...*linliv1.PostItem) {
	f.t.Helper()
	d := handoffDraft(f.members[user], "孩子发烧，急需退烧药", items...)
	f.phone(user).mustApply(&linliv1.Mutation{Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{PostId: postID, Draft: d}}})
}

// Reading the store.

// post reads a post's canonical value.
func (f *handoffFixture) post(postID string) *linliv1.Post {
	f.t.Helper()
	e := f.entity(mutualaid.PostEntityID("yuqiao", postID))
	if e.GetPost() == nil {
		f.t.Fatalf("post %s: not a post", postID)
	}
	return e.GetPost()
}

// handoff reads a handoff's canonical value.
func (f *handoffFixture) handoff(hid string) *linliv1.Handoff {
	f.t.Helper()
	e := f.entity(mutualaid.HandoffEntityID("yuqiao", hid))
	if e.GetHandoff() == nil {
		f.t.Fatalf("handoff %s: not a handoff", hid)
	}
	return e.GetHandoff()
}

func (f *handoffFixture) entity(id string) *linliv1.Entity {
	f.t.Helper()
	b, ok, err := f.store.Get(id)
	if err != nil || !ok {
		f.t.Fatalf("Get %s: ok %v, err %v", id, ok, err)
	}
	var e linliv1.Entity
	if err := proto.Unmarshal(b, &e); err != nil {
		f.t.Fatalf("decode %s: %v", id, err)
	}
	return &e
}

// scope pulls one scope from zero: entity id → raw value.
func (f *handoffFixture) scope(sc string) map[string][]byte {
	f.t.Helper()
	out := map[string][]byte{}
	for _, c := range f.pull(linlisync.Cursor{}, sc).Changes {
		if c.Deleted {
			f.t.Fatalf("pull %s from zero: tombstone for %s", sc, c.EntityID)
		}
		out[c.EntityID] = c.Value
	}
	return out
}

// scopeHandoff is the handoff hid as scope sc sees it, or nil.
func (f *handoffFixture) scopeHandoff(sc, hid string) *linliv1.Handoff {
	f.t.Helper()
	b, ok := f.scope(sc)[mutualaid.HandoffEntityID("yuqiao", hid)]
	if !ok {
		return nil
	}
	var e linliv1.Entity
	if err := proto.Unmarshal(b, &e); err != nil {
		f.t.Fatalf("decode handoff %s in %s: %v", hid, sc, err)
	}
	if e.GetHandoff() == nil {
		f.t.Fatalf("%s in %s is not a handoff", hid, sc)
	}
	return e.GetHandoff()
}

// item returns the post's first item with code.
func offerItem(t *testing.T, p *linliv1.Post, code string) *linliv1.PostItem {
	t.Helper()
	for _, it := range p.GetItems() {
		if it.GetItemCode() == code {
			return it
		}
	}
	t.Fatalf("post %s has no item %s", p.GetId(), code)
	return nil
}

// wantItem checks an offer line's quantity and reservation.
func wantOfferItem(t *testing.T, p *linliv1.Post, code string, quantity, reserved int32) {
	t.Helper()
	it := offerItem(t, p, code)
	if it.GetQuantity() != quantity || it.GetReserved() != reserved {
		t.Errorf("post %s item %s: got quantity %d reserved %d, want %d, %d",
			p.GetId(), code, it.GetQuantity(), it.GetReserved(), quantity, reserved)
	}
}

func wantPostStatus(t *testing.T, p *linliv1.Post, want linliv1.PostStatus) {
	t.Helper()
	if p.GetStatus() != want {
		t.Errorf("post %s: got status %v, want %v", p.GetId(), p.GetStatus(), want)
	}
}

func wantHandoffState(t *testing.T, h *linliv1.Handoff, want linliv1.HandoffState) {
	t.Helper()
	if h.GetState() != want {
		t.Errorf("handoff %s: got state %v, want %v", h.GetId(), h.GetState(), want)
	}
}

// containsAny reports which of secrets occur in b.
func secretsIn(b []byte, secrets ...string) []string {
	var found []string
	for _, s := range secrets {
		if s != "" && strings.Contains(string(b), s) {
			found = append(found, s)
		}
	}
	return found
}
