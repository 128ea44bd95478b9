package mutualaid_test

import (
	"context"
	"errors"
	"testing"

	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// The 玉桥 community of 玉桥街道 in 通州区, its building 3 (where 王芳 and
// Lucy live), and 北苑 next door, run by other staff.
var (
	yuqiao = &linliv1.Community{Id: "yuqiao", Name: "玉桥南里社区", District: "通州区", StreetOffice: "玉桥街道"}
	bldg3  = &linliv1.Building{Id: "bldg-3", CommunityId: "yuqiao", Name: "3号楼",
		DropPoints: []string{"15楼电梯口窗台", "11楼窗台", "1楼大门把手"}}
	bldg5   = &linliv1.Building{Id: "bldg-5", CommunityId: "yuqiao", Name: "5号楼", DropPoints: []string{"单元门口快递柜旁"}}
	beiyuan = &linliv1.Community{Id: "beiyuan", Name: "北苑家园社区", District: "朝阳区", StreetOffice: "北苑街道"}
)

// 王芳's details as she types them into the app.
var wangForm = mutualaid.JoinForm{DisplayName: "王芳", BuildingID: "bldg-3", Unit: "1502", Phone: "+86 138-0013-8000"}

// dirFixture is a store with the 玉桥 and 北苑 communities and buildings.
type dirFixture struct {
	t     testing.TB
	clk   *clock
	store *linlisync.Store
	svc   *mutualaid.Service
	// storeDir is the store's folder.
	storeDir string
}

func newDirFixture(t testing.TB) *dirFixture {
	t.Helper()
	clk := &clock{now: night}
	storeDir := t.TempDir()
	svc := mustOpenIn(t, storeDir, clk)
	f := &dirFixture{t: t, clk: clk, store: svc.Store(), svc: svc, storeDir: storeDir}
	seedPlaces(t, svc)
	return f
}

// code makes a join code, failing the test on error.
func (f *dirFixture) code(spec mutualaid.JoinCodeSpec) string {
	f.t.Helper()
	code, _, err := f.svc.CreateJoinCode(context.Background(), mutualaid.Operator, spec)
	if err != nil {
		f.t.Fatalf("CreateJoinCode: %v", err)
	}
	return code
}

// join makes a one-use code for role in community c and joins with form.
func (f *dirFixture) join(c string, role linliv1.Role, form mutualaid.JoinForm) *linliv1.Member {
	f.t.Helper()
	form.Code = f.code(mutualaid.JoinCodeSpec{CommunityID: c, Role: role, CreatedBy: "u_bootstrap"})
	m, err := f.svc.Join(context.Background(), form)
	if err != nil {
		f.t.Fatalf("Join: %v", err)
	}
	return m
}

// resident joins 王芳-like residents of building 3 under another name.
func (f *dirFixture) resident(name string) *linliv1.Member {
	f.t.Helper()
	form := wangForm
	form.DisplayName = name
	return f.join("yuqiao", linliv1.Role_ROLE_RESIDENT, form)
}

// actor is m as the domain sees the caller.
func actor(m *linliv1.Member) mutualaid.Member {
	return mutualaid.Member{UserID: m.GetUserId(), CommunityID: m.GetCommunityId(), Role: mutualaid.RoleOf(m.GetRole())}
}

// session signs m in on client and returns the refresh token.
func (f *dirFixture) session(m *linliv1.Member, client string) string {
	f.t.Helper()
	tok, _, err := f.svc.StartSession(context.Background(), m.GetCommunityId(), m.GetUserId(), client)
	if err != nil {
		f.t.Fatalf("StartSession: %v", err)
	}
	return tok
}

// pull reads scopes after cur and returns the page.
func (f *dirFixture) pull(cur linlisync.Cursor, scopes ...string) linlisync.Page {
	f.t.Helper()
	page, err := f.store.Pull(context.Background(), scopes, cur, linlisync.Limits{MaxChanges: 10_000, MaxBytes: 16 << 20})
	if err != nil {
		f.t.Fatalf("Pull: %v", err)
	}
	if page.HasMore {
		f.t.Fatalf("Pull: unexpected has_more")
	}
	return page
}

// entities pulls scopes from zero and decodes them: scope → entity id → entity.
func (f *dirFixture) entities(scopes ...string) view {
	f.t.Helper()
	v := linlitest.State{}
	if err := v.ApplyPage(f.pull(linlisync.Cursor{}, scopes...)); err != nil {
		f.t.Fatal(err)
	}
	return view(v)
}

// wantError fails unless err is an *mutualaid.Error with code and reason.
func wantError(t testing.TB, err error, code mutualaid.Code, reason string) {
	t.Helper()
	e, ok := errors.AsType[*mutualaid.Error](err)
	if !ok {
		t.Fatalf("got error %v, want *mutualaid.Error %s %s", err, code, reason)
	}
	if e.Code != code || e.Reason != reason || e.Message == "" {
		t.Errorf("got %s %s %q, want %s %s with a message", e.Code, e.Reason, e.Message, code, reason)
	}
}
