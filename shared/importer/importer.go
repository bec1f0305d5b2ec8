// Package importer turns Kubernetes objects someone already has — a folder of manifests, a
// rendered chart, a live namespace — into an AOS template: one node per object, with the
// dependencies Kubernetes itself links, service addresses turned into references, Secret
// values into secret inputs, and the fields the server fills in removed.
package importer

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aos-project/aos/shared/kube"
)

// Options shape the template.
type Options struct {
	// Name is the template's name.
	Name string
	// Adopt marks every node `adopt: true`, for a stack created over the live objects.
	Adopt bool
}

// Result is a template made from objects.
type Result struct {
	Template *Template
	// Secrets holds each secret input's value, as read from the Secrets: what a stack
	// created over the live objects (--adopt) is given, never written into the template.
	Secrets map[string]string
	// Skipped names the objects left out, with why.
	Skipped []string
}

// Template is the template as written out (in the order of its fields in a file).
type Template struct {
	Format string           `json:"format"`
	Name   string           `json:"name"`
	Inputs map[string]Input `json:"inputs,omitempty"`
	Nodes  map[string]*Node `json:"nodes"`
	order  []string
}

// Input is a secret input made from a Secret's value.
type Input struct {
	Type        string `json:"type"`
	Secret      bool   `json:"secret"`
	Description string `json:"description,omitempty"`
}

// Node is one object.
type Node struct {
	DependsOn []string       `json:"dependsOn,omitempty"`
	Adopt     bool           `json:"adopt,omitempty"`
	Manifest  map[string]any `json:"manifest"`
	kind      string
	name      string
}

