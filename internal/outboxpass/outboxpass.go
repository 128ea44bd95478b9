// Package outboxpass runs one pass over an outbox's due entries, sending
// up to a bound of them at once. linli's outboxes (hotline cases,
// notifications) share it.
package outboxpass

import (
	"context"
	"errors"
	"sync"
)

// Run calls send for each entry of due, at most limit at once, and returns
// how many sends reported ok. A send reports its entry's own failure (the
// far side refused it, or did not answer) apart from a store error: the
// failures are returned joined once every started send has ended; the
// first store error stops the pass instead (entries not yet started wait
// for the next pass; their state on disk is safe) and is returned alone.
//
// Errors: the first store error; ctx's error; the joined failures.
func Run[T any](ctx context.Context, due []T, limit int, send func(ctx context.Context, entry T) (ok bool, failure, storeErr error)) (int, error) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex // guards done, failures, storeErr
		done     int
		failures []error
		storeErr error
	)
	passCtx, stop := context.WithCancel(ctx)
	defer stop()
	slots := make(chan struct{}, max(limit, 1))
	for _, e := range due {
		select {
		case slots <- struct{}{}:
		case <-passCtx.Done():
		}
		if passCtx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			ok, failure, err := send(passCtx, e)
			mu.Lock()
			defer mu.Unlock()
			if ok {
				done++
			}
			if failure != nil {
				failures = append(failures, failure)
			}
			if err != nil && storeErr == nil {
				storeErr = err
				stop()
			}
		})
	}
	wg.Wait()
	switch {
	case storeErr != nil:
		return done, storeErr
	case ctx.Err() != nil:
		return done, ctx.Err()
	}
	return done, errors.Join(failures...)
}
