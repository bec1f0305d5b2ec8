package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/aos-project/aos/shared/kube"
)

// startDelete records op (delete, or the first phase of rebuild) as the stack's operation,
// so a resumed run knows what it was doing.
func (e *Engine) startDelete(ctx context.Context, stack, op, exec string, spent int, batched bool) (CheckResponse, error) {
	st, err := e.Store.GetStack(ctx, stack)
	if err != nil {
		return CheckResponse{}, fmt.Errorf("stack %q: %w", stack, err)
	}
	if err := e.beginDelete(ctx, st, op); err != nil {
		return CheckResponse{}, err
	}
	return e.CheckReady(ctx, CheckRequest{Stack: stack, Execution: exec, Spent: spent, Batched: batched})
}

// beginDelete is the store side of starting a delete: nodes back to PENDING, the stack
// DELETE_IN_PROGRESS under this runner's lease. It touches no cluster, so the API can record
// an accepted delete before it answers.
func (e *Engine) beginDelete(ctx context.Context, st *StackRecord, op string) error {
	if st.Status == StackDeleteComplete {
		return &StateError{fmt.Sprintf("stack %q is already deleted", st.Name)}
	}
	if e.leaseLive(ctx, st) && st.Status != StackDeleteInProgress || e.heldElsewhere(ctx, st, "") {
		// A delete never breaks into a running create, update or rollback (a scheduled
		// rebuild firing during an update, on AWS as in aos serve).
		return busyError(st)
	}
	nodes, err := e.Store.ListNodes(ctx, st.Name)
	if err != nil {
		return err
	}
	var reset []*NodeRecord
	for _, n := range nodes {
		if n.Status == NodeDeleted || n.Status == NodePending && len(n.objects()) == 0 {
			continue
		}
		n.Status, n.Reason, n.Message = NodePending, "", ""
		reset = append(reset, n)
	}
	// Side by side: one at a time, 1,000 nodes took 3.8 s of commits before anything was
	// deleted.
	if err := e.putNodes(ctx, reset, false); err != nil {
		return err
	}
	st.Status, st.Operation, st.Reason, st.UpdatedAt, st.Lease = StackDeleteInProgress, op, "", e.now().UTC(), e.newLease()
	if op == OpDelete {
		// A deleted stack's schedule goes with it; a new stack of the same name starts with
		// none. A rebuild keeps it for the stack it creates again.
		st.Schedule = nil
	}
	if err := e.Store.PutStack(ctx, st, st.Version); err != nil {
		return fmt.Errorf("stack %q: %w", st.Name, err)
	}
	e.event(ctx, st.Name, "", string(StackDeleteInProgress), "UserInitiated", map[string]string{OpRebuild: "rebuild: deleting, then creating again"}[op])
	return nil
}

// deleteNode deletes one node's object, or keeps it when the node says deletePolicy: retain.
func (e *Engine) deleteNode(ctx context.Context, st *StackRecord, n *NodeRecord) (NodeResponse, error) {
	if n.Status != NodePending {
		return NodeResponse{Node: n.ID, Status: n.Status, Message: n.Message}, nil
	}
	switch {
	case len(n.objects()) == 0:
		return e.settle(ctx, n, NodeDeleted, "NeverApplied", "nothing was created for this node")
	case n.Lookup:
		return e.settle(ctx, n, NodeDeleted, "NotOwned", fmt.Sprintf("%s was looked up, not created: left alone", n.what()))
	case n.Retain:
		return e.settle(ctx, n, NodeDeleted, "Retained", fmt.Sprintf("%s kept in the cluster (deletePolicy: retain)", n.what()))
	}
	client, err := e.Cluster(ctx, st)
	if err != nil {
		return NodeResponse{}, err
	}
	owner := n.ID
	if n.For != "" {
		owner = n.For // the object was applied as that node's
	}
	// A source's objects go in reverse apply order: custom resources before their CRDs.
	all := true
	del, kept := n.deletable()
	for _, ref := range slices.Backward(del) {
		gone, err := client.StartDelete(ctx, ref, st.owner(owner))
		if err != nil {
			return e.settle(ctx, n, NodeFailed, "DeleteFailed", err.Error())
		}
		all = all && gone
	}
	if len(kept) > 0 {
		e.event(ctx, st.Name, n.ID, string(NodeDeleting), "CRDsKept", fmt.Sprintf("%s kept, as Helm keeps a chart's CRDs: other stacks may share it, and deleting one deletes every resource of its kind in the cluster (kubectl delete it when none is left)", refList(kept)))
	}
	if all {
		return e.settle(ctx, n, NodeDeleted, "Deleted", n.what()+" deleted")
	}
	return e.settle(ctx, n, NodeDeleting, "Deleting", n.what()+" is being deleted")
}

