package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aos-project/aos/shared/kube"
)

// sameObject reports whether two refs name one object: kind, API group, namespace and name.
// A changed version of the same kind is the same object.
func sameObject(a, b kube.Ref) bool {
	group := func(apiVersion string) string {
		g, _, found := strings.Cut(apiVersion, "/")
		if !found {
			return ""
		}
		return g
	}
	return a.Kind == b.Kind && group(a.APIVersion) == group(b.APIVersion) && a.Namespace == b.Namespace && a.Name == b.Name
}

// retiredID names the record that retires one of a node's former objects.
func retiredID(node string, ref kube.Ref) string {
	return fmt.Sprintf("%s~%s/%s", node, ref.Kind, ref.Name)
}

// retire records that n's object is now applied, under another identity, and that its former
// object old goes: a record of its own, marked for removal, so that it is deleted like any
// node the revision dropped, after every node is READY and in reverse dependency order (and
// with the whole stack on a delete). Without it a renamed object lingered in the cluster. An
// object the node takes back (a rollback to the old name) is reclaimed instead: its
// retirement is called off.
func (e *Engine) retire(ctx context.Context, st *StackRecord, n *NodeRecord, old, now kube.Ref) error {
	nodes, err := e.Store.ListNodes(ctx, st.Name)
	if err != nil {
		return err
	}
	for _, r := range nodes {
		if r.For != n.ID || r.Ref == nil || !sameObject(*r.Ref, now) || r.Status == NodeDeleted {
			continue
		}
		r.Status, r.Reason, r.Message = NodeDeleted, "Reclaimed", fmt.Sprintf("%s is node %q's object again", now, n.ID)
		if err := e.Store.PutNode(ctx, r, r.Version); err != nil && !errors.Is(err, ErrVersionConflict) {
			return fmt.Errorf("node %q: %w", r.ID, err)
		}
		e.event(ctx, st.Name, r.ID, string(NodeDeleted), r.Reason, r.Message)
	}
	rec := &NodeRecord{
		Stack: st.Name, ID: retiredID(n.ID, old), Node: n.Node, Index: n.Index, For: n.ID, Ref: &old,
		DependsOn: n.DependsOn, Retain: n.Retain, Remove: true, Status: NodePending, Revision: st.Revision,
	}
	expect := int64(0)
	if cur, err := e.Store.GetNode(ctx, st.Name, rec.ID); err == nil {
		if cur.Status != NodeDeleted {
			return nil // retiring already
		}
		expect = cur.Version
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	if err := e.Store.PutNode(ctx, rec, expect); err != nil && !errors.Is(err, ErrVersionConflict) {
		return fmt.Errorf("node %q: %w", rec.ID, err)
	}
	e.event(ctx, st.Name, n.ID, string(NodeWaiting), "Replaced", fmt.Sprintf("%s replaces %s, which is deleted once the stack is READY", now, old))
	return nil
}
