package linlitest

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	linlisync "github.com/linli/linli/sync"
)

// State is what an app holds after syncing: scope → entity id → entity.
type State map[string]map[string]*linliv1.Entity

// Apply folds one Pull response into s as an app does: dropped and reset
// scopes are forgotten, then each change replaces its entity, or removes
// it if it is a tombstone.
func (s State) Apply(res *linliv1.PullResponse) {
	for _, sc := range res.GetDroppedScopes() {
		delete(s, sc)
	}
	for _, r := range res.GetResets() {
		delete(s, r.GetScope())
	}
	for _, ch := range res.GetChanges() {
		if ch.GetDeleted() {
			delete(s[ch.GetScope()], ch.GetEntityId())
			continue
		}
		if s[ch.GetScope()] == nil {
			s[ch.GetScope()] = map[string]*linliv1.Entity{}
		}
		s[ch.GetScope()][ch.GetEntityId()] = ch.GetEntity()
	}
}

// maxPages bounds one Sync or PullAll: a server that never stops answering
// has_more is a bug, not a workload.
const maxPages = 100_000

// Sync pulls api's caller's scopes from cursor until has_more is false,
// folding every page into s, and returns the cursor after the last page.
//
// Errors: Pull's, and a server that never stops answering has_more.
func Sync(ctx context.Context, api linliv1connect.SyncServiceClient, s State, cursor string) (string, error) {
	for range maxPages {
		res, err := api.Pull(ctx, &linliv1.PullRequest{ProtocolVersion: 1, Cursor: cursor})
		if err != nil {
			return cursor, fmt.Errorf("pull: %w", err)
		}
		s.Apply(res)
		cursor = res.GetCursor()
		if !res.GetHasMore() {
			return cursor, nil
		}
	}
	return cursor, errors.New("pull never ends: has_more on every page")
}

// PullAll pulls api's caller's scopes from cursor until has_more is false
// and returns every change of every page, in order, and the cursor after
// the last page. It fails t on any error.
func PullAll(t TB, api linliv1connect.SyncServiceClient, cursor string) ([]*linliv1.Change, string) {
	t.Helper()
	var all []*linliv1.Change
	for range maxPages {
		res, err := api.Pull(t.Context(), &linliv1.PullRequest{ProtocolVersion: 1, Cursor: cursor})
		if err != nil {
			t.Fatalf("pull: %v", err)
		}
		all = append(all, res.GetChanges()...)
		cursor = res.GetCursor()
		if !res.GetHasMore() {
			return all, cursor
		}
	}
	t.Fatalf("pull never ends: has_more on every page")
	return nil, ""
}

// ApplyPage folds one page of the engine's changes (from
// linlisync.Store.Pull or Service.Pull, whose values are deterministically
// marshalled linliv1.Entity messages) into s, as Apply does.
//
// Errors: a value that does not decode as a linliv1.Entity.
func (s State) ApplyPage(page linlisync.Page) error {
	res := &linliv1.PullResponse{DroppedScopes: page.Dropped}
	for _, r := range page.Resets {
		res.Resets = append(res.Resets, &linliv1.ScopeReset{Scope: r.Scope})
	}
	for _, c := range page.Changes {
		ch := &linliv1.Change{Scope: c.Scope, Seq: c.Seq, EntityId: c.EntityID, Deleted: c.Deleted}
		if !c.Deleted {
			ch.Entity = &linliv1.Entity{}
			if err := proto.Unmarshal(c.Value, ch.Entity); err != nil {
				return fmt.Errorf("decode %s in %s: %w", c.EntityID, c.Scope, err)
			}
		}
		res.Changes = append(res.Changes, ch)
	}
	s.Apply(res)
	return nil
}
