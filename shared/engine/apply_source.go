package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/aos-project/aos/shared/kube"
	"github.com/aos-project/aos/shared/secrets"
	"github.com/aos-project/aos/shared/source"
)

// crdEstablishTimeout bounds the wait, inside one apply, for a source's CRDs to be served
// before its custom resources are applied.
const crdEstablishTimeout = 60 * time.Second

// applySource renders a chart, kustomize or manifests node into its objects and applies them
// in order; the node is WAITING until every one is READY (check.go). Objects an earlier
// apply made that the source no longer renders are deleted, as `helm upgrade` does.
func (e *Engine) applySource(ctx context.Context, st *StackRecord, n *NodeRecord, spec map[string]any, red *secrets.Redactor, later bool) (NodeResponse, error) {
	objs, err := source.Render(ctx, source.Request{Kind: n.Source, Spec: spec, Dir: st.Dir, Namespace: st.Namespace, Release: n.ID})
	if err != nil {
		return e.fail(ctx, n, "RenderFailed", err.Error(), red)
	}
	maps := make([]any, len(objs))
	for i, o := range objs {
		maps[i] = o.Object
	}
	hash := fingerprint(maps)
	client, err := e.Cluster(ctx, st)
	if err != nil {
		return NodeResponse{}, err
	}
	if hash == n.AppliedHash && len(n.Objects) > 0 && !n.Drifted {
		if all, err := allExist(ctx, client, n.Objects); err != nil || all {
			if err != nil {
				return NodeResponse{}, fmt.Errorf("node %q: %w", n.ID, err)
			}
			n.waiting(e.now().UTC(), reasonUnchanged, n.what()+" as the template says", later)
			if first, err := e.record(ctx, n); first != nil || err != nil {
				return *first, err
			}
			e.tell(ctx, n)
			return NodeResponse{Node: n.ID, Status: n.Status}, nil
		}
	}
	// Every object is checked against the project before any is applied.
	refs, err := resolveAll(ctx, client, objs, st.Namespace)
	if err != nil {
		return e.fail(ctx, n, "UnknownKind", err.Error(), red)
	}
	pr, err := e.ProjectOf(st)
	if err != nil {
		return e.fail(ctx, n, "PolicyDenied", err.Error(), red)
	}
	for _, ref := range refs {
		if err := checkObject(pr, ref, n.Adopt); err != nil {
			return e.fail(ctx, n, "PolicyDenied", err.Error(), red)
		}
	}
	if err := e.ensureNamespace(ctx, client, st); err != nil {
		return e.fail(ctx, n, "NamespaceError", err.Error(), red)
	}
	owner := st.owner(n.ID)
	var applied []kube.Ref
	var crds []*unstructured.Unstructured
	created := 0
	for i, o := range objs {
		if len(crds) > 0 && definer(crds, o.GroupVersionKind()) != nil {
			if err := awaitEstablished(ctx, client, crds); err != nil {
				return e.fail(ctx, n, "CRDNotEstablished", err.Error(), red)
			}
			crds = nil
		}
		if refs[i].Kind == "CustomResourceDefinition" {
			// As Helm treats a chart's crds/: created when missing, never updated or deleted,
			// and shared by every stack that installs them.
			live, err := client.Get(ctx, refs[i])
			if err != nil {
				return e.failPartly(ctx, n, applied, "ApplyFailed", fmt.Sprintf("%s: %v", source.Key(o), err), red)
			}
			if live != nil {
				applied = append(applied, refs[i])
				continue
			}
		}
		a, err := client.Apply(ctx, o, kube.ApplyOptions{Owner: owner, Adopt: n.Adopt})
		if err != nil {
			return e.failPartly(ctx, n, applied, applyReason(err), fmt.Sprintf("%s: %v", source.Key(o), err), red)
		}
		applied = append(applied, a.Ref)
		if a.Created {
			created++
		}
		n.Adopted = n.Adopted || a.Adopted
		if a.Ref.Kind == "CustomResourceDefinition" {
			crds = append(crds, o)
		}
	}
	stale := staleObjects(n.Objects, applied)
	msg := fmt.Sprintf("%s: %d objects applied (%d created, %d updated)", n.Source, len(applied), created, len(applied)-created)
	if len(stale) > 0 {
		msg += fmt.Sprintf(", %d no longer rendered deleted", len(stale))
	}
	n.Objects, n.AppliedHash, n.Drifted = applied, hash, false
	n.waiting(e.now().UTC(), reasonApplied, msg, later)
	if first, err := e.record(ctx, n); first != nil || err != nil {
		return *first, err
	}
	for _, ref := range stale {
		if ref.Kind == "CustomResourceDefinition" {
			continue // kept, as on delete (NodeRecord.deletable)
		}
		if _, err := client.StartDelete(ctx, ref, owner); err != nil {
			return NodeResponse{}, fmt.Errorf("node %q: deleting %s, which the %s no longer renders: %w", n.ID, ref, n.Source, err)
		}
	}
	e.tell(ctx, n)
	return NodeResponse{Node: n.ID, Status: n.Status}, nil
}

