package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/aos-project/aos/shared/diff"
	"github.com/aos-project/aos/shared/refs"
	"github.com/aos-project/aos/shared/template"
)

// PlanRequest asks for the plan of a new stack.
type PlanRequest struct {
	TemplateRequest
	// Stack names the stack (default: the template's name).
	Stack string `json:"stack,omitempty"`
	// Namespace is where namespaced objects go (default: the stack's name).
	Namespace string `json:"namespace,omitempty"`
	// ResetInputs makes an update start from the inputs' defaults. Without it an update
	// starts from the stack's current inputs, secrets included: what the request passes
	// changes them, the rest keep their values.
	ResetInputs bool `json:"resetInputs,omitempty"`
}

// Action is what an operation does to one node.
type Action string

// Actions. Update and delete plans (diffs against a stack's last revision) use the rest.
const (
	ActionCreate    Action = "create"
	ActionUpdate    Action = "update"
	ActionDelete    Action = "delete"
	ActionUnchanged Action = "unchanged"
	// ActionReplace: the node's object changes identity (kind, name or namespace): the new
	// one is applied, and the old one deleted once the stack is READY.
	ActionReplace Action = "replace"
	// ActionLookup: a lookup node reads its object; nothing is applied.
	ActionLookup Action = "lookup"
)

// PlannedNode is one node of a plan. Manifests stay out: payloads carry ids.
type PlannedNode struct {
	ID         string   `json:"id"`
	Node       string   `json:"node"`            // the template node it comes from
	Index      *int     `json:"index,omitempty"` // the copy number under count
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Name       string   `json:"name"` // may still hold references resolved at apply time
	DependsOn  []string `json:"dependsOn"`
	Action     Action   `json:"action"`
	// Diff is what a server-side dry run would change in the live object (plan --dry-run
	// of an existing stack); secret values are redacted.
	Diff []diff.Change `json:"diff,omitempty"`
	// Detail explains what the dry run could not tell, or that the API server would refuse.
	Detail string `json:"detail,omitempty"`
	// Refused is set when the API server's dry run rejected the object.
	Refused bool `json:"refused,omitempty"`
	// When is the node's when, when it reads live values of other nodes: it is decided at
	// apply, and the node may end SKIPPED.
	When string `json:"when,omitempty"`
}

// PlanResponse is the plan of an operation: what happens to each node, in which order, and
// the first set of nodes that can start at once.
type PlanResponse struct {
	Stack     string        `json:"stack"`
	Namespace string        `json:"namespace"`
	Nodes     []PlannedNode `json:"nodes"`
	// Order is one valid creation order; Levels groups nodes by dependency depth (for display:
	// the scheduler starts every node as soon as its own dependencies are READY).
	Order  []string   `json:"order"`
	Levels [][]string `json:"levels"`
	// Ready is the set that can start immediately.
	Ready []string `json:"ready"`
	// LongestChain is the longest dependency chain, counted in nodes.
	LongestChain []string `json:"longestChain"`
	Skipped      []string `json:"skipped"`
	// Inputs lists, for an existing stack, every input whose value the operation changes.
	Inputs []InputChange `json:"inputs,omitempty"`
}

// InputChange is one input an update changes. A secret input's values are never shown.
type InputChange struct {
	Name string `json:"name"`
	Old  any    `json:"old,omitempty"`
	New  any    `json:"new,omitempty"`
	// Was and Is say whether the input had and has a value (an input added or dropped).
	Was       bool `json:"was"`
	Is        bool `json:"is"`
	Sensitive bool `json:"sensitive,omitempty"`
}

// Plan computes the node set, order and actions for a new stack. What it refuses is the
// request's fault: an *InvalidTemplateError or an *InputError.
func Plan(ctx context.Context, req PlanRequest) (PlanResponse, error) {
	r, _, probs := load(req.TemplateRequest)
	if len(probs) > 0 {
		return PlanResponse{}, &InvalidTemplateError{Problems: probs}
	}
	return planOf(ctx, r, req)
}

