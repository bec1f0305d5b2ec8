package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
)

// CreateRequest asks for a stack to be created, or updated when it exists.
type CreateRequest struct {
	PlanRequest
	Context string `json:"context,omitempty"`
	// Project names the project a new stack belongs to (default: project.DefaultName); an
	// existing stack stays in its own.
	Project string `json:"project,omitempty"`
	// Note says why, in the revision and its first event (rollback --revision, rebuild, copy).
	Note string `json:"note,omitempty"`
	// Index is the stack's index in a batch: ${stack.index}.
	Index int `json:"index,omitempty"`
	// Batch names the batch the stack belongs to.
	Batch string `json:"batch,omitempty"`
	// Queued says the operation waits for a batch's turn (its first event says so).
	Queued bool `json:"queued,omitempty"`
	// IdempotencyKey makes a retried request return the operation the first one started
	// (RepeatedError) instead of starting another.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
}

// RepeatedError: the request carries the idempotency key of the operation the stack last
// started, which is the answer to it.
type RepeatedError struct {
	Stack, Operation string
	Revision         int
}

func (e *RepeatedError) Error() string {
	return fmt.Sprintf("stack %q: this request already started %s (revision %d)", e.Stack, e.Operation, e.Revision)
}

// Submit validates a template with its inputs and records the stack (secret inputs sealed),
// ready for the state machine's validate and plan steps, which read it by name. For a stack
// that exists and is settled it records an update. It returns the stack's name and the
// operation to run. An update keeps every input the request does not pass (see
// PlanRequest.ResetInputs). Bad input is an *InvalidTemplateError or an *InputError, and
// changes nothing.
func (e *Engine) Submit(ctx context.Context, req CreateRequest) (string, string, error) {
	p, err := e.prepare(ctx, req)
	if err != nil {
		return "", "", err
	}
	r, plan, cur := p.r, p.plan, p.cur
	inputs, sealed := map[string]any{}, map[string]string{}
	for name, v := range r.Inputs {
		if r.Template.Input(name).Secret {
			s, err := e.Sealer.Seal(v, sealedAt(plan.Stack, name))
			if err != nil {
				return "", "", fmt.Errorf("sealing input %q: %w", name, err)
			}
			sealed[name] = s
		} else {
			inputs[name] = v
		}
	}
	hash := requestHash(req)
	if cur != nil {
		if err := e.repeated(cur, "submit", req.IdempotencyKey, hash); err != nil {
			return cur.Name, cur.Operation, err
		}
	}
	kind, err := submission(cur, req.Namespace)
	if err != nil {
		return "", "", err
	}
	if kind == submitUpdate || kind == submitRetryCreate {
		op, status, note, msg := OpUpdate, StackUpdateInProgress, req.Note, fmt.Sprintf("revision %d: %d node(s) planned", cur.Revision+1, len(plan.Nodes))
		if kind == submitRetryCreate {
			op, status = OpCreate, StackCreateInProgress
			note, msg = withNote("after a failed create", req.Note), fmt.Sprintf("revision %d: creating again after a failed create, %d node(s) planned", cur.Revision+1, len(plan.Nodes))
		}
		if kind == submitUpdate && cur.Status.holdsGoodRevision() {
			cur.Previous = &Revision{Number: cur.Revision, File: cur.File, Template: cur.Template, Inputs: cur.Inputs, Sealed: cur.Sealed}
		}
		cur.File, cur.Template, cur.Inputs, cur.Sealed, cur.Dir = req.file(), req.Template, inputs, sealed, req.Dir
		cur.Reads = templateReads(p.r.Template)
		cur.StartedBy, _ = ActorOf(ctx)
		if cur.UID == "" {
			cur.UID = newUID() // a stack recorded before UIDs were
		}
		cur.Status, cur.Operation, cur.Reason, cur.UpdatedAt, cur.Lease = status, op, "", e.now().UTC(), e.newLease()
		cur.Revision++
		e.remember(cur, "submit", req.IdempotencyKey, hash)
		// The stack first, conditionally, then its revision: the loser of two concurrent
		// submissions writes nothing, rather than overwrite the winner's revision record.
		if err := e.Store.PutStack(ctx, cur, cur.Version); err != nil {
			return "", "", fmt.Errorf("stack %q: %w", cur.Name, err)
		}
		if err := e.recordRevision(ctx, cur, note); err != nil {
			return "", "", err
		}
		if kind == submitUpdate {
			msg = withNote(msg, req.Note)
		}
		e.event(ctx, cur.Name, "", string(status), "UserInitiated", msg)
		return cur.Name, op, nil
	}
	rec := &StackRecord{
		Name: plan.Stack, Namespace: plan.Namespace, Context: req.Context, File: req.file(), Template: req.Template, Dir: req.Dir, Reads: templateReads(p.r.Template),
		Inputs: inputs, Sealed: sealed, Status: StackCreateInProgress, Operation: OpCreate, Revision: 1, Lease: e.newLease(),
		CreatedAt: e.now().UTC(), UpdatedAt: e.now().UTC(), Index: req.Index, Batch: req.Batch,
		UID: newUID(), Project: p.project,
	}
	rec.StartedBy, _ = ActorOf(ctx)
	e.remember(rec, "submit", req.IdempotencyKey, hash)
	if kind == submitAfterDelete {
		// A deleted stack's name is free again; its event log and revisions continue, and a
		// stack rebuilt on a schedule keeps it.
		rec.Revision, rec.Schedule = cur.Revision+1, cur.Schedule
		if cur.UID != "" {
			rec.UID = cur.UID
		}
		if err := e.Store.DeleteStack(ctx, cur.Name); err != nil {
			return "", "", fmt.Errorf("clearing deleted stack %q: %w", cur.Name, err)
		}
	}
	if err := e.Store.PutStack(ctx, rec, 0); err != nil {
		if errors.Is(err, ErrVersionConflict) {
			return "", "", &BusyError{fmt.Sprintf("stack %q is busy: another run recorded it a moment ago", rec.Name)}
		}
		return "", "", fmt.Errorf("recording stack %q: %w", rec.Name, err)
	}
	if err := e.recordRevision(ctx, rec, req.Note); err != nil {
		return "", "", err
	}
	reason := "UserInitiated"
	if req.Queued {
		reason = "Queued"
	}
	e.event(ctx, rec.Name, "", string(StackCreateInProgress), reason, withNote(fmt.Sprintf("revision %d: %d node(s) planned", rec.Revision, len(plan.Nodes)), req.Note))
	return rec.Name, OpCreate, nil
}

