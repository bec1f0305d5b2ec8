package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
)

// Ref names one object in the cluster.
type Ref struct {
	GVK        schema.GroupVersionKind     `json:"-"`
	GVR        schema.GroupVersionResource `json:"-"`
	APIVersion string                      `json:"apiVersion"`
	Kind       string                      `json:"kind"`
	Namespace  string                      `json:"namespace,omitempty"`
	Name       string                      `json:"name"`
	UID        types.UID                   `json:"uid,omitempty"`
}

func (r Ref) String() string {
	if r.Namespace != "" {
		return fmt.Sprintf("%s %s/%s", r.Kind, r.Namespace, r.Name)
	}
	return fmt.Sprintf("%s %s", r.Kind, r.Name)
}

// Owner says which stack and node an object belongs to.
type Owner struct {
	Stack     string // stack name
	Namespace string // the stack's namespace
	Node      string // node id
	UID       string // the stack's UID; objects marked with another UID are another stack's
}

// ApplyOptions are a node's options that change how it is applied.
type ApplyOptions struct {
	Owner
	Adopt   bool // take over an object not made by this stack and node
	Replace bool // delete and recreate when an update changes an immutable field
}

// Applied is the outcome of one apply.
type Applied struct {
	Ref      Ref
	Object   *unstructured.Unstructured // as the server returned it
	Created  bool
	Adopted  bool
	Replaced bool
}

// OwnershipError: the object exists and belongs to someone else.
type OwnershipError struct {
	Ref   Ref
	Owner string
	// Stack says the object belongs to another AOS stack: adopt never takes those.
	Stack bool
}

func (e *OwnershipError) Error() string {
	if e.Stack {
		return fmt.Sprintf("%s already exists and %s; AOS never takes an object of another stack, even with `adopt: true` (delete it from that stack first)", e.Ref, e.Owner)
	}
	return fmt.Sprintf("%s already exists and %s; AOS will not take it over unless the node says `adopt: true`", e.Ref, e.Owner)
}

// ImmutableError: an update changes a field the API server will not change in place.
type ImmutableError struct {
	Ref Ref
	Err error
}

func (e *ImmutableError) Error() string {
	return fmt.Sprintf("%s: a field cannot be changed in place (set `replace: true` on the node to delete and recreate it): %s", e.Ref, immutableFields(e.Err))
}

// immutableFields names the fields the server refused, without the object dump the server
// puts in its message (a Job's whole pod template, for one).
func immutableFields(err error) string {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		if d := st.Status().Details; d != nil && len(d.Causes) > 0 {
			var fields []string
			for _, c := range d.Causes {
				msg := c.Message
				// "Invalid value: <the whole value>: field is immutable": keep the verdict.
				if strings.HasPrefix(msg, "Invalid value: ") {
					if i := strings.LastIndex(msg, ": "); i > 0 {
						msg = msg[i+2:]
					}
				}
				if len(msg) > 200 {
					msg = msg[:200] + "…"
				}
				if f := strings.TrimPrefix(c.Field+": "+msg, ": "); !slices.Contains(fields, f) {
					fields = append(fields, f)
				}
			}
			if len(fields) > 0 {
				return strings.Join(fields, "; ")
			}
		}
	}
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return msg
}

func (e *ImmutableError) Unwrap() error { return e.Err }

// resource resolves an object's kind and fills in the stack's namespace for namespaced kinds.
func (c *Client) resource(ctx context.Context, obj *unstructured.Unstructured, defaultNS string) (dynamic.ResourceInterface, Ref, error) {
	gvk := obj.GroupVersionKind()
	ref := Ref{GVK: gvk, APIVersion: obj.GetAPIVersion(), Kind: gvk.Kind, Name: obj.GetName(), Namespace: obj.GetNamespace()}
	if gvk.Kind == "" || gvk.Version == "" {
		return nil, ref, fmt.Errorf("object %q needs apiVersion and kind", obj.GetName())
	}
	mapping, err := c.Mapping(ctx, gvk)
	if err != nil {
		return nil, ref, err
	}
	ref.GVR = mapping.Resource
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if ref.Namespace == "" {
			ref.Namespace = defaultNS
			obj.SetNamespace(defaultNS)
		}
		return c.Dynamic.Resource(ref.GVR).Namespace(ref.Namespace), ref, nil
	}
	if ref.Namespace != "" {
		return nil, ref, fmt.Errorf("%s is cluster-scoped: remove metadata.namespace (%q)", ref, ref.Namespace)
	}
	return c.Dynamic.Resource(ref.GVR), ref, nil
}

// Resolve returns the Ref of an object as it would be applied, without touching it.
func (c *Client) Resolve(ctx context.Context, obj *unstructured.Unstructured, defaultNS string) (Ref, error) {
	_, ref, err := c.resource(ctx, obj.DeepCopy(), defaultNS)
	return ref, err
}

