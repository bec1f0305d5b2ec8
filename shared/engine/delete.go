package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aos-project/aos/shared/kube"
)

// Stack statuses of a delete.
const (
	StackDeleteInProgress = "DELETE_IN_PROGRESS"
	StackDeleteComplete   = "DELETE_COMPLETE"
	StackDeleteFailed     = "DELETE_FAILED"
)

// StartDelete begins deleting a stack: every node not yet deleted goes back to PENDING (in a
// delete, PENDING means "to delete") and the first nodes to delete — those nothing else
// depends on — come back as Startable. Deletion runs in reverse dependency order through
// DeleteNode and CheckReady, exactly as creation runs forward.
func (e *Engine) StartDelete(ctx context.Context, req CheckRequest) (CheckResponse, error) {
	return e.startDelete(ctx, req.Stack, OpDelete)
}

// startDelete records op (delete, or the first phase of rebuild) as the stack's operation,
// so a resumed run knows what it was doing.
func (e *Engine) startDelete(ctx context.Context, stack, op string) (CheckResponse, error) {
	if err := e.beginDelete(ctx, stack, op); err != nil {
		return CheckResponse{}, err
	}
	return e.CheckReady(ctx, CheckRequest{Stack: stack})
}

// beginDelete is the store side of starting a delete: nodes back to PENDING, the stack
// DELETE_IN_PROGRESS under this runner's lease. It touches no cluster, so the API can record
// an accepted delete before it answers.
func (e *Engine) beginDelete(ctx context.Context, stack, op string) error {
	st, err := e.Store.GetStack(ctx, stack)
	if err != nil {
		return fmt.Errorf("stack %q: %w", stack, err)
	}
	if st.Status == StackDeleteComplete {
		return &StateError{fmt.Sprintf("stack %q is already deleted", st.Name)}
	}
	if strings.HasSuffix(st.Status, "_IN_PROGRESS") && e.heldElsewhere(st) {
		return busyError(st)
	}
	nodes, err := e.Store.ListNodes(ctx, st.Name)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if n.Status == NodeDeleted || n.Status == NodePending && n.Ref == nil {
			continue
		}
		n.Status, n.Reason, n.Message = NodePending, "", ""
		if err := e.Store.PutNode(ctx, n, n.Version); err != nil {
			return fmt.Errorf("node %q: %w", n.ID, err)
		}
	}
	st.Status, st.Operation, st.Reason, st.UpdatedAt, st.Lease = StackDeleteInProgress, op, "", e.now().UTC(), e.newLease()
	if err := e.Store.PutStack(ctx, st, st.Version); err != nil {
		return fmt.Errorf("stack %q: %w", st.Name, err)
	}
	e.event(ctx, st.Name, "", StackDeleteInProgress, "UserInitiated", map[string]string{OpRebuild: "rebuild: deleting, then creating again"}[op])
	return nil
}

// DeleteNode deletes one node's object, or keeps it when the node says deletePolicy: retain.
func (e *Engine) DeleteNode(ctx context.Context, req NodeRequest) (NodeResponse, error) {
	st, n, err := e.loadNode(ctx, req)
	if err != nil {
		return NodeResponse{}, err
	}
	return e.deleteNode(ctx, st, n)
}

func (e *Engine) deleteNode(ctx context.Context, st *StackRecord, n *NodeRecord) (NodeResponse, error) {
	if n.Status != NodePending {
		return NodeResponse{Node: n.ID, Status: n.Status, Message: n.Message}, nil
	}
	switch {
	case n.Ref == nil:
		return e.settle(ctx, n, NodeDeleted, "NeverApplied", "nothing was created for this node")
	case n.Retain:
		return e.settle(ctx, n, NodeDeleted, "Retained", fmt.Sprintf("%s kept in the cluster (deletePolicy: retain)", n.Ref))
	}
	client, err := e.Kube(ctx, st.Context)
	if err != nil {
		return NodeResponse{}, fmt.Errorf("cluster for stack %q: %w", st.Name, err)
	}
	gone, err := client.StartDelete(ctx, *n.Ref, kube.Owner{Stack: st.Name, Namespace: st.Namespace, Node: n.ID})
	if err != nil {
		return e.settle(ctx, n, NodeFailed, "DeleteFailed", err.Error())
	}
	if gone {
		return e.settle(ctx, n, NodeDeleted, "Deleted", n.Ref.String()+" deleted")
	}
	return e.settle(ctx, n, NodeDeleting, "Deleting", n.Ref.String()+" is being deleted")
}

func (e *Engine) settle(ctx context.Context, n *NodeRecord, status NodeStatus, reason, msg string) (NodeResponse, error) {
	n.Status, n.Reason, n.Message = status, reason, msg
	if err := e.Store.PutNode(ctx, n, n.Version); err != nil {
		return NodeResponse{}, fmt.Errorf("node %q: %w", n.ID, err)
	}
	e.event(ctx, n.Stack, n.ID, string(status), reason, msg)
	return NodeResponse{Node: n.ID, Status: status, Message: msg}, nil
}

