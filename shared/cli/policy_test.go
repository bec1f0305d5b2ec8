package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// With a projects file, validate and a plan of a stack not yet recorded refuse what the
// project does not allow, at the template's line, with exit 2; without one, nothing changes.
func TestValidateAndPlanApplyTheProject(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tpl := write("t.yaml", "format: aos/v1\nname: shop\nnodes:\n  crb:\n    manifest:\n      apiVersion: rbac.authorization.k8s.io/v1\n      kind: ClusterRoleBinding\n      metadata: {name: x}\n      roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\n")
	projects := write("projects.yaml", "projects:\n- name: default\n  identities: ['*']\n  namespaces: [shop]\n  kinds: {allow: ['*']}\n")
	state := filepath.Join(dir, "none", "state.db")
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := Main(append(args, "--state", state), strings.NewReader(""), &out, &errb)
		return code, out.String() + errb.String()
	}
	for _, cmd := range [][]string{{"validate", tpl}, {"plan", tpl}} {
		code, out := run(append(cmd, "--projects", projects)...)
		if code != ExitInvalid || !strings.Contains(out, "t.yaml:7:13: node \"crb\": project \"default\" does not allow the cluster-scoped kind rbac.authorization.k8s.io/ClusterRoleBinding") {
			t.Errorf("%s with a projects file: exit %d\n%s", cmd[0], code, out)
		}
		if code, out := run(cmd...); code != ExitOK {
			t.Errorf("%s without one: exit %d\n%s", cmd[0], code, out)
		}
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Fatalf("a plan of a new stack created the state file: %v", err)
	}
}
