package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/aos-project/aos/shared/refs"
)

// Preview is the plan of `aos up` for a template: for a new stack every node is created; for
// an existing one each node is created, updated, left unchanged or deleted, judged by
// rendering its manifest against the live values recorded for its dependencies and comparing
// it with what was last applied. A node whose dependencies change may still change at apply
// time; Preview reports what it can know now.
func (e *Engine) Preview(ctx context.Context, req CreateRequest) (PlanResponse, error) {
	plan, err := Plan(ctx, req.PlanRequest)
	if err != nil {
		return plan, err
	}
	st, err := e.Store.GetStack(ctx, plan.Stack)
	if errors.Is(err, ErrNotFound) || err == nil && st.Status == StackDeleteComplete {
		return plan, nil
	}
	if err != nil {
		return plan, fmt.Errorf("stack %q: %w", plan.Stack, err)
	}
	plan.Namespace = st.Namespace
	records, err := e.Store.ListNodes(ctx, st.Name)
	if err != nil {
		return plan, err
	}
	byID := make(map[string]*NodeRecord, len(records))
	for _, n := range records {
		if n.Status != NodeDeleted {
			byID[n.ID] = n
		}
	}
	r, _, _ := load(req.TemplateRequest)
	inst := make(map[string]int, len(r.Instances))
	for i, in := range r.Instances {
		inst[in.ID] = i
	}
	for i := range plan.Nodes {
		pn := &plan.Nodes[i]
		rec := byID[pn.ID]
		if rec == nil || rec.AppliedHash == "" {
			pn.Action = ActionCreate
			continue
		}
		in := r.Instances[inst[pn.ID]]
		sc := &scope{inputs: r.Inputs, stack: st.Name, namespace: st.Namespace, index: in.Index,
			nodes: map[string]map[string]any{}, outputs: map[string]map[string]refs.Path{}}
		for _, d := range in.Node.Deps() {
			if dr := byID[d]; dr != nil {
				sc.nodes[d] = dr.Live
				sc.outputs[d] = map[string]refs.Path{}
				for _, o := range dr.Outputs {
					sc.outputs[d][o.Name] = o.Path
				}
			}
		}
		rendered, err := render(in.Node.Manifest, sc, set(in.Node.TextRefs))
		switch {
		case err != nil:
			// A reference to a dependency that does not exist yet: it will change.
			pn.Action = ActionUpdate
		case fingerprint(rendered) == rec.AppliedHash:
			pn.Action = ActionUnchanged
		default:
			pn.Action = ActionUpdate
		}
	}
	for _, rec := range records {
		if _, kept := inst[rec.ID]; kept || rec.Status == NodeDeleted || rec.Remove {
			continue
		}
		pn := PlannedNode{ID: rec.ID, Node: rec.Node, Action: ActionDelete, DependsOn: rec.DependsOn}
		if rec.Ref != nil {
			pn.APIVersion, pn.Kind, pn.Name = rec.Ref.APIVersion, rec.Ref.Kind, rec.Ref.Name
		}
		plan.Nodes = append(plan.Nodes, pn)
	}
	return plan, nil
}
