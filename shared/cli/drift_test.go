package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/aos-project/aos/internal/testcluster"
)

// Drift: someone scales the Deployment and deletes the ConfigMap. `aos drift` reports the
// field (live value and the stack's) and the deleted object, exits 1 and records events;
// `aos plan` shows both nodes to apply again; `--repair` applies them, after which the stack
// is in sync. A label another manager adds is not drift.
func TestDriftReportsAndRepairs(t *testing.T) {
	kc := kubeconfigPath(t)
	state := filepath.Join(t.TempDir(), "state.db")
	stack := fmt.Sprintf("drift-%d", time.Now().UnixNano()%100000)
	g := []string{"--state", state, "--kubeconfig", kc}
	t.Cleanup(func() { run(t, "", append(g, "down", stack)...) })
	tpl := write(t, "drift.yaml", `format: aos/v1
name: drift
nodes:
  config:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: config}, data: {mode: fast}}
  web:
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: web}
      spec:
        replicas: 2
        selector: {matchLabels: {app: web}}
        template:
          metadata: {labels: {app: web}}
          spec: {containers: [{name: c, image: x}]}
`)
	if code, out, errs := run(t, "", append(g, "up", tpl, "--stack", stack)...); code != ExitOK {
		t.Fatalf("up: %d\n%s\n%s", code, out, errs)
	}
	if code, out, _ := run(t, "", append(g, "drift", stack)...); code != ExitOK || !strings.Contains(out, "0 of 2 node(s) drifted") {
		t.Fatalf("a fresh stack drifted: %d\n%s", code, out)
	}

	cs := testcluster.Client(t)
	ctx := context.Background()
	someone := metav1.PatchOptions{FieldManager: "someone"}
	if _, err := cs.AppsV1().Deployments(stack).Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":5},"metadata":{"labels":{"team":"ops"}}}`), someone); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().ConfigMaps(stack).Delete(ctx, "config", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, "", append(g, "drift", stack)...)
	for _, want := range []string{"spec.replicas: 5 (stack: 2)", "config  DELETED", "2 of 2 node(s) drifted", "aos drift " + stack + " --repair"} {
		if !strings.Contains(out+errs, want) {
			t.Errorf("drift output lacks %q", want)
		}
	}
	if code != ExitError || strings.Contains(out, "team") || t.Failed() {
		t.Fatalf("drift: exit %d\n%s\n%s", code, out, errs)
	}
	if code, out, _ := run(t, "", append(g, "events", stack)...); code != ExitOK || strings.Count(out, "DRIFTED") != 2 {
		t.Fatalf("events: %d\n%s", code, out)
	}
	if code, out, _ := run(t, "", append(g, "plan", tpl, "--stack", stack)...); code != ExitOK || !strings.Contains(out, "0 to create, 2 to update") || !strings.Contains(out, "drifted:") {
		t.Fatalf("plan after drift: %d\n%s", code, out)
	}

	if code, out, errs := run(t, "", append(g, "drift", stack, "--repair")...); code != ExitOK {
		t.Fatalf("repair: %d\n%s\n%s", code, out, errs)
	}
	d, err := cs.AppsV1().Deployments(stack).Get(ctx, "web", metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 2 || d.Labels["team"] != "ops" {
		t.Fatalf("repaired Deployment: %v %v", d.Spec.Replicas, err)
	}
	if _, err := cs.CoreV1().ConfigMaps(stack).Get(ctx, "config", metav1.GetOptions{}); err != nil {
		t.Fatalf("the ConfigMap is not back: %v", err)
	}
	if code, out, _ := run(t, "", append(g, "drift", stack)...); code != ExitOK || !strings.Contains(out, "0 of 2 node(s) drifted") {
		t.Fatalf("after the repair: %d\n%s", code, out)
	}
}
