package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aos-project/aos/internal/testcluster"
)

// kubeconfigPath writes the test cluster's kubeconfig location for --kubeconfig.
func kubeconfigPath(t *testing.T) string {
	t.Helper()
	testcluster.Config(t) // fails with how-to when there is no cluster
	p := os.Getenv(testcluster.KubeconfigEnv)
	if p == "" {
		p = os.Getenv("KUBECONFIG")
	}
	return p
}

func TestUpStatusEventsOutputsDown(t *testing.T) {
	kc := kubeconfigPath(t)
	state := filepath.Join(t.TempDir(), "state.db")
	stack := fmt.Sprintf("cli-%d", time.Now().UnixNano()%100000)
	g := []string{"--state", state, "--kubeconfig", kc}
	const password = "cli-test-secret-value"
	code, out, errs := run(t, "", append(g, "-v", "up", lib+"wordpress.yaml", "--stack", stack, "-p", "mysql_password="+password)...)
	t.Cleanup(func() { run(t, "", append(g, "down", stack)...) })
	if code != ExitOK || !strings.Contains(out, "stack "+stack+": CREATE_COMPLETE") || !strings.Contains(out, "wordpress                WAITING") {
		t.Fatalf("up: exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "validated") {
		t.Fatalf("-v logged nothing: %q", errs)
	}
	if strings.Contains(out, password) || strings.Contains(errs, password) {
		t.Fatal("secret in up's output or logs")
	}
	code, out, _ = run(t, "", append(g, "status", stack, "-o", "json")...)
	var status struct {
		Stack struct {
			Status  string
			Outputs map[string]any
			Secret  []string `json:"secretInputs"`
		}
		Nodes []struct{ ID, Status string }
	}
	if err := json.Unmarshal([]byte(out), &status); err != nil || code != ExitOK {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	if status.Stack.Status != "CREATE_COMPLETE" || len(status.Nodes) != 5 || status.Stack.Outputs["mysql_host"] == nil || fmt.Sprint(status.Stack.Secret) != "[mysql_password]" {
		t.Fatalf("status = %+v", status)
	}
	if strings.Contains(out, password) {
		t.Fatal("secret in status -o json")
	}
	for _, n := range status.Nodes {
		if n.Status != "READY" {
			t.Fatalf("node %s is %s", n.ID, n.Status)
		}
	}
	code, out, _ = run(t, "", append(g, "events", stack)...)
	if code != ExitOK || strings.Count(out, "READY") != 5 || strings.Contains(out, password) {
		t.Fatalf("events: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, "", append(g, "outputs", stack, "-o", "json")...)
	if code != ExitOK || !strings.Contains(out, `"url_port"`) {
		t.Fatalf("outputs: %d %s", code, out)
	}
	// A second up with the same template and inputs is an update that changes nothing: every
	// node is carried as it is.
	code, out, errs = run(t, "", append(g, "up", lib+"wordpress.yaml", "--stack", stack, "-p", "mysql_password="+password)...)
	if code != ExitOK || !strings.Contains(out, "UPDATE_COMPLETE") || !strings.Contains(out, "5 node(s) unchanged and READY") || strings.Contains(out, "Applied: ") {
		t.Fatalf("second up: exit %d\n%s\n%s", code, out, errs)
	}
	// plan previews an update: nothing changes with the same inputs; a new image changes one node.
	code, out, _ = run(t, "", append(g, "plan", lib+"wordpress.yaml", "--stack", stack, "-p", "mysql_password="+password)...)
	if code != ExitOK || !strings.Contains(out, "0 to create, 0 to update, 0 to delete, 5 unchanged") {
		t.Fatalf("plan of an unchanged stack: %d\n%s", code, out)
	}
	code, out, _ = run(t, "", append(g, "plan", lib+"wordpress.yaml", "--stack", stack, "-p", "mysql_password="+password, "-p", "wordpress_image=wordpress:6.6")...)
	if code != ExitOK || !strings.Contains(out, "0 to create, 1 to update, 0 to delete, 4 unchanged") || !strings.Contains(out, "wordpress      update") {
		t.Fatalf("plan of a changed image: %d\n%s", code, out)
	}
	code, out, _ = run(t, "", append(g, "list")...)
	if code != ExitOK || !strings.Contains(out, stack) {
		t.Fatalf("list: %s", out)
	}
	code, out, errs = run(t, "", append(g, "down", stack)...)
	if code != ExitOK || !strings.Contains(out, "DELETE_COMPLETE") {
		t.Fatalf("down: exit %d\n%s\n%s", code, out, errs)
	}
	if code, _, errs := run(t, "", append(g, "status", "nope")...); code != ExitError || !strings.Contains(errs, `no stack named "nope"`) {
		t.Fatalf("status of unknown stack: %d %s", code, errs)
	}
	// The state file never holds the secret.
	raw, _ := os.ReadFile(state)
	if strings.Contains(string(raw), password) {
		t.Fatal("secret in the state file")
	}
	// -o json reports the figures Step Functions' quotas apply to.
	code, out, errs = run(t, "", append(g, "up", lib+"wordpress.yaml", "--stack", stack, "-p", "mysql_password="+password, "-o", "json")...)
	var quota struct {
		Executions       int
		MaxHistoryEvents int64
		MaxPayloadBytes  int64
	}
	if err := json.Unmarshal([]byte(out), &quota); err != nil || code != ExitOK || quota.Executions != 1 ||
		quota.MaxHistoryEvents < 20 || quota.MaxHistoryEvents > 25000 || quota.MaxPayloadBytes < 20 || quota.MaxPayloadBytes > 256*1024 {
		t.Fatalf("up -o json: exit %d %+v %v\n%s\n%s", code, quota, err, out, errs)
	}
}

func TestUpInvalidInputExits2AndChangesNothing(t *testing.T) {
	kc := kubeconfigPath(t)
	state := filepath.Join(t.TempDir(), "state.db")
	g := []string{"--state", state, "--kubeconfig", kc}
	code, out, _ := run(t, "", append(g, "up", lib+"wordpress.yaml", "--stack", "never")...)
	if code != ExitInvalid || !strings.Contains(out, `missing required input "mysql_password"`) {
		t.Fatalf("up without a required input: exit %d %s", code, out)
	}
	code, out, _ = run(t, "", append(g, "list", "-o", "json")...)
	if code != ExitOK || strings.TrimSpace(out) != "[]" {
		t.Fatalf("an invalid up recorded something: %s", out)
	}
}

func TestUpFailureExits1WithTheReason(t *testing.T) {
	kc := kubeconfigPath(t)
	state := filepath.Join(t.TempDir(), "state.db")
	stack := fmt.Sprintf("clifail-%d", time.Now().UnixNano()%100000)
	g := []string{"--state", state, "--kubeconfig", kc}
	bad := write(t, "bad.yaml", "format: aos/v1\nname: bad\nnodes:\n  broken:\n    manifest: {apiVersion: apps/v1, kind: Deployment, metadata: {name: broken}, spec: {template: {spec: {containers: [{name: c, image: x}]}}}}\n")
	code, out, errs := run(t, "", append(g, "up", bad, "--stack", stack)...)
	t.Cleanup(func() { run(t, "", append(g, "down", stack)...) })
	if code != ExitError || !strings.Contains(out, "CREATE_FAILED") || !strings.Contains(out, "spec.selector: Required value") || !strings.Contains(errs, "create "+stack+" failed") {
		t.Fatalf("failing up: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, _ = run(t, "", append(g, "status", stack)...)
	if code != ExitOK || !strings.Contains(out, "broken  FAILED") {
		t.Fatalf("status after failure: %s", out)
	}
	// Fixed, up creates again in place.
	good := write(t, "good.yaml", "format: aos/v1\nname: bad\nnodes:\n  broken:\n    manifest: {apiVersion: apps/v1, kind: Deployment, metadata: {name: broken}, spec: {selector: {matchLabels: {app: b}}, template: {metadata: {labels: {app: b}}, spec: {containers: [{name: c, image: x}]}}}}\n")
	code, out, errs = run(t, "", append(g, "up", good, "--stack", stack)...)
	if code != ExitOK || !strings.Contains(out, "creating again after a failed create") || !strings.Contains(out, "CREATE_COMPLETE") {
		t.Fatalf("up after a failed create: exit %d\n%s\n%s", code, out, errs)
	}
}
