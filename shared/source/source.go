// Package source turns what users already have — a Helm chart, a Kustomize directory, a
// folder of manifests — into the Kubernetes objects of one node, in the order they are
// applied. It runs at apply, after the node's references are resolved, so a chart's values
// may hold live values of other nodes.
package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Kinds of sources, as the template's keys name them.
const (
	Chart     = "chart"
	Kustomize = "kustomize"
	Manifests = "manifests"
)

// Kinds lists the source keys a node may hold instead of `manifest`.
var Kinds = []string{Chart, Kustomize, Manifests}

// Request is one node's source with its references resolved.
type Request struct {
	Kind string
	// Spec is the node's value under its key: for a chart {path | repo + name | oci, version,
	// values, release, plainHTTP}; for kustomize and manifests {path}.
	Spec map[string]any
	// Dir is the folder of the template file, which relative paths are read from; "" when
	// the template came without one, over the API, and then no local path is read.
	Dir string
	// Namespace is the stack's namespace: the release's, and objects' without their own.
	Namespace string
	// Release names a chart's release when the spec does not: the node's id.
	Release string
	// CacheDir keeps downloaded charts and repository indexes ("": a temporary folder).
	CacheDir string
}

// Render returns the node's objects in the order they are applied: CustomResourceDefinitions
// and namespaces first, then by Helm's install order of kinds; a chart's pre-install hooks
// come before its objects and its post-install hooks after them.
func Render(ctx context.Context, r Request) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	var err error
	switch r.Kind {
	case Chart:
		objs, err = renderChart(ctx, r)
	case Kustomize:
		objs, err = renderKustomize(r)
	case Manifests:
		objs, err = renderManifests(r)
	default:
		return nil, fmt.Errorf("unknown source %q (one of %s)", r.Kind, strings.Join(Kinds, ", "))
	}
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("%s renders no objects", r.Kind)
	}
	return objs, checkObjects(objs)
}

// path returns where a spec's path points: relative paths are read from the template's folder.
func (r Request) path(field string) (string, error) {
	p, _ := r.Spec[field].(string)
	if p == "" {
		return "", fmt.Errorf("%s.%s: needs a path", r.Kind, field)
	}
	if r.Dir == "" {
		// A caller of the API must not make the server read its own files.
		return "", fmt.Errorf("%s.%s %q is a local path, read from the template's folder, and this template did not come with one (a template sent over the API has none): run `aos up` where the folder is, or use an OCI or repository chart", r.Kind, field, p)
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(r.Dir, p)
	}
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("%s.%s: %s does not exist on the machine that applies the node", r.Kind, field, p)
		}
		return "", fmt.Errorf("%s.%s: %w", r.Kind, field, err)
	}
	return p, nil
}

// checkObjects refuses objects without a kind or a name, and the same object twice: each
// is one object the node owns.
func checkObjects(objs []*unstructured.Unstructured) error {
	seen := map[string]bool{}
	for _, o := range objs {
		if o.GetAPIVersion() == "" || o.GetKind() == "" {
			return fmt.Errorf("an object without apiVersion or kind: %s", clip(o.Object))
		}
		if o.GetName() == "" {
			return fmt.Errorf("a %s without metadata.name: a source's objects are named (generateName is not supported)", o.GetKind())
		}
		k := Key(o) + "/" + o.GetNamespace()
		if seen[k] {
			return fmt.Errorf("%s appears twice", Key(o))
		}
		seen[k] = true
	}
	return nil
}

// Key names an object among a node's objects, as references read it:
// ${nodes.redis.objects["Service/redis-master"].spec.clusterIP}.
func Key(o *unstructured.Unstructured) string { return o.GetKind() + "/" + o.GetName() }

func clip(m map[string]any) string {
	s := fmt.Sprint(m)
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// sortByKind orders objects by Helm's install order of kinds (unknown kinds, custom
// resources among them, last), keeping the given order otherwise.
func sortByKind(objs []*unstructured.Unstructured) {
	rank := func(o *unstructured.Unstructured) int {
		if i := slices.Index(installOrder, o.GetKind()); i >= 0 {
			return i
		}
		return len(installOrder)
	}
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int { return rank(a) - rank(b) })
}
