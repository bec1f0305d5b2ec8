package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/shared/kube"
	"github.com/aos-project/aos/shared/refs"
	"github.com/aos-project/aos/shared/secrets"
	"github.com/aos-project/aos/shared/template"
)

// Stack statuses.
const (
	StackCreateInProgress = "CREATE_IN_PROGRESS"
	StackCreateComplete   = "CREATE_COMPLETE"
	StackCreateFailed     = "CREATE_FAILED"
)

// Engine runs the stateful functions (apply-node, check-ready) against a store and clusters.
type Engine struct {
	Store  Store
	Sealer *secrets.Sealer
	// Kube returns the client for a stack's kube context ("" is the default).
	Kube func(ctx context.Context, kubeContext string) (*kube.Client, error)
	// MaxWait bounds how long CheckReady watches for a change before answering.
	MaxWait time.Duration
	Now     func() time.Time
	// Holder names this runner in leases (default host:pid); LeaseFor is how long a lease
	// holds without renewal (default DefaultLease).
	Holder   string
	LeaseFor time.Duration
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// CreateRequest asks for a new stack.
type CreateRequest struct {
	PlanRequest
	Context string `json:"context,omitempty"`
	// Note says why, in the revision and its first event (rollback --revision, rebuild, copy).
	Note string `json:"note,omitempty"`
	// Index is the stack's index in a batch: ${stack.index}.
	Index int `json:"index,omitempty"`
	// Batch names the batch the stack belongs to.
	Batch string `json:"batch,omitempty"`
	// Queued says the operation waits for a batch's turn (its first event says so).
	Queued bool `json:"queued,omitempty"`
	// IdempotencyKey makes a retried request return the operation the first one started
	// (RepeatedError) instead of starting another.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
}

// RepeatedError: the request carries the idempotency key of the operation the stack last
// started, which is the answer to it.
type RepeatedError struct {
	Stack, Operation string
	Revision         int
}

func (e *RepeatedError) Error() string {
	return fmt.Sprintf("stack %q: this request already started %s (revision %d)", e.Stack, e.Operation, e.Revision)
}

// CreateResponse names the stack and the nodes that can start at once.
type CreateResponse struct {
	Stack string   `json:"stack"`
	Nodes int      `json:"nodes"`
	Ready []string `json:"ready"`
}

// Create validates and plans a template, records a new stack and its nodes, and returns the
// nodes that can start at once: Submit followed by PlanStack, for callers that drive the
// loop themselves.
func (e *Engine) Create(ctx context.Context, req CreateRequest) (CreateResponse, error) {
	name, err := e.Submit(ctx, req)
	if err != nil {
		return CreateResponse{}, err
	}
	resp, err := e.PlanStack(ctx, OpRequest{Stack: name, Operation: OpCreate})
	if err != nil {
		return CreateResponse{}, err
	}
	return CreateResponse{Stack: name, Nodes: resp.Pending + resp.InFlight, Ready: resp.Startable}, nil
}

// Stack statuses of an update and its rollback.
const (
	StackUpdateInProgress   = "UPDATE_IN_PROGRESS"
	StackUpdateComplete     = "UPDATE_COMPLETE"
	StackUpdateFailed       = "UPDATE_FAILED"
	StackRollbackInProgress = "UPDATE_ROLLBACK_IN_PROGRESS"
	StackRollbackComplete   = "UPDATE_ROLLBACK_COMPLETE"
	StackRollbackFailed     = "UPDATE_ROLLBACK_FAILED"
)

// Submit validates a template with its inputs and records the stack (secret inputs sealed),
// ready for the state machine's validate and plan steps, which read it by name. For a stack
// that exists and is settled it records an update; the operation to run is returned.
func (e *Engine) Submit(ctx context.Context, req CreateRequest) (string, error) {
	name, _, err := e.SubmitOp(ctx, req)
	return name, err
}

// SubmitOp is Submit, also returning the operation (create or update) to run.
func (e *Engine) SubmitOp(ctx context.Context, req CreateRequest) (string, string, error) {
	plan, err := Plan(ctx, req.PlanRequest)
	if err != nil {
		return "", "", err
	}
	r, _, _ := load(req.TemplateRequest)
	t := r.Template
	inputs, sealed := map[string]any{}, map[string]string{}
	for name, v := range r.Inputs {
		if t.Input(name).Secret {
			s, err := e.Sealer.Seal(v)
			if err != nil {
				return "", "", fmt.Errorf("sealing input %q: %w", name, err)
			}
			sealed[name] = s
		} else {
			inputs[name] = v
		}
	}
	cur, err := e.Store.GetStack(ctx, plan.Stack)
	revision := 1
	if err == nil && req.IdempotencyKey != "" && cur.RequestKey == req.IdempotencyKey {
		return cur.Name, cur.Operation, &RepeatedError{Stack: cur.Name, Operation: cur.Operation, Revision: cur.Revision}
	}
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return "", "", fmt.Errorf("stack %q: %w", plan.Stack, err)
	case cur.Status == StackDeleteComplete:
		// A deleted stack's name is free again; its event log and revisions continue.
		revision = cur.Revision + 1
		if err := e.Store.DeleteStack(ctx, cur.Name); err != nil {
			return "", "", fmt.Errorf("clearing deleted stack %q: %w", cur.Name, err)
		}
	case strings.HasSuffix(cur.Status, "_IN_PROGRESS"):
		return "", "", busyError(cur)
	case cur.Status == StackCreateFailed:
		// A failed create has no good revision to return to; it stays for inspection, and the
		// next up creates again in place: nodes that were applied and are unchanged are left
		// alone, the rest applied, nodes the template dropped deleted.
		if req.Namespace != "" && req.Namespace != cur.Namespace {
			return "", "", &StateError{fmt.Sprintf("stack %q lives in namespace %q; delete it (`aos down %s`) to create it elsewhere", cur.Name, cur.Namespace, cur.Name)}
		}
		cur.File, cur.Template, cur.Inputs, cur.Sealed = req.file(), req.Template, inputs, sealed
		cur.Status, cur.Operation, cur.Reason, cur.UpdatedAt, cur.Lease = StackCreateInProgress, OpCreate, "", e.now().UTC(), e.newLease()
		cur.Revision++
		cur.RequestKey = req.IdempotencyKey
		if err := e.recordRevision(ctx, cur, withNote("after a failed create", req.Note)); err != nil {
			return "", "", err
		}
		if err := e.Store.PutStack(ctx, cur, cur.Version); err != nil {
			return "", "", fmt.Errorf("stack %q: %w", cur.Name, err)
		}
		e.event(ctx, cur.Name, "", StackCreateInProgress, "UserInitiated", fmt.Sprintf("revision %d: creating again after a failed create, %d node(s) planned", cur.Revision, len(plan.Nodes)))
		return cur.Name, OpCreate, nil
	case cur.Status == StackCreateComplete || cur.Status == StackUpdateComplete || cur.Status == StackUpdateFailed ||
		cur.Status == StackRollbackComplete || cur.Status == StackRollbackFailed:
		if req.Namespace != "" && req.Namespace != cur.Namespace {
			return "", "", &StateError{fmt.Sprintf("stack %q lives in namespace %q; an update cannot move it (copy it instead)", cur.Name, cur.Namespace)}
		}
		if cur.Status != StackUpdateFailed && cur.Status != StackRollbackFailed {
			cur.Previous = &Revision{Number: cur.Revision, File: cur.File, Template: cur.Template, Inputs: cur.Inputs, Sealed: cur.Sealed}
		}
		cur.File, cur.Template, cur.Inputs, cur.Sealed = req.file(), req.Template, inputs, sealed
		cur.Status, cur.Operation, cur.Reason, cur.UpdatedAt, cur.Lease = StackUpdateInProgress, OpUpdate, "", e.now().UTC(), e.newLease()
		cur.Revision++
		cur.RequestKey = req.IdempotencyKey
		if err := e.recordRevision(ctx, cur, req.Note); err != nil {
			return "", "", err
		}
		if err := e.Store.PutStack(ctx, cur, cur.Version); err != nil {
			return "", "", fmt.Errorf("stack %q: %w", cur.Name, err)
		}
		e.event(ctx, cur.Name, "", StackUpdateInProgress, "UserInitiated", withNote(fmt.Sprintf("revision %d: %d node(s) planned", cur.Revision, len(plan.Nodes)), req.Note))
		return cur.Name, OpUpdate, nil
	default:
		return "", "", &StateError{fmt.Sprintf("stack %q is %s: delete it first (`aos down %s`)", cur.Name, cur.Status, cur.Name)}
	}
	rec := &StackRecord{
		Name: plan.Stack, Namespace: plan.Namespace, Context: req.Context, File: req.file(), Template: req.Template,
		Inputs: inputs, Sealed: sealed, Status: StackCreateInProgress, Operation: OpCreate, Revision: revision, Lease: e.newLease(),
		CreatedAt: e.now().UTC(), UpdatedAt: e.now().UTC(), RequestKey: req.IdempotencyKey, Index: req.Index, Batch: req.Batch,
	}
	if cur != nil && cur.Status == StackDeleteComplete {
		rec.Schedule = cur.Schedule // a stack rebuilt on a schedule keeps it
	}
	if err := e.recordRevision(ctx, rec, req.Note); err != nil {
		return "", "", err
	}
	if err := e.Store.PutStack(ctx, rec, 0); err != nil {
		if errors.Is(err, ErrVersionConflict) {
			return "", "", &BusyError{fmt.Sprintf("stack %q is busy: another run recorded it a moment ago", rec.Name)}
		}
		return "", "", fmt.Errorf("recording stack %q: %w", rec.Name, err)
	}
	reason := "UserInitiated"
	if req.Queued {
		reason = "Queued"
	}
	e.event(ctx, rec.Name, "", StackCreateInProgress, reason, withNote(fmt.Sprintf("revision %d: %d node(s) planned", rec.Revision, len(plan.Nodes)), req.Note))
	return rec.Name, OpCreate, nil
}