// submitKind is what a submission does to the stack of its name.
type submitKind int

const (
	submitNew         submitKind = iota // no such stack: create it
	submitAfterDelete                   // a deleted stack of that name: create it anew
	submitRetryCreate                   // a failed create: create again in place
	submitUpdate                        // a settled stack: update it
)

// submission decides what submitting a template does to cur (nil: no such stack), or why it
// may not: namespace is the one the request asks for ("" for any).
func submission(cur *StackRecord, namespace string) (submitKind, error) {
	switch {
	case cur == nil:
		return submitNew, nil
	case cur.Status == StackDeleteComplete:
		return submitAfterDelete, nil
	case cur.Status.InProgress():
		return 0, busyError(cur)
	case cur.Status == StackCreateFailed:
		// A failed create has no good revision to return to; it stays for inspection, and the
		// next up creates again in place: nodes that were applied and are unchanged are left
		// alone, the rest applied, nodes the template dropped deleted.
		if namespace != "" && namespace != cur.Namespace {
			return 0, &StateError{fmt.Sprintf("stack %q lives in namespace %q; delete it (`aos down %s`) to create it elsewhere", cur.Name, cur.Namespace, cur.Name)}
		}
		return submitRetryCreate, nil
	case cur.Status.updatable():
		if namespace != "" && namespace != cur.Namespace {
			return 0, &StateError{fmt.Sprintf("stack %q lives in namespace %q; an update cannot move it (copy it instead)", cur.Name, cur.Namespace)}
		}
		return submitUpdate, nil
	}
	return 0, &StateError{fmt.Sprintf("stack %q is %s: delete it first (`aos down %s`)", cur.Name, cur.Status, cur.Name)}
}

// newUID is a random stack UID.
func newUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func withNote(msg, note string) string {
	if note == "" {
		return msg
	}
	return msg + " (" + note + ")"
}
