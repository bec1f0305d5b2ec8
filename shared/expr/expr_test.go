package expr

import (
	"strings"
	"testing"
)

func deployment(ready, unavailable int64) map[string]any {
	st := map[string]any{"readyReplicas": ready, "conditions": []any{map[string]any{"type": "Available", "status": "True"}}}
	if unavailable > 0 {
		st["unavailableReplicas"] = unavailable
	}
	return map[string]any{"metadata": map[string]any{"name": "web", "annotations": map[string]any{"fail": "yes"}}, "status": st}
}

func TestRules(t *testing.T) {
	for _, c := range []struct {
		src  string
		self map[string]any
		want bool
	}{
		{"self.status.readyReplicas >= 2", deployment(2, 0), true},
		{"self.status.readyReplicas >= 2.5", deployment(2, 0), false}, // int against double
		{"self.status.?unavailableReplicas.orValue(0) > 0", deployment(2, 0), false},
		{"self.status.?unavailableReplicas.orValue(0) > 0", deployment(1, 1), true},
		{"self.status.conditions.exists(c, c.type == 'Available' && c.status == 'True')", deployment(1, 0), true},
		{"has(self.status.unavailableReplicas)", deployment(1, 0), false},
		{"self.metadata.name.startsWith('we') && self.metadata.name.upperAscii() == 'WEB'", deployment(0, 0), true},
		{"base64.encode(bytes(self.metadata.name)) == 'd2Vi'", deployment(0, 0), true},
		{"self.metadata.annotations['fail'] == 'yes'", deployment(0, 0), true},
		{"self.metadata.name.matches('^w.b$')", deployment(0, 0), true},
		{"math.greatest(self.status.readyReplicas, 3) == 3", deployment(1, 0), true},
		{"sets.contains([1, 2, 3], [self.status.readyReplicas])", deployment(2, 0), true},
	} {
		r, err := CompileRule(c.src)
		if err != nil {
			t.Errorf("%s: %v", c.src, err)
			continue
		}
		if got, err := r.Eval(c.self); err != nil || got != c.want {
			t.Errorf("%s = %v, %v; want %v", c.src, got, err, c.want)
		}
	}
}

func TestRulesRefusedOrStopped(t *testing.T) {
	for src, says := range map[string]string{
		"self.status.readyReplicas +":    "Syntax error",
		"self.metadata.name":             "", // dyn: checked when evaluated
		"1 + 2":                          "of type int; it must be true or false",
		"unknown.field == 1":             "undeclared reference to 'unknown'",
		"self.x.startsWith(1)":           "no matching overload",
		strings.Repeat("a", MaxLength+1): "the limit is 4096",
	} {
		_, err := CompileRule(src)
		if says == "" {
			if err != nil {
				t.Errorf("%q refused: %v", src, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%.60q: %.200v, want %q", src, err, says)
		}
	}
	r, _ := CompileRule("self.metadata.name")
	if _, err := r.Eval(deployment(0, 0)); err == nil || !strings.Contains(err.Error(), "not true or false") {
		t.Errorf("a string result: %v", err)
	}
	// Not there yet is an error, which readiness takes as "not yet".
	r, _ = CompileRule("self.status.observedGeneration == 1")
	if _, err := r.Eval(deployment(0, 0)); err == nil || !strings.Contains(err.Error(), "no such key") {
		t.Errorf("a missing field: %v", err)
	}
	// A runaway: three nested loops over 300 items is 27 million steps.
	items := make([]any, 300)
	for i := range items {
		items[i] = int64(i)
	}
	r, err := CompileRule("self.items.all(a, self.items.all(b, self.items.all(c, a + b + c >= 0)))")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Eval(map[string]any{"items": items}); err == nil || !strings.Contains(err.Error(), "cost limit") {
		t.Fatalf("a runaway expression: %v", err)
	}
}
