package template

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aos-project/aos/internal/gen"
)

// BenchmarkValidate10k is validate + graph + critical path of a 10,000-node template (20
// levels of 500): what `aos validate` and the plan function do before anything is applied.
// The target is under 1 s on a 2-core machine (docs/performance.md).
func BenchmarkValidate10k(b *testing.B) {
	benchValidate(b, gen.Layered(10000, 500))
}

// BenchmarkValidate10kJSON is BenchmarkValidate10k with the template written as JSON, which
// the parser reads without yaml.v3 (jsonfast.go).
func BenchmarkValidate10kJSON(b *testing.B) {
	benchValidate(b, gen.AsJSON(gen.Layered(10000, 500)))
}

func benchValidate(b *testing.B, data []byte) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// A file name of its own per run: the same text again would be the kept template.
		i++
		r, probs := Validate(fmt.Sprintf("big-%d", i), data, Params{})
		if len(probs) > 0 {
			b.Fatal(probs[0])
		}
		if _, _, err := r.Graph.CriticalPath(func(string) time.Duration { return time.Second }); err != nil {
			b.Fatal(err)
		}
	}
}

func TestGeneratedTemplateIsValid(t *testing.T) {
	r, probs := Validate("big.yaml", gen.Layered(1000, 50), Params{})
	if len(probs) > 0 {
		t.Fatal(probs[:min(3, len(probs))])
	}
	levels, _ := r.Graph.Levels()
	if r.Graph.Len() != 1000 || len(levels) != 20 {
		t.Fatalf("generated %d nodes in %d levels", r.Graph.Len(), len(levels))
	}
}

// BenchmarkValidate10kExpressions is BenchmarkValidate10k with a distinct CEL expression in
// every node (none shared, so none comes from the compile cache): #18 asks that it be no more
// than 20 % slower.
func BenchmarkValidate10kExpressions(b *testing.B) {
	benchValidate(b, withExpressions(gen.Layered(10000, 500)))
}

func withExpressions(data []byte) []byte {
	parts := strings.Split(string(data), `"${inputs.image}"`)
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			fmt.Fprintf(&b, `"${inputs.image.lowerAscii() + '-%d'}"`, i)
		}
		b.WriteString(p)
	}
	return []byte(b.String())
}

func TestGeneratedExpressionsAreValid(t *testing.T) {
	r, probs := Validate("big.yaml", withExpressions(gen.Layered(100, 10)), Params{})
	if len(probs) > 0 {
		t.Fatal(probs[:min(3, len(probs))])
	}
	if u := r.Template.Nodes[7].Uses; len(u) == 0 || u[len(u)-1].Ref.String() != "${inputs.image}" {
		t.Fatalf("the expression's reference: %v", u)
	}
}
