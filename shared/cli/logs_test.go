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
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/aos-project/aos/internal/testcluster"
)

// aos logs prints a Job's pod log as the API server serves it (pods/log). The node is kwok's:
// its server answers for the kubelet, with the log file a kwok Logs object names (the test
// writes it, in the CRI log format a kubelet reads from the container runtime).
func TestLogsOfAJob(t *testing.T) {
	kc := kubeconfigPath(t)
	cs := testcluster.Client(t)
	dyn := dynamic.NewForConfigOrDie(testcluster.Config(t))
	logsGVR := schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "logs"}
	state := filepath.Join(t.TempDir(), "state.db")
	stack := fmt.Sprintf("logs-%d", time.Now().UnixNano()%100000)
	g := []string{"--state", state, "--kubeconfig", kc}
	ctx := context.Background()
	t.Cleanup(func() {
		// The Logs object is no object of the stack's: down would keep the namespace for it.
		_ = dyn.Resource(logsGVR).Namespace(stack).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		run(t, "", append(g, "down", stack)...)
	})
	logFile := filepath.Join(t.TempDir(), "migrate.log")
	if err := os.WriteFile(logFile, []byte("2026-12-01T10:00:00.000000000Z stdout F applying migration 7\n2026-12-01T10:00:01.000000000Z stderr F migration 7 failed: column exists\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tpl := write(t, "logs.yaml", `format: aos/v1
name: logs
nodes:
  migrate:
    manifest:
      apiVersion: batch/v1
      kind: Job
      metadata: {name: migrate}
      spec: {template: {metadata: {annotations: {pod-ready.stage.kwok.x-k8s.io/delay: 2s}}, spec: {restartPolicy: Never, containers: [{name: migrate, image: x}]}}}
  config:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: config}}
`)
	done := make(chan string, 1)
	go func() {
		_, out, errs := run(t, "", append(g, "up", tpl, "--stack", stack)...)
		done <- out + errs
	}()
	// Give the Job's pod its log as soon as the pod exists.
	var pod string
	for deadline := time.Now().Add(30 * time.Second); pod == ""; time.Sleep(100 * time.Millisecond) {
		pods, err := cs.CoreV1().Pods(stack).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=migrate"})
		if err == nil && len(pods.Items) > 0 {
			pod = pods.Items[0].Name
		}
		if time.Now().After(deadline) {
			t.Fatal("the Job made no pod")
		}
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Logs", "metadata": map[string]any{"name": pod},
		"spec": map[string]any{"logs": []any{map[string]any{"containers": []any{"migrate"}, "logsFile": logFile}}},
	}}
	if _, err := dyn.Resource(logsGVR).Namespace(stack).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if out := <-done; !strings.Contains(out, "CREATE_COMPLETE") {
		t.Fatalf("up:\n%s", out)
	}
	code, out, errs := run(t, "", append(g, "logs", stack, "migrate")...)
	if code != ExitOK || out != "applying migration 7\nmigration 7 failed: column exists\n" {
		t.Fatalf("logs of the node: exit %d\n%q\n%s", code, out, errs)
	}
	code, out, errs = run(t, "", append(g, "logs", stack, "--tail", "1")...)
	if code != ExitOK || out != "migration 7 failed: column exists\n" {
		t.Fatalf("logs of the stack, last line: exit %d\n%q\n%s", code, out, errs)
	}
	code, _, errs = run(t, "", append(g, "logs", stack, "migrat")...)
	if code != ExitInvalid || !strings.Contains(errs, `has no node "migrat" (it has config, migrate)`) {
		t.Fatalf("an unknown node: exit %d\n%s", code, errs)
	}
	code, _, errs = run(t, "", append(g, "logs", stack, "config")...)
	if code != ExitError || !strings.Contains(errs, "node config runs no pods") {
		t.Fatalf("a node without pods: exit %d\n%s", code, errs)
	}
	code, out, _ = run(t, "", append(g, "__complete", "logs", stack, "mi")...)
	if code != ExitOK || !strings.HasPrefix(out, "migrate\n") {
		t.Fatalf("completion of node names: %q", out)
	}
}
