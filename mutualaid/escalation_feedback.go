package mutualaid

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// Rejection reasons of rate_case.
const (
	ReasonCaseNotClosed = "case_not_closed" // the request has no closed hotline case to rate
)

// maxFeedbackComment bounds a rating's comment, in characters.
const maxFeedbackComment = 500

// validateRateCase checks a rate_case mutation.
func (v *validator) rateCase(m *linliv1.RateCaseMutation) {
	v.ident("rate_case.post_id", "post_id", m.GetPostId(), isIDByte)
	switch m.GetSatisfaction() {
	case linliv1.Satisfaction_SATISFACTION_SATISFIED, linliv1.Satisfaction_SATISFACTION_BASICALLY_SATISFIED,
		linliv1.Satisfaction_SATISFACTION_UNSATISFIED:
	default:
		v.fail("rate_case.satisfaction", "satisfaction_required", "Say how satisfied you are: satisfied, basically satisfied or unsatisfied.")
	}
	v.text("rate_case.comment", "comment", m.GetComment(), maxFeedbackComment, true)
}

// rateCase records the author's rating of their request's closed case,
// apart from the hotline's own status. Rating again replaces it.
func rateCase(member Member, m *linliv1.RateCaseMutation) func(*linlisync.Tx) error {
	fb := &linliv1.CaseFeedback{Solved: m.GetSolved(), Satisfaction: m.GetSatisfaction(), Comment: m.GetComment()}
	postID := m.GetPostId()
	return func(tx *linlisync.Tx) error {
		id := PostEntityID(member.CommunityID, postID)
		p, ok, err := loadPost(tx, id)
		switch {
		case err != nil:
			return err
		case !ok:
			return linlisync.Reject(ReasonPostNotFound, "This post does not exist.")
		case p.GetAuthorId() != member.UserID:
			return linlisync.Reject(ReasonNotAuthor, "Only the author can rate this request's case.")
		case p.GetEscalation().GetHotlineCase().GetState() != linliv1.CaseState_CASE_STATE_CLOSED:
			return linlisync.Reject(ReasonCaseNotClosed, "The hotline has not closed a case for this request yet.")
		}
		fb.RatedAt = timestamppb.New(tx.Now())
		p.Escalation.Feedback = fb
		p.Escalation.FeedbackRequested = false
		p.UpdatedAt = fb.RatedAt
		return putPost(tx, id, p)
	}
}
