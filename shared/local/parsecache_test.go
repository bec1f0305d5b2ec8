package local

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/template"
)

// Validate and plan in one process share one parsed template (template's cache), and so does
// every later validate of the same text: a whole operation through the state machine must
// leave it as Parse made it. (Not parallel: the cache keeps one template.)
func TestAnOperationLeavesTheSharedTemplateAlone(t *testing.T) {
	cs := testcluster.Client(t)
	for _, name := range []string{"config-app.yaml", "tenants.yaml", "microservices.yaml"} {
		f := filepath.Join("../../templates", name)
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		raw := map[string]string{}
		fresh, _ := template.Parse(f, data)
		for _, in := range fresh.Inputs {
			if in.Required() {
				raw[in.Name] = "parse-cache-secret-1"
			}
		}
		shared, probs := template.Validate(f, data, template.Params{Raw: raw})
		if len(probs) > 0 {
			t.Fatal(probs)
		}
		e := newEngine(t)
		stack := fmt.Sprintf("pc-%d", time.Now().UnixNano()%100000)
		t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
		deploy(t, e, stack, engine.TemplateRequest{File: f, Template: string(data), RawParams: raw})
		again, _ := template.Validate(f, data, template.Params{Raw: raw})
		if again.Template != shared.Template {
			t.Fatalf("%s: validating the same text again parsed it again", name)
		}
		// Inputs are compared as JSON: each keeps a compiled JSON Schema whose insides change
		// as it is used, which is its own business.
		if !reflect.DeepEqual(shared.Template.Nodes, fresh.Nodes) || !reflect.DeepEqual(shared.Template.Outputs, fresh.Outputs) ||
			!sameJSON(t, shared.Template.Inputs, fresh.Inputs) {
			t.Fatalf("%s: the shared template differs from a fresh parse after a create", name)
		}
	}
}

func sameJSON(t *testing.T, a, b any) bool {
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
