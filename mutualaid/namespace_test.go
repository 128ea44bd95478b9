package mutualaid_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/linli/linli/internal/hotlinesim"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

var writeFixture = flag.Bool("write-fixture", false, "write testdata/store-v1 from the scripted history (only to start a new fixture)")

// history plays a scripted history of the 玉桥 community that touches every
// family of entity ids the domain writes: communities, buildings, members
// (one removed), join and device codes, devices and refresh tokens (one
// spent, one device signed out), offers and requests with their matches,
// handoffs (one live with a courier, one received), deadlines, the staff
// queue (one item dismissed), hotline cases (one stuck, one created,
// followed and closed, then rated) and an offer whose medicine expired.
// It returns the fixture, its store still open.
func history(t *testing.T) *handoffFixture {
	t.Helper()
	ctx := context.Background()
	f := newHandoffFixture(t)
	if _, err := f.svc.SetEscalationPolicy(ctx, mutualaid.Operator, "yuqiao", &linliv1.EscalationPolicy{
		CriticalDeadline: durationpb.New(30 * time.Minute),
	}); err != nil {
		t.Fatal(err)
	}

	// A newcomer joins with a code and signs in; her first refresh token is
	// spent by a refresh. Lucy signs a second device in and out.
	newcomer := f.join("yuqiao", linliv1.Role_ROLE_RESIDENT, mutualaid.JoinForm{DisplayName: "周敏", BuildingID: "bldg-3", Unit: "0707"})
	tok := f.session(newcomer, "phone-1")
	if _, _, _, err := f.svc.Refresh(ctx, tok); err != nil {
		t.Fatal(err)
	}
	f.session(f.members["u-lucy"], "tablet")
	if err := f.svc.SignOut(ctx, "u-lucy", "tablet"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.CreateDeviceCode(ctx, "yuqiao", "u-wang"); err != nil {
		t.Fatal(err)
	}

	// Offers and requests; two handoffs.
	f.offer("u-lucy", "off-lucy", meilinItem(2), antigenItem(5))
	f.offer("u-zhang", "off-zhang", &linliv1.PostItem{ItemCode: handoffItemMeilin, Name: "美林", Quantity: 1, Unit: "bottle", ExpiryDate: "2030-05-31"})
	f.request("u-wang", "req-wang", meilinItem(1))
	f.request("u-chen", "req-chen", antigenItem(1))
	f.phone("u-wang").mustApply(proposeH("h-1", "req-wang", "off-lucy", handoffItemMeilin, 1, true, "15楼电梯口窗台"))
	f.phone("u-lucy").mustApply(acceptH("h-1"))
	f.phone("u-zhang").mustApply(claimH("h-1"))
	f.phone("u-chen").mustApply(proposeH("h-2", "req-chen", "off-lucy", handoffItemAntigen, 1, false, ""))
	f.phone("u-lucy").mustApply(acceptH("h-2"))
	f.phone("u-chen").mustApply(confirmH("h-2"))
	thermo := handoffDraft(f.members["u-chen"], "家里的体温计坏了", &linliv1.PostItem{ItemCode: "thermometer-electronic", Name: "体温计", Quantity: 1, Unit: "支"})
	thermo.Urgency = linliv1.Urgency_URGENCY_ROUTINE
	f.phone("u-chen").mustApply(&linliv1.Mutation{Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{PostId: "req-thermo", Draft: thermo}}})

	// A day later: two requests are overdue. Staff forward one, to a
	// hotline that refuses it, and dismiss the other.
	f.clk.Advance(24*time.Hour + time.Minute)
	f.escalate(2)
	zhao := actor(f.members["u-zhao"])
	if _, _, err := f.svc.Forward(ctx, zhao, mutualaid.ForwardInput{PostID: "req-thermo"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Dismiss(ctx, zhao, "yuqiao", "req-wang", "a neighbour's handoff is under way"); err != nil {
		t.Fatal(err)
	}
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `[{"code":400,"description":"service_code not served here"}]`)
	}))
	t.Cleanup(refusing.Close)
	f.hotlinePass(refusing.URL)

	// An emergency: forwarded by policy once its deadline passes, created
	// at the hotline, followed until closed, and rated.
	crit := handoffDraft(f.members["u-wu"], "宝宝两个月大，发烧，呼吸困难", meilinItem(1))
	f.phone("u-wu").mustApply(&linliv1.Mutation{Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{PostId: "req-crit", Draft: crit}}})
	f.clk.Advance(31 * time.Minute)
	f.escalate(1)
	sim := &hotlinesim.Sim{ResolveAfter: 2 * time.Hour, Now: f.clk.Now}
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	f.hotlinePass(simSrv.URL)
	f.clk.Advance(3 * time.Hour)
	f.hotlinePass(simSrv.URL)
	f.phone("u-wu").mustApply(rateM("req-crit", true, linliv1.Satisfaction_SATISFACTION_SATISFIED))

	// Years later, 张伟's medicine has expired and leaves (Lucy's offer
	// keeps its antigen tests); 李娜 leaves the community.
	f.clk.Advance(time.Date(2030, 6, 2, 0, 0, 0, 0, beijing).Sub(f.clk.Now()))
	if _, err := f.svc.RefreshMatches(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RemoveMember(ctx, zhao, "yuqiao", "u-li"); err != nil {
		t.Fatal(err)
	}

	// Still waiting at the end: 刘洋's request, suggested 陈静's offer, and
	// 张伟's request for masks, forwarded at once by staff.
	f.offer("u-chen", "off-chen", tylenolItem(1))
	f.request("u-liu", "req-liu", tylenolItem(1))
	masks := handoffDraft(f.members["u-zhang"], "楼里的志愿者需要口罩", &linliv1.PostItem{ItemCode: "mask-n95", Name: "N95口罩", Quantity: 20, Unit: "个"})
	f.phone("u-zhang").mustApply(&linliv1.Mutation{Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{PostId: "req-mask", Draft: masks}}})
	if _, _, err := f.svc.Forward(ctx, zhao, mutualaid.ForwardInput{PostID: "req-mask"}); err != nil {
		t.Fatal(err)
	}
	return f
}

