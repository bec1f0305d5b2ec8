package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/aos-project/aos/internal/testcluster"
)

const settings = `format: aos/v1
name: settings
inputs:
  message: {type: string}
  token: {type: string, secret: true}
nodes:
  config:
    manifest:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: settings}
      data: {message: "${inputs.message}"}
  token:
    manifest:
      apiVersion: v1
      kind: Secret
      metadata: {name: token}
      stringData: {token: "${inputs.token}"}
  app:
    dependsOn: [config, token]
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: app}
      spec: {replicas: 1, selector: {matchLabels: {app: app}}, template: {metadata: {labels: {app: app}, annotations: {seen: "${nodes.config.data.message}"}}, spec: {containers: [{name: c, image: x}]}}}
outputs:
  message: ${nodes.config.data.message}
`

// twoContexts writes a kubeconfig whose second context, "other", reaches the same cluster, so
// copying a stack to another context can be checked with one control plane.
func twoContexts(t *testing.T, kc string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(kc)
	if err != nil {
		t.Fatal(err)
	}
	cur := *cfg.Contexts[cfg.CurrentContext]
	cfg.Contexts["other"] = &cur
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, p); err != nil {
		t.Fatal(err)
	}
	return p
}

type revisionJSON struct {
	Number            int
	Operation, Status string
	Note              string
	Inputs            map[string]any
	Secret            []string `json:"secretInputs"`
}

func history(t *testing.T, g []string, stack string) []revisionJSON {
	t.Helper()
	code, out, errs := run(t, "", append(g, "history", stack, "-o", "json")...)
	var revs []revisionJSON
	if err := json.Unmarshal([]byte(out), &revs); code != ExitOK || err != nil {
		t.Fatalf("history: exit %d %v\n%s\n%s", code, err, out, errs)
	}
	return revs
}