// failPartly fails a source node some of whose objects were applied: they are recorded, so a
// delete or a retry finds them.
func (e *Engine) failPartly(ctx context.Context, n *NodeRecord, applied []kube.Ref, reason, msg string, red *secrets.Redactor) (NodeResponse, error) {
	for _, r := range applied {
		if !slices.ContainsFunc(n.Objects, func(o kube.Ref) bool { return sameObject(o, r) }) {
			n.Objects = append(n.Objects, r)
		}
	}
	n.AppliedHash = "" // applied partly: the next apply sends everything again
	return e.fail(ctx, n, reason, msg, red)
}

// resolveAll maps every object to where it goes. A custom resource whose CRD is among the
// objects, and not served yet, takes its scope from that CRD.
func resolveAll(ctx context.Context, client *kube.Client, objs []*unstructured.Unstructured, ns string) ([]kube.Ref, error) {
	var crds []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			crds = append(crds, o)
		}
	}
	out := make([]kube.Ref, 0, len(objs))
	for _, o := range objs {
		ref, err := client.Resolve(ctx, o, ns)
		if err == nil {
			out = append(out, ref)
			continue
		}
		gvk := o.GroupVersionKind()
		crd := definer(crds, gvk)
		if !kube.IsUnknownKind(err) || crd == nil {
			if kube.IsUnknownKind(err) {
				return nil, fmt.Errorf("%s: the cluster does not serve %s, and no CustomResourceDefinition among the objects defines it", source.Key(o), gvk)
			}
			return nil, fmt.Errorf("%s: %w", source.Key(o), err)
		}
		ref = kube.Ref{GVK: gvk, APIVersion: o.GetAPIVersion(), Kind: gvk.Kind, Name: o.GetName(), Namespace: o.GetNamespace()}
		if scope, _, _ := unstructured.NestedString(crd.Object, "spec", "scope"); scope != string(meta.RESTScopeNameRoot) && ref.Namespace == "" {
			ref.Namespace = ns
		}
		out = append(out, ref)
	}
	return out, nil
}

