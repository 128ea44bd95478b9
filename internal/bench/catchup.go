package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"google.golang.org/protobuf/proto"

	"github.com/linli/linli/client"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

const (
	catchupLoaders   = 4     // clients loading the community, untimed
	catchupBatch     = 500   // mutations per loading push (the protocol's maximum)
	catchupPageLimit = 10000 // max_changes of each Pull (the protocol's maximum)
)

// catchup loads --catchup-entities posts into a community of their own
// (untimed), then times a member's device catching up from an empty store
// through package client — Pull until has_more is false, each page written
// durably into the client's Pebble store — against a raw Pebble scan of as
// many keys of the same value size. One wire-only catch-up (pages decoded
// and dropped) is timed too, for the notes. With
// --addr the bench cannot create a community: it loads the join code's,
// whose feed also holds what was there before.
func (b *bench) catchup(ctx context.Context) ([]benchResult, error) {
	n := b.flags.catchupEntities
	// Fresh in process, so that the feed holds little but the loaded posts
	// (and the community, its building, the reader's own membership).
	community, err := b.target.newCommunity(ctx, "bench-"+b.runID)
	if err != nil {
		return nil, err
	}
	members, err := b.members(ctx, community, catchupLoaders+1)
	if err != nil {
		return nil, err
	}
	loaders, reader := members[:catchupLoaders], members[catchupLoaders]
	b.progress("catchup: loading %d posts into community/%s (untimed)", n, community)
	tr := newBenchTransport(b.flags.protocol)
	defer tr.CloseIdleConnections()
	sc := newSyncClient(&http.Client{Transport: tr}, b.target.baseURL)
	start := time.Now()
	if err := loadCommunity(ctx, sc, loaders, n); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	load := time.Since(start)
	b.progress("catchup: loaded in %s (%s mutations/s)", load.Round(time.Millisecond), humanNumber(float64(n)/load.Seconds()))
	settled, err := b.target.settle(ctx)
	if err != nil {
		return nil, err
	}
	b.progress("catchup: compactions settled in %s; pulling for %s", settled.Round(time.Millisecond), b.flags.duration)

	// One wire-only catch-up: what the server and the wire cost alone. It
	// also yields a post as stored, for the baseline.
	t0 := time.Now()
	wireChanges, wirePages, value, err := catchupOnce(ctx, sc, reader.token)
	if err != nil {
		return nil, err
	}
	wire := time.Since(t0)
	if wireChanges < n {
		return nil, fmt.Errorf("catch-up from an empty cursor returned %d changes, want at least %d", wireChanges, n)
	}
	var (
		changes, pages, rounds int
		elapsed, cpu           time.Duration
	)
	for rounds == 0 || elapsed < b.flags.duration {
		got, p, d, c, err := catchupClient(ctx, &http.Client{Transport: tr}, b.target.baseURL, reader.token)
		if err != nil {
			return nil, err
		}
		elapsed, cpu = elapsed+d, cpu+c
		changes, pages = changes+got, pages+p
		rounds++
		if got < n {
			return nil, fmt.Errorf("client catch-up from an empty store received %d changes, want at least %d", got, n)
		}
	}
	b.progress("catchup: %d full catch-ups through package client; raw Pebble scan of %d keys × %d bytes for %s", rounds, n, len(value), b.flags.duration)
	raw, rawCPU, err := pebbleScan(ctx, n, value, b.flags.duration)
	if err != nil {
		return nil, fmt.Errorf("pebble baseline: %w", err)
	}
	per := elapsed / time.Duration(rounds)
	r := newResult("catchup", "changes/s", float64(changes)/elapsed.Seconds(), "Pebble keys/s", raw)
	r.CPUPerOp, r.BaselineCPUPerOp = cpuPer(cpu, changes), rawCPU
	r.Notes = fmt.Sprintf("through package client, pages written to its local store: %d changes (%d posts loaded) in %d page(s) of ≤%d; one catch-up %s; %d-byte entities; wire only (pages decoded, not stored): %d changes in %d page(s), %s, %s changes/s",
		changes/rounds, n, pages/rounds, catchupPageLimit, fmtMS(per), len(value),
		wireChanges, wirePages, fmtMS(wire), humanNumber(float64(wireChanges)/wire.Seconds()))
	r.Extra["catchup_ms"], r.Extra["rounds"], r.Extra["load_s"], r.Extra["settle_s"] = ms(per), float64(rounds), load.Seconds(), settled.Seconds()
	r.Extra["value_bytes"], r.Extra["changes"] = float64(len(value)), float64(changes/rounds)
	r.Extra["wire_catchup_ms"], r.Extra["wire_changes_per_s"] = ms(wire), float64(wireChanges)/wire.Seconds()
	return []benchResult{r}, nil
}