func withNote(msg, note string) string {
	if note == "" {
		return msg
	}
	return msg + " (" + note + ")"
}

// Operations the state machine runs.
const (
	OpCreate   = "create"
	OpUpdate   = "update"
	OpRollback = "rollback"
	OpDelete   = "delete"
	// OpRebuild deletes a stack, then (as OpRecreate, the state machine's second phase)
	// creates it again from the same template and inputs.
	OpRebuild  = "rebuild"
	OpRecreate = "recreate"
)

// OpRequest is the state machine's input: which stack, which operation, and what to do if
// an update fails ("rollback", the default, or "keep"). Payloads carry ids.
type OpRequest struct {
	Stack     string `json:"stack"`
	Operation string `json:"operation"`
	OnFailure string `json:"onFailure,omitempty"`
}

// ValidateStack is the state machine's validate step: the stored template and inputs are
// checked again, so that a stack recorded by an older version, or tampered with, stops here.
func (e *Engine) ValidateStack(ctx context.Context, req OpRequest) (ValidateResponse, error) {
	st, err := e.Store.GetStack(ctx, req.Stack)
	if err != nil {
		return ValidateResponse{}, fmt.Errorf("stack %q: %w", req.Stack, err)
	}
	switch req.Operation {
	case OpDelete, OpRebuild:
		return ValidateResponse{Valid: true, Name: st.Name, Problems: []template.Problem{}, Inputs: []InputInfo{}}, nil
	case OpCreate, OpUpdate, OpRollback, OpRecreate:
	default:
		return ValidateResponse{}, fmt.Errorf("unknown operation %q", req.Operation)
	}
	vals, _, err := e.inputs(st)
	if err != nil {
		return ValidateResponse{}, err
	}
	resp, err := Validate(ctx, TemplateRequest{File: st.File, Template: st.Template, Params: vals})
	if err != nil {
		return resp, err
	}
	if !resp.Valid {
		return resp, &InvalidTemplateError{Problems: resp.Problems}
	}
	return resp, nil
}

