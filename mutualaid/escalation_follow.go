package mutualaid

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/linli/linli/mutualaid/hotline"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// NoHotlineReason is what residents and staff see on a case while no
// hotline is configured.
const NoHotlineReason = "no hotline configured: the case waits in linli's outbox until one is"

// followBatch bounds the cases one pass follows; statusChunk the ids per
// status call.
const (
	followBatch = 500
	statusChunk = 50
)

// caseFollower carries each forwarded request's case state (waiting in the
// outbox and why, stuck, open at the hotline with its notes and office,
// closed) into the request's post, which the resident and staff sync, and
// into the staff queue. When a case closes it asks the resident to rate it
// and stops following it.
type caseFollower struct {
	store  *linlisync.Store
	outbox *hotline.Outbox
	// client follows created cases' status; nil means no hotline is
	// configured (cases then show NoHotlineReason).
	client *hotline.Client
	// batch is how many cases one pass follows at most; 0 means 500.
	batch int

	mu    sync.Mutex // serializes RunOnce; guards after
	after string     // the last index entry followed: the next pass resumes after it
}

// FailureReason says, for people, why a case is not at the hotline, from
// an outbox entry's Failure kind (never the raw error text).
func FailureReason(kind string) string {
	switch kind {
	case hotline.FailureUnavailable:
		return "the hotline is unavailable"
	case hotline.FailureRefused:
		return "the hotline refused the case"
	case hotline.FailureTimeout:
		return "the hotline did not answer in time"
	case hotline.FailureUnreadable:
		return "the hotline's answer could not be read"
	case hotline.FailureInvalid:
		return "the case is not valid for the hotline"
	case hotline.FailureOutcomeUnknown:
		return "an earlier attempt's outcome is unknown and cannot be checked"
	}
	return "the hotline cannot be reached"
}

// caseView is what one pass learned of one case.
type caseView struct {
	key    string
	state  linliv1.CaseState
	reason string
	id     string
	status *hotline.CaseStatus
}

// RunOnce follows up to Batch open cases (the next ones after those the
// previous pass followed, wrapping around) and returns how many posts it
// changed. Hotline errors leave the cases they concern as they were and are
// returned joined; a store error stops the pass.
//
// Errors: ctx's, storage errors, joined hotline errors.
func (f *caseFollower) RunOnce(ctx context.Context) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	views, err := f.outboxViews(ctx)
	if err != nil {
		return 0, err
	}
	herr := f.fetchStatuses(ctx, views)
	n, err := f.apply(ctx, views)
	if err != nil {
		return n, err
	}
	return n, herr
}

