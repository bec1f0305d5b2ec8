package engine

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/aos-project/aos/shared/kube"
	"github.com/aos-project/aos/shared/template"
)

// StackRecord is a stack as the store keeps it. Secret input values are sealed.
type StackRecord struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// UID identifies the stack on the objects it applies (kube.AnnotationStackUID), so two
	// stores that both hold a stack "demo" never take each other's objects for their own. A
	// stack recreated under its name in the same store keeps it.
	UID string `json:"uid,omitempty"`
	// Project is the project the stack belongs to ("" is project.DefaultName).
	Project string `json:"project,omitempty"`
	// StartedBy is the identity that started the last operation.
	StartedBy string `json:"startedBy,omitempty"`
	// Context names the kube context the stack lives in ("" for the default).
	Context  string `json:"context,omitempty"`
	File     string `json:"file"`
	Template string `json:"template"`
	// Dir is the folder the template file was read from, where a chart's, kustomize's or
	// manifests' relative path points. Only `aos up` on that machine gives one; a template
	// that came over the API has none, and may read no local path.
	Dir string `json:"dir,omitempty"`
	// Reads lists the stacks whose outputs this stack's template reads (${stacks.X.outputs.K}):
	// those are not deleted while it stands, unless forced.
	Reads  []string       `json:"reads,omitempty"`
	Inputs map[string]any `json:"inputs"` // non-secret inputs
	// Sealed holds each secret input's value, encrypted (shared/secrets).
	Sealed    map[string]string `json:"sealed,omitempty"`
	Status    StackStatus       `json:"status"`
	Operation string            `json:"operation,omitempty"` // create, update, delete
	Revision  int               `json:"revision"`
	// Lease is held by the runner of an operation in progress.
	Lease *Lease `json:"lease,omitempty"`
	// Previous is the last revision that completed, kept for rollback.
	Previous  *Revision      `json:"previous,omitempty"`
	Reason    string         `json:"reason,omitempty"`
	Outputs   map[string]any `json:"outputs,omitempty"`
	CreatedAt time.Time      `json:"createdAt"`
	UpdatedAt time.Time      `json:"updatedAt"`
	// Index is the stack's index in its batch (${stack.index}); Batch names the batch.
	Index int    `json:"index,omitempty"`
	Batch string `json:"batch,omitempty"`
	// RequestKey is the idempotency key of the request that started the last operation,
	// scoped by its kind ("submit:KEY", "delete:KEY", …); RequestHash fingerprints that
	// request, and RequestAt says when it came (keys expire after KeyTTL).
	RequestKey  string    `json:"requestKey,omitempty"`
	RequestHash string    `json:"requestHash,omitempty"`
	RequestAt   time.Time `json:"requestAt,omitzero"`
	// CancelRequested asks the operation in progress to stop (Cancel); the operation's end
	// clears it.
	CancelRequested bool `json:"cancelRequested,omitempty"`
	// Failing names the operation (failingKey) in which a node failed, marked by the apply-node
	// that saw it, so that the other apply-nodes of the turn start nothing new (follow.go).
	Failing string `json:"failing,omitempty"`
	// Schedule rebuilds the stack periodically (aos serve, or EventBridge Scheduler on AWS).
	Schedule *Schedule `json:"schedule,omitempty"`
	// Version increases with every write; writes are conditional on it.
	Version int64 `json:"version"`
}

// owner is how the stack marks the objects of one of its nodes.
func (st *StackRecord) owner(node string) kube.Owner {
	return kube.Owner{Stack: st.Name, Namespace: st.Namespace, Node: node, UID: st.UID}
}

// Schedule is a standard 5-field cron expression in a time zone (IANA name; default UTC).
type Schedule struct {
	Cron     string `json:"cron"`
	TimeZone string `json:"timeZone,omitempty"`
}

// Revision is a template with its inputs (secret inputs sealed). The store keeps every
// revision of a stack, with the operation that made it and how that ended, for `aos history`
// and `aos rollback --revision`.
type Revision struct {
	Number    int               `json:"number"`
	File      string            `json:"file"`
	Template  string            `json:"template"`
	Inputs    map[string]any    `json:"inputs"`
	Sealed    map[string]string `json:"sealed,omitempty"`
	Operation string            `json:"operation,omitempty"`
	Status    StackStatus       `json:"status,omitempty"`
	Reason    string            `json:"reason,omitempty"`
	Note      string            `json:"note,omitempty"`
	StartedAt time.Time         `json:"startedAt,omitzero"`
	EndedAt   time.Time         `json:"endedAt,omitzero"`
}

