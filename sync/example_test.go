package sync_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"

	linlisync "github.com/linli/linli/sync"
)

// A domain hands the engine mutations as Apply functions that publish a
// view of an entity in each scope; clients pull the scopes they may read.
func Example() {
	dir, err := os.MkdirTemp("", "linli-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := linlisync.Open(dir, linlisync.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// 王芳's phone pushes her first mutation: a request, published in full
	// in her own scope and without her unit number in the community's.
	post := linlisync.Mutation{ID: 1, Name: "post_request", Apply: func(tx *linlisync.Tx) error {
		return tx.Put("post/yuqiao/req-2340", []byte("美林 needed, unit 1502"), map[string][]byte{
			"user/u-wang":      []byte("美林 needed, unit 1502"),
			"community/yuqiao": []byte("美林 needed"),
		})
	}}
	ctx := context.Background()
	results, last, err := s.Push(ctx, linlisync.ClientID{User: "u-wang", Client: "phone"}, []linlisync.Mutation{post})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("applied:", results[0].Status == linlisync.StatusApplied, "last:", last)

	// A neighbour pulls the community scope from an empty cursor.
	page, err := s.Pull(ctx, []string{"community/yuqiao"}, linlisync.Cursor{}, linlisync.Limits{MaxChanges: 100, MaxBytes: 1 << 20})
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range page.Changes {
		fmt.Printf("%s@%d %s: %s\n", c.Scope, c.Seq, c.EntityID, c.Value)
	}
	// Output:
	// applied: true last: 1
	// community/yuqiao@1 post/yuqiao/req-2340: 美林 needed
}

// A mutation the domain refuses is rejected with a reason: it consumes its
// id (the client's queue moves on) and changes nothing.
func ExampleReject() {
	dir, err := os.MkdirTemp("", "linli-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := linlisync.Open(dir, linlisync.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	edit := linlisync.Mutation{ID: 1, Name: "edit_post", Apply: func(tx *linlisync.Tx) error {
		if _, ok, err := tx.Get("post/yuqiao/req-9"); err != nil || ok {
			return err
		}
		return linlisync.Reject("post_not_found", "This post does not exist.")
	}}
	results, last, err := s.Push(context.Background(), linlisync.ClientID{User: "u-wang", Client: "phone"}, []linlisync.Mutation{edit})
	if err != nil {
		log.Fatal(err)
	}
	r := results[0]
	fmt.Println(r.Status == linlisync.StatusRejected, r.Reason, last)
	// Output: true post_not_found 1
}
