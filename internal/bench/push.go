package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"google.golang.org/protobuf/proto"
)

const (
	pushClients    = 128  // push: concurrent clients, one mutation per Push
	batchClients   = 8    // push-batch: concurrent clients…
	batchMutations = 100  // …each pushing this many mutations per Push
	benchCommunity = "c1" // in process, the community of push, push-batch and subscribers
)

// push measures durable single-mutation pushes from 128 distinct members
// against a bare Connect echo of the same request, concurrency and
// server settings.
func (b *bench) push(ctx context.Context) ([]benchResult, error) {
	b.progress("push: %d clients, 1 mutation per push, %s against the echo server, then %s against the server", pushClients, b.flags.duration, b.flags.duration)
	members, err := b.members(ctx, b.target.community, pushClients)
	if err != nil {
		return nil, err
	}
	echo, err := b.pushLoad(ctx, b.echo.baseURL, b.echoClients(pushClients), 1, false)
	if err != nil {
		return nil, fmt.Errorf("echo baseline: %w", err)
	}
	b.target.writes.start()
	run, err := b.pushLoad(ctx, b.target.baseURL, members, 1, true)
	w := b.target.writes.stop()
	if err != nil {
		return nil, err
	}
	p50, p99 := run.lat.percentile(50), run.lat.percentile(99)
	e50, e99 := echo.lat.percentile(50), echo.lat.percentile(99)
	r := newResult("push", "pushes/s", run.perSecond(1), "echo req/s", echo.perSecond(1))
	r.CPUPerOp, r.BaselineCPUPerOp, r.BytesPerOp = cpuPer(run.cpu, run.ops), cpuPer(echo.cpu, echo.ops), w.bytesPer()
	r.Notes = fmt.Sprintf("%d clients, durable; p50 %s, p99 %s (echo p50 %s, p99 %s)%s", pushClients, fmtMS(p50), fmtMS(p99), fmtMS(e50), fmtMS(e99), w.note())
	r.Extra["p50_ms"], r.Extra["p99_ms"] = ms(p50), ms(p99)
	r.Extra["baseline_p50_ms"], r.Extra["baseline_p99_ms"] = ms(e50), ms(e99)
	r.Extra["pushes"], r.Extra["request_bytes"] = float64(run.ops), float64(proto.Size(newPushSample(1)))
	return []benchResult{r}, nil
}

// pushBatch measures mutations per second when 8 clients push 100
// mutations at a time, against raw Pebble commits of 100 values of the
// same size from 8 goroutines.
func (b *bench) pushBatch(ctx context.Context) ([]benchResult, error) {
	b.progress("push-batch: %d clients × %d mutations per push, %s against raw Pebble, then %s against the server", batchClients, batchMutations, b.flags.duration, b.flags.duration)
	value, err := proto.Marshal(offerMutation(1, "bench-00000000-batch0-1"))
	if err != nil {
		return nil, err
	}
	raw, err := pebbleCommits(ctx, batchClients, batchMutations, value, b.flags.duration)
	if err != nil {
		return nil, fmt.Errorf("pebble baseline: %w", err)
	}
	members, err := b.members(ctx, b.target.community, batchClients)
	if err != nil {
		return nil, err
	}
	b.target.writes.start()
	run, err := b.pushLoad(ctx, b.target.baseURL, members, batchMutations, true)
	w := b.target.writes.stop()
	if err != nil {
		return nil, err
	}
	p50, p99 := run.lat.percentile(50), run.lat.percentile(99)
	r := newResult("push-batch", "mutations/s", run.perSecond(batchMutations), "Pebble values/s", raw.perSecond(batchMutations))
	r.CPUPerOp, r.BaselineCPUPerOp, r.BytesPerOp = cpuPer(run.cpu, run.ops*batchMutations), cpuPer(raw.cpu, raw.ops*batchMutations), w.bytesPer()
	r.Notes = fmt.Sprintf("%d clients × %d mutations/push; push p50 %s, p99 %s; Pebble: Sync commits of %d × %d-byte values%s",
		batchClients, batchMutations, fmtMS(p50), fmtMS(p99), batchMutations, len(value), w.note())
	r.Extra["push_p50_ms"], r.Extra["push_p99_ms"] = ms(p50), ms(p99)
	r.Extra["value_bytes"] = float64(len(value))
	r.Extra["baseline_commit_p50_ms"] = ms(raw.lat.percentile(50))
	return []benchResult{r}, nil
}

// newPushSample is a request the size of the bench's pushes of n mutations.
func newPushSample(n int) proto.Message {
	c := &pushClient{user: "bench-00000000-push0", next: 1}
	return c.request(n)
}

// pushLoad runs one worker per client, each pushing n offers per call to
// baseURL for the scenario's duration. With check, every mutation must
// come back applied.
func (b *bench) pushLoad(ctx context.Context, baseURL string, users []*pushClient, n int, check bool) (loadRun, error) {
	tr := newBenchTransport(b.flags.protocol)
	defer tr.CloseIdleConnections()
	sc := newSyncClient(&http.Client{Transport: tr}, baseURL)
	return runLoad(ctx, len(users), b.flags.duration, func(ctx context.Context, w int) error {
		c := users[w]
		if check {
			return c.push(ctx, sc, n)
		}
		_, err := sc.Push(ctx, c.token, c.request(n))
		return err
	})
}

// pebbleCommits commits batches of `values` copies of value with
// pebble.Sync from `workers` goroutines for d, in a temporary folder.
func pebbleCommits(ctx context.Context, workers, values int, value []byte, d time.Duration) (run loadRun, err error) {
	dir, err := os.MkdirTemp("", "linli-bench-pebble-")
	if err != nil {
		return loadRun{}, err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
	p, err := openBenchPebble(dir)
	if err != nil {
		return loadRun{}, err
	}
	defer func() { err = errors.Join(err, p.close()) }()
	next := make([]uint64, workers)
	return runLoad(ctx, workers, d, func(_ context.Context, w int) error {
		batch := p.db.NewBatch()
		defer batch.Close()
		for range values {
			key := binary.BigEndian.AppendUint64([]byte{'L', byte(w)}, next[w])
			next[w]++
			if err := batch.Set(key, value, nil); err != nil {
				return err
			}
		}
		return batch.Commit(pebble.Sync)
	})
}
