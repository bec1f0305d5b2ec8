package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aos-project/aos/shared/kube"
	"github.com/aos-project/aos/shared/secrets"
)

// NodeRequest names one node of a stack, or a batch of them (apply_batch.go).
type NodeRequest struct {
	Stack string `json:"stack"`
	Node  string `json:"node,omitempty"`
	// Nodes is a batch, one of the state machine's Map items: each is applied as Node would
	// be, side by side.
	Nodes []string `json:"nodes,omitempty"`
	// Turn is how many nodes the Map that runs this call applies ($.check.turn); 0 when the
	// caller does not say, and then the call does not follow its node.
	Turn int `json:"turn,omitempty"`
	// TellLater leaves the node's WAITING event to the check-ready that follows the Map,
	// which appends a whole turn's in one write (tell.go); without it the call appends its
	// own.
	TellLater bool `json:"tellLater,omitempty"`
}

// NodeResponse says where the node stands after the call.
type NodeResponse struct {
	Node    string     `json:"node,omitempty"`
	Status  NodeStatus `json:"status,omitempty"`
	Message string     `json:"message,omitempty"`
	// Nodes answers a batch, node by node.
	Nodes []NodeResponse `json:"nodes,omitempty"`
	// applied: this call's apply was the one recorded (not a concurrent duplicate's), so this
	// call may follow the node (follow.go), starting from rec and live (the record as
	// written, the object as the server answered). Never serialised.
	applied bool
	rec     *NodeRecord
	live    *unstructured.Unstructured
}

// ApplyNode resolves a node's references from its dependencies' live values and applies it;
// while the stack is being deleted, or for a node the new revision dropped, it deletes the
// node instead, so the state machine runs one function for both directions. It is
// idempotent: a node already applied is reported, not applied again. With FollowFor set it
// then follows the node (follow.go); the answer is about the node it was asked to apply.
func (e *Engine) ApplyNode(ctx context.Context, req NodeRequest) (NodeResponse, error) {
	if len(req.Nodes) > 0 {
		return e.applyBatch(ctx, req)
	}
	return e.applyOne(ctx, req, false)
}

// applyOne is ApplyNode for one node; batched says it is one of a Map item's batch.
func (e *Engine) applyOne(ctx context.Context, req NodeRequest, batched bool) (NodeResponse, error) {
	slots := e.applySlots()
	if err := slots.acquire(ctx); err != nil {
		return NodeResponse{}, err
	}
	var pushed atomic.Bool
	resp, err := e.applyNode(kube.WithPushback(ctx, func() { pushed.Store(true) }), req)
	slots.release(pushed.Load())
	if err != nil || e.FollowFor <= 0 || req.Turn < 1 || !batched && req.Turn > MapConcurrency {
		// A follower holds its Map iteration. Only a call from a Map that runs every node of
		// its turn at once follows, so that no node waits for a slot a follower holds: a Map
		// of batches always does; one of single nodes (an execution started before batches)
		// when the turn is no larger than the Map runs at once.
		return resp, err
	}
	e.follow(ctx, req.Stack, resp)
	return resp, nil
}

