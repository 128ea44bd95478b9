// Package mutualaid is linli's domain behind one front door, Service:
// communities, buildings and their members; join codes and signed-in
// devices; neighbours' offers and requests for medicine and supplies,
// checked against the item catalog (package catalog) and triaged for
// emergencies (package triage); suggestions that match them; the
// contactless handoffs that carry items from one door to another; and the
// escalation of unmet needs to staff and the city hotline (package
// hotline).
//
// Open opens the service's store (the sync engine, package sync, imported
// as linlisync) with the hooks the domain needs, and Start runs its
// background jobs. The service decides who may do what (policy.go), which
// scopes see what (unit numbers and phones only where they must be), and
// hands the engine mutations and transactions as functions; the transport
// calls its methods and never holds the store. Its on-disk names are in
// namespace.go.
package mutualaid
