package sync

import (
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

// pebbleOptions are the Pebble settings of a store. Bloom filters on every
// level spare the writer disk reads for the many keys it looks up and
// finds absent (a new post's id, a new client); a large memtable folds
// rewritten log entries and client states away before they are flushed.
func pebbleOptions(opts Options, cache *pebble.Cache, log *slog.Logger) *pebble.Options {
	po := &pebble.Options{
		FS:           opts.FS,
		Cache:        cache,
		MemTableSize: uint64(opts.MemTableSize),
		Logger:       pebbleLogger{log.With("component", "pebble")},
		// Pebble's default stops the process on a damaged file; the
		// read that met it fails instead (IsCorruption), and the server
		// answers DATA_LOSS while serving what is intact.
		EventListener: corruptionListener(log),
	}
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	return po
}

// pebbleLogger routes Pebble's logs to slog.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...))
	panic(fmt.Sprintf(format, args...))
}