// PlanStack is the state machine's plan step. For a create it records every node PENDING
// (idempotently: a resumed run keeps the nodes it has) and answers like CheckReady; for a
// delete it is StartDelete.
func (e *Engine) PlanStack(ctx context.Context, req OpRequest) (CheckResponse, error) {
	switch req.Operation {
	case OpDelete, OpRebuild:
		st, err := e.Store.GetStack(ctx, req.Stack)
		if err == nil && st.Status == StackDeleteInProgress {
			return e.CheckReady(ctx, CheckRequest{Stack: req.Stack}) // resumed
		}
		return e.startDelete(ctx, req.Stack, req.Operation)
	case OpRecreate:
		st, err := e.Store.GetStack(ctx, req.Stack)
		if err != nil {
			return CheckResponse{}, fmt.Errorf("stack %q: %w", req.Stack, err)
		}
		if st.Status == StackDeleteComplete {
			again, err := e.Resubmission(st)
			if err != nil {
				return CheckResponse{}, err
			}
			again.Note = "rebuild"
			if _, _, err := e.SubmitOp(ctx, again); err != nil {
				return CheckResponse{}, fmt.Errorf("rebuilding stack %q: %w", st.Name, err)
			}
		}
		// A resumed rebuild finds the stack created already: planning is idempotent.
		req.Operation = OpCreate
	}
	st, err := e.Store.GetStack(ctx, req.Stack)
	if err != nil {
		return CheckResponse{}, fmt.Errorf("stack %q: %w", req.Stack, err)
	}
	if req.Operation == OpRollback && st.Status != StackRollbackInProgress {
		if err := e.startRollback(ctx, st); err != nil {
			return CheckResponse{}, err
		}
	}
	vals, _, err := e.inputs(st)
	if err != nil {
		return CheckResponse{}, err
	}
	r, _, probs := load(TemplateRequest{File: st.File, Template: st.Template, Params: vals})
	if len(probs) > 0 {
		return CheckResponse{}, &InvalidTemplateError{Problems: probs}
	}
	existing, err := e.Store.ListNodes(ctx, st.Name)
	if err != nil {
		return CheckResponse{}, err
	}
	have := make(map[string]*NodeRecord, len(existing))
	for _, n := range existing {
		have[n.ID] = n
	}
	roots := liveRoots(r.Template)
	wanted := make(map[string]bool, len(r.Instances))
	for _, in := range r.Instances {
		wanted[in.ID] = true
		n := in.Node
		nr := &NodeRecord{
			Stack: st.Name, ID: in.ID, Node: n.ID, Index: in.Index, Manifest: n.Manifest, TextRefs: n.TextRefs,
			DependsOn: r.Graph.DependsOn(in.ID), Timeout: n.Ready.Timeout, Conds: n.Ready.Conditions,
			Adopt: n.Adopt, Replace: n.Replace, Retain: n.DeletePolicy == "retain", Status: NodePending,
		}
		for _, o := range n.Outputs {
			nr.Outputs = append(nr.Outputs, *o)
		}
		if keep := roots[in.ID]; !keep[""] {
			nr.Trimmed = true
			for k := range keep {
				nr.Keep = append(nr.Keep, k)
			}
			slices.Sort(nr.Keep)
		}
		if nr.DependsOn == nil {
			nr.DependsOn = []string{}
		}
		old := have[in.ID]
		expect := int64(0)
		if old != nil {
			if old.planned(st.Revision) {
				continue // recorded by an earlier run of this operation (resume)
			}
			expect = old.Version
			if old.Status != NodeDeleted {
				// Keep what the cluster has, so an unchanged node is left alone.
				nr.Ref, nr.Live, nr.AppliedHash = old.Ref, old.Live, old.AppliedHash
			}
		}
		nr.Revision = st.Revision
		if err := e.Store.PutNode(ctx, nr, expect); err != nil && !errors.Is(err, ErrVersionConflict) {
			return CheckResponse{}, fmt.Errorf("recording node %q: %w", in.ID, err)
		}
	}
	for _, old := range existing {
		if wanted[old.ID] || old.Status == NodeDeleted || old.Remove {
			continue
		}
		old.Remove, old.Status, old.Reason, old.Message, old.Revision = true, NodePending, "", "", st.Revision
		if err := e.Store.PutNode(ctx, old, old.Version); err != nil && !errors.Is(err, ErrVersionConflict) {
			return CheckResponse{}, fmt.Errorf("marking node %q for removal: %w", old.ID, err)
		}
	}
	return e.CheckReady(ctx, CheckRequest{Stack: st.Name})
}

func (e *Engine) event(ctx context.Context, stack, node, status, reason, msg string) {
	ev := &Event{Stack: stack, Time: e.now().UTC(), Node: node, Status: status, Reason: reason, Message: msg}
	if err := e.Store.AppendEvent(ctx, ev); err != nil {
		zerolog.Ctx(ctx).Error().Err(err).Str("stack", stack).Str("node", node).Msg("event not recorded")
	}
}

