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
	return p, nil
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
