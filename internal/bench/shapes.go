// Package bench measures how fast AOS brings whole stacks up against their critical path and
// against peers (kubectl apply + wait, helm install --wait) on the same cluster: make bench.
package bench

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Node is one Deployment of a shape: its dependencies and the pod readiness delay kwok
// gives it.
type Node struct {
	ID    string
	Deps  []string
	Delay time.Duration
}

// Shape is a dependency graph to deploy.
type Shape struct {
	Name, About string
	Nodes       []Node
}

// Chain is n nodes one after another.
func Chain(n int, d time.Duration) Shape {
	s := Shape{Name: fmt.Sprintf("chain-%d", n), About: fmt.Sprintf("chain of %d, %s each", n, d)}
	for i := range n {
		nd := Node{ID: fmt.Sprintf("c%d", i), Delay: d}
		if i > 0 {
			nd.Deps = []string{fmt.Sprintf("c%d", i-1)}
		}
		s.Nodes = append(s.Nodes, nd)
	}
	return s
}

// FanOut is one root and n nodes that depend on it.
func FanOut(n int, d time.Duration) Shape {
	s := Shape{Name: fmt.Sprintf("fanout-%d", n), About: fmt.Sprintf("1 → %d, %s each", n, d)}
	s.Nodes = append(s.Nodes, Node{ID: "root", Delay: d})
	for i := range n {
		s.Nodes = append(s.Nodes, Node{ID: fmt.Sprintf("f%d", i), Deps: []string{"root"}, Delay: d})
	}
	return s
}

// delay draws a delay in [lo, hi] in 100 ms steps.
func delay(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	steps := int((hi - lo) / (100 * time.Millisecond))
	return lo + time.Duration(rng.IntN(steps+1))*100*time.Millisecond
}

// Lattice is levels × width nodes; each node after the first level depends on one to three
// random nodes of the level before. Delays 0.5–3 s. Fixed seed.
func Lattice(levels, width int) Shape {
	rng := rand.New(rand.NewPCG(7, 11))
	return layered(fmt.Sprintf("lattice-%dx%d", levels, width), fmt.Sprintf("%d levels × %d, random edges, 0.5–3 s", levels, width),
		"l", levels, width, rng, func() time.Duration { return delay(rng, 500*time.Millisecond, 3*time.Second) })
}

// layered builds levels × width nodes named <p><level>-<i>, each after the first level
// depending on one to three random nodes of the level before.
func layered(name, about, p string, levels, width int, rng *rand.Rand, delay func() time.Duration) Shape {
	s := Shape{Name: name, About: about}
	for l := range levels {
		for w := range width {
			nd := Node{ID: fmt.Sprintf("%s%d-%d", p, l, w), Delay: delay()}
			if l > 0 {
				for k := 0; k < 1+rng.IntN(3); k++ {
					d := fmt.Sprintf("%s%d-%d", p, l-1, rng.IntN(width))
					if !slices.Contains(nd.Deps, d) {
						nd.Deps = append(nd.Deps, d)
					}
				}
			}
			s.Nodes = append(s.Nodes, nd)
		}
	}
	return s
}

// Skewed is 3 chains of 3 where chain k has its one 6 s node at level k (the others 0.5 s),
// beside 20 chains of 3 at 0.5 s. The critical path is about 7 s; a tool that waits for a
// whole level before starting the next needs about 18 s.
func Skewed() Shape {
	s := Shape{Name: "skewed", About: "3 chains with a 6 s node at level 0, 1, 2 + 20 chains of 0.5 s"}
	for c := range 23 {
		for l := range 3 {
			nd := Node{ID: fmt.Sprintf("s%d-%d", c, l), Delay: 500 * time.Millisecond}
			if c < 3 && l == c {
				nd.Delay = 6 * time.Second
			}
			if l > 0 {
				nd.Deps = []string{fmt.Sprintf("s%d-%d", c, l-1)}
			}
			s.Nodes = append(s.Nodes, nd)
		}
	}
	return s
}

// Random is an n-node DAG: each node depends on up to three of the 25 nodes before it, with
// delays of 0.2–1.5 s. Fixed seed.
func Random(n int) Shape {
	rng := rand.New(rand.NewPCG(3, 5))
	s := Shape{Name: fmt.Sprintf("random-%d", n), About: fmt.Sprintf("random DAG of %d, 0.2–1.5 s", n)}
	for i := range n {
		nd := Node{ID: fmt.Sprintf("r%d", i), Delay: delay(rng, 200*time.Millisecond, 1500*time.Millisecond)}
		if i > 0 {
			for k := 0; k < rng.IntN(4); k++ {
				j := i - 1 - rng.IntN(min(i, 25))
				d := fmt.Sprintf("r%d", j)
				if !slices.Contains(nd.Deps, d) {
					nd.Deps = append(nd.Deps, d)
				}
			}
		}
		s.Nodes = append(s.Nodes, nd)
	}
	return s
}

