package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/internal/testcluster"
)

// One stack reads another's output: it deploys with the value; a reference to a missing
// stack or output is refused before anything is applied; the stack read cannot be deleted
// while its reader stands, unless forced.
func TestStacksReadEachOthersOutputs(t *testing.T) {
	kc := kubeconfigPath(t)
	state := filepath.Join(t.TempDir(), "state.db")
	sfx := time.Now().UnixNano() % 100000
	db, app := fmt.Sprintf("db-%d", sfx), fmt.Sprintf("app-%d", sfx)
	g := []string{"--state", state, "--kubeconfig", kc}
	t.Cleanup(func() {
		run(t, "", append(g, "down", app)...)
		run(t, "", append(g, "down", db, "--force")...)
	})
	dbTpl := write(t, "db.yaml", `format: aos/v1
name: db
nodes:
  svc:
    manifest:
      apiVersion: v1
      kind: Service
      metadata: {name: db}
      spec: {selector: {app: db}, ports: [{port: 5432}]}
outputs:
  host: '${nodes.svc.metadata.name}.${stack.namespace}.svc.cluster.local'
`)
	if code, out, errs := run(t, "", append(g, "up", dbTpl, "--stack", db)...); code != ExitOK {
		t.Fatalf("up db: %d\n%s\n%s", code, out, errs)
	}
	appTpl := func(ref string) string {
		return write(t, "app.yaml", `format: aos/v1
name: app
nodes:
  config:
    manifest:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: config}
      data: {DB_HOST: '`+ref+`'}
`)
	}
	for _, c := range []struct{ ref, want string }{
		{"${stacks.nope-" + db + ".outputs.host}", `stack "nope-` + db + `" does not exist`},
		{"${stacks." + db + ".outputs.hots}", `stack "` + db + `" has no output "hots" (it has: host)`},
	} {
		code, out, errs := run(t, "", append(g, "up", appTpl(c.ref), "--stack", app)...)
		if code != ExitInvalid || !strings.Contains(out+errs, c.want) || !strings.Contains(out+errs, "app.yaml:9:") {
			t.Fatalf("%s: want exit %d and %q at its line, got %d\n%s\n%s", c.ref, ExitInvalid, c.want, code, out, errs)
		}
	}
	if code, out, _ := run(t, "", append(g, "status", app)...); code == ExitOK {
		t.Fatalf("a refused create left a stack:\n%s", out)
	}
	if code, out, errs := run(t, "", append(g, "up", appTpl("${stacks."+db+".outputs.host}"), "--stack", app)...); code != ExitOK {
		t.Fatalf("up app: %d\n%s\n%s", code, out, errs)
	}
	cm, err := testcluster.Client(t).CoreV1().ConfigMaps(app).Get(context.Background(), "config", metav1.GetOptions{})
	if want := "db." + db + ".svc.cluster.local"; err != nil || cm.Data["DB_HOST"] != want {
		t.Fatalf("DB_HOST: %v %v, want %s", err, cm, want)
	}
	code, out, errs := run(t, "", append(g, "down", db)...)
	if code == ExitOK || !strings.Contains(errs, `outputs are read by `+app) || !strings.Contains(errs, "--force") {
		t.Fatalf("down of a stack another reads: %d\n%s\n%s", code, out, errs)
	}
	if code, out, _ := run(t, "", append(g, "status", db)...); code != ExitOK || !strings.Contains(out, "CREATE_COMPLETE") {
		t.Fatalf("the refused delete changed the stack: %s", out)
	}
	if code, out, errs := run(t, "", append(g, "down", db, "--force")...); code != ExitOK {
		t.Fatalf("down --force: %d\n%s\n%s", code, out, errs)
	}
}
