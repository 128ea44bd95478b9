package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// Pull page limits.
const (
	defaultMaxChanges = 1000
	maxMaxChanges     = 10_000
	defaultMaxBytes   = 4 << 20
	maxMaxBytes       = 16 << 20
)

var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// syncHandler serves SyncService over the engine.
type syncHandler struct {
	svc     *mutualaid.Service
	members members
	pushes  *limiter // per member
	log     *slog.Logger
	now     func() time.Time
	beat    time.Duration // heartbeat interval
	warn    time.Duration // token-expiry warning lead
	// stopping is closed when the server begins to shut down: streams end.
	stopping <-chan struct{}
}

// Push validates the whole batch first (nothing is applied if any mutation
// is malformed), then hands it to the engine.
func (h *syncHandler) Push(ctx context.Context, req *linliv1.PushRequest) (*linliv1.PushResponse, error) {
	c, err := h.members.call(ctx, req.GetProtocolVersion(), "Push")
	if err != nil {
		return nil, err
	}
	if err := h.pushes.check(c.CommunityID + "/" + c.UserID); err != nil {
		return nil, err
	}
	muts, err := h.pushMutations(c, req)
	if err != nil {
		return nil, toConnect(ctx, h.log, "Push", err)
	}
	results, last, err := h.svc.Push(ctx, linlisync.ClientID{User: c.UserID, Client: req.GetClientId()}, muts)
	if err != nil {
		return nil, toConnect(ctx, h.log, "Push", err)
	}
	out := &linliv1.PushResponse{LastMutationId: last, Results: make([]*linliv1.MutationResult, len(results))}
	for i, r := range results {
		out.Results[i] = mutualaid.MutationResult(r)
	}
	return out, nil
}

func (h *syncHandler) pushMutations(c caller, req *linliv1.PushRequest) ([]linlisync.Mutation, error) {
	if !clientIDPattern.MatchString(req.GetClientId()) {
		return nil, invalid("client_id_invalid", "client_id", "client_id must be 1 to 64 of A-Z a-z 0-9 _ -")
	}
	if c.ClientID != "" && c.ClientID != req.GetClientId() {
		return nil, newError(connect.CodePermissionDenied, "this token belongs to another device",
			&linliv1.ErrorDetail{Reason: "client_mismatch", Field: "client_id"})
	}
	n := len(req.GetMutations())
	if n == 0 || n > mutualaid.MaxMutationsPerPush {
		return nil, invalid("batch_size_out_of_range", "mutations",
			fmt.Sprintf("a push carries 1 to %d mutations", mutualaid.MaxMutationsPerPush))
	}
	last, err := h.svc.LastMutationID(linlisync.ClientID{User: c.UserID, Client: req.GetClientId()})
	if err != nil {
		return nil, err
	}
	muts := make([]linlisync.Mutation, n)
	first := req.GetMutations()[0].GetId()
	for i, m := range req.GetMutations() {
		field := fmt.Sprintf("mutations[%d]", i)
		if m.GetId() == 0 || m.GetId() != first+uint64(i) {
			return nil, invalid("mutation_ids_not_consecutive", field+".id", "mutation ids must start at 1 or more and grow by 1")
		}
		if m.GetId() <= last {
			// Processed already: the engine answers with the stored outcome
			// and never applies it, so rules that depend on the clock or the
			// member's role now must not refuse the resend.
			muts[i] = alreadyProcessed(m.GetId())
			continue
		}
		mut, err := h.svc.Mutation(c.domain(), m)
		if err != nil {
			return nil, prefixField(err, field)
		}
		muts[i] = mut
	}
	return muts, nil
}

// alreadyProcessed stands for a resent mutation the engine will answer
// from its stored outcome.
func alreadyProcessed(id uint64) linlisync.Mutation {
	return linlisync.Mutation{ID: id, Name: "resend", Apply: func(*linlisync.Tx) error {
		return errors.New("server: a processed mutation reached Apply")
	}}
}

