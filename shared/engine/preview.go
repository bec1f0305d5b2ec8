package engine

import (
	"context"
	"fmt"
	"github.com/aos-project/aos/shared/source"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aos-project/aos/shared/diff"
	"github.com/aos-project/aos/shared/kube"
	"github.com/aos-project/aos/shared/secrets"
	"github.com/aos-project/aos/shared/template"
)

// Preview is the plan of `aos up` for a template: for a new stack every node is created; for
// an existing one each node is created, updated, left unchanged or deleted, judged by
// rendering its manifest against the live values recorded for its dependencies and comparing
// it with what was last applied. A node whose dependencies change may still change at apply
// time; Preview reports what it can know now.
//
// With dryRun, each node to create or update whose manifest can be rendered now is also sent to
// the API server as a server-side dry-run apply: the plan then shows, field by field, what
// would change in the live object, and which objects the server would refuse.
func (e *Engine) Preview(ctx context.Context, req CreateRequest, dryRun bool) (PlanResponse, error) {
	p, err := e.prepare(ctx, req)
	if err != nil {
		return PlanResponse{}, err
	}
	r, plan, st := p.r, p.plan, p.cur
	if st == nil || st.Status == StackDeleteComplete {
		return plan, nil
	}
	plan.Namespace = st.Namespace
	before, _, err := e.inputs(st)
	if err != nil {
		return plan, err
	}
	plan.Inputs = inputChanges(before, r.Inputs, func(name string) bool {
		_, sealed := st.Sealed[name]
		in := r.Template.Input(name)
		return sealed || in != nil && in.Secret
	})
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
	red := redactorFor(r)
	// renders holds the manifests that can be rendered now, for the dry run.
	renders := map[string]map[string]any{}
	inst := make(map[string]int, len(r.Instances))
	for i, in := range r.Instances {
		inst[in.ID] = i
	}
	for i := range plan.Nodes {
		pn := &plan.Nodes[i]
		rec := byID[pn.ID]
		in := r.Instances[inst[pn.ID]]
		if in.Node.Lookup {
			pn.Action, pn.Detail = ActionLookup, "read, never modified: waits for it to exist and be ready"
			continue
		}
		if rec == nil || rec.AppliedHash == "" {
			pn.Action = ActionCreate
			if !referencesNodes(in.Node.Manifest) && in.Node.Source == "" {
				sc := newScope(st, r.Inputs, in.Index)
				if err := sc.forEach(in.Node.ForEachSource); err != nil {
					continue
				}
				if m, err := render(in.Node.Manifest, sc, set(in.Node.TextRefs)); err == nil {
					renders[pn.ID] = m.(map[string]any)
				}
			}
			continue
		}
		sc := newScope(st, r.Inputs, in.Index)
		_ = sc.forEach(in.Node.ForEachSource) // a manifest that needs it fails to render below
		for _, d := range in.Node.Deps() {
			if dr := byID[d]; dr != nil {
				sc.see(dr)
			}
		}
		for _, id := range r.Skipped {
			sc.absent[id] = true
		}
		rendered, err := render(in.Node.Manifest, sc, set(in.Node.TextRefs))
		hash := ""
		if err == nil {
			hash, err = e.previewHash(ctx, st, in.Node, in.ID, rendered)
		}
		switch {
		case err != nil && in.Node.Source != "":
			pn.Action = ActionUpdate
			pn.Detail = "not rendered now: " + red.String(err.Error())
		case in.Node.Source != "":
			// Its objects are compared as a whole; they are not dry-run one by one.
			pn.Action = ActionUpdate
			switch {
			case hash == rec.AppliedHash && rec.Drifted:
				pn.Detail = "drifted: the live objects changed since they were applied (aos drift); they are applied again"
			case hash == rec.AppliedHash:
				pn.Action = ActionUnchanged
			}
		case err != nil:
			// A reference to a dependency that does not exist yet: it will change.
			pn.Action = ActionUpdate
			pn.Detail = "known after apply: " + red.String(err.Error())
		case hash == rec.AppliedHash && rec.Drifted:
			pn.Action, pn.Detail = ActionUpdate, "drifted: the live object changed since it was applied (aos drift); it is applied again"
			renders[pn.ID] = rendered.(map[string]any)
		case hash == rec.AppliedHash:
			pn.Action = ActionUnchanged
		default:
			pn.Action = ActionUpdate
			renders[pn.ID] = rendered.(map[string]any)
			if rec.Ref != nil {
				if now := identity(rendered.(map[string]any), *rec.Ref, st.Namespace); !sameObject(*rec.Ref, now) {
					pn.Action = ActionReplace
					pn.Detail = fmt.Sprintf("replace (%s → %s): the new object is applied and READY before the old one is deleted", rec.Ref, now)
				}
			}
		}
	}
	// A node that reads a value from a node that changes may change with it.
	byPlan := make(map[string]*PlannedNode, len(plan.Nodes))
	for i := range plan.Nodes {
		byPlan[plan.Nodes[i].ID] = &plan.Nodes[i]
	}
	for _, id := range plan.Order {
		pn := byPlan[id]
		if pn == nil || pn.Action != ActionUnchanged {
			continue
		}
		used := map[string]bool{}
		referencedNodes(r.Instances[inst[id]].Node.Manifest, used)
		for dep := range used {
			if d := byPlan[dep]; d != nil && (d.Action == ActionCreate || d.Action == ActionUpdate || d.Action == ActionReplace) {
				pn.Action, pn.Detail = ActionUpdate, fmt.Sprintf("known after apply: it reads values from %q, which changes", dep)
				break
			}
		}
	}
	if dryRun {
		if client, err := e.Cluster(ctx, st); err == nil {
			if probs := schemaProblems(ctx, client, r); len(probs) > 0 {
				return plan, &InvalidTemplateError{Problems: probs}
			}
		}
		if err := e.dryRun(ctx, st, plan.Nodes, renders, r, red); err != nil {
			return plan, err
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

// identity is the object a rendered manifest names, in the namespace it goes to: its own, or
// the stack's when the object it replaces is namespaced.
func identity(m map[string]any, was kube.Ref, stackNamespace string) kube.Ref {
	r := kube.Ref{}
	r.APIVersion, _ = m["apiVersion"].(string)
	r.Kind, _ = m["kind"].(string)
	if md, ok := m["metadata"].(map[string]any); ok {
		r.Name, _ = md["name"].(string)
		r.Namespace, _ = md["namespace"].(string)
	}
	if r.Namespace == "" && was.Namespace != "" {
		r.Namespace = stackNamespace
	}
	return r
}

func referencesNodes(manifest map[string]any) bool {
	used := map[string]bool{}
	referencedNodes(manifest, used)
	return len(used) > 0
}

// redactorFor hides the secret inputs of a request.
func redactorFor(r *template.Resolved) *secrets.Redactor {
	var vals []any
	for name, v := range r.Inputs {
		if in := r.Template.Input(name); in != nil && in.Secret {
			vals = append(vals, v)
		}
	}
	return secrets.NewRedactor(vals)
}

// dryRun fills in each rendered node's field-level diff from a server-side dry-run apply.
func (e *Engine) dryRun(ctx context.Context, st *StackRecord, nodes []PlannedNode, renders map[string]map[string]any, r *template.Resolved, red *secrets.Redactor) error {
	client, err := e.Cluster(ctx, st)
	if err != nil {
		return err
	}
	nodeOf := map[string]*template.Node{}
	for _, in := range r.Instances {
		nodeOf[in.ID] = in.Node
	}
	for i := range nodes {
		pn := &nodes[i]
		m, ok := renders[pn.ID]
		if !ok {
			continue
		}
		n := nodeOf[pn.ID]
		obj := &unstructured.Unstructured{Object: m}
		live, result, err := client.DryRun(ctx, obj, kube.ApplyOptions{
			Owner: st.owner(pn.ID), Adopt: n.Adopt, Replace: n.Replace})
		switch {
		case kube.IsUnknownKind(err) && pn.Action == ActionCreate:
			pn.Detail = "not checked: " + red.String(err.Error()) + " (an earlier node may define it)"
			continue
		case err != nil:
			pn.Refused, pn.Detail = true, "the API server would refuse: "+red.String(err.Error())
			continue
		case result == nil:
			pn.Detail = "an immutable field changes: the object will be deleted and created again (replace: true)"
			continue
		case live == nil:
			if pn.Action == ActionUpdate {
				pn.Detail = "the object is gone from the cluster: it will be created again"
			}
			continue
		}
		secret := pn.Kind == "Secret"
		for _, c := range diff.Objects(live.Object, result.Object) {
			if secret && (strings.HasPrefix(c.Path, "data") || strings.HasPrefix(c.Path, "stringData")) {
				c.Old, c.New = sensitive(c.Old), sensitive(c.New)
			} else {
				c.Old, c.New = red.Value(c.Old), red.Value(c.New)
			}
			pn.Diff = append(pn.Diff, c)
		}
		if len(pn.Diff) == 0 && pn.Action == ActionUpdate {
			pn.Detail = "the template changed, the live object would not"
		}
	}
	return nil
}

func sensitive(v any) any {
	if v == nil {
		return nil
	}
	return "(sensitive)"
}

// previewHash fingerprints what apply would apply for a node: its manifest, or the objects
// its source renders now.
func (e *Engine) previewHash(ctx context.Context, st *StackRecord, n *template.Node, id string, rendered any) (string, error) {
	if n.Source == "" {
		return fingerprint(rendered), nil
	}
	objs, err := source.Render(ctx, source.Request{Kind: n.Source, Spec: rendered.(map[string]any), Dir: st.Dir, Namespace: st.Namespace, Release: id})
	if err != nil {
		return "", err
	}
	maps := make([]any, len(objs))
	for i, o := range objs {
		maps[i] = o.Object
	}
	return fingerprint(maps), nil
}
