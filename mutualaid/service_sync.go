package mutualaid

import (
	"context"

	"github.com/cockroachdb/pebble/v2"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// The sync engine's operations, as the service offers them: the transport
// syncs clients through these and never holds the store. The domain adds
// what it decides (Mutation; the scopes a member reads are MemberScopes).

// Mutation turns a client's mutation, pushed by member, into the engine's,
// judged by the service's clock: see NewMutationAt, whose errors it
// returns.
//
// REQUIRES: member.UserID and member.CommunityID non-empty, and member is
// the user of the client that pushes the mutation.
func (s *Service) Mutation(member Member, m *linliv1.Mutation) (linlisync.Mutation, error) {
	return NewMutationAt(member, m, s.now())
}

// Push applies a client's mutations exactly once and durably: see
// linlisync.Store.Push, whose results and errors it returns.
func (s *Service) Push(ctx context.Context, client linlisync.ClientID, muts []linlisync.Mutation) ([]linlisync.Result, uint64, error) {
	return s.store.Push(ctx, client, muts)
}

// LastMutationID returns the id of client's last processed mutation (0 if
// none): see linlisync.Store.LastMutationID.
func (s *Service) LastMutationID(client linlisync.ClientID) (uint64, error) {
	return s.store.LastMutationID(client)
}

// Pull returns one page of the changes of scopes after cur: see
// linlisync.Store.Pull, whose page and errors it returns.
func (s *Service) Pull(ctx context.Context, scopes []string, cur linlisync.Cursor, lim linlisync.Limits) (linlisync.Page, error) {
	return s.store.Pull(ctx, scopes, cur, lim)
}

// PullEach is Pull handing each change to fn: see
// linlisync.Store.PullEach.
func (s *Service) PullEach(ctx context.Context, scopes []string, cur linlisync.Cursor, lim linlisync.Limits, fn func(linlisync.Change) error) (linlisync.Page, error) {
	return s.store.PullEach(ctx, scopes, cur, lim, fn)
}

// Subscribe watches the heads of scopes: see linlisync.Store.Subscribe.
// The caller closes the subscription.
func (s *Service) Subscribe(scopes []string) (*linlisync.Subscription, error) {
	return s.store.Subscribe(scopes)
}

// Backup writes a consistent copy of the store into the new folder dir:
// see linlisync.Store.Backup, whose errors it returns.
func (s *Service) Backup(ctx context.Context, dir string) error { return s.store.Backup(ctx, dir) }

// Epoch identifies the store's history (new after a restore).
func (s *Service) Epoch() [16]byte { return s.store.Epoch() }

// Ping reports whether the store answers a trivial read, for readiness:
// see linlisync.Store.Ping.
func (s *Service) Ping() error { return s.store.Ping() }

// LogStats summarises the scope logs, for metrics: see
// linlisync.Store.LogStats.
func (s *Service) LogStats() linlisync.LogStats { return s.store.LogStats() }

// Subscribers is the number of open subscriptions, for metrics.
func (s *Service) Subscribers() int { return s.store.Subscribers() }

// DiskStatus reads the store's free disk space and reports whether writes
// are refused for want of it: see linlisync.Store.DiskStatus.
func (s *Service) DiskStatus() linlisync.DiskStatus { return s.store.DiskStatus() }

// DBMetrics returns Pebble's metrics, for metrics and for letting
// compactions settle in benchmarks: see linlisync.Store.DBMetrics.
func (s *Service) DBMetrics() (*pebble.Metrics, error) { return s.store.DBMetrics() }

// ApplyReplicated applies groups from a cluster's log to the store: see
// linlisync.Store.ApplyReplicated, whose errors it returns.
func (s *Service) ApplyReplicated(ctx context.Context, groups []linlisync.Replicated) error {
	return s.store.ApplyReplicated(ctx, groups)
}

// ReplicaPosition is the log position the store holds, in a cluster: see
// linlisync.Store.ReplicaPosition.
func (s *Service) ReplicaPosition() uint64 { return s.store.ReplicaPosition() }

// WaitReplicaPosition waits until the store holds the log up to pos: see
// linlisync.Store.WaitReplicaPosition.
func (s *Service) WaitReplicaPosition(ctx context.Context, pos uint64) error {
	return s.store.WaitReplicaPosition(ctx, pos)
}

// Digest is a SHA-256 of the store's durable view and the log position it
// is as of: see linlisync.Store.Digest.
func (s *Service) Digest(ctx context.Context) ([32]byte, uint64, error) { return s.store.Digest(ctx) }