// loadCommunity pushes n offers from loaders in batches of catchupBatch.
func loadCommunity(ctx context.Context, sc *syncClient, loaders []*pushClient, n int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		left atomic.Int64
		wg   gosync.WaitGroup
	)
	left.Store(int64(n))
	for _, c := range loaders {
		wg.Go(func() {
			for ctx.Err() == nil {
				k := min(left.Add(-catchupBatch)+catchupBatch, catchupBatch)
				if k <= 0 {
					return
				}
				if err := c.push(ctx, sc, int(k)); err != nil {
					cancel(err)
				}
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

// catchupClient opens a client.Client with an empty store in a temporary
// folder (untimed) and times its Pull: pages until has_more is false, each
// applied with its cursor in one fsynced batch. It returns the changes and
// pages stored, as the client reports them, and the time.
func catchupClient(ctx context.Context, hc *http.Client, baseURL, token string) (changes, pages int, took, cpu time.Duration, err error) {
	dir, err := os.MkdirTemp("", "linli-bench-client-")
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
	c, err := client.Open(filepath.Join(dir, "store"), client.Config{
		BaseURL: baseURL, HTTPClient: hc, ClientID: benchClientID, Logger: slog.New(slog.DiscardHandler),
		AccessToken: func(context.Context) (string, error) { return token, nil },
		PageSize:    catchupPageLimit, MaxAttempts: 1,
		ClientOptions: slices.Clone(benchClientOptions),
		OnPage:        func(p client.PullProgress) { changes, pages = p.Changes, p.Pages },
	})
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer func() { err = errors.Join(err, c.Close()) }()
	cpu0, t0 := processCPU(), time.Now()
	if err := c.Pull(ctx); err != nil {
		return 0, 0, 0, 0, fmt.Errorf("client pull: %w", err)
	}
	return changes, pages, time.Since(t0), processCPU() - cpu0, nil
}

// catchupOnce pulls a member's feed from an empty cursor to its end.
// It returns the number of changes and pages, and one post as stored.
func catchupOnce(ctx context.Context, sc *syncClient, token string) (changes, pages int, sample []byte, err error) {
	var cursor string
	for {
		resp, err := sc.Pull(ctx, token, &linliv1.PullRequest{
			ProtocolVersion: 1, Cursor: cursor, MaxChanges: catchupPageLimit, MaxBytes: 16 << 20,
		})
		if err != nil {
			return 0, 0, nil, fmt.Errorf("pull page %d: %w", pages+1, err)
		}
		pages++
		changes += len(resp.GetChanges())
		if sample == nil {
			if i := slices.IndexFunc(resp.GetChanges(), func(c *linliv1.Change) bool { return c.GetEntity().GetPost() != nil }); i >= 0 {
				if sample, err = proto.Marshal(resp.GetChanges()[i].GetEntity()); err != nil {
					return 0, 0, nil, err
				}
			}
		}
		cursor = resp.GetCursor()
		if !resp.GetHasMore() {
			return changes, pages, sample, nil
		}
		if len(resp.GetChanges()) == 0 {
			return 0, 0, nil, errors.New("pull: has_more with an empty page")
		}
	}
}

// pebbleScan writes n keys holding value into a fresh database, flushes
// them to tables, and scans them all over and over for d. It returns keys
// scanned per second.
func pebbleScan(ctx context.Context, n int, value []byte, d time.Duration) (perSec float64, cpuPerKey *float64, err error) {
	dir, err := os.MkdirTemp("", "linli-bench-pebble-")
	if err != nil {
		return 0, nil, err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
	p, err := openBenchPebble(dir)
	if err != nil {
		return 0, nil, err
	}
	defer func() { err = errors.Join(err, p.close()) }()
	prefix := []byte("Lcommunity/c1\x00")
	for i := 0; i < n; i += 1000 {
		batch := p.db.NewBatch()
		for j := i; j < min(i+1000, n); j++ {
			if err := batch.Set(binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), uint64(j+1)), value, nil); err != nil {
				batch.Close()
				return 0, nil, err
			}
		}
		if err := batch.Commit(pebble.NoSync); err != nil {
			return 0, nil, err
		}
	}
	if err := p.db.Flush(); err != nil {
		return 0, nil, err
	}
	if _, err := settleCompactions(ctx, p.metrics, 30*time.Second); err != nil {
		return 0, nil, err
	}
	var keys int
	var elapsed time.Duration
	cpu0 := processCPU()
	for rounds := 0; rounds == 0 || elapsed < d; rounds++ {
		if err := ctx.Err(); err != nil {
			return 0, nil, err
		}
		t0 := time.Now()
		got, err := scanAll(p.db, prefix)
		if err != nil {
			return 0, nil, err
		}
		elapsed += time.Since(t0)
		if got != n {
			return 0, nil, fmt.Errorf("scanned %d keys, want %d", got, n)
		}
		keys += got
	}
	return float64(keys) / elapsed.Seconds(), cpuPer(processCPU()-cpu0, keys), nil
}

// scanAll iterates every key under prefix, reading each value as the
// engine's Pull does (a copy of it).
func scanAll(db *pebble.DB, prefix []byte) (int, error) {
	upper := append([]byte(nil), prefix...)
	upper[len(upper)-1]++
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
	if err != nil {
		return 0, err
	}
	n := 0
	var buf []byte
	for it.First(); it.Valid(); it.Next() {
		buf = append(buf[:0], it.Value()...)
		n++
	}
	return n, it.Close()
}
