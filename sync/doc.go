// Package sync is linli's offline-first sync engine: a Pebble-backed,
// per-scope compacted change log with exactly-once client mutations, group
// commit, paged cursors and live head notifications.
//
// It knows nothing of mutual aid. The domain hands it mutations as Apply
// functions; an Apply reads entities through a Tx and publishes new versions
// of them, one projection per scope. The engine assigns sequence numbers,
// keeps one entry per entity per scope, writes tombstones where an entity
// stops being visible, records each mutation's outcome, and commits
// everything with one fsync per batch of concurrent pushes.
//
// Import it as linlisync: it shadows the standard library's sync.
package sync
