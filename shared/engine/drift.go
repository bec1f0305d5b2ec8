package engine

import (
	"context"
	"fmt"
	"github.com/aos-project/aos/shared/source"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aos-project/aos/shared/diff"
	"github.com/aos-project/aos/shared/kube"
	"github.com/aos-project/aos/shared/secrets"
)

// DriftStatus is how a node's live object stands against what the stack applied.
type DriftStatus string

// Drift statuses.
const (
	InSync   DriftStatus = "IN_SYNC"
	Modified DriftStatus = "MODIFIED"
	Deleted  DriftStatus = "DELETED"
	// Unknown: the node could not be compared (never applied, left out, or its manifest
	// does not render now); Detail says why.
	Unknown DriftStatus = "UNKNOWN"
)

// NodeDrift is one node's drift.
type NodeDrift struct {
	Node   string      `json:"node"`
	Object string      `json:"object,omitempty"`
	Status DriftStatus `json:"status"`
	// Changes are the fields the stack manages whose live value differs: Old is the live
	// value, New what the stack applied. Secret values are redacted.
	Changes []diff.Change `json:"changes,omitempty"`
	Detail  string        `json:"detail,omitempty"`
}

// DriftReport is a stack's drift, node by node.
type DriftReport struct {
	Stack     string      `json:"stack"`
	CheckedAt time.Time   `json:"checkedAt"`
	Drifted   int         `json:"drifted"`
	Nodes     []NodeDrift `json:"nodes"`
}

// Drift compares each applied node's live object with what the stack applies: the node's
// manifest rendered as apply renders it, sent as a server-side dry-run apply under AOS's
// field manager. The fields that apply would change back are the drift; fields other
// managers own, and what the server fills in, are not. A node whose object is gone is
// DELETED. Each drifted node gets an event and is marked, so the next update of the stack
// (`aos up`, or `aos drift --repair`) applies it again even though its template did not
// change. A stack with an operation in progress is not checked.
func (e *Engine) Drift(ctx context.Context, stack string) (*DriftReport, error) {
	st, err := e.Store.GetStack(ctx, stack)
	if err != nil {
		return nil, fmt.Errorf("stack %q: %w", stack, err)
	}
	if st.Status.InProgress() {
		return nil, busyError(st)
	}
	if st.Status == StackDeleteComplete {
		return nil, &StateError{fmt.Sprintf("stack %q is deleted: nothing to compare", st.Name)}
	}
	nodes, err := e.Store.ListNodes(ctx, st.Name)
	if err != nil {
		return nil, err
	}
	vals, red, err := e.inputs(st)
	if err != nil {
		return nil, err
	}
	client, err := e.Cluster(ctx, st)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*NodeRecord, len(nodes))
	for _, n := range nodes {
		byID[n.ID] = n
	}
	rep := &DriftReport{Stack: st.Name, CheckedAt: e.now().UTC(), Nodes: []NodeDrift{}}
	for _, n := range nodes {
		if n.Remove || n.Status == NodeDeleted {
			continue
		}
		d := e.driftOf(ctx, client, st, n, byID, vals, red)
		rep.Nodes = append(rep.Nodes, d)
		if d.Status != Modified && d.Status != Deleted {
			continue
		}
		rep.Drifted++
		var fields []string
		for _, c := range d.Changes {
			fields = append(fields, c.Path)
		}
		msg := d.Object + " is gone from the cluster"
		if d.Status == Modified {
			msg = d.Object + " differs from what the stack applied: " + strings.Join(fields, ", ")
		}
		if !n.Drifted {
			n.Drifted = true
			if err := e.Store.PutNode(ctx, n, n.Version); err != nil {
				return nil, fmt.Errorf("node %q: marking it drifted: %w", n.ID, err)
			}
		}
		e.event(ctx, st.Name, n.ID, "DRIFTED", map[DriftStatus]string{Modified: "Modified", Deleted: "Deleted"}[d.Status], msg)
	}
	return rep, nil
}

func (e *Engine) driftOf(ctx context.Context, client *kube.Client, st *StackRecord, n *NodeRecord, byID map[string]*NodeRecord, vals map[string]any, red *secrets.Redactor) NodeDrift {
	d := NodeDrift{Node: n.ID, Status: Unknown}
	if n.Source != "" {
		return e.sourceDriftOf(ctx, client, st, n, byID, vals, red)
	}
	if n.Ref == nil {
		d.Detail = fmt.Sprintf("not applied (%s)", n.Status)
		return d
	}
	d.Object = n.Ref.String()
	if n.Lookup {
		d.Status, d.Detail = InSync, "looked up: not the stack's to keep in line"
		if live, err := client.Get(ctx, *n.Ref); err == nil && live == nil {
			d.Status, d.Detail = Deleted, "looked up, and gone: the stack's readers of it will fail on their next apply"
		}
		return d
	}
	rendered, err := renderNow(st, n, byID, vals)
	if err != nil {
		d.Detail = "the manifest does not render now: " + red.String(err.Error())
		return d
	}
	obj := &unstructured.Unstructured{Object: rendered}
	live, result, err := client.DryRun(ctx, obj, kube.ApplyOptions{Owner: st.owner(n.ID), Adopt: n.Adopt || n.Adopted, Replace: n.Replace})
	switch {
	case err != nil:
		d.Detail = "the API server would not compare it: " + red.String(err.Error())
		return d
	case live == nil:
		d.Status = Deleted
		return d
	case result == nil:
		d.Status, d.Detail = Modified, "an immutable field differs: applying again replaces the object"
		return d
	}
	secret := n.Ref.Kind == "Secret"
	for _, c := range diff.Objects(live.Object, result.Object) {
		if secret && (strings.HasPrefix(c.Path, "data") || strings.HasPrefix(c.Path, "stringData")) || sensitivePath(n.Sensitive, c.Path) {
			c.Old, c.New = sensitive(c.Old), sensitive(c.New)
		} else {
			c.Old, c.New = red.Value(c.Old), red.Value(c.New)
		}
		d.Changes = append(d.Changes, c)
	}
	d.Status = InSync
	if len(d.Changes) > 0 {
		d.Status = Modified
	}
	return d
}