// Edges lists the template's dependencies as "from -> to" (from depends on to), sorted; a
// test asserts them.
func (t *Template) Edges() []string {
	var out []string
	for id, n := range t.Nodes {
		for _, d := range n.DependsOn {
			out = append(out, id+" -> "+d)
		}
	}
	for id, n := range t.Nodes {
		for _, d := range referenced(n.Manifest) {
			if !slices.Contains(n.DependsOn, d) {
				out = append(out, id+" -> "+d)
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

var refPattern = regexp.MustCompile(`\$\{nodes\.([a-z0-9-]+)\.`)

func referenced(v any) []string {
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case string:
			for _, m := range refPattern.FindAllStringSubmatch(x, -1) {
				out = append(out, m[1])
			}
		}
	}
	walk(v)
	return out
}

// Import makes a template of objs.
func Import(objs []*unstructured.Unstructured, o Options) (*Result, error) {
	res := &Result{Template: &Template{Format: "aos/v1", Name: o.Name, Nodes: map[string]*Node{}}, Secrets: map[string]string{}}
	if res.Template.Name == "" {
		res.Template.Name = "imported"
	}
	var kept []*unstructured.Unstructured
	for _, u := range objs {
		if why := skip(u); why != "" {
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s/%s: %s", u.GetKind(), u.GetName(), why))
			continue
		}
		kept = append(kept, u)
	}
	if len(kept) == 0 {
		return nil, fmt.Errorf("no objects to import (%d left out: %s)", len(res.Skipped), strings.Join(res.Skipped, "; "))
	}
	ids := nodeIDs(kept)
	g := &graph{ids: ids, objs: kept}
	for i, u := range kept {
		n := &Node{Manifest: clean(u), kind: u.GetKind(), name: u.GetName(), Adopt: o.Adopt}
		id := ids[i]
		res.Template.Nodes[id] = n
		res.Template.order = append(res.Template.order, id)
		if u.GetKind() == "Secret" && u.GetAPIVersion() == "v1" {
			secretInputs(res, id, n)
		}
	}
	for i, u := range kept {
		n := res.Template.Nodes[ids[i]]
		g.link(i, u, n)
	}
	for _, n := range res.Template.Nodes {
		sort.Strings(n.DependsOn)
		n.DependsOn = slices.Compact(n.DependsOn)
	}
	return res, nil
}

// skip says why an object is not imported: it belongs to something else, or Kubernetes
// puts it in every namespace.
func skip(u *unstructured.Unstructured) string {
	switch {
	case len(u.GetOwnerReferences()) > 0:
		return fmt.Sprintf("owned by %s %s, which makes it", u.GetOwnerReferences()[0].Kind, u.GetOwnerReferences()[0].Name)
	case u.GetKind() == "Event" || u.GetKind() == "Endpoints" || u.GetKind() == "EndpointSlice" || u.GetKind() == "Lease":
		return "kept by Kubernetes itself"
	case u.GetKind() == "ServiceAccount" && u.GetName() == "default", u.GetKind() == "ConfigMap" && u.GetName() == "kube-root-ca.crt":
		return "Kubernetes makes it in every namespace"
	case u.GetKind() == "Secret" && u.Object["type"] == "kubernetes.io/service-account-token":
		return "a service account token, made by Kubernetes"
	case u.GetDeletionTimestamp() != nil:
		return "being deleted"
	}
	return ""
}

var notLabel = regexp.MustCompile(`[^a-z0-9-]+`)

// nodeIDs names each object's node: its name, or kind-name where two kinds share a name.
func nodeIDs(objs []*unstructured.Unstructured) []string {
	byName := map[string]int{}
	for _, u := range objs {
		byName[u.GetName()]++
	}
	out := make([]string, len(objs))
	seen := map[string]bool{}
	for i, u := range objs {
		id := u.GetName()
		if byName[id] > 1 {
			id = u.GetKind() + "-" + id
		}
		id = strings.Trim(notLabel.ReplaceAllString(strings.ToLower(id), "-"), "-")
		if len(id) > 60 {
			id = strings.Trim(id[:60], "-")
		}
		base := id
		for k := 2; seen[id]; k++ {
			id = fmt.Sprintf("%s-%d", base, k)
		}
		seen[id] = true
		out[i] = id
	}
	return out
}

// serverFields are filled in by the API server; a template writes none of them.
var serverFields = [][]string{
	{"status"},
	{"metadata", "namespace"}, {"metadata", "uid"}, {"metadata", "resourceVersion"}, {"metadata", "generation"},
	{"metadata", "creationTimestamp"}, {"metadata", "managedFields"}, {"metadata", "selfLink"},
	{"spec", "template", "metadata", "creationTimestamp"},
	{"spec", "clusterIP"}, {"spec", "clusterIPs"},
	{"spec", "volumeName"},
}

var serverAnnotations = []string{
	"kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision",
	"pv.kubernetes.io/bind-completed", "pv.kubernetes.io/bound-by-controller",
	"volume.beta.kubernetes.io/storage-provisioner", "volume.kubernetes.io/storage-provisioner",
}

// clean is the object as a template writes it.
func clean(u *unstructured.Unstructured) map[string]any {
	c := u.DeepCopy()
	for _, f := range serverFields {
		if f[0] == "spec" && f[1] != "template" && f[1] != "volumeName" && u.GetKind() != "Service" {
			continue
		}
		unstructured.RemoveNestedField(c.Object, f...)
	}
	labels := c.GetLabels()
	if labels[kube.LabelManagedBy] == kube.ManagedByValue {
		delete(labels, kube.LabelManagedBy)
	}
	delete(labels, kube.LabelStack)
	if len(labels) == 0 {
		unstructured.RemoveNestedField(c.Object, "metadata", "labels")
	} else {
		c.SetLabels(labels)
	}
	ann := c.GetAnnotations()
	for _, a := range serverAnnotations {
		delete(ann, a)
	}
	for k := range ann {
		if strings.HasPrefix(k, "aos.dev/") {
			delete(ann, k) // AOS's own marks, from a stack that held it before
		}
	}
	if len(ann) == 0 {
		unstructured.RemoveNestedField(c.Object, "metadata", "annotations")
	} else {
		c.SetAnnotations(ann)
	}
	return c.Object
}
