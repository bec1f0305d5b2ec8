package engine

import (
	"context"
	"fmt"
)

// Cancel asks the operation in progress on a stack to stop: nothing new starts, what is in
// flight is awaited, and the operation then fails as if a node had, so a cancelled update
// rolls back (unless it was started with --on-failure keep) and a cancelled create or
// delete ends *_FAILED. It works on both forms alike: the request is a mark on the stack
// record that the next check-ready reads, wherever it runs. An operation whose runner is gone
// (no live lease) is settled at once.
func (e *Engine) Cancel(ctx context.Context, stack string) (*StackRecord, error) {
	st, err := e.Store.GetStack(ctx, stack)
	if err != nil {
		return nil, fmt.Errorf("stack %q: %w", stack, err)
	}
	if !st.Status.InProgress() {
		return st, &StateError{fmt.Sprintf("stack %q is %s: no operation to cancel", st.Name, st.Status)}
	}
	if !e.leaseLive(ctx, st) {
		var req SettleRequest
		req.Stack, req.Operation, req.Error.Error, req.Error.Cause = st.Name, st.Operation, "Cancelled", "cancelled by request; no run was in progress"
		if _, err := e.Settle(ctx, req); err != nil {
			return st, err
		}
		return e.Store.GetStack(ctx, stack)
	}
	if st.CancelRequested {
		return st, nil
	}
	st.CancelRequested = true
	st.Reason = "cancelled by request"
	if err := e.Store.PutStack(ctx, st, st.Version); err != nil {
		return st, fmt.Errorf("stack %q: %w", st.Name, err)
	}
	e.event(ctx, st.Name, "", string(st.Status), "CancelRequested", "nothing new starts; the operation fails once what is in flight has settled")
	return st, nil
}

// cancelled turns a verdict into the one a cancelled operation gets: nothing starts, and it
// has failed.
func cancelled(v verdict) verdict {
	v.Startable, v.Failure, v.Done, v.Blocked = []string{}, true, false, nil
	return v
}
