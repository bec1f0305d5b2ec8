package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/singleflight"

	"github.com/aos-project/aos/shared/kube"
	"github.com/aos-project/aos/shared/secrets"
)

// Engine runs the stateful functions (plan, apply-node, check-ready) against a store and
// clusters, and records the operations that start them.
type Engine struct {
	Store  Store
	Sealer *secrets.Sealer
	// Kube returns the client for a kube context ("" is the default), impersonating
	// Target.As when set.
	Kube func(ctx context.Context, t kube.Access) (*kube.Client, error)
	// Projects says what each project allows (nil: only project.Default()).
	Projects Projects
	// MaxWait bounds how long CheckReady watches for a change before answering.
	MaxWait time.Duration
	// FollowFor is how long an apply-node call goes on after its apply: it watches the node,
	// and when it is READY starts the dependents it unblocked, and follows those (follow.go).
	// Zero: apply-node applies and returns, and check-ready starts every dependent.
	FollowFor time.Duration
	Now       func() time.Time
	// Holder names this runner in leases (default host:pid); LeaseFor is how long a lease
	// holds without renewal (default defaultLease).
	Holder   string
	LeaseFor time.Duration
	// Executions, where set, tells whether the execution a lease names still runs, so that a
	// closed execution's lease is taken over at once (aos resume, cancel, delete).
	Executions ExecutionChecker

	// namespaces remembers the stack namespaces this process has seen exist, so each apply
	// does not read its namespace again (one API request per node, of the three an apply
	// made). A stack's delete forgets its own.
	namespaces sync.Map
	// nsFlight makes the applies of one turn, which start together, wait for one look at
	// their namespace rather than each read it (and apply it) themselves: 25 ConfigMaps
	// applied at once made 75 requests for their namespace, a third of the turn's.
	nsFlight singleflight.Group
	// slots bounds the applies this process runs at once (limiter.go).
	slotsOnce sync.Once
	slots     *limiter
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Function names: the four functions and the settle step, as deployed (functions/<name>) and as the embedded
// runner binds the state machine's Task resources.
const (
	FnValidate   = "validate"
	FnPlan       = "plan"
	FnApplyNode  = "applynode"
	FnCheckReady = "checkready"
	// FnSettle is the state machine's last step when a function failed.
	FnSettle = "settle"
)

// Functions returns the handler each function runs. The Lambda entry points and the embedded
// runner both take their handlers from here, so AWS and the CLI run the same code.
func (e *Engine) Functions() map[string]any {
	return map[string]any{
		FnValidate:   e.ValidateStack,
		FnPlan:       e.PlanStack,
		FnApplyNode:  e.ApplyNode,
		FnCheckReady: e.CheckReady,
		FnSettle:     e.SettleEvent,
	}
}

// OpRequest is the state machine's input: which stack, which operation, and what to do if
// an update fails ("rollback", the default, or "keep"). Payloads carry ids.
type OpRequest struct {
	Stack     string `json:"stack"`
	Operation string `json:"operation"`
	OnFailure string `json:"onFailure,omitempty"`
	// Execution is the name of the execution running the step ($$.Execution.Name), which
	// the step's lease then names. Set by the state machine, not by whoever starts it.
	Execution string `json:"execution,omitempty"`
	// Spent is the history events the execution had used when the state machine last
	// checked ($.spent, carried past a rollback's or rebuild's Pass state; continue.go).
	Spent int `json:"spent,omitempty"`
	// Batched: the state machine applies the plan's first turn in batches (CheckRequest's
	// Batched). Set by its Plan and Rollback states.
	Batched bool `json:"batched,omitempty"`
}

// event appends to the stack's event log. A lost event is logged, not fatal: the records it
// describes are written already.
func (e *Engine) event(ctx context.Context, stack, node, status, reason, msg string) {
	e.appendEvents(ctx, []*Event{e.newEvent(ctx, stack, node, status, reason, msg)})
}

func (e *Engine) newEvent(ctx context.Context, stack, node, status, reason, msg string) *Event {
	ev := &Event{Stack: stack, Time: e.now().UTC(), Node: node, Status: status, Reason: reason, Message: msg}
	ev.Actor, _ = ActorOf(ctx)
	return ev
}

// eventBatcher is a store that appends several events in one write, in order.
type eventBatcher interface {
	AppendEvents(ctx context.Context, evs []*Event) error
}

// appendEvents records events in order: in one write where the store can, else one by one.
// An event that cannot be recorded is logged; the operation goes on.
func (e *Engine) appendEvents(ctx context.Context, evs []*Event) {
	if len(evs) == 0 {
		return
	}
	if b, ok := e.Store.(eventBatcher); ok && len(evs) > 1 {
		if err := b.AppendEvents(ctx, evs); err != nil {
			zerolog.Ctx(ctx).Error().Err(err).Str("stack", evs[0].Stack).Int("events", len(evs)).Msg("events not recorded")
		}
		return
	}
	for _, ev := range evs {
		if err := e.Store.AppendEvent(ctx, ev); err != nil {
			zerolog.Ctx(ctx).Error().Err(err).Str("stack", ev.Stack).Str("node", ev.Node).Msg("event not recorded")
		}
	}
}

// sealedAt is where a secret input's sealed value belongs: it opens for that stack and input
// only.
func sealedAt(stack, input string) string { return "aos/stacks/" + stack + "/inputs/" + input }

// inputs opens the stack's inputs, secrets included, and a redactor for their values.
func (e *Engine) inputs(st *StackRecord) (map[string]any, *secrets.Redactor, error) {
	vals := make(map[string]any, len(st.Inputs)+len(st.Sealed))
	for k, v := range st.Inputs {
		vals[k] = v
	}
	var secret []any
	for k, s := range st.Sealed {
		v, err := e.Sealer.Open(s, sealedAt(st.Name, k))
		if err != nil {
			return nil, nil, fmt.Errorf("input %q: %w", k, err)
		}
		vals[k] = v
		secret = append(secret, v)
	}
	return vals, secrets.NewRedactor(secret), nil
}