// inputs opens the stack's inputs, secrets included, and a redactor for their values.
func (e *Engine) inputs(st *StackRecord) (map[string]any, *secrets.Redactor, error) {
	vals := make(map[string]any, len(st.Inputs)+len(st.Sealed))
	for k, v := range st.Inputs {
		vals[k] = v
	}
	var secret []any
	for k, s := range st.Sealed {
		v, err := e.Sealer.Open(s)
		if err != nil {
			return nil, nil, fmt.Errorf("input %q: %w", k, err)
		}
		vals[k] = v
		secret = append(secret, v)
	}
	return vals, secrets.NewRedactor(secret), nil
}

// NodeRequest names one node of a stack.
type NodeRequest struct {
	Stack string `json:"stack"`
	Node  string `json:"node"`
}

// NodeResponse says where the node stands after the call.
type NodeResponse struct {
	Node    string     `json:"node"`
	Status  NodeStatus `json:"status"`
	Message string     `json:"message,omitempty"`
}

// ApplyNode resolves a node's references from its dependencies' live values and applies it;
// while the stack is being deleted it deletes the node instead (DeleteNode), so the state
// machine runs one function for both directions. It is idempotent: a node already applied is
// reported, not applied again.
func (e *Engine) ApplyNode(ctx context.Context, req NodeRequest) (NodeResponse, error) {
	st, n, err := e.loadNode(ctx, req)
	if err != nil {
		return NodeResponse{}, err
	}
	if st.Status == StackDeleteInProgress || n.Remove {
		return e.deleteNode(ctx, st, n)
	}
	if n.Status != NodePending && n.Status != NodeApplying {
		return NodeResponse{Node: n.ID, Status: n.Status, Message: n.Message}, nil
	}
	// No APPLYING write before the apply: server-side apply is idempotent, and the write
	// after it is conditional on the version read here, so a concurrent duplicate of this
	// call loses that write and reports what the first recorded. One write per apply.
	vals, red, err := e.inputs(st)
	if err != nil {
		return e.fail(ctx, n, "SecretsUnavailable", err.Error(), nil)
	}
	sc := &scope{inputs: vals, stack: st.Name, namespace: st.Namespace, index: n.Index, stackIndex: st.Index,
		nodes: map[string]map[string]any{}, outputs: map[string]map[string]refs.Path{}}
	used := map[string]bool{}
	referencedNodes(n.Manifest, used)
	for dep := range used {
		d, err := e.Store.GetNode(ctx, st.Name, dep)
		if err != nil {
			return NodeResponse{}, fmt.Errorf("node %q: dependency %q: %w", n.ID, dep, err)
		}
		if d.Status != NodeReady {
			return e.fail(ctx, n, "DependencyNotReady", fmt.Sprintf("dependency %q is %s, not READY", dep, d.Status), red)
		}
		sc.nodes[dep] = d.Live
		sc.outputs[dep] = map[string]refs.Path{}
		for _, o := range d.Outputs {
			sc.outputs[dep][o.Name] = o.Path
		}
	}
	rendered, err := render(n.Manifest, sc, set(n.TextRefs))
	if err != nil {
		return e.fail(ctx, n, "ReferenceError", err.Error(), red)
	}
	client, err := e.Kube(ctx, st.Context)
	if err != nil {
		return NodeResponse{}, fmt.Errorf("cluster for stack %q: %w", st.Name, err)
	}
	hash := fingerprint(rendered)
	if n.Ref != nil && hash == n.AppliedHash {
		// Unchanged since it was last applied: leave the object alone (no write, so its
		// resourceVersion stays) and let check-ready confirm it is still ready.
		live, err := client.Get(ctx, *n.Ref)
		if err != nil {
			return NodeResponse{}, fmt.Errorf("node %q: %w", n.ID, err)
		}
		if live != nil {
			n.Status, n.AppliedAt, n.Reason, n.Message = NodeWaiting, e.now().UTC(), "Unchanged", ""
			if err := e.Store.PutNode(ctx, n, n.Version); err != nil {
				return NodeResponse{}, fmt.Errorf("node %q: %w", n.ID, err)
			}
			e.event(ctx, st.Name, n.ID, string(NodeWaiting), "Unchanged", n.Ref.String()+" is as the template says")
			return NodeResponse{Node: n.ID, Status: n.Status}, nil
		}
	}
	owner := kube.Owner{Stack: st.Name, Namespace: st.Namespace, Node: n.ID}
	if err := e.ensureNamespace(ctx, client, st); err != nil {
		return e.fail(ctx, n, "NamespaceError", err.Error(), red)
	}
	obj := &unstructured.Unstructured{Object: rendered.(map[string]any)}
	applied, err := client.Apply(ctx, obj, kube.ApplyOptions{Owner: owner, Adopt: n.Adopt, Replace: n.Replace})
	if err != nil {
		return e.fail(ctx, n, applyReason(err), err.Error(), red)
	}
	n.Status, n.Ref, n.AppliedAt, n.Message, n.AppliedHash = NodeWaiting, &applied.Ref, e.now().UTC(), "", hash
	if err := e.Store.PutNode(ctx, n, n.Version); err != nil {
		return NodeResponse{}, fmt.Errorf("node %q: %w", n.ID, err)
	}
	verb := "applied"
	if !applied.Created {
		verb = "updated"
	}
	switch {
	case applied.Replaced:
		verb = "replaced (immutable change)"
	case applied.Adopted:
		verb = "adopted"
	case applied.Created:
		verb = "created"
	}
	e.event(ctx, st.Name, n.ID, string(NodeWaiting), "Applied", fmt.Sprintf("%s %s", applied.Ref, verb))
	return NodeResponse{Node: n.ID, Status: n.Status}, nil
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
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": st.Namespace}}}
	ref, err := c.Resolve(ctx, ns, "")
	if err != nil {
		return err
	}
	live, err := c.Get(ctx, ref)
	if err != nil || live != nil {
		return err
	}
	_, err = c.Apply(ctx, ns, kube.ApplyOptions{Owner: kube.Owner{Stack: st.Name, Namespace: st.Namespace, Node: "(namespace)"}})
	return err
}

