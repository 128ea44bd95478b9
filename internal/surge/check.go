package surge

import (
	"fmt"
	"strings"
	"time"

	"github.com/linli/linli/internal/linlitest"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
)

// auditor follows the staff scope (every post, handoff and queue item in
// full) through the API and checks linli's promises against it. It never
// acts.
type auditor struct {
	api        linliv1connect.SyncServiceClient
	state      linlitest.State
	cursor     string
	violations []string
}

func newAuditor(api linliv1connect.SyncServiceClient) *auditor {
	return &auditor{api: api, state: linlitest.State{}}
}

func (a *auditor) staffScope() map[string]*linliv1.Entity {
	return a.state["staff/"+communityID]
}

// post is request or offer id as staff see it (nil if unknown).
func (a *auditor) post(id string) *linliv1.Post {
	return a.staffScope()["post/"+communityID+"/"+id].GetPost()
}

// receivedHandoff is the handoff that delivered request id's item (the
// first received, by when), nil if none.
func (a *auditor) receivedHandoff(id string) *linliv1.Handoff {
	var first *linliv1.Handoff
	for _, e := range a.staffScope() {
		h := e.GetHandoff()
		if h == nil || h.GetRequestPostId() != id || h.GetState() != linliv1.HandoffState_HANDOFF_STATE_RECEIVED {
			continue
		}
		if first == nil || enteredAt(h, linliv1.HandoffState_HANDOFF_STATE_RECEIVED).Before(enteredAt(first, linliv1.HandoffState_HANDOFF_STATE_RECEIVED)) {
			first = h
		}
	}
	return first
}

func (a *auditor) violate(at time.Duration, format string, args ...any) {
	a.violations = append(a.violations, fmt.Sprintf("hour %.1f: ", at.Hours())+fmt.Sprintf(format, args...))
}

// pass catches up with the staff scope and checks that no item was ever
// promised to two handoffs: on every offer, each item's reserved count is
// what its live handoffs hold, and what is live plus what was received
// never exceeds what the household offered.
func (a *auditor) pass(r *linliRun) error {
	cur, err := linlitest.Sync(r.ctx, a.api, a.state, a.cursor)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	a.cursor = cur
	now := r.clock.since()
	type key struct{ offer, item string }
	liveQ, gotQ := map[key]int32{}, map[key]int32{}
	for _, e := range a.staffScope() {
		h := e.GetHandoff()
		if h == nil {
			continue
		}
		k := key{h.GetOfferPostId(), h.GetItemCode()}
		switch {
		case h.GetState() == linliv1.HandoffState_HANDOFF_STATE_RECEIVED:
			gotQ[k] += h.GetQuantity()
		case live(h):
			liveQ[k] += h.GetQuantity()
		}
	}
	for _, hh := range r.pop.households {
		if !hh.willing || len(hh.spares) == 0 {
			continue
		}
		p := a.post("o" + hh.id)
		if p == nil {
			continue
		}
		seen := map[string]bool{}
		for i, it := range p.GetItems() {
			code := it.GetItemCode()
			if seen[code] {
				continue // handoffs draw on an item's first line
			}
			seen[code] = true
			k := key{p.GetId(), code}
			orig := int32(hh.spares[i].qty)
			if it.GetReserved() != liveQ[k] {
				a.violate(now, "offer %s %s: %d reserved, live handoffs hold %d", p.GetId(), code, it.GetReserved(), liveQ[k])
			}
			if liveQ[k]+gotQ[k] > orig {
				a.violate(now, "offer %s %s: promised %d live + %d received of %d offered", p.GetId(), code, liveQ[k], gotQ[k], orig)
			}
			if it.GetQuantity() != orig-gotQ[k] {
				a.violate(now, "offer %s %s: %d left, want %d offered − %d received", p.GetId(), code, it.GetQuantity(), orig, gotQ[k])
			}
		}
	}
	return nil
}

// promises checks, at the end of the run, what linli promises beyond
// reservations and deadlines (checked as the run went, see
// auditor.pass and checkDeadlines): every emergency was told to call 120
// when it was posted; every forwarded request is exactly one case at the
// hotline, and every case there is one linli forwarded.
func (r *linliRun) promises(end time.Duration) []string {
	a := r.auditor
	out := append([]string(nil), a.violations...)
	bad := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	jobs := time.Duration(r.sc.Linli.JobsEveryMinutes * float64(time.Minute))

	for i, n := range r.pop.needs {
		rec := r.recs[i]
		if !n.emergency {
			continue
		}
		post := a.post(n.id)
		switch {
		case post == nil:
			if (n.relayed && n.relayAt < end) || (!n.relayed && n.post < end) {
				bad("emergency %s: never posted", n.id)
			}
		case rec.Guided120 < 0:
			bad("emergency %s (%q): no call-120 notice when posted", n.id, n.note)
		case !post.GetTriage().GetEmergency() || post.GetUrgency() != linliv1.Urgency_URGENCY_CRITICAL:
			bad("emergency %s: stored without its triage verdict or not critical", n.id)
		}
	}

	refs := map[string]int{}
	for _, c := range r.hot.Cases() {
		found := false
		for _, n := range r.pop.needs {
			if strings.Contains(c.Description, strings.TrimPrefix(referenceOf(n.id), "\n")) {
				refs[n.id]++
				found = true
			}
		}
		if !found {
			bad("hotline case %s names no forwarded request", c.ID)
		}
	}
	for _, d := range r.dues {
		if d.at < end-2*jobs {
			bad("request %s: its deadline (hour %.2f) was never checked", r.pop.needs[d.idx].id, d.at.Hours())
		}
	}
	for _, n := range r.pop.needs {
		post := a.post(n.id)
		if post == nil {
			continue
		}
		e := post.GetEscalation()
		if hc := e.GetHotlineCase(); hc != nil {
			if fwd := hc.GetForwardedAt().AsTime().Sub(r.pop.start); fwd < end-jobs && refs[n.id] != 1 {
				bad("request %s forwarded at hour %.2f: %d cases at the hotline, want 1", n.id, fwd.Hours(), refs[n.id])
			}
		} else if refs[n.id] > 0 {
			bad("request %s: %d cases at the hotline but no case in linli", n.id, refs[n.id])
		}
		if refs[n.id] > 1 {
			bad("request %s: %d cases at the hotline", n.id, refs[n.id])
		}
	}
	return out
}
