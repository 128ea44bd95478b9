// Package catalog is linli's item catalog: the medicines and supplies
// neighbours offer and request, with Chinese and English names, synonyms
// (美林 = 布洛芬混悬液 = ibuprofen suspension), a category (the unit of
// substitution when matching, and what a hotline case's service code comes
// from), and the flags the domain's rules read (medicine, child-safe,
// prescription, youngest age). The catalog shipped with the binary is
// catalog.json, embedded; Default parses it once.
//
// It depends on nothing of linli: neither the store nor the protocol.
package catalog
