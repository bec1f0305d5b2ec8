package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/template"
)

// unresolved finds strings in a live object that still hold a reference.
func unresolved(v any, path string, out *[]string) {
	switch x := v.(type) {
	case string:
		if strings.Contains(x, "${") {
			*out = append(*out, path+"="+x)
		}
	case map[string]any:
		for k, e := range x {
			unresolved(e, path+"."+k, out)
		}
	case []any:
		for i, e := range x {
			unresolved(e, fmt.Sprintf("%s[%d]", path, i), out)
		}
	}
}

// Every template in the library deploys through the state machine, becomes READY with every
// reference resolved in the live objects, reports its outputs, and is deleted again.
func TestLibraryTemplatesDeployAndDelete(t *testing.T) {
	files, _ := filepath.Glob("../../templates/*.yaml")
	if len(files) < 8 {
		t.Fatalf("%d templates", len(files))
	}
	cs := testcluster.Client(t)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			e := newEngine(t)
			ctx := context.Background()
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			tpl, probs := template.Parse(f, data)
			if len(probs) > 0 {
				t.Fatal(probs)
			}
			raw := map[string]string{}
			for _, in := range tpl.Inputs {
				if in.Required() {
					raw[in.Name] = "library-test-secret-1"
				}
			}
			stack := fmt.Sprintf("lib-%s-%d", tpl.Name, time.Now().UnixNano()%10000)
			if len(stack) > 40 {
				stack = stack[:40]
			}
			stack = strings.TrimRight(stack, "-")
			t.Cleanup(func() {
				_ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{})
				// Retained cluster-scoped objects (the library's CRD) would block the next run.
				for _, n := range tpl.Nodes {
					if n.DeletePolicy == "retain" && n.Manifest["kind"] == "CustomResourceDefinition" {
						name, _ := n.Manifest["metadata"].(map[string]any)["name"].(string)
						gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
						if c, err := e.Kube(context.Background(), ""); err == nil {
							_ = c.Dynamic.Resource(gvr).Delete(context.Background(), name, metav1.DeleteOptions{})
						}
					}
				}
			})
			if _, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack,
				TemplateRequest: engine.TemplateRequest{File: f, Template: string(data), RawParams: raw}}}); err != nil {
				t.Fatal(err)
			}
			res, err := Run(ctx, e, stack, engine.OpCreate)
			if err != nil {
				t.Fatal(err)
			}
			st, _ := e.Store.GetStack(ctx, stack)
			nodes, _ := e.Store.ListNodes(ctx, stack)
			if res.Err != nil || st.Status != engine.StackCreateComplete {
				for _, n := range nodes {
					t.Logf("%s %s %s %s", n.ID, n.Status, n.Reason, n.Message)
				}
				t.Fatalf("create: %v (%s: %s)", res.Err, st.Status, st.Reason)
			}
			c, _ := e.Kube(ctx, "")
			for _, n := range nodes {
				live, err := c.Get(ctx, *n.Ref)
				if err != nil || live == nil {
					t.Fatalf("node %s: live object: %v", n.ID, err)
				}
				var left []string
				unresolved(live.Object, "", &left)
				if len(left) > 0 {
					t.Fatalf("node %s: unresolved references in the live object: %v", n.ID, left)
				}
			}
			for _, o := range tpl.Outputs {
				if v, ok := st.Outputs[o.Name]; !ok || v == nil || v == "" {
					t.Fatalf("output %s = %v", o.Name, v)
				}
			}
			t.Logf("%d nodes READY, %d transitions, outputs %v", len(nodes), res.Transitions, st.Outputs)
			if res, err := Run(ctx, e, stack, engine.OpDelete); err != nil || res.Err != nil {
				t.Fatalf("delete: %v %v", err, res.Err)
			}
			st, _ = e.Store.GetStack(ctx, stack)
			if st.Status != engine.StackDeleteComplete {
				t.Fatalf("after delete: %s (%s)", st.Status, st.Reason)
			}
		})
	}
}
