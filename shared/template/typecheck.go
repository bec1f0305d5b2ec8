package template

import (
	"github.com/aos-project/aos/shared/expr"
	"github.com/aos-project/aos/shared/refs"
)

// typeCheck checks every expression that reads inputs against the inputs' JSON Schemas
// (expr.Typed): `${inputs.replicas + "x"}` fails here, with CEL's message, rather than when
// a node is applied. A place already reported (an unknown input, a field its schema lacks)
// is not reported again.
func (t *Template) typeCheck(c *collector) {
	reported := map[Pos]bool{}
	for _, p := range c.probs {
		reported[Pos{p.Line, p.Col}] = true
	}
	var typed *expr.Typed
	for _, site := range t.exprs {
		if reported[site.pos] || !readsInputs(site.x) {
			continue
		}
		if typed == nil {
			schemas := make(map[string]map[string]any, len(t.Inputs))
			for _, in := range t.Inputs {
				schemas[in.Name] = in.Schema
			}
			var err error
			if typed, err = expr.TypeInputs(schemas); err != nil {
				c.add(Pos{1, 1}, "", "inputs: %v", err)
				return
			}
		}
		if err := typed.Check(site.x.Value); err != nil {
			reported[site.pos] = true
			c.add(site.pos, site.node, "%s: ${%s}: %s", site.field, site.x.Value.Source, celMessage(err))
		}
	}
}

func readsInputs(x *refs.Expression) bool {
	for _, r := range x.Refs {
		if r.Root == refs.RootInputs {
			return true
		}
	}
	return false
}
