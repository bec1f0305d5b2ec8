package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/aos-project/aos/shared/template"
)

// prepared is a request loaded against the stack it names.
type prepared struct {
	r    *template.Resolved
	plan PlanResponse
	// cur is the stack as stored; nil when there is none.
	cur *StackRecord
	// project is the project the stack belongs to, or will.
	project string
}

// prepare loads a create or update: the template, checked with its inputs, and the stack of
// its name. An update of a stack that has inputs starts from them (secrets opened) unless the
// request says ResetInputs, so an input not passed again keeps its value. A create loads the
// template once; an update twice, the second time on top of the stack's inputs.
func (e *Engine) prepare(ctx context.Context, req CreateRequest) (*prepared, error) {
	r, tpl, probs := load(req.TemplateRequest)
	name := req.Stack
	if name == "" && tpl != nil {
		name = tpl.Name
	}
	p := &prepared{}
	if name != "" {
		cur, err := e.Store.GetStack(ctx, name)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return nil, fmt.Errorf("stack %q: %w", name, err)
		default:
			p.cur = cur
		}
	}
	if p.cur != nil && !req.ResetInputs && carriesInputs(p.cur.Status) && len(p.cur.Inputs)+len(p.cur.Sealed) > 0 {
		vals, _, err := e.inputs(p.cur)
		if err != nil {
			return nil, err
		}
		req.previous = vals
		r, _, probs = load(req.TemplateRequest)
	}
	if len(probs) > 0 {
		return nil, &InvalidTemplateError{Problems: probs}
	}
	plan, err := planOf(ctx, r, req.PlanRequest)
	if err != nil {
		return nil, err
	}
	p.r, p.plan = r, plan
	if p.project, err = e.projectFor(ctx, p.cur, req); err != nil {
		return nil, err
	}
	pr, err := e.project(p.project)
	if err != nil {
		return nil, &InputError{err.Error()}
	}
	ns, kc := plan.Namespace, req.Context
	if p.cur != nil && p.cur.Status != StackDeleteComplete {
		ns, kc = p.cur.Namespace, p.cur.Context
	}
	if probs := checkTemplate(pr, r, ns, kc); len(probs) > 0 {
		return nil, &PolicyError{Project: pr.Name, Problems: probs.Sorted()}
	}
	probs = append(localPaths(r.Template, req.Dir), e.checkStackReads(ctx, r.Template, &StackRecord{Name: plan.Stack, Project: p.project})...)
	if len(probs) > 0 {
		return nil, &InvalidTemplateError{Problems: probs}
	}
	return p, nil
}

// projectFor is the project a submission's stack belongs to: the stack's own, which a request
// cannot change, else the one the request names, else the default; the caller (ActorOf ctx)
// must be admitted to it.
func (e *Engine) projectFor(ctx context.Context, cur *StackRecord, req CreateRequest) (string, error) {
	name := req.Project
	if cur != nil && cur.Status != StackDeleteComplete {
		if name != "" && name != projectName(cur.Project) {
			return "", &StateError{fmt.Sprintf("stack %q belongs to project %q; a request cannot move it to %q (copy it instead)", cur.Name, projectName(cur.Project), name)}
		}
		name = cur.Project
	}
	if id, ok := ActorOf(ctx); ok {
		if err := e.Admit(id, name); err != nil {
			return "", err
		}
	}
	return projectName(name), nil
}

// carriesInputs reports whether a stack's next submission is an update (or a create again in
// place) that keeps its inputs.
func carriesInputs(s StackStatus) bool { return s.updatable() || s == StackCreateFailed }

// inputChanges lists the inputs whose values differ between old and new (nil: not set), in
// name order; secret inputs (of either template) show no values.
func inputChanges(old, new map[string]any, secret func(string) bool) []InputChange {
	names := map[string]bool{}
	for k := range old {
		names[k] = true
	}
	for k := range new {
		names[k] = true
	}
	var out []InputChange
	for _, k := range slices.Sorted(maps.Keys(names)) {
		o, was := old[k]
		n, is := new[k]
		if was == is && fingerprint(o) == fingerprint(n) {
			continue
		}
		c := InputChange{Name: k, Was: was, Is: is}
		if secret(k) {
			c.Sensitive = true
		} else {
			c.Old, c.New = o, n
		}
		out = append(out, c)
	}
	return out
}
