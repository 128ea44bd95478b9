package mutualaid_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

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

// BenchmarkMatchBuild measures a restart in a surge: a store holding
// 100,000 open posts of one community (70% requests, 30% offers, all of
// the same few children's fever reducers and antigen kits) is opened and
// its first write made, which builds matching's state from the posts and
// the stored suggestions. b.N counts restarts.
func BenchmarkMatchBuild(b *testing.B) {
	const posts, perTx = 100_000, 1000
	clk := &clock{now: night}
	dir := b.TempDir()
	svc := mustOpenIn(b, dir, clk)
	seedPlaces(b, svc)
	items := []struct{ code, name string }{
		{"ibuprofen-suspension-child", "美林"}, {"acetaminophen-suspension-child", "泰诺林"}, {"antigen-test", "抗原"},
	}
	for start := 0; start < posts; start += perTx {
		err := svc.Store().Update(context.Background(), func(tx *linlisync.Tx) error {
			for i := start; i < start+perTx; i++ {
				it := items[i%len(items)]
				building := fmt.Sprintf("bldg-%d", i%40)
				p := mxRequest(fmt.Sprintf("req-%d", i), fmt.Sprintf("u-%d", i), building, linliv1.Urgency_URGENCY_ROUTINE, nil, mxItem(it.code, it.name, 1, ""))
				if i%10 < 3 {
					p = mxOffer(fmt.Sprintf("off-%d", i), fmt.Sprintf("u-%d", i), building, mxItem(it.code, it.name, 2, "2023-06-30"))
				}
				if err := mutualaid.MatchPutPost(tx, mutualaid.PostEntityID("yuqiao", p.GetId()), p); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := svc.Close(); err != nil {
		b.Fatal(err)
	}
	var opening, building time.Duration
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		svc := mustOpenIn(b, dir, clk)
		t1 := time.Now()
		err := svc.Store().Update(context.Background(), func(tx *linlisync.Tx) error {
			p := mxOffer(fmt.Sprintf("off-restart-%d", i), "u-bench", "bldg-1", mxItem("mask-kn95", "口罩", 10, ""))
			return mutualaid.MatchPutPost(tx, mutualaid.PostEntityID("yuqiao", p.GetId()), p)
		})
		if err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if err := svc.Close(); err != nil {
			b.Fatal(err)
		}
		opening += t1.Sub(t0)
		building += t2.Sub(t1)
	}
	b.ReportMetric(float64(opening.Milliseconds())/float64(b.N), "ms-open/restart")
	b.ReportMetric(float64(building.Milliseconds())/float64(b.N), "ms-first-write/restart")
}
