package engine

import (
	"context"
	"slices"

	"github.com/aos-project/aos/shared/template"
)

// renderNow renders a node's manifest as apply would now: the stack's inputs, its forEach
// element, and its dependencies' live values (byID: the stack's nodes).
func renderNow(st *StackRecord, n *NodeRecord, byID map[string]*NodeRecord, vals map[string]any) (map[string]any, error) {
	sc := newScope(st, vals, n.Index)
	if err := sc.forEach(n.ForEach); err != nil {
		return nil, err
	}
	used := map[string]bool{}
	referencedNodes(n.Manifest, used)
	for dep := range used {
		if dr := byID[dep]; dr != nil {
			sc.see(dr)
		} else {
			sc.absent[dep] = true
		}
	}
	rendered, err := render(n.Manifest, sc, set(n.TextRefs))
	if err != nil {
		return nil, err
	}
	return rendered.(map[string]any), nil
}

// AppliedManifest is a node's manifest with its references resolved, as apply renders it now
// (what the console shows as the applied manifest): secret values redacted wherever they
// landed, a Secret's data and every field derived from a secret masked.
func (e *Engine) AppliedManifest(ctx context.Context, st *StackRecord, node string) (map[string]any, error) {
	nodes, err := e.Store.ListNodes(ctx, st.Name)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*NodeRecord, len(nodes))
	for _, n := range nodes {
		byID[n.ID] = n
	}
	n := byID[node]
	if n == nil {
		return nil, ErrNotFound
	}
	vals, red, err := e.inputs(st)
	if err != nil {
		return nil, err
	}
	m, err := renderNow(st, n, byID, vals)
	if err != nil {
		return nil, &StateError{red.String(err.Error())}
	}
	if kind, _ := m["kind"].(string); kind == "Secret" {
		for _, k := range []string{"data", "stringData"} {
			if d, ok := m[k].(map[string]any); ok {
				for f := range d {
					d[f] = template.SensitiveText
				}
			}
		}
	}
	for _, f := range n.Sensitive {
		mask(m, f)
	}
	if n.Source != "" && slices.Contains(n.Sensitive, "") {
		// Which of a source's values derive from a secret is not tracked field by field.
		for k := range m {
			if k != "path" && k != "repo" && k != "name" && k != "oci" && k != "version" {
				m[k] = template.SensitiveText
			}
		}
	}
	return red.Value(m).(map[string]any), nil
}
