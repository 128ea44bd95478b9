// Package mutualaid is linli's domain: neighbours' offers and requests for
// medicine and supplies, who may see them, and the mutations that change
// them. It decides scopes and projections and hands the sync engine
// (package sync, imported as linlisync) mutations as Apply functions; it
// never touches storage directly.
//
// This slice covers posts: creating offers and requests, editing and
// cancelling one's own open post, and the per-scope views of a post.
package mutualaid