func definer(crds []*unstructured.Unstructured, gvk schema.GroupVersionKind) *unstructured.Unstructured {
	for _, c := range crds {
		group, _, _ := unstructured.NestedString(c.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(c.Object, "spec", "names", "kind")
		if group == gvk.Group && kind == gvk.Kind {
			return c
		}
	}
	return nil
}

// awaitEstablished waits until the API server serves each CRD (condition Established), so
// the custom resources after them can be applied.
func awaitEstablished(ctx context.Context, client *kube.Client, crds []*unstructured.Unstructured) error {
	for _, c := range crds {
		ref, err := client.Resolve(ctx, c, "")
		if err != nil {
			return err
		}
		var last string
		err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, crdEstablishTimeout, true, func(ctx context.Context) (bool, error) {
			u, err := client.Get(ctx, ref)
			if err != nil || u == nil {
				return false, err
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, x := range conds {
				m, _ := x.(map[string]any)
				if m["type"] == "Established" {
					last = fmt.Sprint(m["message"])
					return m["status"] == "True", nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("%s not established after %s (%s): %w", ref, crdEstablishTimeout, strings.TrimSpace(last), err)
		}
	}
	return nil
}

func allExist(ctx context.Context, client *kube.Client, refs []kube.Ref) (bool, error) {
	for _, r := range refs {
		u, err := client.Get(ctx, r)
		if err != nil || u == nil {
			return false, err
		}
	}
	return true, nil
}

// staleObjects are the objects of an earlier apply that this one did not apply.
func staleObjects(before, now []kube.Ref) []kube.Ref {
	var out []kube.Ref
	for _, b := range slices.Backward(before) {
		if !slices.ContainsFunc(now, func(r kube.Ref) bool { return sameObject(r, b) }) {
			out = append(out, b)
		}
	}
	return out
}

// targetID is how observe tracks a node's i-th object: the node's id for a one-object node.
func targetID(n *NodeRecord, i int) string {
	if n.Source == "" {
		return n.ID
	}
	return fmt.Sprintf("%s#%d", n.ID, i)
}

// sourceReadiness judges a source node on its objects: FAILED when one failed, READY when
// all are; ok is false until every object has been seen.
func sourceReadiness(n *NodeRecord, objs map[string]*unstructured.Unstructured) (r kube.Readiness, ok bool) {
	ready := 0
	var waiting *kube.Readiness
	var waitingOn kube.Ref
	for i, ref := range n.Objects {
		u, seen := objs[targetID(n, i)]
		if !seen {
			return r, false
		}
		got := kube.Evaluate(u, nil)
		switch got.Phase {
		case kube.PhaseFailed:
			return kube.Readiness{Phase: kube.PhaseFailed, Reason: got.Reason, Message: fmt.Sprintf("%s/%s: %s", ref.Kind, ref.Name, got.Message)}, true
		case kube.PhaseReady:
			ready++
		default:
			if waiting == nil {
				waiting, waitingOn = &got, ref
			}
		}
	}
	if waiting == nil {
		return kube.Readiness{Phase: kube.PhaseReady, Reason: "AllReady", Message: fmt.Sprintf("%d objects READY", ready)}, true
	}
	return kube.Readiness{Phase: kube.PhaseWaiting, Reason: waiting.Reason,
		Message: fmt.Sprintf("%d of %d objects READY; %s/%s: %s", ready, len(n.Objects), waitingOn.Kind, waitingOn.Name, waiting.Message)}, true
}

// captureSourceLive keeps a source node's objects under "objects", by "Kind/name", for
// ${nodes.redis.objects["Service/redis-master"].spec.clusterIP}. A Secret keeps no data; a
// source that receives a secret input keeps of each object only what identifies it and its
// status (and a Service's spec: its addresses and ports), as a chart may put the value
// anywhere (template.SensitiveFields); values equal to a secret are redacted everywhere.
func captureSourceLive(n *NodeRecord, objs map[string]*unstructured.Unstructured, red *secrets.Redactor) map[string]any {
	if n.Trimmed && !slices.Contains(n.Keep, "objects") {
		return nil // nothing reads it
	}
	whole := !slices.Contains(n.Sensitive, "")
	out := map[string]any{}
	for i := range n.Objects {
		u := objs[targetID(n, i)]
		if u == nil {
			continue
		}
		live := kube.Live(u)
		if u.GetAPIVersion() == "v1" && u.GetKind() == "Secret" {
			delete(live, "data")
			delete(live, "stringData")
		}
		if !whole {
			md, _ := live["metadata"].(map[string]any)
			kept := map[string]any{"apiVersion": live["apiVersion"], "kind": live["kind"], "status": live["status"],
				"metadata": map[string]any{"name": md["name"], "namespace": md["namespace"], "uid": md["uid"]}}
			if u.GetAPIVersion() == "v1" && u.GetKind() == "Service" {
				kept["spec"] = live["spec"] // addresses and ports, for the nodes that connect to it
			}
			live = kept
		}
		out[source.Key(u)] = red.Value(live)
	}
	return map[string]any{"objects": out}
}

// lookUp records the object a lookup node reads: nothing is applied; check-ready waits for it
// to exist and be ready.
func (e *Engine) lookUp(ctx context.Context, st *StackRecord, n *NodeRecord, m map[string]any, red *secrets.Redactor, later bool) (NodeResponse, error) {
	client, err := e.Cluster(ctx, st)
	if err != nil {
		return NodeResponse{}, err
	}
	ref, err := client.Resolve(ctx, &unstructured.Unstructured{Object: m}, st.Namespace)
	if err != nil {
		return e.fail(ctx, n, applyReason(err), err.Error(), red)
	}
	pr, err := e.ProjectOf(st)
	if err == nil {
		err = checkObject(pr, ref, false)
	}
	if err != nil {
		return e.fail(ctx, n, "PolicyDenied", err.Error(), red)
	}
	n.Ref = &ref
	n.waiting(e.now().UTC(), "LookedUp", ref.String()+": read, not applied; waiting for it to exist and be ready", later)
	if first, err := e.record(ctx, n); first != nil || err != nil {
		return *first, err
	}
	e.tell(ctx, n)
	return NodeResponse{Node: n.ID, Status: n.Status}, nil
}

// deletable splits the objects a delete removes from those it keeps: a source's CRDs stay,
// as Helm leaves a chart's, since deleting one deletes every resource of its kind in the
// cluster, the stack's or not.
func (n *NodeRecord) deletable() (del, kept []kube.Ref) {
	for _, r := range n.objects() {
		if n.Lookup || n.Source != "" && r.Kind == "CustomResourceDefinition" {
			kept = append(kept, r)
		} else {
			del = append(del, r)
		}
	}
	return del, kept
}

func refList(refs []kube.Ref) string {
	s := make([]string, len(refs))
	for i, r := range refs {
		s[i] = r.String()
	}
	return strings.Join(s, ", ")
}
