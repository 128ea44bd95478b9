package mutualaid_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

func TestMutationResultStatus(t *testing.T) {
	t.Parallel()
	for s, want := range map[linlisync.Status]linliv1.MutationStatus{
		linlisync.StatusApplied:        linliv1.MutationStatus_MUTATION_STATUS_APPLIED,
		linlisync.StatusRejected:       linliv1.MutationStatus_MUTATION_STATUS_REJECTED,
		linlisync.StatusOutcomeExpired: linliv1.MutationStatus_MUTATION_STATUS_OUTCOME_EXPIRED,
		0:                              linliv1.MutationStatus_MUTATION_STATUS_UNSPECIFIED,
	} {
		if got := mutualaid.MutationResult(linlisync.Result{ID: 3, Status: s}); got.GetStatus() != want || got.GetId() != 3 {
			t.Errorf("status %d: got %v id %d, want %v id 3", s, got.GetStatus(), got.GetId(), want)
		}
	}
}

// A client whose Push response was lost learns the outcomes through Pull.
func TestClientStateThroughPull(t *testing.T) {
	t.Parallel()
	_, s, author := setup(t)
	author.push(medicineOffer("req-2340")) // rejected: post_exists

	e := author.pull()[mutualaid.UserScope("u-wang")]["client/u-wang/phone-1"]
	want := &linliv1.ClientState{
		ClientId: "phone-1", LastMutationId: 2,
		RecentResults: []*linliv1.MutationResult{
			{Id: 1, Status: linliv1.MutationStatus_MUTATION_STATUS_APPLIED},
			{Id: 2, Status: linliv1.MutationStatus_MUTATION_STATUS_REJECTED, Reason: "post_exists",
				Message: "A post with this id already exists; create it again with a new id."},
		},
	}
	if got := e.GetClientState(); !proto.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, ok := newDevice(t, s, zhang).pull()[mutualaid.UserScope("u-wang")]; ok {
		t.Errorf("another user pulled u-wang's client state")
	}
}