// outboxViews reads the followed cases and their outbox entries.
func (f *caseFollower) outboxViews(ctx context.Context) ([]*caseView, error) {
	batch := cmp.Or(f.batch, followBatch)
	var keys []string
	last := ""
	errFull := errors.New("full")
	err := f.store.Scan(ctx, caseIndexPrefix, func(id string, v []byte) error {
		if id <= f.after {
			return nil
		}
		keys, last = append(keys, string(v)), id
		if len(keys) == batch {
			return errFull
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFull) {
		return nil, fmt.Errorf("mutualaid: follow cases: %w", err)
	}
	f.after = ""
	if len(keys) == batch {
		f.after = last
	}
	views := make([]*caseView, 0, len(keys))
	for _, k := range keys {
		e, ok, err := f.outbox.Entry(k)
		if err != nil {
			return nil, fmt.Errorf("mutualaid: follow case %s: %w", k, err)
		}
		if ok {
			views = append(views, f.viewOf(e))
		}
	}
	return views, nil
}

// viewOf is what the outbox entry alone says of a case.
func (f *caseFollower) viewOf(e hotline.OutboxEntry) *caseView {
	v := &caseView{key: e.PostKey, state: linliv1.CaseState_CASE_STATE_WAITING}
	switch {
	case e.State == hotline.OutboxCreated:
		v.state, v.id = linliv1.CaseState_CASE_STATE_OPEN, e.ServiceRequestID
	case e.State == hotline.OutboxStuck:
		v.state, v.reason = linliv1.CaseState_CASE_STATE_STUCK, "forwarding stopped, staff must take it up with the hotline: "+FailureReason(e.Failure)
	case e.Failing:
		v.state = linliv1.CaseState_CASE_STATE_STUCK
		v.reason = fmt.Sprintf("%s (%d attempts); still retrying", FailureReason(e.Failure), e.Attempts)
	case f.client == nil:
		v.reason = NoHotlineReason
	case e.Attempts > 0:
		v.reason = fmt.Sprintf("%s (attempt %d); retrying", FailureReason(e.Failure), e.Attempts)
	default:
		v.reason = "queued for the hotline"
	}
	return v
}

// fetchStatuses asks the hotline for the status of created cases.
func (f *caseFollower) fetchStatuses(ctx context.Context, views []*caseView) error {
	if f.client == nil {
		return nil
	}
	byID := map[string]*caseView{}
	var ids []string
	for _, v := range views {
		if v.id != "" {
			byID[v.id] = v
			ids = append(ids, v.id)
		}
	}
	var errs []error
	for start := 0; start < len(ids); start += statusChunk {
		chunk := ids[start:min(start+statusChunk, len(ids))]
		sts, err := f.client.Status(ctx, chunk...)
		if err != nil {
			errs = append(errs, fmt.Errorf("mutualaid: case status: %w", err))
			continue
		}
		for i := range sts {
			if v := byID[sts[i].ServiceRequestID]; v != nil {
				v.status = &sts[i]
			}
		}
	}
	return errors.Join(errs...)
}

// apply writes the changed cases into their posts and queue items.
func (f *caseFollower) apply(ctx context.Context, views []*caseView) (int, error) {
	n := 0
	err := f.store.Update(ctx, func(tx *linlisync.Tx) error {
		n = 0
		for _, v := range views {
			fresh, err := f.reread(tx, v)
			if err != nil {
				return err
			}
			changed, err := applyCase(tx, fresh)
			if err != nil {
				return err
			}
			if changed {
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("mutualaid: follow cases: %w", err)
	}
	return n, nil
}

// reread builds v again from the outbox entry as it is now (staff may
// have retried it since the pass read it), keeping the hotline's status
// when it is still about the same case.
func (f *caseFollower) reread(tx *linlisync.Tx, v *caseView) (*caseView, error) {
	e, ok, err := hotline.EntryTx(tx, v.key)
	if err != nil || !ok {
		return v, err
	}
	fresh := f.viewOf(e)
	if fresh.id == v.id {
		fresh.status = v.status
	}
	return fresh, nil
}

// applyCase updates one request from v; changed reports a write.
func applyCase(tx *linlisync.Tx, v *caseView) (bool, error) {
	c, postID, ok := strings.Cut(v.key, "/")
	if !ok {
		return false, fmt.Errorf("bad case key %q", v.key)
	}
	id := PostEntityID(c, postID)
	p, ok, err := loadPost(tx, id)
	if err != nil || !ok || p.GetEscalation().GetHotlineCase() == nil {
		return false, err
	}
	old := p.GetEscalation().GetHotlineCase()
	hc := nextCase(old, v, tx.Now())
	if proto.Equal(old, hc) {
		return false, nil
	}
	p.Escalation.HotlineCase = hc
	if hc.GetState() == linliv1.CaseState_CASE_STATE_CLOSED {
		p.Escalation.FeedbackRequested = p.GetEscalation().GetFeedback() == nil
		if err := tx.Delete(caseIndexPrefix + v.key); err != nil {
			return false, err
		}
	}
	p.UpdatedAt = timestamppb.New(tx.Now())
	if err := putPost(tx, id, p); err != nil {
		return false, err
	}
	if err := notifyCase(tx, p, old, hc); err != nil {
		return false, err
	}
	item, ok, err := loadQueueItem(tx.Get, c, postID)
	if err != nil || !ok {
		return true, err
	}
	item.HotlineCase = hc
	return true, putQueueItem(tx, item)
}

// nextCase is old updated with what a pass learned.
func nextCase(old *linliv1.HotlineCase, v *caseView, now time.Time) *linliv1.HotlineCase {
	hc := proto.CloneOf(old)
	hc.State, hc.WaitingReason = v.state, v.reason
	if v.id != "" {
		hc.ServiceRequestId = v.id
	}
	st := v.status
	if st == nil {
		return hc
	}
	hc.StatusNotes, hc.AgencyResponsible = st.StatusNotes, st.AgencyResponsible
	hc.UpdatedAt, hc.ExpectedAt = parseTime(st.UpdatedDatetime), parseTime(st.ExpectedDatetime)
	if st.Status == hotline.StatusClosed {
		hc.State = linliv1.CaseState_CASE_STATE_CLOSED
		hc.ClosedAt = hc.GetUpdatedAt()
		if hc.ClosedAt == nil {
			hc.ClosedAt = timestamppb.New(now)
		}
	}
	return hc
}

// parseTime reads a hotline datetime (RFC 3339); nil if absent or bad.
func parseTime(s string) *timestamppb.Timestamp {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil
	}
	return timestamppb.New(t)
}
