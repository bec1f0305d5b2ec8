package template

import (
	"strings"
	"testing"
)

// An update's inputs: what is passed, then the stack's previous values, then the defaults.
func TestPreviousValuesComeBeforeDefaults(t *testing.T) {
	src := []byte(`format: aos/v1
name: p
inputs:
  replicas: {type: integer, default: 2, maximum: 5}
  greeting: {type: string, default: hello}
  token: {type: string, secret: true}
nodes:
  a:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {g: "${inputs.greeting}", r: "${inputs.replicas}", t: "${inputs.token}"}}
`)
	prev := map[string]any{"replicas": 3.0, "greeting": "bonjour", "token": "kept-secret", "dropped": "x"}
	r, probs := Validate("p.yaml", src, Params{Raw: map[string]string{"greeting": "hi"}, Previous: prev})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if r.Inputs["greeting"] != "hi" || r.Inputs["replicas"] != 3.0 || r.Inputs["token"] != "kept-secret" {
		t.Fatalf("inputs %v", r.Inputs)
	}
	if _, ok := r.Inputs["dropped"]; ok {
		t.Fatal("an input the template no longer declares was kept")
	}
	r, probs = Validate("p.yaml", src, Params{Values: map[string]any{"replicas": 4}, Previous: prev})
	if len(probs) > 0 || r.Inputs["replicas"] != 4 {
		t.Fatalf("a params value wins over the previous one: %v %v", r.Inputs, probs)
	}
	// A kept value the new schema refuses is a problem that says where it came from.
	_, probs = Validate("p.yaml", src, Params{Previous: map[string]any{"replicas": 9.0, "token": "t"}})
	if len(probs) != 1 || !strings.Contains(probs[0].Message, `input "replicas": the value it kept from the last revision no longer fits its schema`) ||
		!strings.Contains(probs[0].Message, "--reset-inputs") {
		t.Fatalf("problems %v", probs)
	}
}
