package bench

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aos-project/aos/shared/engine"
)

func TestShapes(t *testing.T) {
	delayOf := func(n Node) time.Duration { return n.Delay }
	sk := Skewed()
	if cp, hops := sk.CriticalPath(delayOf); cp != 7*time.Second || hops != 3 {
		t.Fatalf("skewed critical path %v over %d nodes; want 7s over 3", cp, hops)
	}
	if w := sk.WaveTime(delayOf); w != 18*time.Second {
		t.Fatalf("skewed wave time %v; want 18s", w)
	}
	if cp, _ := Chain(10, 2*time.Second).CriticalPath(delayOf); cp != 20*time.Second {
		t.Fatalf("chain critical path %v", cp)
	}
	if l := FanOut(50, time.Second).Levels(); len(l) != 2 || len(l[1]) != 50 {
		t.Fatalf("fan-out levels %v", l)
	}
	for _, s := range []Shape{Chain(10, 2*time.Second), FanOut(50, time.Second), Lattice(5, 10), sk, Random(200), Layers(20, 50, time.Second)} {
		resp, err := engine.Validate(t.Context(), engine.TemplateRequest{Template: s.Template()})
		if err != nil || !resp.Valid {
			t.Fatalf("%s: template invalid: %v %v", s.Name, err, resp.Problems)
		}
		if resp.Nodes != len(s.Nodes) {
			t.Fatalf("%s: %d nodes in the template, %d in the shape", s.Name, resp.Nodes, len(s.Nodes))
		}
		docs := 0
		for _, m := range s.LevelManifests() {
			docs += strings.Count(m, "kind: Deployment")
		}
		if docs != len(s.Nodes) {
			t.Fatalf("%s: %d Deployments in the level manifests", s.Name, docs)
		}
		cp, hops := s.CriticalPath(delayOf)
		t.Logf("%-14s %4d nodes, %2d levels, critical path %v over %d nodes, waves %v", s.Name, len(s.Nodes), len(s.Levels()), cp, hops, s.WaveTime(delayOf))
	}
}

// Each shape is one kro ResourceGraphDefinition whose references carry exactly the shape's
// edges, with resource ids kro accepts.
func TestKroDefinition(t *testing.T) {
	s := Lattice(3, 4)
	def, err := s.KroDefinition()
	if err != nil {
		t.Fatal(err)
	}
	spec := def["spec"].(map[string]any)
	if kind := spec["schema"].(map[string]any)["kind"]; kind != "BenchLattice3x4" {
		t.Fatalf("kind %v", kind)
	}
	id := regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)
	ref := regexp.MustCompile(`^\$\{([a-zA-Z0-9]+)\.metadata\.name\}$`)
	edges := 0
	for i, r := range spec["resources"].([]any) {
		res := r.(map[string]any)
		n := s.Nodes[i]
		if !id.MatchString(res["id"].(string)) || res["id"] != kroID(n.ID) {
			t.Fatalf("resource id %v for node %s", res["id"], n.ID)
		}
		ann, _ := res["template"].(map[string]any)["metadata"].(map[string]any)["annotations"].(map[string]any)
		var deps []string
		for _, v := range ann {
			m := ref.FindStringSubmatch(v.(string))
			if m == nil {
				t.Fatalf("%s: annotation %q is not a reference", n.ID, v)
			}
			deps = append(deps, m[1])
		}
		var want []string
		for _, d := range n.Deps {
			want = append(want, kroID(d))
		}
		slices.Sort(deps)
		slices.Sort(want)
		if !slices.Equal(deps, want) {
			t.Fatalf("%s: references %v, dependencies %v", n.ID, deps, want)
		}
		edges += len(deps)
	}
	if edges == 0 {
		t.Fatal("a lattice has edges")
	}
}

// The gap is measured from the last of a node's dependencies to become READY, not the first,
// and nodes without dependencies have none.
func TestObservedAndGap(t *testing.T) {
	s := Shape{Nodes: []Node{{ID: "a"}, {ID: "b"}, {ID: "c", Deps: []string{"a", "b"}}, {ID: "d", Deps: []string{"c"}}}}
	t0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	evs := []Event{
		{"a", "WAITING", at(0)}, {"b", "WAITING", at(0)},
		{"a", "READY", at(1000)}, {"b", "READY", at(2000)},
		{"c", "WAITING", at(2300)}, {"c", "READY", at(3300)},
		{"d", "WAITING", at(3400)}, {"d", "WAITING", at(9000)}, {"d", "READY", at(4400)},
	}
	if cp := observed(s, evs); cp != 4*time.Second {
		t.Errorf("observed path %v, want 4s (b, c, d: 2 s + 1 s + 1 s)", cp)
	}
	nodes := []NodeTimes{
		{"a", at(0), at(1000)}, {"b", at(0), at(2000)},
		{"c", at(2300), at(3300)}, {"d", at(3400), at(4400)},
	}
	// c: 300 ms after b, d: 100 ms after c; the median of two is the upper one.
	if g, p90 := gap(s, nodes); g != 300*time.Millisecond || p90 != 300*time.Millisecond {
		t.Errorf("gap %v, p90 %v, want 300ms each", g, p90)
	}
}