// OwnedBy reports whether AOS applied obj for o.
func OwnedBy(obj *unstructured.Unstructured, o Owner) bool { w, _ := ownerOf(obj, o); return w == "" }

// ownerOf describes who owns an existing object, or "" when it is o's; stack says it is
// another AOS stack's (or another node's of this one). Where the object carries a stack UID,
// the UID decides; objects applied before UIDs were recorded are matched by name and
// namespace.
func ownerOf(existing *unstructured.Unstructured, o Owner) (who string, stack bool) {
	if existing.GetLabels()[LabelManagedBy] != ManagedByValue {
		managers := map[string]bool{}
		var names []string
		for _, f := range existing.GetManagedFields() {
			if !managers[f.Manager] {
				managers[f.Manager] = true
				names = append(names, f.Manager)
			}
		}
		if len(names) == 0 {
			return "is not managed by AOS", false
		}
		return "is not managed by AOS (field managers: " + strings.Join(names, ", ") + ")", false
	}
	a := existing.GetAnnotations()
	if uid := a[AnnotationStackUID]; uid != "" && o.UID != "" && uid != o.UID {
		return fmt.Sprintf("belongs to another stack %q (namespace %q, stack UID %s; this stack's is %s), node %q", a[AnnotationStack], a[AnnotationNamespace], uid, o.UID, a[AnnotationNode]), true
	}
	if a[AnnotationStack] != o.Stack || a[AnnotationNamespace] != o.Namespace {
		return fmt.Sprintf("belongs to stack %q (namespace %q), node %q", a[AnnotationStack], a[AnnotationNamespace], a[AnnotationNode]), true
	}
	if a[AnnotationNode] != o.Node {
		return fmt.Sprintf("belongs to node %q of this stack", a[AnnotationNode]), true
	}
	return "", false
}

func mark(obj *unstructured.Unstructured, o Owner) {
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelManagedBy] = ManagedByValue
	labels[LabelStack] = o.Stack
	obj.SetLabels(labels)
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[AnnotationStack] = o.Stack
	ann[AnnotationNamespace] = o.Namespace
	ann[AnnotationNode] = o.Node
	if o.UID != "" {
		ann[AnnotationStackUID] = o.UID
	}
	obj.SetAnnotations(ann)
}

// Apply server-side-applies obj (which it does not modify) for a node.
func (c *Client) Apply(ctx context.Context, obj *unstructured.Unstructured, o ApplyOptions) (*Applied, error) {
	obj = obj.DeepCopy()
	ri, ref, err := c.resource(ctx, obj, o.Namespace)
	if err != nil {
		return nil, err
	}
	mark(obj, o.Owner)
	out := &Applied{Ref: ref}

	if ref.Name == "" {
		if obj.GetGenerateName() == "" {
			return nil, fmt.Errorf("%s needs metadata.name", ref.Kind)
		}
		// Server-side apply needs a name; a generated one is created once and then kept.
		var created *unstructured.Unstructured
		err := retry(ctx, DefaultRetry, "create "+ref.String(), func() (err error) {
			created, err = ri.Create(ctx, obj, metav1.CreateOptions{FieldManager: FieldManager})
			return err
		})
		if err != nil {
			return nil, apiError(ref, "create", err)
		}
		out.Ref.Name, out.Ref.UID, out.Object, out.Created = created.GetName(), created.GetUID(), created, true
		return out, nil
	}

	var existing *unstructured.Unstructured
	err = retry(ctx, DefaultRetry, "get "+ref.String(), func() (err error) {
		existing, err = ri.Get(ctx, ref.Name, metav1.GetOptions{})
		return err
	})
	switch {
	case apierrors.IsNotFound(err):
		out.Created = true
	case err != nil:
		return nil, apiError(ref, "read", err)
	default:
		if who, stack := ownerOf(existing, o.Owner); who != "" {
			if !o.Adopt || stack {
				return nil, &OwnershipError{Ref: ref, Owner: who, Stack: stack}
			}
			out.Adopted = true
		}
	}

	applied, err := c.apply(ctx, ri, ref, obj)
	if err != nil && isImmutable(err) && existing != nil {
		if !o.Replace {
			return nil, &ImmutableError{Ref: ref, Err: err}
		}
		if err := c.deleteAndWait(ctx, ri, ref, existing.GetUID()); err != nil {
			return nil, fmt.Errorf("%s: replacing: %w", ref, err)
		}
		out.Replaced = true
		applied, err = c.apply(ctx, ri, ref, obj)
	}
	if err != nil {
		return nil, apiError(ref, "apply", err)
	}
	out.Object = applied
	out.Ref.UID = applied.GetUID()
	return out, nil
}