func (e *Engine) applyNode(ctx context.Context, req NodeRequest) (NodeResponse, error) {
	st, n, err := e.loadNode(ctx, req)
	if err != nil {
		return NodeResponse{}, err
	}
	if st.Status == StackDeleteInProgress || n.Remove {
		return e.deleteNode(ctx, st, n)
	}
	if n.Status != NodePending {
		return NodeResponse{Node: n.ID, Status: n.Status, Message: n.Message}, nil
	}
	// No APPLYING write before the apply: server-side apply is idempotent, and the write
	// after it is conditional on the version read here, so a concurrent duplicate of this
	// call loses that write and reports what the first recorded. One write per apply.
	// AppliedAt is when this call started on the node, so that READY → applied shows the
	// wait before an apply apart from the apply itself.
	started := e.now().UTC()
	vals, red, err := e.inputs(st)
	if err != nil {
		return e.fail(ctx, n, "SecretsUnavailable", err.Error(), nil)
	}
	sc := newScope(st, vals, n.Index)
	if err := sc.forEach(n.ForEach); err != nil {
		return e.fail(ctx, n, "ReferenceError", err.Error(), red)
	}
	used := map[string]bool{}
	referencedNodes(n.Manifest, used)
	referencedNodes(n.When, used)
	for dep := range used {
		d, err := e.Store.GetNode(ctx, st.Name, dep)
		if errors.Is(err, ErrNotFound) {
			// Validate let the reference through, so the node is in the template: an
			// inputs-only when left it out, and it was never planned.
			sc.absent[dep] = true
			continue
		}
		if err != nil {
			return NodeResponse{}, fmt.Errorf("node %q: dependency %q: %w", n.ID, dep, err)
		}
		if !d.passed() {
			return e.fail(ctx, n, "DependencyNotReady", fmt.Sprintf("dependency %q is %s, not READY", dep, d.Status), red)
		}
		sc.see(d)
	}
	if err := e.seeStacks(ctx, st, n.Stacks, sc); err != nil {
		return e.fail(ctx, n, "StackNotReadable", err.Error(), red)
	}
	if n.When != "" {
		include, err := liveWhen(n.When, sc)
		if err != nil {
			return e.fail(ctx, n, "WhenError", err.Error(), red)
		}
		if !include {
			return e.skip(ctx, n)
		}
	}
	rendered, err := render(n.Manifest, sc, set(n.TextRefs))
	if err != nil {
		return e.fail(ctx, n, "ReferenceError", err.Error(), red)
	}
	if n.Source != "" {
		return e.applySource(ctx, st, n, rendered.(map[string]any), red, req.TellLater)
	}
	if n.Lookup {
		return e.lookUp(ctx, st, n, rendered.(map[string]any), red, req.TellLater)
	}
	client, err := e.Cluster(ctx, st)
	if err != nil {
		return NodeResponse{}, err
	}
	hash := fingerprint(rendered)
	if n.Ref != nil && hash == n.AppliedHash && !n.Drifted {
		// Unchanged since it was last applied: leave the object alone (no write, so its
		// resourceVersion stays) and let check-ready confirm it is still ready.
		live, err := client.Get(ctx, *n.Ref)
		if err != nil {
			return NodeResponse{}, fmt.Errorf("node %q: %w", n.ID, err)
		}
		if live != nil {
			n.waiting(started, reasonUnchanged, n.Ref.String()+" is as the template says", req.TellLater)
			n.AppliedRV = resumeFrom(req, live)
			e.settleOnApply(n, live, red)
			if first, err := e.record(ctx, n); first != nil || err != nil {
				return *first, err
			}
			e.tell(ctx, n)
			return NodeResponse{Node: n.ID, Status: n.Status, applied: true, rec: n, live: live}, nil
		}
	}
	owner := st.owner(n.ID)
	obj := &unstructured.Unstructured{Object: rendered.(map[string]any)}
	// The project again, on the object as rendered and with its scope as the cluster maps
	// it: a namespace from a reference, a CRD's kind, are known only now.
	if ref, err := client.Resolve(ctx, obj, st.Namespace); err == nil {
		pr, err := e.ProjectOf(st)
		if err == nil {
			err = checkObject(pr, ref, n.Adopt)
		}
		if err != nil {
			return e.fail(ctx, n, "PolicyDenied", err.Error(), red)
		}
	}
	if err := e.ensureNamespace(ctx, client, st); err != nil {
		return e.fail(ctx, n, "NamespaceError", err.Error(), red)
	}
	applied, err := client.Apply(ctx, obj, kube.ApplyOptions{Owner: owner, Adopt: n.Adopt, Replace: n.Replace})
	if apierrors.IsNotFound(err) && e.forgetNamespace(client, st) {
		// Remembered, but deleted since (by another process): create it again, once.
		if err := e.ensureNamespace(ctx, client, st); err != nil {
			return e.fail(ctx, n, "NamespaceError", err.Error(), red)
		}
		applied, err = client.Apply(ctx, obj, kube.ApplyOptions{Owner: owner, Adopt: n.Adopt, Replace: n.Replace})
	}
	if err != nil {
		return e.fail(ctx, n, applyReason(err), err.Error(), red)
	}
	former := n.Ref
	n.Ref, n.AppliedHash, n.Drifted = &applied.Ref, hash, false
	n.waiting(started, reasonApplied, fmt.Sprintf("%s %s", applied.Ref, appliedVerb(applied)), req.TellLater)
	n.AppliedRV = resumeFrom(req, applied.Object)
	n.Adopted = n.Adopted || applied.Adopted
	e.settleOnApply(n, applied.Object, red)
	if first, err := e.record(ctx, n); first != nil || err != nil {
		return *first, err
	}
	if former != nil && !sameObject(*former, applied.Ref) {
		if err := e.retire(ctx, st, n, *former, applied.Ref); err != nil {
			return NodeResponse{}, fmt.Errorf("node %q: retiring %s: %w", n.ID, former, err)
		}
	}
	e.tell(ctx, n)
	return NodeResponse{Node: n.ID, Status: n.Status, applied: true, rec: n, live: applied.Object}, nil
}

func appliedVerb(a *kube.Applied) string {
	switch {
	case a.Replaced:
		return "replaced (immutable change)"
	case a.Adopted:
		return "adopted"
	case a.Created:
		return "created"
	}
	return "updated"
}

