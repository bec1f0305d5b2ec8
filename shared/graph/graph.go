// Package graph holds the dependency graph of a stack: nodes, edges "a must be READY before
// b starts", cycle detection that names the cycle, orders for creation and deletion, the
// critical path, and the scheduler's core query — which nodes became startable when one
// finished — answered in O(out-degree) per completion.
package graph

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Graph is a directed graph over string ids. Edges point from a dependency to its dependent.
type Graph struct {
	ids   []string
	index map[string]int
	out   [][]int32
	in    [][]int32
}

// New returns an empty graph with room for n nodes.
func New(n int) *Graph {
	return &Graph{ids: make([]string, 0, n), index: make(map[string]int, n), out: make([][]int32, 0, n), in: make([][]int32, 0, n)}
}

// Add adds a node (idempotent) and returns its number.
func (g *Graph) Add(id string) int {
	if i, ok := g.index[id]; ok {
		return i
	}
	i := len(g.ids)
	g.ids = append(g.ids, id)
	g.index[id] = i
	g.out = append(g.out, nil)
	g.in = append(g.in, nil)
	return i
}

// Edge records that dependent cannot start before dependency is READY. Both nodes must have
// been added; a repeated edge is recorded once.
func (g *Graph) Edge(dependency, dependent string) error {
	return g.edge(dependency, dependent, true)
}

// NewEdge is Edge for callers that know the edge is not there yet. It skips the repeat check,
// which scans the dependent's incoming edges: a node waiting on 10,000 copies would make
// building its edges quadratic.
func (g *Graph) NewEdge(dependency, dependent string) error {
	return g.edge(dependency, dependent, false)
}

func (g *Graph) edge(dependency, dependent string, check bool) error {
	a, ok := g.index[dependency]
	if !ok {
		return fmt.Errorf("edge %s -> %s: unknown node %q", dependency, dependent, dependency)
	}
	b, ok := g.index[dependent]
	if !ok {
		return fmt.Errorf("edge %s -> %s: unknown node %q", dependency, dependent, dependent)
	}
	if check && slices.Contains(g.in[b], int32(a)) {
		return nil
	}
	g.out[a] = append(g.out[a], int32(b))
	g.in[b] = append(g.in[b], int32(a))
	return nil
}

// Len is the number of nodes.
func (g *Graph) Len() int { return len(g.ids) }

// Edges is the number of edges.
func (g *Graph) Edges() int {
	n := 0
	for _, o := range g.out {
		n += len(o)
	}
	return n
}

// IDs lists the nodes in the order they were added.
func (g *Graph) IDs() []string { return slices.Clone(g.ids) }

// Has reports whether id is a node.
func (g *Graph) Has(id string) bool { _, ok := g.index[id]; return ok }

// DependsOn lists the direct dependencies of id, in the order they were added.
func (g *Graph) DependsOn(id string) []string {
	if i, ok := g.index[id]; ok {
		return g.names(g.in[i])
	}
	return nil
}

// Dependents lists the nodes that directly depend on id.
func (g *Graph) Dependents(id string) []string {
	if i, ok := g.index[id]; ok {
		return g.names(g.out[i])
	}
	return nil
}

func (g *Graph) names(is []int32) []string {
	out := make([]string, len(is))
	for k, i := range is {
		out[k] = g.ids[i]
	}
	return out
}

