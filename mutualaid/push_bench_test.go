package mutualaid_test

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// BenchmarkPushOne measures the domain and the engine behind a push of one
// offer, without the transport: 64 members each pushing one mutation per
// push into one community. It reports CPU µs per push (this process's).
func BenchmarkPushOne(b *testing.B) {
	benchPushes(b, 64, 1)
}

// BenchmarkPushBatch is BenchmarkPushOne with 8 members pushing 100
// offers per push; it reports CPU µs per mutation.
func BenchmarkPushBatch(b *testing.B) {
	benchPushes(b, 8, 100)
}

func benchPushes(b *testing.B, members, perPush int) {
	clk := &clock{now: night}
	svc := mustOpenIn(b, b.TempDir(), clk)
	var wg sync.WaitGroup
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	per := max(b.N/members/perPush, 1)
	for c := range members {
		wg.Go(func() {
			member := mutualaid.Member{UserID: fmt.Sprintf("u-bench%d", c), CommunityID: "yuqiao", Role: mutualaid.RoleResident}
			client := linlisync.ClientID{User: member.UserID, Client: "phone-1"}
			next := uint64(1)
			for range per {
				var muts []linlisync.Mutation
				for range perPush {
					m := &linliv1.Mutation{Id: next, Kind: &linliv1.Mutation_PostOffer{PostOffer: &linliv1.PostOfferMutation{
						PostId: fmt.Sprintf("off-%d-%d", c, next),
						Draft: &linliv1.PostDraft{
							Items:      []*linliv1.PostItem{mxItem("ibuprofen-suspension-child", "美林", 1, "2023-12-15")},
							Note:       "Unopened. I can leave it on the elevator windowsill of your floor.",
							BuildingId: "bldg-3", Floor: 15, Unit: "1502", Phone: "138 0013 8000", DisplayName: "王芳",
						},
					}}}
					mut, err := svc.Mutation(member, m)
					if err != nil {
						b.Error(err)
						return
					}
					muts = append(muts, mut)
					next++
				}
				if _, _, err := svc.Push(context.Background(), client, muts); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	b.ReportMetric(float64(cpu.Microseconds())/float64(per*members*perPush), "cpu-µs/mutation")
}