func (e *Engine) fail(ctx context.Context, n *NodeRecord, reason, msg string, red *secrets.Redactor) (NodeResponse, error) {
	if red != nil {
		msg = red.String(msg)
	}
	n.Status, n.Reason, n.Message = NodeFailed, reason, msg
	if err := e.Store.PutNode(ctx, n, n.Version); err != nil {
		return NodeResponse{}, fmt.Errorf("node %q: %w", n.ID, err)
	}
	e.event(ctx, n.Stack, n.ID, string(NodeFailed), reason, msg)
	return NodeResponse{Node: n.ID, Status: NodeFailed, Message: msg}, nil
}

// CheckRequest names the stack to check.
type CheckRequest struct {
	Stack string `json:"stack"`
}

// CheckResponse is what the state machine's Choice looks at.
type CheckResponse struct {
	Stack string `json:"stack"`
	// Startable are PENDING nodes whose dependencies are all READY: apply them next.
	Startable []string `json:"startable"`
	// Ready and Failed list the nodes that changed during this call.
	Ready  []string `json:"ready"`
	Failed []string `json:"failed"`
	// InFlight counts nodes applied and not yet ready; Pending those not started.
	InFlight int `json:"inFlight"`
	Pending  int `json:"pending"`
	// Done: every node is READY. Failure: some node FAILED (nothing new is started then).
	Done    bool   `json:"done"`
	Failure bool   `json:"failure"`
	Status  string `json:"status"`
	// WaitSeconds is how long to wait before the next check when nothing is startable.
	WaitSeconds int `json:"waitSeconds"`
}

// CheckReady checks every in-flight node of a stack in one call, records READY and FAILED
// nodes with their live values, and returns the nodes that became startable. When nothing
// changed it watches the in-flight objects for up to MaxWait, so readiness is noticed the
// moment it happens rather than at the next poll.
func (e *Engine) CheckReady(ctx context.Context, req CheckRequest) (CheckResponse, error) {
	st, err := e.Store.GetStack(ctx, req.Stack)
	if err != nil {
		return CheckResponse{}, fmt.Errorf("stack %q: %w", req.Stack, err)
	}
	nodes, err := e.Store.ListNodes(ctx, req.Stack)
	if err != nil {
		return CheckResponse{}, fmt.Errorf("stack %q: listing nodes: %w", req.Stack, err)
	}
	if err := e.renewLease(ctx, st); err != nil {
		return CheckResponse{}, err
	}
	if st.Status == StackDeleteInProgress {
		return e.checkDelete(ctx, st, nodes)
	}
	resp := CheckResponse{Stack: st.Name, Startable: []string{}, Ready: []string{}, Failed: []string{}}
	var inflight []*NodeRecord
	for _, n := range nodes {
		if n.Status == NodeWaiting {
			inflight = append(inflight, n)
		}
	}
	if len(inflight) > 0 {
		client, err := e.Kube(ctx, st.Context)
		if err != nil {
			return CheckResponse{}, fmt.Errorf("cluster for stack %q: %w", st.Name, err)
		}
		_, red, err := e.inputs(st)
		if err != nil {
			return CheckResponse{}, err
		}
		total := totals(ctx, client, nodes)
		f, err := e.fetch(ctx, client, st, inflight, total)
		if err != nil {
			return CheckResponse{}, err
		}
		changed, err := e.evaluate(ctx, client, inflight, red, &resp, f.objs)
		if err != nil {
			return CheckResponse{}, err
		}
		if !changed && e.MaxWait > 0 {
			if err := e.watchOnce(ctx, client, st, inflight, total, f.rv, red, &resp); err != nil {
				return CheckResponse{}, err
			}
		}
	}
	byID := make(map[string]*NodeRecord, len(nodes))
	for _, n := range nodes {
		byID[n.ID] = n
	}
	var removals []*NodeRecord
	for _, n := range nodes {
		if n.Remove {
			if n.Status != NodeDeleted {
				removals = append(removals, n)
			}
			continue
		}
		switch n.Status {
		case NodeWaiting:
			resp.InFlight++
		case NodeApplying:
			// Only a run that died inside apply-node leaves a node APPLYING when check-ready
			// runs (the Map has finished by then); applying is idempotent, so hand it out again.
			resp.Pending++
			resp.Startable = append(resp.Startable, n.ID)
		case NodeFailed:
			resp.Failure = true
		case NodePending:
			resp.Pending++
			if slices.IndexFunc(n.DependsOn, func(d string) bool { return byID[d] == nil || byID[d].Status != NodeReady }) < 0 {
				resp.Startable = append(resp.Startable, n.ID)
			}
		}
	}
	if !resp.Failure && resp.InFlight == 0 && resp.Pending > 0 && len(resp.Startable) == 0 {
		// Nothing runs and nothing can start: a node waits on one that will never be READY.
		// Fail it with the reason rather than loop.
		for _, n := range nodes {
			if n.Status != NodePending || n.Remove {
				continue
			}
			var unmet []string
			for _, d := range n.DependsOn {
				if byID[d] == nil || byID[d].Status != NodeReady {
					st := "missing"
					if byID[d] != nil {
						st = string(byID[d].Status)
					}
					unmet = append(unmet, fmt.Sprintf("%s (%s)", d, st))
				}
			}
			if _, err := e.fail(ctx, n, "Blocked", "waits for "+strings.Join(unmet, ", ")+", which cannot become READY", nil); err != nil {
				return CheckResponse{}, err
			}
			resp.Failure = true
			resp.Failed = append(resp.Failed, n.ID)
			break
		}
	}
	if resp.Failure {
		resp.Startable = []string{}
	}
	if !resp.Failure && resp.InFlight == 0 && resp.Pending == 0 && len(removals) > 0 {
		// Every node of the new revision is READY: now delete what it no longer has.
		if err := e.removeStale(ctx, st, removals, &resp); err != nil {
			return CheckResponse{}, err
		}
	}
	resp.Done = !resp.Failure && resp.InFlight == 0 && resp.Pending == 0
	// With a long poll the check itself waits for the next change, so the state machine need
	// not; without one (MaxWait 0) it waits a second between polls.
	resp.WaitSeconds = 0
	if resp.InFlight > 0 && len(resp.Startable) == 0 && e.MaxWait == 0 {
		resp.WaitSeconds = 1
	}
	if err := e.finishStack(ctx, st, nodes, &resp); err != nil {
		return CheckResponse{}, err
	}
	resp.Status = st.Status
	return resp, nil
}