// sensitivePath reports whether a changed field (diff's "spec.x" form) is, or is under, a
// field the node holds a secret-derived value in (".spec.x").
func sensitivePath(fields []string, path string) bool {
	for _, f := range fields {
		f = strings.TrimPrefix(f, ".")
		if path == f || strings.HasPrefix(path, f+".") || strings.HasPrefix(path, f+"[") {
			return true
		}
	}
	return false
}

// RepairRequest is the update that applies a stack's current revision again: its drifted
// nodes (marked by Drift) are applied, the others left as they are.
func (e *Engine) RepairRequest(ctx context.Context, stack string) (CreateRequest, error) {
	st, err := e.Store.GetStack(ctx, stack)
	if err != nil {
		return CreateRequest{}, fmt.Errorf("stack %q: %w", stack, err)
	}
	req, err := e.resubmission(st)
	if err != nil {
		return CreateRequest{}, err
	}
	req.Note = "repair: applying drifted nodes again"
	return req, nil
}

// sourceDriftOf compares each object a source renders now with the live one: a change is
// named by the object ("Deployment/web spec.replicas"). The node is DELETED when all its
// objects are gone, MODIFIED when some are or differ. A source that receives a secret shows
// no values, as it keeps none (captureSourceLive).
func (e *Engine) sourceDriftOf(ctx context.Context, client *kube.Client, st *StackRecord, n *NodeRecord, byID map[string]*NodeRecord, vals map[string]any, red *secrets.Redactor) NodeDrift {
	d := NodeDrift{Node: n.ID, Status: Unknown, Object: n.what()}
	if len(n.Objects) == 0 {
		d.Detail = fmt.Sprintf("not applied (%s)", n.Status)
		return d
	}
	spec, err := renderNow(st, n, byID, vals)
	if err == nil {
		var objs []*unstructured.Unstructured
		if objs, err = source.Render(ctx, source.Request{Kind: n.Source, Spec: spec, Dir: st.Dir, Namespace: st.Namespace, Release: n.ID}); err == nil {
			return objectsDrift(ctx, client, st, n, objs, red, d)
		}
	}
	d.Detail = fmt.Sprintf("the %s does not render now: %s", n.Source, red.String(err.Error()))
	return d
}

func objectsDrift(ctx context.Context, client *kube.Client, st *StackRecord, n *NodeRecord, objs []*unstructured.Unstructured, red *secrets.Redactor, d NodeDrift) NodeDrift {
	hidden := slices.Contains(n.Sensitive, "")
	var missing []string
	for _, o := range objs {
		key := source.Key(o)
		if o.GetKind() == "CustomResourceDefinition" {
			continue // created when missing, never updated (applySource): not the stack's to keep in line
		}
		live, result, err := client.DryRun(ctx, o, kube.ApplyOptions{Owner: st.owner(n.ID), Adopt: n.Adopt || n.Adopted})
		switch {
		case err != nil:
			d.Detail = fmt.Sprintf("the API server would not compare %s: %s", key, red.String(err.Error()))
			return d
		case live == nil:
			missing = append(missing, key)
			continue
		case result == nil:
			d.Changes = append(d.Changes, diff.Change{Path: key, Old: "(immutable field differs)", New: "(replaced when applied again)"})
			continue
		}
		secret := o.GetKind() == "Secret"
		for _, c := range diff.Objects(live.Object, result.Object) {
			if hidden || secret && (strings.HasPrefix(c.Path, "data") || strings.HasPrefix(c.Path, "stringData")) {
				c.Old, c.New = sensitive(c.Old), sensitive(c.New)
			} else {
				c.Old, c.New = red.Value(c.Old), red.Value(c.New)
			}
			c.Path = key + " " + c.Path
			d.Changes = append(d.Changes, c)
		}
	}
	switch {
	case len(missing) == len(objs):
		d.Status = Deleted
	case len(missing) > 0 || len(d.Changes) > 0:
		d.Status = Modified
		if len(missing) > 0 {
			d.Detail = "deleted: " + strings.Join(missing, ", ")
		}
	default:
		d.Status = InSync
	}
	return d
}
