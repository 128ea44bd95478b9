package server_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/server"
)

// TestResendAfterRulesChanged: a mutation applied yesterday is answered
// with its stored outcome when resent today, even though the rules would
// now refuse it (its medicine expired meanwhile): exactly once holds.
func TestResendAfterRulesChanged(t *testing.T) {
	t.Parallel()
	var now atomic.Int64
	now.Store(time.Date(2026, 11, 25, 23, 40, 0, 0, time.UTC).UnixNano())
	h := linlitest.NewServer(t, server.Config{Now: func() time.Time { return time.Unix(0, now.Load()) }})
	c := h.SyncClient(h.Token(t, "u1", "yuqiao", mutualaid.RoleResident))
	m := offer(1, "meilin")
	m.GetPostOffer().GetDraft().GetItems()[0].ExpiryDate = "2026-11-26"
	first, err := push(t.Context(), c, "phone", m)
	if err != nil || first.GetResults()[0].GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_APPLIED {
		t.Fatalf("first push = %v, %v", first, err)
	}
	now.Add(int64(72 * time.Hour)) // the medicine has expired
	c = h.SyncClient(h.Token(t, "u1", "yuqiao", mutualaid.RoleResident))
	again, err := push(t.Context(), c, "phone", m, offer(2, "other"))
	if err != nil {
		t.Fatalf("resend refused: %v", err)
	}
	if again.GetResults()[0].GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_APPLIED || again.GetLastMutationId() != 2 {
		t.Fatalf("resend = %v, want the stored outcome and the new mutation applied", again)
	}
	expired := offer(3, "late")
	expired.GetPostOffer().GetDraft().GetItems()[0].ExpiryDate = "2026-11-26"
	// A new expired offer is still refused: REJECTED, its id consumed, so
	// a queue holding it keeps flowing.
	res, err := push(t.Context(), c, "phone", expired, offer(4, "fresh"))
	if err != nil {
		t.Fatal(err)
	}
	if r := res.GetResults(); len(r) != 2 || r[0].GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_REJECTED || r[0].GetReason() != "item_expired" ||
		r[1].GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_APPLIED || res.GetLastMutationId() != 4 {
		t.Fatalf("expired offer then a good one: %v", res)
	}
}
