// Package gen generates large templates for benchmarks and scale tests.
package gen

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Layered builds a template of n nodes in levels of width w. Each node after the first level
// depends on up to three nodes of the level before, half through dependsOn and half through a
// reference into the live object, so both kinds of edge are exercised. The seed is fixed.
func Layered(n, w int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	b.WriteString("format: aos/v1\nname: big\ninputs:\n  image: {type: string, default: \"registry.example/app:1\"}\nnodes:\n")
	for i := range n {
		fmt.Fprintf(&b, "  n%d:\n", i)
		level := i / w
		var deps, refs []string
		seen := map[string]bool{}
		if level > 0 {
			for k := 0; k < 1+rng.IntN(3); k++ {
				d := fmt.Sprintf("n%d", (level-1)*w+rng.IntN(w))
				if seen[d] {
					continue
				}
				seen[d] = true
				if k%2 == 0 {
					deps = append(deps, d)
				} else {
					refs = append(refs, d)
				}
			}
		}
		if len(deps) > 0 {
			fmt.Fprintf(&b, "    dependsOn: [%s]\n", strings.Join(deps, ", "))
		}
		env := ""
		for k, r := range refs {
			if k > 0 {
				env += ", "
			}
			env += fmt.Sprintf("{name: UP%d, value: \"${nodes.%s.metadata.uid}\"}", k, r)
		}
		// Flow style keeps 10,000 Deployments under the 4 MiB file limit.
		fmt.Fprintf(&b, "    manifest: {apiVersion: apps/v1, kind: Deployment, metadata: {name: n%d}, spec: {replicas: 1, "+
			"selector: {matchLabels: {app: n%d}}, template: {metadata: {labels: {app: n%d}}, "+
			"spec: {containers: [{name: app, image: \"${inputs.image}\", env: [%s]}]}}}}\n", i, i, i, env)
	}
	return []byte(b.String())
}

// AsJSON is a generated YAML template written as JSON, as a program that makes templates
// would write it.
func AsJSON(yamlText []byte) []byte {
	var v map[string]any
	if err := yaml.Unmarshal(yamlText, &v); err != nil {
		panic(fmt.Sprintf("gen: a generated template does not decode: %v", err))
	}
	out, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("gen: a generated template does not encode: %v", err))
	}
	return out
}