// evaluate checks each in-flight node (from the live object in objs when given, else a GET),
// records transitions, and reports whether anything changed.
func (e *Engine) evaluate(ctx context.Context, c *kube.Client, inflight []*NodeRecord, red *secrets.Redactor, resp *CheckResponse, objs map[string]*unstructured.Unstructured) (bool, error) {
	changed := false
	for _, n := range inflight {
		if n.Status != NodeWaiting {
			continue
		}
		var live *unstructured.Unstructured
		if objs != nil {
			var ok bool
			if live, ok = objs[n.ID]; !ok {
				continue
			}
		} else {
			var err error
			if live, err = c.Get(ctx, *n.Ref); err != nil {
				return changed, fmt.Errorf("node %q: %w", n.ID, err)
			}
		}
		r := kube.Evaluate(live, n.Conds)
		if r.Phase == kube.PhaseWaiting && e.now().Sub(n.AppliedAt) > n.Timeout {
			r = kube.Readiness{Phase: kube.PhaseFailed, Reason: "Timeout",
				Message: fmt.Sprintf("not ready after %s (ready.timeout); last seen: %s: %s", n.Timeout, r.Reason, r.Message)}
		}
		switch r.Phase {
		case kube.PhaseReady:
			n.Status, n.ReadyAt, n.Reason, n.Message = NodeReady, e.now().UTC(), r.Reason, red.String(r.Message)
			n.Live = captureLive(live, red, n)
			resp.Ready = append(resp.Ready, n.ID)
		case kube.PhaseFailed:
			n.Status, n.Reason, n.Message = NodeFailed, r.Reason, red.String(r.Message)
			resp.Failed = append(resp.Failed, n.ID)
		default:
			if n.Reason != r.Reason {
				// Remember progress for status views when its reason changes, without an
				// event (every message change would cost a write per status update).
				n.Reason, n.Message = r.Reason, red.String(r.Message)
				if err := e.Store.PutNode(ctx, n, n.Version); err != nil {
					return changed, fmt.Errorf("node %q: %w", n.ID, err)
				}
			}
			continue
		}
		changed = true
		if err := e.Store.PutNode(ctx, n, n.Version); err != nil {
			return changed, fmt.Errorf("node %q: %w", n.ID, err)
		}
		e.event(ctx, n.Stack, n.ID, string(n.Status), n.Reason, n.Message)
	}
	return changed, nil
}

// group is one resource in one namespace: what one LIST or WATCH covers.
type group struct {
	gvr schema.GroupVersionResource
	ns  string
}

// fetched is what a check read of the in-flight objects, and from where to watch for the
// next change: a resourceVersion per group, taken before the objects were read, so no change
// falls between the read and the watch.
type fetched struct {
	objs map[string]*unstructured.Unstructured // by node id; nil: gone
	rv   map[group]string
}

// fetch reads the in-flight nodes' objects. Per resource and namespace it costs one LIST by
// the stack's label when most of the stack's objects there are in flight, else one GET per
// in-flight node (at most 8 at once): listing 200 READY Deployments to learn about 3 in
// flight would cost more than it saves. total counts the stack's objects per group.
func (e *Engine) fetch(ctx context.Context, c *kube.Client, st *StackRecord, inflight []*NodeRecord, total map[group]int) (*fetched, error) {
	f := &fetched{objs: make(map[string]*unstructured.Unstructured, len(inflight)), rv: map[group]string{}}
	byGroup := map[group][]*NodeRecord{}
	for _, n := range inflight {
		gvr, err := c.Resource(ctx, *n.Ref)
		if err != nil {
			return nil, fmt.Errorf("node %q: %w", n.ID, err)
		}
		g := group{gvr, n.Ref.Namespace}
		byGroup[g] = append(byGroup[g], n)
	}
	var mu sync.Mutex
	for g, nodes := range byGroup {
		if 2*len(nodes) >= total[g] {
			list, rv, err := c.ListStack(ctx, g.gvr, g.ns, st.Name)
			if err != nil {
				return nil, err
			}
			f.rv[g] = rv
			for _, n := range nodes {
				if u := list[n.Ref.Name]; u != nil && u.GetKind() == n.Ref.Kind {
					f.objs[n.ID] = u
				}
			}
		} else {
			rv, err := c.CurrentVersion(ctx, g.gvr, g.ns, st.Name)
			if err != nil {
				return nil, err
			}
			f.rv[g] = rv
		}
		// GET what the list did not cover (or missed: a label removed by someone).
		var missing []*NodeRecord
		for _, n := range nodes {
			if _, ok := f.objs[n.ID]; !ok {
				missing = append(missing, n)
			}
		}
		sem := make(chan struct{}, 8)
		var wg sync.WaitGroup
		var firstErr error
		for _, n := range missing {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				u, err := c.Get(ctx, *n.Ref)
				mu.Lock()
				defer mu.Unlock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("node %q: %w", n.ID, err)
				}
				f.objs[n.ID] = u
			}()
		}
		wg.Wait()
		if firstErr != nil {
			return nil, firstErr
		}
	}
	return f, nil
}

