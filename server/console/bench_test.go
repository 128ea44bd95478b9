package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/server"
	linlisync "github.com/linli/linli/sync"
)

// benchQueue is the size of the queue the pages are measured with.
const benchQueue = 10_000

// BenchmarkPages measures the server time of each console page (the
// handler alone, no network) with benchQueue overdue requests waiting in
// the queue, paginated; the target is under 100 ms a page.
func BenchmarkPages(b *testing.B) {
	w := newWorld(b, server.Config{})
	ctx := context.Background()
	svc := w.Service()
	zhao := mutualaid.Member{UserID: "u-wang", CommunityID: "yuqiao", Role: mutualaid.RoleResident}
	client := linlisync.ClientID{User: "u-wang", Client: "bench"}
	for start := 0; start < benchQueue; start += 500 {
		var muts []linlisync.Mutation
		for i := start; i < min(start+500, benchQueue); i++ {
			m := request(uint64(i+1), fmt.Sprintf("req-%05d", i), "孩子发烧39度", linliv1.Urgency(1+i%3))
			if i%500 == 7 {
				m.GetPostRequest().Draft.Note = "孩子呼吸困难"
			}
			mut, err := svc.Mutation(zhao, m)
			if err != nil {
				b.Fatal(err)
			}
			muts = append(muts, mut)
		}
		if _, _, err := svc.Push(ctx, client, muts); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := svc.SetEscalationPolicy(ctx, mutualaid.Operator, "yuqiao", &linliv1.EscalationPolicy{HoldCriticalForStaff: true}); err != nil {
		b.Fatal(err)
	}
	w.clk.Advance(25 * time.Hour)
	if n, err := svc.EscalateOverdue(ctx); err != nil || n != benchQueue {
		b.Fatalf("escalated %d, %v; want %d", n, err, benchQueue)
	}
	br := w.browser(b)
	if s, _, _ := br.signIn(w.deviceCode(b, "u-zhao", "yuqiao", mutualaid.RoleStaff), ""); s != http.StatusSeeOther {
		b.Fatal(s)
	}
	cookies := br.http.Jar.Cookies(mustURL(w.URL + "/console/"))
	h := w.Handler()
	for _, path := range []string{"queue", "queue?page=100", "queue/list", "cases", "report", "report.csv", "members", "joincodes", "buildings", "policy"} {
		b.Run(path, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/console/c/yuqiao/"+path, nil)
			for _, c := range cookies {
				req.AddCookie(c)
			}
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d", path, rec.Code)
				}
			}
		})
	}
}
