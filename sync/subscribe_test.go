package sync_test

import (
	"fmt"
	"testing"
	"time"

	linlisync "github.com/linli/linli/sync"
)

func TestSubscribe(t *testing.T) {
	t.Parallel()

	t.Run("FirstPokeHasCurrentHeads", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, t.TempDir(), linlisync.Options{})
		mustPush(t, s, client(1), put(1, "post/p1", "v", "community/c1"))
		sub, err := s.Subscribe([]string{"community/c1", "user/u9"})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		<-sub.Ready()
		heads, open := sub.Take()
		if !open || heads["community/c1"] != 1 || heads["user/u9"] != 0 {
			t.Fatalf("first heads = %v (open %v), want community/c1:1 user/u9:0", heads, open)
		}
	})

	t.Run("SlowSubscriberIsCoalescedAndNeverBlocksWriter", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, t.TempDir(), linlisync.Options{})
		sub, err := s.Subscribe([]string{"community/c1"})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		other, _ := s.Subscribe([]string{"community/c2"})
		defer other.Close()
		start := time.Now()
		for i := uint64(1); i <= 200; i++ { // nobody reads meanwhile
			mustPush(t, s, client(1), put(i, fmt.Sprint("post/p", i), "v", "community/c1"))
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Fatalf("200 pushes took %v with a stuck subscriber", d)
		}
		<-sub.Ready()
		heads, _ := sub.Take()
		if len(heads) != 1 || heads["community/c1"] != 200 {
			t.Fatalf("coalesced heads = %v, want community/c1:200", heads)
		}
		select {
		case <-other.Ready():
			if h, _ := other.Take(); len(h) != 1 || h["community/c2"] != 0 {
				t.Fatalf("other scope's subscriber got %v", h)
			}
		default:
		}
		if h, _ := other.Take(); len(h) != 0 {
			t.Fatalf("subscriber of another scope was poked: %v", h)
		}
	})

	t.Run("CloseEndsSubscriptions", func(t *testing.T) {
		t.Parallel()
		s, err := linlisync.Open(t.TempDir(), linlisync.Options{DropInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		sub, _ := s.Subscribe([]string{"community/c1"})
		s.Close()
		for range sub.Ready() {
		}
		if _, open := sub.Take(); open {
			t.Fatal("subscription open after store closed")
		}
		if _, err := s.Subscribe([]string{"community/c1"}); err == nil {
			t.Fatal("subscribe after close succeeded")
		}
		if _, _, err := s.Push(t.Context(), client(1), []linlisync.Mutation{put(1, "p", "v", "s")}); err == nil {
			t.Fatal("push after close succeeded")
		}
	})
}
