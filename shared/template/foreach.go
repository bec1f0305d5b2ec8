package template

import (
	"fmt"
	"regexp"

	"github.com/aos-project/aos/shared/refs"
)

// copyName is what forEach.name may make: a DNS label's characters, since the copy's id
// (ID-<name>) is a node id.
var copyName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// copyNames names the copies of a forEach node by its name expression, one per element of
// its list, reporting names that are not usable or not unique. The list is evaluated again
// (Resolve did once for its length): it depends on inputs only.
func (t *Template) copyNames(c *collector, n *Node, values map[string]any) []string {
	if t.secretExpr(n.ForEach) || t.secretExpr(n.ForEachName) {
		// A node id is shown everywhere: in plans, events, the store's keys.
		c.add(n.ForEachName.Pos, n.ID, "forEach.name would make node ids of a secret input's value; name the copies from values that are not secret, or leave out name (ID-<index>)")
		return nil
	}
	v, err := n.ForEach.value(values)
	list, _ := v.([]any)
	if err != nil {
		return nil
	}
	ids := make([]string, 0, len(list))
	seen := map[string]int{}
	for i, el := range list {
		name, err := n.ForEachName.eachValue(values, el, i)
		if err != nil {
			c.add(n.ForEachName.Pos, n.ID, "forEach.name, element %d: %v", i, err)
			return nil
		}
		s, ok := name.(string)
		if num, isInt := name.(int64); isInt {
			s, ok = fmt.Sprint(num), true
		}
		switch {
		case !ok:
			c.add(n.ForEachName.Pos, n.ID, "forEach.name, element %d: %s, not text", i, describeValue(name, t.secretExpr(n.ForEachName)))
			return nil
		case !copyName.MatchString(s) || len(n.ID)+1+len(s) > 63:
			c.add(n.ForEachName.Pos, n.ID, "forEach.name, element %d: %q cannot name a copy: copies are named %s-<name>, which must be lowercase letters, digits and '-', at most 63 characters", i, s, n.ID)
			return nil
		case seen[s] > 0:
			c.add(n.ForEachName.Pos, n.ID, "forEach.name: elements %d and %d are both named %q; a name must tell the copies apart", seen[s]-1, i, s)
			return nil
		}
		seen[s] = i + 1
		ids = append(ids, n.ID+"-"+s)
	}
	return ids
}

// eachValue is what an expression over one element of a forEach list is.
func (e *Expr) eachValue(values map[string]any, each any, index int) (any, error) {
	lookup := func(r *refs.Ref) (any, error) {
		switch r.Root {
		case refs.RootInputs:
			return refs.Get(values[r.Name], r.Path)
		case refs.RootEach:
			if r.Name == "index" {
				return int64(index), nil
			}
			return refs.Get(each, r.Path)
		case refs.RootIndex:
			return int64(index), nil
		}
		return nil, fmt.Errorf("%s: a copy's name can read its element and inputs only", r)
	}
	if e.Ref != nil {
		return lookup(e.Ref)
	}
	if e.Expression != nil {
		return e.Expression.Eval(lookup)
	}
	return e.Literal, nil
}
