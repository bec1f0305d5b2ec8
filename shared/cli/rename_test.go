package cli

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/internal/testcluster"
)

const migrations = `format: aos/v1
name: migrations
inputs:
  version: {type: string, default: v1}
  broken: {type: boolean, default: false}
nodes:
  migrate:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: "migrate-${inputs.version}"}, data: {v: "${inputs.version}"}}
  app:
    dependsOn: [migrate]
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: app}, data: {schema: "${nodes.migrate.metadata.name}"}}
  bad:
    when: ${inputs.broken}
    dependsOn: [migrate]
    manifest: {apiVersion: apps/v1, kind: Deployment, metadata: {name: bad}, spec: {template: {spec: {containers: [{name: c, image: x}]}}}}
`

// A node whose object is renamed replaces it: the new one is applied, the old one deleted
// once the stack is READY; a rollback, asked for or automatic, does the same the other way.
// After every operation exactly one of the objects exists.
func TestRenamedObjectsAreReplaced(t *testing.T) {
	kc := kubeconfigPath(t)
	cs := testcluster.Client(t)
	state := filepath.Join(t.TempDir(), "state.db")
	stack := fmt.Sprintf("rename-%d", time.Now().UnixNano()%100000)
	g := []string{"--state", state, "--kubeconfig", kc}
	t.Cleanup(func() { run(t, "", append(g, "down", stack)...) })
	tpl := write(t, "migrations.yaml", migrations)
	only := func(step, want string) {
		t.Helper()
		for _, v := range []string{"v1", "v2", "v3"} {
			_, err := cs.CoreV1().ConfigMaps(stack).Get(t.Context(), "migrate-"+v, metav1.GetOptions{})
			switch {
			case v == want && err != nil:
				t.Fatalf("%s: migrate-%s: %v", step, v, err)
			case v != want && !apierrors.IsNotFound(err):
				t.Fatalf("%s: migrate-%s is still there (%v)", step, v, err)
			}
		}
	}
	up := func(args ...string) (int, string, string) {
		t.Helper()
		return run(t, "", append(append(g, "up", tpl, "--stack", stack), args...)...)
	}
	if code, out, errs := up(); code != ExitOK {
		t.Fatalf("create: exit %d\n%s\n%s", code, out, errs)
	}
	only("create", "v1")
	code, out, errs := run(t, "", append(g, "plan", tpl, "--stack", stack, "-p", "version=v2")...)
	if code != ExitOK || !strings.Contains(out, "1 to replace") ||
		!strings.Contains(out, fmt.Sprintf("replace (ConfigMap %s/migrate-v1 → ConfigMap %s/migrate-v2)", stack, stack)) || strings.Contains(out, "gone from the cluster") {
		t.Fatalf("plan of a rename: exit %d\n%s\n%s", code, out, errs)
	}
	if code, out, errs := up("-p", "version=v2"); code != ExitOK || !strings.Contains(out, "Replaced") {
		t.Fatalf("update to v2: exit %d\n%s\n%s", code, out, errs)
	}
	only("update to v2", "v2")
	if code, out, errs := run(t, "", append(g, "diff", stack, "1", "2")...); code != ExitOK || !strings.Contains(out, `~ version: "v1" -> "v2"`) || strings.Contains(out, "template:") {
		t.Fatalf("diff 1 2: exit %d\n%s\n%s", code, out, errs)
	}
	// An update that fails rolls back: the object it renamed to goes, the one before stays.
	if code, out, errs := up("-p", "version=v3", "-p", "broken=true"); code != ExitError || !strings.Contains(out, "UPDATE_ROLLBACK_COMPLETE") {
		t.Fatalf("a failing update to v3: exit %d\n%s\n%s", code, out, errs)
	}
	only("the failed update's rollback", "v2")
	// History says what the rollback did once, not once in its note and again in its reason.
	code, out, _ = run(t, "", append(g, "history", stack)...)
	if code != ExitOK || !strings.Contains(out, "rolled back to revision 2 after the update failed") {
		t.Fatalf("history:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Count(line, "rolled back to revision 2") > 1 {
			t.Fatalf("history repeats itself: %s", line)
		}
	}
	if code, out, errs := run(t, "", append(g, "rollback", stack, "--revision", "1")...); code != ExitOK {
		t.Fatalf("rollback to revision 1: exit %d\n%s\n%s", code, out, errs)
	}
	only("rollback to revision 1", "v1")
	cm, err := cs.CoreV1().ConfigMaps(stack).Get(t.Context(), "app", metav1.GetOptions{})
	if err != nil || cm.Data["schema"] != "migrate-v1" {
		t.Fatalf("the dependent follows the rename: %v %v", cm.Data, err)
	}
	if code, out, errs := run(t, "", append(g, "down", stack)...); code != ExitOK {
		t.Fatalf("down: exit %d\n%s\n%s", code, out, errs)
	}
	only("down", "")
}