func (c *Client) apply(ctx context.Context, ri dynamic.ResourceInterface, ref Ref, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	var applied *unstructured.Unstructured
	err := retry(ctx, DefaultRetry, "apply "+ref.String(), func() (err error) {
		applied, err = ri.Apply(ctx, ref.Name, obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
		return err
	})
	return applied, err
}

// isImmutable recognises the API server's ways of saying a field cannot change in place.
func isImmutable(err error) bool {
	if !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) {
		return false
	}
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"field is immutable", "may not change once set", "cannot change", "updates to statefulset spec for fields other than", "is immutable"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// apiError wraps an API error with what was being done; the server's own message stays.
func apiError(ref Ref, verb string, err error) error {
	if IsUnknownKind(err) {
		return err
	}
	return fmt.Errorf("%s %s: %w", verb, ref, err)
}

// complete fills in a Ref's resource when it was read back from a store, which keeps only
// apiVersion and kind.
func (c *Client) complete(ctx context.Context, ref *Ref) error {
	if ref.GVR.Resource != "" {
		return nil
	}
	gvk := schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind)
	m, err := c.Mapping(ctx, gvk)
	if err != nil {
		return err
	}
	ref.GVK, ref.GVR = gvk, m.Resource
	return nil
}

// Resource returns the API resource of a Ref.
func (c *Client) Resource(ctx context.Context, ref Ref) (schema.GroupVersionResource, error) {
	err := c.complete(ctx, &ref)
	return ref.GVR, err
}

// Get reads an object's live state. A missing object is (nil, nil).
func (c *Client) Get(ctx context.Context, ref Ref) (*unstructured.Unstructured, error) {
	if err := c.complete(ctx, &ref); err != nil {
		return nil, err
	}
	var u *unstructured.Unstructured
	err := retry(ctx, DefaultRetry, "get "+ref.String(), func() (err error) {
		u, err = c.ri(ref).Get(ctx, ref.Name, metav1.GetOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, apiError(ref, "read", err)
	}
	return u, nil
}

func (c *Client) ri(ref Ref) dynamic.ResourceInterface {
	if ref.Namespace != "" {
		return c.Dynamic.Resource(ref.GVR).Namespace(ref.Namespace)
	}
	return c.Dynamic.Resource(ref.GVR)
}

// Delete deletes an object that belongs to o and waits until it is really gone (finalizers
// included) or ctx ends. An object already gone is success; one that belongs to someone else
// is left alone and reported.
func (c *Client) Delete(ctx context.Context, ref Ref, o Owner) error {
	if err := c.complete(ctx, &ref); err != nil {
		return err
	}
	existing, err := c.Get(ctx, ref)
	if err != nil || existing == nil {
		return err
	}
	if who, stack := ownerOf(existing, o); who != "" {
		return &OwnershipError{Ref: ref, Owner: who, Stack: stack}
	}
	return c.deleteAndWait(ctx, c.ri(ref), ref, existing.GetUID())
}

// StartDelete asks the API server to delete an object that belongs to o, without waiting;
// it reports whether the object is already gone. Gone tells when it is.
func (c *Client) StartDelete(ctx context.Context, ref Ref, o Owner) (bool, error) {
	if err := c.complete(ctx, &ref); err != nil {
		return false, err
	}
	existing, err := c.Get(ctx, ref)
	if err != nil || existing == nil {
		return existing == nil && err == nil, err
	}
	if who, stack := ownerOf(existing, o); who != "" {
		return false, &OwnershipError{Ref: ref, Owner: who, Stack: stack}
	}
	if existing.GetDeletionTimestamp() != nil {
		return false, nil
	}
	gone, err := c.issueDelete(ctx, c.ri(ref), ref, existing.GetUID())
	return gone, err
}

// Gone reports whether the object (this UID of it, when known) no longer exists.
func (c *Client) Gone(ctx context.Context, ref Ref) (bool, error) {
	u, err := c.Get(ctx, ref)
	if err != nil {
		return false, err
	}
	return u == nil || ref.UID != "" && u.GetUID() != ref.UID, nil
}

func (c *Client) issueDelete(ctx context.Context, ri dynamic.ResourceInterface, ref Ref, uid types.UID) (bool, error) {
	// Foreground: the object stays until the objects it owns (a Deployment's pods) are gone,
	// so "deleted" means the whole thing is.
	fg := metav1.DeletePropagationForeground
	err := retry(ctx, DefaultRetry, "delete "+ref.String(), func() error {
		return ri.Delete(ctx, ref.Name, metav1.DeleteOptions{PropagationPolicy: &fg, Preconditions: &metav1.Preconditions{UID: &uid}})
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		// Gone, or already replaced by a newer object of the same name (the UID precondition).
		return true, nil
	}
	if err != nil {
		return false, apiError(ref, "delete", err)
	}
	return false, nil
}

func (c *Client) deleteAndWait(ctx context.Context, ri dynamic.ResourceInterface, ref Ref, uid types.UID) error {
	if gone, err := c.issueDelete(ctx, ri, ref, uid); gone || err != nil {
		return err
	}
	var last *unstructured.Unstructured
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		u, err := ri.Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) || err == nil && u.GetUID() != uid:
			return true, nil
		case err == nil:
			last = u
		case ctx.Err() == nil:
			if ok, _ := Transient(err); !ok {
				return false, apiError(ref, "wait for deletion of", err)
			}
		}
		return false, nil
	})
	if err != nil && ctx.Err() != nil {
		fin := ""
		if last != nil && len(last.GetFinalizers()) > 0 {
			fin = " (finalizers: " + strings.Join(last.GetFinalizers(), ", ") + ")"
		}
		return fmt.Errorf("%s is still being deleted%s: %w", ref, fin, ctx.Err())
	}
	return err
}

