package engine

import (
	"context"
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/aos-project/aos/shared/diff"
)

// revision is the stack's current template and inputs as a Revision record.
func revision(st *StackRecord, note string) *Revision {
	return &Revision{Number: st.Revision, File: st.File, Template: st.Template, Inputs: st.Inputs, Sealed: st.Sealed,
		Operation: st.Operation, Status: st.Status, Reason: st.Reason, Note: note, StartedAt: st.UpdatedAt}
}

// recordRevision writes the revision an operation starts, once the stack record's
// conditional write said this run won it (the loser of a race writes no revision). Should the
// process die in between, the revision is written when the operation ends (settleRevision).
func (e *Engine) recordRevision(ctx context.Context, st *StackRecord, note string) error {
	if err := e.Store.PutRevision(ctx, st.Name, revision(st, note)); err != nil {
		return fmt.Errorf("recording revision %d of stack %q: %w", st.Revision, st.Name, err)
	}
	return nil
}

// settleRevision records how the stack's current revision ended.
func (e *Engine) settleRevision(ctx context.Context, st *StackRecord) error {
	revs, err := e.Store.ListRevisions(ctx, st.Name)
	if err != nil {
		return fmt.Errorf("revisions of stack %q: %w", st.Name, err)
	}
	r := revision(st, "")
	if i := slices.IndexFunc(revs, func(r *Revision) bool { return r.Number == st.Revision }); i >= 0 {
		r.Note, r.StartedAt, r.Operation = revs[i].Note, revs[i].StartedAt, revs[i].Operation
	}
	r.EndedAt = e.now().UTC()
	if err := e.Store.PutRevision(ctx, st.Name, r); err != nil {
		return fmt.Errorf("recording revision %d of stack %q: %w", st.Revision, st.Name, err)
	}
	return nil
}

// resubmission is the request that records a stack's current template and inputs again (secret
// inputs opened): rebuild submits it after a delete, copy with another name, namespace,
// context or inputs.
func (e *Engine) resubmission(st *StackRecord) (CreateRequest, error) {
	return e.resubmit(st, &Revision{Number: st.Revision, File: st.File, Template: st.Template, Inputs: st.Inputs, Sealed: st.Sealed})
}

func (e *Engine) resubmit(st *StackRecord, r *Revision) (CreateRequest, error) {
	vals, _, err := e.inputs(&StackRecord{Name: st.Name, Inputs: r.Inputs, Sealed: r.Sealed})
	if err != nil {
		return CreateRequest{}, err
	}
	return CreateRequest{Context: st.Context, Project: st.Project, Index: st.Index, Batch: st.Batch, PlanRequest: PlanRequest{
		// The stack's own folder: its templates were read from there (StackRecord.Dir).
		TemplateRequest: TemplateRequest{File: r.File, Template: r.Template, Params: vals, Dir: st.Dir},
		Stack:           st.Name, Namespace: st.Namespace,
	}}, nil
}

// RevisionRequest is the update that returns a stack to an earlier revision's template and
// inputs (`aos rollback NAME --revision N`).
func (e *Engine) RevisionRequest(ctx context.Context, stack string, number int) (CreateRequest, error) {
	st, err := e.Store.GetStack(ctx, stack)
	if err != nil {
		return CreateRequest{}, fmt.Errorf("stack %q: %w", stack, err)
	}
	revs, err := e.Store.ListRevisions(ctx, stack)
	if err != nil {
		return CreateRequest{}, fmt.Errorf("revisions of stack %q: %w", stack, err)
	}
	i := slices.IndexFunc(revs, func(r *Revision) bool { return r.Number == number })
	if i < 0 {
		return CreateRequest{}, fmt.Errorf("%w: stack %q has no revision %d (see `aos history %s`)", ErrNotFound, stack, number, stack)
	}
	if number == st.Revision {
		return CreateRequest{}, &StateError{fmt.Sprintf("stack %q is at revision %d already", stack, number)}
	}
	req, err := e.resubmit(st, revs[i])
	if err != nil {
		return CreateRequest{}, err
	}
	req.Note = fmt.Sprintf("back to revision %d", number)
	return req, nil
}

