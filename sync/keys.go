package sync

import (
	"encoding/binary"
	"strings"
)

// The keyspace. ON-DISK FORMAT: never change or reuse a prefix or a layout.
// Integers are big-endian fixed width so that keys sort numerically.
// Names (users, clients, scopes, entity ids) never contain 0x00, which
// separates them. Every key below is written only by the writer goroutine,
// except 'M' epoch, written by Open (first start) and by Restore (a new epoch,
// so that cursors from before the backup reset); every multi-key change is
// one batch.
//
//	prefix  key                                     value                                        meaning
//	'M'     M "epoch"                               16 random bytes                              store epoch; new on restore (a cluster's: Options.Epoch)
//	'M'     M "replica"                             pos:u64                                      with a Replica: the log position the store holds (written with each group)
//	'C'     C user 0x00 client                      clientRecord                                 last id, seq of its state in user scope, recent outcomes
//	'R'     R user 0x00 client 0x00 id:u64          outcomes record                              outcomes of ids from id on (a push's); those of the last KeptOutcomes ids kept
//	'E'     E entityID                              entityRecord                                 canonical value + placements per scope (not for client states)
//	'H'     H scope                                 head:u64 lwm:u64                             scope's newest seq and low-water mark
//	'L'     L scope 0x00 seq:u64                    logEntry                                     the scope's compacted change log
//	'T'     T unixMilli:u64 scope 0x00 seq:u64      empty                                        tombstones by age, for dropping them
const (
	prefixMeta      byte = 'M'
	prefixClient    byte = 'C'
	prefixResult    byte = 'R'
	prefixEntity    byte = 'E'
	prefixHead      byte = 'H'
	prefixLog       byte = 'L'
	prefixTombstone byte = 'T'
)

const sep = 0x00

var (
	keyEpoch   = []byte{prefixMeta, 'e', 'p', 'o', 'c', 'h'}
	keyReplica = []byte{prefixMeta, 'r', 'e', 'p', 'l', 'i', 'c', 'a'}
)

func clientKey(c ClientID) []byte {
	k := make([]byte, 0, 2+len(c.User)+len(c.Client))
	k = append(k, prefixClient)
	k = append(k, c.User...)
	k = append(k, sep)
	return append(k, c.Client...)
}

// resultPrefix is the key prefix of all of one client's outcome records.
func resultPrefix(c ClientID) []byte {
	k := resultKey(c, 0)
	return k[:len(k)-8]
}

func resultKey(c ClientID, id uint64) []byte {
	k := make([]byte, 0, 11+len(c.User)+len(c.Client))
	k = append(k, prefixResult)
	k = append(k, c.User...)
	k = append(k, sep)
	k = append(k, c.Client...)
	k = append(k, sep)
	return binary.BigEndian.AppendUint64(k, id)
}

func entityKey(id string) []byte {
	return append([]byte{prefixEntity}, id...)
}

func headKey(scope string) []byte {
	return append([]byte{prefixHead}, scope...)
}

// logPrefix is the key prefix of all of one scope's log entries.
func logPrefix(scope string) []byte {
	k := make([]byte, 0, 2+len(scope)+8)
	k = append(k, prefixLog)
	k = append(k, scope...)
	return append(k, sep)
}

func logKey(scope string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(logPrefix(scope), seq)
}

func tombstoneKey(atMilli uint64, scope string, seq uint64) []byte {
	k := make([]byte, 0, 18+len(scope))
	k = append(k, prefixTombstone)
	k = binary.BigEndian.AppendUint64(k, atMilli)
	k = append(k, scope...)
	k = append(k, sep)
	return binary.BigEndian.AppendUint64(k, seq)
}

// parseTombstoneKey is the inverse of tombstoneKey.
func parseTombstoneKey(k []byte) (atMilli uint64, scope string, seq uint64, ok bool) {
	if len(k) < 18 || k[0] != prefixTombstone || k[len(k)-9] != sep {
		return 0, "", 0, false
	}
	atMilli = binary.BigEndian.Uint64(k[1:9])
	scope = string(k[9 : len(k)-9])
	seq = binary.BigEndian.Uint64(k[len(k)-8:])
	return atMilli, scope, seq, true
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// MaxNameLen bounds users, clients, scopes and entity ids.
const MaxNameLen = 200

// validName reports whether s may be used as a key component.
func validName(s string) bool {
	return s != "" && len(s) <= MaxNameLen && !strings.ContainsRune(s, sep)
}