// Layers is levels × width nodes, each depending on one to three nodes of the level before,
// all with one delay: the scale shape.
func Layers(levels, width int, d time.Duration) Shape {
	return layered(fmt.Sprintf("layers-%d", levels*width), fmt.Sprintf("%d levels × %d, %s each", levels, width, d),
		"n", levels, width, rand.New(rand.NewPCG(13, 17)), func() time.Duration { return d })
}

// Levels groups node indexes by depth (longest dependency chain from a root): the waves a
// level-by-level tool deploys.
func (s Shape) Levels() [][]int {
	idx := map[string]int{}
	for i, n := range s.Nodes {
		idx[n.ID] = i
	}
	depth := make([]int, len(s.Nodes))
	var levels [][]int
	for i, n := range s.Nodes { // nodes come after their dependencies
		for _, d := range n.Deps {
			depth[i] = max(depth[i], depth[idx[d]]+1)
		}
		for len(levels) <= depth[i] {
			levels = append(levels, nil)
		}
		levels[depth[i]] = append(levels[depth[i]], i)
	}
	return levels
}

// CriticalPath is the longest chain of per-node times, and its length in nodes.
func (s Shape) CriticalPath(took func(Node) time.Duration) (time.Duration, int) {
	idx := map[string]int{}
	for i, n := range s.Nodes {
		idx[n.ID] = i
	}
	finish := make([]time.Duration, len(s.Nodes))
	hops := make([]int, len(s.Nodes))
	var best time.Duration
	bestHops := 0
	for i, n := range s.Nodes {
		var start time.Duration
		for _, d := range n.Deps {
			if f := finish[idx[d]]; f > start || f == start && hops[idx[d]] >= hops[i] {
				start, hops[i] = f, hops[idx[d]]
			}
		}
		finish[i], hops[i] = start+took(n), hops[i]+1
		if finish[i] > best {
			best, bestHops = finish[i], hops[i]
		}
	}
	return best, bestHops
}

// WaveTime is what a tool that deploys level by level, each level waiting for its slowest
// node, needs at best.
func (s Shape) WaveTime(took func(Node) time.Duration) time.Duration {
	var total time.Duration
	for _, l := range s.Levels() {
		var slowest time.Duration
		for _, i := range l {
			slowest = max(slowest, took(s.Nodes[i]))
		}
		total += slowest
	}
	return total
}

const levelLabel = "aos-bench/level"

// deployment is one node's Deployment: one replica whose pod kwok makes Ready after the
// node's delay.
func deployment(n Node, level int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  labels: {%[3]s: "%[4]d"}
spec:
  replicas: 1
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata:
      labels: {app: %[1]s}
      annotations: {pod-ready.stage.kwok.x-k8s.io/delay: "%[2]dms"}
    spec:
      containers: [{name: app, image: registry.example/bench:1}]
`, n.ID, n.Delay.Milliseconds(), levelLabel, level)
}

// Template is the shape as an AOS template.
func (s Shape) Template() string {
	level := map[int]int{}
	for l, ids := range s.Levels() {
		for _, i := range ids {
			level[i] = l
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "format: aos/v1\nname: %s\ndescription: %q\nnodes:\n", s.Name, s.About)
	for i, n := range s.Nodes {
		fmt.Fprintf(&b, "  %s:\n", n.ID)
		if len(n.Deps) > 0 {
			fmt.Fprintf(&b, "    dependsOn: [%s]\n", strings.Join(n.Deps, ", "))
		}
		b.WriteString("    manifest:\n")
		for _, line := range strings.Split(strings.TrimRight(deployment(n, level[i]), "\n"), "\n") {
			b.WriteString("      " + line + "\n")
		}
	}
	return b.String()
}

// LevelManifests is each level's Deployments as one multi-document YAML, for the peers.
func (s Shape) LevelManifests() []string {
	var out []string
	for l, ids := range s.Levels() {
		var docs []string
		for _, i := range ids {
			docs = append(docs, deployment(s.Nodes[i], l))
		}
		out = append(out, strings.Join(docs, "---\n"))
	}
	return out
}
