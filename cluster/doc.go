// Package cluster runs linli as a cluster on NATS JetStream: several nodes,
// one replicated log of record, one writer at a time.
//
// Every node keeps its own Pebble store (package sync) as a read store fed
// from the log, and serves Pull, Subscribe and the staff console from it.
// One node at a time, the holder of a lease in a JetStream key-value
// bucket, is the writer: its store's single writer goroutine applies every
// push and job (domain rules, reservations, matching) into one batch per
// group as on a single node, and before the batch reaches its Pebble the
// Node appends the batch's bytes to a replicated stream (three replicas by
// default) and waits for the stream's acknowledgement, so that an
// acknowledged push is on a quorum of nodes. Every node, the writer
// included, applies the log's groups to its store in order; a node that
// lost its disk rebuilds its store from the log.
//
// Appends are fenced with Nats-Expected-Last-Subject-Sequence: the writer
// names the last entry it knows the log to hold, so an append by a writer
// that has been deposed (its lease expired while it was cut off or paused)
// fails instead of forking the log. A new writer takes the lease, appends a
// fencing mark on top of the log, applies the log up to that mark, and only
// then writes.
//
// docs/cluster.md describes the design, its failure cases and what it does
// not promise.
package cluster