// prefixField places a domain error's field inside the request.
func prefixField(err error, prefix string) error {
	if e, ok := err.(*mutualaid.Error); ok && e.Field != "" {
		c := *e
		c.Field = prefix + "." + e.Field
		return &c
	}
	return err
}

// Pull serves one page of the caller's scopes.
func (h *syncHandler) Pull(ctx context.Context, req *linliv1.PullRequest) (*linliv1.PullResponse, error) {
	if err := checkVersion(req.GetProtocolVersion()); err != nil {
		return nil, err
	}
	c, err := h.members.current(ctx)
	cur, cerr := linlisync.DecodeCursor(req.GetCursor())
	if errors.Is(err, mutualaid.ErrMemberRemoved) && cerr == nil && len(cur.Seqs) > 0 {
		return droppedEverything(cur), nil
	}
	if err != nil {
		return nil, toConnect(ctx, h.log, "Pull", err)
	}
	if cerr != nil {
		return nil, toConnect(ctx, h.log, "Pull", cerr)
	}
	lim, err := pullLimits(req)
	if err != nil {
		return nil, err
	}
	changes := borrowPage()
	page, err := h.svc.PullEach(ctx, c.scopes(), cur, lim, func(ch linlisync.Change) error {
		*changes = appendChange(*changes, ch)
		return nil
	})
	if err != nil {
		*changes = (*changes)[:0]
		lendPage(changes) // back to the pool
		return nil, toConnect(ctx, h.log, "Pull", err)
	}
	res := pageResponse(page, *changes)
	lendPage(changes)
	return res, nil
}

// droppedEverything answers a removed member's Pull with a non-empty
// cursor: every scope of the cursor is dropped and the cursor given back is
// empty, so the app clears what it held. A retry with the same old cursor
// (the answer was lost) gets the same answer; a Pull with the empty cursor,
// and every other call, is refused with member_removed.
func droppedEverything(cur linlisync.Cursor) *linliv1.PullResponse {
	return &linliv1.PullResponse{DroppedScopes: slices.Sorted(maps.Keys(cur.Seqs))}
}

func pullLimits(req *linliv1.PullRequest) (linlisync.Limits, error) {
	lim := linlisync.Limits{MaxChanges: int(req.GetMaxChanges()), MaxBytes: int(req.GetMaxBytes())}
	if lim.MaxChanges == 0 {
		lim.MaxChanges = defaultMaxChanges
	}
	if lim.MaxBytes == 0 {
		lim.MaxBytes = defaultMaxBytes
	}
	if lim.MaxChanges > maxMaxChanges {
		return lim, invalid("max_changes_out_of_range", "max_changes", fmt.Sprintf("max_changes is at most %d", maxMaxChanges))
	}
	if lim.MaxBytes > maxMaxBytes {
		return lim, invalid("max_bytes_out_of_range", "max_bytes", fmt.Sprintf("max_bytes is at most %d", maxMaxBytes))
	}
	return lim, nil
}

// Subscribe pokes the caller with the heads of its scopes whenever they
// move, sends heartbeats, warns before the token expires, and ends the
// stream when it does. At every heartbeat it re-reads the caller's
// membership: a removed member's stream ends, and a changed set of scopes
// is followed (with a poke of all the new heads).
func (h *syncHandler) Subscribe(ctx context.Context, req *linliv1.SubscribeRequest, stream *connect.ServerStream[linliv1.SubscribeResponse]) error {
	if err := checkVersion(req.GetProtocolVersion()); err != nil {
		return err
	}
	var (
		c   caller
		err error
		w   = &watch{h: h}
	)
	onOwnStack(func() {
		if c, err = h.members.current(ctx); err != nil {
			return
		}
		w.scopes = c.scopes()
		w.sub, err = h.svc.Subscribe(w.scopes)
	})
	if err != nil {
		return toConnect(ctx, h.log, "Subscribe", err)
	}
	defer func() { w.sub.Close() }()
	return w.run(ctx, c.Principal, stream)
}