// hotlinePass runs the outbox and the case follower once against the
// hotline at url, as a service started with that hotline does.
func (f *handoffFixture) hotlinePass(url string) {
	f.t.Helper()
	ctx := context.Background()
	f.svc.UseHotline(mutualaid.HotlineConfig{URL: url, JurisdictionID: "yuqiao", HTTPClient: &http.Client{Timeout: 10 * time.Second}})
	_, _ = f.svc.ForwardCases(ctx) // a refusal is recorded in the entry
	if _, err := f.svc.FollowCases(ctx); err != nil {
		f.t.Fatalf("follow cases: %v", err)
	}
}

// TestWriteStoreFixture writes testdata/store-v1, a store as this code
// writes it, for TestOpenStoreV1 to open with later code. It runs only
// with -write-fixture: the fixture is written once and kept.
func TestWriteStoreFixture(t *testing.T) {
	if !*writeFixture {
		t.Skip("run with -write-fixture to rewrite testdata/store-v1")
	}
	f := history(t)
	if err := f.store.Close(); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join("testdata", "store-v1")
	if err := os.RemoveAll(dst); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dst, os.DirFS(f.storeDir)); err != nil {
		t.Fatal(err)
	}
}

// dumpNamespace renders every entity of the store and every scope's view
// of it, one sorted line each, with what is random in a run (user ids of
// joins, hashes of secrets, code ids, pickup codes, ports) replaced, so
// that two runs of the same history, by any version of the code, render
// the same.
func dumpNamespace(t *testing.T, s *linlisync.Store) string {
	t.Helper()
	ctx := context.Background()
	var lines []string
	scopes := map[string]bool{}
	for b := 1; b < 256; b++ {
		err := s.Scan(ctx, string([]byte{byte(b)}), func(id string, v []byte) error {
			lines = append(lines, "entity "+id+" = "+renderValue(v))
			if parts := strings.Split(id, "/"); len(parts) >= 2 {
				switch parts[0] {
				case "community":
					scopes[mutualaid.CommunityScope(parts[1])] = true
					scopes[mutualaid.StaffScope(parts[1])] = true
				case "member":
					scopes[mutualaid.UserScope(parts[2])] = true
				case "building":
					scopes[mutualaid.BuildingScope(parts[1], parts[2])] = true
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("scan: %v", err)
		}
	}
	for _, sc := range slices.Sorted(func(yield func(string) bool) {
		for sc := range scopes {
			if !yield(sc) {
				return
			}
		}
	}) {
		page, err := s.Pull(ctx, []string{sc}, linlisync.Cursor{}, linlisync.Limits{MaxChanges: 10_000, MaxBytes: 16 << 20})
		if err != nil {
			t.Fatalf("pull %s: %v", sc, err)
		}
		for _, c := range page.Changes {
			lines = append(lines, fmt.Sprintf("scope %s %s deleted=%v = %s", sc, c.EntityID, c.Deleted, renderValue(c.Value)))
		}
	}
	for i, l := range lines {
		for _, r := range randomParts {
			l = r.re.ReplaceAllString(l, r.with)
		}
		lines[i] = l
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n") + "\n"
}

// randomParts are what differs between two runs of the same history.
var randomParts = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`u_[0-9a-f]{16}`), "u_<random>"},
	{regexp.MustCompile(`[0-9a-f]{64}`), "<sha256>"},
	{regexp.MustCompile(`"family":"[0-9a-f]{32}"`), `"family":"<random>"`},
	{regexp.MustCompile(`(jc|dc)_[0-9a-f]{12}`), "${1}_<random>"},
	{regexp.MustCompile(`"pickupCode":"[0-9]{6}"`), `"pickupCode":"<random>"`},
	{regexp.MustCompile(`127\.0\.0\.1:[0-9]+`), "127.0.0.1:<port>"},
	{regexp.MustCompile(`\b([0-9a-f]{16})-[0-9a-f]{8}\b`), "${1}-<random>"}, // notification event ids
}

// renderValue shows a canonical value or a view: JSON as it is (compacted),
// a linliv1.Entity as protojson (compacted), anything else quoted.
func renderValue(v []byte) string {
	var b bytes.Buffer
	if json.Valid(v) && json.Compact(&b, v) == nil {
		return "json " + b.String()
	}
	var e linliv1.Entity
	if err := proto.Unmarshal(v, &e); err == nil && e.GetKind() != nil {
		if j, err := protojson.Marshal(&e); err == nil && json.Compact(&b, j) == nil {
			return "entity " + b.String()
		}
	}
	return fmt.Sprintf("bytes %q", v)
}

var updateGolden = flag.Bool("update", false, "rewrite golden files under testdata/")

// TestNamespaceGolden pins the domain's on-disk namespace: the entities a
// scripted history leaves (ids, JSON records, entities) and what each
// scope shows of them. A change here forks stored data: see namespace.go.
// Rewrite with: go test ./mutualaid -run TestNamespaceGolden -update
func TestNamespaceGolden(t *testing.T) {
	t.Parallel()
	f := history(t)
	checkGolden(t, dumpNamespace(t, f.store), filepath.Join("testdata", "namespace.golden"), *updateGolden)
}

// TestOpenStoreV1 opens a store written before (testdata/store-v1, by the
// code of its time, playing the same history): it reads as it was written.
func TestOpenStoreV1(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "store-v1"))); err != nil {
		t.Fatal(err)
	}
	s := mustOpenIn(t, dir, &clock{now: time.Date(2030, 6, 2, 0, 0, 0, 0, beijing)})
	// Matching's private index entities of that release are still there
	// until matching first builds its state for a community, which
	// deletes them.
	if !strings.Contains(dumpNamespace(t, s.Store()), "entity idx/post/yuqiao/") {
		t.Fatal("the fixture has none of the retired idx/post entities: it no longer shows the migration")
	}
	communities, err := s.Communities()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range communities {
		if _, err := mutualaid.RefreshMatches(context.Background(), s.Store(), c); err != nil {
			t.Fatal(err)
		}
	}
	// Handoff events of that release carry no action (HandoffEvent.action
	// came later): compare with the golden without them.
	golden, err := os.ReadFile(filepath.Join("testdata", "namespace.golden"))
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`,"action":"HANDOFF_ACTION_[A-Z_]+"`).ReplaceAllString(string(golden), "")
	// Nor does it hold notifications, which came later still.
	want = regexp.MustCompile(`(?m)^entity notify/.*\n`).ReplaceAllString(want, "")
	noActions := filepath.Join(t.TempDir(), "namespace-v1.golden")
	if err := os.WriteFile(noActions, []byte(want), 0o600); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, dumpNamespace(t, s.Store()), noActions, false)
}

