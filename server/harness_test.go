package server_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"connectrpc.com/connect"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
)

// offer is a valid mutation: a neighbour offering children's ibuprofen.
func offer(id uint64, postID string) *linliv1.Mutation {
	return &linliv1.Mutation{Id: id, Kind: &linliv1.Mutation_PostOffer{PostOffer: &linliv1.PostOfferMutation{
		PostId: postID,
		Draft: &linliv1.PostDraft{
			Items: []*linliv1.PostItem{{
				ItemCode: "ibuprofen-suspension-child", Name: "美林", Quantity: 1, Unit: "bottle", ExpiryDate: "2027-06-30",
			}},
			Note:        "放在15楼电梯口窗台上 — left on the 15th-floor elevator windowsill",
			BuildingId:  "b3",
			Floor:       15,
			Unit:        "1502",
			Phone:       "138 0000 1234",
			DisplayName: "王芳",
		},
	}}}
}

func push(ctx context.Context, c linliv1connect.SyncServiceClient, client string, muts ...*linliv1.Mutation) (*linliv1.PushResponse, error) {
	return c.Push(ctx, &linliv1.PushRequest{ProtocolVersion: 1, ClientId: client, Mutations: muts})
}

// wantError asserts err is a Connect error with code and detail reason.
func wantError(t *testing.T, err error, code connect.Code, reason string) *linliv1.ErrorDetail {
	t.Helper()
	var cerr *connect.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("err = %v, want %v/%s", err, code, reason)
	}
	if cerr.Code() != code {
		t.Fatalf("code = %v (%v), want %v", cerr.Code(), cerr.Message(), code)
	}
	for _, d := range cerr.Details() {
		v, derr := d.Value()
		if detail, ok := v.(*linliv1.ErrorDetail); derr == nil && ok {
			if detail.GetReason() != reason {
				t.Fatalf("reason = %q, want %q", detail.GetReason(), reason)
			}
			return detail
		}
	}
	t.Fatalf("no ErrorDetail in %v, want reason %q", err, reason)
	return nil
}

// describe prints changes compactly for failure messages.
func describe(changes []*linliv1.Change) string {
	var b strings.Builder
	for _, c := range changes {
		fmt.Fprintf(&b, "%s@%d %s deleted=%v; ", c.GetScope(), c.GetSeq(), c.GetEntityId(), c.GetDeleted())
	}
	return b.String()
}
