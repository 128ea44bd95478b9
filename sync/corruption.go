package sync

import (
	"errors"
	"log/slog"

	crdberrors "github.com/cockroachdb/errors"
	"github.com/cockroachdb/pebble/v2"
)

// IsCorruption reports whether err says that stored data cannot be trusted:
// a record this build cannot decode (ErrCorrupt), or a Pebble file whose
// checksums or structure are wrong (pebble.ErrCorruption, which Pebble marks
// on the errors it returns from reads, iterators and the WAL). Such errors
// are not retried away: the operator must look at the store (linli admin
// check) or restore a backup.
func IsCorruption(err error) bool {
	// Pebble marks its corruption errors with cockroachdb/errors, whose
	// marks only its own Is recognizes.
	return errors.Is(err, ErrCorrupt) || crdberrors.Is(err, pebble.ErrCorruption)
}

// corruptionListener logs the damaged files Pebble meets, as "data
// corruption" with the file and the damaged key range, and lets the read
// that met it fail with an error marked pebble.ErrCorruption.
func corruptionListener(log *slog.Logger) *pebble.EventListener {
	return &pebble.EventListener{DataCorruption: func(info pebble.DataCorruptionInfo) {
		log.Error("data corruption", "file", info.Path, "bounds", info.Bounds.String(), "err", info.Details.Error())
	}}
}
