package expr

import (
	"reflect"
	"testing"
)

func TestNormalizeLiftsPlainLiterals(t *testing.T) {
	for src, want := range map[string]string{
		`inputs.image + '-7'`:                        `inputs.image + _aos_s0`,
		`nodes["db-svc"].spec.ports[0].port + 1`:     `nodes[_aos_s0].spec.ports[_aos_i0].port + _aos_i1`,
		`x == "it's" ? 10 : 20`:                      `x == _aos_s0 ? _aos_i0 : _aos_i1`,
		`a1 + 1.5 + 2u + 0x1F + 3`:                   `a1 + 1.5 + 2u + 0x1F + _aos_i0`,
		`inputs.labels.?team.orValue("core").size()`: `inputs.labels.?team.orValue(_aos_s0).size()`,
		`r'raw' + 'x'`:                               ``,
		`'a\nb'`:                                     ``,
		`'''triple'''`:                               ``,
		`inputs.a.b`:                                 ``,
		`99999999999999999999 + 1`:                   ``,
	} {
		got, _, ok := normalize(src)
		if got != want || ok != (want != "") {
			t.Errorf("normalize(%s) = %q, %v; want %q", src, got, ok, want)
		}
	}
}

// A lifted expression means what it says: the same value as the expression compiled as
// written, the same accesses, and copies that differ in literals share one shape.
func TestShapesEvaluateAsWritten(t *testing.T) {
	vars := map[string]any{
		"inputs": map[string]any{"image": "Nginx", "n": int64(3)},
		"nodes":  map[string]any{"db-svc": map[string]any{"spec": map[string]any{"ports": []any{map[string]any{"port": int64(5432)}}}}},
	}
	for src, want := range map[string]any{
		`inputs.image.lowerAscii() + '-17'`:                   "nginx-17",
		`inputs.image.lowerAscii() + '-18'`:                   "nginx-18",
		`nodes["db-svc"].spec.ports[0].port + 1`:              int64(5433),
		`inputs.n > 2 ? "big" : 'small'`:                      "big",
		`{"a": [1, 2][1], 'b': inputs.image.substring(0, 1)}`: map[string]any{"a": int64(2), "b": "N"},
		`nodes[?"db-svc"].spec.ports[0].port.orValue(0)`:      int64(5432),
	} {
		v, err := CompileValue(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if v.lits == nil {
			t.Errorf("%s: nothing lifted", src)
		}
		got, err := v.Eval(vars)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, %v; want %#v", src, got, err, want)
		}
	}
	a, _ := CompileValue(`inputs.image.lowerAscii() + '-17'`)
	b, _ := CompileValue(`inputs.image.lowerAscii() + '-18'`)
	if a.sh != b.sh {
		t.Fatal("expressions that differ in a literal do not share their shape")
	}
	if _, err := CompileValue(`inputs.image + 'x' +`); err == nil || !reflect.DeepEqual(err.(*Error).Msg[:40], "ERROR: <input>:1:21: Syntax error: misma") {
		t.Fatalf("a syntax error points into the expression as written: %v", err)
	}
}
