package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/kube"
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
						if c, err := e.Kube(context.Background(), kube.Access{}); err == nil {
							_ = c.Dynamic.Resource(gvr).Delete(context.Background(), name, metav1.DeleteOptions{})
						}
					}
				}
			})
			if _, _, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack,
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
			c, _ := e.Kube(ctx, kube.Access{})
			liveAndResolved(t, c, nodes, "after create")
			for _, o := range tpl.Outputs {
				if v, ok := st.Outputs[o.Name]; !ok || v == nil || v == "" {
					t.Fatalf("output %s = %v", o.Name, v)
				}
			}
			t.Logf("%d nodes READY, %d transitions, outputs %v", len(nodes), res.Transitions, st.Outputs)

			// Update: one input changed; what it does not reach keeps its resourceVersion.
			changed := bumpOneInput(tpl, raw)
			before := map[string]string{}
			hashes := map[string]string{}
			for _, n := range nodes {
				live, _ := c.Get(ctx, *n.Ref)
				before[n.ID], hashes[n.ID] = live.GetResourceVersion(), n.AppliedHash
			}
			if _, _, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack,
				TemplateRequest: engine.TemplateRequest{File: f, Template: string(data), RawParams: raw}}}); err != nil {
				t.Fatal(err)
			}
			res, err = Run(ctx, e, stack, engine.OpUpdate)
			if err != nil {
				t.Fatal(err)
			}
			st, _ = e.Store.GetStack(ctx, stack)
			nodes, _ = e.Store.ListNodes(ctx, stack)
			if res.Err != nil || st.Status != engine.StackUpdateComplete {
				for _, n := range nodes {
					t.Logf("%s %s %s %s", n.ID, n.Status, n.Reason, n.Message)
				}
				t.Fatalf("update (%s): %v (%s: %s)", changed, res.Err, st.Status, st.Reason)
			}
			rewritten := 0
			lives := liveAndResolved(t, c, nodes, "after update")
			for _, n := range nodes {
				if n.Status != engine.NodeReady {
					t.Fatalf("after update: node %s is %s", n.ID, n.Status)
				}
				live := lives[n.ID]
				if rv, had := before[n.ID]; had && hashes[n.ID] == n.AppliedHash && live.GetResourceVersion() != rv {
					t.Fatalf("node %s did not change but was written (resourceVersion %s -> %s)", n.ID, rv, live.GetResourceVersion())
				}
				if hashes[n.ID] != n.AppliedHash {
					rewritten++
				}
			}
			t.Logf("update (%s): %d of %d nodes re-applied", changed, rewritten, len(nodes))
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

// bumpOneInput changes one input with a default, so an update has something to do: an
// integer goes up by one (within its maximum), else a plain string gets a suffix. It says
// what it changed ("nothing" when the template has no such input: the update is a no-op).
func bumpOneInput(tpl *template.Template, raw map[string]string) string {
	ins := append([]*template.Input(nil), tpl.Inputs...)
	sort.Slice(ins, func(i, j int) bool { return ins[i].Name < ins[j].Name })
	for _, in := range ins {
		if !in.HasDefault || in.Secret || in.Type != "integer" {
			continue
		}
		v, err := strconv.Atoi(fmt.Sprint(in.Default))
		ok := err == nil
		if max, has := in.Schema["maximum"]; ok && (!has || fmt.Sprint(max) != fmt.Sprint(v)) {
			raw[in.Name] = fmt.Sprint(v + 1)
			return fmt.Sprintf("%s=%d", in.Name, v+1)
		}
	}
	for _, in := range ins {
		_, enum := in.Schema["enum"]
		_, pattern := in.Schema["pattern"]
		if s, ok := in.Default.(string); ok && in.HasDefault && !in.Secret && !enum && !pattern {
			raw[in.Name] = s + "-v2"
			return in.Name + "=" + raw[in.Name]
		}
	}
	return "nothing"
}

// liveAndResolved reads every node's object, failing when one is missing or still holds an
// unresolved reference.
func liveAndResolved(t *testing.T, c *kube.Client, nodes []*engine.NodeRecord, when string) map[string]*unstructured.Unstructured {
	t.Helper()
	out := map[string]*unstructured.Unstructured{}
	for _, n := range nodes {
		live, err := c.Get(context.Background(), *n.Ref)
		if err != nil || live == nil {
			t.Fatalf("%s: node %s: live object: %v", when, n.ID, err)
		}
		var left []string
		unresolved(live.Object, "", &left)
		if len(left) > 0 {
			t.Fatalf("%s: node %s: unresolved references in the live object: %v", when, n.ID, left)
		}
		out[n.ID] = live
	}
	return out
}