// checkDelete is CheckReady for a stack being deleted: it notices objects that are gone
// (polling for up to MaxWait when nothing changed) and returns the nodes whose dependents
// are all deleted.
func (e *Engine) checkDelete(ctx context.Context, st *StackRecord, nodes []*NodeRecord) (CheckResponse, error) {
	resp := CheckResponse{Stack: st.Name, Startable: []string{}, Ready: []string{}, Failed: []string{}}
	gone, err := e.awaitGone(ctx, st, withStatus(nodes, NodeDeleting))
	if err != nil {
		return resp, err
	}
	resp.Ready = append(resp.Ready, gone...)
	v := decideDelete(nodes)
	if st.CancelRequested {
		v = cancelled(v)
		v.deleting = true
	}
	resp.take(v, e.MaxWait)
	switch ended, ok := v.ended(); {
	case ended && ok:
		st.Status, st.Outputs = StackDeleteComplete, nil
		if !v.Retained {
			gone, err := e.deleteNamespace(ctx, st)
			switch {
			case err != nil:
				st.Status, st.Reason = StackDeleteFailed, err.Error()
				resp.Done, resp.Failure = false, true
			case !gone:
				// Still terminating: one more loop turn, not a wait that outlives the call.
				st.Status, resp.Done, resp.InFlight = StackDeleteInProgress, false, 1
				if e.MaxWait == 0 {
					resp.WaitSeconds = 1
				}
			}
		}
	case ended:
		st.Status = StackDeleteFailed
		for _, n := range nodes {
			if st.CancelRequested {
				break // the reason says it was cancelled
			}
			if n.Status == NodeFailed {
				st.Reason = fmt.Sprintf("node %q: %s", n.ID, n.Message)
				break
			}
		}
	}
	if st.Status != StackDeleteInProgress {
		st.UpdatedAt, st.Lease, st.CancelRequested = e.now().UTC(), nil, false
		if err := e.Store.PutStack(ctx, st, st.Version); err != nil {
			return resp, fmt.Errorf("stack %q: %w", st.Name, err)
		}
		e.event(ctx, st.Name, "", string(st.Status), "", st.Reason)
	}
	resp.Status = st.Status
	return resp, nil
}

// awaitGone notices deleted objects among the DELETING nodes, polling for up to MaxWait when
// none is gone yet, records them DELETED, and returns their ids.
func (e *Engine) awaitGone(ctx context.Context, st *StackRecord, deleting []*NodeRecord) ([]string, error) {
	if len(deleting) == 0 {
		return nil, nil
	}
	client, err := e.Cluster(ctx, st)
	if err != nil {
		return nil, err
	}
	var gone []string
	// The poll's own context ends with MaxWait; reads and writes run on ctx, so the last look
	// is never cut short. With MaxWait 0 it looks once.
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, e.MaxWait, true, func(context.Context) (bool, error) {
		// One look at every object still being deleted: a LIST per resource and namespace.
		var pending, owner []*NodeRecord
		var refs []kube.Ref
		for _, n := range deleting {
			if n.Status != NodeDeleting {
				continue
			}
			pending = append(pending, n)
			del, _ := n.deletable()
			for _, ref := range del {
				refs, owner = append(refs, ref), append(owner, n)
			}
		}
		flags, err := client.GoneAll(ctx, refs)
		if err != nil {
			return false, err
		}
		left := map[*NodeRecord]bool{}
		for i, n := range owner {
			left[n] = left[n] || !flags[i]
		}
		var settled []*NodeRecord
		for _, n := range pending {
			if !left[n] {
				n.Status, n.Reason, n.Message = NodeDeleted, "Deleted", n.what()+" deleted"
				settled, gone = append(settled, n), append(gone, n.ID)
			}
		}
		if err := e.putNodes(ctx, settled, false); err != nil {
			return false, err
		}
		evs := make([]*Event, len(settled))
		for i, n := range settled {
			evs[i] = e.newEvent(ctx, n.Stack, n.ID, string(n.Status), n.Reason, n.Message)
		}
		e.appendEvents(ctx, evs)
		return len(gone) > 0, nil
	})
	if err != nil && (ctx.Err() != nil || !wait.Interrupted(err)) {
		return nil, err
	}
	return gone, nil
}

// deleteNamespace removes the namespace AOS created for the stack once nothing else lives in
// it, and reports whether it is gone; a namespace that is still terminating after MaxWait is
// not gone yet, and the next check looks again. A namespace the stack did not create, or one
// holding objects the stack did not put there, is left, with an event saying why.
func (e *Engine) deleteNamespace(ctx context.Context, st *StackRecord) (bool, error) {
	client, err := e.Cluster(ctx, st)
	if err != nil {
		return false, err
	}
	e.forgetNamespace(client, st)
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": st.Namespace}}}
	ref, err := client.Resolve(ctx, ns, "")
	if err != nil {
		return false, err
	}
	keep := func(why string) (bool, error) {
		e.event(ctx, st.Name, "", string(StackDeleteInProgress), "NamespaceKept", fmt.Sprintf("namespace %s is left in place: %s", st.Namespace, why))
		return true, nil
	}
	live, err := client.Get(ctx, ref)
	if apierrors.IsForbidden(err) {
		// The project's ServiceAccount may not read namespaces, so it could not have made
		// this one either.
		return keep("the stack's identity may not read namespaces")
	}
	if err != nil || live == nil {
		return live == nil, err
	}
	if live.GetDeletionTimestamp() == nil {
		owner := st.owner("(namespace)")
		if !kube.OwnedBy(live, owner) {
			return keep("the stack did not create it")
		}
		others, err := client.Occupants(ctx, st.Namespace, st.Name, 5)
		if err != nil {
			return false, fmt.Errorf("checking what else lives in namespace %s: %w", st.Namespace, err)
		}
		if len(others) > 0 {
			return keep("it holds objects the stack did not create: " + strings.Join(others, ", "))
		}
		gone, err := client.StartDelete(ctx, ref, owner)
		if err != nil || gone {
			return gone, err
		}
	}
	gone := false
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, e.MaxWait, true, func(context.Context) (bool, error) {
		gone, err = client.Gone(ctx, ref)
		return gone, err
	})
	if err != nil && (ctx.Err() != nil || !wait.Interrupted(err)) {
		return false, err
	}
	return gone, nil
}