// checkGolden compares got with the file at path, rewriting it first if
// update.
func checkGolden(t *testing.T, got, path string, update bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if got != string(want) {
		t.Fatalf("namespace differs from %s (run with -update if intended):\n%s", path, lineDiff(string(want), got))
	}
}

// lineDiff lists the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for _, l := range w {
		if !slices.Contains(g, l) {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) {
			fmt.Fprintf(&b, "+ %s\n", l)
		}
	}
	return b.String()
}

// TestNamespaceDocumented: every entity the scripted history leaves has its
// id family in the table of namespace.go (or of match_index.go, for
// matching's index), so that a new family cannot slip in undocumented.
func TestNamespaceDocumented(t *testing.T) {
	t.Parallel()
	var families []*regexp.Regexp
	for _, file := range []string{"namespace.go", "match_index.go"} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range tableRow.FindAllStringSubmatch(string(src), -1) {
			families = append(families, familyPattern(m[1]))
		}
	}
	if len(families) < 20 {
		t.Fatalf("found %d documented families, want the whole table", len(families))
	}
	f := history(t)
	for _, line := range strings.Split(dumpNamespace(t, f.store), "\n") {
		id, ok := strings.CutPrefix(line, "entity ")
		if !ok {
			continue
		}
		id, _, _ = strings.Cut(id, " = ")
		if !slices.ContainsFunc(families, func(re *regexp.Regexp) bool { return re.MatchString(id) }) {
			t.Errorf("entity %s: its family is not in namespace.go's table", id)
		}
	}
}

// tableRow is a row of an entity table in a doc comment: its first column
// is an id layout such as "post/<c>/<post>".
var tableRow = regexp.MustCompile(`(?m)^//\t([a-z][a-z-]*/(?:[^\s<]|<[^>]*>)*)\s{2,}`)

// familyPattern turns an id layout into a pattern: <key> (which may hold a
// "/") matches anything, any other <name> one path segment.
func familyPattern(layout string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for rest := layout; rest != ""; {
		i := strings.Index(rest, "<")
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(rest))
			break
		}
		j := strings.Index(rest[i:], ">") + i
		b.WriteString(regexp.QuoteMeta(rest[:i]))
		if rest[i:j+1] == "<key>" {
			b.WriteString(".+")
		} else {
			b.WriteString("[^/]+")
		}
		rest = rest[j+1:]
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}
