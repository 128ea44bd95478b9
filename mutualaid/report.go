package mutualaid

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/linli/linli/mutualaid/catalog"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// maxReportNeeds bounds each list of unmet needs in a report.
const maxReportNeeds = 10

// Report summarizes the requests community c posted in [from, to):
// how many, how many neighbours met, how many went overdue and were
// forwarded, the hotline's closed cases, the residents' ratings with the
// two rates the hotline is judged by (resolution: rated solved / rated;
// satisfaction: satisfied or basically satisfied / rated), the median time
// from request to help, and the most frequent unmet needs (requests that
// went overdue or to the hotline and that neighbours did not meet after
// all) by item category (each category of a request's items) and building.
// It reads one consistent snapshot. Staff of c (empty: the actor's
// community) or admins.
//
// Errors: *Error Forbidden not_staff_of_community; Invalid period_invalid
// (to not after from), NotFound community_not_found; ctx's, storage or
// decoding errors.
func (s *Service) Report(ctx context.Context, actor Member, c string, from, to time.Time) (*linliv1.Report, error) {
	c = cmp.Or(c, actor.CommunityID)
	if err := authorizeStaff(actor, c); err != nil {
		return nil, err
	}
	return buildReport(ctx, s.store, c, from, to)
}

// buildReport is Report's work, without the check of who asks.
func buildReport(ctx context.Context, store *linlisync.Store, c string, from, to time.Time) (*linliv1.Report, error) {
	if !to.After(from) {
		return nil, Invalidf("to", "period_invalid", "The end of the period must come after its start.")
	}
	if _, ok, err := loadCommunity(store.Get, c); err != nil || !ok {
		return nil, cmp.Or(err, error(Errorf(NotFound, "community_not_found", "This community does not exist.")))
	}
	t := newTally()
	err := store.Scan(ctx, PostEntityID(c, ""), func(id string, v []byte) error {
		var e linliv1.Entity
		if err := proto.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("decode %s: %w", id, err)
		}
		p := e.GetPost()
		if p.GetKind() == linliv1.PostKind_POST_KIND_REQUEST && inPeriod(p.GetCreatedAt().AsTime(), from, to) {
			t.add(p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mutualaid: report of %s: %w", c, err)
	}
	r := t.report()
	r.CommunityId, r.From, r.To = c, timestamppb.New(from), timestamppb.New(to)
	return r, nil
}

func inPeriod(t, from, to time.Time) bool { return !t.Before(from) && t.Before(to) }

// tally accumulates a report.
type tally struct {
	r          linliv1.Report
	toHelp     []time.Duration
	byCategory map[string]uint32
	byBuilding map[string]uint32
}

func newTally() *tally {
	return &tally{byCategory: map[string]uint32{}, byBuilding: map[string]uint32{}}
}

// add counts one request of the period.
func (t *tally) add(p *linliv1.Post) {
	t.r.Requests++
	created := p.GetCreatedAt().AsTime()
	esc := p.GetEscalation()
	hc := esc.GetHotlineCase()
	met := p.GetStatus() == linliv1.PostStatus_POST_STATUS_FULFILLED && hc == nil
	if met {
		t.r.MetByNeighbours++
		t.toHelp = append(t.toHelp, max(0, p.GetUpdatedAt().AsTime().Sub(created)))
	}
	t.r.Overdue += boolCount(esc.GetOverdueAt() != nil)
	if !met && (esc.GetOverdueAt() != nil || hc != nil) {
		for _, c := range categories(p) {
			t.byCategory[string(c)]++
		}
		t.byBuilding[p.GetBuildingId()]++
	}
	if hc != nil {
		t.r.Escalated++
	}
	if hc.GetState() == linliv1.CaseState_CASE_STATE_CLOSED {
		t.r.Closed++
		t.toHelp = append(t.toHelp, max(0, hc.GetClosedAt().AsTime().Sub(created)))
	}
	if fb := esc.GetFeedback(); fb != nil {
		t.r.Rated++
		t.r.Solved += boolCount(fb.GetSolved())
		switch fb.GetSatisfaction() {
		case linliv1.Satisfaction_SATISFACTION_SATISFIED:
			t.r.Satisfied++
		case linliv1.Satisfaction_SATISFACTION_BASICALLY_SATISFIED:
			t.r.BasicallySatisfied++
		case linliv1.Satisfaction_SATISFACTION_UNSATISFIED:
			t.r.Unsatisfied++
		}
	}
}

// categories are the distinct catalog categories of p's items.
func categories(p *linliv1.Post) []catalog.Category {
	var out []catalog.Category
	for _, it := range p.GetItems() {
		c, ok := itemCategory(it)
		if ok && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		out = append(out, catalog.CategoryOther)
	}
	return out
}

// itemCategory is the catalog category of a post's line: its item's, or
// its need's. ok is false if the catalog knows neither.
func itemCategory(it *linliv1.PostItem) (catalog.Category, bool) {
	if n := it.GetNeed(); n != "" {
		need, ok := catalog.Default().Need(n)
		return need.Category, ok
	}
	ci, ok := catalog.Default().Item(it.GetItemCode())
	return ci.Category, ok
}

func boolCount(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// report finishes the tally.
func (t *tally) report() *linliv1.Report {
	r := proto.CloneOf(&t.r)
	if r.Rated > 0 {
		r.ResolutionRate = float64(r.Solved) / float64(r.Rated)
		r.SatisfactionRate = float64(r.Satisfied+r.BasicallySatisfied) / float64(r.Rated)
	}
	if len(t.toHelp) > 0 {
		r.MedianTimeToHelp = durationpb.New(median(t.toHelp))
	}
	r.UnmetByCategory = topNeeds(t.byCategory)
	r.UnmetByBuilding = topNeeds(t.byBuilding)
	return r
}

// median of ds (the lower middle for an even count).
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// topNeeds lists counts, most frequent first (ties by key), at most
// maxReportNeeds.
func topNeeds(m map[string]uint32) []*linliv1.NeedCount {
	out := make([]*linliv1.NeedCount, 0, len(m))
	for k, n := range m {
		out = append(out, &linliv1.NeedCount{Key: k, Count: n})
	}
	slices.SortFunc(out, func(a, b *linliv1.NeedCount) int {
		return cmp.Or(cmp.Compare(b.GetCount(), a.GetCount()), cmp.Compare(a.GetKey(), b.GetKey()))
	})
	return out[:min(len(out), maxReportNeeds)]
}
