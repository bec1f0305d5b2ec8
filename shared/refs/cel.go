package refs

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/aos-project/aos/shared/expr"
)

// An expression is a `${…}` that is not a plain reference: CEL (shared/expr) over inputs,
// nodes, stack and index — `${inputs.env == "prod" ? 3 : 1}`,
// `${nodes.db-svc.spec.ports[0].port + 1}`, `${base64.encode(bytes(inputs.token))}`. The
// references it makes (what it reads, as far as a constant path goes) are its Refs, so
// edges, live-value trimming and sensitivity treat it as they treat plain references.
type Expression struct {
	Value *expr.Value
	Refs  []*Ref
}

// nodeIDs finds `nodes.ID` where ID holds a '-', which CEL would read as a minus.
var nodeIDs = regexp.MustCompile(`\bnodes\.(\??)([a-z0-9]+(?:-[a-z0-9]+)+)`)

// celSource is an expression as CEL reads it: `nodes.db-svc.x` is `nodes["db-svc"].x`, as a
// plain reference reads it, and `nodes.?db-svc` is `nodes[?"db-svc"]`. (Write `nodes.a - b`
// with spaces for a subtraction.)
func celSource(body string) string {
	return nodeIDs.ReplaceAllString(body, `nodes[$1"$2"]`)
}

// plainLooking reports whether a body is written as a plain reference would be: then a
// reference's own error says more than CEL's.
var plainLooking = regexp.MustCompile(`^[A-Za-z0-9_.\- ]*(\[("[^"]*"|[0-9]+)\][A-Za-z0-9_.\- ]*)*$`)

func parseExpression(body string) (*Expression, error) {
	v, err := expr.CompileValue(celSource(body))
	if err != nil {
		return nil, fmt.Errorf("%s", oneLine(err))
	}
	x := &Expression{Value: v}
	for _, a := range v.Accesses {
		r, err := refOf(a)
		if err != nil {
			return nil, err
		}
		x.Refs = append(x.Refs, r)
	}
	return x, nil
}

func oneLine(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return strings.TrimPrefix(strings.ReplaceAll(msg, " (in container '')", ""), "ERROR: <input>:")
}

func refOf(a expr.Access) (*Ref, error) {
	r := &Ref{Root: Root(a.Root), Name: a.Name, Optional: a.Optional}
	for _, s := range a.Path {
		r.Path = append(r.Path, Segment{Field: s.Field, Index: int(s.Index), IsIndex: s.IsIndex})
	}
	switch r.Root {
	case RootNodes:
		if r.Name == "" {
			return nil, fmt.Errorf("an expression must name the nodes it reads: nodes.ID or nodes[\"ID\"], not a computed id")
		}
		if len(r.Path) == 2 && !r.Path[0].IsIndex && r.Path[0].Field == "outputs" && !r.Path[1].IsIndex {
			r.Output, r.Path = r.Path[1].Field, nil
		}
	case RootEach:
		if r.Name != "" && r.Name != "value" && r.Name != "index" {
			return nil, fmt.Errorf("unknown each field %q; expected each.value or each.index", r.Name)
		}
	case RootStack:
		if r.Name != "" && r.Name != "name" && r.Name != "namespace" && r.Name != "index" {
			return nil, fmt.Errorf("unknown stack field %q; expected stack.name, stack.namespace or stack.index", r.Name)
		}
	}
	return r, nil
}

// ErrAbsent is what a Lookup wraps for a node that is not there to read (its when left it
// out): an expression sees no such key under nodes, so `nodes.?db` is none and orValue
// supplies a value, while a plain read fails.
var ErrAbsent = errors.New("its when was false, so it was left out")

// Eval evaluates an expression, with the values of what it reads looked up.
func (x *Expression) Eval(lookup Lookup) (any, error) { return x.eval(lookup) }

func (x *Expression) eval(lookup Lookup) (any, error) {
	vars := map[string]any{"inputs": map[string]any{}, "nodes": map[string]any{}, "stack": map[string]any{}, "index": int64(-1), "each": map[string]any{}}
	inputs, nodes, stack := vars["inputs"].(map[string]any), vars["nodes"].(map[string]any), vars["stack"].(map[string]any)
	absent := map[string]error{}
	var firstAbsent error
	for _, r := range x.Refs {
		switch r.Root {
		case RootInputs:
			if r.Name == "" {
				return nil, fmt.Errorf("${%s}: an expression must name the inputs it reads", x.Value.Source)
			}
			v, err := lookup(&Ref{Root: RootInputs, Name: r.Name})
			if err != nil {
				return nil, err
			}
			inputs[r.Name] = v
		case RootNodes:
			if absent[r.Name] != nil {
				continue
			}
			if _, done := nodes[r.Name]; !done {
				live, err := lookup(&Ref{Root: RootNodes, Name: r.Name})
				if errors.Is(err, ErrAbsent) {
					absent[r.Name] = err
					firstAbsent = cmp.Or(firstAbsent, err)
					continue
				}
				if err != nil {
					return nil, err
				}
				m, _ := live.(map[string]any)
				nodes[r.Name] = shallow(m)
			}
			if r.Output != "" {
				v, err := lookup(r)
				if err != nil {
					return nil, err
				}
				n := nodes[r.Name].(map[string]any)
				outs, _ := n["outputs"].(map[string]any)
				if outs == nil {
					outs = map[string]any{}
					n["outputs"] = outs
				}
				outs[r.Output] = v
			}
		case RootStack:
			for _, f := range []string{"name", "namespace", "index"} {
				if r.Name == "" || r.Name == f {
					v, err := lookup(&Ref{Root: RootStack, Name: f})
					if err != nil {
						return nil, err
					}
					stack[f] = v
				}
			}
		case RootIndex:
			v, err := lookup(r)
			if err != nil {
				return nil, err
			}
			vars["index"] = v
		case RootEach:
			each := vars["each"].(map[string]any)
			for _, f := range []string{"value", "index"} {
				if r.Name == "" || r.Name == f {
					v, err := lookup(&Ref{Root: RootEach, Name: f})
					if err != nil {
						return nil, err
					}
					each[f] = v
				}
			}
		}
	}
	out, err := x.Value.Eval(vars)
	if err != nil {
		if firstAbsent != nil {
			// Say why the key is missing, and how to read a node that may be left out.
			return nil, fmt.Errorf("${%s}: %v: %w (read it as nodes.?ID….orValue(…) where it may be left out)", x.Value.Source, err, firstAbsent)
		}
		return nil, fmt.Errorf("${%s}: %v", x.Value.Source, err)
	}
	return out, nil
}

func shallow(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}
