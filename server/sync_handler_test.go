package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server"
	linlisync "github.com/linli/linli/sync"
)

// TestClients: the same API through a Connect client (binary and JSON), a
// gRPC client, and a plain HTTP POST with JSON.
func TestClients(t *testing.T) {
	t.Parallel()
	h := linlitest.NewServer(t, server.Config{})
	tok := h.Token(t, "u1", "c1", mutualaid.RoleResident)
	clients := map[string]linliv1connect.SyncServiceClient{
		"ConnectBinary": h.SyncClient(tok),
		"ConnectJSON":   h.SyncClient(tok, connect.WithProtoJSON()),
		"GRPC":          h.GRPCSyncClient(tok),
		"GRPCWeb":       h.SyncClient(tok, connect.WithGRPCWeb()),
	}
	n := uint64(0)
	for _, name := range []string{"ConnectBinary", "ConnectJSON", "GRPC", "GRPCWeb"} {
		n++
		res, err := push(t.Context(), clients[name], "phone", offer(n, fmt.Sprint("p", n)))
		if err != nil {
			t.Fatalf("%s push: %v", name, err)
		}
		if res.GetLastMutationId() != n || res.GetResults()[0].GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_APPLIED {
			t.Fatalf("%s push = %v", name, res)
		}
		changes, _ := linlitest.PullAll(t, clients[name], "")
		if got := countEntities(changes, "user/u1", "post/"); got != int(n) {
			t.Fatalf("%s pull: %d posts in user scope, want %d", name, got, n)
		}
	}

	t.Run("PlainHTTPJSON", func(t *testing.T) {
		body := `{"protocolVersion":1,"clientId":"phone","mutations":[{"id":"5","cancelPost":{"postId":"p1","reason":"已经送出"}}]}`
		out := postJSON(t, h, tok, "/linli.v1.SyncService/Push", body)
		if !strings.Contains(out, `"lastMutationId":"5"`) || !strings.Contains(out, "MUTATION_STATUS_APPLIED") {
			t.Fatalf("push response = %s", out)
		}
		out = postJSON(t, h, tok, "/linli.v1.SyncService/Pull", `{"protocolVersion":1}`)
		if !strings.Contains(out, "POST_STATUS_CANCELLED") {
			t.Fatalf("pull response lacks the cancelled post: %s", out)
		}
	})

	t.Run("PullAsGET", func(t *testing.T) {
		msg := base64.RawURLEncoding.EncodeToString([]byte(`{"protocolVersion":1,"maxChanges":1}`))
		req, _ := http.NewRequest(http.MethodGet, h.URL+"/linli.v1.SyncService/Pull?encoding=json&base64=1&message="+msg, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := h.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || !strings.Contains(string(b), `"hasMore":true`) {
			t.Fatalf("GET pull = %d %s", res.StatusCode, b)
		}
	})
}

func postJSON(t *testing.T, h *linlitest.Server, tok, path, body string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := h.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("POST %s = %d %s", path, res.StatusCode, b)
	}
	return string(b)
}

func countEntities(changes []*linliv1.Change, scope, prefix string) int {
	n := 0
	for _, c := range changes {
		if c.GetScope() == scope && strings.HasPrefix(c.GetEntityId(), prefix) && !c.GetDeleted() {
			n++
		}
	}
	return n
}

