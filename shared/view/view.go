// Package view holds what the CLI and the HTTP API show of stacks, nodes and revisions:
// never sealed values, never the template text.
package view

import (
	"cmp"
	"fmt"
	"sort"
	"time"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/project"
)

// Stack is what read commands show of a stack: never sealed values or the template.
type Stack struct {
	Name      string             `json:"name"`
	Namespace string             `json:"namespace"`
	Context   string             `json:"context,omitempty"`
	Project   string             `json:"project"`
	StartedBy string             `json:"startedBy,omitempty"`
	Status    engine.StackStatus `json:"status"`
	Reason    string             `json:"reason,omitempty"`
	Inputs    map[string]any     `json:"inputs"`
	Secret    []string           `json:"secretInputs,omitempty"`
	Outputs   map[string]any     `json:"outputs,omitempty"`
	Operation string             `json:"operation,omitempty"`
	Revision  int                `json:"revision"`
	Schedule  *engine.Schedule   `json:"schedule,omitempty"`
	CreatedAt time.Time          `json:"createdAt"`
	UpdatedAt time.Time          `json:"updatedAt"`
	// Nodes counts the stack's nodes, where a list asked for it.
	Nodes *Count `json:"nodes,omitempty"`
}

// Count is how far a stack's nodes are: READY (or left out by their when) of all.
type Count struct {
	Ready int `json:"ready"`
	Total int `json:"total"`
}

// CountOf counts the nodes of the stack's revision (not those it is removing).
func CountOf(nodes []*engine.NodeRecord) *Count {
	c := &Count{}
	for _, n := range nodes {
		if n.Remove {
			continue
		}
		c.Total++
		if n.Status == engine.NodeReady || n.Status == engine.NodeSkipped {
			c.Ready++
		}
	}
	return c
}

// StackOf is the view of a stack record.
func StackOf(st *engine.StackRecord) Stack {
	v := Stack{Name: st.Name, Namespace: st.Namespace, Context: st.Context, Project: cmp.Or(st.Project, project.DefaultName), StartedBy: st.StartedBy, Status: st.Status, Reason: st.Reason,
		Inputs: st.Inputs, Outputs: st.Outputs, Operation: st.Operation, Revision: st.Revision, Schedule: st.Schedule,
		CreatedAt: st.CreatedAt, UpdatedAt: st.UpdatedAt}
	for k := range st.Sealed {
		v.Secret = append(v.Secret, k)
	}
	sort.Strings(v.Secret)
	return v
}

// Node is what status shows of a node.
type Node struct {
	ID        string            `json:"id"`
	Status    engine.NodeStatus `json:"status"`
	Kind      string            `json:"kind,omitempty"`
	Name      string            `json:"name,omitempty"`
	Namespace string            `json:"namespace,omitempty"`
	Reason    string            `json:"reason,omitempty"`
	Message   string            `json:"message,omitempty"`
	DependsOn []string          `json:"dependsOn"`
	Seconds   float64           `json:"readySeconds,omitempty"`
	AppliedAt time.Time         `json:"appliedAt,omitzero"`
	ReadyAt   time.Time         `json:"readyAt,omitzero"`
	// Objects lists a chart's, kustomize's or manifests' objects as applied ("Service/redis").
	Objects []string `json:"objects,omitempty"`
}

// Nodes is the view of a stack's nodes.
func Nodes(nodes []*engine.NodeRecord) []Node {
	out := make([]Node, 0, len(nodes))
	for _, n := range nodes {
		v := Node{ID: n.ID, Status: n.Status, Reason: n.Reason, Message: n.Message, DependsOn: n.DependsOn, AppliedAt: n.AppliedAt, ReadyAt: n.ReadyAt}
		switch {
		case n.Source != "":
			v.Kind, v.Name = n.Source, fmt.Sprintf("%d objects", len(n.Objects))
			for _, o := range n.Objects {
				v.Objects = append(v.Objects, o.Kind+"/"+o.Name)
			}
		case n.Ref != nil:
			v.Kind, v.Name, v.Namespace = n.Ref.Kind, n.Ref.Name, n.Ref.Namespace
		default:
			// Not applied yet (or failed before it was): the name as the template writes it.
			v.Kind, _ = n.Manifest["kind"].(string)
			if md, ok := n.Manifest["metadata"].(map[string]any); ok {
				if v.Name, _ = md["name"].(string); v.Name == "" {
					if gen, _ := md["generateName"].(string); gen != "" {
						v.Name = gen + "*"
					}
				}
				v.Namespace, _ = md["namespace"].(string)
			}
		}
		if !n.ReadyAt.IsZero() && !n.AppliedAt.IsZero() {
			v.Seconds = n.ReadyAt.Sub(n.AppliedAt).Seconds()
		}
		out = append(out, v)
	}
	return out
}

// Revision is what history shows of a revision: never the sealed values.
type Revision struct {
	Number    int                `json:"number"`
	Operation string             `json:"operation"`
	Status    engine.StackStatus `json:"status"`
	Reason    string             `json:"reason,omitempty"`
	Note      string             `json:"note,omitempty"`
	File      string             `json:"file"`
	Inputs    map[string]any     `json:"inputs"`
	Secret    []string           `json:"secretInputs,omitempty"`
	StartedAt time.Time          `json:"startedAt"`
	EndedAt   time.Time          `json:"endedAt,omitzero"`
	Seconds   float64            `json:"seconds,omitempty"`
}

// RevisionOf is the view of a revision.
func RevisionOf(r *engine.Revision) Revision {
	v := Revision{Number: r.Number, Operation: r.Operation, Status: r.Status, Reason: r.Reason, Note: r.Note,
		File: r.File, Inputs: r.Inputs, StartedAt: r.StartedAt, EndedAt: r.EndedAt}
	for k := range r.Sealed {
		v.Secret = append(v.Secret, k)
	}
	sort.Strings(v.Secret)
	if !r.EndedAt.IsZero() {
		v.Seconds = r.EndedAt.Sub(r.StartedAt).Seconds()
	}
	return v
}

// Stacks is the view of a list of stack records.
func Stacks(records []*engine.StackRecord) []Stack {
	out := make([]Stack, 0, len(records))
	for _, st := range records {
		out = append(out, StackOf(st))
	}
	return out
}

// Revisions is the view of a stack's revisions.
func Revisions(revs []*engine.Revision) []Revision {
	out := make([]Revision, 0, len(revs))
	for _, r := range revs {
		out = append(out, RevisionOf(r))
	}
	return out
}