// NodeRecord is one node of a stack as the store keeps it. Manifest is the node's manifest as
// written in the template, references unresolved, so no secret value is ever stored in it.
type NodeRecord struct {
	Stack    string         `json:"stack"`
	ID       string         `json:"id"`
	Node     string         `json:"node"` // template node id
	Index    int            `json:"index"`
	Manifest map[string]any `json:"manifest"`
	// Source says the node holds a chart, kustomize or manifests (Manifest is its spec): its
	// objects, rendered at apply, are Objects, not Ref.
	Source string `json:"source,omitempty"`
	// Lookup: the node reads an object the stack does not own; it is never applied or deleted.
	Lookup bool `json:"lookup,omitempty"`
	// Stacks lists the other stacks the node reads outputs of: it starts once they settle.
	Stacks    []string `json:"stacks,omitempty"`
	TextRefs  []string `json:"textRefs,omitempty"`
	DependsOn []string `json:"dependsOn"`
	// Dependents are the nodes that depend on this one in the revision that planned it: an
	// apply-node that sees this node READY starts those whose dependencies are all READY
	// (follow.go) without a round trip through check-ready.
	Dependents []string              `json:"dependents,omitempty"`
	Timeout    time.Duration         `json:"timeout"`
	Conds      []kube.Condition      `json:"conditions,omitempty"`
	Outputs    []template.NodeOutput `json:"outputs,omitempty"`
	// ForEach is the node's forEach value as written: apply computes its element from it.
	ForEach string `json:"forEach,omitempty"`
	// When is the node's when as written, when it reads other nodes: apply decides it from
	// their live values, and a false one leaves the node SKIPPED.
	When    string `json:"when,omitempty"`
	Adopt   bool   `json:"adopt,omitempty"`
	Replace bool   `json:"replace,omitempty"`
	Retain  bool   `json:"retain,omitempty"`
	// Adopted says the node's object existed before the stack took it over.
	Adopted bool `json:"adopted,omitempty"`
	// Sensitive lists the object's fields (".data.url") whose values derive from a secret
	// input (template.SensitiveFields): their live values are never kept, whatever an
	// expression made of the secret.
	Sensitive []string `json:"sensitive,omitempty"`
	// Remove marks a node the new revision no longer has: it is deleted after every other
	// node is READY.
	Remove bool `json:"remove,omitempty"`
	// For is set on a record that retires a former object of node For (renamed, or of a
	// generateName node applied again): the object goes when removals do.
	For string `json:"for,omitempty"`
	// AppliedHash fingerprints the manifest last applied, so an update leaves an unchanged
	// object untouched.
	AppliedHash string `json:"appliedHash,omitempty"`
	// AppliedRV is the resourceVersion of a single-object node's object as its last apply left
	// it: check-ready drops watched changes older than that (check_resume.go).
	AppliedRV string `json:"appliedRV,omitempty"`
	// Revision is the stack revision that last planned this node.
	Revision int `json:"revision,omitempty"`
	// Drifted says Drift found the live object changed or gone since it was applied: the
	// next update applies it again even if its manifest is unchanged.
	Drifted bool `json:"drifted,omitempty"`
	// Untold says the WAITING event of the last apply is the next check-ready's to append,
	// with the rest of its turn (tell.go); Reason and Message hold what it will say.
	Untold bool `json:"untold,omitempty"`
	// AppliedReason and AppliedMessage are the WAITING event of a node that was READY on its
	// apply (apply_ready.go): Reason and Message then say READY, and the one record write
	// holds both events until they are told.
	AppliedReason  string `json:"appliedReason,omitempty"`
	AppliedMessage string `json:"appliedMessage,omitempty"`

	Status  NodeStatus `json:"status"`
	Reason  string     `json:"reason,omitempty"`
	Message string     `json:"message,omitempty"`
	Ref     *kube.Ref  `json:"ref,omitempty"`
	// Objects are a source node's objects as last applied, in apply order.
	Objects   []kube.Ref     `json:"objects,omitempty"`
	AppliedAt time.Time      `json:"appliedAt,omitzero"`
	ReadyAt   time.Time      `json:"readyAt,omitzero"`
	Live      map[string]any `json:"live,omitempty"` // captured at READY, secrets redacted
	// Trimmed says Live keeps only the top-level fields in Keep: those the template's
	// references and outputs read. Records without it keep the whole object.
	Trimmed bool     `json:"trimmed,omitempty"`
	Keep    []string `json:"keep,omitempty"`
	Version int64    `json:"version"`
}