func (e *Engine) loadNode(ctx context.Context, req NodeRequest) (*StackRecord, *NodeRecord, error) {
	st, err := e.Store.GetStack(ctx, req.Stack)
	if err != nil {
		return nil, nil, fmt.Errorf("stack %q: %w", req.Stack, err)
	}
	n, err := e.Store.GetNode(ctx, req.Stack, req.Node)
	if err != nil {
		return nil, nil, fmt.Errorf("stack %q node %q: %w", req.Stack, req.Node, err)
	}
	return st, n, nil
}

func applyReason(err error) string {
	switch {
	case kube.IsOwnership(err):
		return "OwnedElsewhere"
	case kube.IsImmutable(err):
		return "ImmutableField"
	case kube.IsUnknownKind(err):
		return "UnknownKind"
	}
	return "ApplyFailed"
}

// ensureNamespace creates the stack's namespace (owned by the stack) if it is missing.
func (e *Engine) ensureNamespace(ctx context.Context, c *kube.Client, st *StackRecord) error {
	key := namespaceKey(c, st)
	if _, seen := e.namespaces.Load(key); seen {
		return nil
	}
	_, err, _ := e.nsFlight.Do(key, func() (any, error) {
		if _, seen := e.namespaces.Load(key); seen {
			return nil, nil
		}
		if err := e.createNamespace(ctx, c, st); err != nil {
			return nil, err
		}
		e.namespaces.Store(key, true)
		return nil, nil
	})
	return err
}

// forgetNamespace drops a remembered namespace, and reports whether it was remembered.
func (e *Engine) forgetNamespace(c *kube.Client, st *StackRecord) bool {
	_, was := e.namespaces.LoadAndDelete(namespaceKey(c, st))
	return was
}

func namespaceKey(c *kube.Client, st *StackRecord) string {
	return c.Config.Host + "|" + c.Config.Impersonate.UserName + "|" + st.Namespace
}

func (e *Engine) createNamespace(ctx context.Context, c *kube.Client, st *StackRecord) error {
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": st.Namespace}}}
	ref, err := c.Resolve(ctx, ns, "")
	if err != nil {
		return err
	}
	live, err := c.Get(ctx, ref)
	if apierrors.IsForbidden(err) {
		// A project's ServiceAccount may be allowed in its namespace but not to read
		// namespaces: then the namespace is the cluster admin's to create, and the apply says
		// whether it exists.
		return nil
	}
	if err != nil || live != nil {
		return err
	}
	_, err = c.Apply(ctx, ns, kube.ApplyOptions{Owner: st.owner("(namespace)")})
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("namespace %q does not exist and the stack's identity may not create it (create it, or grant the project's ServiceAccount `create` on namespaces): %w", st.Namespace, err)
	}
	return err
}

// fail records a node FAILED with why, secret values redacted.
func (e *Engine) fail(ctx context.Context, n *NodeRecord, reason, msg string, red *secrets.Redactor) (NodeResponse, error) {
	if red != nil {
		msg = red.String(msg)
	}
	return e.settle(ctx, n, NodeFailed, reason, msg)
}

// settle records where a node now stands, with an event.
func (e *Engine) settle(ctx context.Context, n *NodeRecord, status NodeStatus, reason, msg string) (NodeResponse, error) {
	n.Status, n.Reason, n.Message = status, reason, msg
	if first, err := e.record(ctx, n); first != nil || err != nil {
		return *first, err
	}
	e.event(ctx, n.Stack, n.ID, string(status), reason, msg)
	return NodeResponse{Node: n.ID, Status: status, Message: msg}, nil
}

// record writes a node's new state, conditional on the version it was read at. Step
// Functions and Lambda deliver at least once, so one apply-node call may run twice at once:
// the second writer loses, and answers with what the first recorded (first), with no event
// of its own, rather than fail the operation. first is nil when this call's write won.
func (e *Engine) record(ctx context.Context, n *NodeRecord) (first *NodeResponse, err error) {
	err = e.Store.PutNode(ctx, n, n.Version)
	if err == nil {
		return nil, nil
	}
	if errors.Is(err, ErrVersionConflict) {
		if cur, gerr := e.Store.GetNode(ctx, n.Stack, n.ID); gerr == nil && (cur.Status != NodePending || cur.leftOut()) {
			return &NodeResponse{Node: cur.ID, Status: cur.Status, Message: cur.Message}, nil
		}
	}
	return &NodeResponse{}, fmt.Errorf("node %q: %w", n.ID, err)
}

// fingerprint identifies a rendered manifest (JSON encoding sorts map keys).
func fingerprint(m any) string {
	b, _ := json.Marshal(m)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