// Cycle returns one dependency cycle as a closed path (a, b, c, a), or nil if there is none.
func (g *Graph) Cycle() []string {
	const (
		white = iota
		grey
		black
	)
	color := make([]uint8, len(g.ids))
	parent := make([]int32, len(g.ids))
	// Iterative DFS: a 10,000-node chain must not exhaust the goroutine stack.
	type frame struct{ node, next int32 }
	for root := range g.ids {
		if color[root] != white {
			continue
		}
		stack := []frame{{int32(root), 0}}
		color[root] = grey
		parent[root] = -1
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			if int(top.next) == len(g.out[top.node]) {
				color[top.node] = black
				stack = stack[:len(stack)-1]
				continue
			}
			child := g.out[top.node][top.next]
			top.next++
			switch color[child] {
			case white:
				color[child] = grey
				parent[child] = top.node
				stack = append(stack, frame{child, 0})
			case grey:
				// child is on the current path: walk back from top.node to child.
				path := []string{g.ids[child]}
				for n := top.node; n != child; n = parent[n] {
					path = append(path, g.ids[n])
				}
				path = append(path, g.ids[child])
				slices.Reverse(path)
				return path
			}
		}
	}
	return nil
}

// Cycles returns one cycle for every group of nodes that wait on each other (each strongly
// connected component of more than one node, and each node with an edge to itself), as
// closed paths, in the order the groups' first nodes were added. Fixing one cycle then does
// not reveal the next: a template's author sees them all at once.
func (g *Graph) Cycles() [][]string {
	comp := g.components()
	members := map[int32][]int32{}
	var order []int32
	for v := range g.ids {
		c := comp[v]
		if members[c] == nil {
			order = append(order, c)
		}
		members[c] = append(members[c], int32(v))
	}
	var out [][]string
	for _, c := range order {
		ms := members[c]
		if len(ms) == 1 && !slices.Contains(g.out[ms[0]], ms[0]) {
			continue
		}
		// Inside a component every node has an edge to another member: walking such edges
		// from its first node must come back to a node already on the walk.
		at := map[int32]int{}
		var walk []int32
		for v := ms[0]; ; {
			if i, seen := at[v]; seen {
				path := make([]string, 0, len(walk)-i+1)
				for _, w := range walk[i:] {
					path = append(path, g.ids[w])
				}
				out = append(out, append(path, g.ids[v]))
				break
			}
			at[v] = len(walk)
			walk = append(walk, v)
			for _, w := range g.out[v] {
				if comp[w] == c {
					v = w
					break
				}
			}
		}
	}
	return out
}

// components numbers the strongly connected components (Tarjan's algorithm, iterative so a
// 100,000-node chain does not exhaust the stack).
func (g *Graph) components() []int32 {
	n := len(g.ids)
	index, low, comp := make([]int32, n), make([]int32, n), make([]int32, n)
	for i := range index {
		index[i], comp[i] = -1, -1
	}
	onStack := make([]bool, n)
	var stack []int32
	var next, ncomp int32
	type frame struct{ node, edge int32 }
	for root := range g.ids {
		if index[root] >= 0 {
			continue
		}
		call := []frame{{int32(root), 0}}
		index[root], low[root] = next, next
		next++
		stack, onStack[root] = append(stack, int32(root)), true
		for len(call) > 0 {
			top := &call[len(call)-1]
			v := top.node
			if int(top.edge) < len(g.out[v]) {
				w := g.out[v][top.edge]
				top.edge++
				switch {
				case index[w] < 0:
					index[w], low[w] = next, next
					next++
					stack, onStack[w] = append(stack, w), true
					call = append(call, frame{w, 0})
				case onStack[w]:
					low[v] = min(low[v], index[w])
				}
				continue
			}
			call = call[:len(call)-1]
			if len(call) > 0 {
				p := call[len(call)-1].node
				low[p] = min(low[p], low[v])
			}
			if low[v] == index[v] {
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w], comp[w] = false, ncomp
					if w == v {
						break
					}
				}
				ncomp++
			}
		}
	}
	return comp
}

// CycleError is returned when the graph has a cycle.
type CycleError struct{ Path []string }

func (e *CycleError) Error() string {
	return "dependency cycle: " + strings.Join(e.Path, " -> ")
}

// Order returns the nodes in a creation order: every node after all its dependencies; among
// nodes that are free at the same time, the order they were added.
func (g *Graph) Order() ([]string, error) {
	levels, err := g.Levels()
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(g.ids))
	for _, l := range levels {
		out = append(out, l...)
	}
	return out, nil
}