// errors.As helpers for callers.

// IsOwnership reports whether err is an OwnershipError.
func IsOwnership(err error) bool { var e *OwnershipError; return errors.As(err, &e) }

// IsImmutable reports whether err is an ImmutableError.
func IsImmutable(err error) bool { var e *ImmutableError; return errors.As(err, &e) }

// DryRun asks the API server what applying obj for a node would make of the live object,
// changing nothing: the server runs admission, defaulting and validation as for a real apply.
// live is nil when the object does not exist yet. The ownership rules of Apply hold.
func (c *Client) DryRun(ctx context.Context, obj *unstructured.Unstructured, o ApplyOptions) (live, result *unstructured.Unstructured, err error) {
	obj = obj.DeepCopy()
	ri, ref, err := c.resource(ctx, obj, o.Namespace)
	if err != nil {
		return nil, nil, err
	}
	if ref.Name == "" {
		return nil, nil, fmt.Errorf("%s has a generated name: nothing to compare before it exists", ref.Kind)
	}
	mark(obj, o.Owner)
	err = retry(ctx, DefaultRetry, "get "+ref.String(), func() (err error) {
		live, err = ri.Get(ctx, ref.Name, metav1.GetOptions{})
		return err
	})
	switch {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return nil, nil, apiError(ref, "read", err)
	default:
		if who, stack := ownerOf(live, o.Owner); who != "" && (!o.Adopt || stack) {
			return nil, nil, &OwnershipError{Ref: ref, Owner: who, Stack: stack}
		}
	}
	err = retry(ctx, DefaultRetry, "dry-run apply "+ref.String(), func() (err error) {
		result, err = ri.Apply(ctx, ref.Name, obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: true, DryRun: []string{metav1.DryRunAll}})
		return err
	})
	if err != nil && isImmutable(err) && live != nil {
		if !o.Replace {
			return nil, nil, &ImmutableError{Ref: ref, Err: err}
		}
		return live, nil, nil // replaced: the whole object is recreated
	}
	if err != nil {
		return nil, nil, apiError(ref, "dry-run apply", err)
	}
	return live, result, nil
}

// ListStack reads, in one request, every object of one resource (and namespace) that belongs
// to a stack, by name, and the list's resourceVersion (to watch from).
func (c *Client) ListStack(ctx context.Context, gvr schema.GroupVersionResource, namespace, stack string) (map[string]*unstructured.Unstructured, string, error) {
	ri := c.ri(Ref{GVR: gvr, Namespace: namespace})
	var list *unstructured.UnstructuredList
	err := retry(ctx, DefaultRetry, "list "+gvr.Resource, func() (err error) {
		list, err = ri.List(ctx, metav1.ListOptions{LabelSelector: LabelStack + "=" + stack})
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("list %s of stack %s: %w", gvr.Resource, stack, err)
	}
	out := make(map[string]*unstructured.Unstructured, len(list.Items))
	for i := range list.Items {
		out[list.Items[i].GetName()] = &list.Items[i]
	}
	return out, list.GetResourceVersion(), nil
}

// CurrentVersion is the resourceVersion of a stack's objects of one resource now, read with a
// one-item list: where a watch starts so that it misses nothing that happens afterwards.
func (c *Client) CurrentVersion(ctx context.Context, gvr schema.GroupVersionResource, namespace, stack string) (string, error) {
	ri := c.ri(Ref{GVR: gvr, Namespace: namespace})
	var list *unstructured.UnstructuredList
	err := retry(ctx, DefaultRetry, "list "+gvr.Resource, func() (err error) {
		list, err = ri.List(ctx, metav1.ListOptions{LabelSelector: LabelStack + "=" + stack, Limit: 1})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("list %s of stack %s: %w", gvr.Resource, stack, err)
	}
	return list.GetResourceVersion(), nil
}