func (n *NodeRecord) planned(revision int) bool { return n.Revision == revision }

// leftOut reports whether the node's when left it out in this operation: SKIPPED, or marked
// for removal because an earlier revision applied its object. Either way its dependents may
// start, and read it as absent.
func (n *NodeRecord) leftOut() bool {
	return n.Status == NodeSkipped || n.Remove && n.Reason == ReasonWhenFalse
}

// passed reports whether a dependent of the node may start.
// objects are what the node last applied: its one object, or a source's.
func (n *NodeRecord) objects() []kube.Ref {
	if n.Source != "" {
		return n.Objects
	}
	if n.Ref != nil {
		return []kube.Ref{*n.Ref}
	}
	return nil
}

// applied yields the objects of nodes not deleted: those the stack has in the cluster. It is
// objects() without a slice for each node, as a check walks every node of the stack at each
// turn.
func applied(nodes []*NodeRecord) iter.Seq[kube.Ref] {
	return func(yield func(kube.Ref) bool) {
		for _, n := range nodes {
			if n.Status == NodeDeleted {
				continue
			}
			if n.Source != "" {
				for _, r := range n.Objects {
					if !yield(r) {
						return
					}
				}
			} else if n.Ref != nil && !yield(*n.Ref) {
				return
			}
		}
	}
}

// what names the node's objects in messages: its object, or "chart (5 objects)".
func (n *NodeRecord) what() string {
	if n.Source != "" {
		return fmt.Sprintf("%s (%d objects)", n.Source, len(n.Objects))
	}
	if n.Ref != nil {
		return n.Ref.String()
	}
	return "its object"
}

func (n *NodeRecord) passed() bool { return n.Status == NodeReady || n.leftOut() }

// Event is one appended record of a node or stack transition.
type Event struct {
	Stack   string    `json:"stack"`
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	Node    string    `json:"node,omitempty"`
	Status  string    `json:"status"`
	Reason  string    `json:"reason,omitempty"`
	Message string    `json:"message,omitempty"`
	// Actor is the identity whose request wrote the event (the first event of an operation).
	Actor string `json:"actor,omitempty"`
}

// Store is what the engine needs from a state store. Every write is a single-item
// conditional write: Put* succeeds only if the stored version equals expect (0: must not
// exist), and bumps the version.
type Store interface {
	GetStack(ctx context.Context, name string) (*StackRecord, error)
	ListStacks(ctx context.Context) ([]*StackRecord, error)
	// PageStacks returns at most limit stacks whose names sort after after, in name order,
	// reading no more than it returns (the API's list route pages with it).
	PageStacks(ctx context.Context, after string, limit int) ([]*StackRecord, error)
	// DeleteStack removes a stack's record and its nodes; its events stay.
	DeleteStack(ctx context.Context, name string) error
	PutStack(ctx context.Context, s *StackRecord, expect int64) error
	GetNode(ctx context.Context, stack, id string) (*NodeRecord, error)
	PutNode(ctx context.Context, n *NodeRecord, expect int64) error
	// PutNodes writes node records of distinct ids in one request, each conditional on the
	// Version it carries (0: new), which it advances: all or none (ErrVersionConflict when a
	// version differs). It takes at most MaxNodesPerWrite records.
	PutNodes(ctx context.Context, nodes []*NodeRecord) error
	ListNodes(ctx context.Context, stack string) ([]*NodeRecord, error)
	// PutRevision writes (or overwrites) one revision of a stack; ListRevisions returns them
	// by number. Revisions outlive DeleteStack, as events do.
	PutRevision(ctx context.Context, stack string, r *Revision) error
	ListRevisions(ctx context.Context, stack string) ([]*Revision, error)
	AppendEvent(ctx context.Context, e *Event) error
	// ListEvents returns the events after sequence number after, oldest first, at most limit
	// of them (limit <= 0: all), reading no more than it returns.
	ListEvents(ctx context.Context, stack string, after int64, limit int) ([]*Event, error)
}

// MaxNodesPerWrite is the most records one PutNodes takes: DynamoDB's TransactWriteItems
// takes 100 items.
const MaxNodesPerWrite = 100

// Store errors.
var (
	ErrNotFound        = errors.New("not found")
	ErrVersionConflict = errors.New("version conflict: someone else changed it first")
)
