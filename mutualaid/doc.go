// Package mutualaid is linli's domain: communities, buildings and their
// members; join codes and signed-in devices; neighbours' offers and requests
// for medicine and supplies, checked against the item catalog and triaged
// for emergencies; suggestions that match them; and the contactless
// handoffs that carry items from one door to another. It decides who may do
// what, which scopes see what (unit numbers and phones only where they must
// be), and hands the sync engine (package sync, imported as linlisync)
// mutations and transactions as functions; it never touches storage
// directly.
package mutualaid
