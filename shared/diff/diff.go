// Package diff compares two Kubernetes objects field by field, for previews: what a server-side
// dry run would change in a live object.
package diff

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
)

// Change is one field that differs. Old is absent (nil) for an added field, New for a removed one.
type Change struct {
	Path string `json:"path"`
	Old  any    `json:"old,omitempty"`
	New  any    `json:"new,omitempty"`
}

// Op says whether the field is added, removed or changed.
func (c Change) Op() string {
	switch {
	case c.Old == nil:
		return "+"
	case c.New == nil:
		return "-"
	}
	return "~"
}

// volatile are fields the server sets on every write; a preview that showed them would bury
// the real changes.
var volatile = [][]string{
	{"metadata", "managedFields"}, {"metadata", "resourceVersion"}, {"metadata", "generation"},
	{"metadata", "uid"}, {"metadata", "creationTimestamp"}, {"metadata", "selfLink"},
	{"metadata", "annotations", "deployment.kubernetes.io/revision"}, {"status"},
}

// Objects lists the fields that differ between a live object and what it would become,
// ignoring status and the metadata the server maintains. Paths read like references:
// spec.template.spec.containers[0].image.
func Objects(live, next map[string]any) []Change {
	var out []Change
	walk("", strip(live), strip(next), &out)
	return out
}

func strip(obj map[string]any) map[string]any {
	if obj == nil {
		return nil
	}
	c := deepCopy(obj).(map[string]any)
	for _, p := range volatile {
		m := c
		for i, k := range p {
			if i == len(p)-1 {
				delete(m, k)
				break
			}
			next, ok := m[k].(map[string]any)
			if !ok {
				break
			}
			m = next
		}
	}
	if md, ok := c["metadata"].(map[string]any); ok {
		if a, ok := md["annotations"].(map[string]any); ok && len(a) == 0 {
			delete(md, "annotations")
		}
	}
	return c
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(t))
		for k, x := range t {
			c[k] = deepCopy(x)
		}
		return c
	case []any:
		c := make([]any, len(t))
		for i, x := range t {
			c[i] = deepCopy(x)
		}
		return c
	}
	return v
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func walk(path string, a, b any, out *[]Change) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := make([]string, 0, len(am)+len(bm))
		for k := range am {
			keys = append(keys, k)
		}
		for k := range bm {
			if _, ok := am[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			walk(join(path, k), am[k], bm[k], out)
		}
		return
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok {
		for i := 0; i < len(al) || i < len(bl); i++ {
			var x, y any
			if i < len(al) {
				x = al[i]
			}
			if i < len(bl) {
				y = bl[i]
			}
			walk(path+"["+strconv.Itoa(i)+"]", x, y, out)
		}
		return
	}
	if equal(a, b) {
		return
	}
	*out = append(*out, Change{Path: path, Old: a, New: b})
}

// equal compares leaves, treating JSON numbers of different Go types as equal by value.
func equal(a, b any) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	if a == nil || b == nil {
		return false
	}
	return fmt.Sprint(a) == fmt.Sprint(b) && isNumber(a) && isNumber(b)
}

func isNumber(v any) bool {
	switch v.(type) {
	case int, int32, int64, float32, float64:
		return true
	}
	return false
}
