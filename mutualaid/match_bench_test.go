package mutualaid_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// BenchmarkMatchPushBatch measures what the bench's push-batch scenario
// does to matching: 8 members each pushing 100 offers per Push into one
// community with no open request. b.N counts offers.
func BenchmarkMatchPushBatch(b *testing.B) {
	const clients, perPush = 8, 100
	s := mustOpen(b, &clock{now: night})
	b.ResetTimer()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			member := mutualaid.Member{UserID: fmt.Sprintf("u-bench%d", c), CommunityID: "yuqiao", Role: mutualaid.RoleResident}
			client := linlisync.ClientID{User: member.UserID, Client: "phone-1"}
			next := uint64(1)
			for done := 0; done < b.N/clients; done += perPush {
				var muts []linlisync.Mutation
				for range min(perPush, b.N/clients-done) {
					m := &linliv1.Mutation{Id: next, Kind: &linliv1.Mutation_PostOffer{PostOffer: &linliv1.PostOfferMutation{
						PostId: fmt.Sprintf("off-%d-%d", c, next),
						Draft: &linliv1.PostDraft{
							Items:      []*linliv1.PostItem{mxItem("ibuprofen-suspension-child", "美林", 1, "2023-12-15")},
							BuildingId: "bldg-3", Floor: 15, Unit: "1502", Phone: "138 0013 8000", DisplayName: "王芳",
						},
					}}}
					mut, err := mutualaid.NewMutationAt(member, m, night)
					if err != nil {
						b.Error(err)
						return
					}
					muts = append(muts, mut)
					next++
				}
				res, _, err := s.Push(context.Background(), client, muts)
				if err != nil {
					b.Error(err)
					return
				}
				for _, r := range res {
					if r.Status != linlisync.StatusApplied {
						b.Errorf("status %d: %s %s", r.Status, r.Reason, r.Message)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}