// Revisions, rollback to any of them, rebuild and copy, through the CLI on the test cluster.
func TestHistoryRollbackRevisionRebuildCopy(t *testing.T) {
	kc := twoContexts(t, kubeconfigPath(t))
	cs := testcluster.Client(t)
	state := filepath.Join(t.TempDir(), "state.db")
	stack := fmt.Sprintf("life-%d", time.Now().UnixNano()%100000)
	copyName := stack + "-copy"
	g := []string{"--state", state, "--kubeconfig", kc}
	t.Cleanup(func() {
		run(t, "", append(g, "down", stack)...)
		run(t, "", append(g, "down", copyName)...)
	})
	const token = "lifecycle-test-token-value"
	tpl := write(t, "settings.yaml", settings)
	message := func(ns string) string {
		t.Helper()
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "settings", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cm.Data["message"]
	}
	up := func(msg string) {
		t.Helper()
		code, out, errs := run(t, "", append(g, "up", tpl, "--stack", stack, "-p", "message="+msg, "-p", "token="+token)...)
		if code != ExitOK {
			t.Fatalf("up message=%s: exit %d\n%s\n%s", msg, code, out, errs)
		}
	}
	up("one")
	up("two")
	if m := message(stack); m != "two" {
		t.Fatalf("message after the update: %q", m)
	}
	// plan of a change: a field-level diff from a server-side dry run, secrets hidden.
	code, out, errs := run(t, "", append(g, "plan", tpl, "--stack", stack, "-p", "message=three", "-p", "token=another-token-value")...)
	if code != ExitOK || !strings.Contains(out, "0 to create, 3 to update, 0 to delete, 0 unchanged") ||
		!strings.Contains(out, `~ data.message: "two" -> "three"`) ||
		!strings.Contains(out, `~ data.token: "(sensitive)" -> "(sensitive)"`) ||
		!strings.Contains(out, `known after apply: it reads values from "config", which changes`) {
		t.Fatalf("plan with a diff: exit %d\n%s\n%s", code, out, errs)
	}
	if strings.Contains(out, "another-token-value") || strings.Contains(out, token) || strings.Contains(out, "YW5vdGhlci") {
		t.Fatalf("plan shows a secret:\n%s", out)
	}
	if m := message(stack); m != "two" {
		t.Fatalf("plan changed the cluster: message %q", m)
	}
	// An object the API server would refuse makes plan (and up --dry-run) fail, changing nothing.
	bad := write(t, "bad.yaml", strings.Replace(settings, "outputs:", `  bad:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: bad}, data: {x: [1]}}
outputs:`, 1))
	code, out, errs = run(t, "", append(g, "up", "--dry-run", bad, "--stack", stack, "-p", "message=two", "-p", "token="+token)...)
	if code != ExitError || !strings.Contains(out, "the API server would refuse") || !strings.Contains(errs, "would refuse 1 object(s)") {
		t.Fatalf("up --dry-run with an invalid object: exit %d\n%s\n%s", code, out, errs)
	}
	if _, err := cs.CoreV1().ConfigMaps(stack).Get(t.Context(), "bad", metav1.GetOptions{}); err == nil {
		t.Fatal("the dry run created the refused object")
	}

	revs := history(t, g, stack)
	if len(revs) != 2 || revs[0].Status != "CREATE_COMPLETE" || revs[1].Status != "UPDATE_COMPLETE" ||
		revs[0].Inputs["message"] != "one" || revs[1].Inputs["message"] != "two" || fmt.Sprint(revs[1].Secret) != "[token]" {
		t.Fatalf("history after create and update: %+v", revs)
	}

	code, out, errs = run(t, "", append(g, "rollback", stack, "--revision", "9")...)
	if code != ExitError || !strings.Contains(errs, "has no revision 9") {
		t.Fatalf("rollback to a missing revision: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = run(t, "", append(g, "rollback", stack, "--revision", "1")...)
	if code != ExitOK || !strings.Contains(out, "UPDATE_COMPLETE") {
		t.Fatalf("rollback --revision 1: exit %d\n%s\n%s", code, out, errs)
	}
	if m := message(stack); m != "one" {
		t.Fatalf("message after rollback to revision 1: %q", m)
	}
	revs = history(t, g, stack)
	if len(revs) != 3 || revs[2].Note != "back to revision 1" || revs[2].Inputs["message"] != "one" {
		t.Fatalf("history after rollback --revision: %+v", revs)
	}

	before, err := cs.CoreV1().ConfigMaps(stack).Get(t.Context(), "settings", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs = run(t, "", append(g, "rebuild", stack)...)
	if code != ExitOK || !strings.Contains(out, "DELETE_COMPLETE") || !strings.Contains(out, "CREATE_COMPLETE") {
		t.Fatalf("rebuild: exit %d\n%s\n%s", code, out, errs)
	}
	after, err := cs.CoreV1().ConfigMaps(stack).Get(t.Context(), "settings", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.UID == before.UID || after.Data["message"] != "one" {
		t.Fatalf("rebuild kept the old object or changed its data: uid %s→%s, message %q", before.UID, after.UID, after.Data["message"])
	}
	sec, err := cs.CoreV1().Secrets(stack).Get(t.Context(), "token", metav1.GetOptions{})
	if err != nil || string(sec.Data["token"]) != token {
		t.Fatalf("rebuild lost the secret input: %v", err)
	}
	revs = history(t, g, stack)
	if len(revs) != 4 || revs[3].Operation != "create" || revs[3].Note != "rebuild" || revs[3].Status != "CREATE_COMPLETE" {
		t.Fatalf("history after rebuild: %+v", revs)
	}

	code, out, errs = run(t, "", append(g, "--context", "other", "copy", stack, "--to", copyName, "-p", "message=three", "-o", "json")...)
	if code != ExitOK {
		t.Fatalf("copy: exit %d\n%s\n%s", code, out, errs)
	}
	var copied struct {
		Stack struct {
			Namespace, Context, Status string
			Outputs                    map[string]any
		}
	}
	if err := json.Unmarshal([]byte(out), &copied); err != nil {
		t.Fatal(err)
	}
	if copied.Stack.Namespace != copyName || copied.Stack.Context != "other" || copied.Stack.Status != "CREATE_COMPLETE" || copied.Stack.Outputs["message"] != "three" {
		t.Fatalf("copy: %+v", copied.Stack)
	}
	if m := message(copyName); m != "three" {
		t.Fatalf("the copy's message: %q", m)
	}
	if sec, err := cs.CoreV1().Secrets(copyName).Get(t.Context(), "token", metav1.GetOptions{}); err != nil || string(sec.Data["token"]) != token {
		t.Fatalf("the copy lost the secret input: %v", err)
	}
	if m := message(stack); m != "one" {
		t.Fatalf("copying changed the original: %q", m)
	}
	if code, _, errs := run(t, "", append(g, "copy", stack, "--to", copyName)...); code != ExitError || !strings.Contains(errs, "exists already") {
		t.Fatalf("copy onto an existing stack: exit %d %s", code, errs)
	}
	code, out, _ = run(t, "", append(g, "history", stack)...)
	if code != ExitOK || !strings.Contains(out, "back to revision 1") || strings.Contains(out, token) {
		t.Fatalf("history table:\n%s", out)
	}
	raw, _ := os.ReadFile(state)
	if strings.Contains(string(raw), token) {
		t.Fatal("secret in the state file")
	}
}
