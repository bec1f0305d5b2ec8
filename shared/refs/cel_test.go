package refs

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// Expressions inside ${…}: a whole-value expression keeps its type, one inside text is
// interpolated; what each reads becomes references (edges, trimming, sensitivity).
func TestExpressions(t *testing.T) {
	values := map[string]any{
		"inputs.env": "prod", "inputs.token": "abc", "inputs.labels": map[string]any{"team": "shop"},
		"inputs.tenants": []any{"a", "b", "c"}, "stack.name": "shop", "stack.namespace": "shop-ns", "stack.index": int64(0), "index": int64(2),
		"nodes.db-svc":              map[string]any{"spec": map[string]any{"ports": []any{map[string]any{"port": int64(5432)}}}},
		"nodes.db-svc.outputs.host": "db.shop",
	}
	lookup := func(r *Ref) (any, error) {
		key := string(r.Root)
		if r.Name != "" {
			key += "." + r.Name
		}
		if r.Output != "" {
			key += ".outputs." + r.Output
		}
		v, ok := values[key]
		if !ok {
			return nil, fmt.Errorf("%s: not set", key)
		}
		return v, nil
	}
	for _, c := range []struct {
		in   string
		want any
		refs string
	}{
		{`${inputs.env == "prod" ? 3 : 1}`, int64(3), "[${inputs.env}]"},
		{`replicas-${inputs.env == "prod" ? 3 : 1}`, "replicas-3", "[${inputs.env}]"},
		{`${nodes.db-svc.spec.ports[0].port + 1}`, int64(5433), "[${nodes.db-svc.spec.ports[0].port}]"},
		{`${base64.encode(bytes(inputs.token))}`, "YWJj", "[${inputs.token}]"},
		{`${inputs.labels.?team.orValue("core")}`, "shop", "[${inputs.labels.team}]"},
		{`${inputs.tenants.map(t, t + "-" + stack.name)}`, []any{"a-shop", "b-shop", "c-shop"}, "[${inputs.tenants} ${stack.name}]"},
		{`${{"a": 1, "b": {"c": index}}}`, map[string]any{"a": int64(1), "b": map[string]any{"c": int64(2)}}, "[${index}]"},
		{`host=${nodes.db-svc.outputs.host.upperAscii()}`, "host=DB.SHOP", "[${nodes.db-svc.outputs.host}]"},
		{`${"}" + 'x{'}`, "}x{", "[]"},
		{`${inputs.env}-${size(inputs.tenants)}`, "prod-3", "[${inputs.env} ${inputs.tenants}]"},
	} {
		e, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%s): %v", c.in, err)
			continue
		}
		if got := fmt.Sprint(e.Refs()); got != c.refs {
			t.Errorf("%s: refs %s, want %s", c.in, got, c.refs)
		}
		got, err := Render(e, lookup)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %#v, %v; want %#v", c.in, got, err, c.want)
		}
	}
}

func TestExpressionErrors(t *testing.T) {
	for in, want := range map[string]string{
		`${inputs.env == }`:                      "expression ${inputs.env == }: 1:15: Syntax error",
		`${inputs.env.startsWith(1)}`:            "no matching overload",
		`${nodes[inputs.env].metadata}`:          "must name the nodes it reads",
		`${stack.owner + "x"}`:                   `unknown stack field "owner"`,
		`${input.x}`:                             `reference ${input.x}: unknown root "input"`,
		`${inputs.x ? "a" : "b"`:                 "is not closed",
		"${" + strings.Repeat("1+", 2100) + "1}": "limit is 1024",
	} {
		_, err := Parse(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%.40s): %v, want %q", in, err, want)
		}
	}
}
