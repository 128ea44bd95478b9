package mutualaid_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// reportBenchRequests is how many requests the report benchmarks read.
const reportBenchRequests = 5000

// benchRequests posts n routine requests in community yuqiao, 100 per push.
func benchRequests(b *testing.B, s *linlisync.Store, n int) {
	b.Helper()
	member := mutualaid.Member{UserID: "u-bench", CommunityID: "yuqiao", Role: mutualaid.RoleResident}
	client := linlisync.ClientID{User: member.UserID, Client: "phone-1"}
	for next := uint64(1); next <= uint64(n); {
		var muts []linlisync.Mutation
		for range min(100, n-int(next)+1) {
			m := &linliv1.Mutation{Id: next, Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{
				PostId: fmt.Sprintf("req-%d", next),
				Draft: &linliv1.PostDraft{
					Items:   []*linliv1.PostItem{{ItemCode: "antigen-test", Name: "抗原", Quantity: 2}},
					Urgency: linliv1.Urgency_URGENCY_ROUTINE, BuildingId: fmt.Sprintf("bldg-%d", next%7), Floor: 3, DisplayName: "邻居",
				},
			}}}
			mut, err := mutualaid.NewMutationAt(member, m, night)
			if err != nil {
				b.Fatal(err)
			}
			muts = append(muts, mut)
			next++
		}
		if _, _, err := s.Push(context.Background(), client, muts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReport reads a community of 5,000 requests: Report beside
// a bare scan of the same posts (the baseline, measured in the same run),
// so the ratio is what decoding and tallying cost. b.N counts reports.
func BenchmarkReport(b *testing.B) {
	ctx := context.Background()
	svc := mustOpenIn(b, b.TempDir(), &clock{now: night})
	s := svc.Store()
	if _, err := svc.CreateCommunity(ctx, mutualaid.Operator, yuqiao); err != nil {
		b.Fatal(err)
	}
	benchRequests(b, s, reportBenchRequests)
	from, to := night.Add(-time.Hour), night.Add(time.Hour)
	b.Run("RawScan", func(b *testing.B) {
		for b.Loop() {
			n := 0
			if err := s.Scan(ctx, mutualaid.PostEntityID("yuqiao", ""), func(string, []byte) error { n++; return nil }); err != nil || n != reportBenchRequests {
				b.Fatalf("scan: %d, %v", n, err)
			}
		}
		b.ReportMetric(float64(reportBenchRequests)*float64(b.N)/b.Elapsed().Seconds(), "posts/s")
	})
	b.Run("BuildReport", func(b *testing.B) {
		for b.Loop() {
			r, err := svc.Report(ctx, mutualaid.Operator, "yuqiao", from, to)
			if err != nil || r.GetRequests() != reportBenchRequests {
				b.Fatalf("report: %v, %v", r, err)
			}
		}
		b.ReportMetric(float64(reportBenchRequests)*float64(b.N)/b.Elapsed().Seconds(), "posts/s")
	})
}

// BenchmarkEscalatePass is one escalation pass over 5,000 waiting requests
// none of which is due (what JobDeadlines does every 10 s), beside an empty
// store transaction (the baseline: one group commit). b.N counts passes.
func BenchmarkEscalatePass(b *testing.B) {
	ctx := context.Background()
	svc := mustOpenIn(b, b.TempDir(), &clock{now: night})
	s := svc.Store()
	benchRequests(b, s, reportBenchRequests)
	b.Run("EmptyUpdate", func(b *testing.B) {
		for b.Loop() {
			if err := s.Update(ctx, func(*linlisync.Tx) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("NothingDue", func(b *testing.B) {
		for b.Loop() {
			if n, err := svc.EscalateOverdue(ctx); err != nil || n != 0 {
				b.Fatalf("escalate: %d, %v", n, err)
			}
		}
	})
}