// planOf is Plan of a template already loaded.
func planOf(ctx context.Context, r *template.Resolved, req PlanRequest) (PlanResponse, error) {
	start := time.Now()
	t := r.Template
	stack := req.Stack
	if stack == "" {
		stack = t.Name
	}
	if errs := validation.IsDNS1123Label(stack); len(errs) > 0 {
		return PlanResponse{}, &InputError{fmt.Sprintf("stack name %q: %s", stack, errs[0])}
	}
	ns := req.Namespace
	if ns == "" {
		ns = stack
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return PlanResponse{}, &InputError{fmt.Sprintf("namespace %q: %s", ns, errs[0])}
	}
	levels, err := r.Graph.Levels()
	if err != nil {
		return PlanResponse{}, err
	}
	order := make([]string, 0, r.Graph.Len())
	for _, l := range levels {
		order = append(order, l...)
	}
	_, chain, err := r.Graph.CriticalPath(func(string) time.Duration { return 1 })
	if err != nil {
		return PlanResponse{}, err
	}
	resp := PlanResponse{
		Stack: stack, Namespace: ns, Order: order, Levels: levels, LongestChain: chain,
		Nodes: make([]PlannedNode, 0, len(r.Instances)), Skipped: r.Skipped,
	}
	if len(levels) > 0 {
		resp.Ready = levels[0]
	}
	if resp.Skipped == nil {
		resp.Skipped = []string{}
	}
	for _, in := range r.Instances {
		pn := PlannedNode{ID: in.ID, Node: in.Node.ID, Action: ActionCreate, DependsOn: r.Graph.DependsOn(in.ID)}
		if in.Index >= 0 {
			i := in.Index
			pn.Index = &i
		}
		m := in.Node.Manifest
		pn.APIVersion, _ = m["apiVersion"].(string)
		pn.Kind, _ = m["kind"].(string)
		if md, ok := m["metadata"].(map[string]any); ok {
			pn.Name = displayName(md, r, stack, ns, in.Index)
		}
		if in.Node.Source != "" {
			pn.Kind, pn.Name = in.Node.Source, sourceName(m)
		}
		if in.Node.Lookup {
			pn.Action = ActionLookup
		}
		if pn.DependsOn == nil {
			pn.DependsOn = []string{}
		}
		if in.Node.When.Live() {
			pn.When = in.Node.WhenSource
		}
		resp.Nodes = append(resp.Nodes, pn)
	}
	zerolog.Ctx(ctx).Info().Str("fn", "plan").Str("stack", stack).Int("nodes", len(resp.Nodes)).
		Int("levels", len(levels)).Dur("took_ms", time.Since(start)).Msg("planned")
	return resp, nil
}

// displayName renders metadata.name with everything known before apply (inputs, stack,
// index); references to other nodes stay as written. Secret inputs are never rendered.
func displayName(md map[string]any, r *template.Resolved, stack, ns string, index int) string {
	name, _ := md["name"].(string)
	if name == "" {
		gen, _ := md["generateName"].(string)
		return gen + "*"
	}
	e, err := refs.Parse(name)
	if err != nil {
		return name
	}
	v, err := refs.Render(e, func(ref *refs.Ref) (any, error) {
		switch ref.Root {
		case refs.RootStack:
			switch ref.Name {
			case "name":
				return stack, nil
			case "index":
				return ref.String(), nil
			}
			return ns, nil
		case refs.RootIndex:
			return index, nil
		case refs.RootInputs:
			if in := r.Template.Input(ref.Name); in != nil && !in.Secret {
				return refs.Get(r.Inputs[ref.Name], ref.Path)
			}
		}
		return ref.String(), nil
	})
	if err != nil {
		return name
	}
	s, err := refs.Text(v)
	if err != nil {
		return name
	}
	return s
}

// sourceName says where a source node's objects come from, as written: "./charts/redis",
// "oci://…/redis 1.2.0", "redis from https://charts.example.com".
func sourceName(spec map[string]any) string {
	str := func(k string) string { s, _ := spec[k].(string); return s }
	name := str("path")
	switch {
	case str("oci") != "":
		name = str("oci")
	case str("repo") != "":
		name = str("name") + " from " + str("repo")
	}
	if v := str("version"); v != "" {
		name += " " + v
	}
	return name
}
