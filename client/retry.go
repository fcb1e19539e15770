package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// Retry says how a failed storage request is tried again: up to Attempts
// tries in all, waiting Base, 2·Base, 4·Base... (at most Max, with
// jitter) between them, or longer when signgate's Retry-After asks. Only answers that may succeed later are retried:
// network errors, 408, 429, 5xx, and a part whose checksum did not match.
type Retry struct {
	Attempts int
	Base     time.Duration
	Max      time.Duration
}

// DefaultRetry is the retry of a Client made without WithRetry.
var DefaultRetry = Retry{Attempts: 5, Base: 250 * time.Millisecond, Max: 8 * time.Second}

// do runs fn until it succeeds, fails for good, or the tries run out.
func (r Retry) do(ctx context.Context, fn func() error) error {
	attempts := max(r.Attempts, 1)
	var err error
	for i := range attempts {
		if err = fn(); err == nil || !retryable(ctx, err) || i == attempts-1 {
			return err
		}
		wait := r.Base << i
		if r.Max > 0 && (wait > r.Max || wait <= 0) {
			wait = r.Max
		}
		wait = wait/2 + rand.N(wait/2+1) // jitter: replicas do not retry in step
		var e *Error
		if errors.As(err, &e) && e.RetryAfter > wait {
			wait = e.RetryAfter // signgate said when; sooner only spends the budget again
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
	return err
}

// retryable reports whether err may go away on another try.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var se *StorageError
	if errors.As(err, &se) {
		return se.retryable()
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Temporary()
	}
	var ce *checksumError
	if errors.As(err, &ce) {
		return true
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) // a network error
}

// checksumError is a part the storage server stored with another checksum
// than the bytes sent.
type checksumError struct{ op, got, want string }

func (e *checksumError) Error() string {
	return "storage: " + e.op + ": checksum " + e.got + " returned, " + e.want + " sent"
}