// CopyOptions say where a copy goes and which inputs it changes.
type CopyOptions struct {
	To        string
	Namespace string // default: To
	Context   string // default: the original's
	Project   string // default: the original's
	Params    map[string]any
	RawParams map[string]string // -p key=value, typed by each input's schema
}

// CopyRequest is the create of a new stack from another's current template and inputs
// (secret inputs included), with o's overrides. The target name must be free.
func (e *Engine) CopyRequest(ctx context.Context, from string, o CopyOptions) (CreateRequest, error) {
	if o.To == "" {
		return CreateRequest{}, &InputError{"the name of the new stack is required"}
	}
	st, err := e.Store.GetStack(ctx, from)
	if err != nil {
		return CreateRequest{}, fmt.Errorf("stack %q: %w", from, err)
	}
	if cur, err := e.Store.GetStack(ctx, o.To); err == nil && cur.Status != StackDeleteComplete {
		return CreateRequest{}, &StateError{fmt.Sprintf("stack %q exists already (%s): copy to a new name, or delete it first", o.To, cur.Status)}
	}
	req, err := e.resubmission(st)
	if err != nil {
		return CreateRequest{}, err
	}
	for k, v := range o.Params {
		req.Params[k] = v
	}
	req.Stack, req.Namespace, req.RawParams, req.Note = o.To, o.Namespace, o.RawParams, "copy of "+st.Name
	req.Index, req.Batch = 0, ""
	if o.Context != "" {
		req.Context = o.Context
	}
	if o.Project != "" {
		req.Project = o.Project
	}
	return req, nil
}

// RevisionDiff is what changed from one revision of a stack to another: the inputs (secret
// ones without their values) and the template, field by field.
type RevisionDiff struct {
	From, To int
	Inputs   []InputChange `json:"inputs"`
	Template []diff.Change `json:"template"`
}

// DiffRevisions compares two revisions of a stack. Secret input values, opened to compare
// them, are redacted wherever they appear, the templates included.
func (e *Engine) DiffRevisions(ctx context.Context, stack string, from, to int) (*RevisionDiff, error) {
	revs, err := e.Store.ListRevisions(ctx, stack)
	if err != nil {
		return nil, fmt.Errorf("revisions of stack %q: %w", stack, err)
	}
	find := func(n int) (*Revision, error) {
		if i := slices.IndexFunc(revs, func(r *Revision) bool { return r.Number == n }); i >= 0 {
			return revs[i], nil
		}
		return nil, fmt.Errorf("%w: stack %q has no revision %d (see `aos history %s`)", ErrNotFound, stack, n, stack)
	}
	a, err := find(from)
	if err != nil {
		return nil, err
	}
	b, err := find(to)
	if err != nil {
		return nil, err
	}
	av, ared, err := e.inputs(&StackRecord{Name: stack, Inputs: a.Inputs, Sealed: a.Sealed})
	if err != nil {
		return nil, err
	}
	bv, bred, err := e.inputs(&StackRecord{Name: stack, Inputs: b.Inputs, Sealed: b.Sealed})
	if err != nil {
		return nil, err
	}
	out := &RevisionDiff{From: from, To: to, Template: []diff.Change{}}
	out.Inputs = inputChanges(av, bv, func(name string) bool {
		_, sa := a.Sealed[name]
		_, sb := b.Sealed[name]
		return sa || sb
	})
	if out.Inputs == nil {
		out.Inputs = []InputChange{}
	}
	var ta, tb map[string]any
	if err := yaml.Unmarshal([]byte(a.Template), &ta); err != nil {
		return nil, fmt.Errorf("revision %d's template: %w", from, err)
	}
	if err := yaml.Unmarshal([]byte(b.Template), &tb); err != nil {
		return nil, fmt.Errorf("revision %d's template: %w", to, err)
	}
	for _, c := range diff.Objects(ta, tb) {
		c.Old, c.New = bred.Value(ared.Value(c.Old)), bred.Value(ared.Value(c.New))
		out.Template = append(out.Template, c)
	}
	return out, nil
}