// TestPushBadInput: every bad push gets InvalidArgument with a reason and
// changes nothing: no post appears and no mutation id is consumed.
func TestPushBadInput(t *testing.T) {
	t.Parallel()
	h := linlitest.NewServer(t, server.Config{MaxRequestBytes: 1 << 20})
	tok := h.Token(t, "u1", "c1", mutualaid.RoleResident)
	c := h.SyncClient(tok)
	withDraft := func(edit func(d *linliv1.PostDraft)) *linliv1.Mutation {
		m := offer(1, "bad")
		edit(m.GetPostOffer().GetDraft())
		return m
	}
	many := make([]*linliv1.Mutation, 501)
	for i := range many {
		many[i] = offer(uint64(i+1), fmt.Sprint("p", i))
	}
	cases := []struct {
		name   string
		req    *linliv1.PushRequest
		reason string
	}{
		{"EmptyBatch", &linliv1.PushRequest{ProtocolVersion: 1, ClientId: "phone"}, "batch_size_out_of_range"},
		{"OversizedBatch", &linliv1.PushRequest{ProtocolVersion: 1, ClientId: "phone", Mutations: many}, "batch_size_out_of_range"},
		{"IDZero", pushOf(offer(0, "p0")), "mutation_ids_not_consecutive"},
		{"IDsNotConsecutive", pushOf(offer(1, "a"), offer(3, "b")), "mutation_ids_not_consecutive"},
		{"UnknownKind", pushOf(&linliv1.Mutation{Id: 1}), "unknown_mutation_kind"},
		{"BadClientID", &linliv1.PushRequest{ProtocolVersion: 1, ClientId: "phone/../x", Mutations: []*linliv1.Mutation{offer(1, "a")}}, "client_id_invalid"},
		{"OverlongNote", pushOf(withDraft(func(d *linliv1.PostDraft) { d.Note = strings.Repeat("烧", 1001) })), "note_too_long"},
		{"NegativeQuantity", pushOf(withDraft(func(d *linliv1.PostDraft) { d.Items[0].Quantity = -3 })), "quantity_out_of_range"},
		{"ZeroQuantity", pushOf(withDraft(func(d *linliv1.PostDraft) { d.Items[0].Quantity = 0 })), "quantity_out_of_range"},
		{"AbsurdQuantity", pushOf(withDraft(func(d *linliv1.PostDraft) { d.Items[0].Quantity = 2_000_000_000 })), "quantity_out_of_range"},
		{"LaterMutationBad", pushOf(offer(1, "good"), withDraft(func(d *linliv1.PostDraft) { d.Floor = 9999 })), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "LaterMutationBad" {
				tc.req.Mutations[1].Id = 2
			}
			_, err := c.Push(t.Context(), tc.req)
			if tc.reason == "" {
				if connect.CodeOf(err) != connect.CodeInvalidArgument {
					t.Fatalf("err = %v, want InvalidArgument", err)
				}
				return
			}
			wantError(t, err, connect.CodeInvalidArgument, tc.reason)
		})
	}
	t.Run("OversizedMessage", func(t *testing.T) {
		m := offer(1, "big")
		m.GetPostOffer().GetDraft().Note = strings.Repeat("x", 2<<20)
		_, err := push(t.Context(), c, "phone", m)
		d := wantError(t, err, connect.CodeInvalidArgument, "message_too_large")
		if d.GetMaxMessageBytes() != 1<<20 {
			t.Fatalf("max_message_bytes = %d, want %d", d.GetMaxMessageBytes(), 1<<20)
		}
	})
	changes, _ := linlitest.PullAll(t, c, "")
	if n := countEntities(changes, "user/u1", "post/") + countEntities(changes, "user/u1", "client/"); n != 0 {
		t.Fatalf("bad pushes left changes: %s", describe(changes))
	}
	// Id 1 was never consumed: the first good push is id 1.
	res, err := push(t.Context(), c, "phone", offer(1, "good"))
	if err != nil || res.GetResults()[0].GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_APPLIED {
		t.Fatalf("first good push = %v, %v", res, err)
	}
}

func pushOf(muts ...*linliv1.Mutation) *linliv1.PushRequest {
	return &linliv1.PushRequest{ProtocolVersion: 1, ClientId: "phone", Mutations: muts}
}

// TestPushProtocol: gaps, retries, rejections and versions through the API.
func TestPushProtocol(t *testing.T) {
	t.Parallel()
	h := linlitest.NewServer(t, server.Config{})
	c := h.SyncClient(h.Token(t, "u1", "c1", mutualaid.RoleResident))
	ctx := t.Context()

	t.Run("RetriedBatchAppliesOnce", func(t *testing.T) {
		batch := []*linliv1.Mutation{offer(1, "r1"), offer(2, "r2"), offer(3, "r1")}
		var first *linliv1.PushResponse
		for try := range 3 {
			res, err := push(ctx, c, "retry", batch...)
			if err != nil {
				t.Fatal(err)
			}
			if try == 0 {
				first = res
			} else if res.String() != first.String() {
				t.Fatalf("retry %d = %v, want stored %v", try, res, first)
			}
		}
		if r := first.GetResults()[2]; r.GetStatus() != linliv1.MutationStatus_MUTATION_STATUS_REJECTED || r.GetReason() != "post_exists" {
			t.Fatalf("duplicate post id result = %v, want REJECTED post_exists", r)
		}
	})

	t.Run("GapRefusedWithLastID", func(t *testing.T) {
		_, err := push(ctx, c, "retry", offer(7, "g7"))
		detail := wantError(t, err, connect.CodeFailedPrecondition, "mutation_id_gap")
		if detail.GetLastMutationId() != 3 {
			t.Fatalf("last_mutation_id = %d, want 3", detail.GetLastMutationId())
		}
	})

	t.Run("OutcomeReachesPullWhenResponseLost", func(t *testing.T) {
		changes, _ := linlitest.PullAll(t, c, "")
		for _, ch := range changes {
			if st := ch.GetEntity().GetClientState(); st != nil && st.GetClientId() == "retry" {
				if st.GetLastMutationId() != 3 || len(st.GetRecentResults()) != 3 || st.GetRecentResults()[2].GetReason() != "post_exists" {
					t.Fatalf("client state = %v", st)
				}
				return
			}
		}
		t.Fatalf("no client state in %s", describe(changes))
	})

	t.Run("UnsupportedVersion", func(t *testing.T) {
		for _, v := range []uint32{0, 2, 99} {
			_, err := c.Push(ctx, &linliv1.PushRequest{ProtocolVersion: v, ClientId: "phone", Mutations: []*linliv1.Mutation{offer(1, "v")}})
			d := wantError(t, err, connect.CodeFailedPrecondition, "protocol_version_unsupported")
			if d.GetMaxProtocolVersion() != server.MaxProtocolVersion {
				t.Fatalf("max version = %d", d.GetMaxProtocolVersion())
			}
			_, err = c.Pull(ctx, &linliv1.PullRequest{ProtocolVersion: v})
			wantError(t, err, connect.CodeFailedPrecondition, "protocol_version_unsupported")
		}
	})
}

