package graph

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func build(t *testing.T, nodes string, edges ...string) *Graph {
	t.Helper()
	g := New(0)
	for _, n := range strings.Fields(nodes) {
		g.Add(n)
	}
	for _, e := range edges {
		a, b, _ := strings.Cut(e, "->")
		if err := g.Edge(a, b); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

func TestCycleNamesThePath(t *testing.T) {
	g := build(t, "a b c d", "a->b", "b->c", "c->a", "c->d")
	got := g.Cycle()
	if want := []string{"a", "b", "c", "a"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Cycle() = %v, want %v", got, want)
	}
	_, err := g.Order()
	if err == nil || err.Error() != "dependency cycle: a -> b -> c -> a" {
		t.Fatalf("Order() error = %v", err)
	}
	if c := build(t, "x", "x->x").Cycle(); !reflect.DeepEqual(c, []string{"x", "x"}) {
		t.Fatalf("self loop: %v", c)
	}
	if c := build(t, "a b c", "a->b", "a->c", "b->c").Cycle(); c != nil {
		t.Fatalf("acyclic graph reported cycle %v", c)
	}
}

func TestOrdersAndLevels(t *testing.T) {
	g := build(t, "web db cache migrate", "db->migrate", "migrate->web", "cache->web")
	levels, err := g.Levels()
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]string{{"db", "cache"}, {"migrate"}, {"web"}}; !reflect.DeepEqual(levels, want) {
		t.Fatalf("Levels = %v, want %v", levels, want)
	}
	rev, _ := g.ReverseOrder()
	if want := []string{"web", "migrate", "cache", "db"}; !reflect.DeepEqual(rev, want) {
		t.Fatalf("ReverseOrder = %v, want %v", rev, want)
	}
	if d := g.DependsOn("web"); !reflect.DeepEqual(d, []string{"migrate", "cache"}) {
		t.Fatalf("DependsOn(web) = %v", d)
	}
}

func TestCriticalPath(t *testing.T) {
	// Three chains; the slow node sits in the middle one.
	g := build(t, "a1 a2 b1 b2 c1 c2 end", "a1->a2", "b1->b2", "c1->c2", "a2->end", "b2->end", "c2->end")
	w := map[string]time.Duration{"b2": 6 * time.Second}
	total, path, err := g.CriticalPath(func(id string) time.Duration {
		if d, ok := w[id]; ok {
			return d
		}
		return 500 * time.Millisecond
	})
	if err != nil {
		t.Fatal(err)
	}
	if total != 7*time.Second || !reflect.DeepEqual(path, []string{"b1", "b2", "end"}) {
		t.Fatalf("CriticalPath = %v %v", total, path)
	}
}

func TestTrackerReleasesNodesAsTheirOwnDependenciesFinish(t *testing.T) {
	g := build(t, "slow fast1 fast2 after-slow after-fast", "slow->after-slow", "fast1->fast2", "fast2->after-fast")
	tr := NewTracker(g)
	if s := tr.Startable(); !reflect.DeepEqual(s, []string{"slow", "fast1"}) {
		t.Fatalf("Startable = %v", s)
	}
	steps := []struct {
		done string
		want []string
	}{
		{"fast1", []string{"fast2"}},
		{"fast2", []string{"after-fast"}}, // does not wait for slow: no waves
		{"fast2", nil},                    // a repeated completion changes nothing
		{"slow", []string{"after-slow"}},
		{"after-fast", nil},
		{"after-slow", nil},
	}
	for _, s := range steps {
		got, err := tr.Done(s.done)
		if err != nil || !reflect.DeepEqual(got, s.want) {
			t.Fatalf("Done(%s) = %v, %v; want %v", s.done, got, err, s.want)
		}
	}
	if tr.Remaining() != 0 {
		t.Fatalf("Remaining = %d", tr.Remaining())
	}
	if _, err := tr.Done("nope"); err == nil {
		t.Fatal("Done(unknown) succeeded")
	}
}

func TestEdgeToUnknownNode(t *testing.T) {
	g := build(t, "a")
	if err := g.Edge("a", "b"); err == nil || !strings.Contains(err.Error(), `unknown node "b"`) {
		t.Fatalf("Edge to unknown: %v", err)
	}
}

func TestLongChainDoesNotOverflow(t *testing.T) {
	g := New(100000)
	prev := ""
	for i := range 100000 {
		id := fmt.Sprint("n", i)
		g.Add(id)
		if prev != "" {
			_ = g.Edge(prev, id)
		}
		prev = id
	}
	if c := g.Cycle(); c != nil {
		t.Fatal("chain has no cycle")
	}
	_ = g.Edge(prev, "n0")
	if c := g.Cycle(); len(c) != 100001 {
		t.Fatalf("cycle through the whole chain: len %d", len(c))
	}
}

// Every group of nodes waiting on each other is reported once, self-loops included.
func TestCycles(t *testing.T) {
	g := build(t, "s a b c d e f", "s->s", "a->b", "b->a", "c->d", "d->e", "e->c", "e->f")
	want := [][]string{{"s", "s"}, {"a", "b", "a"}, {"c", "d", "e", "c"}}
	if got := g.Cycles(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Cycles() = %v, want %v", got, want)
	}
	if got := build(t, "a b c", "a->b", "a->c", "b->c").Cycles(); got != nil {
		t.Fatalf("acyclic: %v", got)
	}
	// Two cycles sharing a node are one group: one cycle of it is reported.
	if got := build(t, "a b c", "a->b", "b->a", "b->c", "c->b").Cycles(); len(got) != 1 {
		t.Fatalf("overlapping cycles: %v", got)
	}
	// A long chain closing on itself, without exhausting the stack.
	n := 100000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprint(i)
	}
	big := New(n)
	for _, id := range ids {
		big.Add(id)
	}
	for i := 1; i < n; i++ {
		_ = big.NewEdge(ids[i-1], ids[i])
	}
	_ = big.NewEdge(ids[n-1], ids[0])
	if got := big.Cycles(); len(got) != 1 || len(got[0]) != n+1 {
		t.Fatalf("long cycle: %d cycles", len(got))
	}
}
