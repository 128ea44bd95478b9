package mutualaid

import (
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// encodeClientState marshals a client's progress as the value the engine
// publishes in its user's scope: a linliv1.Entity holding a
// linliv1.ClientState, byte for byte as deterministic protobuf marshalling
// gives it (fields in number order, zero values left out). It is written
// by hand because every push publishes one, with up to 32 outcomes, and
// reflection made it a tenth of a push's writer time. Open sets it as
// linlisync.Options.EncodeClientState. Errors: a rejection reason or
// message that is not valid UTF-8 (protobuf strings must be).
func encodeClientState(c linlisync.ClientState) ([]byte, error) {
	var cs []byte
	if c.Client != "" {
		cs = protowire.AppendTag(cs, 1, protowire.BytesType)
		cs = protowire.AppendString(cs, c.Client)
	}
	if c.LastMutationID != 0 {
		cs = protowire.AppendTag(cs, 2, protowire.VarintType)
		cs = protowire.AppendVarint(cs, c.LastMutationID)
	}
	var r []byte
	for _, res := range c.Recent {
		if !utf8.ValidString(res.Reason) || !utf8.ValidString(res.Message) {
			return nil, fmt.Errorf("mutualaid: marshal client state %s: outcome %d is not valid UTF-8", c.Client, res.ID)
		}
		r = r[:0]
		if res.ID != 0 {
			r = protowire.AppendTag(r, 1, protowire.VarintType)
			r = protowire.AppendVarint(r, res.ID)
		}
		if st := mutationStatus(res.Status); st != 0 {
			r = protowire.AppendTag(r, 2, protowire.VarintType)
			r = protowire.AppendVarint(r, uint64(st))
		}
		if res.Reason != "" {
			r = protowire.AppendTag(r, 3, protowire.BytesType)
			r = protowire.AppendString(r, res.Reason)
		}
		if res.Message != "" {
			r = protowire.AppendTag(r, 4, protowire.BytesType)
			r = protowire.AppendString(r, res.Message)
		}
		cs = protowire.AppendTag(cs, 3, protowire.BytesType)
		cs = protowire.AppendBytes(cs, r)
	}
	b := make([]byte, 0, len(cs)+8)
	b = protowire.AppendTag(b, 2, protowire.BytesType) // Entity.client_state
	return protowire.AppendBytes(b, cs), nil
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
