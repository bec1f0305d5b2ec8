package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/internal/testcluster"
)

const workers = `format: aos/v1
name: workers
inputs:
  replicas: {type: integer, default: 2}
  with_extra: {type: boolean, default: false}
  greeting: {type: string, default: hello}
  password: {type: string, secret: true, minLength: 8}
nodes:
  config:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: config}, data: {greeting: "${inputs.greeting}"}}
  creds:
    manifest: {apiVersion: v1, kind: Secret, metadata: {name: creds}, stringData: {password: "${inputs.password}"}}
  extra:
    when: ${inputs.with_extra}
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: extra}}
  web:
    dependsOn: [config, creds]
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: web}
      spec:
        replicas: ${inputs.replicas}
        selector: {matchLabels: {app: web}}
        template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c, image: x}]}}
`

// An update starts from the stack's inputs: `aos up FILE` with none passed changes nothing,
// a secret from a params file stays in force, and --reset-inputs is how to go back to the
// defaults.
func TestUpdateKeepsItsInputs(t *testing.T) {
	kc := kubeconfigPath(t)
	cs := testcluster.Client(t)
	state := filepath.Join(t.TempDir(), "state.db")
	stack := fmt.Sprintf("inputs-%d", time.Now().UnixNano()%100000)
	g := []string{"--state", state, "--kubeconfig", kc}
	t.Cleanup(func() { run(t, "", append(g, "down", stack)...) })
	tpl := write(t, "workers.yaml", workers)
	const password = "first-password-value"
	params := write(t, "p.yaml", "password: "+password+"\n")
	code, out, errs := run(t, "", append(g, "up", tpl, "--stack", stack, "-p", "replicas=3", "-p", "with_extra=true", "-p", "greeting=bonjour", "--params", params)...)
	if code != ExitOK {
		t.Fatalf("create: exit %d\n%s\n%s", code, out, errs)
	}
	versions := func() map[string]string {
		t.Helper()
		out := map[string]string{}
		for _, name := range []string{"config", "extra"} {
			cm, err := cs.CoreV1().ConfigMaps(stack).Get(t.Context(), name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("configmap %s: %v", name, err)
			}
			out[name] = cm.ResourceVersion
		}
		sec, err := cs.CoreV1().Secrets(stack).Get(t.Context(), "creds", metav1.GetOptions{})
		if err != nil || string(sec.Data["password"]) != password {
			t.Fatalf("secret: %v", err)
		}
		out["creds"] = sec.ResourceVersion
		d, err := cs.AppsV1().Deployments(stack).Get(t.Context(), "web", metav1.GetOptions{})
		if err != nil || *d.Spec.Replicas != 3 {
			t.Fatalf("deployment: %v", err)
		}
		out["web"] = d.ResourceVersion
		return out
	}
	before := versions()

	code, out, errs = run(t, "", append(g, "plan", tpl, "--stack", stack)...)
	if code != ExitOK || !strings.Contains(out, "0 to create, 0 to update, 0 to delete, 4 unchanged") || strings.Contains(out, "inputs that change") {
		t.Fatalf("plan with no inputs passed: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = run(t, "", append(g, "up", tpl, "--stack", stack)...)
	if code != ExitOK || !strings.Contains(out, "UPDATE_COMPLETE") {
		t.Fatalf("update with no inputs passed: exit %d\n%s\n%s", code, out, errs)
	}
	if after := versions(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("an update that passed no inputs changed objects: %v -> %v", before, after)
	}
	revs := history(t, g, stack)
	if len(revs) != 2 || revs[1].Inputs["greeting"] != "bonjour" || revs[1].Inputs["replicas"] != 3.0 || fmt.Sprint(revs[1].Secret) != "[password]" {
		t.Fatalf("the update's revision: %+v", revs)
	}

	// What is passed changes; plan says which inputs change, secrets without their values.
	const second = "second-password-value"
	params2 := write(t, "p2.yaml", "password: "+second+"\n")
	code, out, errs = run(t, "", append(g, "plan", tpl, "--stack", stack, "-p", "greeting=hi", "--params", params2)...)
	if code != ExitOK || !strings.Contains(out, `~ greeting: "bonjour" -> "hi"`) || !strings.Contains(out, "~ password: (sensitive) -> (sensitive)") ||
		strings.Contains(out, "replicas:") || strings.Contains(out, second) || strings.Contains(out, password) {
		t.Fatalf("plan of two input changes: exit %d\n%s\n%s", code, out, errs)
	}
	// --reset-inputs starts from the defaults: a required secret must be passed again, and
	// the defaults' effects (extra left out, 2 replicas) show in the plan.
	code, out, errs = run(t, "", append(g, "plan", tpl, "--stack", stack, "--reset-inputs")...)
	if code != ExitInvalid || !strings.Contains(out, `missing required input "password"`) {
		t.Fatalf("plan --reset-inputs without the secret: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = run(t, "", append(g, "plan", tpl, "--stack", stack, "--reset-inputs", "--params", params)...)
	if code != ExitOK || !strings.Contains(out, "~ replicas: 3 -> 2") || !strings.Contains(out, "~ with_extra: true -> false") ||
		!strings.Contains(out, `~ greeting: "bonjour" -> "hello"`) || strings.Contains(out, "password:") || !strings.Contains(out, "1 to delete") {
		t.Fatalf("plan --reset-inputs: exit %d\n%s\n%s", code, out, errs)
	}
	if after := versions(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("plan changed objects: %v -> %v", before, after)
	}

	// Rolling back a healthy stack is refused with the engine's own reason, and the stack
	// is left as it was.
	code, out, errs = run(t, "", append(g, "rollback", stack)...)
	if code != ExitError || !strings.Contains(errs, "only a failed update can be rolled back (or name a revision)") || strings.Contains(errs, "execution history") {
		t.Fatalf("rollback of a healthy stack: exit %d\n%s\n%s", code, out, errs)
	}
	if code, out, errs = run(t, "", append(g, "continue-rollback", stack)...); code != ExitError || !strings.Contains(errs, "only a failed rollback can be continued") {
		t.Fatalf("continue-rollback of a healthy stack: exit %d\n%s\n%s", code, out, errs)
	}
	if code, out, errs = run(t, "", append(g, "cancel", stack)...); code != ExitError || !strings.Contains(errs, "no operation to cancel") {
		t.Fatalf("cancel of a settled stack: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = run(t, "", append(g, "status", stack, "-o", "json")...)
	if code != ExitOK || !strings.Contains(out, `"status": "UPDATE_COMPLETE"`) {
		t.Fatalf("status after the refused rollback: exit %d\n%s\n%s", code, out, errs)
	}

	// A revision's template and inputs, and the difference between two, secrets masked.
	code, out, errs = run(t, "", append(g, "history", stack, "--show", "1")...)
	if code != ExitOK || !strings.Contains(out, `greeting = "bonjour"`) || !strings.Contains(out, "password = (sensitive)") ||
		!strings.Contains(out, "template (") || !strings.Contains(out, "name: workers") || strings.Contains(out, password) {
		t.Fatalf("history --show 1: exit %d\n%s\n%s", code, out, errs)
	}
	if code, out, errs = run(t, "", append(g, "diff", stack, "1", "2")...); code != ExitOK || !strings.Contains(out, "no difference") {
		t.Fatalf("diff of an update that changed nothing: exit %d\n%s\n%s", code, out, errs)
	}
	if code, out, errs = run(t, "", append(g, "__complete", "status", "inp")...); code != ExitOK || !strings.Contains(out, stack) {
		t.Fatalf("completion of stack names: exit %d\n%s\n%s", code, out, errs)
	}
	// Deleted stacks leave `aos list` (--all shows them) until purged.
	if code, out, errs = run(t, "", append(g, "down", stack)...); code != ExitOK {
		t.Fatalf("down: exit %d\n%s\n%s", code, out, errs)
	}
	if _, out, _ = run(t, "", append(g, "list")...); strings.Contains(out, stack) {
		t.Fatalf("list shows a deleted stack:\n%s", out)
	}
	if _, out, _ = run(t, "", append(g, "list", "--all")...); !strings.Contains(out, stack) || !strings.Contains(out, "DELETE_COMPLETE") {
		t.Fatalf("list --all:\n%s", out)
	}
	if code, out, errs = run(t, "", append(g, "purge", stack)...); code != ExitOK {
		t.Fatalf("purge: exit %d\n%s\n%s", code, out, errs)
	}
	if _, out, _ = run(t, "", append(g, "list", "--all")...); strings.Contains(out, stack) {
		t.Fatalf("list --all after purge:\n%s", out)
	}
}

// Secrets stay off the command line: -p name=@FILE reads the file (one trailing newline
// dropped, @@ for a literal @), and $AOS_PARAM_name fills an input -p does not set; variables
// of inputs the template lacks are ignored.
func TestSecretParamsFromFilesAndEnvironment(t *testing.T) {
	f := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(f, []byte("from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AOS_PARAM_token", "from-the-env")
	t.Setenv("AOS_PARAM_greeting", "not-used")
	t.Setenv("AOS_PARAM_nosuch", "ignored")
	tpl := []byte("format: aos/v1\nname: s\ninputs:\n  pw: {type: string, secret: true}\n  token: {type: string, secret: true}\n  greeting: {type: string, default: hi}\n  at: {type: string, default: x}\nnodes:\n  a: {manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}}\n")
	raw := map[string]string{"pw": "@" + f, "greeting": "hello", "at": "@@handle"}
	if err := secretParams(raw, tpl, "s.yaml"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"pw": "from-a-file", "token": "from-the-env", "greeting": "hello", "at": "@handle"}
	if !reflect.DeepEqual(raw, want) {
		t.Fatalf("params: %v, want %v", raw, want)
	}
	if err := secretParams(map[string]string{"pw": "@/nonexistent/file"}, tpl, "s.yaml"); err == nil || !strings.Contains(err.Error(), "-p pw=@FILE") {
		t.Fatalf("a missing file: %v", err)
	}
}
