package mutualaid_test

import (
	"context"
	"testing"
	"time"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// TestExpireOffers: an open offer whose medicine has all expired becomes
// EXPIRED on the periodic refresh; one holding something that does not
// expire, or not yet expired, stays open.
func TestExpireOffers(t *testing.T) {
	t.Parallel()
	// Push validation reads the real clock: start the store's clock now.
	start := time.Now()
	clk := &clock{now: start}
	dir := mustOpenIn(t, t.TempDir(), clk)
	s := dir.Store()
	seedPlaces(t, dir)
	lucyPhone := newDevice(t, s, lucy)
	soon := medicineOffer("soon")
	d := soon.GetPostOffer().GetDraft()
	d.Items = d.Items[:2] // 美林 and 泰诺林 only
	d.Items[0].ExpiryDate = start.AddDate(0, 0, 1).Format(time.DateOnly)
	d.Items[1].ExpiryDate = start.AddDate(0, 0, 2).Format(time.DateOnly)
	mixed := medicineOffer("mixed") // also antigen tests, which do not expire
	mixed.GetPostOffer().GetDraft().GetItems()[0].ExpiryDate = start.AddDate(0, 0, 1).Format(time.DateOnly)
	mixed.GetPostOffer().GetDraft().GetItems()[1].ExpiryDate = start.AddDate(0, 0, 1).Format(time.DateOnly)
	lucyPhone.mustApply(soon)
	lucyPhone.mustApply(mixed)

	clk.Advance(24 * time.Hour) // one of soon's medicines is still good
	if _, err := dir.RefreshMatches(context.Background()); err != nil {
		t.Fatal(err)
	}
	v := lucyPhone.pull()
	if st := v.post(t, "user/u-lucy", mutualaid.PostEntityID("yuqiao", "soon")).GetStatus(); st != linliv1.PostStatus_POST_STATUS_OPEN {
		t.Fatalf("after one day: %v, want OPEN", st)
	}
	clk.Advance(3 * 24 * time.Hour)
	if _, err := dir.RefreshMatches(context.Background()); err != nil {
		t.Fatal(err)
	}
	v = lucyPhone.pull()
	if st := v.post(t, "user/u-lucy", mutualaid.PostEntityID("yuqiao", "soon")).GetStatus(); st != linliv1.PostStatus_POST_STATUS_EXPIRED {
		t.Fatalf("all medicine expired: %v, want EXPIRED", st)
	}
	if st := v.post(t, "user/u-lucy", mutualaid.PostEntityID("yuqiao", "mixed")).GetStatus(); st != linliv1.PostStatus_POST_STATUS_OPEN {
		t.Fatalf("offer with antigen tests: %v, want OPEN", st)
	}
}
