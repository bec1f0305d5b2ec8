package kube

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// RetryPolicy bounds how long transient API errors are retried.
type RetryPolicy struct {
	Attempts int           // total tries, the first included
	Base     time.Duration // first backoff
	Max      time.Duration // backoff cap
}

// DefaultRetry retries for about half a minute in all.
var DefaultRetry = RetryPolicy{Attempts: 8, Base: 200 * time.Millisecond, Max: 8 * time.Second}

// Transient reports whether an API error is worth retrying, and how long the server asked to
// wait (0 when it did not say). Invalid objects, forbidden requests, unknown kinds and other
// client errors are not: they fail at once with the server's message.
func Transient(err error) (bool, time.Duration) {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false, 0
	}
	// The API server answers 500 when an applied object does not fit the kind's schema (a
	// number where a string belongs); retrying cannot help.
	if strings.Contains(err.Error(), "failed to create typed patch object") {
		return false, 0
	}
	if d, ok := apierrors.SuggestsClientDelay(err); ok && (apierrors.IsTooManyRequests(err) || apierrors.IsServerTimeout(err) || apierrors.IsServiceUnavailable(err)) {
		return true, time.Duration(d) * time.Second
	}
	if apierrors.IsTooManyRequests(err) {
		// A 429 whose delay did not reach us (discovery's errors drop the Status details):
		// wait what the API server's priority and fairness asks at least, a second, rather
		// than press an overloaded server with jittered retries.
		return true, time.Second
	}
	switch {
	case apierrors.IsTooManyRequests(err), apierrors.IsServerTimeout(err), apierrors.IsTimeout(err),
		apierrors.IsServiceUnavailable(err), apierrors.IsInternalError(err), apierrors.IsConflict(err),
		apierrors.IsUnexpectedServerError(err):
		return true, 0
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Code >= 500 {
		return true, 0
	}
	msg := err.Error()
	for _, s := range []string{"etcdserver: leader changed", "etcdserver: request timed out", "failed calling webhook", "connection refused", "connection reset by peer", "http2: client connection lost"} {
		if strings.Contains(msg, s) {
			// A webhook that rejects is a real answer; one that timed out or was unreachable is not.
			if s == "failed calling webhook" && !(strings.Contains(msg, "timeout") || strings.Contains(msg, "deadline") || strings.Contains(msg, "connection")) {
				return false, 0
			}
			return true, 0
		}
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true, 0
	}
	return false, 0
}

// retry runs op until it succeeds, fails with a non-transient error, or the policy is spent.
//
// Not wait.ExponentialBackoffWithContext: its Cap ends the backoff (Steps drops to 0 once the
// cap is reached, so a capped policy gets fewer attempts than it says), it has no full jitter
// (its Jitter only adds), and no way to wait the Retry-After a server sends with a 429. The
// polls that need none of that (deletion, gone objects) use wait.PollUntilContext*.
func retry(ctx context.Context, p RetryPolicy, what string, op func() error) error {
	var err error
	delay := p.Base
	for attempt := 1; ; attempt++ {
		err = op()
		ok, wait := Transient(err)
		if !ok {
			return err
		}
		if pushedBack(err) {
			if f, _ := ctx.Value(pushbackKey{}).(func()); f != nil {
				f()
			}
		}
		if attempt >= p.Attempts {
			return fmt.Errorf("%s: still failing after %d attempts: %w", what, attempt, err)
		}
		if wait == 0 {
			// Full jitter keeps many nodes of one stack from retrying in lockstep.
			wait = time.Duration(rand.Int64N(int64(delay)) + 1)
			delay = min(delay*2, p.Max)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), err)
		case <-t.C:
		}
	}
}

type pushbackKey struct{}

// WithPushback returns a context whose API calls tell f each time the API server pushes back
// (429 Too Many Requests, 503, a server-side timeout): what a caller that sets its own
// concurrency adapts to.
func WithPushback(ctx context.Context, f func()) context.Context {
	return context.WithValue(ctx, pushbackKey{}, f)
}

func pushedBack(err error) bool {
	return apierrors.IsTooManyRequests(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsServerTimeout(err)
}
