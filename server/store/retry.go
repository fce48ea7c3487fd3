package store

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/internal/wait"
)

// maxRetries bounds retryStale; the jittered backoff between attempts
// grows to at most maxBackoff.
const (
	maxRetries = 16
	maxBackoff = 100 * time.Millisecond
)

// UpdateLabWithRetry is UpdateLab that, on a version conflict, reads the
// lab again and re-applies mutate, a bounded number of times. With
// opts.ExpectedVersion set it does not retry: the caller asked for that
// version exactly.
func (db *DB) UpdateLabWithRetry(ctx context.Context, key api.Key, opts WriteOptions, mutate Mutator) (*api.LabInstanceRequest, error) {
	return retryStale(ctx, opts, func() (*api.LabInstanceRequest, error) { return db.UpdateLab(ctx, key, opts, mutate) })
}

// retryStale runs write again while it loses a race with another writer
// (a staleErr), unless the caller named the version it expects: then the
// conflict is the answer.
func retryStale[T any](ctx context.Context, opts WriteOptions, write func() (T, error)) (T, error) {
	var out T
	var err error
	for attempt := range maxRetries {
		out, err = write()
		if opts.ExpectedVersion != 0 || !isStale(err) {
			return out, err
		}
		// Jittered, so that two writers do not collide again in step.
		d := time.Duration(rand.Int64N(int64(min(time.Millisecond<<attempt, maxBackoff)))) + time.Millisecond
		if werr := wait.Sleep(ctx, d); werr != nil {
			var zero T
			return zero, werr
		}
	}
	return out, err
}

func isStale(err error) bool {
	var e staleErr
	return errors.As(err, &e)
}