// TestPullCursors: malformed cursors are refused; foreign epochs reset.
func TestPullCursors(t *testing.T) {
	t.Parallel()
	h := linlitest.NewServer(t, server.Config{})
	c := h.SyncClient(h.Token(t, "u1", "c1", mutualaid.RoleResident))
	if _, err := push(t.Context(), c, "phone", offer(1, "p1")); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"%%%", "AAAA", strings.Repeat("Q", 100)} {
		_, err := c.Pull(t.Context(), &linliv1.PullRequest{ProtocolVersion: 1, Cursor: bad})
		wantError(t, err, connect.CodeInvalidArgument, "cursor_malformed")
	}
	_, err := c.Pull(t.Context(), &linliv1.PullRequest{ProtocolVersion: 1, MaxChanges: 1_000_000})
	wantError(t, err, connect.CodeInvalidArgument, "max_changes_out_of_range")

	foreign := linlisync.Cursor{Epoch: [16]byte{7}, Seqs: map[string]uint64{"community/c1": 1, "user/u1": 2}}.Encode()
	res, err := c.Pull(t.Context(), &linliv1.PullRequest{ProtocolVersion: 1, Cursor: foreign})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.GetResets()) != 2 || res.GetResets()[0].GetReason() != linliv1.ResetReason_RESET_REASON_EPOCH_CHANGED {
		t.Fatalf("resets = %v, want both scopes reset for epoch", res.GetResets())
	}
	if countEntities(res.GetChanges(), "community/c1", "post/") != 1 {
		t.Fatalf("reset page lacks the state: %s", describe(res.GetChanges()))
	}
}

// TestCommunityIsolation: a member of one community never receives
// another's changes, whatever cursor it sends.
func TestCommunityIsolation(t *testing.T) {
	t.Parallel()
	h := linlitest.NewServer(t, server.Config{})
	a := h.SyncClient(h.Token(t, "ua", "yuqiao", mutualaid.RoleResident))
	staffB := h.SyncClient(h.Token(t, "sb", "beiyuan", mutualaid.RoleStaff))
	if _, err := push(t.Context(), a, "phone", offer(1, "secret")); err != nil {
		t.Fatal(err)
	}
	forged := linlisync.Cursor{Epoch: h.Service().Epoch(), Seqs: map[string]uint64{"community/yuqiao": 0, "user/ua": 0, "staff/yuqiao": 0}}.Encode()
	for _, cur := range []string{"", forged} {
		changes, _ := linlitest.PullAll(t, staffB, cur)
		for _, ch := range changes {
			if !strings.HasSuffix(ch.GetScope(), "/beiyuan") && ch.GetScope() != "user/sb" {
				t.Fatalf("staff of beiyuan got %s", describe([]*linliv1.Change{ch}))
			}
		}
	}
	// Editing another community's post by the same id is a different post.
	res, err := push(t.Context(), staffB, "phone", &linliv1.Mutation{Id: 1, Kind: &linliv1.Mutation_CancelPost{CancelPost: &linliv1.CancelPostMutation{PostId: "secret"}}})
	if err != nil || res.GetResults()[0].GetReason() != "post_not_found" {
		t.Fatalf("cross-community cancel = %v, %v; want REJECTED post_not_found", res, err)
	}
}

