package mutualaid

import (
	"fmt"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// encodeClientState marshals a client's progress as the value the engine
// publishes in its user's scope: a deterministically marshalled
// linliv1.Entity holding a linliv1.ClientState. Open sets it as
// linlisync.Options.EncodeClientState. Errors: only a marshalling error
// (a rejection message that is not valid UTF-8).
func encodeClientState(c linlisync.ClientState) ([]byte, error) {
	cs := &linliv1.ClientState{ClientId: c.Client, LastMutationId: c.LastMutationID}
	for _, r := range c.Recent {
		cs.RecentResults = append(cs.RecentResults, MutationResult(r))
	}
	b, err := deterministic.Marshal(&linliv1.Entity{Kind: &linliv1.Entity_ClientState{ClientState: cs}})
	if err != nil {
		return nil, fmt.Errorf("mutualaid: marshal client state %s: %w", c.Client, err)
	}
	return b, nil
}

// MutationResult converts an engine outcome to its wire form (also for the
// server's PushResponse). An unknown status becomes UNSPECIFIED.
func MutationResult(r linlisync.Result) *linliv1.MutationResult {
	return &linliv1.MutationResult{Id: r.ID, Status: mutationStatus(r.Status), Reason: r.Reason, Message: r.Message}
}

func mutationStatus(s linlisync.Status) linliv1.MutationStatus {
	switch s {
	case linlisync.StatusApplied:
		return linliv1.MutationStatus_MUTATION_STATUS_APPLIED
	case linlisync.StatusRejected:
		return linliv1.MutationStatus_MUTATION_STATUS_REJECTED
	case linlisync.StatusOutcomeExpired:
		return linliv1.MutationStatus_MUTATION_STATUS_OUTCOME_EXPIRED
	}
	return linliv1.MutationStatus_MUTATION_STATUS_UNSPECIFIED
}
