package engine

import (
	"context"
	"fmt"

	"github.com/aos-project/aos/shared/template"
)

// finishStack settles a create, update or rollback once it has ended (ok: every node READY),
// evaluating the stack outputs, and releases the lease. Its event goes with what t holds.
func (e *Engine) finishStack(ctx context.Context, st *StackRecord, nodes []*NodeRecord, ok bool, t *teller) error {
	if ok {
		out, err := e.outputs(ctx, st, nodes)
		st.Status, st.Outputs = st.Status.Outcome(err == nil), out
		if err != nil {
			st.Reason = "outputs: " + err.Error()
		}
	} else {
		st.Status = st.Status.Outcome(false)
		for _, n := range nodes {
			if n.Status == NodeFailed && !st.CancelRequested {
				st.Reason = fmt.Sprintf("node %q: %s: %s", n.ID, n.Reason, n.Message)
				break
			}
		}
	}
	return e.settleStack(ctx, st, "", t)
}

// settleStack records the end of the stack's operation: its revision's outcome, the stack
// with no lease, and an event with reason (with what t holds, when there is a t).
func (e *Engine) settleStack(ctx context.Context, st *StackRecord, reason string, t *teller) error {
	st.UpdatedAt, st.Lease, st.CancelRequested = e.now().UTC(), nil, false
	if err := e.settleRevision(ctx, st); err != nil {
		return err
	}
	if err := e.Store.PutStack(ctx, st, st.Version); err != nil {
		return fmt.Errorf("stack %q: %w", st.Name, err)
	}
	ev := e.newEvent(ctx, st.Name, "", string(st.Status), reason, st.Reason)
	if t != nil {
		t.append([]*Event{ev})
	} else {
		e.appendEvents(ctx, []*Event{ev})
	}
	return nil
}

// outputs evaluates the template's outputs from the nodes' live values, secrets redacted.
func (e *Engine) outputs(ctx context.Context, st *StackRecord, nodes []*NodeRecord) (map[string]any, error) {
	t, probs := template.Parse(st.File, []byte(st.Template))
	if t == nil {
		return nil, probs
	}
	vals, red, err := e.inputs(st)
	if err != nil {
		return nil, err
	}
	sc := newScope(st, vals, -1)
	planned := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		sc.see(n)
		planned[n.Node] = true
	}
	for _, n := range t.Nodes {
		if !planned[n.ID] {
			sc.absent[n.ID] = true // its when left it out before anything ran
		}
	}
	var uses []template.Use
	for _, o := range t.Outputs {
		uses = append(uses, o.Uses...)
	}
	if err := e.seeStacks(ctx, st, stacksRead(uses), sc); err != nil {
		return nil, err
	}
	out := make(map[string]any, len(t.Outputs))
	for _, o := range t.Outputs {
		if o.Sensitive {
			// Never rendered, so never stored: the value lives in the cluster only.
			out[o.Name] = template.SensitiveText
			continue
		}
		v, err := render(o.Value, sc, set(o.TextRefs))
		if err != nil {
			return nil, fmt.Errorf("output %q: %w", o.Name, err)
		}
		out[o.Name] = red.Value(v)
	}
	return out, nil
}

// Begin records that an operation on an existing stack (delete, rebuild, rollback) has been
// accepted, before the state machine runs it: the stack is IN_PROGRESS at once, under this
// runner's lease, and the plan step continues from there. Nothing touches a cluster. A key
// (the request's Idempotency-Key) that started this very operation already answers with a
// RepeatedError and changes nothing.
func (e *Engine) Begin(ctx context.Context, stack, op, key string) error {
	st, err := e.Store.GetStack(ctx, stack)
	if err != nil {
		return fmt.Errorf("stack %q: %w", stack, err)
	}
	// These requests carry no body: the operation is the whole request.
	if err := e.repeated(st, op, key, op); err != nil {
		return err
	}
	if e.leaseLive(ctx, st) {
		return busyError(st)
	}
	e.remember(st, op, key, op)
	st.StartedBy, _ = ActorOf(ctx)
	switch op {
	case OpDelete, OpRebuild:
		return e.beginDelete(ctx, st, op)
	case OpRollback:
		return e.startRollback(ctx, st)
	}
	return fmt.Errorf("operation %q cannot be begun ahead of its run", op)
}

// startRollback makes the last good revision the stack's template and inputs again; planning
// then proceeds exactly as for an update, so only what the failed update changed is undone.
func (e *Engine) startRollback(ctx context.Context, st *StackRecord) error {
	if st.Previous == nil {
		return &StateError{fmt.Sprintf("stack %q has no earlier revision to roll back to", st.Name)}
	}
	if !st.Status.rollbackable() {
		return &StateError{fmt.Sprintf("stack %q is %s: only a failed update can be rolled back (or name a revision)", st.Name, st.Status)}
	}
	failed := st.Reason
	p := st.Previous
	st.File, st.Template, st.Inputs, st.Sealed = p.File, p.Template, p.Inputs, p.Sealed
	// The reason stays with the stack after the rollback completes: it is why the stack is
	// back where it was.
	st.Status, st.Operation, st.UpdatedAt, st.Lease = StackRollbackInProgress, OpRollback, e.now().UTC(), e.newLease()
	st.Reason = fmt.Sprintf("rolled back to revision %d after the update failed: %s", p.Number, failed)
	st.Revision++
	if err := e.Store.PutStack(ctx, st, st.Version); err != nil {
		return fmt.Errorf("stack %q: %w", st.Name, err)
	}
	if err := e.recordRevision(ctx, st, fmt.Sprintf("rolled back to revision %d", p.Number)); err != nil {
		return err
	}
	e.event(ctx, st.Name, "", string(StackRollbackInProgress), "RollingBack", fmt.Sprintf("back to revision %d after: %s", p.Number, failed))
	return nil
}
