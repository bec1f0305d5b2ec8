package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rs/zerolog"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/aos-project/aos/shared/kube"
	"github.com/aos-project/aos/shared/refs"
	"github.com/aos-project/aos/shared/template"
)

// pathChecker is what schemaProblems needs of a cluster (kube.Client).
type pathChecker interface {
	CheckPath(ctx context.Context, gvk schema.GroupVersionKind, path []kube.Step) error
}

// schemaProblems checks every path a template reads from a live object — the paths of
// ${nodes.X.<path>} references and expressions, and node outputs — against the schema the
// cluster publishes for X's kind, so `${nodes.db-svc.spec.prots[0].port}` fails before
// anything is applied, where it is written, with a did-you-mean. A kind the cluster does not
// serve yet (a CRD the stack itself creates) is not checked, nor anything once the cluster
// cannot be asked: this check only adds to what validate found offline.
func schemaProblems(ctx context.Context, c pathChecker, r *template.Resolved) template.Problems {
	t := r.Template
	included := map[string]bool{}
	for _, in := range r.Instances {
		included[in.Node.ID] = true
	}
	var probs template.Problems
	seen := map[string]error{}
	failed := false
	check := func(target *template.Node, path refs.Path, pos template.Pos, node, where string) {
		gvk, ok := kindOf(target)
		if failed || !ok || len(path) == 0 {
			return
		}
		steps := make([]kube.Step, len(path))
		for i, s := range path {
			steps[i] = kube.Step{Field: s.Field, IsIndex: s.IsIndex}
		}
		key := gvk.String() + path.String()
		err, done := seen[key]
		if !done {
			err = c.CheckPath(ctx, gvk, steps)
			seen[key] = err
		}
		var pe *kube.PathError
		switch {
		case errors.As(err, &pe):
			msg := fmt.Sprintf("%s: %s has no field %s%s", where, gvk.Kind, pe.At, template.DidYouMean(pe.Field, pe.Known))
			if pe.NotList {
				msg = fmt.Sprintf("%s: in a %s, %s is not a list", where, gvk.Kind, strings.TrimSuffix(pe.At, "[]"))
			}
			probs = append(probs, template.Problem{File: t.File, Line: pos.Line, Col: pos.Col, Node: node, Message: msg})
		case err != nil:
			failed = true
			zerolog.Ctx(ctx).Debug().Err(err).Msg("live paths not checked against the cluster's schemas")
		}
	}
	for _, n := range t.Nodes {
		if !included[n.ID] {
			continue
		}
		for _, o := range n.Outputs {
			check(n, o.Path, o.Pos, n.ID, fmt.Sprintf("output %q: %s", o.Name, o.Path))
		}
		for _, u := range n.Uses {
			if u.Ref.Root == refs.RootNodes && u.Ref.Output == "" && included[u.Ref.Name] {
				check(t.Node(u.Ref.Name), u.Ref.Path, u.Pos, n.ID, fmt.Sprintf("%s: %s", u.Field, u.Ref))
			}
		}
	}
	for _, o := range t.Outputs {
		for _, u := range o.Uses {
			if u.Ref.Root == refs.RootNodes && u.Ref.Output == "" && included[u.Ref.Name] {
				check(t.Node(u.Ref.Name), u.Ref.Path, u.Pos, "", fmt.Sprintf("%s: %s", u.Field, u.Ref))
			}
		}
	}
	return probs
}

// kindOf is a node's group-version-kind, when its manifest writes both without references.
func kindOf(n *template.Node) (schema.GroupVersionKind, bool) {
	if n == nil {
		return schema.GroupVersionKind{}, false
	}
	av, _ := n.Manifest["apiVersion"].(string)
	kind, _ := n.Manifest["kind"].(string)
	if av == "" || kind == "" || refs.HasRefs(av) || refs.HasRefs(kind) {
		return schema.GroupVersionKind{}, false
	}
	gv, err := schema.ParseGroupVersion(av)
	if err != nil {
		return schema.GroupVersionKind{}, false
	}
	return gv.WithKind(kind), true
}
