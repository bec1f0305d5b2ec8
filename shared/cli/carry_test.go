package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/internal/testcluster"
)

// An update touches only what it changes: a second `up` with the same template and inputs
// applies nothing and writes no node; a changed input re-applies the node that reads it and
// the node that reads that node's live values, and carries the rest; an object deleted by hand
// is not carried but created again, while what merely comes after it (dependsOn) is carried.
func TestUpdateCarriesWhatCannotChange(t *testing.T) {
	kc := kubeconfigPath(t)
	state := filepath.Join(t.TempDir(), "state.db")
	stack := fmt.Sprintf("carry-%d", time.Now().UnixNano()%100000)
	g := []string{"--state", state, "--kubeconfig", kc}
	tpl := filepath.Join(t.TempDir(), "carry.yaml")
	body := `format: aos/v1
name: carry
inputs:
  greeting: {type: string, default: hello}
nodes:
  a:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {g: "${inputs.greeting}"}}
  b:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: b}, data: {a: "${nodes.a.data.g}"}}
  c:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}
  d:
    dependsOn: [c]
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: d}}
`
	if err := os.WriteFile(tpl, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	up := func(what string, args ...string) string {
		t.Helper()
		code, out, errs := run(t, "", append(append(g, "up", tpl, "--stack", stack), args...)...)
		if code != ExitOK || !strings.Contains(out, "_COMPLETE") {
			t.Fatalf("%s: exit %d\n%s\n%s", what, code, out, errs)
		}
		return out
	}
	up("create")
	t.Cleanup(func() { run(t, "", append(g, "down", stack)...) })
	ctx := context.Background()
	cs := testcluster.Client(t)
	versions := func() map[string]string {
		out := map[string]string{}
		for _, n := range []string{"a", "b", "c", "d"} {
			cm, err := cs.CoreV1().ConfigMaps(stack).Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			out[n] = cm.ResourceVersion
		}
		return out
	}
	before := versions()

	out := up("unchanged")
	if !strings.Contains(out, "4 node(s) unchanged and READY") || strings.Contains(out, "Applied: ") || strings.Count(out, "Unchanged: ") != 1 {
		t.Fatalf("an unchanged update: want all four nodes carried, none applied or looked at one by one:\n%s", out)
	}
	if after := versions(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("an unchanged update changed objects: %v → %v", before, after)
	}

	out = up("greeting changed", "-p", "greeting=hi")
	if !strings.Contains(out, "2 node(s) unchanged and READY") || strings.Count(out, "Applied: ") != 2 ||
		!strings.Contains(out, "/a updated") || !strings.Contains(out, "/b updated") {
		t.Fatalf("greeting changed: want a and b applied (b reads a), c and d carried:\n%s", out)
	}
	if cm, _ := cs.CoreV1().ConfigMaps(stack).Get(ctx, "b", metav1.GetOptions{}); cm.Data["a"] != "hi" {
		t.Fatalf("b reads a's new value: %v", cm.Data)
	}

	if err := cs.CoreV1().ConfigMaps(stack).Delete(ctx, "c", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	out = up("c deleted by hand")
	if !strings.Contains(out, "3 node(s) unchanged and READY") || strings.Count(out, "Applied: ") != 1 || !strings.Contains(out, "/c created") {
		t.Fatalf("c deleted by hand: want c created again, the rest carried (d comes after c but reads nothing of it):\n%s", out)
	}
	if _, err := cs.CoreV1().ConfigMaps(stack).Get(ctx, "c", metav1.GetOptions{}); err != nil {
		t.Fatalf("c was not created again: %v", err)
	}
}
