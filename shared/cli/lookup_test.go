package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/internal/testcluster"
)

// A lookup node waits for an object someone else creates, exposes its fields to the nodes
// after it, and is neither changed nor deleted with the stack.
func TestLookupWaitsForAnObjectCreatedLater(t *testing.T) {
	kc := kubeconfigPath(t)
	state := filepath.Join(t.TempDir(), "state.db")
	stack := fmt.Sprintf("lookup-%d", time.Now().UnixNano()%100000)
	g := []string{"--state", state, "--kubeconfig", kc}
	cs := testcluster.Client(t)
	ctx := context.Background()
	shared := testcluster.Namespace(t, cs, "shared")
	t.Cleanup(func() { run(t, "", append(g, "down", stack)...) })
	tpl := write(t, "lookup.yaml", `format: aos/v1
name: lookup
nodes:
  settings:
    lookup: {apiVersion: v1, kind: ConfigMap, name: platform-settings, namespace: `+shared+`}
    ready: {timeout: 2m}
  app:
    manifest:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: app}
      data: {LOG_LEVEL: '${nodes.settings.data.level}'}
`)
	if code, out, errs := run(t, "", append(g, "plan", tpl, "--stack", stack)...); code != ExitOK || !strings.Contains(out, "1 to look up") || !strings.Contains(out, "settings  lookup  ConfigMap") {
		t.Fatalf("plan: %d\n%s\n%s", code, out, errs)
	}
	type result struct {
		code      int
		out, errs string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errs := run(t, "", append(g, "up", tpl, "--stack", stack)...)
		done <- result{code, out, errs}
	}()
	time.Sleep(3 * time.Second)
	select {
	case r := <-done:
		t.Fatalf("up ended before the looked-up object existed: %d\n%s\n%s", r.code, r.out, r.errs)
	default:
	}
	if _, err := cs.CoreV1().ConfigMaps(stack).Get(ctx, "app", metav1.GetOptions{}); err == nil {
		t.Fatal("app was applied before the object it reads existed")
	}
	created := time.Now()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "platform-settings"}, Data: map[string]string{"level": "debug"}}
	if _, err := cs.CoreV1().ConfigMaps(shared).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.code != ExitOK || !strings.Contains(r.out, "LookedUp") {
		t.Fatalf("up: %d\n%s\n%s", r.code, r.out, r.errs)
	}
	if took := time.Since(created); took > 10*time.Second {
		t.Errorf("the stack noticed the object %s after it was created", took)
	}
	app, err := cs.CoreV1().ConfigMaps(stack).Get(ctx, "app", metav1.GetOptions{})
	if err != nil || app.Data["LOG_LEVEL"] != "debug" {
		t.Fatalf("app: %v %v", err, app)
	}
	if code, out, errs := run(t, "", append(g, "down", stack)...); code != ExitOK {
		t.Fatalf("down: %d\n%s\n%s", code, out, errs)
	}
	got, err := cs.CoreV1().ConfigMaps(shared).Get(ctx, "platform-settings", metav1.GetOptions{})
	if err != nil || len(got.Labels) > 0 || len(got.Annotations) > 0 {
		t.Fatalf("the looked-up object was changed or deleted: %v %v", err, got)
	}
}