// onOwnStack runs fn on a goroutine of its own and waits for it. A stream
// handler's goroutine lives as long as its stream, with the stack its
// deepest call ever needed: reading the store (Pebble's calls are deep)
// on a short-lived goroutine instead keeps each open Subscribe stream's
// stack at the few kilobytes its waiting loop needs.
func onOwnStack(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

// watch is one Subscribe stream's state.
type watch struct {
	h      *syncHandler
	scopes []string
	sub    *linlisync.Subscription
}

func (w *watch) run(ctx context.Context, p Principal, stream *connect.ServerStream[linliv1.SubscribeResponse]) error {
	beat := time.NewTicker(w.h.beat)
	defer beat.Stop()
	warnAt, expire := w.h.expiryTimers(p)
	defer warnAt.Stop()
	defer expire.Stop()
	for {
		var msg *linliv1.SubscribeResponse
		select {
		case <-ctx.Done():
			return nil
		case <-w.h.stopping:
			return newError(connect.CodeUnavailable, "server is shutting down", &linliv1.ErrorDetail{Reason: "shutting_down"})
		case _, ok := <-w.sub.Ready():
			heads, open := w.sub.Take()
			if !ok || !open {
				return newError(connect.CodeUnavailable, "server is shutting down", &linliv1.ErrorDetail{Reason: "shutting_down"})
			}
			if len(heads) == 0 {
				continue
			}
			msg = pokeMessage(heads)
		case <-beat.C:
			if err := w.recheck(ctx); err != nil {
				return err
			}
			msg = &linliv1.SubscribeResponse{Event: &linliv1.SubscribeResponse_Heartbeat{Heartbeat: &linliv1.Heartbeat{Time: timestamppb.New(w.h.now())}}}
		case <-warnAt.C:
			msg = &linliv1.SubscribeResponse{Event: &linliv1.SubscribeResponse_TokenExpiring{TokenExpiring: &linliv1.TokenExpiring{ExpiresAt: timestamppb.New(p.ExpiresAt)}}}
		case <-expire.C:
			return newError(connect.CodeUnauthenticated, "token expired", &linliv1.ErrorDetail{Reason: "token_expired"})
		}
		if err := stream.Send(msg); err != nil {
			return nil // the client went away
		}
	}
}

// recheck re-reads the membership and follows a change of scopes.
func (w *watch) recheck(ctx context.Context) error {
	var (
		c   caller
		err error
	)
	onOwnStack(func() { c, err = w.h.members.current(ctx) })
	if err != nil {
		return toConnect(ctx, w.h.log, "Subscribe", err)
	}
	scopes := c.scopes()
	if slices.Equal(scopes, w.scopes) {
		return nil
	}
	var sub *linlisync.Subscription
	onOwnStack(func() { sub, err = w.h.svc.Subscribe(scopes) })
	if err != nil {
		return toConnect(ctx, w.h.log, "Subscribe", err)
	}
	w.sub.Close()
	w.sub, w.scopes = sub, scopes
	return nil
}

// expiryTimers fire warn before the token expires and expire when it does.
func (h *syncHandler) expiryTimers(p Principal) (warn, expire *time.Timer) {
	left := p.ExpiresAt.Sub(h.now())
	return time.NewTimer(max(left-h.warn, 0)), time.NewTimer(max(left, 0))
}

func pokeMessage(heads map[string]uint64) *linliv1.SubscribeResponse {
	poke := &linliv1.Poke{}
	for _, sc := range slices.Sorted(maps.Keys(heads)) {
		poke.Heads = append(poke.Heads, &linliv1.ScopeHead{Scope: sc, Seq: heads[sc]})
	}
	return &linliv1.SubscribeResponse{Event: &linliv1.SubscribeResponse_Poke{Poke: poke}}
}
