package bench

import (
	"strings"
	"testing"

	"github.com/aos-project/aos/shared/template"
)

// The ConfigMap scale stack is a valid template of the size asked, the same every time.
func TestConfigMapDAG(t *testing.T) {
	tpl, edges := ConfigMapDAG(1200)
	again, _ := ConfigMapDAG(1200)
	if tpl != again || edges < 1200 || edges > 3*1200 {
		t.Fatalf("not deterministic, or %d edges", edges)
	}
	parsed, probs := template.Parse("scale.yaml", []byte(tpl))
	if len(probs) > 0 || len(parsed.Nodes) != 1200 || !strings.Contains(tpl, "dependsOn: [cm-") {
		t.Fatalf("%d nodes, problems %v", len(parsed.Nodes), probs)
	}
}

// ChangeTen changes the data of exactly 10 nodes and nothing else.
func TestChangeTen(t *testing.T) {
	tpl, _ := ConfigMapDAG(1000)
	changed := ChangeTen(tpl, 1000)
	if n := strings.Count(changed, "changed"); n != 10 || len(strings.Split(changed, "\n")) != len(strings.Split(tpl, "\n")) {
		t.Fatalf("%d nodes changed", n)
	}
}
