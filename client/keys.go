package client

import "encoding/binary"

// The client's Pebble keyspace. On-disk format: never change or reuse a
// prefix or a key.
//
//	key                               value                     written by
//	"q/" + be64(id)                   proto Mutation            Enqueue (with "m/next"); deleted once its outcome is known
//	"m/next"                          be64 next mutation id     Enqueue, gap recovery
//	"m/acked"                         be64 highest id the       Sync (with the outcomes that raise it)
//	                                  server has processed
//	"m/cursor"                        Pull cursor token         Sync, in the batch of each Pull page
//	"m/tokens"                        proto Tokens              SetTokens, token refresh
//	"o/" + be64(id)                   proto MutationResult      Sync: every outcome but a plain APPLIED
//	"e/" + scope + 0x00 + entity id   proto Entity              Sync, in the batch of each Pull page
//
// Integers are big-endian and fixed-width, so keys sort numerically.
const (
	prefixQueue   = "q/"
	prefixOutcome = "o/"
	prefixEntity  = "e/"
	keyNext       = "m/next"
	keyAcked      = "m/acked"
	keyCursor     = "m/cursor"
	keyTokens     = "m/tokens"
)

func idKey(prefix string, id uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(prefix), id)
}

func keyID(prefix string, k []byte) uint64 {
	return binary.BigEndian.Uint64(k[len(prefix):])
}

// entityKey is "e/<scope>\x00<entity id>". Scope names never hold 0x00.
func entityKey(scope, id string) []byte {
	return []byte(prefixEntity + scope + "\x00" + id)
}

// scopeBounds are the keys of one scope's entities: [lo, hi).
func scopeBounds(scope string) (lo, hi []byte) {
	return []byte(prefixEntity + scope + "\x00"), []byte(prefixEntity + scope + "\x01")
}

// prefixEnd is the first key after every key starting with prefix.
func prefixEnd(prefix string) []byte {
	b := []byte(prefix)
	b[len(b)-1]++
	return b
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
