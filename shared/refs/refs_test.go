package refs

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	cases := []struct {
		in    string
		whole bool
		refs  []string // Ref.String() of each reference
		lit   string   // the literal parts joined
	}{
		{"plain", false, nil, "plain"},
		{"", false, nil, ""},
		{"${inputs.replicas}", true, []string{"${inputs.replicas}"}, ""},
		{"${nodes.db-svc.spec.ports[0].nodePort}", true, []string{"${nodes.db-svc.spec.ports[0].nodePort}"}, ""},
		{`${nodes.db.metadata.labels["app.kubernetes.io/name"]}`, true, []string{`${nodes.db.metadata.labels["app.kubernetes.io/name"]}`}, ""},
		{"${nodes.db.outputs.host}", true, []string{"${nodes.db.outputs.host}"}, ""},
		{"http://${nodes.api.metadata.name}:${inputs.port}/x", false, []string{"${nodes.api.metadata.name}", "${inputs.port}"}, "http://:/x"},
		{"${stack.name}-${index}", false, []string{"${stack.name}", "${index}"}, "-"},
		{"cost $${HOME} and $$", false, nil, "cost ${HOME} and $$"},
		{"$${inputs.x}", false, nil, "${inputs.x}"},
		{"${inputs.cfg.servers[2]}", true, []string{"${inputs.cfg.servers[2]}"}, ""},
		{`${nodes.a.data["a]b"]}`, true, []string{`${nodes.a.data["a]b"]}`}, ""},
	}
	for _, c := range cases {
		e, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if e.Whole() != c.whole {
			t.Errorf("Parse(%q).Whole() = %v, want %v", c.in, e.Whole(), c.whole)
		}
		var got []string
		var lit strings.Builder
		for _, p := range e.Parts {
			if p.Ref != nil {
				got = append(got, p.Ref.String())
			} else {
				lit.WriteString(p.Text)
			}
		}
		if !reflect.DeepEqual(got, c.refs) || lit.String() != c.lit {
			t.Errorf("Parse(%q) = refs %q lit %q; want %q %q", c.in, got, lit.String(), c.refs, c.lit)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	cases := []struct{ in, msg string }{
		{"${inputs.x", "is not closed"},
		{"${}", "empty reference"},
		{"${foo.bar}", `unknown root "foo"`},
		{"${inputs}", "inputs needs a name"},
		{"${inputs.}", "inputs needs a name"},
		{"${stack.owner}", `unknown stack field "owner"`},
		{"${stack.name.x}", "stack.name has no fields"},
		{"${nodes.db}", "needs a path into the object"},
		{"${nodes.db.outputs}", "expected ${nodes.db.outputs.NAME}"},
		{"${nodes.db.outputs.a.b}", "expected ${nodes.db.outputs.NAME}"},
		{"${nodes.db.spec[x]}", "undeclared reference to 'x'"}, // an expression now
		{"${nodes.db.spec[-1 + }", "Syntax error"},
		{"${nodes.db.spec[01]}", "bad index [01]"},
		{"${nodes.db.spec[0}", "missing ']'"},
		{"${nodes.db.spec..x}", "expected a field name after '.'"},
		{"${nodes.db.spec x}", "unexpected ' ' in path"},
		{"${inputs.${inputs.a}}", "nested references are not supported"},
		{"${nodes.a" + strings.Repeat(".x", MaxPathSegments+1) + "}", "more than 64 segments"},
		{"${inputs." + strings.Repeat("x", MaxRefLength) + "}", "characters long"},
		{strings.Repeat("${index}", MaxRefsPerValue+1), "more than 256 references"},
	}
	for _, c := range cases {
		_, err := Parse(c.in)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("Parse(%.60q): want error containing %q, got %v", c.in, c.msg, err)
		}
	}
}

func TestRenderKeepsTypeOfWholeReference(t *testing.T) {
	lookup := func(r *Ref) (any, error) {
		switch r.String() {
		case "${inputs.replicas}":
			return 3, nil
		case "${nodes.svc.spec.ports[0].nodePort}":
			return int64(30080), nil
		case "${inputs.labels}":
			return map[string]any{"a": "b"}, nil
		}
		t.Fatalf("unexpected lookup %s", r)
		return nil, nil
	}
	for in, want := range map[string]any{
		"${inputs.replicas}":                       3,
		"port-${nodes.svc.spec.ports[0].nodePort}": "port-30080",
		"${inputs.labels}":                         map[string]any{"a": "b"},
		"n=${inputs.replicas}, $${literal}":        "n=3, ${literal}",
	} {
		e, err := Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Render(e, lookup)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Render(%q) = %#v, %v; want %#v", in, got, err, want)
		}
	}
	e, _ := Parse("x-${inputs.labels}")
	if _, err := Render(e, lookup); err == nil || !strings.Contains(err.Error(), "cannot be interpolated") {
		t.Errorf("interpolating an object: want an error, got %v", err)
	}
}

func TestGet(t *testing.T) {
	obj := map[string]any{"spec": map[string]any{"ports": []any{map[string]any{"nodePort": int64(31000)}}}}
	p, err := ParsePath(".spec.ports[0].nodePort")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := Get(obj, p); err != nil || v != int64(31000) {
		t.Fatalf("Get = %v, %v", v, err)
	}
	for path, msg := range map[string]string{
		".spec.ports[1]":            "index out of range (length 1)",
		".spec.missing":             ".spec.missing: no such field",
		".spec[0]":                  "is an object, not a list",
		".spec.ports.x":             "is a list, not an object",
		".spec.ports[0].nodePort.x": "is not an object or list",
	} {
		p, err := ParsePath(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Get(obj, p); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("Get(%s): want %q, got %v", path, msg, err)
		}
	}
}

// FuzzParse checks that no input crashes the parser and that every reference it accepts
// prints back to a string that parses to the same reference.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"${inputs.a}", "x${nodes.a.b[0][\"k\"]}y", "$${", "${index}", "${stack.name}", "${nodes.n.outputs.o}", "${", "}", "${nodes.a.b[", "${inputs.${x}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			return
		}
		for _, r := range e.Refs() {
			again, err := Parse(r.String())
			if err != nil {
				t.Fatalf("%q: reference %s does not parse back: %v", s, r, err)
			}
			if !again.Whole() || again.Parts[0].Ref.String() != r.String() {
				t.Fatalf("%q: reference %s round-trips to %v", s, r, again.Parts)
			}
		}
	})
}