// TestSubscribe: pokes after a push, heartbeats, token-expiry warning.
func TestSubscribe(t *testing.T) {
	t.Parallel()
	h := linlitest.NewServer(t, server.Config{Heartbeat: 50 * time.Millisecond, TokenWarning: 2 * time.Second})
	h.Member(t, "u1", "c1", mutualaid.RoleResident)
	for _, name := range []string{"Connect", "GRPC"} {
		t.Run(name, func(t *testing.T) {
			tok, err := h.Tokens().Mint(server.Principal{UserID: "u1", CommunityID: "c1", Role: mutualaid.RoleResident}, 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			c := h.SyncClient(tok)
			if name == "GRPC" {
				c = h.GRPCSyncClient(tok)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			stream, err := c.Subscribe(ctx, &linliv1.SubscribeRequest{ProtocolVersion: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			seen := map[string]*linliv1.SubscribeResponse{}
			first := receive(t, stream, "poke", seen)
			if len(first.GetPoke().GetHeads()) != 2 {
				t.Fatalf("first poke = %v, want both scopes' heads", first)
			}
			pusher := h.SyncClient(tok)
			if _, err := push(ctx, pusher, "sub-"+name, offer(1, "sub-"+name)); err != nil {
				t.Fatal(err)
			}
			poke := receive(t, stream, "poke", seen)
			if len(poke.GetPoke().GetHeads()) == 0 {
				t.Fatalf("poke after push = %v", poke)
			}
			receive(t, stream, "heartbeat", seen)
			warning := receive(t, stream, "token_expiring", seen)
			if warning.GetTokenExpiring().GetExpiresAt().AsTime().Before(time.Now().Add(-time.Minute)) {
				t.Fatalf("warning = %v", warning)
			}
			for stream.Receive() {
			}
			wantError(t, stream.Err(), connect.CodeUnauthenticated, "token_expired")
		})
	}
}

// receive reads events until one of the wanted kind arrives. Events of
// other kinds are remembered in seen, so an early warning is not lost.
func receive(t *testing.T, s *connect.ServerStreamForClient[linliv1.SubscribeResponse], kind string, seen map[string]*linliv1.SubscribeResponse) *linliv1.SubscribeResponse {
	t.Helper()
	if msg, ok := seen[kind]; ok {
		delete(seen, kind)
		return msg
	}
	for s.Receive() {
		msg := s.Msg()
		got := "poke"
		switch {
		case msg.GetHeartbeat() != nil:
			got = "heartbeat"
		case msg.GetTokenExpiring() != nil:
			got = "token_expiring"
		}
		if got == kind {
			return msg
		}
		if got != "heartbeat" {
			seen[got] = msg
		}
	}
	t.Fatalf("stream ended before a %s: %v", kind, s.Err())
	return nil
}

// TestUnauthenticated: bad tokens are refused on every SyncService procedure,
// streaming included, by the real server.
func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	h := linlitest.NewServer(t, server.Config{})
	good := h.Token(t, "u1", "c1", mutualaid.RoleResident)
	keys, err := server.LoadOrCreateKeys(h.Dir)
	if err != nil {
		t.Fatal(err)
	}
	past := server.NewTokens(keys)
	past.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	expired, err := past.Mint(server.Principal{UserID: "u1", CommunityID: "c1", Role: mutualaid.RoleResident}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	for name, tok := range map[string]string{"Missing": "", "Garbage": "x.y.z", "AlgNone": none, "Expired": expired} {
		c := h.SyncClient(tok)
		_, err := push(t.Context(), c, "phone", offer(1, "p"))
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("%s push: %v, want Unauthenticated", name, err)
		}
		_, err = c.Pull(t.Context(), &linliv1.PullRequest{ProtocolVersion: 1})
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("%s pull: %v", name, err)
		}
		stream, err := c.Subscribe(t.Context(), &linliv1.SubscribeRequest{ProtocolVersion: 1})
		if err == nil {
			for stream.Receive() {
			}
			err = stream.Err()
		}
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("%s subscribe: %v", name, err)
		}
	}
	// Health is public.
	res, err := h.HTTP.Post(h.URL+"/grpc.health.v1.Health/Check", "application/json", bytes.NewReader([]byte(`{}`)))
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	_ = json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if res.StatusCode != 200 || body["status"] != "SERVING_STATUS_SERVING" {
		t.Fatalf("health = %d %v", res.StatusCode, body)
	}
}
