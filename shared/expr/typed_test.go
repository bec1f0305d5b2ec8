package expr

import (
	"strings"
	"testing"
)

func TestTypedInputs(t *testing.T) {
	typed, err := TypeInputs(map[string]map[string]any{
		"replicas": {"type": "integer"},
		"env":      {"type": "string", "enum": []any{"dev", "prod"}},
		"debug":    {"type": "boolean"},
		"ratio":    {"type": "number"},
		"tenants":  {"type": "array", "items": map[string]any{"type": "string"}},
		"regions": {"type": "array", "items": map[string]any{"type": "object", "additionalProperties": false,
			"properties": map[string]any{"name": map[string]any{"type": "string"}, "size": map[string]any{"type": "integer"}}}},
		"labels": {"type": "object"},
		"limits": {"type": "object", "additionalProperties": map[string]any{"type": "integer"}},
		"any":    {},
	})
	if err != nil {
		t.Fatal(err)
	}
	for src, want := range map[string]string{
		`inputs.env == "prod" ? inputs.replicas * 2 : 1`:      "",
		`inputs.tenants.map(t, t.upperAscii()).join(",")`:     "",
		`inputs.regions.filter(r, r.size > 2).map(r, r.name)`: "",
		`inputs.labels.?team.orValue("core")`:                 "",
		`inputs.limits.cpu + 1`:                               "",
		`inputs.ratio * 1.5 + inputs.any.x`:                   "",
		`inputs.?replicas.orValue(1) + 1`:                     "",
		`nodes.db.spec.x + inputs.replicas`:                   "",
		`inputs.replicas + "x"`:                               "found no matching overload for '_+_' applied to '(int, string)'",
		`inputs.debug && inputs.env.size() > inputs.tenants`:  "found no matching overload for '_>_' applied to '(int, list(string))'",
		`inputs.tenants[0] + 1`:                               "found no matching overload for '_+_' applied to '(string, int)'",
		`inputs.regions[0].nmae`:                              "undefined field 'nmae'",
		`inputs.regions[0].size.startsWith("x")`:              "found no matching overload for 'startsWith' applied to 'int.(string)'",
		`inputs.limits.cpu.lowerAscii()`:                      "found no matching overload for 'lowerAscii' applied to 'int.()'",
	} {
		v, err := CompileValue(src)
		if err != nil {
			t.Errorf("%s: does not compile untyped: %v", src, err)
			continue
		}
		err = typed.Check(v)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v; want %q", src, err, want)
		}
	}
}
