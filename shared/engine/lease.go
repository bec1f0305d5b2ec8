package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// Lease says who runs a stack's operation and until when that claim holds without renewal.
// Check-ready renews it; a run that dies stops renewing, and once it expires the next
// operation or `aos resume` continues from the stored state.
type Lease struct {
	Holder string `json:"holder"`
	// Execution names the state machine execution that runs the operation, once its first
	// step has claimed the lease. On AWS every function runs as one holder: the execution is
	// what tells two runs apart, and a lease whose execution has closed can be taken over
	// without waiting for it to expire.
	Execution string    `json:"execution,omitempty"`
	Until     time.Time `json:"until"`
}

// ExecutionChecker says whether a state machine execution still runs (DescribeExecution on
// AWS). Declared here, where leases are judged; stepfn.Runner implements it.
type ExecutionChecker interface {
	Running(ctx context.Context, execution string) (bool, error)
}

// defaultLease is how long a lease holds without renewal.
const defaultLease = 2 * time.Minute

func (e *Engine) leaseFor() time.Duration {
	if e.LeaseFor > 0 {
		return e.LeaseFor
	}
	return defaultLease
}

// holder names this runner: Holder if set, else host:pid.
func (e *Engine) holder() string {
	if e.Holder != "" {
		return e.Holder
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

func (e *Engine) newLease() *Lease {
	return &Lease{Holder: e.holder(), Until: e.now().Add(e.leaseFor()).UTC()}
}

// ErrBusy: another runner holds the stack's lease.
var ErrBusy = errors.New("stack is busy")

// heldElsewhere reports whether a live lease belongs to another run than this runner's
// execution exec ("" when the caller runs in none): another holder, or another execution.
func (e *Engine) heldElsewhere(ctx context.Context, st *StackRecord, exec string) bool {
	l := st.Lease
	if l == nil || !e.now().Before(l.Until) {
		return false
	}
	other := l.Holder != e.holder() || l.Execution != "" && exec != "" && l.Execution != exec
	return other && !e.holderGone(ctx, l)
}

// leaseLive reports whether an operation holds the stack now, whoever runs it: a live lease
// whose holder has not died. A second operation may not begin then, even from the same
// holder (on AWS every execution runs as one).
func (e *Engine) leaseLive(ctx context.Context, st *StackRecord) bool {
	return st.Status.InProgress() && st.Lease != nil && e.now().Before(st.Lease.Until) && !e.holderGone(ctx, st.Lease)
}

// holderGone reports whether the run a lease names has ended: its process on this host has
// exited, or its execution has closed. When the answer cannot be had the run is taken to be
// alive, so a lease is never broken on a guess.
func (e *Engine) holderGone(ctx context.Context, l *Lease) bool {
	if processGone(l.Holder) {
		return true
	}
	if l.Execution == "" || e.Executions == nil {
		return false
	}
	running, err := e.Executions.Running(ctx, l.Execution)
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Str("execution", l.Execution).Msg("cannot tell whether the lease's execution still runs; waiting for the lease to expire")
		return false
	}
	return !running
}

// processGone reports whether a host:pid holder is a process on this host that has exited,
// so its lease need not be waited out.
func processGone(holder string) bool {
	host, pid, ok := strings.Cut(holder, ":")
	me, _ := os.Hostname()
	if !ok || host != me {
		return false
	}
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 0 {
		return false
	}
	return syscall.Kill(n, 0) == syscall.ESRCH
}

// Settled refuses a stack another operation holds, saying which and since when.
func Settled(st *StackRecord) error {
	if st.Status.InProgress() {
		return busyError(st)
	}
	return nil
}

func busyError(st *StackRecord) error {
	msg := fmt.Sprintf("stack %q is busy: %s started at %s", st.Name, strings.ToLower(string(st.Status)), st.UpdatedAt.Format(time.RFC3339))
	if st.Lease != nil && st.Lease.Execution != "" {
		msg += fmt.Sprintf(" by execution %s of %s (lease until %s; `aos resume %s` continues it once that execution has ended)", st.Lease.Execution, st.Lease.Holder, st.Lease.Until.Format(time.RFC3339), st.Name)
	} else if st.Lease != nil {
		msg += fmt.Sprintf(" by %s (lease until %s; `aos resume %s` continues it after that)", st.Lease.Holder, st.Lease.Until.Format(time.RFC3339), st.Name)
	} else {
		msg += fmt.Sprintf(" (`aos resume %s` continues it if that run was interrupted)", st.Name)
	}
	return &BusyError{msg}
}

// BusyError says who holds a stack; it matches ErrBusy. Its name is the error type the
// settle step recognises: a run refused as busy must not settle the run it lost to.
type BusyError struct{ msg string }

func (e *BusyError) Error() string        { return e.msg }
func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// renewLease keeps the lease for the execution exec while its operation runs: it refuses when
// another live run holds it, claims it for exec the first time exec renews it, and otherwise
// writes only when half the lease has passed, so a check costs no write.
func (e *Engine) renewLease(ctx context.Context, st *StackRecord, exec string) error {
	if !st.Status.InProgress() {
		return nil
	}
	if e.heldElsewhere(ctx, st, exec) {
		return busyError(st)
	}
	old := st.Lease
	if old != nil && old.Holder == e.holder() {
		if exec == "" {
			exec = old.Execution
		}
		if exec == old.Execution && old.Until.Sub(e.now()) > e.leaseFor()/2 {
			return nil
		}
	}
	st.Lease = e.newLease()
	st.Lease.Execution = exec
	if err := e.Store.PutStack(ctx, st, st.Version); err != nil {
		return fmt.Errorf("stack %q: renewing the lease: %w", st.Name, err)
	}
	return nil
}

// TakeOver claims an interrupted operation for this runner. It refuses while another live
// runner holds the lease.
func (e *Engine) TakeOver(ctx context.Context, stack string) (*StackRecord, error) {
	st, err := e.Store.GetStack(ctx, stack)
	if err != nil {
		return nil, fmt.Errorf("stack %q: %w", stack, err)
	}
	if !st.Status.InProgress() {
		return st, &StateError{fmt.Sprintf("stack %q is %s: nothing to resume", st.Name, st.Status)}
	}
	// A live lease means a run is at work, from this holder too (aos serve, or AWS where every
	// execution is one holder): a second run would race it.
	if e.leaseLive(ctx, st) {
		return st, busyError(st)
	}
	prev := "nobody"
	if st.Lease != nil {
		prev = st.Lease.Holder
		if st.Lease.Execution != "" {
			prev += " (execution " + st.Lease.Execution + ")"
		}
	}
	st.Lease = e.newLease()
	if err := e.Store.PutStack(ctx, st, st.Version); err != nil {
		return st, fmt.Errorf("stack %q: %w", st.Name, err)
	}
	e.retell(ctx, st)
	e.event(ctx, st.Name, "", string(st.Status), "Resumed", fmt.Sprintf("%s takes over from %s", st.Lease.Holder, prev))
	return st, nil
}