// totals counts the stack's applied objects per group.
func totals(ctx context.Context, c *kube.Client, nodes []*NodeRecord) map[group]int {
	out := map[group]int{}
	for _, n := range nodes {
		if n.Ref == nil || n.Status == NodeDeleted {
			continue
		}
		if gvr, err := c.Resource(ctx, *n.Ref); err == nil {
			out[group{gvr, n.Ref.Namespace}]++
		}
	}
	return out
}

func (e *Engine) evaluateAll(ctx context.Context, c *kube.Client, st *StackRecord, inflight []*NodeRecord, total map[group]int, red *secrets.Redactor, resp *CheckResponse) error {
	f, err := e.fetch(ctx, c, st, inflight, total)
	if err != nil {
		return err
	}
	_, err = e.evaluate(ctx, c, inflight, red, resp, f.objs)
	return err
}

// captureLive keeps what references may read. Secret objects keep no data at all; every other
// object has the values of secret inputs redacted.
func captureLive(u *unstructured.Unstructured, red *secrets.Redactor, n *NodeRecord) map[string]any {
	live := kube.Live(u)
	if n.Trimmed {
		// Every check-ready and apply reads node records back: keeping whole objects that
		// nothing reads made a 1,000-node stack decode hundreds of megabytes per run.
		for k := range live {
			if !slices.Contains(n.Keep, k) {
				delete(live, k)
			}
		}
		if len(live) == 0 {
			return nil
		}
	}
	if u.GetAPIVersion() == "v1" && u.GetKind() == "Secret" {
		delete(live, "data")
		delete(live, "stringData")
	}
	return red.Value(live).(map[string]any)
}

// watchOnce watches the in-flight objects until one of them changes phase, the earliest
// timeout passes, or MaxWait ends.
func (e *Engine) watchOnce(ctx context.Context, c *kube.Client, st *StackRecord, inflight []*NodeRecord, total map[group]int, rv map[group]string, red *secrets.Redactor, resp *CheckResponse) error {
	wait := e.MaxWait
	for _, n := range inflight {
		if left := n.Timeout - e.now().Sub(n.AppliedAt); left < wait {
			wait = max(left, 0)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, wait+10*time.Millisecond)
	defer cancel()
	byName := map[group]map[string]*NodeRecord{}
	for _, n := range inflight {
		gvr, err := c.Resource(ctx, *n.Ref)
		if err != nil {
			return err
		}
		k := group{gvr, n.Ref.Namespace}
		if byName[k] == nil {
			byName[k] = map[string]*NodeRecord{}
		}
		byName[k][n.Ref.Name] = n
	}
	events := make(chan *unstructured.Unstructured, 64)
	for k, names := range byName {
		var ri interface {
			Watch(context.Context, metav1.ListOptions) (watch.Interface, error)
		}
		if k.ns != "" {
			ri = c.Dynamic.Resource(k.gvr).Namespace(k.ns)
		} else {
			ri = c.Dynamic.Resource(k.gvr)
		}
		// From the version read before the objects were: only changes since, no replay of
		// every object of the stack.
		w, err := ri.Watch(ctx, metav1.ListOptions{LabelSelector: kube.LabelStack + "=" + st.Name, ResourceVersion: rv[k]})
		if err != nil {
			// A watch is an optimisation; the next check polls anyway.
			zerolog.Ctx(ctx).Debug().Err(err).Msg("watch failed; falling back to polling")
			continue
		}
		go func() {
			defer w.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case ev, ok := <-w.ResultChan():
					if !ok || ev.Type == watch.Error {
						// Closed or expired (410 Gone): read everything again now rather
						// than wait out the long poll.
						select {
						case events <- nil:
						case <-ctx.Done():
						}
						return
					}
					u, isObj := ev.Object.(*unstructured.Unstructured)
					if !isObj || names[u.GetName()] == nil {
						continue
					}
					if ev.Type == watch.Deleted {
						u = nil
					}
					select {
					case events <- u:
					case <-ctx.Done():
						return
					}
				}
			}
		}()
	}
	for {
		select {
		case <-ctx.Done():
			// Timeouts are noticed by evaluating once more.
			return e.evaluateAll(context.WithoutCancel(ctx), c, st, inflight, total, red, resp)
		case u := <-events:
			if u == nil {
				return e.evaluateAll(context.WithoutCancel(ctx), c, st, inflight, total, red, resp)
			}
			var n *NodeRecord
			for _, names := range byName {
				if m := names[u.GetName()]; m != nil && m.Ref.Kind == u.GetKind() {
					n = m
				}
			}
			if n == nil {
				continue
			}
			changed, err := e.evaluate(ctx, c, inflight, red, resp, map[string]*unstructured.Unstructured{n.ID: u})
			if err != nil || changed {
				return err
			}
		}
	}
}