// checkDelete is CheckReady for a stack being deleted: it notices objects that are gone
// (polling for up to MaxWait when nothing changed) and returns the nodes whose dependents
// are all deleted.
func (e *Engine) checkDelete(ctx context.Context, st *StackRecord, nodes []*NodeRecord) (CheckResponse, error) {
	resp := CheckResponse{Stack: st.Name, Startable: []string{}, Ready: []string{}, Failed: []string{}}
	var deleting []*NodeRecord
	for _, n := range nodes {
		if n.Status == NodeDeleting {
			deleting = append(deleting, n)
		}
	}
	if err := e.awaitGone(ctx, st, deleting, &resp); err != nil {
		return resp, err
	}
	tallyDeletion(nodes, &resp)
	retained := false
	for _, n := range nodes {
		retained = retained || n.Status == NodeDeleted && n.Reason == "Retained"
	}
	resp.Done = !resp.Failure && resp.InFlight == 0 && resp.Pending == 0
	if resp.InFlight > 0 && len(resp.Startable) == 0 && e.MaxWait == 0 {
		resp.WaitSeconds = 1
	}
	switch {
	case resp.Done:
		if !retained {
			if err := e.deleteNamespace(ctx, st); err != nil {
				st.Status, st.Reason = StackDeleteFailed, err.Error()
				resp.Done, resp.Failure = false, true
				break
			}
		}
		st.Status, st.Outputs = StackDeleteComplete, nil
	case resp.Failure && resp.InFlight == 0 && len(resp.Startable) == 0:
		st.Status = StackDeleteFailed
		for _, n := range nodes {
			if n.Status == NodeFailed {
				st.Reason = fmt.Sprintf("node %q: %s", n.ID, n.Message)
				break
			}
		}
	}
	if st.Status != StackDeleteInProgress {
		st.UpdatedAt, st.Lease = e.now().UTC(), nil
		if err := e.Store.PutStack(ctx, st, st.Version); err != nil {
			return resp, fmt.Errorf("stack %q: %w", st.Name, err)
		}
		e.event(ctx, st.Name, "", st.Status, "", st.Reason)
	}
	resp.Status = st.Status
	return resp, nil
}

// awaitGone notices deleted objects among the DELETING nodes, polling for up to MaxWait when
// none is gone yet, and records them DELETED.
func (e *Engine) awaitGone(ctx context.Context, st *StackRecord, deleting []*NodeRecord, resp *CheckResponse) error {
	if len(deleting) == 0 {
		return nil
	}
	client, err := e.Kube(ctx, st.Context)
	if err != nil {
		return fmt.Errorf("cluster for stack %q: %w", st.Name, err)
	}
	deadline := e.now().Add(e.MaxWait)
	for delay := 20 * time.Millisecond; ; delay = min(delay*2, 250*time.Millisecond) {
		changed := false
		for _, n := range deleting {
			if n.Status != NodeDeleting {
				continue
			}
			gone, err := client.Gone(ctx, *n.Ref)
			if err != nil {
				return fmt.Errorf("node %q: %w", n.ID, err)
			}
			if gone {
				if _, err := e.settle(ctx, n, NodeDeleted, "Deleted", n.Ref.String()+" deleted"); err != nil {
					return err
				}
				resp.Ready = append(resp.Ready, n.ID)
				changed = true
			}
		}
		if changed || !e.now().Before(deadline) {
			return nil
		}
		time.Sleep(delay)
	}
}

// removeStale runs the last phase of an update: the nodes the new revision no longer has are
// deleted in reverse dependency order, after every other node is READY. It fills in resp's
// startable, in-flight and pending counts for them.
func (e *Engine) removeStale(ctx context.Context, st *StackRecord, removals []*NodeRecord, resp *CheckResponse) error {
	var deleting []*NodeRecord
	for _, n := range removals {
		if n.Status == NodeDeleting {
			deleting = append(deleting, n)
		}
	}
	if err := e.awaitGone(ctx, st, deleting, resp); err != nil {
		return err
	}
	tallyDeletion(removals, resp)
	return nil
}

// tallyDeletion counts, for nodes being deleted, those in flight, failed and pending, and
// hands out the pending ones whose dependents (among nodes) are all DELETED.
func tallyDeletion(nodes []*NodeRecord, resp *CheckResponse) {
	dependents := map[string][]*NodeRecord{}
	for _, n := range nodes {
		for _, d := range n.DependsOn {
			dependents[d] = append(dependents[d], n)
		}
	}
	for _, n := range nodes {
		switch n.Status {
		case NodeDeleting:
			resp.InFlight++
		case NodeFailed:
			resp.Failure = true
			resp.Failed = append(resp.Failed, n.ID)
		case NodePending:
			resp.Pending++
			free := true
			for _, d := range dependents[n.ID] {
				free = free && d.Status == NodeDeleted
			}
			if free {
				resp.Startable = append(resp.Startable, n.ID)
			}
		}
	}
}

// deleteNamespace removes the namespace AOS created for the stack, waiting until it is gone.
// A namespace the stack did not create is left alone.
func (e *Engine) deleteNamespace(ctx context.Context, st *StackRecord) error {
	client, err := e.Kube(ctx, st.Context)
	if err != nil {
		return err
	}
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": st.Namespace}}}
	ref, err := client.Resolve(ctx, ns, "")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err = client.Delete(ctx, ref, kube.Owner{Stack: st.Name, Namespace: st.Namespace, Node: "(namespace)"})
	if kube.IsOwnership(err) {
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("namespace %s is still terminating after 2m: %w", st.Namespace, err)
	}
	return err
}
