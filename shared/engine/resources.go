package engine

import (
	"context"
	"fmt"

	"github.com/aos-project/aos/shared/kube"
)

// StateError: the stack is not in a state that allows the request (a conflict, not bad input).
type StateError struct{ Msg string }

func (e *StateError) Error() string { return e.Msg }

// Resource is one node's object as the cluster has it now.
type Resource struct {
	Node      string         `json:"node"`
	Status    NodeStatus     `json:"status"` // as the store records it
	Kind      string         `json:"kind,omitempty"`
	Name      string         `json:"name,omitempty"`
	Namespace string         `json:"namespace,omitempty"`
	Exists    bool           `json:"exists"`
	Live      kube.Readiness `json:"live"` // readiness judged from the live object now
	UID       string         `json:"uid,omitempty"`
}

// Resources reads every applied node's object from the cluster and judges its readiness now.
func (e *Engine) Resources(ctx context.Context, st *StackRecord) ([]Resource, error) {
	nodes, err := e.Store.ListNodes(ctx, st.Name)
	if err != nil {
		return nil, err
	}
	client, err := e.Cluster(ctx, st)
	if err != nil {
		return nil, err
	}
	// A readiness message quotes the live object (a Job's failure, a condition's text),
	// which may hold what a secret input put there.
	_, red, err := e.inputs(st)
	if err != nil {
		return nil, err
	}
	out := make([]Resource, 0, len(nodes))
	for _, n := range nodes {
		refs := n.objects()
		if len(refs) == 0 {
			out = append(out, Resource{Node: n.ID, Status: n.Status})
		}
		// A source node has a row per object.
		for _, ref := range refs {
			r := Resource{Node: n.ID, Status: n.Status, Kind: ref.Kind, Name: ref.Name, Namespace: ref.Namespace}
			u, err := client.Get(ctx, ref)
			if err != nil {
				return nil, fmt.Errorf("node %q: %w", n.ID, err)
			}
			if u != nil {
				r.Exists, r.UID = true, string(u.GetUID())
			}
			r.Live = kube.Evaluate(u, n.Conds)
			r.Live.Message = red.String(r.Live.Message)
			out = append(out, r)
		}
	}
	return out, nil
}