// finishStack settles the stack's status once every node is READY or one has FAILED, and
// evaluates the stack outputs.
func (e *Engine) finishStack(ctx context.Context, st *StackRecord, nodes []*NodeRecord, resp *CheckResponse) error {
	if st.Status != StackCreateInProgress && st.Status != StackUpdateInProgress && st.Status != StackRollbackInProgress ||
		!(resp.Done || resp.Failure && resp.InFlight == 0) {
		return nil
	}
	complete, failed := StackCreateComplete, StackCreateFailed
	switch st.Status {
	case StackUpdateInProgress:
		complete, failed = StackUpdateComplete, StackUpdateFailed
	case StackRollbackInProgress:
		complete, failed = StackRollbackComplete, StackRollbackFailed
	}
	if resp.Done {
		st.Status = complete
		out, err := e.outputs(st, nodes)
		if err != nil {
			st.Status, st.Reason = failed, "outputs: "+err.Error()
		}
		st.Outputs = out
	} else {
		st.Status = failed
		for _, n := range nodes {
			if n.Status == NodeFailed {
				st.Reason = fmt.Sprintf("node %q: %s: %s", n.ID, n.Reason, n.Message)
				break
			}
		}
	}
	st.UpdatedAt, st.Lease = e.now().UTC(), nil
	if err := e.settleRevision(ctx, st); err != nil {
		return err
	}
	if err := e.Store.PutStack(ctx, st, st.Version); err != nil {
		return fmt.Errorf("stack %q: %w", st.Name, err)
	}
	e.event(ctx, st.Name, "", st.Status, "", st.Reason)
	return nil
}

// Begin records that an operation on an existing stack (delete, rebuild, rollback) has been
// accepted, before the state machine runs it: the stack is IN_PROGRESS at once, under this
// runner's lease, and the plan step continues from there. Nothing touches a cluster.
func (e *Engine) Begin(ctx context.Context, stack, op string) error {
	switch op {
	case OpDelete, OpRebuild:
		return e.beginDelete(ctx, stack, op)
	case OpRollback:
		st, err := e.Store.GetStack(ctx, stack)
		if err != nil {
			return fmt.Errorf("stack %q: %w", stack, err)
		}
		return e.startRollback(ctx, st)
	}
	return fmt.Errorf("operation %q cannot be begun ahead of its run", op)
}

// startRollback makes the last good revision the stack's template and inputs again; planning
// then proceeds exactly as for an update, so only what the failed update changed is undone.
func (e *Engine) startRollback(ctx context.Context, st *StackRecord) error {
	if st.Previous == nil {
		return &StateError{fmt.Sprintf("stack %q has no earlier revision to roll back to", st.Name)}
	}
	if st.Status != StackUpdateFailed && st.Status != StackUpdateInProgress && st.Status != StackRollbackFailed {
		return &StateError{fmt.Sprintf("stack %q is %s: only a failed update can be rolled back (or name a revision)", st.Name, st.Status)}
	}
	failed := st.Reason
	p := st.Previous
	st.File, st.Template, st.Inputs, st.Sealed = p.File, p.Template, p.Inputs, p.Sealed
	// The reason stays with the stack after the rollback completes: it is why the stack is
	// back where it was.
	st.Status, st.Operation, st.UpdatedAt, st.Lease = StackRollbackInProgress, OpRollback, e.now().UTC(), e.newLease()
	st.Reason = fmt.Sprintf("rolled back to revision %d after the update failed: %s", p.Number, failed)
	st.Revision++
	if err := e.recordRevision(ctx, st, fmt.Sprintf("rollback to revision %d", p.Number)); err != nil {
		return err
	}
	if err := e.Store.PutStack(ctx, st, st.Version); err != nil {
		return fmt.Errorf("stack %q: %w", st.Name, err)
	}
	e.event(ctx, st.Name, "", StackRollbackInProgress, "RollingBack", fmt.Sprintf("back to revision %d after: %s", p.Number, failed))
	return nil
}

// fingerprint identifies a rendered manifest (JSON encoding sorts map keys).
func fingerprint(m any) string {
	b, _ := json.Marshal(m)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (e *Engine) outputs(st *StackRecord, nodes []*NodeRecord) (map[string]any, error) {
	t, probs := template.Parse(st.File, []byte(st.Template))
	if t == nil {
		return nil, probs
	}
	vals, red, err := e.inputs(st)
	if err != nil {
		return nil, err
	}
	sc := &scope{inputs: vals, stack: st.Name, namespace: st.Namespace, index: -1, stackIndex: st.Index,
		nodes: map[string]map[string]any{}, outputs: map[string]map[string]refs.Path{}}
	for _, n := range nodes {
		sc.nodes[n.ID] = n.Live
		sc.outputs[n.ID] = map[string]refs.Path{}
		for _, o := range n.Outputs {
			sc.outputs[n.ID][o.Name] = o.Path
		}
	}
	out := make(map[string]any, len(t.Outputs))
	for _, o := range t.Outputs {
		v, err := render(o.Value, sc, set(o.TextRefs))
		if err != nil {
			return nil, fmt.Errorf("output %q: %w", o.Name, err)
		}
		out[o.Name] = red.Value(v)
	}
	return out, nil
}

// Function names: the four functions of design.md, as deployed (functions/<name>) and as the
// embedded runner binds the state machine's Task resources.
const (
	FnValidate   = "validate"
	FnPlan       = "plan"
	FnApplyNode  = "applynode"
	FnCheckReady = "checkready"
)

// Functions returns the handler each function runs. The Lambda entry points and the embedded
// runner both take their handlers from here, so AWS and the CLI run the same code.
func (e *Engine) Functions() map[string]any {
	return map[string]any{
		FnValidate:   e.ValidateStack,
		FnPlan:       e.PlanStack,
		FnApplyNode:  e.ApplyNode,
		FnCheckReady: e.CheckReady,
	}
}
