package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

// Step is one step of a path into an object: a field, or a list element.
type Step struct {
	Field   string
	IsIndex bool
}

// PathError says where a path leaves a kind's schema: at which step, and what the schema
// offers there.
type PathError struct {
	// At is the path up to and including the step that is not there (".spec.prots").
	At string
	// Field is that step's field ("" for a list index); Known the fields the schema has there.
	Field string
	Known []string
	// NotList: the step is an index into something that is not a list.
	NotList bool
}

func (e *PathError) Error() string {
	if e.NotList {
		return fmt.Sprintf("%s is not a list", e.At)
	}
	return fmt.Sprintf("the kind's schema has no field %s", e.At)
}

// schemas caches the OpenAPI v3 document of each group-version a client has read.
type schemas struct {
	mu   sync.Mutex
	docs map[string]map[string]any
}

// CheckPath follows a path into the schema the cluster publishes for a kind (OpenAPI v3, as
// kubectl explain reads it). It returns a *PathError where the path leaves the schema, and
// nil where it fits or the schema cannot tell (a field that keeps unknown fields, a kind the
// cluster publishes no schema for). Other errors are the cluster's.
func (c *Client) CheckPath(ctx context.Context, gvk schema.GroupVersionKind, path []Step) error {
	doc, err := c.openAPI(gvk.GroupVersion())
	if err != nil || doc == nil {
		return err
	}
	root := schemaOfKind(doc, gvk)
	if root == nil {
		return nil
	}
	s := root
	at := ""
	for _, st := range path {
		s = resolve(doc, s)
		if st.IsIndex {
			at += "[]"
			if t, _ := s["type"].(string); t != "array" {
				if t == "" {
					return nil
				}
				return &PathError{At: at, NotList: true}
			}
			s, _ = s["items"].(map[string]any)
			if s == nil {
				return nil
			}
			continue
		}
		at += "." + st.Field
		if keep, _ := s["x-kubernetes-preserve-unknown-fields"].(bool); keep {
			return nil
		}
		props, _ := s["properties"].(map[string]any)
		if p, ok := props[st.Field].(map[string]any); ok {
			s = p
			continue
		}
		switch extra := s["additionalProperties"].(type) {
		case map[string]any:
			s = extra
			continue
		case bool:
			if extra {
				return nil
			}
		}
		if len(props) == 0 {
			return nil // the schema does not describe this object's fields
		}
		known := make([]string, 0, len(props))
		for k := range props {
			known = append(known, k)
		}
		slices.Sort(known)
		return &PathError{At: at, Field: st.Field, Known: known}
	}
	return nil
}

func (c *Client) openAPI(gv schema.GroupVersion) (map[string]any, error) {
	key := "apis/" + gv.String()
	if gv.Group == "" {
		key = "api/" + gv.Version
	}
	c.schemas.mu.Lock()
	doc, ok := c.schemas.docs[key]
	c.schemas.mu.Unlock()
	if ok {
		return doc, nil
	}
	dc, err := discovery.NewDiscoveryClientForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	paths, err := dc.OpenAPIV3().Paths()
	if err != nil {
		return nil, fmt.Errorf("reading the cluster's OpenAPI index: %w", err)
	}
	if p, ok := paths[key]; ok {
		b, err := p.Schema("application/json")
		if err != nil {
			return nil, fmt.Errorf("reading the OpenAPI schema of %s: %w", gv, err)
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("reading the OpenAPI schema of %s: %w", gv, err)
		}
	}
	c.schemas.mu.Lock()
	if c.schemas.docs == nil {
		c.schemas.docs = map[string]map[string]any{}
	}
	c.schemas.docs[key] = doc
	c.schemas.mu.Unlock()
	return doc, nil
}

// schemaOfKind finds the component a group-version-kind names in its extension.
func schemaOfKind(doc map[string]any, gvk schema.GroupVersionKind) map[string]any {
	comps, _ := doc["components"].(map[string]any)
	all, _ := comps["schemas"].(map[string]any)
	for _, v := range all {
		s, _ := v.(map[string]any)
		gvks, _ := s["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			m, _ := g.(map[string]any)
			if m["group"] == gvk.Group && m["version"] == gvk.Version && m["kind"] == gvk.Kind {
				return s
			}
		}
	}
	return nil
}

// resolve follows $ref, and the allOf of one $ref the API server wraps fields in.
func resolve(doc map[string]any, s map[string]any) map[string]any {
	for range 8 {
		if all, ok := s["allOf"].([]any); ok && len(all) == 1 {
			s, _ = all[0].(map[string]any)
			continue
		}
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		name, found := strings.CutPrefix(ref, "#/components/schemas/")
		comps, _ := doc["components"].(map[string]any)
		all, _ := comps["schemas"].(map[string]any)
		next, _ := all[name].(map[string]any)
		if !found || next == nil {
			return map[string]any{}
		}
		s = next
	}
	return s
}