// ReverseOrder returns a deletion order: every node before all its dependencies.
func (g *Graph) ReverseOrder() ([]string, error) {
	o, err := g.Order()
	slices.Reverse(o)
	return o, err
}

// Levels groups nodes by their depth: level 0 has no dependencies, level k depends on
// something in level k-1. Used for display and by wave-based peers in benchmarks; AOS itself
// schedules with a Tracker, not by level.
func (g *Graph) Levels() ([][]string, error) {
	indeg := make([]int32, len(g.ids))
	for i := range g.ids {
		indeg[i] = int32(len(g.in[i]))
	}
	var cur []int32
	for i := range g.ids {
		if indeg[i] == 0 {
			cur = append(cur, int32(i))
		}
	}
	var levels [][]string
	seen := 0
	for len(cur) > 0 {
		slices.Sort(cur)
		levels = append(levels, g.names(cur))
		seen += len(cur)
		var next []int32
		for _, n := range cur {
			for _, m := range g.out[n] {
				if indeg[m]--; indeg[m] == 0 {
					next = append(next, m)
				}
			}
		}
		cur = next
	}
	if seen != len(g.ids) {
		return nil, &CycleError{g.Cycle()}
	}
	return levels, nil
}

// CriticalPath returns the longest chain of weights through the graph and its nodes in order.
func (g *Graph) CriticalPath(weight func(id string) time.Duration) (time.Duration, []string, error) {
	order, err := g.Order()
	if err != nil {
		return 0, nil, err
	}
	finish := make([]time.Duration, len(g.ids))
	via := make([]int32, len(g.ids))
	best, end := time.Duration(0), int32(-1)
	for _, id := range order {
		n := int32(g.index[id])
		start, from := time.Duration(0), int32(-1)
		for _, d := range g.in[n] {
			if finish[d] > start || from < 0 && finish[d] == start {
				start, from = finish[d], d
			}
		}
		finish[n], via[n] = start+weight(id), from
		if end < 0 || finish[n] > best {
			best, end = finish[n], n
		}
	}
	var path []string
	for n := end; n >= 0; n = via[n] {
		path = append(path, g.ids[n])
	}
	slices.Reverse(path)
	return best, path, nil
}

// Tracker answers the scheduler's question: given what has finished, which nodes may start?
// Each completion costs O(out-degree of the finished node).
type Tracker struct {
	g       *Graph
	waiting []int32 // unfinished dependencies per node
	done    []bool
	left    int
}

// NewTracker starts with nothing finished.
func NewTracker(g *Graph) *Tracker {
	t := &Tracker{g: g, waiting: make([]int32, len(g.ids)), done: make([]bool, len(g.ids)), left: len(g.ids)}
	for i := range g.ids {
		t.waiting[i] = int32(len(g.in[i]))
	}
	return t
}

// Startable lists the nodes whose dependencies have all finished and which are not finished.
func (t *Tracker) Startable() []string {
	var out []string
	for i, w := range t.waiting {
		if w == 0 && !t.done[i] {
			out = append(out, t.g.ids[i])
		}
	}
	return out
}

// Done marks id finished and returns the nodes that became startable because of it.
// Marking a node twice is a no-op (functions may run twice).
func (t *Tracker) Done(id string) ([]string, error) {
	i, ok := t.g.index[id]
	if !ok {
		return nil, fmt.Errorf("unknown node %q", id)
	}
	if t.done[i] {
		return nil, nil
	}
	t.done[i] = true
	t.left--
	var out []string
	for _, m := range t.g.out[i] {
		if t.waiting[m]--; t.waiting[m] == 0 {
			out = append(out, t.g.ids[m])
		}
	}
	return out, nil
}

// Remaining is the number of unfinished nodes.
func (t *Tracker) Remaining() int { return t.left }
